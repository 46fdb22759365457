//! Rules for `ApiDefinition`, by concern: the API itself (here), its resources, its plans and its
//! proxy (entrypoints and endpoints). Each rule is one small function raising rules of the
//! registry ([`super::rules`]); see README for the table of rules.

mod entrypoints;
mod pages;
mod plans;
mod proxy;
mod resources;

pub(crate) use self::entrypoints::entrypoints_of;
pub(crate) use self::plans::{JWT_RESOLVERS, JWT_SIGNATURES};
pub(crate) use self::proxy::is_same_key;

use self::pages::page_parents_exist;
use self::plans::{
    plan_names_unique, plan_security_configured, plan_security_known, plans_present_unless_stopped,
};
use self::proxy::{endpoints, entrypoints, no_clash_with_other_apis};
use self::resources::resources;
use super::rules::{
    API_CONTEXT_NOT_FOUND, API_CONTEXT_REF_NAME_EMPTY, API_CROSS_ID_INVALID,
    API_DESCRIPTION_MISSING, API_INGRESS_TEMPLATE, API_LOCAL_WITHOUT_CONTEXT, API_NAME_MISSING,
    API_PLAN_CROSS_ID_INVALID, API_SPEC_MISSING, API_VERSION_MISSING,
};
use super::templating;
use super::{at, Ctx, Doc, Verdict};
use crate::crd::api_definition::ApiDefinitionSpec;
use crate::model::INGRESS_TEMPLATE_ANNOTATION;

/// Runs every ApiDefinition rule on `object` (the whole admitted object).
pub(crate) fn validate(ctx: &Ctx<'_>, object: &Doc<'_>, verdict: &mut Verdict) {
    let Some(spec_value) = object.get("spec") else {
        verdict.deny_missing_spec(
            &API_SPEC_MISSING,
            "is required; an ApiDefinition needs at least name, version, proxy and plans",
        );
        return;
    };
    // Schema errors were reported already; rules need a decodable spec (without its flows, which no
    // rule reads).
    let Ok(spec) = super::rules_view::decode_spec(spec_value) else {
        return;
    };
    name_set(&spec, verdict);
    version_set(&spec, verdict);
    description_set(&spec, verdict);
    context_ref_resolves(ctx, &spec, verdict);
    local_needs_context(&spec, verdict);
    cross_ids_well_formed(&spec, verdict);
    let api_resources = resources(ctx, &spec, verdict);
    plans_present_unless_stopped(&spec, verdict);
    plan_names_unique(&spec, verdict);
    plan_security_known(&spec, verdict);
    plan_security_configured(&spec, &api_resources, verdict);
    entrypoints(&spec, verdict);
    no_clash_with_other_apis(ctx, &spec, verdict);
    endpoints(&spec, verdict);
    page_parents_exist(&spec, verdict);
    templating::check_references(ctx, spec_value, "spec", verdict);
}

/// Rule `api-ingress-template` (warning): an ApiDefinition annotated `gravitee.io/template: "true"` is a
/// GKO ingress template. As GKO, it is admitted without any check (schema included) and never pushed.
/// True when `object` is one: the caller then runs no other rule.
pub(crate) fn ingress_template(object: &Doc<'_>, verdict: &mut Verdict) -> bool {
    let template = object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(INGRESS_TEMPLATE_ANNOTATION))
        .and_then(Doc::as_str)
        == Some("true");
    if template {
        verdict.raise(
            &API_INGRESS_TEMPLATE,
            format!("metadata.annotations.{INGRESS_TEMPLATE_ANNOTATION}"),
            "is \"true\": this ApiDefinition is an ingress template, admitted without checks and never pushed to APIM; remove the annotation to have it checked and synced",
        );
    }
    template
}

/// Rule `api-name-missing`: `spec.name` is set (APIM requires it).
fn name_set(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if blank(&spec.name) {
        verdict.raise(
            &API_NAME_MISSING,
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name",
        );
    }
}

/// Rule `api-version-missing`: `spec.version` is set (APIM requires it).
fn version_set(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if blank(&spec.version) {
        verdict.raise(
            &API_VERSION_MISSING,
            "spec.version",
            "is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\"",
        );
    }
}

/// Rule `api-description-missing` (warning): APIM 4.x wants a description.
fn description_set(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if blank(&spec.description) {
        verdict.raise(
            &API_DESCRIPTION_MISSING,
            "spec.description",
            "is empty; APIM 4.x requires a description, set spec.description",
        );
    }
}

/// Rules `api-context-ref-name-empty`, `api-context-not-found`: `spec.contextRef` names an existing
/// ManagementContext (namespace defaults to the API's).
fn context_ref_resolves(ctx: &Ctx<'_>, spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let Some(r) = &spec.context_ref else { return };
    if r.name.trim().is_empty() {
        verdict.raise(
            &API_CONTEXT_REF_NAME_EMPTY,
            "spec.contextRef.name",
            "is empty; name the ManagementContext to push this API to",
        );
        return;
    }
    let ns = r.namespace_or(ctx.namespace);
    if ctx.lookup.management_context(ns, &r.name).is_none() {
        verdict.raise(
            &API_CONTEXT_NOT_FOUND,
            "spec.contextRef",
            format!(
                "ManagementContext {ns}/{} does not exist; create it first or fix spec.contextRef.name/namespace",
                r.name
            ),
        );
    }
}

/// Rule `api-local-without-context`: an API that is not local must have a context, or it would go
/// nowhere.
fn local_needs_context(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if spec.local != Some(true) && spec.context_ref.is_none() {
        verdict.raise(
            &API_LOCAL_WITHOUT_CONTEXT,
            "spec.local",
            "is false (the default since GKO 4.x) and spec.contextRef is not set, so the API would be deployed nowhere; set spec.contextRef to a ManagementContext, or set spec.local: true to deploy it to the gateway through a ConfigMap",
        );
    }
}

/// Rules `api-cross-id-invalid`, `api-plan-cross-id-invalid`: `spec.crossId` and every plan's
/// `crossId`, when set, are UUIDs.
fn cross_ids_well_formed(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if let Some(id) = spec.cross_id.as_deref() {
        if !is_uuid(id) {
            verdict.raise(
                &API_CROSS_ID_INVALID,
                "spec.crossId",
                format!("\"{id}\" is not a UUID (like 2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d); fix it, or remove it and gko derives a stable one"),
            );
        }
    }
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        if let Some(id) = plan.cross_id.as_deref() {
            if !is_uuid(id) {
                verdict.raise(
                    &API_PLAN_CROSS_ID_INVALID,
                    at("spec.plans", i, "crossId"),
                    format!("\"{id}\" is not a UUID; fix it, or remove it and gko derives one from the API and the plan name"),
                );
            }
        }
    }
}

/// A UUID in its canonical 8-4-4-4-12 hexadecimal form.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

pub(super) fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
