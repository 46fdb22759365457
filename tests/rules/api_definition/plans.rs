//! ApiDefinition rules: `spec.plans`: presence, names, security types.

use super::*;

const NO_PLAN: &str = "is empty but spec.state is STARTED; add at least one plan (e.g. {name: free, security: KEY_LESS}) or set spec.state: STOPPED";

#[test]
fn a_started_api_needs_a_plan() {
    assert_denied(
        &create(&without(api(), "/spec/plans"), &[]),
        &[rule("api-plans-missing", "spec.plans", NO_PLAN)],
    );
    assert_denied(
        &create(&with(api(), "/spec/plans", json!([])), &[]),
        &[rule("api-plans-missing", "spec.plans", NO_PLAN)],
    );
    let started = with(api(), "/spec/state", json!("STARTED"));
    assert_denied(
        &create(&with(started, "/spec/plans", json!([])), &[]),
        &[rule("api-plans-missing", "spec.plans", NO_PLAN)],
    );
}

#[test]
fn a_stopped_api_may_have_no_plan() {
    let a = with(
        without(api(), "/spec/plans"),
        "/spec/state",
        json!("STOPPED"),
    );
    assert_allowed(&create(&a, &[]));
}

#[test]
fn plan_names_are_unique() {
    let a = with(
        api(),
        "/spec/plans",
        json!([
            {"name": "free", "security": "KEY_LESS"},
            {"name": "keys", "security": "API_KEY"},
            {"name": " free ", "security": "API_KEY"}
        ]),
    );
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-name-duplicate", 
            "spec.plans[2].name",
            "plan name \"free\" is already used by spec.plans[0]; plan names must be unique, rename one",
        )],
    );
}

#[test]
fn a_plan_needs_a_name() {
    let a = with(api(), "/spec/plans", json!([{"security": "KEY_LESS"}]));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-plan-name-missing",
            "spec.plans[0].name",
            "is required; give the plan a name",
        )],
    );
}

#[test]
fn every_known_security_type_is_accepted() {
    let a = with(
        api(),
        "/spec/plans",
        json!([
            {"name": "a", "security": "KEY_LESS"},
            {"name": "b", "security": "API_KEY"}
        ]),
    );
    assert_allowed(&create(&a, &[]));
}

#[test]
fn a_plan_needs_a_security_type() {
    let a = with(api(), "/spec/plans", json!([{"name": "free"}]));
    assert_denied(
        &create(&a, &[]),
        &[rule(
            "api-plan-security-missing",
            "spec.plans[0].security",
            "is required; use one of KEY_LESS, API_KEY, OAUTH2, JWT",
        )],
    );
}

#[test]
fn an_unknown_security_type_suggests_the_close_one() {
    let a = with(api(), "/spec/plans/0/security", json!("keyless"));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-security-unknown", 
            "spec.plans[0].security",
            "\"keyless\" is not a known plan security type (did you mean KEY_LESS?); use one of KEY_LESS, API_KEY, OAUTH2, JWT",
        )],
    );
    let a = with(api(), "/spec/plans/0/security", json!("api-key"));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-security-unknown", 
            "spec.plans[0].security",
            "\"api-key\" is not a known plan security type (did you mean API_KEY?); use one of KEY_LESS, API_KEY, OAUTH2, JWT",
        )],
    );
}

#[test]
fn an_unknown_security_type_without_a_close_one_has_no_hint() {
    let a = with(api(), "/spec/plans/0/security", json!("BASIC"));
    assert_denied(
        &create(&a, &[]),
        &[rule("api-plan-security-unknown", 
            "spec.plans[0].security",
            "\"BASIC\" is not a known plan security type; use one of KEY_LESS, API_KEY, OAUTH2, JWT",
        )],
    );
}

#[test]
fn a_templated_security_type_is_checked_through_its_reference() {
    let a = with(
        api(),
        "/spec/plans/0/security",
        json!("[[ secret `plan-settings/security` ]]"),
    );
    assert_allowed(&create(&a, &[secret("plan-settings", &["security"])]));
}
