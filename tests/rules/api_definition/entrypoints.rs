//! ApiDefinition rules: `spec.proxy.virtual_hosts` inside one API.

use super::*;

#[test]
fn at_least_one_virtual_host() {
    assert_denied(
        &create(&with(api(), "/spec/proxy/virtual_hosts", json!([])), &[]),
        &[rule(
            "api-entrypoints-missing",
            "spec.proxy.virtual_hosts",
            "is empty; add at least one entrypoint, e.g. virtual_hosts: [{path: /my-api}]",
        )],
    );
}

#[test]
fn a_path_is_required() {
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"host": "api.example.com"}]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-entrypoint-path-missing",
            "spec.proxy.virtual_hosts[0].path",
            "is required; give the context path of the entrypoint, e.g. /my-api",
        )],
    );
}

#[test]
fn the_path_starts_with_a_slash() {
    let a = with(api(), "/spec/proxy/virtual_hosts/0/path", json!("orders"));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-entrypoint-path-relative",
            "spec.proxy.virtual_hosts[0].path",
            "\"orders\" does not start with `/`; write it as \"/orders\"",
        )],
    );
}

#[test]
fn no_duplicate_entrypoint_in_the_api() {
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"path": "/orders"}, {"path": "/orders/"}]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-entrypoint-duplicate", 
            "spec.proxy.virtual_hosts[1].path",
            "entrypoint /orders is declared twice (also spec.proxy.virtual_hosts[0]); remove the duplicate",
        )],
    );
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"host": "a.example.com", "path": "/orders"}, {"host": "A.example.com", "path": "/orders"}]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-entrypoint-duplicate", 
            "spec.proxy.virtual_hosts[1].path",
            "entrypoint a.example.com/orders is declared twice (also spec.proxy.virtual_hosts[0]); remove the duplicate",
        )],
    );
}

#[test]
fn the_same_path_on_other_hosts_is_fine() {
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"host": "a.example.com", "path": "/orders"}, {"host": "b.example.com", "path": "/orders"}]),
    );
    assert_allowed(&create(&a, &[]));
}
