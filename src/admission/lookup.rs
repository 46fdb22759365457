//! The engine's port for references: one trait to read what rules refer to, one to prepare it for a
//! request.
//!
//! The engine never fetches anything itself: it reads ManagementContexts, ApiResources, Secret keys,
//! entrypoints and referrers through [`Lookup`]. `manifests::ManifestSet` implements it over a set
//! of manifests (`gko validate`); `cluster::ClusterCache` (layers above) over the one cluster cache.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::admission::api_definition::entrypoints_of;
use crate::admission::DocRequest;
use crate::crd::{ApiDefinition, ApiResource, ApiV4Definition, Kind, ManagementContext};
use crate::model::{v4_entrypoints, ApiEntrypoint, Entrypoint, ObjectKey};

/// Read-only access to the objects the rules refer to.
pub trait Lookup: Send + Sync {
    fn management_context(&self, namespace: &str, name: &str) -> Option<Arc<ManagementContext>>;
    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<ApiResource>>;
    /// The data keys of a Secret (never its values); `None` when there is no such Secret.
    fn secret_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>>;
    /// The data keys of a ConfigMap; `None` when there is no such ConfigMap.
    fn config_map_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>>;
    /// The text value of a ConfigMap key; `None` when unknown (templates are then checked unresolved).
    fn config_map_value(&self, namespace: &str, name: &str, key: &str) -> Option<String>;
    /// The text value of a Secret key; `None` when unknown. Only the webhook's live read of the Secret a
    /// request names knows it, for that request; `gko validate` never keeps Secret values.
    fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<String>;
    /// The entrypoints of the APIs (ApiDefinitions and ApiV4Definitions) of one namespace (every
    /// namespace with `None`) that are not being deleted.
    fn api_entrypoints(&self, namespace: Option<&str>) -> Cow<'_, [ApiEntrypoint]>;

    /// The entrypoints of other APIs (v2 and v4) in `namespace` (every namespace with `None`) that clash
    /// with `entrypoint` (APIM's rule: same host, one path equal to or a whole-segment prefix of the
    /// other), objects being deleted excluded. An indexed lookup answers without a scan.
    fn clashing_entrypoints(
        &self,
        namespace: Option<&str>,
        entrypoint: &Entrypoint,
    ) -> Vec<ApiEntrypoint> {
        self.api_entrypoints(namespace)
            .iter()
            .filter(|o| entrypoint.clashes_with(&o.entrypoint))
            .cloned()
            .collect()
    }

    /// The APIs, v2 and v4, with their kind (every namespace, deleting ones included) whose
    /// `spec.contextRef` is `context`.
    fn context_users(&self, context: &ObjectKey) -> Vec<(Kind, ObjectKey)>;

    /// The APIs, v2 and v4, with their kind (every namespace, deleting ones included) with a
    /// `spec.resources[].ref` to `resource`.
    fn resource_users(&self, resource: &ObjectKey) -> Vec<(Kind, ObjectKey)>;
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
                    kind: Kind::ApiDefinition,
                    api: key.clone(),
                    entrypoint,
                })
        })
        .collect()
}

/// The entrypoints (HTTP listener paths) of v4 `apis` that are not being deleted, in order.
pub fn api_v4_entrypoints_of(apis: &[Arc<ApiV4Definition>]) -> Vec<ApiEntrypoint> {
    apis.iter()
        .filter(|api| api.metadata.deletion_timestamp.is_none())
        .flat_map(|api| {
            let key = ObjectKey::new(
                api.metadata.namespace.clone().unwrap_or_default(),
                api.metadata.name.clone().unwrap_or_default(),
            );
            v4_entrypoints(&api.spec)
                .into_iter()
                .map(move |(_, entrypoint)| ApiEntrypoint {
                    kind: Kind::ApiV4Definition,
                    api: key.clone(),
                    entrypoint,
                })
        })
        .collect()
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
    fn config_map_value(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }
    fn secret_value(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }
    fn api_entrypoints(&self, _: Option<&str>) -> Cow<'_, [ApiEntrypoint]> {
        Cow::Borrowed(&[])
    }
    fn context_users(&self, _: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
        Vec::new()
    }
    fn resource_users(&self, _: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
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
    /// Objects held per kind, for metrics (empty without a cache).
    fn cache_sizes(&self) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
}

/// A resolver over a fixed set of objects (tests, and `gko serve --manifests` without a cluster).
pub struct StaticResolver(pub Arc<dyn Lookup>);

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
