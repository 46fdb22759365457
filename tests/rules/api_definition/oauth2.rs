//! ApiDefinition rules: OAUTH2 plans and their OAuth2 resource.

use super::*;

fn oauth2_api(definition: Option<&str>, resources: Value) -> Value {
    let mut plan = json!({"name": "oauth", "security": "OAUTH2"});
    if let Some(d) = definition {
        plan["securityDefinition"] = json!(d);
    }
    let a = with(api(), "/spec/plans", json!([plan]));
    with(a, "/spec/resources", resources)
}

const DEF: &str = r#"{"oauthResource":"idp","extractPayload":false}"#;

#[test]
fn an_inline_oauth2_resource_is_accepted() {
    let a = oauth2_api(Some(DEF), json!([inline_oauth2("idp")]));
    assert_allowed(&create(&a, &[]));
}

#[test]
fn a_referenced_oauth2_resource_is_accepted() {
    let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "am"}}]));
    assert_allowed(&create(&a, &[resource("am", "idp", "oauth2-am-resource")]));
    assert_allowed(&create(
        &a,
        &[resource("am", "idp", "oauth2-keycloak-resource")],
    ));
}

#[test]
fn a_missing_security_definition_is_a_warning_as_in_gko() {
    let a = oauth2_api(None, json!([inline_oauth2("idp")]));
    assert_warned(
        &create(&a, &[]),
        &[rule("api-plan-oauth2-definition-missing",
            "spec.plans[0].securityDefinition",
            "is not set: GKO admits such an OAUTH2 plan, but the gateway cannot validate its tokens; name the API's OAuth2 resource, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
        )],
    );
}

#[test]
fn the_security_definition_is_a_json_object() {
    let a = oauth2_api(Some("oauthResource: idp"), json!([inline_oauth2("idp")]));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-security-definition-not-object", 
            "spec.plans[0].securityDefinition",
            "is not a JSON object; write the security policy configuration as a JSON string, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
        )],
    );
}

#[test]
fn the_security_definition_names_the_oauth_resource() {
    let a = oauth2_api(
        Some(r#"{"extractPayload":true}"#),
        json!([inline_oauth2("idp")]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-oauth2-resource-missing", 
            "spec.plans[0].securityDefinition",
            "has no `oauthResource`; name the OAuth2 resource (in spec.resources) that validates tokens",
        )],
    );
}

#[test]
fn the_oauth_resource_is_a_resource_of_the_api() {
    let a = oauth2_api(Some(DEF), json!([inline_oauth2("other")]));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-oauth2-resource-not-found", 
            "spec.plans[0].securityDefinition",
            "oauthResource \"idp\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name",
        )],
    );
}

#[test]
fn the_oauth_resource_has_an_oauth2_type() {
    let a = oauth2_api(
        Some(DEF),
        json!([{"name": "idp", "type": "cache", "configuration": {}}]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-oauth2-resource-not-oauth2", 
            "spec.plans[0].securityDefinition",
            "oauthResource \"idp\" is a resource of type \"cache\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource",
        )],
    );
    let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "c"}}]));
    assert_denied(
        &create(&a, &[resource("c", "idp", "cache-redis")]),
        &[rule("api-plan-oauth2-resource-not-oauth2", 
            "spec.plans[0].securityDefinition",
            "oauthResource \"idp\" is a resource of type \"cache-redis\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource",
        )],
    );
}

/// A resource ref that does not resolve says nothing about the resource's name: only the
/// missing reference is reported (so `--allow-missing-refs` lets the API through).
#[test]
fn an_unresolved_ref_is_reported_once() {
    let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "am"}}]));
    assert_denied(
        &create(&a, &[]),
        &[reference(
            "api-resource-not-found",
            "spec.resources[0].ref",
            "ApiResource default/am does not exist; create it first or fix the reference",
        )],
    );
}
