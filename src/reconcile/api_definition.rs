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
use super::status::{self, Retry, ACCEPTED, COMPLETED, DRIFTED, FAILED, RESOLVED_REFS, SYNCED};
use super::{DriftPolicy, Error, Shared, FINALIZER, TAKEOVER_ANNOTATION};
use crate::apim::{ApimError, ApimGeneration, Target};
use crate::cluster::{ApiIndex, CachedApi};
use crate::crd::api_definition::{ApiErrors, ApiState};
use crate::crd::{ApiDefinition, ApiDefinitionStatus, ApiResourceSpec, ManagementContext};
use crate::model::ObjectKey;

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
        Ok(api) => finalizer(&kapi, FINALIZER, api, |event| async {
            match event {
                Finalizer::Apply(api) => apply(&api, &shared, &kapi, prefetched).await,
                Finalizer::Cleanup(api) => cleanup(&api, &shared, &kapi).await,
            }
        })
        .await
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

/// The API read back from APIM ahead of the push, for the context it was read from.
struct Prefetched {
    context: ObjectKey,
    cross_id: String,
    remote: Option<Remote>,
}

/// Reads the API back while the finalizer is being added (new APIs only: no finalizer yet, never synced).
async fn prefetch_remote(api: &ApiDefinition, shared: &Shared) -> Option<Prefetched> {
    let has_finalizer = api
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER);
    if has_finalizer || api.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let key = context_of(api)?;
    let (_, resolved) = resolve_context(shared, &key).await.ok()?;
    let permit = shared.breakers.admit(&key).ok()?;
    let cross_id = payload::api_cross_id(api);
    match read_remote(shared, &resolved.target, &cross_id, None).await {
        Ok(remote) => {
            permit.success();
            Some(Prefetched {
                context: key,
                cross_id,
                remote,
            })
        }
        Err(e) => {
            let c = status::classify(&e);
            shared.count_call(c.reason);
            if c.unreachable && permit.failure() {
                shared.refresh_context(&key);
            }
            None
        }
    }
}

/// What the references resolved to.
struct Refs {
    context: Option<Resolved>,
    resources: BTreeMap<ObjectKey, ApiResourceSpec>,
    templates: BTreeMap<TemplateKey, String>,
}

/// A reference that cannot be resolved now.
enum RefFailure {
    Missing {
        reason: &'static str,
        message: String,
    },
    Kube(kube::Error),
}

impl From<ContextError> for RefFailure {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::Invalid(message) => RefFailure::Missing {
                reason: "InvalidContext",
                message,
            },
            ContextError::SecretMissing(message) => RefFailure::Missing {
                reason: "SecretNotFound",
                message,
            },
            ContextError::Kube { source, .. } => RefFailure::Kube(source),
        }
    }
}

fn missing(reason: &'static str, message: String) -> RefFailure {
    RefFailure::Missing { reason, message }
}

async fn resolve_context(
    shared: &Shared,
    key: &ObjectKey,
) -> Result<(Arc<ManagementContext>, Resolved), RefFailure> {
    let context = shared.cache.contexts.get(key).ok_or_else(|| {
        missing(
            "ContextNotFound",
            format!("ManagementContext {key} does not exist"),
        )
    })?;
    let resolved = shared.targets.get(&shared.client, &context).await?;
    Ok((context, resolved))
}

async fn resolve_refs(api: &ApiDefinition, shared: &Shared) -> Result<Refs, RefFailure> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let context = match context_of(api) {
        Some(key) => Some(resolve_context(shared, &key).await?.1),
        None => None,
    };
    let mut resources = BTreeMap::new();
    for r in resources_of(api) {
        let key = ObjectKey::new(r.namespace.clone().unwrap_or_default(), r.name.clone());
        let resource = shared.cache.resources.store.get(&r).ok_or_else(|| {
            missing(
                "ResourceNotFound",
                format!("ApiResource {key} does not exist"),
            )
        })?;
        resources.insert(key, resource.spec.clone());
    }
    let spec = serde_json::to_value(&api.spec).unwrap_or(Value::Null);
    let keys =
        payload::template_keys(&spec, ns).map_err(|e| missing("InvalidTemplate", e.to_string()))?;
    let mut templates = BTreeMap::new();
    for key in keys {
        let value = template_value(shared, &key)
            .await
            .map_err(RefFailure::Kube)?
            .ok_or_else(|| {
                missing(
                    if key.secret {
                        "SecretNotFound"
                    } else {
                        "ConfigMapNotFound"
                    },
                    format!("the template refers to {key}, which does not exist"),
                )
            })?;
        templates.insert(key, value);
    }
    Ok(Refs {
        context,
        resources,
        templates,
    })
}

