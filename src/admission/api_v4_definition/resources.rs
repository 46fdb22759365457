//! Rules on `spec.resources` (inline, or by `ref` to the same ApiResources v2 APIs use) and on
//! `spec.pages` (a map keyed by page name).

use std::collections::HashMap;

use crate::admission::rules::{
    APIV4_PAGE_PARENT_NOT_FOUND, APIV4_RESOURCE_INCOMPLETE, APIV4_RESOURCE_NOT_FOUND,
    APIV4_RESOURCE_REF_NAME_EMPTY,
};
use crate::admission::{at, Ctx, Verdict};
use crate::crd::api_v4_definition::ApiV4DefinitionSpec;

/// The resources of an API as far as they could be resolved.
#[derive(Debug, Default)]
pub(super) struct ApiResources {
    /// Resource name to resource type.
    pub(super) types: HashMap<String, String>,
    /// Some `ref` did not resolve (reported on its own): a name missing from `types` may be its.
    pub(super) unresolved_refs: bool,
}

/// Rules `apiv4-resource-ref-name-empty`, `apiv4-resource-not-found`, `apiv4-resource-incomplete`:
/// a `ref` names an existing ApiResource; an inline resource has a name, a type and a
/// configuration. Returns the names and types of the API's resources.
pub(super) fn resources(
    ctx: &Ctx<'_>,
    spec: &ApiV4DefinitionSpec,
    verdict: &mut Verdict,
) -> ApiResources {
    let mut out = ApiResources::default();
    for (i, res) in spec.resources.iter().flatten().enumerate() {
        if let Some(r) = &res.reference {
            if r.name.trim().is_empty() {
                verdict.raise(
                    &APIV4_RESOURCE_REF_NAME_EMPTY,
                    at("spec.resources", i, "ref.name"),
                    "is empty; name the ApiResource to use",
                );
                out.unresolved_refs = true;
                continue;
            }
            let ns = r.namespace_or(ctx.namespace);
            match ctx.lookup.api_resource(ns, &r.name) {
                None => {
                    verdict.raise(
                        &APIV4_RESOURCE_NOT_FOUND,
                        at("spec.resources", i, "ref"),
                        format!(
                            "ApiResource {ns}/{} does not exist; create it first or fix the reference",
                            r.name
                        ),
                    );
                    out.unresolved_refs = true;
                }
                Some(found) => {
                    out.types.insert(
                        found.spec.name.clone().unwrap_or_default(),
                        found.spec.type_.clone().unwrap_or_default(),
                    );
                }
            }
            continue;
        }
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        let missing: Vec<&str> = [
            ("name", blank(&res.name)),
            ("type", blank(&res.type_)),
            ("configuration", res.configuration.is_none()),
        ]
        .into_iter()
        .filter_map(|(field, absent)| absent.then_some(field))
        .collect();
        if missing.is_empty() {
            out.types.insert(
                res.name.clone().unwrap_or_default(),
                res.type_.clone().unwrap_or_default(),
            );
        } else {
            verdict.raise(
                &APIV4_RESOURCE_INCOMPLETE,
                at("spec.resources", i, ""),
                format!(
                    "an inline resource needs name, type and configuration, and {} missing; add {}, or use `ref` to point to an ApiResource",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            );
        }
    }
    out
}

/// Rule `apiv4-page-parent-not-found`: a page's `parent` is another key of `spec.pages`.
pub(super) fn pages_parents_exist(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    let Some(pages) = &spec.pages else { return };
    for (key, page) in pages {
        let Some(parent) = page.parent.as_deref().filter(|p| !p.is_empty()) else {
            continue;
        };
        if parent == key || !pages.contains_key(parent) {
            let keys: Vec<&str> = pages
                .keys()
                .map(String::as_str)
                .filter(|k| k != key)
                .collect();
            let others = if keys.is_empty() {
                "there is no other page".to_string()
            } else {
                format!("the other pages are {}", keys.join(", "))
            };
            verdict.raise(
                &APIV4_PAGE_PARENT_NOT_FOUND,
                format!("spec.pages.{key}.parent"),
                format!("\"{parent}\" is not another key of spec.pages ({others}); name the key of the folder page this page is in, or remove parent"),
            );
        }
    }
}
