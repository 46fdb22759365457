//! How the cache keeps an ApiDefinition: slimmed metadata, and the `spec` and `status` as their compact
//! JSON text (not typed trees: a typed spec or status costs several times its text in small allocations).
//! The reconciler decodes the spec when it reconciles the object; the webhook never needs it (it reads
//! the index).

use std::borrow::Cow;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::crd::{ApiDefinition, ApiDefinitionStatus};
use crate::model::{ApiLinks, ObjectKey};

/// An ApiDefinition as the cluster cache holds it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct CachedApi {
    #[serde(deserialize_with = "slim_metadata")]
    pub metadata: ObjectMeta,
    /// The spec's JSON text as the API server sent it; `None` on a replica that does not reconcile
    /// (the index holds all the webhook needs) or when the object has no spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<RawValue>>,
    /// The status's JSON text, decoded when needed (`None` on a replica that does not reconcile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<RawValue>>,
}

/// Reads `metadata` without ever building `managedFields` (skipped while parsing: as large as the spec, a tree
/// of small allocations that would only be dropped, leaving the heap fragmented around what is kept) nor
/// kubectl's `last-applied-configuration` annotation.
fn slim_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        annotations: Option<BTreeMap<String, String>>,
        creation_timestamp: Option<Time>,
        deletion_grace_period_seconds: Option<i64>,
        deletion_timestamp: Option<Time>,
        finalizers: Option<Vec<String>>,
        generate_name: Option<String>,
        generation: Option<i64>,
        labels: Option<BTreeMap<String, String>>,
        name: Option<String>,
        namespace: Option<String>,
        owner_references: Option<Vec<OwnerReference>>,
        resource_version: Option<String>,
        uid: Option<String>,
    }
    let m = Meta::deserialize(deserializer)?;
    let annotations = m
        .annotations
        .map(|mut a| {
            a.remove(LAST_APPLIED);
            a
        })
        .filter(|a| !a.is_empty());
    Ok(ObjectMeta {
        annotations,
        creation_timestamp: m.creation_timestamp,
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        deletion_timestamp: m.deletion_timestamp,
        finalizers: m.finalizers,
        generate_name: m.generate_name,
        generation: m.generation,
        labels: m.labels,
        managed_fields: None,
        name: m.name,
        namespace: m.namespace,
        owner_references: m.owner_references,
        resource_version: m.resource_version,
        self_link: None,
        uid: m.uid,
    })
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

impl CachedApi {
    /// The typed object, for a reconcile. Fails only if the stored spec does not decode as an
    /// ApiDefinition spec, which affects this object alone (a typed watch would fail the whole list).
    pub fn decode(&self) -> Result<ApiDefinition, serde_json::Error> {
        let spec = match &self.spec {
            Some(raw) => serde_json::from_str(raw.get())?,
            None => Default::default(),
        };
        let mut api = ApiDefinition::new(self.metadata.name.as_deref().unwrap_or_default(), spec);
        api.metadata = self.metadata.clone();
        api.status = self.typed_status()?;
        Ok(api)
    }

    /// The status, typed.
    pub fn typed_status(&self) -> Result<Option<ApiDefinitionStatus>, serde_json::Error> {
        self.status
            .as_deref()
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
    }

    /// `status.syncedContext`, read from the status text without decoding the rest.
    fn synced_context(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Synced {
            #[serde(rename = "syncedContext")]
            synced_context: Option<String>,
        }
        let raw = self.status.as_deref()?;
        serde_json::from_str::<Synced>(raw.get())
            .ok()?
            .synced_context
    }

    /// `namespace/name`.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(
            self.metadata.namespace.clone().unwrap_or_default(),
            self.metadata.name.clone().unwrap_or_default(),
        )
    }

    /// What the object links to, read from its spec text, status and metadata.
    pub fn links(&self) -> ApiLinks {
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        ApiLinks::of_spec_json(namespace, self.spec_json())
            .unwrap_or_default()
            .with_status(
                self.synced_context().as_deref(),
                self.metadata.deletion_timestamp.is_some(),
            )
    }

    /// The spec's JSON text (`{}` when there is none).
    pub fn spec_json(&self) -> &str {
        self.spec.as_deref().map_or("{}", RawValue::get)
    }
}

impl Resource for CachedApi {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        ApiDefinition::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        ApiDefinition::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        ApiDefinition::version(dt)
    }
    fn api_version(dt: &()) -> Cow<'_, str> {
        ApiDefinition::api_version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        ApiDefinition::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_to_the_same_object_as_a_typed_read() {
        let object = json!({
            "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
            "metadata": {"name": "orders", "namespace": "team", "generation": 2},
            "spec": {"name": "Orders", "version": "1", "contextRef": {"name": "dev"},
                     "plans": [{"name": "free", "security": "KEY_LESS"}],
                     "proxy": {"virtual_hosts": [{"path": "/orders"}]}},
            "status": {"id": "abc", "syncedContext": "team/dev"}
        });
        let text = object.to_string();
        let cached: CachedApi = serde_json::from_str(&text).unwrap();
        let typed: ApiDefinition = serde_json::from_str(&text).unwrap();
        let decoded = cached.decode().unwrap();
        assert_eq!(decoded.spec, typed.spec);
        assert_eq!(decoded.metadata, typed.metadata);
        assert_eq!(decoded.status, typed.status);
        assert!(!cached.spec_json().contains(' '), "kept as compact text");
        assert_eq!(cached.synced_context().as_deref(), Some("team/dev"));
    }

    #[test]
    fn managed_fields_and_last_applied_are_never_kept() {
        let cached: CachedApi = serde_json::from_value(json!({
            "metadata": {
                "name": "x", "namespace": "n", "uid": "u", "generation": 3,
                "labels": {"team": "a"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "finalizers": ["gravitee.io/gko-finalizer"],
                "managedFields": [{"manager": "argocd", "operation": "Apply",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:name": {}}}}],
                "selfLink": "/x"
            },
            "spec": {"name": "X"}
        }))
        .unwrap();
        let meta = &cached.metadata;
        assert!(meta.managed_fields.is_none());
        assert!(
            meta.annotations.is_none(),
            "the only annotation was last-applied"
        );
        assert_eq!(meta.generation, Some(3));
        assert_eq!(meta.uid.as_deref(), Some("u"));
        assert_eq!(meta.labels.as_ref().map(|l| l.len()), Some(1));
        assert_eq!(meta.finalizers.as_ref().map(|f| f.len()), Some(1));
    }

    #[test]
    fn a_missing_spec_is_an_empty_one() {
        let cached: CachedApi =
            serde_json::from_value(json!({"metadata": {"name": "x", "namespace": "n"}})).unwrap();
        assert_eq!(cached.spec_json(), "{}");
        assert_eq!(cached.decode().unwrap().spec, Default::default());
    }
}
