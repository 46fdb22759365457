//! `gko cleanup`: removing gko from a cluster for good without leaving objects that cannot be deleted.
//!
//! In this order: delete the webhook configurations (no write of the three kinds is refused while the
//! release goes away), delete gko's Deployment and wait until it is gone (a running reconciler would put
//! the finalizer back), then remove gko's finalizer (and any GKO left, `finalizers.gravitee.io/*`) from every
//! ManagementContext, ApiDefinition and ApiResource; with `--release-gko-holds`, release the Secrets and
//! ConfigMaps a GKO installation still holds. The Management API is not touched: the APIs stay in APIM as they are.

use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::json;

use crate::crd::{Kind, API_VERSION, GROUP, VERSION};
use crate::model::gko_meta;
use crate::reconcile::FINALIZER;

/// What to clean.
#[derive(Clone, Debug, Default)]
pub struct CleanupPlan {
    /// Validating and mutating webhook configurations to delete (a name absent from one kind is fine).
    pub webhook_configs: Vec<String>,
    /// gko's Deployment (namespace, name) to delete and wait for.
    pub deployment: Option<(String, String)>,
    /// Remove gko's finalizer from the objects of the three kinds.
    pub finalizers: bool,
    /// Release the Secrets and ConfigMaps GKO still holds (its finalizers and annotations).
    pub release_gko_holds: bool,
    /// Namespaces whose objects are cleaned; empty: all.
    pub namespaces: Vec<String>,
    /// How long to wait for the Deployment to be gone.
    pub wait: Duration,
}

/// What was done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub webhooks_deleted: Vec<String>,
    pub deployment_deleted: bool,
    /// `Kind namespace/name` of every object whose finalizer was removed.
    pub finalizers_removed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("cannot {what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("deployment {0} still exists after {1:?}")]
    DeploymentStays(String, Duration),
}

fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> CleanupError {
    let what = what.into();
    move |source| CleanupError::Kube { what, source }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a finalizer is gko's, or one a GKO installation left (`finalizers.gravitee.io/*`).
fn removable(finalizer: &str) -> bool {
    finalizer == FINALIZER || gko_meta::is_gko_finalizer(finalizer)
}

/// The finalizers of an object without gko's and GKO's; `None` when neither is there.
pub fn without_gko_finalizer(finalizers: &[String]) -> Option<Vec<String>> {
    finalizers.iter().any(|f| removable(f)).then(|| {
        finalizers
            .iter()
            .filter(|f| !removable(f))
            .cloned()
            .collect()
    })
}

pub async fn run(client: &Client, plan: &CleanupPlan) -> Result<CleanupReport, CleanupError> {
    let mut report = CleanupReport::default();
    for name in &plan.webhook_configs {
        if delete_webhook(client, name).await? {
            tracing::info!(webhook_config = %name, "webhook configuration deleted");
            report.webhooks_deleted.push(name.clone());
        }
    }
    if let Some((ns, name)) = &plan.deployment {
        report.deployment_deleted = delete_deployment(client, ns, name, plan.wait).await?;
    }
    let scopes: Vec<Option<&str>> = if plan.namespaces.is_empty() {
        vec![None]
    } else {
        plan.namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    if plan.finalizers {
        for kind in Kind::ALL {
            for ns in &scopes {
                remove_finalizers(client, kind, *ns, &mut report).await?;
            }
        }
    }
    if plan.release_gko_holds {
        for ns in &scopes {
            release_gko_holds::<Secret>(client, "Secret", *ns, &mut report).await?;
            release_gko_holds::<ConfigMap>(client, "ConfigMap", *ns, &mut report).await?;
        }
    }
    Ok(report)
}

async fn delete_webhook(client: &Client, name: &str) -> Result<bool, CleanupError> {
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let dp = DeleteParams::default();
    let mut deleted = false;
    match validating.delete(name, &dp).await {
        Ok(_) => deleted = true,
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(kube_err(format!(
                "delete validatingwebhookconfiguration {name}"
            ))(e))
        }
    }
    match mutating.delete(name, &dp).await {
        Ok(_) => deleted = true,
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(kube_err(format!(
                "delete mutatingwebhookconfiguration {name}"
            ))(e))
        }
    }
    Ok(deleted)
}

