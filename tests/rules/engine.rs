//! Engine behaviour: schema errors, missing spec or object, updates, deletes, messages.

use super::*;

#[test]
fn every_schema_error_is_reported() {
    let a = with(api(), "/spec/state", json!("RUNNING"));
    let a = with(a, "/spec/visibility", json!("SECRET"));
    let a = with(a, "/spec/plans/0/order", json!("first"));
    let v = create(&a, &[]);
    let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(v.violations.len(), 3, "{v:?}");
    for f in ["spec.state", "spec.visibility", "spec.plans[0].order"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert!(v.violations.iter().all(|v| v.cause == Cause::Schema));
    assert!(v.violations.contains(&Violation {
        rule: "schema-enum",
        field: "spec.state".into(),
        message: "\"RUNNING\" is not a valid value; use one of STARTED, STOPPED".into(),
        cause: Cause::Schema,
    }));
}

#[test]
fn an_unknown_field_is_a_schema_error_with_a_suggestion() {
    let a = with(api(), "/spec/contextref", json!({"name": "dev"}));
    let v = create(&a, &[]);
    assert_eq!(
        v.violations,
        vec![Violation {
            rule: "schema-unknown-field",
            field: "spec.contextref".into(),
            message: "unknown field `contextref`: it is not part of the ApiDefinition schema; did you mean `contextRef`? remove it or correct its spelling".into(),
            cause: Cause::Schema,
        }]
    );
}

/// Reported once (by the schema), with the message saying what a spec needs.
#[test]
fn a_missing_spec_is_denied_once() {
    let cases = [
        (
            api(),
            "api-spec-missing",
            "is required; an ApiDefinition needs at least name, version, proxy and plans",
        ),
        (
            context(),
            "context-spec-missing",
            "is required; a ManagementContext needs baseUrl, organizationId, environmentId and auth",
        ),
        (
            resource("cache", "my-cache", "cache"),
            "resource-spec-missing",
            "is required; an ApiResource needs name, type and configuration",
        ),
    ];
    for (object, id, message) in cases {
        let v = create(&without(object, "/spec"), &[]);
        assert_denied(
            &v,
            &[Violation {
                cause: Cause::Schema,
                ..rule(id, "spec", message)
            }],
        );
    }
}

#[test]
fn a_request_without_object_is_denied() {
    let obj = api();
    let mut req = request(Operation::Create, &obj, None);
    req.object = None;
    let v = Engine::default().validate(&req, &ManifestSet::new());
    assert_denied(
        &v,
        &[rule(
            "request-object-missing",
            "object",
            "the request carries no object to validate",
        )],
    );
}

#[test]
fn an_update_of_an_object_being_deleted_is_always_allowed() {
    let broken = without(api(), "/spec/name");
    let mut deleting = with(broken.clone(), "/spec/state", json!("RUNNING"));
    deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    let v = Engine::default().validate(
        &request(Operation::Update, &deleting, Some(&broken)),
        &ManifestSet::new(),
    );
    assert_allowed(&v);
}

#[test]
fn an_update_with_an_unchanged_spec_only_warns() {
    let broken = without(api(), "/spec/name");
    let mut relabelled = broken.clone();
    relabelled["metadata"]["labels"] = json!({"team": "orders"});
    let v = Engine::default().validate(
        &request(Operation::Update, &relabelled, Some(&broken)),
        &ManifestSet::new(),
    );
    assert_warned(
        &v,
        &[rule("api-name-missing", 
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name (the spec is unchanged, so this update is allowed)",
        )],
    );
}

#[test]
fn an_update_that_changes_the_spec_is_denied() {
    let broken = without(api(), "/spec/name");
    let changed = with(broken.clone(), "/spec/version", json!("2.0"));
    let v = Engine::default().validate(
        &request(Operation::Update, &changed, Some(&broken)),
        &ManifestSet::new(),
    );
    assert_denied(
        &v,
        &[rule(
            "api-name-missing",
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name",
        )],
    );
}

#[test]
fn deleting_an_api_definition_and_connect_are_allowed() {
    assert_allowed(&delete(Kind::ApiDefinition, "default", "orders", &[api()]));
    let obj = api();
    let v = Engine::default().validate(
        &request(Operation::Connect, &obj, None),
        &ManifestSet::new(),
    );
    assert_allowed(&v);
}

#[test]
fn the_denial_message_names_the_object_and_every_violation() {
    let a = without(without(api(), "/spec/name"), "/spec/version");
    let v = create(&a, &[]);
    assert_eq!(
        v.denial_message(Kind::ApiDefinition, "default", "orders"),
        "ApiDefinition default/orders: spec.name: is required: APIM needs a name for the API; set spec.name; spec.version: is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\""
    );
}

#[test]
fn warning_lines_name_the_object() {
    let v = create(&without(api(), "/spec/description"), &[]);
    assert_eq!(
        v.warning_lines(Kind::ApiDefinition, "default", "orders"),
        vec!["ApiDefinition default/orders: spec.description: is empty; APIM 4.x requires a description, set spec.description"]
    );
}

#[test]
fn schema_errors_carry_the_rule_id_of_their_kind_of_error() {
    let a = with(api(), "/spec/plans/0/order", json!("first"));
    let a = with(a, "/spec/contextRef", json!({}));
    let v = create(&a, &[]);
    let ids: Vec<(&str, &str)> = v
        .violations
        .iter()
        .map(|v| (v.rule, v.field.as_str()))
        .collect();
    assert!(
        ids.contains(&("schema-type", "spec.plans[0].order")),
        "{ids:?}"
    );
    assert!(
        ids.contains(&("schema-required", "spec.contextRef.name")),
        "{ids:?}"
    );
    assert!(
        v.violations.iter().all(|v| v.cause == Cause::Schema),
        "{v:?}"
    );
}
