//! ApiDefinition rules: JWT plans and their security definition.

use super::*;

fn jwt_api(definition: Option<&str>) -> Value {
    let mut plan = json!({"name": "jwt", "security": "JWT"});
    if let Some(d) = definition {
        plan["securityDefinition"] = json!(d);
    }
    with(api(), "/spec/plans", json!([plan]))
}

const FIELD: &str = "spec.plans[0].securityDefinition";

#[test]
fn a_complete_definition_is_accepted() {
    let a = jwt_api(Some(
        r#"{"signature":"RSA_RS256","publicKeyResolver":"JWKS_URL","resolverParameter":"https://idp/.well-known/jwks.json"}"#,
    ));
    assert_allowed(&create(&a, &[]));
    let a = jwt_api(Some(
        r#"{"signature":"HMAC_HS512","publicKeyResolver":"GATEWAY_KEYS"}"#,
    ));
    assert_allowed(&create(&a, &[]));
}

#[test]
fn a_missing_security_definition_is_a_warning_as_in_gko() {
    assert_warned(
        &create(&jwt_api(None), &[]),
        &[rule("api-plan-jwt-definition-missing",
            FIELD,
            "is not set: GKO admits such a JWT plan, but the gateway cannot verify its tokens; give at least signature, publicKeyResolver and resolverParameter, e.g. '{\"signature\":\"RSA_RS256\",\"publicKeyResolver\":\"JWKS_URL\",\"resolverParameter\":\"https://idp/.well-known/jwks.json\"}'",
        )],
    );
}

#[test]
fn the_signature_is_known() {
    let a = jwt_api(Some(
        r#"{"signature":"RS256","publicKeyResolver":"GIVEN_KEY","resolverParameter":"key"}"#,
    ));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-jwt-signature-invalid", 
            FIELD,
            "JWT `signature` is \"RS256\"; use one of RSA_RS256, RSA_RS384, RSA_RS512, HMAC_HS256, HMAC_HS384, HMAC_HS512",
        )],
    );
}

#[test]
fn the_public_key_resolver_is_known() {
    let a = jwt_api(Some(
        r#"{"signature":"RSA_RS256","publicKeyResolver":"JWKS"}"#,
    ));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-plan-jwt-resolver-invalid",
            FIELD,
            "JWT `publicKeyResolver` is \"JWKS\"; use one of GIVEN_KEY, GATEWAY_KEYS, JWKS_URL",
        )],
    );
}

#[test]
fn missing_signature_and_resolver_are_both_reported() {
    let a = jwt_api(Some(r#"{"resolverParameter":"key"}"#));
    let v = create(&a, &[]);
    let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, vec![FIELD, FIELD], "{v:?}");
    assert!(v.violations[0].message.contains("`signature`"));
    assert!(v.violations[1].message.contains("`publicKeyResolver`"));
}

#[test]
fn the_resolver_parameter_is_required_unless_gateway_keys() {
    let a = jwt_api(Some(
        r#"{"signature":"RSA_RS256","publicKeyResolver":"GIVEN_KEY","resolverParameter":" "}"#,
    ));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-jwt-resolver-parameter-missing", 
            FIELD,
            "JWT `resolverParameter` is required with publicKeyResolver GIVEN_KEY: give the key or the JWKS URL",
        )],
    );
}
