//! The reconciler: kube-runtime controllers that push admitted objects to the APIM Management API and write
//! their status.
//!
//! - [`api_definition`]: finalizer, references resolved (context + Secret, ApiResources, templates), payload
//!   pushed only when its hash changed, ownership checks between clusters, promotion between contexts, drift
//!   checks, local ConfigMaps.
//! - [`api_resource`]: status, re-sync of the APIs using a resource (watch mapping), deletion waits while used.
//! - [`management_context`]: probes, `Ready` condition, per-context circuit breaker, deletion waits while used.
//! - [`leader`]: Lease election (one replica reconciles, all serve the webhook).
//! - [`dry_run`]: optional APIM dry-run import from the validating webhook.
//!
//! Errors are classified once ([`status::classify`]); no secret value reaches status, events or logs.

pub mod api_definition;
pub mod api_resource;
pub mod breaker;
pub mod context;
pub mod decide;
pub mod dry_run;
pub mod leader;
pub mod management_context;
pub mod payload;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{predicates, Predicate, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::apim::{backoff, ApimClient, ApimError, ClientOptions};
use crate::cluster::{CachedApi, ClusterCache, Scope};
use crate::crd::{ApiDefinition, ApiResource, ManagementContext};
use crate::model::ObjectKey;
use crate::telemetry::{KindLabel, Metrics, ReasonLabel, ReviewLabels};

pub use breaker::{BreakerConfig, Breakers};
pub use leader::LeaseSettings;

/// Finalizer gko puts on the three kinds.
pub const FINALIZER: &str = "gravitee.io/gko-finalizer";
/// `"true"` on an ApiDefinition: overwrite an API another cluster pushed with the same crossId.
pub const TAKEOVER_ANNOTATION: &str = "gravitee.io/takeover";

/// What to do with a console edit found by a drift check.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftPolicy {
    /// Report it (condition `Drifted=True`, Event) and leave APIM alone.
    #[default]
    Report,
    /// Report it and push the definition again.
    Correct,
}

/// Reconciler settings (flags of `gko serve`, or set by tests and benches).
#[derive(Clone, Debug)]
pub struct Settings {
    pub scope: Scope,
    /// Reconciles running at once, per kind.
    pub concurrency: u16,
    /// Stamped on everything pushed; resolved at start when `None` (see [`cluster_id`]).
    pub cluster_id: Option<String>,
    /// `None`: no leader election (a single replica).
    pub lease: Option<LeaseSettings>,
    /// Namespace for the generated cluster id ConfigMap when kube-system is not readable.
    pub namespace: String,
    /// Zero: no drift checks.
    pub drift_interval: Duration,
    pub drift_policy: DriftPolicy,
    pub apim: ClientOptions,
    /// Backoff of transient failures, per object.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub breaker: BreakerConfig,
    /// Requeue while a referenced object is missing.
    pub missing_ref_requeue: Duration,
    /// Requeue while a deletion waits for users of the object.
    pub blocked_requeue: Duration,
    /// How often a reachable context is probed again.
    pub context_resync: Duration,
    /// Reporting instance of Events (the pod name).
    pub instance: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            scope: Scope::AllNamespaces,
            concurrency: 8,
            cluster_id: None,
            lease: None,
            namespace: "default".into(),
            drift_interval: Duration::from_secs(300),
            drift_policy: DriftPolicy::Report,
            apim: ClientOptions {
                request_timeout: Duration::from_secs(10),
                ..ClientOptions::default()
            },
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(300),
            breaker: BreakerConfig::default(),
            missing_ref_requeue: Duration::from_secs(30),
            blocked_requeue: Duration::from_secs(5),
            context_resync: Duration::from_secs(300),
            instance: "gko".into(),
        }
    }
}

/// A reconcile failure that is not an APIM outcome written to status (those return `Ok`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the object has no namespace")]
    NoNamespace,
    /// The cached spec does not decode as the kind's spec (the API server's schema should prevent it).
    #[error("the spec cannot be decoded: {0}")]
    Decode(#[source] serde_json::Error),
    /// Deletion waits (objects still use it, or cleanup cannot run yet); retried after the given delay.
    #[error("{message}")]
    Blocked { message: String, retry: Duration },
    /// A Management API call failed during cleanup.
    #[error("Management API: {0}")]
    Apim(#[from] ApimError),
}

impl Error {
    /// A finalizer patch refused because the object changed meanwhile (409, or 422 from a failed `test`).
    fn is_stale_write(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Finalizer(f) => matches!(
                f.as_ref(),
                F::AddFinalizer(kube::Error::Api(s)) | F::RemoveFinalizer(kube::Error::Api(s))
                    if s.code == 409 || s.code == 422
            ),
            _ => false,
        }
    }

    fn innermost(&self) -> &Error {
        match self {
            Error::Finalizer(f) => match f.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.innermost(),
                _ => self,
            },
            other => other,
        }
    }
}

