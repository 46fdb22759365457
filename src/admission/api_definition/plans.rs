//! Rules on `spec.plans`: present, named uniquely, with a known security type that is configured.

use std::collections::HashMap;

use serde_json::Value;

use super::{resources::ApiResources, squash};
use crate::admission::rules::{
    API_PLANS_MISSING, API_PLAN_JWT_DEFINITION_MISSING, API_PLAN_JWT_RESOLVER_INVALID,
    API_PLAN_JWT_RESOLVER_PARAMETER_MISSING, API_PLAN_JWT_SIGNATURE_INVALID,
    API_PLAN_NAME_DUPLICATE, API_PLAN_NAME_MISSING, API_PLAN_OAUTH2_DEFINITION_MISSING,
    API_PLAN_OAUTH2_RESOURCE_MISSING, API_PLAN_OAUTH2_RESOURCE_NOT_FOUND,
    API_PLAN_OAUTH2_RESOURCE_NOT_OAUTH2, API_PLAN_SECURITY_DEFINITION_NOT_OBJECT,
    API_PLAN_SECURITY_MISSING, API_PLAN_SECURITY_UNKNOWN,
};
use crate::admission::templating::is_template;
use crate::admission::{at, Verdict};
use crate::crd::api_definition::{ApiDefinitionSpec, ApiState, Plan};

/// Plan security types of a v2 API.
const KNOWN_SECURITY: [&str; 4] = ["KEY_LESS", "API_KEY", "OAUTH2", "JWT"];

/// Rule `api-plans-missing`: a started API has at least one plan (APIM cannot deploy an API without
/// plans).
pub(super) fn plans_present_unless_stopped(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let stopped = spec.state == Some(ApiState::Stopped);
    if !stopped && spec.plans.as_ref().is_none_or(|p| p.is_empty()) {
        verdict.raise(
            &API_PLANS_MISSING,
            "spec.plans",
            "is empty but spec.state is STARTED; add at least one plan (e.g. {name: free, security: KEY_LESS}) or set spec.state: STOPPED",
        );
    }
}

/// Rules `api-plan-name-missing`, `api-plan-name-duplicate`: plan names are present and unique (gko
/// derives each plan's crossId from its name).
pub(super) fn plan_names_unique(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        let Some(name) = plan
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            verdict.raise(
                &API_PLAN_NAME_MISSING,
                at("spec.plans", i, "name"),
                "is required; give the plan a name",
            );
            continue;
        };
        if let Some(first) = seen.get(name) {
            verdict.raise(
                &API_PLAN_NAME_DUPLICATE,
                at("spec.plans", i, "name"),
                format!("plan name \"{name}\" is already used by spec.plans[{first}]; plan names must be unique, rename one"),
            );
        } else {
            seen.insert(name, i);
        }
    }
}

/// Rules `api-plan-security-missing`, `api-plan-security-unknown`: every plan's `security` is one of
/// the v2 types.
pub(super) fn plan_security_known(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        match plan.security.as_deref() {
            None | Some("") => verdict.raise(
                &API_PLAN_SECURITY_MISSING,
                at("spec.plans", i, "security"),
                format!("is required; use one of {}", KNOWN_SECURITY.join(", ")),
            ),
            Some(s) if is_template(s) || KNOWN_SECURITY.contains(&s) => {}
            Some(s) => {
                let hint = KNOWN_SECURITY
                    .iter()
                    .find(|k| squash(k) == squash(s))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                verdict.raise(
                    &API_PLAN_SECURITY_UNKNOWN,
                    at("spec.plans", i, "security"),
                    format!(
                        "\"{s}\" is not a known plan security type{hint}; use one of {}",
                        KNOWN_SECURITY.join(", ")
                    ),
                );
            }
        }
    }
}

/// Rules `api-plan-oauth2-*` and `api-plan-jwt-*`: OAUTH2 plans name an OAuth2 resource of the API;
/// JWT plans say how to verify tokens. Without any `securityDefinition` both are only warned about, as
/// GKO admits them.
pub(super) fn plan_security_configured(
    spec: &ApiDefinitionSpec,
    resources: &ApiResources,
    verdict: &mut Verdict,
) {
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        match plan.security.as_deref() {
            Some("OAUTH2") => oauth2_plan(i, plan, resources, verdict),
            Some("JWT") => jwt_plan(i, plan, verdict),
            _ => {}
        }
    }
}

