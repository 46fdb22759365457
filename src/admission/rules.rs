//! The registry of every rule of the validation engine: one [`Rule`] per kind of violation, with
//! its stable id, the kind and field it applies to, its effect and its cause.
//!
//! Ids are short kebab-case names prefixed with what they apply to: `api-` (ApiDefinition),
//! `apiv4-` (ApiV4Definition), `context-` (ManagementContext), `resource-` (ApiResource), and, for every kind, `schema-` (the
//! CRD schema check), `template-` (GKO templates), `request-` (the admission request itself) and
//! `files-` (`gko validate` only). An id never changes once published: logs, metrics and `-o json`
//! consumers key on it. README's rule tables list the same set (tests/readme.rs checks both ways).

use super::Cause;
use crate::crd::Kind;

/// What a rule does to the object: deny it, or admit it with a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Deny,
    Warn,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Deny => "deny",
            Effect::Warn => "warn",
        }
    }
}

/// One rule: its id, the kind it applies to (`None`: every kind), the field it reports (as in
/// README, `[i]` for an index), its effect and its cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub kind: Option<Kind>,
    pub field: &'static str,
    pub effect: Effect,
    pub cause: Cause,
}

/// Declares each rule as a constant and collects every one of them in [`RULES`], so that no rule
/// can be raised without being in the registry.
macro_rules! rules {
    ($($name:ident: $id:literal, $kind:expr, $field:literal, $effect:ident, $cause:ident;)*) => {
        $(
            pub(crate) const $name: Rule = Rule {
                id: $id,
                kind: $kind,
                field: $field,
                effect: Effect::$effect,
                cause: Cause::$cause,
            };
        )*
        /// Every rule of the engine, in README order.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

const ALL: Option<Kind> = None;
const API: Option<Kind> = Some(Kind::ApiDefinition);
const CONTEXT: Option<Kind> = Some(Kind::ManagementContext);
const RESOURCE: Option<Kind> = Some(Kind::ApiResource);
const APIV4: Option<Kind> = Some(Kind::ApiV4Definition);

rules! {
    // Every kind.
    SCHEMA_UNKNOWN_FIELD: "schema-unknown-field", ALL, "the field at fault", Deny, Schema;
    SCHEMA_ENUM: "schema-enum", ALL, "the field at fault", Deny, Schema;
    SCHEMA_TYPE: "schema-type", ALL, "the field at fault", Deny, Schema;
    SCHEMA_REQUIRED: "schema-required", ALL, "the missing field", Deny, Schema;
    SCHEMA_INVALID: "schema-invalid", ALL, "the field at fault", Deny, Schema;
    SCHEMA_UNAVAILABLE: "schema-unavailable", ALL, "(empty)", Deny, Schema;
    API_SPEC_MISSING: "api-spec-missing", API, "spec", Deny, Schema;
    CONTEXT_SPEC_MISSING: "context-spec-missing", CONTEXT, "spec", Deny, Schema;
    RESOURCE_SPEC_MISSING: "resource-spec-missing", RESOURCE, "spec", Deny, Schema;
    TEMPLATE_NOT_UNDERSTOOD: "template-not-understood", ALL, "any string under spec", Deny, Rule;
    TEMPLATE_SOURCE_NOT_FOUND: "template-source-not-found", ALL, "any string under spec", Deny, Reference;
    TEMPLATE_KEY_MISSING: "template-key-missing", ALL, "any string under spec", Deny, Reference;
    REQUEST_OBJECT_MISSING: "request-object-missing", ALL, "object", Deny, Rule;
    FILES_DUPLICATE_OBJECT: "files-duplicate-object", ALL, "metadata.name", Warn, Rule;

    // ApiDefinition.
    API_NAME_MISSING: "api-name-missing", API, "spec.name", Deny, Rule;
    API_VERSION_MISSING: "api-version-missing", API, "spec.version", Deny, Rule;
    API_DESCRIPTION_MISSING: "api-description-missing", API, "spec.description", Warn, Rule;
    API_CONTEXT_REF_NAME_EMPTY: "api-context-ref-name-empty", API, "spec.contextRef.name", Deny, Rule;
    API_CONTEXT_NOT_FOUND: "api-context-not-found", API, "spec.contextRef", Deny, Reference;
    API_LOCAL_WITHOUT_CONTEXT: "api-local-without-context", API, "spec.local", Deny, Rule;
    API_CROSS_ID_INVALID: "api-cross-id-invalid", API, "spec.crossId", Deny, Rule;
    API_PLAN_CROSS_ID_INVALID: "api-plan-cross-id-invalid", API, "spec.plans[i].crossId", Deny, Rule;
    API_RESOURCE_REF_NAME_EMPTY: "api-resource-ref-name-empty", API, "spec.resources[i].ref.name", Deny, Rule;
    API_RESOURCE_NOT_FOUND: "api-resource-not-found", API, "spec.resources[i].ref", Deny, Reference;
    API_RESOURCE_REF_WITH_INLINE: "api-resource-ref-with-inline", API, "spec.resources[i]", Warn, Rule;
    API_RESOURCE_NAME_MISSING: "api-resource-name-missing", API, "spec.resources[i].name", Deny, Rule;
    API_RESOURCE_TYPE_MISSING: "api-resource-type-missing", API, "spec.resources[i].type", Deny, Rule;
    API_RESOURCE_CONFIGURATION_MISSING: "api-resource-configuration-missing", API, "spec.resources[i].configuration", Deny, Rule;
    API_RESOURCE_TYPE_UNKNOWN: "api-resource-type-unknown", API, "spec.resources[i].type", Warn, Rule;
    API_RESOURCE_NAME_DUPLICATE: "api-resource-name-duplicate", API, "spec.resources[i]", Deny, Rule;
    API_PLANS_MISSING: "api-plans-missing", API, "spec.plans", Deny, Rule;
    API_PLAN_NAME_MISSING: "api-plan-name-missing", API, "spec.plans[i].name", Deny, Rule;
    API_PLAN_NAME_DUPLICATE: "api-plan-name-duplicate", API, "spec.plans[i].name", Deny, Rule;
    API_PLAN_SECURITY_MISSING: "api-plan-security-missing", API, "spec.plans[i].security", Deny, Rule;
    API_PLAN_SECURITY_UNKNOWN: "api-plan-security-unknown", API, "spec.plans[i].security", Deny, Rule;
    API_PLAN_SECURITY_DEFINITION_NOT_OBJECT: "api-plan-security-definition-not-object", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_OAUTH2_DEFINITION_MISSING: "api-plan-oauth2-definition-missing", API, "spec.plans[i].securityDefinition", Warn, Rule;
    API_PLAN_OAUTH2_RESOURCE_MISSING: "api-plan-oauth2-resource-missing", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_OAUTH2_RESOURCE_NOT_FOUND: "api-plan-oauth2-resource-not-found", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_OAUTH2_RESOURCE_NOT_OAUTH2: "api-plan-oauth2-resource-not-oauth2", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_JWT_DEFINITION_MISSING: "api-plan-jwt-definition-missing", API, "spec.plans[i].securityDefinition", Warn, Rule;
    API_PLAN_JWT_SIGNATURE_INVALID: "api-plan-jwt-signature-invalid", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_JWT_RESOLVER_INVALID: "api-plan-jwt-resolver-invalid", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_PLAN_JWT_RESOLVER_PARAMETER_MISSING: "api-plan-jwt-resolver-parameter-missing", API, "spec.plans[i].securityDefinition", Deny, Rule;
    API_ENTRYPOINTS_MISSING: "api-entrypoints-missing", API, "spec.proxy.virtual_hosts", Deny, Rule;
    API_ENTRYPOINT_PATH_MISSING: "api-entrypoint-path-missing", API, "spec.proxy.virtual_hosts[i].path", Deny, Rule;
    API_ENTRYPOINT_PATH_RELATIVE: "api-entrypoint-path-relative", API, "spec.proxy.virtual_hosts[i].path", Deny, Rule;
    API_ENTRYPOINT_DUPLICATE: "api-entrypoint-duplicate", API, "spec.proxy.virtual_hosts[i].path", Deny, Rule;
    API_ENTRYPOINT_CLASH: "api-entrypoint-clash", API, "spec.proxy.virtual_hosts[i].path", Deny, Rule;
    API_ENDPOINTS_MISSING: "api-endpoints-missing", API, "spec.proxy.groups", Deny, Rule;
    API_ENDPOINT_NAME_MISSING: "api-endpoint-name-missing", API, "spec.proxy.groups[g].endpoints[e].name", Deny, Rule;
    API_ENDPOINT_NAME_DUPLICATE: "api-endpoint-name-duplicate", API, "spec.proxy.groups[g].endpoints[e].name", Deny, Rule;
    API_ENDPOINT_TARGET_MISSING: "api-endpoint-target-missing", API, "spec.proxy.groups[g].endpoints[e].target", Deny, Rule;
    API_ENDPOINT_TARGET_NOT_URL: "api-endpoint-target-not-url", API, "spec.proxy.groups[g].endpoints[e].target", Deny, Rule;
    API_APIM_DRY_RUN_DENIED: "api-apim-dry-run-denied", API, "spec", Deny, Rule;
    API_APIM_DRY_RUN_WARNING: "api-apim-dry-run-warning", API, "spec", Warn, Rule;
    API_INGRESS_TEMPLATE: "api-ingress-template", API, "metadata.annotations", Warn, Rule;
    API_PAGE_PARENT_NOT_FOUND: "api-page-parent-not-found", API, "spec.pages.<key>.parent", Deny, Rule;

    // ManagementContext.
    CONTEXT_BASE_URL_MISSING: "context-base-url-missing", CONTEXT, "spec.baseUrl", Deny, Rule;
    CONTEXT_BASE_URL_INVALID: "context-base-url-invalid", CONTEXT, "spec.baseUrl", Deny, Rule;
    CONTEXT_ORGANIZATION_ID_MISSING: "context-organization-id-missing", CONTEXT, "spec.organizationId", Deny, Rule;
    CONTEXT_ENVIRONMENT_ID_MISSING: "context-environment-id-missing", CONTEXT, "spec.environmentId", Deny, Rule;
    CONTEXT_AUTH_MISSING: "context-auth-missing", CONTEXT, "spec.auth", Deny, Rule;
    CONTEXT_AUTH_EMPTY: "context-auth-empty", CONTEXT, "spec.auth", Deny, Rule;
    CONTEXT_AUTH_SEVERAL: "context-auth-several", CONTEXT, "spec.auth", Deny, Rule;
    CONTEXT_USERNAME_MISSING: "context-username-missing", CONTEXT, "spec.auth.credentials.username", Deny, Rule;
    CONTEXT_PASSWORD_MISSING: "context-password-missing", CONTEXT, "spec.auth.credentials.password", Deny, Rule;
    CONTEXT_SECRET_REF_NAME_EMPTY: "context-secret-ref-name-empty", CONTEXT, "spec.auth.secretRef.name", Deny, Rule;
    CONTEXT_SECRET_NOT_FOUND: "context-secret-not-found", CONTEXT, "spec.auth.secretRef", Deny, Reference;
    CONTEXT_SECRET_KEYS_MISSING: "context-secret-keys-missing", CONTEXT, "spec.auth.secretRef", Deny, Reference;
    CONTEXT_CLOUD_TOKEN_AND_SECRET: "context-cloud-token-and-secret", CONTEXT, "spec.cloud", Deny, Rule;
    CONTEXT_CLOUD_TOKEN_MISSING: "context-cloud-token-missing", CONTEXT, "spec.cloud", Warn, Rule;
    CONTEXT_CLOUD_SECRET_NOT_FOUND: "context-cloud-secret-not-found", CONTEXT, "spec.cloud.secretRef", Deny, Reference;
    CONTEXT_CLOUD_SECRET_KEY_MISSING: "context-cloud-secret-key-missing", CONTEXT, "spec.cloud.secretRef", Deny, Reference;
    CONTEXT_AUTH_IGNORED_WITH_CLOUD: "context-auth-ignored-with-cloud", CONTEXT, "spec.auth", Warn, Rule;
    CONTEXT_CLOUD_TOKEN_NOT_JWT: "context-cloud-token-not-jwt", CONTEXT, "spec.cloud", Deny, Rule;
    CONTEXT_CLOUD_TOKEN_CLAIMS_MISSING: "context-cloud-token-claims-missing", CONTEXT, "spec.cloud", Deny, Rule;
    CONTEXT_CLOUD_ENVIRONMENT_REQUIRED: "context-cloud-environment-required", CONTEXT, "spec.environmentId", Deny, Rule;
    CONTEXT_CLOUD_ENVIRONMENT_NOT_IN_TOKEN: "context-cloud-environment-not-in-token", CONTEXT, "spec.environmentId", Deny, Rule;
    CONTEXT_IN_USE: "context-in-use", CONTEXT, "metadata.name", Deny, Rule;
    // ApiResource.
    RESOURCE_NAME_MISSING: "resource-name-missing", RESOURCE, "spec.name", Deny, Rule;
    RESOURCE_TYPE_MISSING: "resource-type-missing", RESOURCE, "spec.type", Deny, Rule;
    RESOURCE_CONFIGURATION_MISSING: "resource-configuration-missing", RESOURCE, "spec.configuration", Deny, Rule;
    RESOURCE_TYPE_UNKNOWN: "resource-type-unknown", RESOURCE, "spec.type", Warn, Rule;
    RESOURCE_IN_USE: "resource-in-use", RESOURCE, "metadata.name", Deny, Rule;

    // ApiV4Definition.
    APIV4_SPEC_MISSING: "apiv4-spec-missing", APIV4, "spec", Deny, Schema;
    APIV4_CONTEXT_REF_NAME_EMPTY: "apiv4-context-ref-name-empty", APIV4, "spec.contextRef.name", Deny, Rule;
    APIV4_CONTEXT_NOT_FOUND: "apiv4-context-not-found", APIV4, "spec.contextRef", Deny, Reference;
    APIV4_RESOURCE_REF_NAME_EMPTY: "apiv4-resource-ref-name-empty", APIV4, "spec.resources[i].ref.name", Deny, Rule;
    APIV4_RESOURCE_NOT_FOUND: "apiv4-resource-not-found", APIV4, "spec.resources[i].ref", Deny, Reference;
    APIV4_RESOURCE_INCOMPLETE: "apiv4-resource-incomplete", APIV4, "spec.resources[i]", Deny, Rule;
    APIV4_LISTENER_PATHS_MISSING: "apiv4-listener-paths-missing", APIV4, "spec.listeners[i].paths", Deny, Rule;
    APIV4_LISTENER_PATH_INVALID: "apiv4-listener-path-invalid", APIV4, "spec.listeners[i].paths[j].path", Deny, Rule;
    APIV4_LISTENER_PATH_DUPLICATE: "apiv4-listener-path-duplicate", APIV4, "spec.listeners[i].paths[j].path", Deny, Rule;
    APIV4_LISTENER_PATH_CLASH: "apiv4-listener-path-clash", APIV4, "spec.listeners[i].paths[j].path", Deny, Rule;
    APIV4_PLANS_MISSING: "apiv4-plans-missing", APIV4, "spec.plans", Deny, Rule;
    APIV4_PLAN_SECURITY_MISSING: "apiv4-plan-security-missing", APIV4, "spec.plans.{key}.security", Deny, Rule;
    APIV4_PLAN_SECURITY_UNKNOWN: "apiv4-plan-security-unknown", APIV4, "spec.plans.{key}.security.type", Deny, Rule;
    APIV4_PLAN_JWT_CONFIGURATION_INVALID: "apiv4-plan-jwt-configuration-invalid", APIV4, "spec.plans.{key}.security.configuration", Deny, Rule;
    APIV4_PLAN_OAUTH2_RESOURCE_INVALID: "apiv4-plan-oauth2-resource-invalid", APIV4, "spec.plans.{key}.security.configuration.oauthResource", Deny, Rule;
    APIV4_ENDPOINT_GROUP_UNUSABLE: "apiv4-endpoint-group-unusable", APIV4, "spec.endpointGroups[i]", Deny, Rule;
    APIV4_PAGE_PARENT_NOT_FOUND: "apiv4-page-parent-not-found", APIV4, "spec.pages.{key}.parent", Deny, Rule;
    APIV4_SHARED_POLICY_GROUP_UNCHECKED: "apiv4-shared-policy-group-unchecked", APIV4, "spec[.plans.{key}].flows[i].{phase}[j].sharedPolicyGroupRef", Warn, Rule;
    APIV4_GROUP_REF_UNCHECKED: "apiv4-group-ref-unchecked", APIV4, "spec.groupRefs[i]", Warn, Rule;
    APIV4_NOTIFICATION_REF_UNCHECKED: "apiv4-notification-ref-unchecked", APIV4, "spec.notificationsRefs[i]", Warn, Rule;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_prefixed_by_what_they_apply_to() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "{} twice", rule.id);
            assert!(
                rule.id.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{} is not kebab-case",
                rule.id
            );
            let prefix = rule.id.split('-').next().unwrap_or_default();
            let expected: &[&str] = match rule.kind {
                None => &["schema", "template", "request", "files"],
                Some(Kind::ApiDefinition) => &["api"],
                Some(Kind::ManagementContext) => &["context"],
                Some(Kind::ApiResource) => &["resource"],
                Some(Kind::ApiV4Definition) => &["apiv4"],
            };
            assert!(expected.contains(&prefix), "{}: prefix {prefix}", rule.id);
        }
    }
}
