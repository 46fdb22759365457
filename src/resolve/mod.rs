//! Reference lookups for the validation engine, behind one trait.
//!
//! The engine never fetches anything itself: it reads ManagementContexts, ApiResources, Secret keys
//! and the ApiDefinitions of a namespace through [`Lookup`]. [`files::ManifestSet`] implements it over
//! a set of manifests (for `gko validate`); `cluster` implements it over the live cluster cache.

pub mod cluster;
pub mod files;
pub mod refs;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::admission::api_definition::{entrypoints_of, Entrypoint};
use crate::admission::DocRequest;
use crate::crd::{ApiDefinition, ApiResource, ManagementContext};

/// Read-only access to the objects the rules refer to.
pub trait Lookup: Send + Sync {
    fn management_context(&self, namespace: &str, name: &str) -> Option<Arc<ManagementContext>>;
    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<ApiResource>>;
    /// The data keys of a Secret (never its values); `None` when there is no such Secret.
    fn secret_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>>;
    /// The data keys of a ConfigMap; `None` when there is no such ConfigMap.
    fn config_map_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>>;
    /// The ApiDefinitions of one namespace, or of every namespace with `None`.
    fn api_definitions(&self, namespace: Option<&str>) -> Vec<Arc<ApiDefinition>>;

    /// The entrypoints of the ApiDefinitions of one namespace (every namespace with `None`) that
    /// are not being deleted, for the context-path clash check. A lookup that serves many checks
    /// against the same objects (`gko validate`) precomputes them.
    fn api_entrypoints(&self, namespace: Option<&str>) -> Cow<'_, [ApiEntrypoint]> {
        Cow::Owned(api_entrypoints_of(&self.api_definitions(namespace)))
    }
}

/// One entrypoint of an ApiDefinition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEntrypoint {
    pub api: ObjectKey,
    pub entrypoint: Entrypoint,
}

/// The entrypoints of `apis` that are not being deleted, in order.
pub fn api_entrypoints_of(apis: &[Arc<ApiDefinition>]) -> Vec<ApiEntrypoint> {
    apis.iter()
        .filter(|api| api.metadata.deletion_timestamp.is_none())
        .flat_map(|api| {
            let key = ObjectKey::new(
                api.metadata.namespace.clone().unwrap_or_default(),
                api.metadata.name.clone().unwrap_or_default(),
            );
            entrypoints_of(&api.spec)
                .into_iter()
                .map(move |entrypoint| ApiEntrypoint {
                    api: key.clone(),
                    entrypoint,
                })
        })
        .collect()
}

/// `namespace/name` of an object, the key every lookup uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A lookup with nothing in it: every reference is missing.
#[derive(Default)]
pub struct Empty;

impl Lookup for Empty {
    fn management_context(&self, _: &str, _: &str) -> Option<Arc<ManagementContext>> {
        None
    }
    fn api_resource(&self, _: &str, _: &str) -> Option<Arc<ApiResource>> {
        None
    }
    fn secret_keys(&self, _: &str, _: &str) -> Option<BTreeSet<String>> {
        None
    }
    fn config_map_keys(&self, _: &str, _: &str) -> Option<BTreeSet<String>> {
        None
    }
    fn api_definitions(&self, _: Option<&str>) -> Vec<Arc<ApiDefinition>> {
        Vec::new()
    }
}

/// A reference could not be read (the API server failed, not "not found").
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("could not read {what}: {message}")]
    Read { what: String, message: String },
}

/// Gives the engine a [`Lookup`] for one admission request, fetching first whatever the request
/// needs and a cache lacks. The webhook server holds one.
pub trait Resolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>>;
    /// True once the caches have synced (the webhook is not ready before).
    fn is_ready(&self) -> bool;
    /// Sizes of the caches, for metrics, when there are caches.
    fn cache_sizes(&self) -> Option<cluster::CacheSizes> {
        None
    }
}

/// A resolver over a fixed set of objects (tests, and `gko serve --manifests` without a cluster).
pub struct StaticResolver(pub Arc<files::ManifestSet>);

impl Resolver for StaticResolver {
    fn resolve<'a>(
        &'a self,
        _req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>> {
        let set: Arc<dyn Lookup> = self.0.clone();
        Box::pin(async move { Ok(set) })
    }

    fn is_ready(&self) -> bool {
        true
    }
}
