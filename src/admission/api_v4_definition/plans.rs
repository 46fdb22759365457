//! Rules on `spec.plans` (a map keyed by plan name): present unless the API is stopped, with a
//! known security type, and JWT and OAuth2 plans carrying the configuration their policy needs.

use serde_json::{Map, Value};

use super::resources::ApiResources;
use crate::admission::api_definition::{JWT_RESOLVERS, JWT_SIGNATURES};
use crate::admission::rules::{
    APIV4_PLANS_MISSING, APIV4_PLAN_JWT_CONFIGURATION_INVALID, APIV4_PLAN_OAUTH2_RESOURCE_INVALID,
    APIV4_PLAN_SECURITY_MISSING, APIV4_PLAN_SECURITY_UNKNOWN,
};
use crate::admission::templating::is_template;
use crate::admission::Verdict;
use crate::crd::api_definition::ApiState;
use crate::crd::api_v4_definition::{ApiV4DefinitionSpec, Plan};

/// Plan security types of a v4 API (APIM's `PlanSecurityType`).
pub(crate) const KNOWN_SECURITY: [&str; 5] = ["KEY_LESS", "API_KEY", "JWT", "OAUTH2", "MTLS"];

/// The plans with the type of their security, when they have one.
fn secured<'a>(spec: &'a ApiV4DefinitionSpec, type_: &str) -> Vec<(&'a String, &'a Plan)> {
    spec.plans
        .iter()
        .flatten()
        .filter(|(_, p)| {
            p.security
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .is_some_and(|t| t == type_)
        })
        .collect()
}

/// Rule `apiv4-plans-missing`: an API that is not STOPPED has at least one plan (APIM cannot deploy
/// an API without plans; GKO refuses it too).
pub(super) fn plans_present_unless_stopped(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    let stopped = spec.state == Some(ApiState::Stopped);
    if !stopped && spec.plans.as_ref().is_none_or(|p| p.is_empty()) {
        verdict.raise(
            &APIV4_PLANS_MISSING,
            "spec.plans",
            "is empty but spec.state is STARTED; add at least one plan (e.g. plans: {free: {name: Free, security: {type: KEY_LESS}}}) or set spec.state: STOPPED",
        );
    }
}

/// Rules `apiv4-plan-security-missing`, `apiv4-plan-security-unknown`: every plan but a PUSH plan
/// (webhook subscriptions) has a security whose type is one APIM knows.
pub(super) fn plan_security_known(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    for (key, plan) in spec.plans.iter().flatten() {
        let push = plan.mode.as_deref() == Some("PUSH");
        let type_ = plan.security.as_ref().and_then(|s| s.type_.as_deref());
        match type_ {
            None if push => {}
            None => verdict.raise(
                &APIV4_PLAN_SECURITY_MISSING,
                format!("spec.plans.{key}.security"),
                format!(
                    "is required for a STANDARD plan; set security: {{type: ...}} with one of {}",
                    KNOWN_SECURITY.join(", ")
                ),
            ),
            Some(t) if is_template(t) || KNOWN_SECURITY.contains(&t) => {}
            Some(t) => {
                let hint = KNOWN_SECURITY
                    .iter()
                    .find(|k| squash(k) == squash(t))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                verdict.raise(
                    &APIV4_PLAN_SECURITY_UNKNOWN,
                    format!("spec.plans.{key}.security.type"),
                    format!(
                        "\"{t}\" is not a known plan security type{hint}; use one of {}",
                        KNOWN_SECURITY.join(", ")
                    ),
                );
            }
        }
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn configuration(plan: &Plan) -> Option<&Map<String, Value>> {
    plan.security.as_ref()?.configuration.as_ref()
}

/// Rule `apiv4-plan-jwt-configuration-invalid`: a JWT plan says how to verify tokens: a known
/// `signature`, a known `publicKeyResolver` and, unless the keys are the gateway's, a
/// `resolverParameter` (templated values are not judged).
pub(super) fn jwt_plans_configured(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    for (key, plan) in secured(spec, "JWT") {
        let config = configuration(plan);
        let get = |k: &str| {
            config
                .and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let mut problems = Vec::new();
        let signature = get("signature");
        if !is_template(signature) && !JWT_SIGNATURES.contains(&signature) {
            problems.push(format!(
                "`signature` is \"{signature}\", use one of {}",
                JWT_SIGNATURES.join(", ")
            ));
        }
        let resolver = get("publicKeyResolver");
        if !is_template(resolver) && !JWT_RESOLVERS.contains(&resolver) {
            problems.push(format!(
                "`publicKeyResolver` is \"{resolver}\", use one of {}",
                JWT_RESOLVERS.join(", ")
            ));
        } else if resolver != "GATEWAY_KEYS" && get("resolverParameter").trim().is_empty() {
            problems.push(format!(
                "`resolverParameter` is required with publicKeyResolver {resolver}: give the key or the JWKS URL"
            ));
        }
        if !problems.is_empty() {
            verdict.raise(
                &APIV4_PLAN_JWT_CONFIGURATION_INVALID,
                format!("spec.plans.{key}.security.configuration"),
                format!(
                    "does not say how to verify tokens: {}; fix the JWT plan's configuration",
                    problems.join("; ")
                ),
            );
        }
    }
}

/// Rule `apiv4-plan-oauth2-resource-invalid`: an OAUTH2 plan's `oauthResource` names an OAuth2
/// resource of the API (inline, or an ApiResource by `ref`).
pub(super) fn oauth2_plans_configured(
    spec: &ApiV4DefinitionSpec,
    resources: &ApiResources,
    verdict: &mut Verdict,
) {
    for (key, plan) in secured(spec, "OAUTH2") {
        let field = format!("spec.plans.{key}.security.configuration.oauthResource");
        let name = configuration(plan)
            .and_then(|c| c.get("oauthResource"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if is_template(name) {
            continue;
        }
        let problem = if name.trim().is_empty() {
            "is required for an OAUTH2 plan; name the OAuth2 resource (in spec.resources) that validates tokens".to_string()
        } else {
            match resources.types.get(name) {
                // It may be the resource of the unresolved ref, which is reported already.
                None if resources.unresolved_refs => continue,
                None => format!("\"{name}\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name"),
                Some(t) if !t.starts_with("oauth2") => format!("\"{name}\" is a resource of type \"{t}\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource"),
                Some(_) => continue,
            }
        };
        verdict.raise(&APIV4_PLAN_OAUTH2_RESOURCE_INVALID, field, problem);
    }
}
