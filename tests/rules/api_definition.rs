//! ApiDefinition rules on the API itself; the other concerns are in the submodules.

use super::*;

const LOCAL_MSG: &str = "is false (the default since GKO 4.x) and spec.contextRef is not set, so the API would be deployed nowhere; set spec.contextRef to a ManagementContext, or set spec.local: true to deploy it to the gateway through a ConfigMap";

fn with_context_ref(r: Value) -> Value {
    let a = without(api(), "/spec/local");
    with(a, "/spec/contextRef", r)
}

#[test]
fn the_fixture_is_valid() {
    assert_allowed(&create(&api(), &[]));
}

#[test]
fn name_is_required() {
    assert_denied(
        &create(&without(api(), "/spec/name"), &[]),
        &[rule(
            "api-name-missing",
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name",
        )],
    );
    assert_denied(
        &create(&with(api(), "/spec/name", json!("  ")), &[]),
        &[rule(
            "api-name-missing",
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name",
        )],
    );
}

#[test]
fn version_is_required() {
    assert_denied(
        &create(&without(api(), "/spec/version"), &[]),
        &[rule(
            "api-version-missing",
            "spec.version",
            "is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\"",
        )],
    );
}

#[test]
fn missing_description_only_warns() {
    assert_warned(
        &create(&without(api(), "/spec/description"), &[]),
        &[rule(
            "api-description-missing",
            "spec.description",
            "is empty; APIM 4.x requires a description, set spec.description",
        )],
    );
}

#[test]
fn context_ref_resolves_in_the_api_namespace_by_default() {
    let a = with_context_ref(json!({"name": "dev"}));
    assert_allowed(&create(&a, &[context_named("default", "dev")]));
    assert_denied(
        &create(&a, &[context_named("other", "dev")]),
        &[reference("api-context-not-found", 
            "spec.contextRef",
            "ManagementContext default/dev does not exist; create it first or fix spec.contextRef.name/namespace",
        )],
    );
}

#[test]
fn context_ref_namespace_defaults_to_the_api_namespace_not_default() {
    let a = in_namespace(with_context_ref(json!({"name": "dev"})), "team");
    assert_allowed(&create(&a, &[context_named("team", "dev")]));
    assert_denied(
        &create(&a, &[context_named("default", "dev")]),
        &[reference("api-context-not-found", 
            "spec.contextRef",
            "ManagementContext team/dev does not exist; create it first or fix spec.contextRef.name/namespace",
        )],
    );
}

#[test]
fn context_ref_may_point_to_another_namespace() {
    let a = with_context_ref(json!({"name": "dev", "namespace": "apim"}));
    assert_allowed(&create(&a, &[context_named("apim", "dev")]));
    assert_denied(
        &create(&a, &[context_named("default", "dev")]),
        &[reference("api-context-not-found", 
            "spec.contextRef",
            "ManagementContext apim/dev does not exist; create it first or fix spec.contextRef.name/namespace",
        )],
    );
}

#[test]
fn context_ref_name_must_not_be_empty() {
    assert_denied(
        &create(&with_context_ref(json!({"name": ""})), &[]),
        &[rule(
            "api-context-ref-name-empty",
            "spec.contextRef.name",
            "is empty; name the ManagementContext to push this API to",
        )],
    );
}

#[test]
fn a_non_local_api_needs_a_context() {
    assert_denied(
        &create(&with(api(), "/spec/local", json!(false)), &[]),
        &[rule("api-local-without-context", "spec.local", LOCAL_MSG)],
    );
    // Absent means false (the GKO 4.x default).
    assert_denied(
        &create(&without(api(), "/spec/local"), &[]),
        &[rule("api-local-without-context", "spec.local", LOCAL_MSG)],
    );
}

#[test]
fn a_local_api_with_a_context_is_fine() {
    let a = with(api(), "/spec/contextRef", json!({"name": "dev"}));
    assert_allowed(&create(&a, &[context_named("default", "dev")]));
}

#[test]
fn cross_id_must_be_a_uuid() {
    let ok = with(
        api(),
        "/spec/crossId",
        json!("2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d"),
    );
    assert_allowed(&create(&ok, &[]));
    assert_denied(
        &create(&with(api(), "/spec/crossId", json!("orders-api")), &[]),
        &[rule("api-cross-id-invalid", 
            "spec.crossId",
            "\"orders-api\" is not a UUID (like 2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d); fix it, or remove it and gko derives a stable one",
        )],
    );
}

#[test]
fn plan_cross_id_must_be_a_uuid() {
    let ok = with(
        api(),
        "/spec/plans/0/crossId",
        json!("7F3C1E2A-0B4D-4E5F-8A9B-0C1D2E3F4A5B"),
    );
    assert_allowed(&create(&ok, &[]));
    assert_denied(
        &create(&with(api(), "/spec/plans/0/crossId", json!("7f3c1e2a0b4d4e5f8a9b0c1d2e3f4a5b")), &[]),
        &[rule("api-plan-cross-id-invalid", 
            "spec.plans[0].crossId",
            "\"7f3c1e2a0b4d4e5f8a9b0c1d2e3f4a5b\" is not a UUID; fix it, or remove it and gko derives one from the API and the plan name",
        )],
    );
}

mod clashes;
mod endpoints;
mod entrypoints;
mod gko_parity;
mod jwt;
mod oauth2;
mod plans;
mod resources;
mod templating;
