//! ApiDefinition controller.
//!
//! Apply: resolve the context (and its Secret), the referenced ApiResources and the templates; remove the API
//! from the environment it was synced to before when its context changed (promotion); build the payload and
//! push it unless its hash equals the last successful push; check ownership between clusters before any
//! write; check drift when due; keep the local ConfigMap; write status and Events.
//!
//! Cleanup: delete the API from APIM (unless another cluster owns it), remove the ConfigMap, then the
//! finalizer goes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::context::{ContextError, Resolved};
use super::payload::{self, Inputs, Stamp, TemplateKey};
use super::status::{
    self, Reason, Retry, ACCEPTED, COMPLETED, DRIFTED, FAILED, RESOLVED_REFS, SYNCED,
};
use super::{decide, ids, DriftPolicy, Error, Shared, FINALIZER, TAKEOVER_ANNOTATION};
use crate::apim::{ApimError, ApimGeneration, Target};
use crate::cluster::{ApiIndex, CachedApi};
use crate::crd::api_definition::{ApiErrors, ApiState};
use crate::crd::{ApiDefinition, ApiDefinitionStatus, ApiResourceSpec, ManagementContext};
use crate::model::ObjectKey;

mod cleanup;
mod drift;
mod local;
mod push;
mod refs;
mod remote;

use self::cleanup::*;
use self::drift::*;
use self::local::*;
use self::push::*;
use self::refs::*;
pub(crate) use self::refs::{resolve_context, resolve_refs_for, RefFailure, Refs};
use self::remote::*;
pub use self::remote::{read_remote, Remote};

/// Labels of the local ConfigMap.
const CM_MANAGED_BY: (&str, &str) = ("managed-by", "gko");
const CM_COMPONENT: (&str, &str) = ("gravitee.io/component", "api");
/// Data key of the local ConfigMap.
pub const CM_KEY: &str = "definition";

fn key_of(api: &ApiDefinition) -> ObjectKey {
    ObjectKey::new(
        api.metadata.namespace.clone().unwrap_or_default(),
        api.metadata.name.clone().unwrap_or_default(),
    )
}

/// The context an API points to now.
pub fn context_of(api: &ApiDefinition) -> Option<ObjectKey> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let r = api
        .spec
        .context_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())?;
    Some(ObjectKey::new(r.namespace_or(ns), r.name.clone()))
}

/// The context the API was last pushed to, from `status.syncedContext` (`namespace/name`).
pub fn synced_context_of(api: &ApiDefinition) -> Option<ObjectKey> {
    let synced = api.status.as_ref()?.synced_context.as_deref()?;
    let (ns, name) = synced.split_once('/')?;
    Some(ObjectKey::new(ns, name))
}

/// The ApiResources an API references (watch mapping of the ApiResource controller).
pub fn resources_of(api: &ApiDefinition) -> Vec<ObjectRef<crate::crd::ApiResource>> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    api.spec
        .resources
        .iter()
        .flatten()
        .filter_map(|r| r.reference.as_ref())
        .filter(|r| !r.name.is_empty())
        .map(|r| ObjectRef::new(&r.name).within(r.namespace_or(ns)))
        .collect()
}

fn api_ref(key: &ObjectKey) -> ObjectRef<CachedApi> {
    ObjectRef::new(&key.name).within(&key.namespace)
}

/// APIs that reference a resource (watch mapping: a resource change re-syncs exactly these).
pub fn users_of_resource(
    index: &ApiIndex,
    resource: &crate::crd::ApiResource,
) -> Vec<ObjectRef<CachedApi>> {
    let key = ObjectKey::new(
        resource.metadata.namespace.clone().unwrap_or_default(),
        resource.name_any(),
    );
    index.resource_users(&key).iter().map(api_ref).collect()
}

/// APIs whose context (current or last synced) is `context`.
pub fn users_of_context(index: &ApiIndex, context: &ObjectKey) -> Vec<ObjectRef<CachedApi>> {
    index
        .context_or_synced_users(context)
        .iter()
        .map(api_ref)
        .collect()
}

