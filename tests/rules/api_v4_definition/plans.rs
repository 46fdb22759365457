//! ApiV4Definition plans: present unless stopped, a known security type, JWT and OAuth2 configured.

use super::super::*;

const KNOWN: &str = "KEY_LESS, API_KEY, JWT, OAUTH2, MTLS";

fn with_plan(plan: Value) -> Value {
    with(api_v4(), "/spec/plans", json!({ "main": plan }))
}

#[test]
fn a_started_api_has_plans() {
    let a = without(api_v4(), "/spec/plans");
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "apiv4-plans-missing",
            "spec.plans",
            "is empty but spec.state is STARTED; add at least one plan (e.g. plans: {free: {name: Free, security: {type: KEY_LESS}}}) or set spec.state: STOPPED",
        )],
    );
    assert_eq!(
        create(&with(api_v4(), "/spec/plans", json!({})), &[]).violations[0].rule,
        "apiv4-plans-missing"
    );
    assert_allowed(&create(&with(a, "/spec/state", json!("STOPPED")), &[]));
}

#[test]
fn security_is_required_except_for_push_plans() {
    assert_denied(
        &create(&with_plan(json!({"name": "Main"})), &[]),
        &[rule(
            "apiv4-plan-security-missing",
            "spec.plans.main.security",
            &format!(
                "is required for a STANDARD plan; set security: {{type: ...}} with one of {KNOWN}"
            ),
        )],
    );
    assert_allowed(&create(
        &with_plan(json!({"name": "Push", "mode": "PUSH"})),
        &[],
    ));
}

#[test]
fn security_type_is_known() {
    assert_denied(
        &create(
            &with_plan(json!({"name": "Main", "security": {"type": "keyless"}})),
            &[],
        ),
        &[rule(
            "apiv4-plan-security-unknown",
            "spec.plans.main.security.type",
            &format!("\"keyless\" is not a known plan security type (did you mean KEY_LESS?); use one of {KNOWN}"),
        )],
    );
    assert_denied(
        &create(
            &with_plan(json!({"name": "Main", "security": {"type": "BASIC"}})),
            &[],
        ),
        &[rule(
            "apiv4-plan-security-unknown",
            "spec.plans.main.security.type",
            &format!("\"BASIC\" is not a known plan security type; use one of {KNOWN}"),
        )],
    );
    for t in ["KEY_LESS", "API_KEY", "MTLS"] {
        assert_allowed(&create(
            &with_plan(json!({"name": "Main", "security": {"type": t}})),
            &[],
        ));
    }
}

fn jwt(config: Value) -> Value {
    with_plan(json!({"name": "Main", "security": {"type": "JWT", "configuration": config}}))
}

#[test]
fn a_jwt_plan_says_how_to_verify_tokens() {
    assert_allowed(&create(
        &jwt(
            json!({"signature": "RSA_RS256", "publicKeyResolver": "JWKS_URL", "resolverParameter": "https://idp/jwks"}),
        ),
        &[],
    ));
    assert_allowed(&create(
        &jwt(json!({"signature": "HMAC_HS256", "publicKeyResolver": "GATEWAY_KEYS"})),
        &[],
    ));
    assert_denied(
        &create(&with_plan(json!({"name": "Main", "security": {"type": "JWT"}})), &[]),
        &[rule(
            "apiv4-plan-jwt-configuration-invalid",
            "spec.plans.main.security.configuration",
            "does not say how to verify tokens: `signature` is \"\", use one of RSA_RS256, RSA_RS384, RSA_RS512, HMAC_HS256, HMAC_HS384, HMAC_HS512; `publicKeyResolver` is \"\", use one of GIVEN_KEY, GATEWAY_KEYS, JWKS_URL; fix the JWT plan's configuration",
        )],
    );
    assert_denied(
        &create(
            &jwt(json!({"signature": "RSA_RS256", "publicKeyResolver": "GIVEN_KEY"})),
            &[],
        ),
        &[rule(
            "apiv4-plan-jwt-configuration-invalid",
            "spec.plans.main.security.configuration",
            "does not say how to verify tokens: `resolverParameter` is required with publicKeyResolver GIVEN_KEY: give the key or the JWKS URL; fix the JWT plan's configuration",
        )],
    );
}

fn oauth2(resource: &str) -> Value {
    with_plan(
        json!({"name": "Main", "security": {"type": "OAUTH2", "configuration": {"oauthResource": resource}}}),
    )
}

#[test]
fn an_oauth2_plan_names_an_oauth2_resource_of_the_api() {
    let field = "spec.plans.main.security.configuration.oauthResource";
    let inline = with(
        oauth2("idp"),
        "/spec/resources",
        json!([inline_oauth2("idp")]),
    );
    assert_allowed(&create(&inline, &[]));
    let by_ref = with(
        oauth2("idp"),
        "/spec/resources",
        json!([{"ref": {"name": "idp-res"}}]),
    );
    assert_allowed(&create(
        &by_ref,
        &[resource("idp-res", "idp", "oauth2-am-resource")],
    ));
    assert_denied(
        &create(&oauth2(""), &[]),
        &[rule(
            "apiv4-plan-oauth2-resource-invalid",
            field,
            "is required for an OAUTH2 plan; name the OAuth2 resource (in spec.resources) that validates tokens",
        )],
    );
    assert_denied(
        &create(&oauth2("idp"), &[]),
        &[rule(
            "apiv4-plan-oauth2-resource-invalid",
            field,
            "\"idp\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name",
        )],
    );
    let cache = with(
        oauth2("idp"),
        "/spec/resources",
        json!([{"ref": {"name": "c"}}]),
    );
    assert_denied(
        &create(&cache, &[resource("c", "idp", "cache")]),
        &[rule(
            "apiv4-plan-oauth2-resource-invalid",
            field,
            "\"idp\" is a resource of type \"cache\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource",
        )],
    );
    // An unresolved ref is reported once, on the ref.
    let v = create(&by_ref, &[]);
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].rule, "apiv4-resource-not-found");
}
