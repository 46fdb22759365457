//! Rules for `ApiResource`.

use super::rules::{
    RESOURCE_CONFIGURATION_MISSING, RESOURCE_IN_USE, RESOURCE_NAME_MISSING, RESOURCE_SPEC_MISSING,
    RESOURCE_TYPE_MISSING, RESOURCE_TYPE_UNKNOWN,
};
use super::{describe_referrers, Ctx, Doc, Verdict};
use crate::crd::api_resource::ApiResourceSpec;
use crate::model::ObjectKey;

/// Resource types of the Gravitee distribution (APIM 3.x and 4.x).
pub(crate) const KNOWN_TYPES: [&str; 10] = [
    "cache",
    "cache-redis",
    "oauth2",
    "oauth2-am-resource",
    "oauth2-keycloak-resource",
    "auth-provider-inline-resource",
    "auth-provider-ldap-resource",
    "auth-provider-http-resource",
    "confluent-schema-registry",
    "content-provider-inline-resource",
];

pub(crate) fn is_known_type(t: &str) -> bool {
    KNOWN_TYPES.contains(&t)
}

pub(crate) fn unknown_type_message(t: &str) -> String {
    format!(
        "\"{t}\" is not a resource type of the Gravitee distribution ({}); fine for a custom plugin, otherwise fix the type",
        KNOWN_TYPES.join(", ")
    )
}

/// Runs every ApiResource rule on `object`.
pub(crate) fn validate(ctx: &Ctx<'_>, object: &Doc<'_>, verdict: &mut Verdict) {
    let Some(spec_value) = object.get("spec") else {
        verdict.deny_missing_spec(
            &RESOURCE_SPEC_MISSING,
            "is required; an ApiResource needs name, type and configuration",
        );
        return;
    };
    let Ok(spec) = <ApiResourceSpec as serde::Deserialize>::deserialize(spec_value) else {
        return;
    };
    name_set(&spec, verdict);
    type_set(&spec, verdict);
    configuration_set(&spec, verdict);
    known_type(&spec, verdict);
    super::templating::check_references(ctx, spec_value, "spec", verdict);
}

/// Rule `resource-name-missing`: `name` is present.
fn name_set(spec: &ApiResourceSpec, verdict: &mut Verdict) {
    if spec.name.as_deref().is_none_or(|s| s.trim().is_empty()) {
        verdict.raise(
            &RESOURCE_NAME_MISSING,
            "spec.name",
            "is required; it is the name policies use to find the resource",
        );
    }
}

/// Rule `resource-type-missing`: `type` is present.
fn type_set(spec: &ApiResourceSpec, verdict: &mut Verdict) {
    if spec.type_.as_deref().is_none_or(|s| s.trim().is_empty()) {
        verdict.raise(
            &RESOURCE_TYPE_MISSING,
            "spec.type",
            "is required, e.g. cache, cache-redis, oauth2, oauth2-am-resource",
        );
    }
}

/// Rule `resource-configuration-missing`: `configuration` is present.
fn configuration_set(spec: &ApiResourceSpec, verdict: &mut Verdict) {
    if spec.configuration.is_none() {
        verdict.raise(
            &RESOURCE_CONFIGURATION_MISSING,
            "spec.configuration",
            "is required; add the resource's configuration block",
        );
    }
}

/// Rule `resource-type-unknown`: an unknown `type` is a warning (custom plugins exist), never a
/// denial.
fn known_type(spec: &ApiResourceSpec, verdict: &mut Verdict) {
    if let Some(t) = spec.type_.as_deref().filter(|t| !t.trim().is_empty()) {
        if !crate::model::template::is_template(t) && !is_known_type(t) {
            verdict.raise(&RESOURCE_TYPE_UNKNOWN, "spec.type", unknown_type_message(t));
        }
    }
}

/// Rule `resource-in-use` (DELETE): a resource still referenced by APIs (v2 or v4) cannot be deleted.
pub(crate) fn validate_delete(ctx: &Ctx<'_>, verdict: &mut Verdict) {
    let referrers = ctx
        .lookup
        .resource_users(&ObjectKey::new(ctx.namespace, ctx.name));
    if !referrers.is_empty() {
        let (users, _) = describe_referrers(referrers);
        verdict.raise(
            &RESOURCE_IN_USE,
            "metadata.name",
            format!(
                "the resource is still used by {users}; remove it from their spec.resources first"
            ),
        );
    }
}