/// Reconciles an ApiDefinition of the cache: its spec is decoded here, for this reconcile only.
pub async fn reconcile(cached: Arc<CachedApi>, shared: Arc<Shared>) -> Result<Action, Error> {
    let api = Arc::new(cached.decode().map_err(Error::Decode)?);
    let started = Instant::now();
    let ns = api.metadata.namespace.clone().ok_or(Error::NoNamespace)?;
    let kapi: Api<ApiDefinition> = Api::namespaced(shared.client.clone(), &ns);
    let deleting = api.metadata.deletion_timestamp.is_some();
    shared.references_ready().await;
    // A new API needs two independent round trips before its push: the finalizer write (Kubernetes) and the
    // ownership read (APIM). They run at the same time; the push itself waits for both.
    let (finalized, prefetched) = tokio::join!(
        super::ensure_finalizer(&kapi, api.clone()),
        prefetch_remote(&api, &shared)
    );
    let result = match finalized {
        Err(e) => Err(e),
        Ok(api) => {
            // An API deleted while GKO's finalizer is still on it: gko's cleanup runs, then removes GKO's.
            let held = api.metadata.finalizers.clone().unwrap_or_default();
            let name = crate::model::gko_meta::deletion_finalizer(&held, FINALIZER);
            finalizer(&kapi, name, api, |event| async {
                match event {
                    Finalizer::Apply(api) => apply(&api, &shared, &kapi, prefetched).await,
                    Finalizer::Cleanup(api) => cleanup(&api, &shared, &kapi).await,
                }
            })
            .await
        }
        .map_err(|e| Error::Finalizer(Box::new(e))),
    };
    shared.observe(
        "ApiDefinition",
        if deleting { "cleanup" } else { "apply" },
        result.is_ok(),
        started,
    );
    tracing::debug!(
        total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "reconcile done"
    );
    result
}

fn takeover_requested(api: &ApiDefinition) -> bool {
    api.annotations()
        .get(TAKEOVER_ANNOTATION)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn desired_state(api: &ApiDefinition) -> &'static str {
    match api.spec.state.unwrap_or_default() {
        ApiState::Started => "STARTED",
        ApiState::Stopped => "STOPPED",
    }
}

/// A note to publish as an Event once the status is written.
struct Note {
    type_: EventType,
    reason: &'static str,
    message: String,
}

/// Working state of one apply.
struct Run<'a> {
    api: &'a ApiDefinition,
    shared: &'a Shared,
    generation: Option<i64>,
    status: ApiDefinitionStatus,
    notes: Vec<Note>,
    action: Action,
    prefetched: Option<Prefetched>,
    /// The spec changed since the last reconcile recorded in status.
    spec_changed: bool,
    /// Values resolved from `[[ secret ... ]]` templates, redacted from every message.
    secrets: Vec<String>,
}

/// Replaces every occurrence of a secret value (of 4 characters or more) in `message`.
pub(crate) fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets.iter().filter(|s| s.chars().count() >= 4) {
        if message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "<redacted>");
        }
    }
    message
}

impl Run<'_> {
    fn note(&mut self, type_: EventType, reason: &'static str, message: impl Into<String>) {
        self.notes.push(Note {
            type_,
            reason,
            message: message.into(),
        });
    }

    fn uid(&self) -> String {
        self.api.metadata.uid.clone().unwrap_or_default()
    }

    /// Records a failed sync: condition, processing status, an Event when the reason is new, and the requeue.
    fn fail(&mut self, reason: Reason, message: String, retry: Retry) {
        // APIM may quote the definition back; values that came from Secrets never reach status or Events.
        let message = redact(message, &self.secrets);
        let before = status::reason_of(&self.status.conditions, SYNCED).map(str::to_owned);
        let was_true = status::is_true(&self.status.conditions, SYNCED);
        status::set(
            &mut self.status.conditions,
            SYNCED,
            false,
            reason,
            message.clone(),
            self.generation,
        );
        self.status.processing_status = Some(FAILED.into());
        if was_true || before.as_deref() != Some(reason.as_str()) {
            self.note(EventType::Warning, reason.as_str(), message);
        }
        self.action = match retry {
            Retry::Backoff => Action::requeue(self.shared.memory.backoff(&self.uid())),
            Retry::Slow(d) => Action::requeue(d),
            Retry::OnChange => Action::await_change(),
        };
    }

    fn fail_apim(&mut self, err: &ApimError) {
        let c = status::classify(err);
        self.fail(c.reason, c.message, c.retry);
    }
}

