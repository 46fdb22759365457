//! Rules on `spec.resources`: references resolve, inline resources are complete, names are unique.

use std::collections::HashMap;

use super::blank;
use crate::admission::api_resource::{is_known_type, unknown_type_message};
use crate::admission::rules::{
    API_RESOURCE_CONFIGURATION_MISSING, API_RESOURCE_NAME_DUPLICATE, API_RESOURCE_NAME_MISSING,
    API_RESOURCE_NOT_FOUND, API_RESOURCE_REF_NAME_EMPTY, API_RESOURCE_REF_WITH_INLINE,
    API_RESOURCE_TYPE_MISSING, API_RESOURCE_TYPE_UNKNOWN,
};
use crate::admission::templating::is_template;
use crate::admission::{at, Ctx, Verdict};
use crate::crd::api_definition::{ApiDefinitionSpec, ResourceOrRef};

/// The resources of an API as far as they could be resolved.
#[derive(Debug, Default)]
pub(crate) struct ApiResources {
    /// Resource name to resource type.
    pub(crate) types: HashMap<String, String>,
    /// Some `ref` did not resolve, so a name missing from `types` may still be a resource of the
    /// API (the missing reference is reported on its own).
    pub(crate) unresolved_refs: bool,
}

/// Rules on `spec.resources`: a `ref` names an existing ApiResource; an inline resource has a name,
/// a type and a configuration; resource names are unique (`api-resource-name-duplicate`). Returns
/// the resolved names and types.
pub(super) fn resources(
    ctx: &Ctx<'_>,
    spec: &ApiDefinitionSpec,
    verdict: &mut Verdict,
) -> ApiResources {
    let mut out = ApiResources::default();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, res) in spec.resources.iter().flatten().enumerate() {
        let resolved = match &res.reference {
            Some(r) => {
                let found = resource_ref(ctx, i, res, r, verdict);
                out.unresolved_refs |= found.is_none();
                found
            }
            None => inline_resource(i, res, verdict),
        };
        let Some((name, type_)) = resolved else {
            continue;
        };
        if let Some(first) = first_at.get(&name) {
            verdict.raise(
                &API_RESOURCE_NAME_DUPLICATE,
                at("spec.resources", i, ""),
                format!("resource name \"{name}\" is already used by spec.resources[{first}]; policies find resources by name, so rename one"),
            );
            continue;
        }
        first_at.insert(name.clone(), i);
        out.types.insert(name, type_);
    }
    out
}

/// Rules `api-resource-ref-name-empty`, `api-resource-ref-with-inline`, `api-resource-not-found`.
fn resource_ref(
    ctx: &Ctx<'_>,
    i: usize,
    res: &ResourceOrRef,
    r: &crate::crd::NamespacedRef,
    verdict: &mut Verdict,
) -> Option<(String, String)> {
    if r.name.trim().is_empty() {
        verdict.raise(
            &API_RESOURCE_REF_NAME_EMPTY,
            at("spec.resources", i, "ref.name"),
            "is empty; name the ApiResource to use",
        );
        return None;
    }
    if res.name.is_some() || res.type_.is_some() || res.configuration.is_some() {
        verdict.raise(
            &API_RESOURCE_REF_WITH_INLINE,
            at("spec.resources", i, ""),
            "has both `ref` and inline fields; the inline name, type and configuration are ignored, remove them",
        );
    }
    let ns = r.namespace_or(ctx.namespace);
    match ctx.lookup.api_resource(ns, &r.name) {
        None => {
            verdict.raise(
                &API_RESOURCE_NOT_FOUND,
                at("spec.resources", i, "ref"),
                format!(
                    "ApiResource {ns}/{} does not exist; create it first or fix the reference",
                    r.name
                ),
            );
            None
        }
        Some(found) => Some((
            found.spec.name.clone().unwrap_or_default(),
            found.spec.type_.clone().unwrap_or_default(),
        )),
    }
}

/// Rules `api-resource-name-missing`, `api-resource-type-missing`,
/// `api-resource-configuration-missing`, `api-resource-type-unknown` (warning).
fn inline_resource(
    i: usize,
    res: &ResourceOrRef,
    verdict: &mut Verdict,
) -> Option<(String, String)> {
    let mut ok = true;
    if blank(&res.name) {
        verdict.raise(
            &API_RESOURCE_NAME_MISSING,
            at("spec.resources", i, "name"),
            "is required for an inline resource; set it, or use `ref` to point to an ApiResource",
        );
        ok = false;
    }
    if blank(&res.type_) {
        verdict.raise(
            &API_RESOURCE_TYPE_MISSING,
            at("spec.resources", i, "type"),
            "is required for an inline resource, e.g. cache, cache-redis, oauth2",
        );
        ok = false;
    }
    if res.configuration.is_none() {
        verdict.raise(
            &API_RESOURCE_CONFIGURATION_MISSING,
            at("spec.resources", i, "configuration"),
            "is required for an inline resource; add the resource's configuration block",
        );
    }
    if let Some(t) = res.type_.as_deref() {
        if ok && !is_template(t) && !is_known_type(t) {
            verdict.raise(
                &API_RESOURCE_TYPE_UNKNOWN,
                at("spec.resources", i, "type"),
                unknown_type_message(t),
            );
        }
    }
    ok.then(|| {
        (
            res.name.clone().unwrap_or_default(),
            res.type_.clone().unwrap_or_default(),
        )
    })
}
