//! [`Lookup`] over the live cluster: kube-runtime reflectors keep ManagementContexts,
//! ApiResources and ApiDefinitions in memory, and Secrets as metadata only (their data is never
//! cached). When a request refers to something the cache lacks, it is read live before the engine
//! runs, so that `kubectl apply -f dir/` with a context and the APIs that use it is admitted even
//! if the watch has not delivered the context yet. Secret and ConfigMap keys are always read with
//! one direct GET of the object a rule needs.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::refs::references;
use super::{Lookup, ObjectKey, ResolveError, Resolver};
use crate::admission::{DocRequest, Operation};
use crate::crd::{ApiDefinition, ApiResource, ManagementContext};

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

/// Reflector stores of one kind, one per watched namespace (or one for all namespaces).
#[derive(Clone)]
pub struct Stores<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    stores: Vec<Store<K>>,
}

impl<K> Stores<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let key = ObjectRef::new(name).within(namespace);
        self.stores.iter().find_map(|s| s.get(&key))
    }

    pub fn list(&self, namespace: Option<&str>) -> Vec<Arc<K>> {
        self.stores
            .iter()
            .flat_map(|s| match namespace {
                None => s.state(),
                Some(ns) => s.state_filter(|o| o.meta().namespace.as_deref() == Some(ns)),
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.stores.iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn wait_until_ready(&self) -> bool {
        for s in &self.stores {
            if s.wait_until_ready().await.is_err() {
                return false;
            }
        }
        true
    }
}

fn spawn_reflectors<K>(client: &Client, scope: &Scope) -> Stores<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    let mut stores = Vec::new();
    for (_, api) in scope.apis::<K>(client) {
        let (reader, writer) = reflector::store();
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .touched_objects();
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    tracing::warn!(kind = %K::kind(&Default::default()), error = %e, "watch error, retrying");
                }
            }
        });
        stores.push(reader);
    }
    Stores { stores }
}

/// The cluster cache: reflectors for the three kinds and Secret metadata.
#[derive(Clone)]
pub struct ClusterCache {
    client: Client,
    pub contexts: Stores<ManagementContext>,
    pub resources: Stores<ApiResource>,
    pub apis: Stores<ApiDefinition>,
    pub secrets: Stores<PartialObjectMeta<Secret>>,
    ready: Arc<AtomicBool>,
}

/// Number of objects in each cache, for metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheSizes {
    pub contexts: usize,
    pub resources: usize,
    pub apis: usize,
    pub secrets: usize,
}

impl ClusterCache {
    /// Starts the watches (in the background) and returns at once; [`Resolver::is_ready`] turns
    /// true when every cache has listed its objects.
    pub fn start(client: Client, scope: &Scope) -> ClusterCache {
        let cache = ClusterCache {
            contexts: spawn_reflectors(&client, scope),
            resources: spawn_reflectors(&client, scope),
            apis: spawn_reflectors(&client, scope),
            // `Api<PartialObjectMeta<Secret>>` watches metadata only: Secret data never enters the cache.
            secrets: spawn_reflectors::<PartialObjectMeta<Secret>>(&client, scope),
            client,
            ready: Arc::new(AtomicBool::new(false)),
        };
        let waiting = cache.clone();
        tokio::spawn(async move {
            let ok = waiting.contexts.wait_until_ready().await
                && waiting.resources.wait_until_ready().await
                && waiting.apis.wait_until_ready().await
                && waiting.secrets.wait_until_ready().await;
            if ok {
                tracing::info!("caches synced");
                waiting.ready.store(true, Ordering::SeqCst);
            }
        });
        cache
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn sizes(&self) -> CacheSizes {
        CacheSizes {
            contexts: self.contexts.len(),
            resources: self.resources.len(),
            apis: self.apis.len(),
            secrets: self.secrets.len(),
        }
    }

    async fn prefetch(&self, req: &DocRequest<'_>) -> Result<Prefetched, ResolveError> {
        let mut out = Prefetched::default();
        let Some(object) = req.object.filter(|_| req.operation != Operation::Delete) else {
            return Ok(out);
        };
        let refs = references(req.kind, object, req.namespace);
        for key in refs.contexts {
            if self.contexts.get(&key.namespace, &key.name).is_none() {
                let live = get_live::<ManagementContext>(&self.client, &key).await?;
                out.contexts.insert(key, live.map(Arc::new));
            }
        }
        for key in refs.resources {
            if self.resources.get(&key.namespace, &key.name).is_none() {
                let live = get_live::<ApiResource>(&self.client, &key).await?;
                out.resources.insert(key, live.map(Arc::new));
            }
        }
        for key in refs.secrets {
            let live = get_live::<Secret>(&self.client, &key).await?;
            let keys = live.map(|s| s.data.unwrap_or_default().into_keys().collect());
            out.secrets.insert(key, keys);
        }
        for key in refs.config_maps {
            let live = get_live::<ConfigMap>(&self.client, &key).await?;
            let keys = live.map(|c| {
                let mut keys: BTreeSet<String> = c.data.unwrap_or_default().into_keys().collect();
                keys.extend(c.binary_data.unwrap_or_default().into_keys());
                keys
            });
            out.config_maps.insert(key, keys);
        }
        Ok(out)
    }
}

async fn get_live<K>(client: &Client, key: &ObjectKey) -> Result<Option<K>, ResolveError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), &key.namespace);
    api.get_opt(&key.name)
        .await
        .map_err(|e| ResolveError::Read {
            what: format!("{} {key}", K::kind(&Default::default())),
            message: e.to_string(),
        })
}

/// What was read live for one request.
#[derive(Default)]
struct Prefetched {
    contexts: HashMap<ObjectKey, Option<Arc<ManagementContext>>>,
    resources: HashMap<ObjectKey, Option<Arc<ApiResource>>>,
    secrets: HashMap<ObjectKey, Option<BTreeSet<String>>>,
    config_maps: HashMap<ObjectKey, Option<BTreeSet<String>>>,
}

/// The cache plus what was read live for this request.
struct Overlay {
    cache: ClusterCache,
    live: Prefetched,
}

impl Lookup for Overlay {
    fn management_context(&self, namespace: &str, name: &str) -> Option<Arc<ManagementContext>> {
        self.cache.contexts.get(namespace, name).or_else(|| {
            self.live
                .contexts
                .get(&ObjectKey::new(namespace, name))
                .cloned()
                .flatten()
        })
    }

    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<ApiResource>> {
        self.cache.resources.get(namespace, name).or_else(|| {
            self.live
                .resources
                .get(&ObjectKey::new(namespace, name))
                .cloned()
                .flatten()
        })
    }

    fn secret_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        self.live
            .secrets
            .get(&ObjectKey::new(namespace, name))
            .cloned()
            .flatten()
    }

    fn config_map_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        self.live
            .config_maps
            .get(&ObjectKey::new(namespace, name))
            .cloned()
            .flatten()
    }

    fn api_definitions(&self, namespace: Option<&str>) -> Vec<Arc<ApiDefinition>> {
        self.cache.apis.list(namespace)
    }
}

impl Resolver for ClusterCache {
    fn resolve<'a>(
        &'a self,
        req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>> {
        Box::pin(async move {
            let live = self.prefetch(req).await?;
            Ok(Arc::new(Overlay {
                cache: self.clone(),
                live,
            }) as Arc<dyn Lookup>)
        })
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn cache_sizes(&self) -> Option<CacheSizes> {
        Some(self.sizes())
    }
}
