//! The webhook's [`Lookup`] over the cluster cache. When a request refers to something the cache lacks,
//! it is read live before the engine runs, so that `kubectl apply -f dir/` with a context and the APIs that
//! use it is admitted even if the watch has not delivered the context yet. Secret and ConfigMap keys are
//! always read with one direct GET of the object a rule needs (Secret data is never cached).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::ClusterCache;
use crate::admission::lookup::{Lookup, ResolveError, Resolver};
use crate::admission::{DocRequest, Operation};
use crate::crd::{ApiResource, Kind, ManagementContext};
use crate::model::refs::references;
use crate::model::{ApiEntrypoint, Entrypoint, ObjectKey};

impl ClusterCache {
    async fn prefetch(&self, req: &DocRequest<'_>) -> Result<Prefetched, ResolveError> {
        let mut out = Prefetched::default();
        let Some(object) = req.object.filter(|_| req.operation != Operation::Delete) else {
            return Ok(out);
        };
        let refs = references(req.kind, object, req.namespace);
        for key in refs.contexts {
            if self.contexts.get(&key).is_none() {
                let live = get_live::<ManagementContext>(self.client(), &key).await?;
                out.contexts.insert(key, live.map(Arc::new));
            }
        }
        for key in refs.resources {
            if self.resources.get(&key).is_none() {
                let live = get_live::<ApiResource>(self.client(), &key).await?;
                out.resources.insert(key, live.map(Arc::new));
            }
        }
        for key in refs.secrets {
            let live = get_live::<Secret>(self.client(), &key).await?;
            let data = live.map(|s| {
                let data = s.data.unwrap_or_default();
                Data {
                    keys: data.keys().cloned().collect(),
                    values: data
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, String::from_utf8(v.0).ok()?)))
                        .collect(),
                }
            });
            out.secrets.insert(key, data);
        }
        for key in refs.config_maps {
            let live = get_live::<ConfigMap>(self.client(), &key).await?;
            let data = live.map(|c| {
                let values = c.data.unwrap_or_default();
                let mut keys: BTreeSet<String> = values.keys().cloned().collect();
                keys.extend(c.binary_data.unwrap_or_default().into_keys());
                Data { keys, values }
            });
            out.config_maps.insert(key, data);
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
    secrets: HashMap<ObjectKey, Option<Data>>,
    config_maps: HashMap<ObjectKey, Option<Data>>,
}

/// The keys of a Secret or ConfigMap read for one request, and its text values (dropped with the request).
#[derive(Clone)]
struct Data {
    keys: BTreeSet<String>,
    values: BTreeMap<String, String>,
}

fn data_value(
    map: &HashMap<ObjectKey, Option<Data>>,
    namespace: &str,
    name: &str,
    key: &str,
) -> Option<String> {
    map.get(&ObjectKey::new(namespace, name))?
        .as_ref()?
        .values
        .get(key)
        .cloned()
}

/// The cache plus what was read live for this request.
struct Overlay {
    cache: ClusterCache,
    live: Prefetched,
}

fn live<T: Clone>(map: &HashMap<ObjectKey, Option<T>>, namespace: &str, name: &str) -> Option<T> {
    map.get(&ObjectKey::new(namespace, name)).cloned().flatten()
}

impl Lookup for Overlay {
    fn management_context(&self, namespace: &str, name: &str) -> Option<Arc<ManagementContext>> {
        self.cache
            .contexts
            .get(&ObjectKey::new(namespace, name))
            .or_else(|| live(&self.live.contexts, namespace, name))
    }

    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<ApiResource>> {
        self.cache
            .resources
            .get(&ObjectKey::new(namespace, name))
            .or_else(|| live(&self.live.resources, namespace, name))
    }

    fn secret_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        live(&self.live.secrets, namespace, name).map(|d| d.keys)
    }

    fn config_map_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        live(&self.live.config_maps, namespace, name).map(|d| d.keys)
    }

    fn config_map_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        data_value(&self.live.config_maps, namespace, name, key)
    }

    fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        data_value(&self.live.secrets, namespace, name, key)
    }

    fn api_entrypoints(&self, namespace: Option<&str>) -> Cow<'_, [ApiEntrypoint]> {
        let mut all = self.cache.index.entrypoints(namespace);
        all.extend(self.cache.v4_index.entrypoints(namespace));
        Cow::Owned(all)
    }

    fn clashing_entrypoints(
        &self,
        namespace: Option<&str>,
        entrypoint: &Entrypoint,
    ) -> Vec<ApiEntrypoint> {
        let mut found = self.cache.index.clashing(namespace, entrypoint);
        found.extend(self.cache.v4_index.clashing(namespace, entrypoint));
        found
    }

    fn context_users(&self, context: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
        self.cache.api_users(|index| index.context_users(context))
    }

    fn resource_users(&self, resource: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
        self.cache.api_users(|index| index.resource_users(resource))
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
        ClusterCache::is_ready(self)
    }

    fn cache_sizes(&self) -> Vec<(&'static str, usize)> {
        self.sizes()
    }
}
