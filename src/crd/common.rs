//! Types shared by the three kinds: references and status conditions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// A reference to another namespaced object (`contextRef`, `resources[].ref`, `secretRef`).
/// `namespace` defaults to the namespace of the object that holds the reference.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespacedRef {
    pub name: String,
    pub namespace: Option<String>,
    /// Kind of the referenced object (GKO 4.x); informative only.
    pub kind: Option<String>,
}

impl NamespacedRef {
    /// The namespace the reference points to, given the namespace of the referrer.
    pub fn namespace_or<'a>(&'a self, default: &'a str) -> &'a str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => default,
        }
    }
}

/// A standard Kubernetes condition (`metav1.Condition`), as GKO 4.x writes them.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// RFC 3339 time of the last change of `status`.
    pub last_transition_time: String,
    pub observed_generation: Option<i64>,
}

/// Upserts `new` into `conditions` by type; the transition time only moves when the status changes.
/// Returns true when anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            let same = existing.status == new.status
                && existing.reason == new.reason
                && existing.message == new.message
                && existing.observed_generation == new.observed_generation;
            if same {
                return false;
            }
            let time = if existing.status == new.status {
                existing.last_transition_time.clone()
            } else {
                new.last_transition_time.clone()
            };
            *existing = Condition {
                last_transition_time: time,
                ..new
            };
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Looks a condition up by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: &str, time: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "R".into(),
            message: String::new(),
            last_transition_time: time.into(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut list = vec![cond("True", "t1")];
        assert!(!set_condition(&mut list, cond("True", "t2")));
        assert_eq!(list[0].last_transition_time, "t1");
        assert!(set_condition(&mut list, cond("False", "t3")));
        assert_eq!(list[0].last_transition_time, "t3");
        assert!(set_condition(
            &mut list,
            Condition {
                type_: "Synced".into(),
                ..cond("True", "t4")
            }
        ));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn ref_namespace_defaults_to_referrer() {
        let r = NamespacedRef {
            name: "a".into(),
            namespace: None,
            kind: None,
        };
        assert_eq!(r.namespace_or("team"), "team");
        let r = NamespacedRef {
            namespace: Some(String::new()),
            ..r
        };
        assert_eq!(r.namespace_or("team"), "team");
    }
}
