//! The time budget of one review: derived from the webhook configurations' `timeoutSeconds`
//! (`--webhook-timeout`), so that gko answers with its own message before the API server gives up
//! and shows the user an opaque timeout. The live reads of the resolver and the APIM dry run run
//! inside it; what did not finish in time is named in the answer.

use std::time::Duration;

use super::Doc;
use crate::crd::Kind;
use crate::model::refs::{references, References};

/// The budget for a webhook timeout: the larger of 80% of it and it minus one second. The margin
/// leaves time to encode and send the answer (milliseconds) and to spare for a slow network; 80%
/// keeps a margin for timeouts of a second or two.
pub fn budget_for(webhook_timeout: Duration) -> Duration {
    let fifth = webhook_timeout / 5;
    webhook_timeout - fifth.min(Duration::from_secs(1))
}

/// Which part of a review ran out of budget (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading what the object refers to (the cache missed, the API server is slow).
    Resolve,
    /// The APIM dry run.
    DryRun,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::DryRun => "dry_run",
        }
    }
}

/// "ManagementContext team/dev, Secret team/creds": what the resolver reads for this object.
pub fn describe_references(refs: &References) -> String {
    let named = |kind: &str, keys: &std::collections::BTreeSet<crate::model::ObjectKey>| {
        keys.iter()
            .map(|k| format!("{kind} {k}"))
            .collect::<Vec<_>>()
    };
    let mut all = named("ManagementContext", &refs.contexts);
    all.extend(named("ApiResource", &refs.resources));
    all.extend(named("Secret", &refs.secrets));
    all.extend(named("ConfigMap", &refs.config_maps));
    all.join(", ")
}

/// The answer when the references of an object could not be read within the budget.
pub fn resolve_timeout_message(
    kind: Kind,
    namespace: &str,
    name: &str,
    object: Option<&Doc<'_>>,
    budget: Duration,
) -> String {
    let refs = object
        .map(|o| describe_references(&references(kind, o, namespace)))
        .unwrap_or_default();
    let what = if refs.is_empty() {
        "the objects it depends on".to_owned()
    } else {
        refs
    };
    format!(
        "{kind} {namespace}/{name}: gko could not read {what} within its {}ms review budget (the Kubernetes API server is slow or unreachable); gko cannot decide without it, retry",
        budget.as_millis()
    )
}

/// The finding when the APIM dry run did not finish within the budget.
pub fn dry_run_timeout_message(budget: Duration, fails_open: bool) -> String {
    let consequence = if fails_open {
        "the object was admitted without it"
    } else {
        "retry, or set --apim-dry-run=warn to admit without it"
    };
    format!(
        "did not finish within the {}ms review budget (APIM or the API server is slow); {consequence}",
        budget.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_budget_leaves_a_second_or_a_fifth() {
        assert_eq!(budget_for(Duration::from_secs(5)), Duration::from_secs(4));
        assert_eq!(budget_for(Duration::from_secs(10)), Duration::from_secs(9));
        assert_eq!(budget_for(Duration::from_secs(30)), Duration::from_secs(29));
        assert_eq!(
            budget_for(Duration::from_secs(1)),
            Duration::from_millis(800)
        );
        assert_eq!(
            budget_for(Duration::from_secs(2)),
            Duration::from_millis(1600)
        );
    }

    #[test]
    fn the_message_names_the_object_and_every_reference() {
        let api = json!({"spec": {"contextRef": {"name": "dev"},
                                  "resources": [{"ref": {"name": "cache", "namespace": "shared"}}],
                                  "description": "[[ secret `creds/key` ]]"}});
        let doc = Doc::from_value(&api);
        let m = resolve_timeout_message(
            Kind::ApiDefinition,
            "team",
            "orders",
            Some(&doc),
            Duration::from_secs(4),
        );
        assert!(m.starts_with("ApiDefinition team/orders: gko could not read ManagementContext team/dev, ApiResource shared/cache"), "{m}");
        assert!(m.contains("Secret team/creds"), "{m}");
        assert!(m.contains("4000ms review budget"), "{m}");
        let none =
            resolve_timeout_message(Kind::ApiResource, "team", "r", None, Duration::from_secs(4));
        assert!(none.contains("the objects it depends on"), "{none}");
    }

    #[test]
    fn the_dry_run_message_says_what_happened_to_the_object() {
        assert!(
            dry_run_timeout_message(Duration::from_secs(4), true).contains("admitted without it")
        );
        assert!(dry_run_timeout_message(Duration::from_secs(4), false).contains("retry"));
    }
}
