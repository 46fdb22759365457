//! Promotion and deletion: remove the API from an environment it no longer belongs to, and on delete.

use super::*;

/// Removes the API from the environment of `previous` (promotion, or context removed). Returns false when the
/// removal failed (status says why; nothing else is done this round).
pub(super) async fn remove_from_previous(
    run: &mut Run<'_>,
    previous: &str,
    cross_id: &str,
) -> bool {
    let shared = run.shared;
    let key = match previous.split_once('/') {
        Some((ns, name)) => ObjectKey::new(ns, name),
        None => ObjectKey::new("", previous),
    };
    let resolved = match resolve_context(shared, &key).await {
        Ok((_, r)) => Some(r),
        Err(RefFailure::Missing { message, .. }) => {
            run.note(
                EventType::Warning,
                "PreviousContextGone",
                format!("cannot remove the API from the environment of context {key}: {message}; it is left there"),
            );
            None
        }
        Err(RefFailure::Kube(e)) => {
            run.fail(
                Reason::CleanupFailed,
                format!("cannot read context {key}: {e}"),
                Retry::Backoff,
            );
            return false;
        }
    };
    if let Some(resolved) = resolved {
        let id = run.status.id.clone();
        match delete_owned(shared, &resolved, cross_id, id.as_deref()).await {
            Ok(outcome) => run.note(
                EventType::Normal,
                "RemovedFromPreviousContext",
                format!("{outcome} (environment of context {key}; the API moved)"),
            ),
            Err(Failure::Breaker(wait)) => {
                run.fail(
                    Reason::ContextUnavailable,
                    format!("the previous context {key} is unreachable; the API is removed from it first"),
                    Retry::Slow(wait),
                );
                return false;
            }
            Err(Failure::Apim(e)) => {
                run.fail_apim(&e);
                return false;
            }
        }
    }
    let st = &mut run.status;
    st.id = None;
    st.plans = None;
    st.synced_hash = None;
    st.synced_context = None;
    st.environment_id = None;
    st.organization_id = None;
    true
}

pub(super) enum Failure {
    Breaker(Duration),
    Apim(ApimError),
}

/// Deletes the API from `context` if this cluster owns it (or nobody does). Returns what happened.
pub(super) async fn delete_owned(
    shared: &Shared,
    context: &Resolved,
    cross_id: &str,
    known_id: Option<&str>,
) -> Result<String, Failure> {
    let permit = shared
        .breakers
        .admit(&context.key)
        .map_err(Failure::Breaker)?;
    let outcome = async {
        let Some(remote) = read_remote(shared, &context.target, cross_id, known_id).await? else {
            return Ok("already absent from APIM".to_owned());
        };
        if let Some(other) = remote.other_cluster(&shared.cluster_id) {
            return Ok(format!(
                "not deleted from APIM: API {} belongs to cluster {other}",
                remote.id
            ));
        }
        let existed = shared.apim.delete(&context.target, &remote.id).await?;
        Ok(if existed {
            format!("deleted API {} from APIM", remote.id)
        } else {
            "already absent from APIM".to_owned()
        })
    }
    .await;
    match outcome {
        Ok(o) => {
            permit.success();
            shared.count_call("ok");
            Ok(o)
        }
        Err(e) => {
            record_apim_failure(shared, permit, &context.key, &e);
            Err(Failure::Apim(e))
        }
    }
}

pub(super) async fn cleanup(
    api: &ApiDefinition,
    shared: &Shared,
    kapi: &Api<ApiDefinition>,
) -> Result<Action, Error> {
    let old = shared.memory.current_status(
        api.metadata.uid.as_deref().unwrap_or_default(),
        api.status.clone().unwrap_or_default(),
    );
    let cross_id = old
        .cross_id
        .clone()
        .unwrap_or_else(|| ids::api_cross_id_offline(api));
    let key = old
        .synced_context
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .map(|(ns, name)| ObjectKey::new(ns, name))
        .or_else(|| context_of(api));
    if let Some(key) = key {
        let outcome = match resolve_context(shared, &key).await {
            Err(RefFailure::Kube(e)) => return Err(e.into()),
            Err(RefFailure::Missing { message, .. }) => {
                shared
                    .event(
                        api,
                        EventType::Warning,
                        "NotDeleted",
                        format!("cannot delete the API from APIM ({message}); it is left there"),
                    )
                    .await;
                None
            }
            Ok((_, resolved)) => {
                match delete_owned(shared, &resolved, &cross_id, old.id.as_deref()).await {
                    Ok(outcome) => Some(outcome),
                    Err(failure) => {
                        let (reason, message, retry) = match failure {
                            Failure::Breaker(wait) => (
                                Reason::ContextUnavailable,
                                format!("context {key} is unreachable; deletion retried"),
                                wait,
                            ),
                            Failure::Apim(e) => {
                                let c = status::classify(&e);
                                let retry = match c.retry {
                                    Retry::Slow(d) => d,
                                    _ => shared
                                        .memory
                                        .backoff(api.metadata.uid.as_deref().unwrap_or_default()),
                                };
                                (c.reason, c.message, retry)
                            }
                        };
                        let mut st = old.clone();
                        let changed = status::set(
                            &mut st.conditions,
                            SYNCED,
                            false,
                            Reason::DeleteFailed,
                            format!("{reason}: {message}"),
                            api.metadata.generation,
                        );
                        status::patch_status(kapi, &api.name_any(), Some(&old), &st).await?;
                        if changed {
                            shared
                                .event(api, EventType::Warning, "DeleteFailed", message.clone())
                                .await;
                        }
                        return Err(Error::Blocked {
                            message: format!("deleting from APIM: {message}"),
                            retry,
                        });
                    }
                }
            }
        };
        if let Some(outcome) = outcome {
            shared
                .event(api, EventType::Normal, "Deleted", outcome)
                .await;
        }
    }
    delete_config_map(shared, api).await?;
    shared
        .memory
        .forget(api.metadata.uid.as_deref().unwrap_or_default());
    Ok(Action::await_change())
}