/// Deletes the Deployment (foreground: its pods first) and waits until it is gone.
async fn delete_deployment(
    client: &Client,
    ns: &str,
    name: &str,
    wait: Duration,
) -> Result<bool, CleanupError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let what = format!("deployment {ns}/{name}");
    match api.delete(name, &DeleteParams::foreground()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(kube_err(format!("delete {what}"))(e)),
    }
    let started = Instant::now();
    loop {
        match api.get_opt(name).await {
            Ok(None) => break,
            Ok(Some(_)) if started.elapsed() < wait => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Ok(Some(_)) => return Err(CleanupError::DeploymentStays(what, wait)),
            Err(e) => return Err(kube_err(format!("get {what}"))(e)),
        }
    }
    tracing::info!(deployment = %what, "gko stopped");
    Ok(true)
}

/// Releases the Secrets or ConfigMaps a GKO installation still holds (`finalizers.gravitee.io/templating`,
/// `finalizers.gravitee.io/managementcontextSecret`, and GKO's referrer annotations).
async fn release_gko_holds<K>(
    client: &Client,
    kind: &str,
    ns: Option<&str>,
    report: &mut CleanupReport,
) -> Result<(), CleanupError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .map_err(kube_err(format!("list {kind}s")))?;
    for obj in list.items {
        let meta = &obj.metadata;
        let Some(patch) = gko_meta::release_patch(
            meta.finalizers.as_deref().unwrap_or_default(),
            &meta.annotations.clone().unwrap_or_default(),
            meta.resource_version.as_deref(),
        ) else {
            continue;
        };
        let (Some(obj_ns), Some(name)) = (meta.namespace.clone(), meta.name.clone()) else {
            continue;
        };
        let scoped: Api<K> = Api::namespaced(client.clone(), &obj_ns);
        match scoped
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                return Err(kube_err(format!(
                    "release {kind} {obj_ns}/{name} from GKO's finalizer"
                ))(e))
            }
        }
        tracing::info!(kind, namespace = %obj_ns, name = %name, "released from GKO's finalizer");
        report
            .finalizers_removed
            .push(format!("{kind} {obj_ns}/{name}"));
    }
    Ok(())
}

async fn remove_finalizers(
    client: &Client,
    kind: Kind,
    ns: Option<&str>,
    report: &mut CleanupReport,
) -> Result<(), CleanupError> {
    let resource = ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: API_VERSION.into(),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    };
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(kube_err(format!("list {}", kind.plural())))?;
    for obj in list.items {
        let finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
        let Some(rest) = without_gko_finalizer(&finalizers) else {
            continue;
        };
        let (Some(obj_ns), Some(name)) =
            (obj.metadata.namespace.clone(), obj.metadata.name.clone())
        else {
            continue;
        };
        let scoped: Api<DynamicObject> = Api::namespaced_with(client.clone(), &obj_ns, &resource);
        // The resourceVersion makes it a compare-and-swap: a concurrent change is a 409, not a lost edit.
        let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": obj.metadata.resource_version}});
        match scoped
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                return Err(kube_err(format!(
                    "remove the finalizer of {} {obj_ns}/{name}",
                    kind.as_str()
                ))(e))
            }
        }
        tracing::info!(kind = kind.as_str(), namespace = %obj_ns, name = %name, "finalizer removed");
        report
            .finalizers_removed
            .push(format!("{} {obj_ns}/{name}", kind.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gko_finalizer_goes() {
        let fs = vec!["other.io/keep".to_owned(), FINALIZER.to_owned()];
        assert_eq!(
            without_gko_finalizer(&fs),
            Some(vec!["other.io/keep".to_owned()])
        );
        assert_eq!(without_gko_finalizer(&["other.io/keep".to_owned()]), None);
        assert_eq!(without_gko_finalizer(&[]), None);
    }

    #[test]
    fn finalizers_a_gko_installation_left_go_too() {
        let fs = vec![
            "finalizers.gravitee.io/apidefinitiondeletion".to_owned(),
            "other.io/keep".to_owned(),
        ];
        assert_eq!(
            without_gko_finalizer(&fs),
            Some(vec!["other.io/keep".to_owned()])
        );
    }
}
