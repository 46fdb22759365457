//! The one cluster cache: one watch per kind and one store, read by both the webhook's lookups and the
//! reconciler's controllers.
//!
//! - [`watch`]: the watches (namespace scope, relists), the [`watch::Feed`] of touched objects the
//!   controllers subscribe to while this replica leads.
//! - [`cached`]: ApiDefinitions are stored slimmed, their spec as compact JSON text; ApiV4Definitions
//!   (far fewer per cluster) typed, spec dropped on a replica that does not reconcile.
//! - [`index`]: who uses a context or resource, entrypoints by host and path, updated on each event;
//!   one index per API kind, asked together (v2 and v4 APIs share one path space).
//! - [`lookup`]: the webhook's [`crate::admission::Lookup`] over the cache, with live reads on a miss.
//!
//! Every object is slimmed before it is stored: no `managedFields`, no kubectl
//! `last-applied-configuration`; a replica that does not reconcile keeps no ApiDefinition spec at all.

pub mod cached;
pub mod index;
pub mod lookup;
pub mod watch;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use tokio_util::sync::CancellationToken;

pub use cached::CachedApi;
pub use index::ApiIndex;

use crate::crd::{ApiResource, ApiV4Definition, Kind, ManagementContext};
use crate::model::ObjectKey;
use watch::{Feed, NoIndex, Observer, Ready};

/// Which namespaces gko watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    AllNamespaces,
    Namespaces(Vec<String>),
}

impl Scope {
    /// One `Api` per watched namespace (one for all namespaces), with the namespace it covers.
    pub fn apis<K>(&self, client: &Client) -> Vec<(Option<String>, Api<K>)>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::AllNamespaces => vec![(None, Api::all(client.clone()))],
            Scope::Namespaces(list) => list
                .iter()
                .map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns)))
                .collect(),
        }
    }

    pub fn from_list(list: &[String]) -> Scope {
        let list: Vec<String> = list.iter().filter(|s| !s.is_empty()).cloned().collect();
        if list.is_empty() {
            Scope::AllNamespaces
        } else {
            Scope::Namespaces(list)
        }
    }
}

/// One watched kind: its store, whether it has listed, and the feed of touched objects.
pub struct Watched<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    pub store: Store<K>,
    pub ready: Ready,
    pub feed: Feed<K>,
}

impl<K: Resource + 'static> Clone for Watched<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn clone(&self) -> Self {
        Watched {
            store: self.store.clone(),
            ready: self.ready.clone(),
            feed: self.feed.clone(),
        }
    }
}

impl<K> Watched<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.store
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn watched<K>(
    client: &Client,
    scope: &Scope,
    observer: Arc<dyn Observer<K>>,
    stop: &CancellationToken,
) -> Watched<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, ready, touched) = watch::reflect::<K>(client, scope, observer);
    let feed = Feed::default();
    feed.pump(touched, stop.clone());
    Watched { store, ready, feed }
}

/// What the cache watches.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub scope: Scope,
    /// Keep ApiDefinitions whole and watch Secrets (the reconciler needs them); a webhook-only replica
    /// keeps only the index (and each API's name, for the store's count).
    pub reconcile: bool,
}

/// Indexes ApiDefinitions as they are watched, and drops their spec when it is not needed.
struct ApiObserver {
    index: Arc<ApiIndex>,
    keep_specs: bool,
}

impl Observer<CachedApi> for ApiObserver {
    fn begin_relist(&self, namespace: Option<&str>) {
        self.index.begin_relist(namespace);
    }

    fn applied(&self, api: &mut CachedApi) {
        self.index.apply(api.key(), api.links());
        if !self.keep_specs {
            // Nothing reads a stored ApiDefinition on a replica that does not reconcile: keep its identity.
            let meta = std::mem::take(&mut api.metadata);
            api.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: meta.name,
                namespace: meta.namespace,
                uid: meta.uid,
                resource_version: meta.resource_version,
                ..Default::default()
            };
            api.spec = None;
            api.status = None;
        }
    }

    fn deleted(&self, api: &CachedApi) {
        self.index.delete(&api.key());
    }

    fn end_relist(&self, namespace: Option<&str>) {
        self.index.end_relist(namespace);
    }
}

/// Indexes ApiV4Definitions as they are watched, and drops their spec when it is not needed.
struct ApiV4Observer {
    index: Arc<ApiIndex>,
    keep_specs: bool,
}