/// The value a template names, read live (Secret data is never cached).
async fn template_value(shared: &Shared, key: &TemplateKey) -> Result<Option<String>, kube::Error> {
    if key.secret {
        let api: Api<Secret> = Api::namespaced(shared.client.clone(), &key.namespace);
        Ok(api.get_opt(&key.name).await?.and_then(|s| {
            s.data
                .as_ref()
                .and_then(|d| d.get(&key.key))
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .or_else(|| {
                    s.string_data
                        .as_ref()
                        .and_then(|d| d.get(&key.key))
                        .cloned()
                })
        }))
    } else {
        let api: Api<ConfigMap> = Api::namespaced(shared.client.clone(), &key.namespace);
        Ok(api
            .get_opt(&key.name)
            .await?
            .and_then(|c| c.data.as_ref().and_then(|d| d.get(&key.key)).cloned()))
    }
}

/// The API as APIM holds it, with the ownership stamp read back.
#[derive(Clone, Debug)]
pub struct Remote {
    pub id: String,
    pub cluster: Option<String>,
    pub owner: Option<String>,
    pub definition: Value,
}

impl Remote {
    fn from_definition(id: String, definition: Value) -> Remote {
        let (cluster, owner) = payload::read_stamp(&definition);
        Remote {
            id,
            cluster,
            owner,
            definition,
        }
    }

    /// Another cluster's stamp, if the API carries one.
    pub fn other_cluster(&self, ours: &str) -> Option<&str> {
        self.cluster.as_deref().filter(|c| *c != ours)
    }

    fn describe_owner(&self) -> String {
        match (&self.cluster, &self.owner) {
            (Some(c), Some(o)) => format!("cluster {c} (ApiDefinition {o})"),
            (Some(c), None) => format!("cluster {c}"),
            _ => "an owner not managed by gko".into(),
        }
    }
}

