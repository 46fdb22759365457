//! The reconciler's decisions as pure functions over (object, last status, remote state): what to do with
//! a built payload, and whether a remote API may be overwritten. The controllers do the I/O around them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::payload;
use crate::crd::ApiDefinitionStatus;
use crate::model::INGRESS_TEMPLATE_ANNOTATION;

/// Why an ApiDefinition is never pushed, if it is not: a GKO ingress template (annotation
/// `gravitee.io/template: "true"`) only serves as a model for Ingresses, as in GKO.
pub fn never_pushed(annotations: &BTreeMap<String, String>) -> Option<&'static str> {
    (annotations.get(INGRESS_TEMPLATE_ANNOTATION).map(String::as_str) == Some("true")).then_some(
        "ingress template (annotation gravitee.io/template: \"true\"): never pushed to APIM; remove the annotation to sync it",
    )
}

/// What to do with an ApiDefinition whose references resolved and whose payload is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushDecision {
    /// APIM already holds exactly this payload (same environment, same hash): no write.
    Skip {
        /// A drift check is due.
        check_drift: bool,
        /// The status lost its `Synced` condition (e.g. written by an older version): set it again.
        restore_synced: bool,
    },
    /// APIM refused exactly this payload: wait for a change of the object or of what it references.
    WaitForChange,
    /// Push it (after the ownership check).
    Push,
}

/// The push decision. `context` is the context the payload is for (`namespace/name`), `hash` the
/// payload's sync hash, `synced` whether the status's `Synced` condition is true, `drift_due` whether
/// the drift clock of this object ran out.
pub fn push_decision(
    last: &ApiDefinitionStatus,
    context: &str,
    hash: &str,
    synced: bool,
    drift_due: bool,
) -> PushDecision {
    let same_env = last.synced_context.as_deref() == Some(context);
    if same_env && last.synced_hash.as_deref() == Some(hash) {
        return PushDecision::Skip {
            check_drift: drift_due,
            restore_synced: !synced,
        };
    }
    if last.failed_hash.as_deref() == Some(hash) {
        return PushDecision::WaitForChange;
    }
    PushDecision::Push
}

/// Whether gko may write over the API APIM holds under the same crossId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// No API yet, an API without a cluster stamp, or one stamped by this cluster.
    Ours,
    /// Stamped by another cluster, and the object asks to take it over.
    TakeOver { from: String },
    /// Stamped by another cluster: refuse.
    Refuse { owner: String },
}

/// The ownership decision from the remote API's cluster stamp (`None` when APIM has no such API or it
/// carries no stamp), this cluster's id and the object's takeover annotation.
pub fn ownership(remote_cluster: Option<&str>, ours: &str, takeover: bool) -> Ownership {
    match remote_cluster.filter(|c| *c != ours) {
        None => Ownership::Ours,
        Some(other) if takeover => Ownership::TakeOver {
            from: other.to_owned(),
        },
        Some(other) => Ownership::Refuse {
            owner: other.to_owned(),
        },
    }
}

/// Whether APIM already holds what gko would push (every drift field, and the definition context): then
/// adopting the API, e.g. one GKO created, needs no write.
pub fn already_held(pushed: &Value, remote: &Value) -> bool {
    payload::drifted_fields(pushed, remote).is_empty()
        && payload::covers(
            remote.get("definition_context").unwrap_or(&Value::Null),
            pushed.get("definition_context").unwrap_or(&Value::Null),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced_to(context: &str, hash: &str) -> ApiDefinitionStatus {
        ApiDefinitionStatus {
            synced_context: Some(context.into()),
            synced_hash: Some(hash.into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_unchanged_payload_is_not_pushed_again() {
        let last = synced_to("apim/dev", "h1");
        assert_eq!(
            push_decision(&last, "apim/dev", "h1", true, false),
            PushDecision::Skip {
                check_drift: false,
                restore_synced: false
            }
        );
        assert_eq!(
            push_decision(&last, "apim/dev", "h1", false, true),
            PushDecision::Skip {
                check_drift: true,
                restore_synced: true
            }
        );
    }

    #[test]
    fn a_change_of_payload_or_of_context_pushes() {
        let last = synced_to("apim/dev", "h1");
        assert_eq!(
            push_decision(&last, "apim/dev", "h2", true, false),
            PushDecision::Push
        );
        // Same payload, promoted to another context: a first push there.
        assert_eq!(
            push_decision(&last, "apim/prod", "h1", true, false),
            PushDecision::Push
        );
        assert_eq!(
            push_decision(
                &ApiDefinitionStatus::default(),
                "apim/dev",
                "h1",
                false,
                false
            ),
            PushDecision::Push
        );
    }

    #[test]
    fn a_payload_apim_refused_waits_for_a_change() {
        let last = ApiDefinitionStatus {
            failed_hash: Some("bad".into()),
            ..synced_to("apim/dev", "h1")
        };
        assert_eq!(
            push_decision(&last, "apim/dev", "bad", false, false),
            PushDecision::WaitForChange
        );
        assert_eq!(
            push_decision(&last, "apim/dev", "fixed", false, false),
            PushDecision::Push
        );
    }

    #[test]
    fn an_ingress_template_is_never_pushed() {
        let annotations =
            |v: &str| BTreeMap::from([(INGRESS_TEMPLATE_ANNOTATION.to_string(), v.to_string())]);
        assert!(never_pushed(&annotations("true")).is_some());
        assert_eq!(never_pushed(&annotations("false")), None);
        assert_eq!(never_pushed(&BTreeMap::new()), None);
    }

    #[test]
    fn another_clusters_api_is_refused_unless_taken_over() {
        assert_eq!(ownership(None, "a", false), Ownership::Ours);
        assert_eq!(ownership(Some("a"), "a", false), Ownership::Ours);
        assert_eq!(
            ownership(Some("b"), "a", false),
            Ownership::Refuse { owner: "b".into() }
        );
        assert_eq!(
            ownership(Some("b"), "a", true),
            Ownership::TakeOver { from: "b".into() }
        );
    }

    #[test]
    fn an_api_apim_already_holds_is_adopted_without_a_write() {
        let pushed = serde_json::json!({
            "name": "orders", "proxy": {"virtual_hosts": [{"path": "/orders"}]},
            "plans": [{"crossId": "p1", "name": "free", "security": "KEY_LESS"}],
            "properties": [{"key": "gko.cluster-id", "value": "c1"}],
            "definition_context": {"origin": "kubernetes", "mode": "fully_managed"}
        });
        let mut remote = pushed.clone();
        remote["id"] = "a1".into();
        remote["plans"][0]["id"] = "plan-1".into();
        remote["lifecycle_state"] = "PUBLISHED".into();
        assert!(already_held(&pushed, &remote));
        // GKO's API lacks gko's ownership stamp: one write adds it.
        let mut unstamped = remote.clone();
        unstamped["properties"] = serde_json::json!([]);
        assert!(!already_held(&pushed, &unstamped));
        let mut console = remote.clone();
        console["definition_context"]["origin"] = "management".into();
        assert!(!already_held(&pushed, &console));
    }
}
