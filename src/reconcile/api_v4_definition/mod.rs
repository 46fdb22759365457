//! ApiV4Definition controller.
//!
//! Apply: resolve the context (and its Secret), the referenced ApiResources and the templates; remove the API
//! from the context it was synced to before when its context changed; build the bodies ([`body`]) in HRID
//! or legacy mode ([`ids`]); push them (Automation API, else `_import/crd`) unless the hash equals the last
//! push ([`decide`]); refuse to overwrite an API another cluster pushed; check drift when due; keep the
//! gateway ConfigMap (`definitionContext.syncFrom: KUBERNETES`); write status and Events. `state` travels in
//! the body: APIM starts or stops the API.
//!
//! Cleanup: delete the API (HRID or UUID, as it was pushed) unless another cluster owns it, remove the
//! ConfigMap, then the finalizer goes.

use std::sync::Arc;
use std::time::Instant;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::api_definition::{resolve_refs_for, RefFailure, Refs};
use super::payload::Stamp;
use super::status::{self, Reason, Retry, ACCEPTED, COMPLETED, FAILED, RESOLVED_REFS, SYNCED};
use super::{Error, Shared, FINALIZER};
use crate::apim::ApimError;
use crate::cluster::ApiIndex;
use crate::crd::{ApiResource, ApiV4Definition, ApiV4DefinitionStatus};
use crate::model::ObjectKey;

pub mod body;
pub mod decide;
pub mod ids;
mod local;
mod push;

use self::body::BodyInputs;

fn key_of(api: &ApiV4Definition) -> ObjectKey {
    ObjectKey::new(
        api.metadata.namespace.clone().unwrap_or_default(),
        api.metadata.name.clone().unwrap_or_default(),
    )
}

/// The context an API points to now.
pub fn context_of(api: &ApiV4Definition) -> Option<ObjectKey> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let r = api
        .spec
        .context_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())?;
    Some(ObjectKey::new(r.namespace_or(ns), r.name.clone()))
}

fn api_ref(key: &ObjectKey) -> ObjectRef<ApiV4Definition> {
    ObjectRef::new(&key.name).within(&key.namespace)
}

/// v4 APIs that reference a resource (a resource change re-syncs exactly these).
pub fn users_of_resource(
    index: &ApiIndex,
    resource: &ApiResource,
) -> Vec<ObjectRef<ApiV4Definition>> {
    let key = ObjectKey::new(
        resource.metadata.namespace.clone().unwrap_or_default(),
        resource.name_any(),
    );
    index.resource_users(&key).iter().map(api_ref).collect()
}

/// v4 APIs whose context (current or last synced) is `context`.
pub fn users_of_context(index: &ApiIndex, context: &ObjectKey) -> Vec<ObjectRef<ApiV4Definition>> {
    index
        .context_or_synced_users(context)
        .iter()
        .map(api_ref)
        .collect()
}

/// Reconciles an ApiV4Definition of the cache.
pub async fn reconcile(api: Arc<ApiV4Definition>, shared: Arc<Shared>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = api.metadata.namespace.clone().ok_or(Error::NoNamespace)?;
    let kapi: Api<ApiV4Definition> = Api::namespaced(shared.client.clone(), &ns);
    let deleting = api.metadata.deletion_timestamp.is_some();
    shared.references_ready().await;
    let result = match super::ensure_finalizer(&kapi, api).await {
        Err(e) => Err(e),
        Ok(api) => finalizer(&kapi, FINALIZER, api, |event| async {
            match event {
                Finalizer::Apply(api) => apply(&api, &shared, &kapi).await,
                Finalizer::Cleanup(api) => local::cleanup(&api, &shared).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e))),
    };
    shared.observe(
        "ApiV4Definition",
        if deleting { "cleanup" } else { "apply" },
        result.is_ok(),
        started,
    );
    result
}

/// A note to publish as an Event once the status is written.
struct Note {
    type_: EventType,
    reason: &'static str,
    message: String,
}

