//! What an object refers to, read from its raw JSON (a pure function). The cluster resolver uses
//! it to fetch what its cache lacks before the engine runs; the reconciler uses it to map changes
//! of a context or resource to the APIs that use them.

use std::collections::BTreeSet;

use super::ObjectKey;
use crate::admission::templating::{self, Source};
use crate::admission::Doc;
use crate::crd::Kind;

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
        Kind::ApiDefinition => {
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
        Doc::String(s) if templating::is_template(s) => {
            for t in templating::parse(s).into_iter().flatten() {
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
    fn context_secret_reference() {
        let ctx = json!({"spec": {"auth": {"secretRef": {"name": "creds"}}}});
        let r = references(Kind::ManagementContext, &Doc::from_value(&ctx), "apim");
        assert_eq!(
            r.secrets.into_iter().collect::<Vec<_>>(),
            vec![ObjectKey::new("apim", "creds")]
        );
    }
}
