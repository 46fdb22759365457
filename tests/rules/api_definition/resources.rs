//! ApiDefinition rules: `spec.resources`: references to ApiResources and inline resources.

use super::*;

#[test]
fn a_ref_resolves_to_an_api_resource() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"ref": {"name": "cache"}}]),
    );
    assert_allowed(&create(&a, &[resource("cache", "my-cache", "cache")]));
    assert_denied(
        &create(&a, &[]),
        &[reference(
            "api-resource-not-found",
            "spec.resources[0].ref",
            "ApiResource default/cache does not exist; create it first or fix the reference",
        )],
    );
}

#[test]
fn a_ref_namespace_defaults_to_the_api_namespace() {
    let a = in_namespace(
        with(
            api(),
            "/spec/resources",
            json!([{"ref": {"name": "cache"}}]),
        ),
        "team",
    );
    let in_team = in_namespace(resource("cache", "my-cache", "cache"), "team");
    assert_allowed(&create(&a, &[in_team]));
    assert_denied(
        &create(&a, &[resource("cache", "my-cache", "cache")]),
        &[reference(
            "api-resource-not-found",
            "spec.resources[0].ref",
            "ApiResource team/cache does not exist; create it first or fix the reference",
        )],
    );
}

#[test]
fn a_ref_may_point_to_another_namespace() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"ref": {"name": "cache", "namespace": "shared"}}]),
    );
    let shared = in_namespace(resource("cache", "my-cache", "cache"), "shared");
    assert_allowed(&create(&a, &[shared]));
}

#[test]
fn a_ref_needs_a_name() {
    let a = with(api(), "/spec/resources", json!([{"ref": {"name": " "}}]));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-resource-ref-name-empty",
            "spec.resources[0].ref.name",
            "is empty; name the ApiResource to use",
        )],
    );
}

#[test]
fn a_ref_with_inline_fields_warns() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"ref": {"name": "cache"}, "name": "ignored"}]),
    );
    assert_warned(
        &create(&a, &[resource("cache", "my-cache", "cache")]),
        &[rule("api-resource-ref-with-inline", 
            "spec.resources[0]",
            "has both `ref` and inline fields; the inline name, type and configuration are ignored, remove them",
        )],
    );
}

#[test]
fn an_inline_resource_is_complete() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"name": "cache", "type": "cache", "configuration": {}}]),
    );
    assert_allowed(&create(&a, &[]));
    let a = with(api(), "/spec/resources", json!([{"enabled": true}]));
    assert_denied(
        &create(&a, &[]),
        &[
            rule("api-resource-name-missing", 
                "spec.resources[0].name",
                "is required for an inline resource; set it, or use `ref` to point to an ApiResource",
            ),
            rule("api-resource-type-missing", 
                "spec.resources[0].type",
                "is required for an inline resource, e.g. cache, cache-redis, oauth2",
            ),
            rule("api-resource-configuration-missing", 
                "spec.resources[0].configuration",
                "is required for an inline resource; add the resource's configuration block",
            ),
        ],
    );
}

#[test]
fn resource_names_are_unique() {
    let a = with(
        api(),
        "/spec/resources",
        json!([
            {"name": "cache", "type": "cache", "configuration": {}},
            {"name": "other", "type": "cache", "configuration": {}},
            {"name": "cache", "type": "cache-redis", "configuration": {}}
        ]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-resource-name-duplicate", 
            "spec.resources[2]",
            "resource name \"cache\" is already used by spec.resources[0]; policies find resources by name, so rename one",
        )],
    );
}

#[test]
fn a_referenced_resource_name_counts_for_uniqueness() {
    let a = with(
        api(),
        "/spec/resources",
        json!([
            {"ref": {"name": "shared-cache"}},
            {"name": "my-cache", "type": "cache", "configuration": {}}
        ]),
    );
    assert_denied(
        &create(&a, &[resource("shared-cache", "my-cache", "cache")]),
        &[rule("api-resource-name-duplicate", 
            "spec.resources[1]",
            "resource name \"my-cache\" is already used by spec.resources[0]; policies find resources by name, so rename one",
        )],
    );
}

#[test]
fn an_unknown_inline_type_only_warns() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"name": "geo", "type": "geoip-db", "configuration": {}}]),
    );
    assert_warned(
        &create(&a, &[]),
        &[rule("api-resource-type-unknown", 
            "spec.resources[0].type",
            "\"geoip-db\" is not a resource type of the Gravitee distribution (cache, cache-redis, oauth2, oauth2-am-resource, oauth2-keycloak-resource, auth-provider-inline-resource, auth-provider-ldap-resource, auth-provider-http-resource, confluent-schema-registry, content-provider-inline-resource); fine for a custom plugin, otherwise fix the type",
        )],
    );
}
/// A templated type is only known at reconcile time: no unknown-type warning.
#[test]
fn a_templated_inline_type_does_not_warn() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"name": "c", "type": "[[ configmap `settings/cache-type` ]]", "configuration": {}}]),
    );
    assert_allowed(&create(&a, &[config_map("settings", &["cache-type"])]));
}