/// Working state of one apply.
struct Run<'a> {
    api: &'a ApiV4Definition,
    shared: &'a Shared,
    generation: Option<i64>,
    status: ApiV4DefinitionStatus,
    notes: Vec<Note>,
    action: Action,
    /// Values resolved from `[[ secret ... ]]` templates, redacted from every message.
    secrets: Vec<String>,
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

    fn stamp(&self) -> Stamp {
        Stamp {
            cluster_id: self.shared.cluster_id.clone(),
            owner: key_of(self.api).to_string(),
        }
    }

    /// Records a failed sync: `Synced` and GKO's `Accepted` false, processing status, an Event when the
    /// reason is new, and the requeue.
    fn fail(&mut self, reason: Reason, message: String, retry: Retry) {
        let message = super::api_definition::redact(message, &self.secrets);
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

/// The body's inputs from what the references resolved to.
impl Refs {
    fn inputs<'a>(
        &'a self,
        identity: &'a crate::apim::V4Identity,
        stamp: Option<&'a Stamp>,
    ) -> BodyInputs<'a> {
        BodyInputs {
            identity,
            resources: &self.resources,
            templates: &self.templates,
            stamp,
        }
    }
}

async fn resolve_refs(api: &ApiV4Definition, shared: &Shared) -> Result<Refs, RefFailure> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let resources = api
        .spec
        .resources
        .iter()
        .flatten()
        .filter_map(|r| r.reference.as_ref())
        .filter(|r| !r.name.is_empty())
        .map(|r| ObjectKey::new(r.namespace_or(ns), r.name.clone()));
    let spec = serde_json::to_value(&api.spec).unwrap_or(serde_json::Value::Null);
    resolve_refs_for(shared, ns, context_of(api), resources, &spec).await
}

async fn apply(
    api: &ApiV4Definition,
    shared: &Shared,
    kapi: &Api<ApiV4Definition>,
) -> Result<Action, Error> {
    let uid = api.metadata.uid.clone().unwrap_or_default();
    // What this process wrote last, while the watch has not delivered it (no second push of the same body).
    let old = shared
        .memory
        .current_v4_status(&uid, api.status.clone().unwrap_or_default());
    let mut run = Run {
        api,
        shared,
        generation: api.metadata.generation,
        status: old.clone(),
        notes: Vec::new(),
        action: shared.resync(),
        secrets: Vec::new(),
    };
    run.status.observed_generation = run.generation;
    status::set(
        &mut run.status.conditions,
        ACCEPTED,
        true,
        Reason::Accepted,
        "",
        run.generation,
    );
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
            run.secrets = super::payload::secret_values(&refs.templates);
            sync(&mut run, &refs).await;
        }
    }
    // GKO's Accepted mirrors the outcome (false with the failure's reason).
    if !status::is_true(&run.status.conditions, SYNCED) {
        if let Some(reason) = Reason::ALL
            .iter()
            .copied()
            .find(|r| Some(r.as_str()) == status::reason_of(&run.status.conditions, SYNCED))
        {
            status::set(
                &mut run.status.conditions,
                ACCEPTED,
                false,
                reason,
                "see the Synced condition",
                run.generation,
            );
        }
    }
    let name = api.name_any();
    if status::patch_status(kapi, &name, Some(&old), &run.status).await? {
        shared.memory.v4_status_written(&uid, &run.status);
    }
    for note in run.notes.drain(..) {
        shared
            .event(api, note.type_, note.reason, note.message)
            .await;
    }
    Ok(run.action)
}

/// Everything after the references resolved: cleanup of a previous context, push, ConfigMap.
async fn sync(run: &mut Run<'_>, refs: &Refs) {
    let desired = refs.context.as_ref().map(|c| c.key.to_string());
    if let Some(previous) = run
        .status
        .synced_context
        .clone()
        .filter(|p| Some(p) != desired.as_ref())
    {
        if !local::remove_from_previous(run, &previous).await {
            return;
        }
    }
    match &refs.context {
        None if body::syncs_from_kubernetes(run.api) => {
            status::set(
                &mut run.status.conditions,
                SYNCED,
                true,
                Reason::LocalOnly,
                "no contextRef: deployed through the local ConfigMap only",
                run.generation,
            );
            run.status.processing_status = Some(COMPLETED.into());
        }
        None => run.fail(
            Reason::NoContext,
            "no contextRef and definitionContext.syncFrom is not KUBERNETES: the API is deployed nowhere"
                .into(),
            Retry::OnChange,
        ),
        Some(context) => push::push_if_changed(run, refs, context).await,
    }
    if let Err(message) = local::local_config_map(run, refs).await {
        run.fail(Reason::ConfigMapFailed, message, Retry::Backoff);
    }
}
