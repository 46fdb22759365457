//! The context every reconcile is passed ([`Shared`]: clients, settings, the cache, Events, metrics) and the
//! helpers every controller uses around it (the finalizer, the error policy).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};

use super::{context, memory, Error, Settings, FINALIZER};
use crate::apim::{backoff, ApimClient};
use crate::cluster::ClusterCache;
use crate::crd::ManagementContext;
use crate::model::gko_meta;
use crate::model::ObjectKey;
use crate::reconcile::breaker::Breakers;
use crate::telemetry::{KindLabel, Metrics, ReasonLabel, ReviewLabels};

/// What the controllers share.
pub struct Shared {
    pub client: Client,
    pub apim: ApimClient,
    pub settings: Settings,
    pub cluster_id: String,
    /// Warnings go through one Recorder, whose cache turns a repeated warning into one Event with a
    /// count (`series`) instead of a new Event each retry.
    pub recorder: Recorder,
    /// Normal Events (Synced, Deleted…) are one-offs: each gets a Recorder of its own, so that none
    /// of them is kept in a cache (kube-runtime keeps each Event 6 minutes: at 10,000 APIs synced
    /// at once, that cache alone held tens of MB).
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// The one cluster cache (shared with the webhook).
    pub cache: ClusterCache,
    pub targets: context::TargetCache,
    pub breakers: Breakers,
    /// What is remembered per object between reconciles.
    pub memory: memory::ObjectMemory,
    pub(super) event_slots: Arc<tokio::sync::Semaphore>,
    pub(super) context_events: mpsc::UnboundedSender<ObjectRef<ManagementContext>>,
}

impl Shared {
    /// Asks the context controller to refresh a context's status (its breaker changed).
    pub fn refresh_context(&self, key: &ObjectKey) {
        let _ = self
            .context_events
            .unbounded_send(ObjectRef::new(&key.name).within(&key.namespace));
    }

    /// Waits until the context and resource caches are filled (at start-up), so that an API is never judged
    /// against a cache that has not listed its references yet.
    pub async fn references_ready(&self) {
        self.cache.contexts.ready.wait().await;
        self.cache.resources.ready.wait().await;
    }

    /// Requeue after success: the next drift check, or only on change.
    pub fn resync(&self) -> Action {
        if self.settings.drift_interval.is_zero() {
            Action::await_change()
        } else {
            let jitter = 0.9 + 0.2 * backoff::random_jitter();
            Action::requeue(self.settings.drift_interval.mul_f64(jitter))
        }
    }

    /// Publishes an Event in the background (a reconcile never waits for it); failures are logged, never
    /// fatal. At most a few Events are written at once, so they never crowd out the reconciler's own writes.
    pub async fn event<K>(&self, object: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let event = KubeEvent {
            type_,
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let reference = object.object_ref(&());
        let recorder = match type_ {
            EventType::Warning => self.recorder.clone(),
            EventType::Normal => Recorder::new(self.client.clone(), self.reporter.clone()),
        };
        let slots = self.event_slots.clone();
        tokio::spawn(async move {
            let Ok(permit) = slots.acquire_owned().await else {
                return;
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, reason = %event.reason, "could not publish an Event");
            }
            drop(permit);
        });
    }

    /// Counts a Management API call result.
    pub fn count_call(&self, result: &str) {
        self.metrics
            .apim_calls
            .get_or_create(&ReasonLabel {
                reason: result.to_owned(),
            })
            .inc();
    }

    pub(super) fn observe(
        &self,
        kind: &'static str,
        operation: &'static str,
        ok: bool,
        started: Instant,
    ) {
        self.metrics
            .reconciles
            .get_or_create(&ReviewLabels {
                webhook: "reconciler".into(),
                kind: kind.into(),
                operation: operation.into(),
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        self.metrics
            .reconcile_seconds
            .get_or_create(&KindLabel { kind: kind.into() })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The reconcile of a kind whose apply and cleanup need nothing before the finalizer is in place: adds the
/// finalizer, runs `reconcile` with the object's namespaced `Api` and the finalizer event, and books the
/// outcome in the metrics under `kind`.
pub async fn finalized<K, F, Fut>(
    object: Arc<K>,
    shared: &Shared,
    kind: &'static str,
    reconcile: F,
) -> Result<Action, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    F: FnOnce(Api<K>, kube::runtime::finalizer::Event<K>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    let started = Instant::now();
    let ns = object.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<K> = Api::namespaced(shared.client.clone(), &ns);
    let deleting = object.meta().deletion_timestamp.is_some();
    let result = match ensure_finalizer(&api, object).await {
        Err(e) => Err(e),
        Ok(object) => {
            let held = object.meta().finalizers.clone().unwrap_or_default();
            let name = gko_meta::deletion_finalizer(&held, FINALIZER);
            kube::runtime::finalizer::finalizer(&api, name, object, |event| {
                reconcile(api.clone(), event)
            })
            .await
        }
        .map_err(|e| Error::Finalizer(Box::new(e))),
    };
    shared.observe(
        kind,
        if deleting { "cleanup" } else { "apply" },
        result.is_ok(),
        started,
    );
    result
}

/// Adds gko's finalizer when missing and returns the object as the server now holds it, so the first
/// reconcile goes on with the real work instead of waiting for the watch to deliver the change (the
/// `finalizer()` helper of kube-runtime stops after adding it). Guarded by the resourceVersion.
pub async fn ensure_finalizer<K>(api: &Api<K>, object: Arc<K>) -> Result<Arc<K>, Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let meta = object.meta();
    if meta.deletion_timestamp.is_some() {
        return Ok(object);
    }
    // GKO's finalizers (an installation taken over in place) are replaced by gko's in the same patch.
    let current = meta.finalizers.clone().unwrap_or_default();
    let Some(finalizers) = gko_meta::take_over_finalizers(&current, FINALIZER) else {
        return Ok(object);
    };
    let Some(name) = meta.name.clone() else {
        return Ok(object);
    };
    // A merge patch carrying the resourceVersion read: the server refuses it (409) if the object changed.
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}
    });
    let updated = api
        .patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .map_err(|e| {
            Error::Finalizer(Box::new(kube::runtime::finalizer::Error::AddFinalizer(e)))
        })?;
    Ok(Arc::new(updated))
}

/// Shared error policy: deletion waits are retried after their own delay, other failures with backoff.
pub(super) fn error_policy<K>(object: Arc<K>, error: &Error, shared: Arc<Shared>) -> Action
where
    K: Resource,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    if error.is_stale_write() {
        // The cached object was older than the server's (a finalizer patch with a failed `test`): the
        // watch delivers the newer one at once.
        tracing::debug!(%namespace, %name, error = %error, "stale object, retrying");
        return Action::requeue(Duration::from_millis(200));
    }
    match error.innermost() {
        Error::Blocked { message, retry } => {
            tracing::info!(%namespace, %name, reason = %message, "waiting");
            Action::requeue(*retry)
        }
        other => {
            let uid = object.meta().uid.clone().unwrap_or_default();
            let delay = shared.memory.backoff(&uid);
            tracing::warn!(%namespace, %name, error = %other, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "reconcile failed");
            Action::requeue(delay)
        }
    }
}