/// What the controllers share.
pub struct Shared {
    pub client: Client,
    pub apim: ApimClient,
    pub settings: Settings,
    pub cluster_id: String,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// The one cluster cache (shared with the webhook).
    pub cache: ClusterCache,
    pub targets: context::TargetCache,
    pub breakers: Breakers,
    event_slots: Arc<tokio::sync::Semaphore>,
    attempts: Mutex<HashMap<String, u32>>,
    /// ApiDefinition status last written, until the watch delivers it (see [`Shared::current_status`]).
    written: Mutex<HashMap<String, crate::crd::ApiDefinitionStatus>>,
    /// When each ApiResource's `referencedBy` was last written (bursts are coalesced).
    count_written: Mutex<HashMap<String, Instant>>,
    drift_checked: Mutex<HashMap<String, Instant>>,
    context_events: mpsc::UnboundedSender<ObjectRef<ManagementContext>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Delay before the next attempt after a transient failure of the object `uid` (and counts it).
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut attempts = lock(&self.attempts);
        let n = attempts.entry(uid.to_owned()).or_insert(0);
        let d = backoff::delay(
            *n,
            self.settings.retry_base,
            self.settings.retry_cap,
            backoff::random_jitter,
        );
        *n = n.saturating_add(1);
        d
    }

    pub fn reset_backoff(&self, uid: &str) {
        lock(&self.attempts).remove(uid);
    }

    /// The status of an ApiDefinition as last written by this process, when the cached object does not show it
    /// yet. A reconcile queued while the previous one ran may start before the watch delivered the previous
    /// status patch; judging from that stale status would push the same payload twice. Only the leader writes
    /// these statuses, so what it wrote last is the truth.
    pub fn current_status(&self, api: &ApiDefinition) -> crate::crd::ApiDefinitionStatus {
        let uid = api.metadata.uid.as_deref().unwrap_or_default();
        let cached = api.status.clone().unwrap_or_default();
        let mut written = lock(&self.written);
        match written.get(uid) {
            Some(ours) if *ours != cached => ours.clone(),
            Some(_) => {
                written.remove(uid);
                cached
            }
            None => cached,
        }
    }

    pub fn status_written(&self, api: &ApiDefinition, status: &crate::crd::ApiDefinitionStatus) {
        let uid = api.metadata.uid.clone().unwrap_or_default();
        lock(&self.written).insert(uid, status.clone());
    }

    /// Whether a resource's user count may be written now; otherwise how long to wait (one write per second
    /// per resource: a thousand APIs applied at once do not make a thousand status writes of their resource).
    pub fn count_write_slot(&self, uid: &str) -> Result<(), Duration> {
        const EVERY: Duration = Duration::from_secs(1);
        let mut written = lock(&self.count_written);
        match written.get(uid) {
            Some(at) if at.elapsed() < EVERY => Err(EVERY - at.elapsed()),
            _ => {
                written.insert(uid.to_owned(), Instant::now());
                Ok(())
            }
        }
    }

    /// Whether a drift check of `uid` is due; the first time an object is seen its clock starts (no check
    /// right after a restart).
    pub fn drift_due(&self, uid: &str) -> bool {
        if self.settings.drift_interval.is_zero() {
            return false;
        }
        let mut checked = lock(&self.drift_checked);
        match checked.get(uid) {
            None => {
                checked.insert(uid.to_owned(), Instant::now());
                false
            }
            Some(at) => at.elapsed() >= self.settings.drift_interval.mul_f64(0.9),
        }
    }

    pub fn drift_checked(&self, uid: &str) {
        lock(&self.drift_checked).insert(uid.to_owned(), Instant::now());
    }

    pub fn forget_object(&self, uid: &str) {
        lock(&self.attempts).remove(uid);
        lock(&self.written).remove(uid);
        lock(&self.drift_checked).remove(uid);
    }

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
        let recorder = self.recorder.clone();
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

    fn observe(&self, kind: &'static str, operation: &'static str, ok: bool, started: Instant) {
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
        Ok(object) => kube::runtime::finalizer::finalizer(&api, FINALIZER, object, |event| {
            reconcile(api.clone(), event)
        })
        .await
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
    let present = meta.finalizers.iter().flatten().any(|f| f == FINALIZER);
    if present || meta.deletion_timestamp.is_some() {
        return Ok(object);
    }
    let Some(name) = meta.name.clone() else {
        return Ok(object);
    };
    // A merge patch carrying the resourceVersion read: the server refuses it (409) if the object changed.
    let mut finalizers = meta.finalizers.clone().unwrap_or_default();
    finalizers.push(FINALIZER.to_owned());
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
fn error_policy<K>(object: Arc<K>, error: &Error, shared: Arc<Shared>) -> Action
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
            let delay = shared.backoff(&uid);
            tracing::warn!(%namespace, %name, error = %other, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "reconcile failed");
            Action::requeue(delay)
        }
    }
}

