use super::*;
use crate::crd::ApiDefinitionSpec;
use serde_json::json;

fn api(spec: Value, status: Option<Value>) -> ApiDefinition {
    let spec: ApiDefinitionSpec = serde_json::from_value(spec).unwrap_or_default();
    let mut a = ApiDefinition::new("my-api", spec);
    a.metadata.namespace = Some("default".into());
    a.status = status.and_then(|s| serde_json::from_value(s).ok());
    a
}

const GKO4: &str = "3d7306da-8a12-9e6b-9749-deaab5bcf711";
const GKO0: &str = "14b2e18f-dae3-3098-88a6-916acdd2c24f";

#[test]
fn status_then_spec_cross_id_win_without_any_lookup() {
    let both = api(
        json!({"crossId": "spec-x"}),
        Some(json!({"crossId": "st-x"})),
    );
    assert_eq!(api_cross_id(&both), ApiCrossId::Known("st-x".into()));
    let spec = api(json!({"crossId": "spec-x"}), Some(json!({"crossId": " "})));
    assert_eq!(api_cross_id(&spec), ApiCrossId::Known("spec-x".into()));
}

#[test]
fn without_them_gkos_own_then_gko_4x_then_gko_0x_are_searched() {
    let ApiCrossId::Search(candidates) = api_cross_id(&api(json!({}), None)) else {
        panic!("expected a search");
    };
    let origins: Vec<Origin> = candidates.iter().map(|c| c.origin).collect();
    assert_eq!(origins, [Origin::Gko, Origin::Gko4, Origin::Gko0]);
    assert_eq!(
        candidates[0].cross_id,
        payload::derived_uuid("default/my-api")
    );
    assert_eq!(candidates[1].cross_id, GKO4);
    assert_eq!(candidates[2].cross_id, GKO0);
    assert_eq!(new_api_cross_id(&api(json!({}), None)), GKO4);
    assert_eq!(api_cross_id_offline(&api(json!({}), None)), GKO4);
}

#[test]
fn the_search_takes_the_first_api_apim_holds() {
    let ApiCrossId::Search(c) = api_cross_id(&api(json!({}), None)) else {
        panic!("expected a search");
    };
    let stamped = Some(Found { gko_stamped: true });
    let unstamped = Some(Found { gko_stamped: false });
    // gko's own derivation: only an API gko stamped.
    assert_eq!(pick(&c, &[stamped, None, None]), Some(0));
    assert_eq!(pick(&c, &[stamped, unstamped, None]), Some(0));
    assert_eq!(pick(&c, &[unstamped, None, None]), None);
    // GKO's: whatever holds it, 4.x before 0.x.
    assert_eq!(pick(&c, &[unstamped, unstamped, None]), Some(1));
    assert_eq!(pick(&c, &[None, unstamped, unstamped]), Some(1));
    assert_eq!(pick(&c, &[None, None, unstamped]), Some(2));
    // Nothing found: a new API.
    assert_eq!(pick(&c, &[None, None, None]), None);
}

