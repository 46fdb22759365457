//! Apply, phase 2: build the payload, decide ([`super::super::decide`]), check ownership and push.

use super::*;

/// Builds the payload for `context`, pushes it if it differs from the last push (or checks drift when it
/// does not). Returns the payload as it stands in APIM when known.
pub(super) async fn push_if_changed(
    run: &mut Run<'_>,
    refs: &Refs,
    context: &Resolved,
    cross_id: &str,
) -> Option<Value> {
    let api = run.api;
    let shared = run.shared;
    let same_env = ids::same_environment(
        &run.status,
        &context.key.to_string(),
        context.target.environment_id(),
    );
    let known_id = same_env.then(|| run.status.id.clone()).flatten();
    let plan_ids = if same_env {
        run.status.plans.clone()
    } else {
        None
    };
    let plan_cross_ids = match choose_plan_cross_ids(
        run,
        context,
        cross_id,
        known_id.as_deref(),
        plan_ids.as_ref(),
    )
    .await
    {
        Ok(chosen) => chosen,
        Err(e) => {
            run.fail_apim(&e);
            return None;
        }
    };
    let stamp = Stamp {
        cluster_id: shared.cluster_id.clone(),
        owner: key_of(api).to_string(),
    };
    let build = |id: Option<&str>| {
        payload::build(
            api,
            &Inputs {
                cross_id,
                api_id: id,
                plan_ids: plan_ids.as_ref(),
                plan_cross_ids: Some(&plan_cross_ids),
                resources: Some(&refs.resources),
                templates: Some(&refs.templates),
                stamp: Some(&stamp),
            },
        )
    };
    let definition = match build(known_id.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            run.fail(Reason::InvalidSpec, e.to_string(), Retry::OnChange);
            return None;
        }
    };
    let hash = payload::sync_hash(&definition, &context.identity);

    let decision = decide::push_decision(
        &run.status,
        &context.key.to_string(),
        &hash,
        status::is_true(&run.status.conditions, SYNCED),
        shared.memory.drift_due(&run.uid()),
    );
    match decision {
        decide::PushDecision::Skip {
            check_drift: drift,
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
            if drift {
                check_drift(run, context, cross_id, &definition, &hash).await;
            }
            return Some(definition);
        }
        decide::PushDecision::WaitForChange => {
            run.action = Action::await_change();
            return None;
        }
        decide::PushDecision::Push => {}
    }
    let prefetched = run
        .prefetched
        .take()
        .filter(|p| p.context == context.key && p.cross_id == cross_id)
        .map(|p| p.remote);
    push(
        run, context, cross_id, definition, hash, known_id, prefetched,
    )
    .await
}