/// The cluster identity: the flag, else the uid of `kube-system`, else a value generated once and kept in
/// ConfigMap `gko-cluster-id` of `namespace`.
pub async fn cluster_id(client: &Client, flag: Option<&str>, namespace: &str) -> String {
    if let Some(id) = flag.map(str::trim).filter(|s| !s.is_empty()) {
        return id.to_owned();
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Ok(ns) = namespaces.get("kube-system").await {
        if let Some(uid) = ns.metadata.uid.filter(|u| !u.is_empty()) {
            return uid;
        }
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for _ in 0..3 {
        match maps.get_opt("gko-cluster-id").await {
            Ok(Some(cm)) => {
                if let Some(id) = cm.data.as_ref().and_then(|d| d.get("clusterId")) {
                    return id.clone();
                }
            }
            Ok(None) => {
                let id = uuid::Uuid::new_v4().to_string();
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some("gko-cluster-id".into()),
                        namespace: Some(namespace.to_owned()),
                        labels: Some([("managed-by".to_string(), "gko".to_string())].into()),
                        ..Default::default()
                    },
                    data: Some([("clusterId".to_string(), id.clone())].into()),
                    ..Default::default()
                };
                match maps.create(&PostParams::default(), &cm).await {
                    Ok(_) => return id,
                    Err(e) => tracing::debug!(error = %e, "could not store the cluster id"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read the cluster id ConfigMap"),
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    tracing::warn!(cluster_id = %id, "no stable cluster id available (set --cluster-id): using a random one");
    id
}

/// Runs the reconciler over `cache` until `stop` fires: with leader election when `settings.lease` is set.
pub async fn run(
    cache: ClusterCache,
    settings: Settings,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Result<(), ApimError> {
    let client = cache.client().clone();
    let apim = ApimClient::new(settings.apim.clone())?;
    let cluster_id = cluster_id(&client, settings.cluster_id.as_deref(), &settings.namespace).await;
    tracing::info!(%cluster_id, "reconciler cluster id");
    match settings.lease.clone() {
        None => {
            run_controllers(cache, settings, apim, cluster_id, metrics, stop).await;
        }
        Some(lease) => {
            leader::run_while_leader(client, lease, stop, move |term| {
                run_controllers(
                    cache.clone(),
                    settings.clone(),
                    apim.clone(),
                    cluster_id.clone(),
                    metrics.clone(),
                    term,
                )
            })
            .await;
        }
    }
    Ok(())
}

/// Every object of a store, to reconcile once when a term starts (the cache was filled before it).
fn everything<K>(watched: &crate::cluster::Watched<K>) -> impl futures::Stream<Item = ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let refs: Vec<ObjectRef<K>> = watched
        .store
        .state()
        .iter()
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect();
    futures::stream::iter(refs)
}

/// The three controllers over the cache's stores, until `stop` fires (in-flight reconciles finish first).
/// Each subscribes to the cache's feeds for the term and reconciles everything the cache holds once.
pub async fn run_controllers(
    cache: ClusterCache,
    settings: Settings,
    apim: ApimClient,
    cluster_id: String,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let client = cache.client().clone();
    // The stores must have listed before a term reconciles everything they hold.
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = async {
            cache.contexts.ready.wait().await;
            cache.resources.ready.wait().await;
            cache.apis.ready.wait().await;
        } => {}
    }
    let (context_events, context_event_stream) = mpsc::unbounded();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "gko".into(),
            instance: Some(settings.instance.clone()),
        },
    );
    let concurrency = settings.concurrency.max(1);
    let shared = Arc::new(Shared {
        client: client.clone(),
        apim,
        breakers: Breakers::new(settings.breaker.clone()),
        settings,
        cluster_id,
        recorder,
        metrics,
        cache: cache.clone(),
        targets: context::TargetCache::default(),
        event_slots: Arc::new(tokio::sync::Semaphore::new(4)),
        attempts: Mutex::new(HashMap::new()),
        written: Mutex::new(HashMap::new()),
        count_written: Mutex::new(HashMap::new()),
        drift_checked: Mutex::new(HashMap::new()),
        context_events,
    });
    let config = ControllerConfig::default().concurrency(concurrency);

    // ApiDefinitions: their own changes, plus the resources, contexts and Secrets they use.
    let index = cache.index.clone();
    let index2 = cache.index.clone();
    let index3 = cache.index.clone();
    let context_store = cache.contexts.store.clone();
    let targets = shared.targets.clone();
    let api_controller = Controller::for_stream(
        // Our own writes (status, the finalizer) do not re-trigger; spec changes (generation, which the
        // deletion mark bumps too) and annotations (takeover) do.
        cache.apis.feed.subscribe().predicate_filter(
            predicates::generation.combine(predicates::annotations),
            Default::default(),
        ),
        cache.apis.store.clone(),
    )
    .with_config(config.clone())
    .reconcile_on(everything(&cache.apis))
    .watches_stream(
        cache
            .resources
            .feed
            .subscribe()
            .predicate_filter(predicates::generation, Default::default()),
        move |resource| api_definition::users_of_resource(&index, &resource),
    )
    .watches_stream(
        cache
            .contexts
            .feed
            .subscribe()
            .predicate_filter(predicates::generation, Default::default()),
        move |context| {
            let key = context::key_of(&context);
            api_definition::users_of_context(&index2, &key)
        },
    )
    .watches_stream(
        cache
            .secrets
            .subscribe()
            .predicate_filter(predicates::resource_version, Default::default()),
        move |secret| {
            let key = ObjectKey::new(secret.namespace().unwrap_or_default(), secret.name_any());
            targets.invalidate_secret(&key);
            management_context::contexts_using_secret(&context_store, &key)
                .into_iter()
                .flat_map(|c| api_definition::users_of_context(&index3, &c))
                .collect::<Vec<_>>()
        },
    )
    .graceful_shutdown_on(stop.clone().cancelled_owned())
    .run(
        api_definition::reconcile,
        error_policy::<CachedApi>,
        shared.clone(),
    )
    .for_each(|_| futures::future::ready(()));

    // ApiResources: their own changes, plus changes of the APIs that reference them.
    let resource_controller = Controller::for_stream(
        cache.resources.feed.subscribe(),
        cache.resources.store.clone(),
    )
    .with_config(config.clone())
    .reconcile_on(everything(&cache.resources))
    .watches_stream(
        cache
            .apis
            .feed
            .subscribe()
            .predicate_filter(predicates::resource_version, Default::default()),
        |api: CachedApi| {
            api.links()
                .resources
                .into_iter()
                .map(|k| ObjectRef::<ApiResource>::new(&k.name).within(&k.namespace))
                .collect::<Vec<_>>()
        },
    )
    .graceful_shutdown_on(stop.clone().cancelled_owned())
    .run(
        api_resource::reconcile,
        error_policy::<ApiResource>,
        shared.clone(),
    )
    .for_each(|_| futures::future::ready(()));

    // ManagementContexts: their own changes, their Secrets, breaker changes, and (while a context is being
    // deleted) the APIs that still use it.
    let context_store2 = cache.contexts.store.clone();
    let context_store3 = cache.contexts.store.clone();
    let targets2 = shared.targets.clone();
    let context_controller = Controller::for_stream(
        cache.contexts.feed.subscribe(),
        cache.contexts.store.clone(),
    )
    .with_config(config)
    .reconcile_on(everything(&cache.contexts))
    .watches_stream(
        cache
            .secrets
            .subscribe()
            .predicate_filter(predicates::resource_version, Default::default()),
        move |secret| {
            let key = ObjectKey::new(secret.namespace().unwrap_or_default(), secret.name_any());
            targets2.invalidate_secret(&key);
            management_context::contexts_using_secret(&context_store2, &key)
                .into_iter()
                .map(|c| ObjectRef::new(&c.name).within(&c.namespace))
                .collect::<Vec<_>>()
        },
    )
    .watches_stream(
        cache
            .apis
            .feed
            .subscribe()
            .predicate_filter(predicates::resource_version, Default::default()),
        move |api| management_context::deleting_contexts_of(&context_store3, &api),
    )
    .reconcile_on(context_event_stream)
    .graceful_shutdown_on(stop.clone().cancelled_owned())
    .run(
        management_context::reconcile,
        error_policy::<ManagementContext>,
        shared.clone(),
    )
    .for_each(|_| futures::future::ready(()));

    tracing::info!(concurrency, "reconciler started");
    futures::join!(api_controller, resource_controller, context_controller);
    tracing::info!("reconciler stopped");
}