fn plans(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn plan_cross_ids_recorded_by_gko_in_status_are_kept() {
    // GKO 4.x made the API with id = uid, and plan crossId U(apiId/free).
    let uid = "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10";
    let gko_plan = "d79d501b-71cd-6f71-4c13-958b6bc58081"; // U(uid/KEY_LESS)
    let status_plans = plans(&[(gko_plan, "plan-id-1")]);
    let sources = PlanSources {
        api_cross_id: GKO4,
        status_id: Some(uid),
        status_plans: Some(&status_plans),
        ..Default::default()
    };
    assert_eq!(plan_cross_id(&sources, "KEY_LESS"), gko_plan);
    // GKO 0.x's derivation of the same.
    let old = "55813342-a2f4-3871-aedc-40176f3d42b6";
    let status_plans = plans(&[(old, "plan-id-1")]);
    let sources = PlanSources {
        status_plans: Some(&status_plans),
        ..sources
    };
    assert_eq!(plan_cross_id(&sources, "KEY_LESS"), old);
}

#[test]
fn plan_cross_ids_gko_pushed_before_are_kept() {
    let legacy = payload::plan_cross_id("api-x", Some("gold"), 3);
    let status_plans = plans(&[(legacy.as_str(), "p")]);
    let sources = PlanSources {
        api_cross_id: "api-x",
        status_id: Some("apim-id"),
        status_plans: Some(&status_plans),
        ..Default::default()
    };
    assert_eq!(plan_cross_id(&sources, "gold"), legacy);
}

#[test]
fn plans_apim_holds_are_matched_by_name_before_any_derivation() {
    let remote = plans(&[("free", "remote-free")]);
    let sources = PlanSources {
        api_cross_id: GKO4,
        remote: Some(&remote),
        ..Default::default()
    };
    assert_eq!(plan_cross_id(&sources, "free"), "remote-free");
    // A plan APIM does not hold: GKO's U(apiId/name), the crossId standing in for a new API's id.
    assert_eq!(
        plan_cross_id(&sources, "gold"),
        gko_ids::plan_cross_id(Derivation::Xxh3, GKO4, "gold")
    );
    let with_id = PlanSources {
        status_id: Some(GKO4),
        ..sources
    };
    assert_eq!(
        plan_cross_id(&with_id, "free"),
        "remote-free",
        "APIM's plan beats the derivation"
    );
}

#[test]
fn a_new_plan_derived_once_is_found_again_in_status() {
    let first = PlanSources {
        api_cross_id: GKO4,
        ..Default::default()
    };
    let derived = plan_cross_id(&first, "free");
    // After the push, APIM assigned the API an id and status records the plan.
    let status_plans = plans(&[(derived.as_str(), "plan-1")]);
    let later = PlanSources {
        api_cross_id: GKO4,
        status_id: Some("apim-assigned"),
        status_plans: Some(&status_plans),
        ..Default::default()
    };
    assert_eq!(plan_cross_id(&later, "free"), derived);
}

#[test]
fn remote_plans_are_read_only_when_status_does_not_tell() {
    let a = api(
        json!({"plans": [{"name": "free"}, {"name": "gold", "crossId": "given"}, {"crossId": "x"}]}),
        None,
    );
    let empty = PlanSources {
        api_cross_id: GKO4,
        ..Default::default()
    };
    assert!(needs_remote_plans(&a, &empty));
    let derived = plan_cross_id(&empty, "free");
    let status_plans = plans(&[(derived.as_str(), "p")]);
    let known = PlanSources {
        status_plans: Some(&status_plans),
        ..empty
    };
    assert!(!needs_remote_plans(&a, &known));
    assert_eq!(
        plan_cross_ids(&a, &known),
        plans(&[("free", derived.as_str())])
    );
}

#[test]
fn remote_plans_are_read_by_name() {
    let d = json!({"plans": [{"name": "free", "crossId": "c1"}, {"name": "", "crossId": "c2"}, {"name": "gold"}]});
    assert_eq!(remote_plans(&d), plans(&[("free", "c1")]));
    assert!(remote_plans(&json!({})).is_empty());
}

#[test]
fn gkos_status_counts_for_the_environment_it_names() {
    let gko: ApiDefinitionStatus =
        serde_json::from_value(json!({"id": "a1", "environmentId": "DEFAULT"})).unwrap_or_default();
    assert!(same_environment(&gko, "apim/dev", "DEFAULT"));
    assert!(!same_environment(&gko, "apim/dev", "OTHER"));
    let no_env: ApiDefinitionStatus =
        serde_json::from_value(json!({"id": "a1"})).unwrap_or_default();
    assert!(same_environment(&no_env, "apim/dev", "DEFAULT"));
    let ours: ApiDefinitionStatus = serde_json::from_value(
        json!({"id": "a1", "environmentId": "DEFAULT", "syncedContext": "apim/prod"}),
    )
    .unwrap_or_default();
    assert!(!same_environment(&ours, "apim/dev", "DEFAULT"));
    assert!(same_environment(&ours, "apim/prod", "DEFAULT"));
    assert!(!same_environment(
        &ApiDefinitionStatus::default(),
        "apim/dev",
        "DEFAULT"
    ));
}