/// Reads the API with this crossId in the target's environment: by its known id first, else by crossId.
pub async fn read_remote(
    shared: &Shared,
    target: &Target,
    cross_id: &str,
    known_id: Option<&str>,
) -> Result<Option<Remote>, ApimError> {
    if let Some(id) = known_id.filter(|s| !s.is_empty()) {
        match shared.apim.get_api(target, id).await {
            Ok(definition) => {
                let same = definition
                    .get("crossId")
                    .and_then(Value::as_str)
                    .is_none_or(|c| c == cross_id);
                if same {
                    return Ok(Some(Remote::from_definition(id.to_owned(), definition)));
                }
            }
            Err(ApimError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(summary) = shared.apim.find_by_cross_id(target, cross_id).await? else {
        return Ok(None);
    };
    match shared.apim.get_api(target, &summary.id).await {
        Ok(definition) => Ok(Some(Remote::from_definition(summary.id, definition))),
        Err(ApimError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// After APIM refused a definition: the API (of this environment) holding one of its entrypoints, described.
async fn path_conflict(
    shared: &Shared,
    target: &Target,
    pushed: &Value,
    cross_id: &str,
) -> Option<String> {
    let ours = payload::entrypoints(pushed);
    if ours.is_empty() {
        return None;
    }
    let list = shared.apim.list_apis(target).await.ok()?;
    let candidates: Vec<String> = list
        .into_iter()
        .filter(|a| a.cross_id.as_deref() != Some(cross_id))
        .map(|a| a.id)
        .collect();
    let mut reads = futures::stream::iter(candidates)
        .map(|id| async move {
            let definition = shared.apim.get_api(target, &id).await.ok()?;
            Some(Remote::from_definition(id, definition))
        })
        .buffer_unordered(8);
    while let Some(remote) = reads.next().await {
        let Some(remote) = remote else { continue };
        let theirs = payload::entrypoints(&remote.definition);
        if let Some(clash) = ours
            .iter()
            .find(|e| theirs.iter().any(|t| t.clashes_with(e)))
        {
            let name = remote
                .definition
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let who = if remote.cluster.as_deref() == Some(shared.cluster_id.as_str()) {
                match &remote.owner {
                    Some(o) => format!("this cluster (ApiDefinition {o})"),
                    None => "this cluster".into(),
                }
            } else {
                remote.describe_owner()
            };
            return Some(format!(
                "context path {clash} is already used in environment {} by API \"{name}\" (id {}) owned by {who}",
                target.environment_id(),
                remote.id
            ));
        }
    }
    None
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
    fn fail(&mut self, reason: &'static str, message: String, retry: Retry) {
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
        if was_true || before.as_deref() != Some(reason) {
            self.note(EventType::Warning, reason, message);
        }
        self.action = match retry {
            Retry::Backoff => Action::requeue(self.shared.backoff(&self.uid())),
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
    let old = shared.current_status(api);
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
    let cross_id = payload::api_cross_id(api);
    run.status.cross_id = Some(cross_id.clone());
    run.status.observed_generation = run.generation;
    status::set(
        &mut run.status.conditions,
        ACCEPTED,
        true,
        "Accepted",
        "",
        run.generation,
    );

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
            run.fail("RefsUnresolved", message, Retry::Slow(requeue));
        }
        Ok(refs) => {
            status::set(
                &mut run.status.conditions,
                RESOLVED_REFS,
                true,
                "Resolved",
                "",
                run.generation,
            );
            run.secrets = refs
                .templates
                .iter()
                .filter(|(k, _)| k.secret)
                .map(|(_, v)| v.clone())
                .collect();
            sync(&mut run, &refs, &cross_id).await;
        }
    }

    let t1 = Instant::now();
    let name = api.name_any();
    let patched = status::patch_status(kapi, &name, Some(&old), &run.status).await?;
    if patched {
        shared.status_written(api, &run.status);
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
                    "LocalOnly",
                    "no contextRef: deployed through the local ConfigMap only",
                    run.generation,
                );
                run.status.processing_status = Some(COMPLETED.into());
            } else {
                run.fail(
                    "NoContext",
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
        run.fail("ConfigMapFailed", message, Retry::Backoff);
    }
}

/// Builds the payload for `context`, pushes it if it differs from the last push (or checks drift when it
/// does not). Returns the payload as it stands in APIM when known.
async fn push_if_changed(
    run: &mut Run<'_>,
    refs: &Refs,
    context: &Resolved,
    cross_id: &str,
) -> Option<Value> {
    let api = run.api;
    let shared = run.shared;
    let same_env = run.status.synced_context.as_deref() == Some(context.key.to_string().as_str());
    let known_id = same_env.then(|| run.status.id.clone()).flatten();
    let plan_ids = if same_env {
        run.status.plans.clone()
    } else {
        None
    };
    let stamp = Stamp {
        cluster_id: shared.cluster_id.clone(),
        owner: key_of(api).to_string(),
    };
    let build = |id: Option<&str>| {
        payload::build(
            api,
            &Inputs {
                cross_id,
                api_id: id,
                plan_ids: plan_ids.as_ref(),
                resources: Some(&refs.resources),
                templates: Some(&refs.templates),
                stamp: Some(&stamp),
            },
        )
    };
    let definition = match build(known_id.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            run.fail("InvalidSpec", e.to_string(), Retry::OnChange);
            return None;
        }
    };
    let hash = payload::sync_hash(&definition, &context.identity);

    if same_env && run.status.synced_hash.as_deref() == Some(hash.as_str()) {
        if !status::is_true(&run.status.conditions, SYNCED) {
            // Status lost its condition (e.g. written by an older version): the push itself is current.
            status::set(
                &mut run.status.conditions,
                SYNCED,
                true,
                "Synced",
                format!("pushed to {}", context.key),
                run.generation,
            );
            run.status.processing_status = Some(COMPLETED.into());
        }
        if shared.drift_due(&run.uid()) {
            check_drift(run, context, cross_id, &definition, &hash).await;
        }
        return Some(definition);
    }
    if run.status.failed_hash.as_deref() == Some(hash.as_str()) {
        // APIM refused exactly this payload: wait for a change of the object (or what it references).
        run.action = Action::await_change();
        return None;
    }
    let prefetched = run
        .prefetched
        .take()
        .filter(|p| p.context == context.key && p.cross_id == cross_id)
        .map(|p| p.remote);
    push(
        run, context, cross_id, definition, hash, known_id, prefetched,
    )
    .await
}

/// Pushes `definition` to the context after the ownership check; records the outcome in status.
async fn push(
    run: &mut Run<'_>,
    context: &Resolved,
    cross_id: &str,
    mut definition: Value,
    hash: String,
    known_id: Option<String>,
    // `Some(read)`: already read back (`read` is `None` when APIM has no such API); `None`: read it here.
    remote: Option<Option<Remote>>,
) -> Option<Value> {
    let api = run.api;
    let shared = run.shared;
    let target = &context.target;
    let permit = match shared.breakers.admit(&context.key) {
        Ok(p) => p,
        Err(wait) => {
            let snapshot = shared.breakers.snapshot(&context.key);
            run.fail(
                "ContextUnavailable",
                format!(
                    "the Management API of context {} is unreachable ({} consecutive failures); next attempt in {}s",
                    context.key,
                    snapshot.consecutive_failures,
                    wait.as_secs().max(1)
                ),
                Retry::Slow(wait + Duration::from_millis(50)),
            );
            return None;
        }
    };

    // Ownership: never overwrite what another cluster pushed, unless asked to take it over.
    let remote = match remote {
        Some(read) => read,
        None => match read_remote(shared, target, cross_id, known_id.as_deref()).await {
            Ok(r) => r,
            Err(e) => {
                record_apim_failure(shared, permit, &context.key, &e);
                run.fail_apim(&e);
                return None;
            }
        },
    };
    if let Some(remote) = &remote {
        if let Some(other) = remote.other_cluster(&shared.cluster_id) {
            if !takeover_requested(api) {
                permit.success();
                let message = format!(
                    "API crossId {cross_id} in environment {} is owned by cluster {other}{}; gko does not overwrite it. Delete it there, or set annotation {TAKEOVER_ANNOTATION}: \"true\" to take it over",
                    target.environment_id(),
                    remote.owner.as_deref().map(|o| format!(" (ApiDefinition {o})")).unwrap_or_default(),
                );
                run.status.synced_hash = None;
                run.fail(
                    "OwnedByOtherCluster",
                    message,
                    Retry::Slow(status::SLOW_REQUEUE),
                );
                return None;
            }
            run.note(
                EventType::Warning,
                "TakeOver",
                format!("taking over API crossId {cross_id} from cluster {other} ({TAKEOVER_ANNOTATION})"),
            );
        }
        if let Some(object) = definition.as_object_mut() {
            object.insert("id".into(), Value::String(remote.id.clone()));
        }
    }

    let desired = desired_state(api);
    let result = shared.apim.import(target, &definition, false).await;
    let result = match result {
        Ok(r) if !r.errors.severe.is_empty() => Err(ApimError::Invalid {
            message: r.errors.severe.join("; "),
        }),
        other => other,
    };
    let result = match result {
        Ok(r)
            if r.generation == ApimGeneration::V3 && !r.state.is_empty() && r.state != desired =>
        {
            let lifecycle = if desired == "STARTED" {
                shared.apim.start(target, &r.id).await
            } else {
                shared.apim.stop(target, &r.id).await
            };
            lifecycle.map(|()| r)
        }
        other => other,
    };
    match result {
        Ok(imported) => {
            permit.success();
            shared.count_call("ok");
            shared.reset_backoff(&run.uid());
            shared.drift_checked(&run.uid());
            let id = imported.id.clone();
            let warnings: Vec<String> = imported
                .errors
                .warning
                .iter()
                .map(|w| redact(w.clone(), &run.secrets))
                .collect();
            let st = &mut run.status;
            st.id = Some(id.clone());
            if !imported.plans.is_empty() {
                st.plans = Some(imported.plans.clone());
            }
            st.state = Some(desired.to_owned());
            st.synced_hash = Some(hash);
            st.failed_hash = None;
            st.synced_context = Some(context.key.to_string());
            st.environment_id = Some(target.environment_id().to_owned());
            st.organization_id = Some(target.organization_id().to_owned());
            st.cluster_id = Some(shared.cluster_id.clone());
            st.processing_status = Some(COMPLETED.into());
            st.errors = if warnings.is_empty() {
                None
            } else {
                Some(ApiErrors {
                    severe: None,
                    warning: Some(warnings),
                })
            };
            status::set(
                &mut st.conditions,
                SYNCED,
                true,
                "Synced",
                format!("pushed to {}", context.key),
                run.generation,
            );
            run.note(
                EventType::Normal,
                "Synced",
                format!(
                    "pushed to APIM (context {}, environment {}, id {id}, {desired})",
                    context.key,
                    target.environment_id()
                ),
            );
            if let Some(object) = definition.as_object_mut() {
                object.insert("id".into(), Value::String(id));
                if let Some(Value::Array(plans)) = object.get_mut("plans") {
                    for plan in plans.iter_mut().filter_map(Value::as_object_mut) {
                        let cross = plan.get("crossId").and_then(Value::as_str);
                        if let Some(plan_id) = cross.and_then(|c| imported.plans.get(c)) {
                            plan.insert("id".into(), Value::String(plan_id.clone()));
                        }
                    }
                }
            }
            Some(definition)
        }
        Err(e) => {
            let c = record_apim_failure(shared, permit, &context.key, &e);
            if c.retry == Retry::OnChange {
                run.status.failed_hash = Some(hash);
                run.status.errors = Some(ApiErrors {
                    severe: Some(vec![redact(c.message.clone(), &run.secrets)]),
                    warning: None,
                });
                // Only a refusal about a path is worth reading the environment's APIs for.
                let about_path = c.message.to_ascii_lowercase().contains("path");
                let conflict = if about_path {
                    path_conflict(shared, target, &definition, cross_id).await
                } else {
                    None
                };
                if let Some(conflict) = conflict {
                    run.fail("ContextPathConflict", conflict, Retry::OnChange);
                    return None;
                }
            }
            run.fail_apim(&e);
            None
        }
    }
}

/// Compares the API in APIM with what gko pushed; reports (and corrects, by policy) console edits.
async fn check_drift(
    run: &mut Run<'_>,
    context: &Resolved,
    cross_id: &str,
    definition: &Value,
    hash: &str,
) {
    let shared = run.shared;
    let Ok(permit) = shared.breakers.admit(&context.key) else {
        return;
    };
    let id = run.status.id.clone();
    let read = read_remote(shared, &context.target, cross_id, id.as_deref()).await;
    shared.drift_checked(&run.uid());
    let remote = match read {
        Ok(r) => {
            permit.success();
            r
        }
        Err(e) => {
            let c = status::classify(&e);
            shared.count_call(c.reason);
            if c.unreachable && permit.failure() {
                shared.refresh_context(&context.key);
            }
            tracing::debug!(error = %e, "drift check skipped");
            return;
        }
    };
    let fields = match &remote {
        None => vec!["<deleted in APIM>".to_owned()],
        Some(remote) => {
            if let Some(other) = remote.other_cluster(&shared.cluster_id) {
                // Taken over by another cluster: stop pushing (the next change is checked before any write).
                run.status.synced_hash = None;
                run.fail(
                    "OwnedByOtherCluster",
                    format!(
                        "API crossId {cross_id} in environment {} was taken over by cluster {other}; gko no longer pushes it",
                        context.target.environment_id()
                    ),
                    Retry::Slow(status::SLOW_REQUEUE),
                );
                return;
            }
            payload::drifted_fields(definition, &remote.definition)
        }
    };
    if fields.is_empty() {
        if status::is_true(&run.status.conditions, DRIFTED)
            || status::reason_of(&run.status.conditions, DRIFTED).is_none()
        {
            status::set(
                &mut run.status.conditions,
                DRIFTED,
                false,
                "InSync",
                "APIM matches the last push",
                run.generation,
            );
        }
        return;
    }
    let what = fields.join(", ");
    let message =
        format!("the API in APIM differs from what gko pushed ({what}): edited outside Kubernetes");
    match shared.settings.drift_policy {
        DriftPolicy::Report => {
            if !status::is_true(&run.status.conditions, DRIFTED) {
                run.note(EventType::Warning, "Drifted", message.clone());
            }
            status::set(
                &mut run.status.conditions,
                DRIFTED,
                true,
                "ConsoleEdit",
                message,
                run.generation,
            );
        }
        DriftPolicy::Correct => {
            run.note(
                EventType::Warning,
                "Drifted",
                format!("{message}; pushing the definition again"),
            );
            let known = run.status.id.clone();
            if push(
                run,
                context,
                cross_id,
                definition.clone(),
                hash.to_owned(),
                known,
                Some(remote),
            )
            .await
            .is_some()
            {
                status::set(
                    &mut run.status.conditions,
                    DRIFTED,
                    false,
                    "Corrected",
                    format!("console edit of {what} overwritten"),
                    run.generation,
                );
                run.note(
                    EventType::Normal,
                    "DriftCorrected",
                    format!("console edit of {what} overwritten"),
                );
            } else {
                status::set(
                    &mut run.status.conditions,
                    DRIFTED,
                    true,
                    "ConsoleEdit",
                    message,
                    run.generation,
                );
            }
        }
    }
}

/// Removes the API from the environment of `previous` (promotion, or context removed). Returns false when the
/// removal failed (status says why; nothing else is done this round).
async fn remove_from_previous(run: &mut Run<'_>, previous: &str, cross_id: &str) -> bool {
    let shared = run.shared;
    let key = match previous.split_once('/') {
        Some((ns, name)) => ObjectKey::new(ns, name),
        None => ObjectKey::new("", previous),
    };
    let resolved = match resolve_context(shared, &key).await {
        Ok((_, r)) => Some(r),
        Err(RefFailure::Missing { message, .. }) => {
            run.note(
                EventType::Warning,
                "PreviousContextGone",
                format!("cannot remove the API from the environment of context {key}: {message}; it is left there"),
            );
            None
        }
        Err(RefFailure::Kube(e)) => {
            run.fail(
                "CleanupFailed",
                format!("cannot read context {key}: {e}"),
                Retry::Backoff,
            );
            return false;
        }
    };
    if let Some(resolved) = resolved {
        let id = run.status.id.clone();
        match delete_owned(shared, &resolved, cross_id, id.as_deref()).await {
            Ok(outcome) => run.note(
                EventType::Normal,
                "RemovedFromPreviousContext",
                format!("{outcome} (environment of context {key}; the API moved)"),
            ),
            Err(Failure::Breaker(wait)) => {
                run.fail(
                    "ContextUnavailable",
                    format!("the previous context {key} is unreachable; the API is removed from it first"),
                    Retry::Slow(wait),
                );
                return false;
            }
            Err(Failure::Apim(e)) => {
                run.fail_apim(&e);
                return false;
            }
        }
    }
    let st = &mut run.status;
    st.id = None;
    st.plans = None;
    st.synced_hash = None;
    st.synced_context = None;
    st.environment_id = None;
    st.organization_id = None;
    true
}

enum Failure {
    Breaker(Duration),
    Apim(ApimError),
}

/// Deletes the API from `context` if this cluster owns it (or nobody does). Returns what happened.
async fn delete_owned(
    shared: &Shared,
    context: &Resolved,
    cross_id: &str,
    known_id: Option<&str>,
) -> Result<String, Failure> {
    let permit = shared
        .breakers
        .admit(&context.key)
        .map_err(Failure::Breaker)?;
    let outcome = async {
        let Some(remote) = read_remote(shared, &context.target, cross_id, known_id).await? else {
            return Ok("already absent from APIM".to_owned());
        };
        if let Some(other) = remote.other_cluster(&shared.cluster_id) {
            return Ok(format!(
                "not deleted from APIM: API {} belongs to cluster {other}",
                remote.id
            ));
        }
        let existed = shared.apim.delete(&context.target, &remote.id).await?;
        Ok(if existed {
            format!("deleted API {} from APIM", remote.id)
        } else {
            "already absent from APIM".to_owned()
        })
    }
    .await;
    match outcome {
        Ok(o) => {
            permit.success();
            shared.count_call("ok");
            Ok(o)
        }
        Err(e) => {
            record_apim_failure(shared, permit, &context.key, &e);
            Err(Failure::Apim(e))
        }
    }
}

async fn cleanup(
    api: &ApiDefinition,
    shared: &Shared,
    kapi: &Api<ApiDefinition>,
) -> Result<Action, Error> {
    let old = shared.current_status(api);
    let cross_id = old
        .cross_id
        .clone()
        .unwrap_or_else(|| payload::api_cross_id(api));
    let key = old
        .synced_context
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .map(|(ns, name)| ObjectKey::new(ns, name))
        .or_else(|| context_of(api));
    if let Some(key) = key {
        let outcome = match resolve_context(shared, &key).await {
            Err(RefFailure::Kube(e)) => return Err(e.into()),
            Err(RefFailure::Missing { message, .. }) => {
                shared
                    .event(
                        api,
                        EventType::Warning,
                        "NotDeleted",
                        format!("cannot delete the API from APIM ({message}); it is left there"),
                    )
                    .await;
                None
            }
            Ok((_, resolved)) => {
                match delete_owned(shared, &resolved, &cross_id, old.id.as_deref()).await {
                    Ok(outcome) => Some(outcome),
                    Err(failure) => {
                        let (reason, message, retry) = match failure {
                            Failure::Breaker(wait) => (
                                "ContextUnavailable",
                                format!("context {key} is unreachable; deletion retried"),
                                wait,
                            ),
                            Failure::Apim(e) => {
                                let c = status::classify(&e);
                                let retry = match c.retry {
                                    Retry::Slow(d) => d,
                                    _ => shared
                                        .backoff(api.metadata.uid.as_deref().unwrap_or_default()),
                                };
                                (c.reason, c.message, retry)
                            }
                        };
                        let mut st = old.clone();
                        let changed = status::set(
                            &mut st.conditions,
                            SYNCED,
                            false,
                            "DeleteFailed",
                            format!("{reason}: {message}"),
                            api.metadata.generation,
                        );
                        status::patch_status(kapi, &api.name_any(), Some(&old), &st).await?;
                        if changed {
                            shared
                                .event(api, EventType::Warning, "DeleteFailed", message.clone())
                                .await;
                        }
                        return Err(Error::Blocked {
                            message: format!("deleting from APIM: {message}"),
                            retry,
                        });
                    }
                }
            }
        };
        if let Some(outcome) = outcome {
            shared
                .event(api, EventType::Normal, "Deleted", outcome)
                .await;
        }
    }
    delete_config_map(shared, api).await?;
    shared.forget_object(api.metadata.uid.as_deref().unwrap_or_default());
    Ok(Action::await_change())
}

fn config_map_name(api: &ApiDefinition) -> String {
    api.name_any()
}

fn is_ours(cm: &ConfigMap, api: &ApiDefinition) -> bool {
    let uid = api.metadata.uid.as_deref();
    cm.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid)
        || (label(cm, CM_MANAGED_BY.0) == Some(CM_MANAGED_BY.1)
            && label(cm, CM_COMPONENT.0) == Some(CM_COMPONENT.1))
}

fn label<'a>(cm: &'a ConfigMap, key: &str) -> Option<&'a str> {
    cm.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

async fn delete_config_map(shared: &Shared, api: &ApiDefinition) -> Result<(), kube::Error> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let name = config_map_name(api);
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

/// Writes (or removes) the local ConfigMap: present while `local: true` and STARTED.
async fn local_config_map(
    run: &mut Run<'_>,
    refs: &Refs,
    cross_id: &str,
    pushed: Option<&Value>,
) -> Result<(), String> {
    let api = run.api;
    let shared = run.shared;
    let wanted = api.spec.local == Some(true) && desired_state(api) == "STARTED";
    if !wanted {
        // Only look for a ConfigMap to remove when one was written, or when the spec changed since the
        // last reconcile (a safety net should the status have been lost): a resync, or a change of an
        // ApiResource, costs no API-server read for the thousands of APIs that never were local.
        let written = run.status.local_config_map.is_some();
        if !written && !run.spec_changed {
            return Ok(());
        }
        delete_config_map(shared, api)
            .await
            .map_err(|e| format!("cannot remove the local ConfigMap: {e}"))?;
        run.status.local_config_map = None;
        return Ok(());
    }
    let mut definition = match pushed {
        Some(d) => d.clone(),
        None if refs.context.is_some() => {
            // Not in APIM yet (or failing there): the gateway still gets the definition.
            let stamp = Stamp {
                cluster_id: shared.cluster_id.clone(),
                owner: key_of(api).to_string(),
            };
            let plans = run.status.plans.clone();
            match payload::build(
                api,
                &Inputs {
                    cross_id,
                    api_id: run.status.id.as_deref(),
                    plan_ids: plans.as_ref(),
                    resources: Some(&refs.resources),
                    templates: Some(&refs.templates),
                    stamp: Some(&stamp),
                },
            ) {
                Ok(d) => d,
                Err(_) => return Ok(()),
            }
        }
        None => match payload::build(
            api,
            &Inputs {
                cross_id,
                resources: Some(&refs.resources),
                templates: Some(&refs.templates),
                ..Default::default()
            },
        ) {
            Ok(d) => d,
            Err(e) => return Err(e.to_string()),
        },
    };
    payload::fill_local_ids(&mut definition);
    let text = serde_json::to_string(&definition).map_err(|e| e.to_string())?;
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let name = config_map_name(api);
    let existing = maps
        .get_opt(&name)
        .await
        .map_err(|e| format!("cannot read ConfigMap {ns}/{name}: {e}"))?;
    let owner = OwnerReference {
        api_version: ApiDefinition::api_version(&()).into_owned(),
        kind: ApiDefinition::kind(&()).into_owned(),
        name: api.name_any(),
        uid: api.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let labels: BTreeMap<String, String> = [CM_MANAGED_BY, CM_COMPONENT]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let data: BTreeMap<String, String> = [(CM_KEY.to_owned(), text)].into();
    let written = match existing {
        Some(cm) if !is_ours(&cm, api) => Err(format!(
            "ConfigMap {ns}/{name} exists and is not managed by gko; rename it or the ApiDefinition"
        )),
        Some(cm) if cm.data.as_ref() == Some(&data) => Ok(()),
        Some(mut cm) => {
            cm.data = Some(data);
            cm.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels);
            maps.replace(&name, &PostParams::default(), &cm)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot update ConfigMap {ns}/{name}: {e}"))
        }
        None => {
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
            let created = maps.create(&PostParams::default(), &cm).await;
            if created.is_ok() {
                run.note(
                    EventType::Normal,
                    "ConfigMapWritten",
                    format!("definition written to ConfigMap {ns}/{name} for the gateway"),
                );
            }
            created
                .map(|_| ())
                .map_err(|e| format!("cannot create ConfigMap {ns}/{name}: {e}"))
        }
    };
    written?;
    run.status.local_config_map = Some(name);
    Ok(())
}

/// Every resource key an API references, for tests and the ApiResource controller.
pub fn referenced_resources(api: &ApiDefinition) -> BTreeSet<ObjectKey> {
    resources_of(api)
        .into_iter()
        .map(|r| ObjectKey::new(r.namespace.unwrap_or_default(), r.name))
        .collect()
}

/// Books a failed Management API call: counts it, and tells the context's circuit breaker whether
/// APIM was unreachable (a probe of the context is asked for when the breaker opens) or answered.
fn record_apim_failure(
    shared: &Shared,
    permit: super::breaker::Permit,
    context: &ObjectKey,
    e: &ApimError,
) -> status::Classified {
    let c = status::classify(e);
    shared.count_call(c.reason);
    if c.unreachable {
        if permit.failure() {
            shared.refresh_context(context);
        }
    } else {
        permit.success();
    }
    c
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
