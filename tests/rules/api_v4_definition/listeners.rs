//! ApiV4Definition listener paths: present, absolute, unique, and clashing with no other v2 or v4 API.

use super::super::*;

fn with_paths(paths: Value) -> Value {
    with(api_v4(), "/spec/listeners/0/paths", paths)
}

#[test]
fn an_http_listener_needs_a_path() {
    assert_denied(
        &create(&with_paths(json!([])), &[]),
        &[rule(
            "apiv4-listener-paths-missing",
            "spec.listeners[0].paths",
            "is empty; an HTTP listener needs at least one path, e.g. paths: [{path: /my-api}]",
        )],
    );
    // Other listener types have no paths.
    let mut a = api_v4();
    a["spec"]["listeners"]
        .as_array_mut()
        .expect("listeners")
        .push(json!({"type": "SUBSCRIPTION", "entrypoints": [{"type": "webhook"}]}));
    assert_allowed(&create(&a, &[]));
}

#[test]
fn paths_are_absolute() {
    assert_denied(
        &create(&with_paths(json!([{"path": "orders"}])), &[]),
        &[rule(
            "apiv4-listener-path-invalid",
            "spec.listeners[0].paths[0].path",
            "\"orders\" is not a context path (it must start with `/`); write it as \"/orders\"",
        )],
    );
    assert_denied(
        &create(&with_paths(json!([{"host": "a.example.com"}])), &[]),
        &[rule(
            "apiv4-listener-path-invalid",
            "spec.listeners[0].paths[0].path",
            "\"\" is not a context path (it must start with `/`); give the context path, e.g. /my-api",
        )],
    );
}

#[test]
fn a_host_and_path_is_declared_once() {
    let a = with_paths(json!([{"path": "/orders"}, {"path": "/orders/"}]));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "apiv4-listener-path-duplicate",
            "spec.listeners[0].paths[1].path",
            "context path /orders is already declared at spec.listeners[0].paths[0]; remove one of them",
        )],
    );
    // Another host is another entrypoint; a sub-path inside one API is APIM's business.
    let a = with_paths(
        json!([{"path": "/orders"}, {"host": "b.example.com", "path": "/orders"}, {"path": "/orders/v2"}]),
    );
    assert_allowed(&create(&a, &[]));
}

fn clash_msg(mine: &str, relation: &str, theirs: &str, other: &str) -> String {
    format!("context path {mine} {relation} {theirs} of {other}; choose a path that neither equals nor contains another API's")
}

#[test]
fn a_path_clashes_with_no_v2_api() {
    let v2 = other_api("default", "orders", "/orders-v4");
    assert_denied(
        &create(&api_v4(), &[v2]),
        &[rule(
            "apiv4-listener-path-clash",
            "spec.listeners[0].paths[0].path",
            &clash_msg(
                "/orders-v4",
                "is already used by",
                "/orders-v4",
                "ApiDefinition default/orders",
            ),
        )],
    );
    // APIM's prefix rule, either way.
    let v2 = other_api("default", "root", "/orders-v4/admin");
    assert_denied(
        &create(&api_v4(), &[v2]),
        &[rule(
            "apiv4-listener-path-clash",
            "spec.listeners[0].paths[0].path",
            &clash_msg(
                "/orders-v4",
                "overlaps",
                "/orders-v4/admin",
                "ApiDefinition default/root",
            ),
        )],
    );
    // A v2 API of the same name is another object.
    let v2 = other_api("default", "orders-v4", "/orders-v4");
    assert_eq!(
        create(&api_v4(), &[v2]).violations[0].rule,
        "apiv4-listener-path-clash"
    );
    // A path that only shares a prefix of characters does not clash.
    assert_allowed(&create(
        &api_v4(),
        &[other_api("default", "o", "/orders-v40")],
    ));
}

#[test]
fn a_path_clashes_with_no_other_v4_api() {
    let other = other_api_v4("default", "catalog", "/");
    assert_denied(
        &create(&api_v4(), &[other]),
        &[rule(
            "apiv4-listener-path-clash",
            "spec.listeners[0].paths[0].path",
            &clash_msg(
                "/orders-v4",
                "overlaps",
                "/",
                "ApiV4Definition default/catalog",
            ),
        )],
    );
    // Its own stored version is not another API.
    assert_allowed(&create(&api_v4(), &[api_v4()]));
    // Hosts: the same path on another host is another entrypoint.
    let on_host = with(
        api_v4(),
        "/spec/listeners/0/paths",
        json!([{"host": "shop.example.com", "path": "/orders-v4"}]),
    );
    assert_allowed(&create(
        &on_host,
        &[other_api_v4("default", "x", "/orders-v4")],
    ));
}

#[test]
fn a_v2_api_clashes_with_a_v4_path() {
    let v2 = other_api("default", "legacy", "/orders-v4/v1");
    assert_denied(
        &create(&v2, &[api_v4()]),
        &[rule(
            "api-entrypoint-clash",
            "spec.proxy.virtual_hosts[0].path",
            &clash_msg(
                "/orders-v4/v1",
                "overlaps",
                "/orders-v4",
                "ApiV4Definition default/orders-v4",
            ),
        )],
    );
    // A v4 API named like the v2 API is another object.
    let v2 = other_api("default", "orders-v4", "/orders-v4");
    assert_eq!(
        create(&v2, &[api_v4()]).violations[0].rule,
        "api-entrypoint-clash"
    );
}

#[test]
fn other_namespaces_count_only_cluster_wide() {
    let other = other_api("team", "orders", "/orders-v4");
    assert_allowed(&create(&api_v4(), std::slice::from_ref(&other)));
    let wide = Settings {
        cluster_wide_paths: true,
    };
    assert_denied(
        &create_with(wide, &api_v4(), &[other]),
        &[rule(
            "apiv4-listener-path-clash",
            "spec.listeners[0].paths[0].path",
            &clash_msg(
                "/orders-v4",
                "is already used by",
                "/orders-v4",
                "ApiDefinition team/orders",
            ),
        )],
    );
}