/// The crossIds of the plans without one in their spec ([`ids::plan_cross_ids`]); reads the plans APIM
/// holds (once, kept for the push) only when `status.plans` does not tell.
async fn choose_plan_cross_ids(
    run: &mut Run<'_>,
    context: &Resolved,
    cross_id: &str,
    known_id: Option<&str>,
    status_plans: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, ApimError> {
    let api = run.api;
    let mut sources = ids::PlanSources {
        api_cross_id: cross_id,
        status_id: known_id,
        spec_id: api.spec.id.as_deref(),
        status_plans,
        remote: None,
    };
    if !ids::needs_remote_plans(api, &sources) {
        return Ok(ids::plan_cross_ids(api, &sources));
    }
    let prefetched = run
        .prefetched
        .as_ref()
        .filter(|p| p.context == context.key && p.cross_id == cross_id);
    let remote = match prefetched {
        Some(p) => p.remote.clone(),
        None => {
            let shared = run.shared;
            let read = read_remote(shared, &context.target, cross_id, known_id).await?;
            run.prefetched = Some(Prefetched {
                context: context.key.clone(),
                cross_id: cross_id.to_owned(),
                remote: read.clone(),
            });
            read
        }
    };
    let held = remote
        .as_ref()
        .map(|r| ids::remote_plans(&r.definition))
        .unwrap_or_default();
    sources.remote = Some(&held);
    Ok(ids::plan_cross_ids(api, &sources))
}

/// Pushes `definition` to the context after the ownership check; records the outcome in status.
pub(super) async fn push(
    run: &mut Run<'_>,
    context: &Resolved,
    cross_id: &str,
    mut definition: Value,
    hash: String,
    known_id: Option<String>,
    // `Some(read)`: already read back (`read` is `None` when APIM has no such API); `None`: read it here.
    remote: Option<Option<Remote>>,
) -> Option<Value> {
    let api = run.api;
    let shared = run.shared;
    let target = &context.target;
    let permit = match shared.breakers.admit(&context.key) {
        Ok(p) => p,
        Err(wait) => {
            let snapshot = shared.breakers.snapshot(&context.key);
            run.fail(
                Reason::ContextUnavailable,
                format!(
                    "the Management API of context {} is unreachable ({} consecutive failures); next attempt in {}s",
                    context.key,
                    snapshot.consecutive_failures,
                    wait.as_secs().max(1)
                ),
                Retry::Slow(wait + Duration::from_millis(50)),
            );
            return None;
        }
    };

    // Ownership: never overwrite what another cluster pushed, unless asked to take it over.
    let remote = match remote {
        Some(read) => read,
        None => match read_remote(shared, target, cross_id, known_id.as_deref()).await {
            Ok(r) => r,
            Err(e) => {
                record_apim_failure(shared, permit, &context.key, &e);
                run.fail_apim(&e);
                return None;
            }
        },
    };
    if let Some(remote) = &remote {
        let verdict = decide::ownership(
            remote.cluster.as_deref(),
            &shared.cluster_id,
            takeover_requested(api),
        );
        match verdict {
            decide::Ownership::Ours => {}
            decide::Ownership::TakeOver { from } => run.note(
                EventType::Warning,
                "TakeOver",
                format!("taking over API crossId {cross_id} from cluster {from} ({TAKEOVER_ANNOTATION})"),
            ),
            decide::Ownership::Refuse { owner } => {
                permit.success();
                let message = format!(
                    "API crossId {cross_id} in environment {} is owned by cluster {owner}{}; gko does not overwrite it. Delete it there, or set annotation {TAKEOVER_ANNOTATION}: \"true\" to take it over",
                    target.environment_id(),
                    remote.owner.as_deref().map(|o| format!(" (ApiDefinition {o})")).unwrap_or_default(),
                );
                run.status.synced_hash = None;
                run.fail(
                    Reason::OwnedByOtherCluster,
                    message,
                    Retry::Slow(status::SLOW_REQUEUE),
                );
                return None;
            }
        }
        if let Some(object) = definition.as_object_mut() {
            object.insert("id".into(), Value::String(remote.id.clone()));
        }
    }
    let desired = desired_state(api);

    // Adoption (e.g. of an API GKO created): when APIM already holds exactly this, write nothing.
    let held = remote
        .as_ref()
        .filter(|r| r.other_cluster(&shared.cluster_id).is_none())
        .filter(|r| decide::already_held(&definition, &r.definition));
    if let Some(remote) = held {
        tracing::info!(api = %key_of(api), id = %remote.id, "APIM already holds this definition: adopted without a write");
        let adopted = Held {
            id: remote.id.clone(),
            plans: ids::remote_plan_ids(&remote.definition),
            warnings: Vec::new(),
        };
        return synced(
            run,
            context,
            definition,
            hash,
            permit,
            adopted,
            "adopted in",
        );
    }

    let result = shared.apim.import(target, &definition, false).await;
    let result = match result {
        Ok(r) if !r.errors.severe.is_empty() => Err(ApimError::Invalid {
            message: r.errors.severe.join("; "),
        }),
        other => other,
    };
    let result = match result {
        Ok(r)
            if r.generation == ApimGeneration::V3 && !r.state.is_empty() && r.state != desired =>
        {
            let lifecycle = if desired == "STARTED" {
                shared.apim.start(target, &r.id).await
            } else {
                shared.apim.stop(target, &r.id).await
            };
            lifecycle.map(|()| r)
        }
        other => other,
    };
    match result {
        Ok(imported) => {
            let held = Held {
                id: imported.id,
                plans: imported.plans,
                warnings: imported.errors.warning,
            };
            synced(run, context, definition, hash, permit, held, "pushed to")
        }
        Err(e) => {
            let c = record_apim_failure(shared, permit, &context.key, &e);
            if c.retry == Retry::OnChange {
                run.status.failed_hash = Some(hash);
                run.status.errors = Some(ApiErrors {
                    severe: Some(vec![redact(c.message.clone(), &run.secrets)]),
                    warning: None,
                });
                // Only a refusal about a path is worth reading the environment's APIs for.
                let about_path = c.message.to_ascii_lowercase().contains("path");
                let conflict = if about_path {
                    path_conflict(shared, target, &definition, cross_id).await
                } else {
                    None
                };
                if let Some(conflict) = conflict {
                    run.fail(Reason::ContextPathConflict, conflict, Retry::OnChange);
                    return None;
                }
            }
            run.fail_apim(&e);
            None
        }
    }
}

/// What APIM holds after a push (or an adoption): the API id, planCrossId → planId, APIM's warnings.
struct Held {
    id: String,
    plans: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// Records a definition APIM holds (just pushed, or adopted as it was): status, Event, plan ids.
fn synced(
    run: &mut Run<'_>,
    context: &Resolved,
    mut definition: Value,
    hash: String,
    permit: crate::reconcile::breaker::Permit,
    imported: Held,
    verb: &str,
) -> Option<Value> {
    let shared = run.shared;
    let target = &context.target;
    let desired = desired_state(run.api);
    permit.success();
    shared.count_call("ok");
    shared.memory.reset_backoff(&run.uid());
    shared.memory.drift_checked(&run.uid());
    let id = imported.id.clone();
    let warnings: Vec<String> = imported
        .warnings
        .iter()
        .map(|w| redact(w.clone(), &run.secrets))
        .collect();
    let st = &mut run.status;
    st.id = Some(id.clone());
    if !imported.plans.is_empty() {
        st.plans = Some(imported.plans.clone());
    }
    st.state = Some(desired.to_owned());
    st.synced_hash = Some(hash);
    st.failed_hash = None;
    st.synced_context = Some(context.key.to_string());
    st.environment_id = Some(target.environment_id().to_owned());
    st.organization_id = Some(target.organization_id().to_owned());
    st.cluster_id = Some(shared.cluster_id.clone());
    st.processing_status = Some(COMPLETED.into());
    st.errors = if warnings.is_empty() {
        None
    } else {
        Some(ApiErrors {
            severe: None,
            warning: Some(warnings),
        })
    };
    status::set(
        &mut st.conditions,
        SYNCED,
        true,
        Reason::Synced,
        format!("pushed to {}", context.key),
        run.generation,
    );
    run.note(
        EventType::Normal,
        "Synced",
        format!(
            "{verb} APIM (context {}, environment {}, id {id}, {desired})",
            context.key,
            target.environment_id()
        ),
    );
    if let Some(object) = definition.as_object_mut() {
        object.insert("id".into(), Value::String(id));
        if let Some(Value::Array(plans)) = object.get_mut("plans") {
            for plan in plans.iter_mut().filter_map(Value::as_object_mut) {
                let cross = plan.get("crossId").and_then(Value::as_str);
                if let Some(plan_id) = cross.and_then(|c| imported.plans.get(c)) {
                    plan.insert("id".into(), Value::String(plan_id.clone()));
                }
            }
        }
    }
    Some(definition)
}

/// Books a failed Management API call: counts it, and tells the context's circuit breaker whether
/// APIM was unreachable (a probe of the context is asked for when the breaker opens) or answered.
pub(super) fn record_apim_failure(
    shared: &Shared,
    permit: crate::reconcile::breaker::Permit,
    context: &ObjectKey,
    e: &ApimError,
) -> status::Classified {
    let c = status::classify(e);
    shared.count_call(c.reason.as_str());
    if c.unreachable {
        if permit.failure() {
            shared.refresh_context(context);
        }
    } else {
        permit.success();
    }
    c
}
