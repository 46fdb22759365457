//! ApiDefinition rules: `spec.proxy.groups` endpoints.

use super::*;

const NO_ENDPOINT: &str = "has no endpoint; add a group with at least one endpoint, e.g. groups: [{name: default, endpoints: [{name: backend, target: https://backend.example.com}]}]";

#[test]
fn at_least_one_endpoint() {
    assert_denied(
        &create(&without(api(), "/spec/proxy/groups"), &[]),
        &[rule(
            "api-endpoints-missing",
            "spec.proxy.groups",
            NO_ENDPOINT,
        )],
    );
    let a = with(
        api(),
        "/spec/proxy/groups",
        json!([{"name": "a", "endpoints": []}, {"name": "b"}]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-endpoints-missing",
            "spec.proxy.groups",
            NO_ENDPOINT,
        )],
    );
}

#[test]
fn service_discovery_replaces_static_endpoints() {
    let a = with(
        api(),
        "/spec/proxy/groups",
        json!([{"name": "consul", "services": {"discovery": {"enabled": true, "provider": "consul-service-discovery"}}}]),
    );
    assert_allowed(&create(&a, &[]));
    let disabled = with(
        a,
        "/spec/proxy/groups/0/services/discovery/enabled",
        json!(false),
    );
    assert_denied(
        &create(&disabled, &[]),
        &[rule(
            "api-endpoints-missing",
            "spec.proxy.groups",
            NO_ENDPOINT,
        )],
    );
}

#[test]
fn the_target_is_an_absolute_url() {
    for ok in [
        "http://localhost:8080",
        "grpc://orders.internal:9000",
        "https://orders.internal/v1?x=1",
    ] {
        let a = with(api(), "/spec/proxy/groups/0/endpoints/0/target", json!(ok));
        assert_allowed(&create(&a, &[]));
    }
    for bad in ["orders.internal/v1", "/v1", "orders:8080"] {
        let a = with(api(), "/spec/proxy/groups/0/endpoints/0/target", json!(bad));
        assert_denied(
            &create(&a, &[]),
            &[rule("api-endpoint-target-not-url", 
                "spec.proxy.groups[0].endpoints[0].target",
                &format!("\"{bad}\" is not an absolute URL; write scheme and host, e.g. https://backend.example.com/path"),
            )],
        );
    }
}

#[test]
fn the_target_is_required() {
    let a = without(api(), "/spec/proxy/groups/0/endpoints/0/target");
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-endpoint-target-missing",
            "spec.proxy.groups[0].endpoints[0].target",
            "is required; give the backend URL, e.g. https://backend.example.com/path",
        )],
    );
}

#[test]
fn a_templated_target_is_checked_through_its_reference() {
    let a = with(
        api(),
        "/spec/proxy/groups/0/endpoints/0/target",
        json!("[[ configmap `backends/orders` ]]"),
    );
    assert_allowed(&create(&a, &[config_map("backends", &["orders"])]));
}

#[test]
fn endpoint_names_are_required() {
    let a = without(api(), "/spec/proxy/groups/0/endpoints/0/name");
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-endpoint-name-missing",
            "spec.proxy.groups[0].endpoints[0].name",
            "is required; give the endpoint a name unique in its group",
        )],
    );
}

#[test]
fn endpoint_names_are_unique_per_group() {
    let a = with(
        api(),
        "/spec/proxy/groups",
        json!([
            {"name": "a", "endpoints": [
                {"name": "primary", "target": "https://a1.internal"},
                {"name": "primary", "target": "https://a2.internal"}
            ]},
            {"name": "b", "endpoints": [{"name": "primary", "target": "https://b1.internal"}]}
        ]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-endpoint-name-duplicate", 
            "spec.proxy.groups[0].endpoints[1].name",
            "endpoint name \"primary\" is already used by spec.proxy.groups[0].endpoints[0]; endpoint names must be unique in a group",
        )],
    );
}
