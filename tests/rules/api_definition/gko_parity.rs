//! ApiDefinition rules that follow GKO where it is more lenient (ingress templates) or stricter (page parents).

use super::*;

const TEMPLATE_MSG: &str = "is \"true\": this ApiDefinition is an ingress template, admitted without checks and never pushed to APIM; remove the annotation to have it checked and synced";

#[test]
fn an_ingress_template_is_admitted_without_checks() {
    // Everything wrong at once: unknown field, no name, no plans, a context that does not exist.
    let broken = json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
        "metadata": {"name": "ingress-tpl", "namespace": "default",
                     "annotations": {"gravitee.io/template": "true"}},
        "spec": {"notAField": 1, "contextRef": {"name": "missing"}, "plans": []}
    });
    assert_warned(
        &create(&broken, &[]),
        &[rule(
            "api-ingress-template",
            "metadata.annotations.gravitee.io/template",
            TEMPLATE_MSG,
        )],
    );
}

#[test]
fn only_the_value_true_makes_a_template() {
    let a = with(
        api(),
        "/metadata/annotations",
        json!({"gravitee.io/template": "false"}),
    );
    assert_allowed(&create(&a, &[]));
    let a = with(
        without(api(), "/spec/name"),
        "/metadata/annotations",
        json!({"gravitee.io/template": "yes"}),
    );
    assert_eq!(create(&a, &[]).violations[0].rule, "api-name-missing");
}

fn with_pages(pages: Value) -> Value {
    with(api(), "/spec/pages", pages)
}

#[test]
fn a_page_parent_is_a_key_of_the_pages_map() {
    let ok = with_pages(json!({
        "docs": {"name": "Docs", "type": "FOLDER"},
        "intro": {"name": "Intro", "type": "MARKDOWN", "content": "# Hi", "parent": "docs"}
    }));
    assert_allowed(&create(&ok, &[]));
    let bad = with_pages(json!({
        "docs": {"name": "Docs", "type": "FOLDER"},
        "intro": {"name": "Intro", "type": "MARKDOWN", "content": "# Hi", "parent": "Docs"}
    }));
    assert_denied(
        &create(&bad, &[]),
        &[rule(
            "api-page-parent-not-found",
            "spec.pages.intro.parent",
            "\"Docs\" is not a key of spec.pages; set it to the key of the folder page (docs) or remove it",
        )],
    );
}

#[test]
fn a_lone_page_with_a_parent_is_denied_and_the_list_form_is_not_checked() {
    let alone = with_pages(json!({
        "intro": {"name": "Intro", "type": "MARKDOWN", "content": "# Hi", "parent": "docs"}
    }));
    assert_denied(
        &create(&alone, &[]),
        &[rule(
            "api-page-parent-not-found",
            "spec.pages.intro.parent",
            "\"docs\" is not a key of spec.pages; set it to the key of the folder page (there is no other page) or remove it",
        )],
    );
    let list = with_pages(json!([
        {"name": "Intro", "type": "MARKDOWN", "content": "# Hi", "parent": "docs"}
    ]));
    assert_allowed(&create(&list, &[]));
}
