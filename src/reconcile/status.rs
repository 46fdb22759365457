//! Status helpers: condition constructors, the one mapping from an APIM error to a condition and a retry
//! policy, and merge patches of the status subresource that only send what changed.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::apim::ApimError;
use crate::crd::common::{find_condition, set_condition};
use crate::crd::Condition;

pub const ACCEPTED: &str = "Accepted";
pub const RESOLVED_REFS: &str = "ResolvedRefs";
pub const SYNCED: &str = "Synced";
pub const READY: &str = "Ready";
pub const DRIFTED: &str = "Drifted";
/// Deletion of a context or resource waits for the objects still using it.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";

pub const COMPLETED: &str = "Completed";
pub const FAILED: &str = "Failed";

/// Now, RFC 3339 with second precision (as `metav1.Time`).
pub fn now() -> String {
    let ts = jiff::Timestamp::now();
    let secs = jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts);
    secs.to_string()
}

/// Every condition reason gko writes: one typed list, so a reason cannot be misspelt and README's table
/// of reasons has one source. Event reasons that repeat a condition's use [`Reason::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `Accepted`: the object was read and is handled.
    Accepted,
    /// `ResolvedRefs` true: every reference resolved.
    Resolved,
    /// `Synced` true: APIM holds the definition.
    Synced,
    /// `Synced` true without a context: deployed through the local ConfigMap only.
    LocalOnly,
    /// No `contextRef` and `local` false: deployed nowhere.
    NoContext,
    /// A reference is missing (details in `ResolvedRefs`).
    RefsUnresolved,
    ContextNotFound,
    ResourceNotFound,
    SecretNotFound,
    ConfigMapNotFound,
    InvalidTemplate,
    /// APIM refused the definition, or it cannot be built.
    InvalidSpec,
    /// The context itself is unusable (URL, credentials shape).
    InvalidContext,
    /// The Management API failed or did not answer (5xx, timeout, connection).
    ApimUnavailable,
    /// The Management API's certificate is not trusted (set `apimCa`).
    TlsUntrusted,
    Unauthorized,
    UnknownEnvironment,
    /// The context's circuit breaker is open.
    ContextUnavailable,
    OwnedByOtherCluster,
    ContextPathConflict,
    ConfigMapFailed,
    DeleteFailed,
    CleanupFailed,
    /// Deletion waits for the objects still using this one.
    InUse,
    /// A context's `Ready` true.
    Reachable,
    /// A context's `Ready` false: the Management API does not answer.
    Unreachable,
    /// `Drifted` false: APIM holds what gko pushed.
    InSync,
    /// `Drifted` true: the API was edited outside gko.
    ConsoleEdit,
    /// `Drifted` false after a console edit was pushed over (`--drift-policy correct`).
    Corrected,
    /// `Synced` false for good: a GKO ingress template (annotation `gravitee.io/template: "true"`) is never pushed.
    IngressTemplate,
    /// `AutomationAPIManaged` true (GKO 4.12+'s condition on v4 APIs): pushed in HRID mode through the
    /// Automation API, so the object stays in HRID mode.
    AutomationApiManaged,
}

