//! The reference graph: what an object refers to (pure functions).
//!
//! - [`references`]: every object an admitted object names (contexts, resources, Secrets and
//!   ConfigMaps of its templates), read from its JSON tree; the webhook fetches what the cache lacks.
//! - [`ApiLinks`]: the edges of one ApiDefinition that other objects care about (its context, the
//!   context it was last synced to, its ApiResources, its entrypoints); the cluster cache indexes them
//!   so that "who uses this context / resource" and "which entrypoints clash" are lookups, not scans.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::template::{self, Source};
use super::{Doc, Entrypoint, ObjectKey};
use crate::crd::api_definition::VirtualHost;
use crate::crd::common::NamespacedRef;
use crate::crd::{ApiDefinition, ApiV4Definition, Kind};

/// The objects one object refers to, with namespaces resolved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct References {
    pub contexts: BTreeSet<ObjectKey>,
    pub resources: BTreeSet<ObjectKey>,
    pub secrets: BTreeSet<ObjectKey>,
    pub config_maps: BTreeSet<ObjectKey>,
}

fn named_ref(value: Option<&Doc<'_>>, namespace: &str) -> Option<ObjectKey> {
    let r = value?;
    let name = r
        .get("name")
        .and_then(Doc::as_str)
        .filter(|n| !n.is_empty())?;
    let ns = r
        .get("namespace")
        .and_then(Doc::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    Some(ObjectKey::new(ns, name))
}

/// The references of `object` (of `kind`, living in `namespace`).
pub fn references(kind: Kind, object: &Doc<'_>, namespace: &str) -> References {
    let mut refs = References::default();
    let Some(spec) = object.get("spec") else {
        return refs;
    };
    match kind {
        Kind::ApiDefinition | Kind::ApiV4Definition => {
            refs.contexts
                .extend(named_ref(spec.get("contextRef"), namespace));
            for res in spec
                .get("resources")
                .and_then(Doc::as_array)
                .into_iter()
                .flatten()
            {
                refs.resources.extend(named_ref(res.get("ref"), namespace));
            }
        }
        Kind::ManagementContext => {
            let auth = spec.get("auth");
            refs.secrets
                .extend(named_ref(auth.and_then(|a| a.get("secretRef")), namespace));
            let cloud = spec.get("cloud");
            refs.secrets
                .extend(named_ref(cloud.and_then(|c| c.get("secretRef")), namespace));
        }
        Kind::ApiResource => {}
    }
    collect_templates(spec, namespace, &mut refs);
    refs
}

fn collect_templates(value: &Doc<'_>, namespace: &str, refs: &mut References) {
    match value {
        Doc::String(s) if template::is_template(s) => {
            for t in template::parse(s).into_iter().flatten() {
                let key = ObjectKey::new(t.namespace.as_deref().unwrap_or(namespace), t.name);
                match t.source {
                    Source::Secret => refs.secrets.insert(key),
                    Source::ConfigMap => refs.config_maps.insert(key),
                };
            }
        }
        Doc::Array(items) => items
            .iter()
            .for_each(|v| collect_templates(v, namespace, refs)),
        Doc::Object(members) => members
            .iter()
            .map(|(_, v)| v)
            .for_each(|v| collect_templates(v, namespace, refs)),
        _ => {}
    }
}

/// The edges of one ApiDefinition the rest of gko follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiLinks {
    /// `spec.contextRef`, namespace resolved.
    pub context: Option<ObjectKey>,
    /// `status.syncedContext`: where the API was last pushed (it still needs that context to leave it).
    pub synced_context: Option<ObjectKey>,
    /// `spec.resources[].ref`, namespaces resolved.
    pub resources: Vec<ObjectKey>,
    /// Entrypoints (virtual hosts with a path), normalised.
    pub entrypoints: Vec<Entrypoint>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl ApiLinks {
    /// The links of a typed ApiDefinition.
    pub fn of(api: &ApiDefinition) -> ApiLinks {
        let spec = &api.spec;
        ApiLinks::build(
            api.metadata.namespace.as_deref().unwrap_or_default(),
            spec.context_ref.as_ref(),
            spec.resources
                .iter()
                .flatten()
                .filter_map(|r| r.reference.as_ref()),
            spec.proxy
                .iter()
                .flat_map(|p| p.virtual_hosts.iter().flatten()),
        )
        .with_status(
            api.status
                .as_ref()
                .and_then(|s| s.synced_context.as_deref()),
            api.metadata.deletion_timestamp.is_some(),
        )
    }

    /// The links read from the JSON text of an ApiDefinition's `spec` (the cluster cache keeps specs as
    /// text); only the few fields needed are decoded. `None` when the text is not a spec object.
    pub fn of_spec_json(namespace: &str, spec: &str) -> Option<ApiLinks> {
        #[derive(Deserialize)]
        struct Spec {
            #[serde(rename = "contextRef")]
            context_ref: Option<NamespacedRef>,
            resources: Option<Vec<Resource>>,
            proxy: Option<Proxy>,
        }
        #[derive(Deserialize)]
        struct Resource {
            #[serde(rename = "ref")]
            reference: Option<NamespacedRef>,
        }
        #[derive(Deserialize)]
        struct Proxy {
            virtual_hosts: Option<Vec<VirtualHost>>,
        }
        let spec: Spec = serde_json::from_str(spec).ok()?;
        Some(ApiLinks::build(
            namespace,
            spec.context_ref.as_ref(),
            spec.resources
                .iter()
                .flatten()
                .filter_map(|r| r.reference.as_ref()),
            spec.proxy
                .iter()
                .flat_map(|p| p.virtual_hosts.iter().flatten()),
        ))
    }

    /// The links of a typed ApiV4Definition: its context, its ApiResource refs and the paths of its
    /// HTTP listeners (one path space with the v2 APIs' virtual hosts).
    pub fn of_v4(api: &ApiV4Definition) -> ApiLinks {
        let spec = &api.spec;
        ApiLinks::with_entrypoints(
            api.metadata.namespace.as_deref().unwrap_or_default(),
            spec.context_ref.as_ref(),
            spec.resources
                .iter()
                .flatten()
                .filter_map(|r| r.reference.as_ref()),
            super::v4_entrypoints(spec)
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
        )
        .with_status(
            api.status
                .as_ref()
                .and_then(|s| s.synced_context.as_deref()),
            api.metadata.deletion_timestamp.is_some(),
        )
    }

    /// The one place the links of a v2 API are derived, whatever the representation they are read from.
    fn build<'a>(
        namespace: &str,
        context_ref: Option<&NamespacedRef>,
        resource_refs: impl Iterator<Item = &'a NamespacedRef>,
        virtual_hosts: impl Iterator<Item = &'a VirtualHost>,
    ) -> ApiLinks {
        let entrypoints = virtual_hosts
            .filter_map(|vh| {
                vh.path
                    .as_deref()
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| Entrypoint::new(vh.host.as_deref(), p))
            })
            .collect();
        ApiLinks::with_entrypoints(namespace, context_ref, resource_refs, entrypoints)
    }

    fn with_entrypoints<'a>(
        namespace: &str,
        context_ref: Option<&NamespacedRef>,
        resource_refs: impl Iterator<Item = &'a NamespacedRef>,
        entrypoints: Vec<Entrypoint>,
    ) -> ApiLinks {
        let key = |r: &NamespacedRef| {
            (!r.name.is_empty()).then(|| ObjectKey::new(r.namespace_or(namespace), r.name.clone()))
        };
        ApiLinks {
            context: context_ref.and_then(key),
            synced_context: None,
            resources: resource_refs.filter_map(key).collect(),
            entrypoints,
            deleting: false,
        }
    }

    /// Adds what the object's status and metadata say: the context it was last synced to
    /// (`namespace/name`) and whether it is being deleted.
    pub fn with_status(mut self, synced_context: Option<&str>, deleting: bool) -> ApiLinks {
        self.synced_context = synced_context
            .and_then(|s| s.split_once('/'))
            .map(|(ns, name)| ObjectKey::new(ns, name));
        self.deleting = deleting;
        self
    }

    /// True when the API uses `context`, now or as the context it was last synced to.
    pub fn uses_context(&self, context: &ObjectKey) -> bool {
        self.context.as_ref() == Some(context) || self.synced_context.as_ref() == Some(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_definition_references() {
        let api = json!({"spec": {
            "contextRef": {"name": "dev"},
            "resources": [{"ref": {"name": "cache", "namespace": "shared"}}, {"name": "inline"}],
            "plans": [{"security": "[[ secret `tpl/security` ]]"}]
        }});
        let r = references(Kind::ApiDefinition, &Doc::from_value(&api), "team");
        assert_eq!(
            r.contexts.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("team", "dev")]
        );
        assert_eq!(
            r.resources.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("shared", "cache")]
        );
        assert_eq!(
            r.secrets.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("team", "tpl")]
        );
    }

    #[test]
    fn api_links_are_the_same_from_the_typed_object_and_from_the_spec_text() {
        let spec = json!({
            "contextRef": {"name": "dev"},
            "resources": [{"ref": {"name": "cache", "namespace": "shared"}}, {"name": "inline"}, {"ref": {"name": ""}}],
            "proxy": {"virtual_hosts": [{"path": "/orders/"}, {"host": "A.example.com", "path": "/x"}, {"path": " "}]}
        });
        let api: ApiDefinition = serde_json::from_value(json!({
            "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
            "metadata": {"name": "orders", "namespace": "team"}, "spec": spec
        }))
        .unwrap();
        let typed = ApiLinks::of(&api);
        let text = ApiLinks::of_spec_json("team", &spec.to_string()).unwrap();
        assert_eq!(typed, text);
        assert_eq!(typed.context, Some(ObjectKey::new("team", "dev")));
        assert_eq!(typed.resources, vec![ObjectKey::new("shared", "cache")]);
        assert_eq!(
            typed.entrypoints,
            vec![
                Entrypoint::new(None, "/orders"),
                Entrypoint::new(Some("a.example.com"), "/x")
            ]
        );
        assert!(ApiLinks::of_spec_json("team", "[1]").is_none());
    }

    #[test]
    fn synced_context_counts_as_a_use() {
        let links = ApiLinks::default().with_status(Some("apim/old"), false);
        assert!(links.uses_context(&ObjectKey::new("apim", "old")));
        assert!(!links.uses_context(&ObjectKey::new("apim", "new")));
    }

    #[test]
    fn context_secret_reference() {
        let ctx = json!({"spec": {"auth": {"secretRef": {"name": "creds"}}}});
        let r = references(Kind::ManagementContext, &Doc::from_value(&ctx), "apim");
        assert_eq!(
            r.secrets.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("apim", "creds")]
        );
    }

    #[test]
    fn api_v4_links_are_its_context_resources_and_http_listener_paths() {
        let api: ApiV4Definition = serde_json::from_value(json!({
            "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiV4Definition",
            "metadata": {"name": "orders", "namespace": "team"},
            "spec": {
                "contextRef": {"name": "dev"},
                "resources": [{"ref": {"name": "cache", "namespace": "shared"}}, {"name": "inline"}],
                "listeners": [
                    {"type": "HTTP", "paths": [{"path": "/orders/"}, {"host": "A.example.com", "path": "/x"}, {"path": ""}]},
                    {"type": "TCP", "hosts": ["tcp.example.com"]},
                    {"type": "KAFKA", "host": "kafka.local", "port": 9092}
                ]
            }
        }))
        .unwrap();
        let links = ApiLinks::of_v4(&api);
        assert_eq!(links.context, Some(ObjectKey::new("team", "dev")));
        assert_eq!(links.resources, vec![ObjectKey::new("shared", "cache")]);
        assert_eq!(
            links.entrypoints,
            vec![
                Entrypoint::new(None, "/orders"),
                Entrypoint::new(Some("a.example.com"), "/x")
            ]
        );
        let r = references(
            Kind::ApiV4Definition,
            &Doc::from_value(&serde_json::to_value(&api).unwrap()),
            "team",
        );
        assert_eq!(
            r.resources.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("shared", "cache")]
        );
    }
}
