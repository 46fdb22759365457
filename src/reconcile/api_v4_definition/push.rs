//! Apply, phase 2: build the bodies, decide ([`super::decide`]), check ownership, push; drift checks.

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::decide::{self, Pushed};
use super::{body, ids, Run};
use crate::apim::{ApimError, V4Identity, V4Push};
use crate::crd::api_definition::ApiErrors;
use crate::reconcile::api_definition::Refs;
use crate::reconcile::context::Resolved;
use crate::reconcile::decide::{ownership, Ownership, PushDecision};
use crate::reconcile::status::{self, Reason, Retry, COMPLETED, DRIFTED, SYNCED};
use crate::reconcile::{payload, DriftPolicy, TAKEOVER_ANNOTATION};

fn takeover_requested(run: &Run<'_>) -> bool {
    run.api
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TAKEOVER_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The identity to push with: the object's, but in HRID mode when it moves to another context (the ids in
/// status belong to the previous environment).
fn identity_for(run: &Run<'_>, context: &Resolved) -> V4Identity {
    let same_env = run.status.synced_context.as_deref() == Some(context.key.to_string().as_str());
    let identity = ids::identity(run.api);
    let spec_id = run.api.spec.id.as_deref().is_some_and(|s| !s.is_empty());
    match identity {
        V4Identity::Legacy(_) if !same_env && !spec_id && run.status.synced_context.is_some() => {
            let ns = run.api.metadata.namespace.as_deref().unwrap_or_default();
            let name = run.api.metadata.name.as_deref().unwrap_or_default();
            V4Identity::Hrid(ids::api_hrid(ns, name))
        }
        other => other,
    }
}

/// Builds both bodies, pushes when the hash changed (else checks drift when due).
pub(super) async fn push_if_changed(run: &mut Run<'_>, refs: &Refs, context: &Resolved) {
    let identity = identity_for(run, context);
    let stamp = run.stamp();
    let inputs = refs.inputs(&identity, Some(&stamp));
    let target = &context.target;
    let bodies = body::automation_body(run.api, &inputs).and_then(|auto| {
        body::import_crd_body(
            run.api,
            &inputs,
            target.organization_id(),
            target.environment_id(),
        )
        .map(|crd| (auto, crd))
    });
    let (automation, import_crd) = match bodies {
        Ok(b) => b,
        Err(e) => {
            run.fail(Reason::InvalidSpec, e.to_string(), Retry::OnChange);
            return;
        }
    };
    let hash = match body::hash_basis(run.api, &inputs) {
        Ok(basis) => payload::sync_hash(&basis, &context.identity),
        Err(e) => {
            run.fail(Reason::InvalidSpec, e.to_string(), Retry::OnChange);
            return;
        }
    };
    let uid = run.uid();
    match decide::push_decision(
        &run.status,
        &context.key.to_string(),
        &hash,
        run.shared.memory.drift_due(&uid),
    ) {
        PushDecision::Skip {
            check_drift,
            restore_synced,
        } => {
            if restore_synced {
                status::set(
                    &mut run.status.conditions,
                    SYNCED,
                    true,
                    Reason::Synced,
                    format!("pushed to {}", context.key),
                    run.generation,
                );
                run.status.processing_status = Some(COMPLETED.into());
            }
            if check_drift {
                let push = V4Push {
                    identity: &identity,
                    automation: &automation,
                    import_crd: &import_crd,
                };
                drift(run, context, push, hash).await;
            }
        }
        PushDecision::WaitForChange => run.action = Action::await_change(),
        PushDecision::Push => {
            let push = V4Push {
                identity: &identity,
                automation: &automation,
                import_crd: &import_crd,
            };
            push_now(run, context, push, hash).await;
        }
    }
}

/// Ownership check, then the push; the outcome goes to status.
async fn push_now(run: &mut Run<'_>, context: &Resolved, push: V4Push<'_>, hash: String) {
    let shared = run.shared;
    let target = &context.target;
    let permit = match shared.breakers.admit(&context.key) {
        Ok(p) => p,
        Err(wait) => {
            run.fail(
                Reason::ContextUnavailable,
                format!(
                    "the Management API of context {} is unreachable; next attempt in {}s",
                    context.key,
                    wait.as_secs().max(1)
                ),
                Retry::Slow(wait + Duration::from_millis(50)),
            );
            return;
        }
    };
    // Never overwrite what another cluster pushed, unless asked to take it over.
    let api_id = run.status.id.clone();
    let remote = match shared
        .apim
        .get_v4(target, push.identity, api_id.as_deref())
        .await
    {
        Ok(v) => Some(v),
        Err(ApimError::NotFound { .. }) => None,
        Err(e) => {
            record_failure(run, permit, context, &e);
            return;
        }
    };
    if let Some(remote) = &remote {
        let (cluster, owner) = payload::read_stamp(remote);
        match ownership(
            cluster.as_deref(),
            &shared.cluster_id,
            takeover_requested(run),
        ) {
            Ownership::Ours => {}
            Ownership::TakeOver { from } => run.note(
                EventType::Warning,
                "TakeOver",
                format!(
                    "taking over API {} from cluster {from} ({TAKEOVER_ANNOTATION})",
                    push.identity.key()
                ),
            ),
            Ownership::Refuse { owner: other } => {
                permit.success();
                run.status.synced_hash = None;
                run.fail(
                    Reason::OwnedByOtherCluster,
                    format!(
                        "API {} in environment {} is owned by cluster {other}{}; gko does not overwrite it. Delete it there, or set annotation {TAKEOVER_ANNOTATION}: \"true\" to take it over",
                        push.identity.key(),
                        target.environment_id(),
                        owner.map(|o| format!(" (object {o})")).unwrap_or_default()
                    ),
                    Retry::Slow(status::SLOW_REQUEUE),
                );
                return;
            }
        }
    }
    let result = match shared.apim.push_v4(target, push, false).await {
        Ok(r) if !r.errors.severe.is_empty() => Err(ApimError::Invalid {
            message: r.errors.severe.join("; "),
        }),
        other => other,
    };
    match result {
        Ok(result) => {
            permit.success();
            shared.count_call("ok");
            let uid = run.uid();
            shared.memory.reset_backoff(&uid);
            shared.memory.drift_checked(&uid);
            let warnings = result
                .errors
                .warning
                .iter()
                .map(|w| crate::reconcile::api_definition::redact(w.clone(), &run.secrets))
                .collect();
            decide::record_push(
                &mut run.status,
                Pushed {
                    result: &result,
                    identity: push.identity,
                    hash,
                    context: context.key.to_string(),
                    cluster_id: shared.cluster_id.clone(),
                    generation: run.generation,
                    warnings,
                },
            );
            let message = format!(
                "pushed to APIM (context {}, environment {}, id {}, {}, via {})",
                context.key,
                target.environment_id(),
                result.id,
                body::desired_state(run.api),
                result.route.as_str()
            );
            run.note(EventType::Normal, "Synced", message);
        }
        Err(e) => {
            let c = status::classify(&e);
            if c.retry == Retry::OnChange {
                run.status.failed_hash = Some(hash);
                run.status.errors = Some(ApiErrors {
                    severe: Some(vec![crate::reconcile::api_definition::redact(
                        c.message.clone(),
                        &run.secrets,
                    )]),
                    warning: None,
                });
            }
            record_failure(run, permit, context, &e);
        }
    }
}

fn record_failure(
    run: &mut Run<'_>,
    permit: crate::reconcile::breaker::Permit,
    context: &Resolved,
    e: &ApimError,
) {
    let c = status::classify(e);
    run.shared.count_call(c.reason.as_str());
    if c.unreachable {
        if permit.failure() {
            run.shared.refresh_context(&context.key);
        }
    } else {
        permit.success();
    }
    run.fail_apim(e);
}

/// Reads the API back and compares what a console user can edit; reports or corrects.
async fn drift(run: &mut Run<'_>, context: &Resolved, push: V4Push<'_>, hash: String) {
    let shared = run.shared;
    let uid = run.uid();
    let api_id = run.status.id.clone();
    let remote = shared
        .apim
        .get_v4(&context.target, push.identity, api_id.as_deref())
        .await;
    shared.memory.drift_checked(&uid);
    let fields = match remote {
        Ok(remote) => decide::drifted_fields(push.automation, &remote),
        // Gone from APIM: push it again.
        Err(ApimError::NotFound { .. }) => vec!["(the API is gone)".to_owned()],
        Err(e) => {
            tracing::debug!(error = %e, "v4 drift check failed");
            return;
        }
    };
    if fields.is_empty() {
        status::set(
            &mut run.status.conditions,
            DRIFTED,
            false,
            Reason::InSync,
            "",
            run.generation,
        );
        return;
    }
    let message = format!("edited outside gko: {}", fields.join(", "));
    let correct = shared.settings.drift_policy == DriftPolicy::Correct
        || fields.iter().any(|f| f.starts_with('('));
    if correct {
        run.note(EventType::Warning, "ConsoleEdit", message);
        push_now(run, context, push, hash).await;
        status::set(
            &mut run.status.conditions,
            DRIFTED,
            false,
            Reason::Corrected,
            "pushed over a console edit",
            run.generation,
        );
    } else {
        let before = status::is_true(&run.status.conditions, DRIFTED);
        status::set(
            &mut run.status.conditions,
            DRIFTED,
            true,
            Reason::ConsoleEdit,
            message.clone(),
            run.generation,
        );
        if !before {
            run.note(EventType::Warning, "ConsoleEdit", message);
        }
    }
}