impl Reason {
    /// Every reason, for the README check.
    pub const ALL: [Reason; 31] = [
        Reason::Accepted,
        Reason::Resolved,
        Reason::Synced,
        Reason::LocalOnly,
        Reason::NoContext,
        Reason::RefsUnresolved,
        Reason::ContextNotFound,
        Reason::ResourceNotFound,
        Reason::SecretNotFound,
        Reason::ConfigMapNotFound,
        Reason::InvalidTemplate,
        Reason::InvalidSpec,
        Reason::InvalidContext,
        Reason::ApimUnavailable,
        Reason::TlsUntrusted,
        Reason::Unauthorized,
        Reason::UnknownEnvironment,
        Reason::ContextUnavailable,
        Reason::OwnedByOtherCluster,
        Reason::ContextPathConflict,
        Reason::ConfigMapFailed,
        Reason::DeleteFailed,
        Reason::CleanupFailed,
        Reason::InUse,
        Reason::Reachable,
        Reason::Unreachable,
        Reason::InSync,
        Reason::ConsoleEdit,
        Reason::Corrected,
        Reason::IngressTemplate,
        Reason::AutomationApiManaged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Accepted => "Accepted",
            Reason::Resolved => "Resolved",
            Reason::Synced => "Synced",
            Reason::LocalOnly => "LocalOnly",
            Reason::NoContext => "NoContext",
            Reason::RefsUnresolved => "RefsUnresolved",
            Reason::ContextNotFound => "ContextNotFound",
            Reason::ResourceNotFound => "ResourceNotFound",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::ConfigMapNotFound => "ConfigMapNotFound",
            Reason::InvalidTemplate => "InvalidTemplate",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::InvalidContext => "InvalidContext",
            Reason::ApimUnavailable => "ApimUnavailable",
            Reason::TlsUntrusted => "TlsUntrusted",
            Reason::Unauthorized => "Unauthorized",
            Reason::UnknownEnvironment => "UnknownEnvironment",
            Reason::ContextUnavailable => "ContextUnavailable",
            Reason::OwnedByOtherCluster => "OwnedByOtherCluster",
            Reason::ContextPathConflict => "ContextPathConflict",
            Reason::ConfigMapFailed => "ConfigMapFailed",
            Reason::DeleteFailed => "DeleteFailed",
            Reason::CleanupFailed => "CleanupFailed",
            Reason::InUse => "InUse",
            Reason::Reachable => "Reachable",
            Reason::Unreachable => "Unreachable",
            Reason::InSync => "InSync",
            Reason::ConsoleEdit => "ConsoleEdit",
            Reason::Corrected => "Corrected",
            Reason::IngressTemplate => "IngressTemplate",
            Reason::AutomationApiManaged => "AutomationAPIManaged",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition stamped now.
pub fn condition(
    type_: &str,
    ok: bool,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.as_str().to_owned(),
        message: truncate(&message.into(), 1024),
        last_transition_time: now(),
        observed_generation: generation,
    }
}

/// Upserts a condition (see [`set_condition`]); true when it changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    ok: bool,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
) -> bool {
    set_condition(
        conditions,
        condition(type_, ok, reason, message, generation),
    )
}

pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}

pub fn reason_of<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a str> {
    find_condition(conditions, type_).map(|c| c.reason.as_str())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// When to try again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Transient: capped exponential backoff with jitter.
    Backoff,
    /// Needs a fix elsewhere (credentials, environment): try again after this long, or when something changes.
    Slow(Duration),
    /// The definition itself is wrong: only a change of the object brings a new attempt.
    OnChange,
}

/// An APIM error as a condition reason, a message and a retry policy: the one mapping, used by every
/// controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub reason: Reason,
    pub message: String,
    pub retry: Retry,
    /// Whether the failure says the Management API is down (feeds the per-context circuit breaker).
    pub unreachable: bool,
}

/// Slow requeue for failures that need a configuration change.
pub const SLOW_REQUEUE: Duration = Duration::from_secs(300);

pub fn classify(err: &ApimError) -> Classified {
    let message = err.to_string();
    match err {
        ApimError::Transient { .. } | ApimError::Protocol { .. } | ApimError::NotFound { .. } => {
            Classified {
                reason: Reason::ApimUnavailable,
                message,
                retry: Retry::Backoff,
                unreachable: matches!(err, ApimError::Transient { .. }),
            }
        }
        ApimError::Unauthorized { .. } => Classified {
            reason: Reason::Unauthorized,
            message,
            retry: Retry::Slow(SLOW_REQUEUE),
            unreachable: false,
        },
        ApimError::Invalid { message } => Classified {
            reason: Reason::InvalidSpec,
            message: message.clone(),
            retry: Retry::OnChange,
            unreachable: false,
        },
        ApimError::UnknownEnvironment { .. } => Classified {
            reason: Reason::UnknownEnvironment,
            message,
            retry: Retry::Slow(SLOW_REQUEUE),
            unreachable: false,
        },
        ApimError::Tls { reason, .. } => Classified {
            reason: Reason::TlsUntrusted,
            message: reason.clone(),
            retry: Retry::Slow(SLOW_REQUEUE),
            unreachable: false,
        },
        ApimError::Config(_) => Classified {
            reason: Reason::InvalidContext,
            message,
            retry: Retry::Slow(SLOW_REQUEUE),
            unreachable: false,
        },
    }
}