/// The plan's `securityDefinition` as JSON: `Ok(None)` when absent, `Err` when templated or not a
/// JSON object (rule `api-plan-security-definition-not-object`).
fn security_definition(
    i: usize,
    plan: &Plan,
    verdict: &mut Verdict,
) -> Result<Option<serde_json::Map<String, Value>>, ()> {
    let Some(raw) = plan
        .security_definition
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    if is_template(raw) {
        return Err(());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => {
            verdict.raise(
                &API_PLAN_SECURITY_DEFINITION_NOT_OBJECT,
                at("spec.plans", i, "securityDefinition"),
                "is not a JSON object; write the security policy configuration as a JSON string, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
            );
            Err(())
        }
    }
}

fn oauth2_plan(i: usize, plan: &Plan, resources: &ApiResources, verdict: &mut Verdict) {
    let def = match security_definition(i, plan, verdict) {
        Ok(Some(def)) => def,
        Ok(None) => {
            verdict.raise(
                &API_PLAN_OAUTH2_DEFINITION_MISSING,
                at("spec.plans", i, "securityDefinition"),
                "is not set: GKO admits such an OAUTH2 plan, but the gateway cannot validate its tokens; name the API's OAuth2 resource, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
            );
            return;
        }
        Err(()) => return,
    };
    let resource = def
        .get("oauthResource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if resource.is_empty() {
        verdict.raise(
            &API_PLAN_OAUTH2_RESOURCE_MISSING,
            at("spec.plans", i, "securityDefinition"),
            "has no `oauthResource`; name the OAuth2 resource (in spec.resources) that validates tokens",
        );
        return;
    }
    if is_template(resource) {
        return;
    }
    match resources.types.get(resource) {
        // It may be the resource of the unresolved ref, which is reported already.
        None if resources.unresolved_refs => {}
        None => verdict.raise(
            &API_PLAN_OAUTH2_RESOURCE_NOT_FOUND,
            at("spec.plans", i, "securityDefinition"),
            format!("oauthResource \"{resource}\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name"),
        ),
        Some(t) if !t.starts_with("oauth2") => verdict.raise(
            &API_PLAN_OAUTH2_RESOURCE_NOT_OAUTH2,
            at("spec.plans", i, "securityDefinition"),
            format!("oauthResource \"{resource}\" is a resource of type \"{t}\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource"),
        ),
        Some(_) => {}
    }
}

pub(crate) const JWT_SIGNATURES: [&str; 6] = [
    "RSA_RS256",
    "RSA_RS384",
    "RSA_RS512",
    "HMAC_HS256",
    "HMAC_HS384",
    "HMAC_HS512",
];
pub(crate) const JWT_RESOLVERS: [&str; 3] = ["GIVEN_KEY", "GATEWAY_KEYS", "JWKS_URL"];

fn jwt_plan(i: usize, plan: &Plan, verdict: &mut Verdict) {
    let field = at("spec.plans", i, "securityDefinition");
    let def = match security_definition(i, plan, verdict) {
        Ok(Some(def)) => def,
        Ok(None) => {
            verdict.raise(
                &API_PLAN_JWT_DEFINITION_MISSING,
                field,
                "is not set: GKO admits such a JWT plan, but the gateway cannot verify its tokens; give at least signature, publicKeyResolver and resolverParameter, e.g. '{\"signature\":\"RSA_RS256\",\"publicKeyResolver\":\"JWKS_URL\",\"resolverParameter\":\"https://idp/.well-known/jwks.json\"}'",
            );
            return;
        }
        Err(()) => return,
    };
    let get = |k: &str| def.get(k).and_then(Value::as_str).unwrap_or_default();
    let signature = get("signature");
    if !JWT_SIGNATURES.contains(&signature) {
        verdict.raise(
            &API_PLAN_JWT_SIGNATURE_INVALID,
            field.clone(),
            format!(
                "JWT `signature` is \"{signature}\"; use one of {}",
                JWT_SIGNATURES.join(", ")
            ),
        );
    }
    let resolver = get("publicKeyResolver");
    if !JWT_RESOLVERS.contains(&resolver) {
        verdict.raise(
            &API_PLAN_JWT_RESOLVER_INVALID,
            field.clone(),
            format!(
                "JWT `publicKeyResolver` is \"{resolver}\"; use one of {}",
                JWT_RESOLVERS.join(", ")
            ),
        );
    } else if resolver != "GATEWAY_KEYS" && get("resolverParameter").trim().is_empty() {
        verdict.raise(
            &API_PLAN_JWT_RESOLVER_PARAMETER_MISSING,
            field,
            format!("JWT `resolverParameter` is required with publicKeyResolver {resolver}: give the key or the JWKS URL"),
        );
    }
}
