//! ApiV4Definition resources (inline or by ref to an ApiResource) and pages.

use super::super::*;

fn with_resources(resources: Value) -> Value {
    with(api_v4(), "/spec/resources", resources)
}

#[test]
fn resource_refs_resolve() {
    let a = with_resources(json!([{"ref": {"name": "cache"}}]));
    assert_allowed(&create(&a, &[resource("cache", "my-cache", "cache")]));
    assert_denied(
        &create(&a, &[]),
        &[reference(
            "apiv4-resource-not-found",
            "spec.resources[0].ref",
            "ApiResource default/cache does not exist; create it first or fix the reference",
        )],
    );
    assert_denied(
        &create(&with_resources(json!([{"ref": {"name": ""}}])), &[]),
        &[rule(
            "apiv4-resource-ref-name-empty",
            "spec.resources[0].ref.name",
            "is empty; name the ApiResource to use",
        )],
    );
}

#[test]
fn inline_resources_are_complete() {
    assert_allowed(&create(
        &with_resources(json!([{"name": "c", "type": "cache", "configuration": {}}])),
        &[],
    ));
    assert_denied(
        &create(&with_resources(json!([{"name": "c"}])), &[]),
        &[rule(
            "apiv4-resource-incomplete",
            "spec.resources[0]",
            "an inline resource needs name, type and configuration, and type, configuration missing; add them, or use `ref` to point to an ApiResource",
        )],
    );
    assert_denied(
        &create(
            &with_resources(json!([{"type": "cache", "configuration": {}}])),
            &[],
        ),
        &[rule(
            "apiv4-resource-incomplete",
            "spec.resources[0]",
            "an inline resource needs name, type and configuration, and name missing; add it, or use `ref` to point to an ApiResource",
        )],
    );
}

fn with_pages(pages: Value) -> Value {
    with(api_v4(), "/spec/pages", pages)
}

#[test]
fn a_page_parent_is_another_page() {
    assert_allowed(&create(
        &with_pages(json!({
            "folder": {"name": "Docs", "type": "FOLDER"},
            "intro": {"name": "Intro", "type": "MARKDOWN", "parent": "folder", "content": "hi"}
        })),
        &[],
    ));
    assert_denied(
        &create(
            &with_pages(json!({
                "folder": {"name": "Docs", "type": "FOLDER"},
                "intro": {"name": "Intro", "type": "MARKDOWN", "parent": "docs"}
            })),
            &[],
        ),
        &[rule(
            "apiv4-page-parent-not-found",
            "spec.pages.intro.parent",
            "\"docs\" is not another key of spec.pages (the other pages are folder); name the key of the folder page this page is in, or remove parent",
        )],
    );
    assert_denied(
        &create(
            &with_pages(json!({"intro": {"name": "Intro", "type": "MARKDOWN", "parent": "intro"}})),
            &[],
        ),
        &[rule(
            "apiv4-page-parent-not-found",
            "spec.pages.intro.parent",
            "\"intro\" is not another key of spec.pages (there is no other page); name the key of the folder page this page is in, or remove parent",
        )],
    );
}
