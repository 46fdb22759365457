//! The gateway ConfigMap (`definitionContext.syncFrom: KUBERNETES`), removal from a previous context, and
//! cleanup on delete.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{body, ids, key_of, Run};
use crate::apim::{ApimError, V4Identity};
use crate::crd::ApiV4Definition;
use crate::model::ObjectKey;
use crate::reconcile::api_definition::CM_KEY;
use crate::reconcile::api_definition::{resolve_context, RefFailure, Refs};
use crate::reconcile::decide::{ownership, Ownership};
use crate::reconcile::status::{Reason, Retry};
use crate::reconcile::{payload, Error, Shared};

/// Labels GKO puts on the gateway ConfigMap of a v4 API.
const LABELS: [(&str, &str); 2] = [
    ("managed-by", "gravitee.io"),
    ("gio-type", "apidefinitions.gravitee.io"),
];

fn is_ours(cm: &ConfigMap, api: &ApiV4Definition) -> bool {
    let uid = api.metadata.uid.as_deref();
    cm.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid)
}

async fn delete_config_map(shared: &Shared, api: &ApiV4Definition) -> Result<(), kube::Error> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let name = api.name_any();
    if let Some(cm) = maps.get_opt(&name).await? {
        if is_ours(&cm, api) {
            match maps.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Writes (or removes, when not wanted or STOPPED) the gateway ConfigMap; unchanged data is not written.
pub(super) async fn local_config_map(run: &mut Run<'_>, refs: &Refs) -> Result<(), String> {
    let api = run.api;
    let shared = run.shared;
    let wanted = body::syncs_from_kubernetes(api) && body::desired_state(api) == "STARTED";
    if !wanted {
        if run.status.local_config_map.is_none() {
            return Ok(());
        }
        delete_config_map(shared, api)
            .await
            .map_err(|e| format!("cannot remove the local ConfigMap: {e}"))?;
        run.status.local_config_map = None;
        return Ok(());
    }
    let identity = ids::identity(api);
    let definition =
        body::gateway_definition(api, &refs.inputs(&identity, None)).map_err(|e| e.to_string())?;
    let text = serde_json::to_string(&definition).map_err(|e| e.to_string())?;
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let name = api.name_any();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let data: BTreeMap<String, String> = [
        (CM_KEY.to_owned(), text),
        ("apiDefinitionVersion".to_owned(), "4.0.0".to_owned()),
        (
            "organizationId".to_owned(),
            run.status
                .organization_id
                .clone()
                .unwrap_or_else(|| "DEFAULT".into()),
        ),
        (
            "environmentId".to_owned(),
            run.status
                .environment_id
                .clone()
                .unwrap_or_else(|| "DEFAULT".into()),
        ),
    ]
    .into();
    let labels: BTreeMap<String, String> = LABELS
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let existing = maps
        .get_opt(&name)
        .await
        .map_err(|e| format!("cannot read ConfigMap {ns}/{name}: {e}"))?;
    let written = match existing {
        Some(cm) if !is_ours(&cm, api) => Err(format!(
            "ConfigMap {ns}/{name} exists and is not managed by gko; rename it or the ApiV4Definition"
        )),
        Some(cm) if cm.data.as_ref() == Some(&data) => Ok(()),
        Some(mut cm) => {
            cm.data = Some(data);
            cm.metadata.labels.get_or_insert_with(BTreeMap::new).extend(labels);
            maps.replace(&name, &PostParams::default(), &cm)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot update ConfigMap {ns}/{name}: {e}"))
        }
        None => {
            let owner = OwnerReference {
                api_version: ApiV4Definition::api_version(&()).into_owned(),
                kind: ApiV4Definition::kind(&()).into_owned(),
                name: name.clone(),
                uid: api.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.to_owned()),
                    labels: Some(labels),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            maps.create(&PostParams::default(), &cm)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot create ConfigMap {ns}/{name}: {e}"))
        }
    };
    written?;
    run.status.local_config_map = Some(name);
    Ok(())
}

/// Deletes the API from `context` unless another cluster owns it. `Ok(true)` when nothing is left to do.
async fn delete_from(
    shared: &Shared,
    api: &ApiV4Definition,
    context: &ObjectKey,
) -> Result<bool, Error> {
    let resolved = match resolve_context(shared, context).await.map(|(_, r)| r) {
        Ok(r) => r,
        // The context is gone: nothing can be deleted there.
        Err(RefFailure::Missing { .. }) => return Ok(true),
        Err(RefFailure::Kube(e)) => return Err(e.into()),
    };
    // The identity it was pushed with: status says which (AutomationAPIManaged, id).
    let identity: V4Identity = ids::identity(api);
    let api_id = api.status.as_ref().and_then(|s| s.id.clone());
    let remote = match shared
        .apim
        .get_v4(&resolved.target, &identity, api_id.as_deref())
        .await
    {
        Ok(v) => Some(v),
        Err(ApimError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(remote) = remote else {
        return Ok(true);
    };
    let (cluster, _) = payload::read_stamp(&remote);
    if let Ownership::Refuse { owner } = ownership(cluster.as_deref(), &shared.cluster_id, false) {
        tracing::info!(api = %key_of(api), %owner, "v4 API owned by another cluster: not deleted");
        return Ok(true);
    }
    shared
        .apim
        .delete_v4(&resolved.target, &identity, api_id.as_deref())
        .await?;
    Ok(true)
}

/// The API moved to another context (or lost its context): remove it from where it was. `false` when the
/// apply must stop here (failure recorded).
pub(super) async fn remove_from_previous(run: &mut Run<'_>, previous: &str) -> bool {
    let Some((ns, name)) = previous.split_once('/') else {
        run.status.synced_context = None;
        return true;
    };
    match delete_from(run.shared, run.api, &ObjectKey::new(ns, name)).await {
        Ok(_) => {
            run.note(
                EventType::Normal,
                "Promoted",
                format!("removed from the previous context {previous}"),
            );
            run.status.synced_context = None;
            run.status.synced_hash = None;
            true
        }
        Err(e) => {
            run.fail(
                Reason::CleanupFailed,
                format!("cannot remove the API from the previous context {previous}: {e}"),
                Retry::Backoff,
            );
            false
        }
    }
}

/// Delete: the API from APIM (context last synced to), the ConfigMap; then the finalizer goes.
pub(super) async fn cleanup(api: &ApiV4Definition, shared: &Shared) -> Result<Action, Error> {
    let synced = api
        .status
        .as_ref()
        .and_then(|s| s.synced_context.as_deref())
        .and_then(|s| s.split_once('/'))
        .map(|(ns, name)| ObjectKey::new(ns, name));
    if let Some(context) = synced {
        delete_from(shared, api, &context).await?;
        shared
            .event(
                api,
                EventType::Normal,
                "Deleted",
                format!("deleted from APIM (context {context})"),
            )
            .await;
    }
    delete_config_map(shared, api).await?;
    Ok(Action::await_change())
}
