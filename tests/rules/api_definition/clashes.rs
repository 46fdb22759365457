//! ApiDefinition rules: Context paths clashing with other ApiDefinitions.

use super::*;

fn clash(path: &str, relation: &str, theirs: &str, other: &str) -> Violation {
    rule("api-entrypoint-clash", 
        "spec.proxy.virtual_hosts[0].path",
        &format!("context path {path} {relation} {theirs} of ApiDefinition {other}; choose a path that neither equals nor contains another API's"),
    )
}

#[test]
fn an_equal_path_in_the_namespace_is_denied() {
    let v = create(&api(), &[other_api("default", "billing", "/orders")]);
    assert_denied(
        &v,
        &[clash(
            "/orders",
            "is already used by",
            "/orders",
            "default/billing",
        )],
    );
}

#[test]
fn a_segment_prefix_either_way_is_denied() {
    let v = create(&api(), &[other_api("default", "billing", "/orders/v2")]);
    assert_denied(
        &v,
        &[clash(
            "/orders",
            "overlaps",
            "/orders/v2",
            "default/billing",
        )],
    );
    let v = create(&api(), &[other_api("default", "root", "/")]);
    assert_denied(&v, &[clash("/orders", "overlaps", "/", "default/root")]);
}

#[test]
fn paths_are_compared_by_segments() {
    let v = create(&api(), &[other_api("default", "billing", "//orders///v2/")]);
    assert_denied(
        &v,
        &[clash(
            "/orders",
            "overlaps",
            "/orders/v2",
            "default/billing",
        )],
    );
    let mut other = other_api("default", "billing", "/orders/");
    other["spec"]["proxy"]["virtual_hosts"][0]["host"] = json!("");
    let v = create(&api(), &[other]);
    assert_denied(
        &v,
        &[clash(
            "/orders",
            "is already used by",
            "/orders",
            "default/billing",
        )],
    );
}

#[test]
fn entrypoints_clash_by_host_and_whole_path_segments() {
    use gko::model::Entrypoint;
    let cases = [
        ((None, "/a"), (None, "/a"), true),
        ((None, "/a"), (None, "/a/b"), true),
        ((None, "/a/b"), (None, "/a"), true),
        ((None, "/"), (None, "/a/b"), true),
        ((None, "/a"), (None, "/ab"), false),
        ((None, "/ab"), (None, "/a"), false),
        ((None, "/a/b"), (None, "/a/c"), false),
        ((None, "/a/"), (None, "/a/b"), true),
        ((None, "//a"), (None, "/a"), true),
        ((None, " /a "), (None, "/a/b"), true),
        ((None, "/a//"), (None, "/ab"), false),
        (
            (Some("API.example.com "), "/a"),
            (Some("api.example.com"), "/a"),
            true,
        ),
        ((Some("a.example.com"), "/a"), (None, "/a"), false),
    ];
    for ((h1, p1), (h2, p2), expected) in cases {
        let (a, b) = (Entrypoint::new(h1, p1), Entrypoint::new(h2, p2));
        assert_eq!(a.clashes_with(&b), expected, "{a} vs {b}");
    }
}

#[test]
fn a_string_prefix_is_not_a_clash() {
    assert_allowed(&create(&api(), &[other_api("default", "b", "/ordersx")]));
    assert_allowed(&create(&api(), &[other_api("default", "b", "/order")]));
}

#[test]
fn another_host_is_not_a_clash() {
    let mut other = other_api("default", "b", "/orders");
    other["spec"]["proxy"]["virtual_hosts"][0]["host"] = json!("b.example.com");
    assert_allowed(&create(&api(), &[other]));
}

#[test]
fn another_namespace_clashes_only_cluster_wide() {
    let others = [other_api("team", "billing", "/orders")];
    assert_allowed(&create(&api(), &others));
    let wide = Settings {
        cluster_wide_paths: true,
    };
    assert_denied(
        &create_with(wide, &api(), &others),
        &[clash(
            "/orders",
            "is already used by",
            "/orders",
            "team/billing",
        )],
    );
}

#[test]
fn the_object_itself_is_not_a_clash() {
    // On UPDATE the stored version of the same API is in the lookup.
    assert_allowed(&create(&api(), &[api()]));
}

#[test]
fn an_api_being_deleted_is_not_a_clash() {
    let mut other = other_api("default", "billing", "/orders");
    other["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    assert_allowed(&create(&api(), &[other]));
}

#[test]
fn each_entrypoint_is_reported_once() {
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"path": "/orders"}, {"path": "/orders/v2"}]),
    );
    let others = [
        other_api("default", "a", "/orders"),
        other_api("default", "b", "/orders/v2/items"),
    ];
    let v = create(&a, &others);
    let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "spec.proxy.virtual_hosts[0].path",
            "spec.proxy.virtual_hosts[1].path"
        ],
        "{v:?}"
    );
}

/// An invalid (empty) path of another API is not the root: it clashes with nothing.
#[test]
fn an_empty_path_elsewhere_is_not_the_root() {
    assert_allowed(&create(&api(), &[other_api("default", "broken", "")]));
}

/// The field path names the virtual host that clashes, even after one without a path.
#[test]
fn the_clash_names_the_right_virtual_host() {
    let a = with(
        api(),
        "/spec/proxy/virtual_hosts",
        json!([{"host": "a.example.com", "path": ""}, {"path": "/orders"}]),
    );
    let v = create(&a, &[other_api("default", "billing", "/orders")]);
    assert_denied(
        &v,
        &[
            rule(
                "api-entrypoint-path-missing",
                "spec.proxy.virtual_hosts[0].path",
                "is required; give the context path of the entrypoint, e.g. /my-api",
            ),
            Violation {
                field: "spec.proxy.virtual_hosts[1].path".into(),
                ..clash(
                    "/orders",
                    "is already used by",
                    "/orders",
                    "default/billing",
                )
            },
        ],
    );
}
