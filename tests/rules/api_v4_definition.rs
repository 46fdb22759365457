//! ApiV4Definition rules on the API itself and its references; the other concerns are in the
//! submodules (listener paths and clashes, plans, endpoint groups, resources and pages).

mod endpoints;
mod listeners;
mod plans;
mod resources;

use super::*;

const CONTEXT_MISSING: &str = "ManagementContext default/dev does not exist; create it first or fix spec.contextRef.name/namespace";

fn with_context(name: &str) -> Value {
    with(api_v4(), "/spec/contextRef", json!({ "name": name }))
}

#[test]
fn the_fixture_is_valid() {
    assert_allowed(&create(&api_v4(), &[]));
}

/// GKO's own samples (tests/fixtures/apiv4/) pass with their context present; the shared policy
/// group sample is admitted with its warning.
#[test]
fn every_gko_v4_sample_is_admitted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiv4");
    let context = context_named("default", "dev-ctx");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let mut sample: Value = serde_saphyr::from_str(&text).expect("yaml");
        sample["metadata"]["namespace"] = json!("default");
        let verdict = create(&sample, std::slice::from_ref(&context));
        assert!(verdict.allowed(), "{}: {verdict:?}", path.display());
        let expected_warnings = usize::from(path.ends_with("api-v4-with-shared-policy-group.yml"));
        assert_eq!(
            verdict.warnings.len(),
            expected_warnings,
            "{}: {verdict:?}",
            path.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn spec_is_required() {
    let v = create(&without(api_v4(), "/spec"), &[]);
    assert_denied(
        &v,
        &[Violation {
            rule: "apiv4-spec-missing",
            field: "spec".into(),
            message: "is required; an ApiV4Definition needs at least name, version, type, listeners and endpointGroups".into(),
            cause: Cause::Schema,
        }],
    );
}

#[test]
fn the_schema_keeps_unknown_listener_fields_and_refuses_unknown_spec_fields() {
    let a = with(api_v4(), "/spec/listeners/0/newerApimField", json!(true));
    assert_allowed(&create(&a, &[]));
    let v = create(&with(api_v4(), "/spec/listners", json!([])), &[]);
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].rule, "schema-unknown-field");
    assert_eq!(v.violations[0].field, "spec.listners");
    assert!(
        v.violations[0]
            .message
            .contains("did you mean `listeners`?"),
        "{v:?}"
    );
    let v = create(&with(api_v4(), "/spec/type", json!("EDGE")), &[]);
    assert_eq!(v.violations[0].rule, "schema-enum", "{v:?}");
}

#[test]
fn context_ref_must_resolve() {
    assert_allowed(&create(
        &with_context("dev"),
        &[context_named("default", "dev")],
    ));
    assert_denied(
        &create(&with_context("dev"), &[]),
        &[reference(
            "apiv4-context-not-found",
            "spec.contextRef",
            CONTEXT_MISSING,
        )],
    );
    assert_denied(
        &create(&with_context(" "), &[]),
        &[rule(
            "apiv4-context-ref-name-empty",
            "spec.contextRef.name",
            "is empty; name the ManagementContext to push this API to",
        )],
    );
    // In another namespace, by name.
    let a = with(
        api_v4(),
        "/spec/contextRef",
        json!({"name": "dev", "namespace": "apim"}),
    );
    assert_allowed(&create(&a, &[context_named("apim", "dev")]));
}

fn unchecked(kind: &str, ns_name: &str) -> String {
    format!("{kind} {ns_name} is a kind gko does not model: the reference is passed to APIM unchecked; make sure the {kind} exists (GKO's controller resolves it) or remove the reference")
}

#[test]
fn references_to_kinds_gko_does_not_model_are_warnings() {
    let a = with(api_v4(), "/spec/groupRefs", json!([{"name": "devs"}]));
    let a = with(
        a,
        "/spec/notificationsRefs",
        json!([{"name": "console", "namespace": "shared"}]),
    );
    let a = with(
        a,
        "/spec/plans/free/flows",
        json!([{"publish": [{"name": "x", "policy": "p"}, {"sharedPolicyGroupRef": {"name": "audit"}}]}]),
    );
    assert_warned(
        &create(&a, &[]),
        &[
            rule(
                "apiv4-shared-policy-group-unchecked",
                "spec.plans.free.flows[0].publish[1].sharedPolicyGroupRef",
                &unchecked("SharedPolicyGroup", "default/audit"),
            ),
            rule(
                "apiv4-group-ref-unchecked",
                "spec.groupRefs[0]",
                &unchecked("Group", "default/devs"),
            ),
            rule(
                "apiv4-notification-ref-unchecked",
                "spec.notificationsRefs[0]",
                &unchecked("Notification", "shared/console"),
            ),
        ],
    );
    // Plain group names are APIM's business (unknown ones are dropped with a warning by APIM).
    assert_allowed(&create(
        &with(api_v4(), "/spec/groups", json!(["developers"])),
        &[],
    ));
}

#[test]
fn templates_name_existing_secrets() {
    let a = with(
        api_v4(),
        "/spec/plans/free/description",
        json!("[[ secret `plans/free` ]]"),
    );
    let v = create(&a, &[]);
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].rule, "template-source-not-found");
    assert_eq!(v.violations[0].field, "spec.plans.free.description");
    assert_allowed(&create(&a, &[secret("plans", &["free"])]));
}

#[test]
fn a_context_or_resource_used_by_a_v4_api_cannot_be_deleted() {
    let v4 = with_context("dev");
    let v4 = with(v4, "/spec/resources", json!([{"ref": {"name": "cache"}}]));
    let others = [v4.clone()];
    assert_denied(
        &delete(Kind::ManagementContext, "default", "dev", &others),
        &[rule(
            "context-in-use",
            "metadata.name",
            "the context is still used by 1 ApiV4Definition (default/orders-v4); delete those ApiV4Definitions or point their spec.contextRef to another context first",
        )],
    );
    assert_denied(
        &delete(Kind::ApiResource, "default", "cache", &others),
        &[rule(
            "resource-in-use",
            "metadata.name",
            "the resource is still used by 1 ApiV4Definition (default/orders-v4); remove it from their spec.resources first",
        )],
    );
    // v2 and v4 together: both named, with their kind.
    let v2 = with(
        without(api(), "/spec/local"),
        "/spec/contextRef",
        json!({"name": "dev"}),
    );
    assert_denied(
        &delete(Kind::ManagementContext, "default", "dev", &[v4, v2]),
        &[rule(
            "context-in-use",
            "metadata.name",
            "the context is still used by 2 APIs (ApiDefinition default/orders, ApiV4Definition default/orders-v4); delete those APIs or point their spec.contextRef to another context first",
        )],
    );
    assert_allowed(&delete(
        Kind::ManagementContext,
        "default",
        "other",
        &others,
    ));
}
