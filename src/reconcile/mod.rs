//! The reconciler: kube-runtime controllers that push admitted objects to the APIM Management API and write
//! their status.
//!
//! - [`api_definition`]: finalizer, references resolved (context + Secret, ApiResources, templates), payload
//!   pushed only when its hash changed, ownership checks between clusters, promotion between contexts, drift
//!   checks, local ConfigMaps.
//! - [`api_v4_definition`]: the same for v4 APIs, through the Automation API (HRID or legacy UUID mode) or
//!   `_import/crd` on older 4.x.
//! - [`api_resource`]: status, re-sync of the APIs using a resource (watch mapping), deletion waits while used.
//! - [`management_context`]: probes, `Ready` condition, per-context circuit breaker, deletion waits while used.
//! - [`leader`]: Lease election (one replica reconciles, all serve the webhook).
//! - [`dry_run`]: optional APIM dry-run import from the validating webhook.
//!
//! Errors are classified once ([`status::classify`]); no secret value reaches status, events or logs.

pub mod api_definition;
pub mod api_resource;
pub mod api_v4_definition;
pub mod breaker;
pub mod context;
pub mod decide;
pub mod dry_run;
pub mod ids;
pub mod leader;
pub mod management_context;
pub mod memory;
pub mod payload;
pub mod shared;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{predicates, Predicate, WatchStreamExt};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::apim::{ApimClient, ApimError, ClientOptions};
use crate::cluster::{CachedApi, ClusterCache, Scope};
use crate::crd::{ApiResource, ManagementContext};
use crate::model::ObjectKey;
use crate::telemetry::Metrics;

pub use breaker::{BreakerConfig, Breakers};
pub use leader::LeaseSettings;
use shared::error_policy;
pub use shared::{ensure_finalizer, finalized, Shared};

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
            cache.v4_apis.ready.wait().await;
        } => {}
    }
    let (context_events, context_event_stream) = mpsc::unbounded();
    let reporter = Reporter {
        controller: "gko".into(),
        instance: Some(settings.instance.clone()),
    };
    let recorder = Recorder::new(client.clone(), reporter.clone());
    let concurrency = settings.concurrency.max(1);
    let memory = memory::ObjectMemory::new(
        settings.retry_base,
        settings.retry_cap,
        settings.drift_interval,
    );
    let shared = Arc::new(Shared {
        client: client.clone(),
        apim,
        breakers: Breakers::new(settings.breaker.clone()),
        settings,
        cluster_id,
        recorder,
        reporter,
        metrics,
        cache: cache.clone(),
        targets: context::TargetCache::default(),
        memory,
        event_slots: Arc::new(tokio::sync::Semaphore::new(4)),
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

    let v4_controller = v4_controller(&cache, config.clone(), shared.clone(), stop.clone());

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
    futures::join!(
        api_controller,
        v4_controller,
        resource_controller,
        context_controller
    );
    tracing::info!("reconciler stopped");
}

/// ApiV4Definitions: their own changes, plus the resources, contexts and Secrets they use (the same
/// triggers as ApiDefinitions, through the cache's v4 feed and index).
fn v4_controller(
    cache: &ClusterCache,
    config: ControllerConfig,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> {
    let index = cache.v4_index.clone();
    let index2 = cache.v4_index.clone();
    let index3 = cache.v4_index.clone();
    let context_store = cache.contexts.store.clone();
    let targets = shared.targets.clone();
    Controller::for_stream(
        cache.v4_apis.feed.subscribe().predicate_filter(
            predicates::generation.combine(predicates::annotations),
            Default::default(),
        ),
        cache.v4_apis.store.clone(),
    )
    .with_config(config)
    .reconcile_on(everything(&cache.v4_apis))
    .watches_stream(
        cache
            .resources
            .feed
            .subscribe()
            .predicate_filter(predicates::generation, Default::default()),
        move |resource| api_v4_definition::users_of_resource(&index, &resource),
    )
    .watches_stream(
        cache
            .contexts
            .feed
            .subscribe()
            .predicate_filter(predicates::generation, Default::default()),
        move |context| api_v4_definition::users_of_context(&index2, &context::key_of(&context)),
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
                .flat_map(|c| api_v4_definition::users_of_context(&index3, &c))
                .collect::<Vec<_>>()
        },
    )
    .graceful_shutdown_on(stop.cancelled_owned())
    .run(
        api_v4_definition::reconcile,
        error_policy::<crate::crd::ApiV4Definition>,
        shared,
    )
    .for_each(|_| futures::future::ready(()))
}