impl Observer<ApiV4Definition> for ApiV4Observer {
    fn begin_relist(&self, namespace: Option<&str>) {
        self.index.begin_relist(namespace);
    }

    fn applied(&self, api: &mut ApiV4Definition) {
        self.index.apply(
            ObjectKey::new(
                api.metadata.namespace.clone().unwrap_or_default(),
                api.metadata.name.clone().unwrap_or_default(),
            ),
            crate::model::ApiLinks::of_v4(api),
        );
        if !self.keep_specs {
            api.spec = Default::default();
            api.status = None;
        }
    }

    fn deleted(&self, api: &ApiV4Definition) {
        self.index.delete(&ObjectKey::new(
            api.metadata.namespace.clone().unwrap_or_default(),
            api.metadata.name.clone().unwrap_or_default(),
        ));
    }

    fn end_relist(&self, namespace: Option<&str>) {
        self.index.end_relist(namespace);
    }
}

/// The cluster cache; clones share everything.
#[derive(Clone)]
pub struct ClusterCache {
    client: Client,
    pub contexts: Watched<ManagementContext>,
    pub resources: Watched<ApiResource>,
    pub apis: Watched<CachedApi>,
    /// ApiV4Definitions; `v4_apis.feed` is what the v4 controller subscribes to.
    pub v4_apis: Watched<ApiV4Definition>,
    /// Secrets touched (metadata only, nothing stored); fed only when the cache serves a reconciler.
    pub secrets: Feed<PartialObjectMeta<Secret>>,
    /// The ApiDefinition index.
    pub index: Arc<ApiIndex>,
    /// The ApiV4Definition index.
    pub v4_index: Arc<ApiIndex>,
}

impl ClusterCache {
    /// Starts the watches (in the background, until `stop`) and returns at once; [`ClusterCache::is_ready`]
    /// turns true when every kind has listed its objects.
    pub fn start(client: Client, options: &Options, stop: &CancellationToken) -> ClusterCache {
        let scope = &options.scope;
        let index = Arc::new(ApiIndex::default());
        let observer = Arc::new(ApiObserver {
            index: index.clone(),
            keep_specs: options.reconcile,
        });
        let v4_index = Arc::new(ApiIndex::new(Kind::ApiV4Definition));
        let v4_observer = Arc::new(ApiV4Observer {
            index: v4_index.clone(),
            keep_specs: options.reconcile,
        });
        let secrets = Feed::default();
        if options.reconcile {
            secrets.pump(watch::touched_secrets(&client, scope), stop.clone());
        }
        let cache = ClusterCache {
            contexts: watched(&client, scope, Arc::new(NoIndex), stop),
            resources: watched(&client, scope, Arc::new(NoIndex), stop),
            apis: watched(&client, scope, observer, stop),
            v4_apis: watched(&client, scope, v4_observer, stop),
            secrets,
            index,
            v4_index,
            client,
        };
        // Once listed, hand back to the OS what parsing the lists took and freed.
        let listed = cache.clone();
        tokio::spawn(async move {
            listed.contexts.ready.wait().await;
            listed.resources.ready.wait().await;
            listed.apis.ready.wait().await;
            listed.v4_apis.ready.wait().await;
            tracing::info!(
                apis = listed.apis.len(),
                v4_apis = listed.v4_apis.len(),
                "caches synced"
            );
            crate::release_unused_memory();
        });
        cache
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every kind has listed its objects.
    pub fn is_ready(&self) -> bool {
        self.contexts.ready.is_ready()
            && self.resources.ready.is_ready()
            && self.apis.ready.is_ready()
            && self.v4_apis.ready.is_ready()
    }

    /// What `query` answers on the v2 index and on the v4 index, each key with its kind.
    pub fn api_users(&self, query: impl Fn(&ApiIndex) -> Vec<ObjectKey>) -> Vec<(Kind, ObjectKey)> {
        [&self.index, &self.v4_index]
            .into_iter()
            .flat_map(|index| {
                let kind = index.kind();
                query(index).into_iter().map(move |key| (kind, key))
            })
            .collect()
    }

    /// Objects held per kind.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("ManagementContext", self.contexts.len()),
            ("ApiResource", self.resources.len()),
            ("ApiDefinition", self.apis.len()),
            ("ApiV4Definition", self.v4_apis.len()),
        ]
    }
}
