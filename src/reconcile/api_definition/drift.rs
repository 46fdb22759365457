//! Apply, phase 3: compare what APIM holds with what gko pushed (console edits), report or correct.

use super::*;

/// Compares the API in APIM with what gko pushed; reports (and corrects, by policy) console edits.
pub(super) async fn check_drift(
    run: &mut Run<'_>,
    context: &Resolved,
    cross_id: &str,
    definition: &Value,
    hash: &str,
) {
    let shared = run.shared;
    let Ok(permit) = shared.breakers.admit(&context.key) else {
        return;
    };
    let id = run.status.id.clone();
    let read = read_remote(shared, &context.target, cross_id, id.as_deref()).await;
    shared.memory.drift_checked(&run.uid());
    let remote = match read {
        Ok(r) => {
            permit.success();
            r
        }
        Err(e) => {
            let c = status::classify(&e);
            shared.count_call(c.reason.as_str());
            if c.unreachable && permit.failure() {
                shared.refresh_context(&context.key);
            }
            tracing::debug!(error = %e, "drift check skipped");
            return;
        }
    };
    let fields = match &remote {
        None => vec!["<deleted in APIM>".to_owned()],
        Some(remote) => {
            if let Some(other) = remote.other_cluster(&shared.cluster_id) {
                // Taken over by another cluster: stop pushing (the next change is checked before any write).
                run.status.synced_hash = None;
                run.fail(
                    Reason::OwnedByOtherCluster,
                    format!(
                        "API crossId {cross_id} in environment {} was taken over by cluster {other}; gko no longer pushes it",
                        context.target.environment_id()
                    ),
                    Retry::Slow(status::SLOW_REQUEUE),
                );
                return;
            }
            payload::drifted_fields(definition, &remote.definition)
        }
    };
    if fields.is_empty() {
        if status::is_true(&run.status.conditions, DRIFTED)
            || status::reason_of(&run.status.conditions, DRIFTED).is_none()
        {
            status::set(
                &mut run.status.conditions,
                DRIFTED,
                false,
                Reason::InSync,
                "APIM matches the last push",
                run.generation,
            );
        }
        return;
    }
    let what = fields.join(", ");
    let message =
        format!("the API in APIM differs from what gko pushed ({what}): edited outside Kubernetes");
    match shared.settings.drift_policy {
        DriftPolicy::Report => {
            if !status::is_true(&run.status.conditions, DRIFTED) {
                run.note(EventType::Warning, "Drifted", message.clone());
            }
            status::set(
                &mut run.status.conditions,
                DRIFTED,
                true,
                Reason::ConsoleEdit,
                message,
                run.generation,
            );
        }
        DriftPolicy::Correct => {
            run.note(
                EventType::Warning,
                "Drifted",
                format!("{message}; pushing the definition again"),
            );
            let known = run.status.id.clone();
            if push(
                run,
                context,
                cross_id,
                definition.clone(),
                hash.to_owned(),
                known,
                Some(remote),
            )
            .await
            .is_some()
            {
                status::set(
                    &mut run.status.conditions,
                    DRIFTED,
                    false,
                    Reason::Corrected,
                    format!("console edit of {what} overwritten"),
                    run.generation,
                );
                run.note(
                    EventType::Normal,
                    "DriftCorrected",
                    format!("console edit of {what} overwritten"),
                );
            } else {
                status::set(
                    &mut run.status.conditions,
                    DRIFTED,
                    true,
                    Reason::ConsoleEdit,
                    message,
                    run.generation,
                );
            }
        }
    }
}