/// RFC 7386 merge patch turning `old` into `new` (`None` when they are equal). Keys missing from `new` become
/// `null`; arrays are replaced whole.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

/// Merge-patches the status subresource from `old` to `new`; no call when nothing changed. Returns whether a
/// patch was sent.
pub async fn patch_status<K, S>(
    api: &Api<K>,
    name: &str,
    old: Option<&S>,
    new: &S,
) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let old = old
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Object(Map::new()));
    let new = serde_json::to_value(new).map_err(kube::Error::SerdeError)?;
    let Some(diff) = merge_diff(&old, &new) else {
        return Ok(false);
    };
    let body = serde_json::json!({ "status": diff });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_map_to_reasons_and_retries() {
        let t = classify(&ApimError::Transient {
            call: "PUT /x".into(),
            status: Some(503),
            reason: "HTTP 503".into(),
        });
        assert_eq!(
            (t.reason, t.retry, t.unreachable),
            (Reason::ApimUnavailable, Retry::Backoff, true)
        );
        let u = classify(&ApimError::Unauthorized {
            call: "PUT /x".into(),
            status: 401,
        });
        assert_eq!(u.reason, Reason::Unauthorized);
        assert_eq!(u.retry, Retry::Slow(SLOW_REQUEUE));
        assert!(!u.unreachable);
        let i = classify(&ApimError::Invalid {
            message: "The path [/a/] is taken".into(),
        });
        assert_eq!(i.reason, Reason::InvalidSpec);
        assert_eq!(i.message, "The path [/a/] is taken");
        assert_eq!(i.retry, Retry::OnChange);
        let e = classify(&ApimError::UnknownEnvironment {
            organization_id: "o".into(),
            environment_id: "e".into(),
        });
        assert_eq!(e.reason, Reason::UnknownEnvironment);
        assert_eq!(
            classify(&ApimError::Config("x".into())).reason,
            Reason::InvalidContext
        );
        let p = classify(&ApimError::Protocol {
            call: "c".into(),
            reason: "r".into(),
        });
        assert_eq!((p.retry, p.unreachable), (Retry::Backoff, false));
    }

    #[test]
    fn merge_diff_sends_only_changes_and_nulls_removals() {
        let old = json!({"id": "a", "plans": {"p1": "x", "p2": "y"}, "syncedHash": "h", "conditions": [1]});
        let new = json!({"id": "a", "plans": {"p1": "x"}, "conditions": [1, 2]});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"plans": {"p2": null}, "syncedHash": null, "conditions": [1, 2]}))
        );
        assert_eq!(merge_diff(&new, &new), None);
    }

    #[test]
    fn conditions_keep_transition_time_when_status_is_unchanged() {
        let mut list = Vec::new();
        assert!(set(
            &mut list,
            SYNCED,
            false,
            Reason::ApimUnavailable,
            "down",
            Some(1)
        ));
        let first = list[0].last_transition_time.clone();
        assert!(set(
            &mut list,
            SYNCED,
            false,
            Reason::ApimUnavailable,
            "still down",
            Some(1)
        ));
        assert_eq!(list[0].last_transition_time, first);
        assert!(!set(
            &mut list,
            SYNCED,
            false,
            Reason::ApimUnavailable,
            "still down",
            Some(1)
        ));
        assert!(is_true(
            &{
                let mut l = list.clone();
                set(&mut l, SYNCED, true, Reason::Synced, "", Some(2));
                l
            },
            SYNCED
        ));
        assert_eq!(reason_of(&list, SYNCED), Some("ApimUnavailable"));
        assert!(now().ends_with('Z'));
    }
}