async fn apply(
    api: &ApiDefinition,
    shared: &Shared,
    kapi: &Api<ApiDefinition>,
    prefetched: Option<Prefetched>,
) -> Result<Action, Error> {
    let old = shared.memory.current_status(
        api.metadata.uid.as_deref().unwrap_or_default(),
        api.status.clone().unwrap_or_default(),
    );
    let mut run = Run {
        api,
        shared,
        generation: api.metadata.generation,
        status: old.clone(),
        notes: Vec::new(),
        action: shared.resync(),
        prefetched,
        spec_changed: old.observed_generation.is_some()
            && old.observed_generation != api.metadata.generation,
        secrets: Vec::new(),
    };
    // The crossId: from status or spec, else found in APIM (prefetched, or searched once the context is
    // resolved); recorded in status only once known.
    let known = match ids::api_cross_id(api) {
        ids::ApiCrossId::Known(c) => Some(c),
        ids::ApiCrossId::Search(_) => run
            .prefetched
            .as_ref()
            .filter(|p| Some(&p.context) == context_of(api).as_ref())
            .map(|p| p.cross_id.clone()),
    };
    if let Some(c) = &known {
        run.status.cross_id = Some(c.clone());
    }
    run.status.observed_generation = run.generation;
    status::set(
        &mut run.status.conditions,
        ACCEPTED,
        true,
        Reason::Accepted,
        "",
        run.generation,
    );

    if let Some(why) = decide::never_pushed(api.annotations()) {
        return never_pushed(&mut run, kapi, &old, why).await;
    }

    let t0 = Instant::now();
    match resolve_refs(api, shared).await {
        Err(RefFailure::Kube(e)) => return Err(e.into()),
        Err(RefFailure::Missing { reason, message }) => {
            status::set(
                &mut run.status.conditions,
                RESOLVED_REFS,
                false,
                reason,
                message.clone(),
                run.generation,
            );
            let requeue = shared.settings.missing_ref_requeue;
            run.fail(Reason::RefsUnresolved, message, Retry::Slow(requeue));
        }
        Ok(refs) => {
            status::set(
                &mut run.status.conditions,
                RESOLVED_REFS,
                true,
                Reason::Resolved,
                "",
                run.generation,
            );
            run.secrets = payload::secret_values(&refs.templates);
            let cross_id = match known {
                Some(c) => Some(c),
                None => settle_cross_id(&mut run, &refs).await,
            };
            if let Some(cross_id) = cross_id {
                run.status.cross_id = Some(cross_id.clone());
                sync(&mut run, &refs, &cross_id).await;
            }
        }
    }

    let t1 = Instant::now();
    let name = api.name_any();
    let patched = status::patch_status(kapi, &name, Some(&old), &run.status).await?;
    if patched {
        shared
            .memory
            .status_written(api.metadata.uid.as_deref().unwrap_or_default(), &run.status);
    }
    let t2 = Instant::now();
    let notes = run.notes.len();
    for note in run.notes.drain(..) {
        shared
            .event(api, note.type_, note.reason, note.message)
            .await;
    }
    tracing::debug!(
        name = %name,
        sync_ms = (t1 - t0).as_millis() as u64,
        status_ms = (t2 - t1).as_millis() as u64,
        patched,
        events_ms = t2.elapsed().as_millis() as u64,
        notes,
        "apply timings"
    );
    Ok(run.action)
}

/// An API gko never pushes (a GKO ingress template): `Synced` false saying why, and no requeue.
async fn never_pushed(
    run: &mut Run<'_>,
    kapi: &Api<ApiDefinition>,
    old: &ApiDefinitionStatus,
    why: &str,
) -> Result<Action, Error> {
    status::set(
        &mut run.status.conditions,
        SYNCED,
        false,
        Reason::IngressTemplate,
        why,
        run.generation,
    );
    if status::patch_status(kapi, &run.api.name_any(), Some(old), &run.status).await? {
        run.shared.memory.status_written(&run.uid(), &run.status);
    }
    Ok(Action::await_change())
}

