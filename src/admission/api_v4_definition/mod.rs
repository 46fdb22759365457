//! Rules for `ApiV4Definition`, by concern: the API and its references (here), its listeners
//! (paths and clashes with every v2 and v4 API), its plans, its endpoint groups, its resources and
//! pages. Each rule is one small function raising rules of the registry ([`super::rules`]); see
//! README for the table of rules.

mod endpoints;
mod listeners;
mod plans;
mod resources;

use serde::Deserialize;

use self::endpoints::endpoint_groups_usable;
use self::listeners::{http_paths_valid, no_clash_with_other_apis};
use self::plans::{
    jwt_plans_configured, oauth2_plans_configured, plan_security_known,
    plans_present_unless_stopped,
};
use self::resources::{pages_parents_exist, resources};
use super::rules::{
    APIV4_CONTEXT_NOT_FOUND, APIV4_CONTEXT_REF_NAME_EMPTY, APIV4_GROUP_REF_UNCHECKED,
    APIV4_NOTIFICATION_REF_UNCHECKED, APIV4_SHARED_POLICY_GROUP_UNCHECKED, APIV4_SPEC_MISSING,
};
use super::templating;
use super::{at, Ctx, Doc, Verdict};
use crate::crd::api_v4_definition::{ApiV4DefinitionSpec, Flow};
use crate::crd::NamespacedRef;

/// Runs every ApiV4Definition rule on `object` (the whole admitted object).
pub(crate) fn validate(ctx: &Ctx<'_>, object: &Doc<'_>, verdict: &mut Verdict) {
    let Some(spec_value) = object.get("spec") else {
        verdict.deny_missing_spec(
            &APIV4_SPEC_MISSING,
            "is required; an ApiV4Definition needs at least name, version, type, listeners and endpointGroups",
        );
        return;
    };
    // Schema errors were reported already; the rules need a decodable spec.
    let Ok(spec) = ApiV4DefinitionSpec::deserialize(spec_value) else {
        return;
    };
    context_ref_resolves(ctx, &spec, verdict);
    let api_resources = resources(ctx, &spec, verdict);
    plans_present_unless_stopped(&spec, verdict);
    plan_security_known(&spec, verdict);
    jwt_plans_configured(&spec, verdict);
    oauth2_plans_configured(&spec, &api_resources, verdict);
    http_paths_valid(&spec, verdict);
    no_clash_with_other_apis(ctx, &spec, verdict);
    endpoint_groups_usable(&spec, verdict);
    pages_parents_exist(&spec, verdict);
    shared_policy_groups_unchecked(ctx, &spec, verdict);
    group_refs_unchecked(ctx, &spec, verdict);
    notification_refs_unchecked(ctx, &spec, verdict);
    templating::check_references(ctx, spec_value, "spec", verdict);
}

/// Rules `apiv4-context-ref-name-empty`, `apiv4-context-not-found`: `spec.contextRef` names an
/// existing ManagementContext (namespace defaults to the API's).
fn context_ref_resolves(ctx: &Ctx<'_>, spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    let Some(r) = &spec.context_ref else { return };
    if r.name.trim().is_empty() {
        verdict.raise(
            &APIV4_CONTEXT_REF_NAME_EMPTY,
            "spec.contextRef.name",
            "is empty; name the ManagementContext to push this API to",
        );
        return;
    }
    let ns = r.namespace_or(ctx.namespace);
    if ctx.lookup.management_context(ns, &r.name).is_none() {
        verdict.raise(
            &APIV4_CONTEXT_NOT_FOUND,
            "spec.contextRef",
            format!(
                "ManagementContext {ns}/{} does not exist; create it first or fix spec.contextRef.name/namespace",
                r.name
            ),
        );
    }
}

/// What to say about a reference to a kind gko does not model.
fn unchecked(kind: &str, r: &NamespacedRef, namespace: &str) -> String {
    format!(
        "{kind} {}/{} is a kind gko does not model: the reference is passed to APIM unchecked; make sure the {kind} exists (GKO's controller resolves it) or remove the reference",
        r.namespace_or(namespace),
        r.name
    )
}

/// The API's flows and every plan's, each with the field path of its list.
fn all_flows(spec: &ApiV4DefinitionSpec) -> Vec<(String, &[Flow])> {
    let mut out = vec![(
        "spec.flows".to_string(),
        spec.flows.as_deref().unwrap_or_default(),
    )];
    for (key, plan) in spec.plans.iter().flatten() {
        out.push((
            format!("spec.plans.{key}.flows"),
            plan.flows.as_deref().unwrap_or_default(),
        ));
    }
    out
}

/// Rule `apiv4-shared-policy-group-unchecked` (warning): a flow step's `sharedPolicyGroupRef` names a
/// SharedPolicyGroup, a kind gko does not model.
fn shared_policy_groups_unchecked(
    ctx: &Ctx<'_>,
    spec: &ApiV4DefinitionSpec,
    verdict: &mut Verdict,
) {
    for (base, flows) in all_flows(spec) {
        for (i, flow) in flows.iter().enumerate() {
            for (phase, steps) in flow.phases() {
                for (j, step) in steps.iter().enumerate() {
                    if let Some(r) = &step.shared_policy_group_ref {
                        verdict.raise(
                            &APIV4_SHARED_POLICY_GROUP_UNCHECKED,
                            at(&base, i, &format!("{phase}[{j}].sharedPolicyGroupRef")),
                            unchecked("SharedPolicyGroup", r, ctx.namespace),
                        );
                    }
                }
            }
        }
    }
}

/// Rule `apiv4-group-ref-unchecked` (warning): `spec.groupRefs` name Group objects, a kind gko does
/// not model.
fn group_refs_unchecked(ctx: &Ctx<'_>, spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    for (i, r) in spec.group_refs.iter().flatten().enumerate() {
        verdict.raise(
            &APIV4_GROUP_REF_UNCHECKED,
            at("spec.groupRefs", i, ""),
            unchecked("Group", r, ctx.namespace),
        );
    }
}

/// Rule `apiv4-notification-ref-unchecked` (warning): `spec.notificationsRefs` name Notification
/// objects, a kind gko does not model.
fn notification_refs_unchecked(ctx: &Ctx<'_>, spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    for (i, r) in spec.notifications_refs.iter().flatten().enumerate() {
        verdict.raise(
            &APIV4_NOTIFICATION_REF_UNCHECKED,
            at("spec.notificationsRefs", i, ""),
            unchecked("Notification", r, ctx.namespace),
        );
    }
}
