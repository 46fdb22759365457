//! The v4 controller's decisions as pure functions: push or skip, and the status a push answer makes.

use crate::apim::{V4Identity, V4PushResult, V4Route};
use crate::crd::api_definition::{ApiErrors, ApiState};
use crate::crd::api_v4_definition::AUTOMATION_API_MANAGED;
use crate::crd::ApiV4DefinitionStatus;
use crate::reconcile::decide::PushDecision;
use crate::reconcile::status::{self, Reason, COMPLETED, SYNCED};

/// Like the v2 decision: skip when the same context already holds this hash, wait when APIM refused
/// exactly this payload, push otherwise.
pub fn push_decision(
    last: &ApiV4DefinitionStatus,
    context: &str,
    hash: &str,
    drift_due: bool,
) -> PushDecision {
    let same_env = last.synced_context.as_deref() == Some(context);
    if same_env && last.synced_hash.as_deref() == Some(hash) {
        return PushDecision::Skip {
            check_drift: drift_due,
            restore_synced: !status::is_true(&last.conditions, SYNCED),
        };
    }
    if last.failed_hash.as_deref() == Some(hash) {
        return PushDecision::WaitForChange;
    }
    PushDecision::Push
}

/// What a successful push writes into status, GKO's fields and gko's own.
pub struct Pushed<'a> {
    pub result: &'a V4PushResult,
    pub identity: &'a V4Identity,
    pub hash: String,
    pub context: String,
    pub cluster_id: String,
    pub generation: Option<i64>,
    /// Warnings, already redacted.
    pub warnings: Vec<String>,
}

/// Records a successful push. `AutomationAPIManaged` is added once an HRID-mode push went through the
/// Automation API (never in legacy mode, as GKO does), and kept afterwards.
pub fn record_push(st: &mut ApiV4DefinitionStatus, pushed: Pushed<'_>) {
    let r = pushed.result;
    st.id = Some(r.id.clone());
    if !r.cross_id.is_empty() {
        st.cross_id = Some(r.cross_id.clone());
    }
    st.organization_id = Some(r.organization_id.clone()).filter(|s| !s.is_empty());
    st.environment_id = Some(r.environment_id.clone()).filter(|s| !s.is_empty());
    st.state = Some(if r.state == "STOPPED" {
        ApiState::Stopped
    } else {
        ApiState::Started
    });
    if !r.plans.is_empty() {
        st.plans = Some(r.plans.clone());
    }
    st.errors = (!pushed.warnings.is_empty()).then(|| ApiErrors {
        severe: None,
        warning: Some(pushed.warnings.clone()),
    });
    st.synced_hash = Some(pushed.hash);
    st.failed_hash = None;
    st.synced_context = Some(pushed.context.clone());
    st.cluster_id = Some(pushed.cluster_id);
    st.processing_status = Some(COMPLETED.into());
    if r.route == V4Route::Automation && !pushed.identity.is_legacy() {
        status::set(
            &mut st.conditions,
            AUTOMATION_API_MANAGED,
            true,
            Reason::AutomationApiManaged,
            "",
            pushed.generation,
        );
    }
    status::set(
        &mut st.conditions,
        SYNCED,
        true,
        Reason::Synced,
        format!(
            "pushed to {} through {}",
            pushed.context,
            match r.route {
                V4Route::Automation => "the Automation API",
                V4Route::ImportCrd => "_import/crd",
            }
        ),
        pushed.generation,
    );
}

/// Top-level fields a console user can edit and gko sets, compared by drift checks.
pub const DRIFT_FIELDS: [&str; 14] = [
    "name",
    "description",
    "version",
    "type",
    "listeners",
    "endpointGroups",
    "flows",
    "analytics",
    "failover",
    "tags",
    "labels",
    "visibility",
    "lifecycleState",
    "state",
];

/// The fields of [`DRIFT_FIELDS`] whose value differs between what gko pushed and what APIM holds (a field
/// APIM does not return is not drift).
pub fn drifted_fields(pushed: &serde_json::Value, remote: &serde_json::Value) -> Vec<String> {
    DRIFT_FIELDS
        .iter()
        .filter(|f| match (pushed.get(**f), remote.get(**f)) {
            (_, None) => false,
            (Some(a), Some(b)) => a != b,
            (None, Some(b)) => !b.is_null(),
        })
        .map(|f| (*f).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn result(route: V4Route) -> V4PushResult {
        V4PushResult {
            id: "id-1".into(),
            cross_id: "c-1".into(),
            organization_id: "DEFAULT".into(),
            environment_id: "DEFAULT".into(),
            state: "STOPPED".into(),
            plans: BTreeMap::from([("KeyLess".to_string(), String::new())]),
            errors: Default::default(),
            route,
            dry_run: false,
        }
    }

    fn pushed<'a>(r: &'a V4PushResult, identity: &'a V4Identity) -> Pushed<'a> {
        Pushed {
            result: r,
            identity,
            hash: "h".into(),
            context: "ns/dev".into(),
            cluster_id: "c".into(),
            generation: Some(2),
            warnings: vec!["category [x] is not defined".into()],
        }
    }

    #[test]
    fn decision_skips_same_hash_and_waits_on_refused() {
        let mut st = ApiV4DefinitionStatus {
            synced_context: Some("ns/dev".into()),
            synced_hash: Some("h".into()),
            ..Default::default()
        };
        assert_eq!(
            push_decision(&st, "ns/dev", "h", false),
            PushDecision::Skip {
                check_drift: false,
                restore_synced: true
            }
        );
        assert_eq!(
            push_decision(&st, "ns/other", "h", false),
            PushDecision::Push
        );
        st.failed_hash = Some("bad".into());
        assert_eq!(
            push_decision(&st, "ns/dev", "bad", true),
            PushDecision::WaitForChange
        );
        assert_eq!(
            push_decision(&st, "ns/dev", "new", false),
            PushDecision::Push
        );
    }

    #[test]
    fn automation_in_hrid_mode_marks_the_object() {
        let r = result(V4Route::Automation);
        let hrid = V4Identity::Hrid("ns-api".into());
        let mut st = ApiV4DefinitionStatus::default();
        record_push(&mut st, pushed(&r, &hrid));
        assert!(status::is_true(&st.conditions, AUTOMATION_API_MANAGED));
        assert!(status::is_true(&st.conditions, SYNCED));
        assert_eq!(st.state, Some(ApiState::Stopped));
        assert_eq!(st.id.as_deref(), Some("id-1"));
        assert_eq!(st.processing_status.as_deref(), Some(COMPLETED));
        assert!(st.errors.is_some());

        for (route, identity) in [
            (V4Route::Automation, V4Identity::Legacy("id-1".into())),
            (V4Route::ImportCrd, hrid.clone()),
        ] {
            let r = result(route);
            let mut st = ApiV4DefinitionStatus::default();
            record_push(&mut st, pushed(&r, &identity));
            assert!(!status::is_true(&st.conditions, AUTOMATION_API_MANAGED));
        }
    }

    #[test]
    fn drift_compares_what_apim_returns() {
        let pushed = json!({"name": "a", "listeners": [1], "tags": ["x"]});
        let remote = json!({"name": "a", "listeners": [2], "id": "z"});
        assert_eq!(drifted_fields(&pushed, &remote), ["listeners"]);
        assert!(drifted_fields(&pushed, &pushed).is_empty());
    }
}
