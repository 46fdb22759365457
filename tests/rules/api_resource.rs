//! ApiResource rules and its DELETE rule.

use super::*;

#[test]
fn the_fixture_is_valid() {
    assert_allowed(&create(&resource("cache", "my-cache", "cache"), &[]));
}

#[test]
fn name_type_and_configuration_are_required() {
    let r = resource("cache", "my-cache", "cache");
    let r = with(r, "/spec/name", json!(" "));
    let r = without(r, "/spec/type");
    let r = without(r, "/spec/configuration");
    assert_denied(
        &create(&r, &[]),
        &[
            rule(
                "resource-name-missing",
                "spec.name",
                "is required; it is the name policies use to find the resource",
            ),
            rule(
                "resource-type-missing",
                "spec.type",
                "is required, e.g. cache, cache-redis, oauth2, oauth2-am-resource",
            ),
            rule(
                "resource-configuration-missing",
                "spec.configuration",
                "is required; add the resource's configuration block",
            ),
        ],
    );
}

#[test]
fn an_unknown_type_only_warns() {
    assert_warned(
        &create(&resource("geo", "geo", "geoip-db"), &[]),
        &[rule("resource-type-unknown", 
            "spec.type",
            "\"geoip-db\" is not a resource type of the Gravitee distribution (cache, cache-redis, oauth2, oauth2-am-resource, oauth2-keycloak-resource, auth-provider-inline-resource, auth-provider-ldap-resource, auth-provider-http-resource, confluent-schema-registry, content-provider-inline-resource); fine for a custom plugin, otherwise fix the type",
        )],
    );
}

#[test]
fn a_templated_type_does_not_warn() {
    let r = resource("cache", "my-cache", "[[ configmap `settings/cache-type` ]]");
    assert_allowed(&create(&r, &[config_map("settings", &["cache-type"])]));
}

#[test]
fn a_used_resource_cannot_be_deleted() {
    let user = |ns: &str, name: &str, r: Value| {
        with(
            other_api(ns, name, &format!("/{name}")),
            "/spec/resources",
            json!([{ "ref": r }]),
        )
    };
    let others = [
        user("default", "a", json!({"name": "cache"})),
        user(
            "team",
            "b",
            json!({"name": "cache", "namespace": "default"}),
        ),
        user("team", "c", json!({"name": "cache"})),
    ];
    assert_denied(
        &delete(Kind::ApiResource, "default", "cache", &others),
        &[rule("resource-in-use", 
            "metadata.name",
            "the resource is still used by 2 ApiDefinitions (default/a, team/b); remove it from their spec.resources first",
        )],
    );
    assert_allowed(&delete(Kind::ApiResource, "default", "redis", &others));
}