/// Everything after the references resolved: promotion cleanup, push, drift, ConfigMap.
async fn sync(run: &mut Run<'_>, refs: &Refs, cross_id: &str) {
    let api = run.api;
    let desired = refs.context.as_ref().map(|c| c.key.to_string());

    // The API moved to another context (or lost its context): remove it from where it was.
    if let Some(previous) = run
        .status
        .synced_context
        .clone()
        .filter(|p| Some(p) != desired.as_ref())
    {
        if !remove_from_previous(run, &previous, cross_id).await {
            return;
        }
    }

    let local = api.spec.local == Some(true);
    let mut pushed: Option<Value> = None;
    match &refs.context {
        None => {
            if local {
                status::set(
                    &mut run.status.conditions,
                    SYNCED,
                    true,
                    Reason::LocalOnly,
                    "no contextRef: deployed through the local ConfigMap only",
                    run.generation,
                );
                run.status.processing_status = Some(COMPLETED.into());
            } else {
                run.fail(
                    Reason::NoContext,
                    "no contextRef and local is false: the API is deployed nowhere".into(),
                    Retry::OnChange,
                );
            }
        }
        Some(context) => {
            pushed = push_if_changed(run, refs, context, cross_id).await;
        }
    }

    if let Err(message) = local_config_map(run, refs, cross_id, pushed.as_ref()).await {
        run.fail(Reason::ConfigMapFailed, message, Retry::Backoff);
    }
}

/// Every resource key an API references, for tests and the ApiResource controller.
pub fn referenced_resources(api: &ApiDefinition) -> BTreeSet<ObjectKey> {
    resources_of(api)
        .into_iter()
        .map(|r| ObjectKey::new(r.namespace.unwrap_or_default(), r.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ApiDefinitionSpec;
    use serde_json::json;

    fn api(spec: Value, status: Option<Value>) -> ApiDefinition {
        let spec: ApiDefinitionSpec = serde_json::from_value(spec).unwrap_or_default();
        let mut a = ApiDefinition::new("orders", spec);
        a.metadata.namespace = Some("team".into());
        a.status = status.and_then(|s| serde_json::from_value(s).ok());
        a
    }

    #[test]
    fn references_resolve_namespaces() {
        let a = api(
            json!({"contextRef": {"name": "dev", "namespace": "apim"},
                   "resources": [{"ref": {"name": "cache"}}, {"ref": {"name": "oauth", "namespace": "shared"}}, {"name": "inline"}]}),
            Some(json!({"syncedContext": "apim/old"})),
        );
        assert_eq!(context_of(&a), Some(ObjectKey::new("apim", "dev")));
        assert_eq!(synced_context_of(&a), Some(ObjectKey::new("apim", "old")));
        let res: Vec<ObjectKey> = referenced_resources(&a).into_iter().collect();
        assert_eq!(
            res,
            vec![
                ObjectKey::new("shared", "oauth"),
                ObjectKey::new("team", "cache")
            ]
        );
    }

    #[test]
    fn secret_values_are_redacted_from_messages() {
        let secrets = vec!["s3cr3t-value".to_string(), "abc".to_string()];
        assert_eq!(
            redact(
                "invalid security definition s3cr3t-value (abc)".into(),
                &secrets
            ),
            "invalid security definition <redacted> (abc)"
        );
    }

    #[test]
    fn takeover_annotation_is_explicit() {
        let mut a = api(json!({}), None);
        assert!(!takeover_requested(&a));
        a.metadata.annotations =
            Some([(TAKEOVER_ANNOTATION.to_string(), "True".to_string())].into());
        assert!(takeover_requested(&a));
        a.metadata.annotations =
            Some([(TAKEOVER_ANNOTATION.to_string(), "yes".to_string())].into());
        assert!(!takeover_requested(&a));
    }

    #[test]
    fn remote_owner_is_read_from_the_stamp() {
        let r = Remote::from_definition(
            "id".into(),
            json!({"properties": [{"key": payload::CLUSTER_PROPERTY, "value": "cluster-a"}, {"key": payload::OWNER_PROPERTY, "value": "ns/api"}]}),
        );
        assert_eq!(r.other_cluster("cluster-b"), Some("cluster-a"));
        assert_eq!(r.other_cluster("cluster-a"), None);
        assert_eq!(
            r.describe_owner(),
            "cluster cluster-a (ApiDefinition ns/api)"
        );
        let unstamped = Remote::from_definition("id".into(), json!({}));
        assert_eq!(unstamped.other_cluster("x"), None);
    }
}
