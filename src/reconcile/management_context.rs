//! ManagementContext controller: probes the environment, writes `Ready` (reasons `Reachable`, `Unauthorized`,
//! `UnknownEnvironment`, `Unreachable`, plus `InvalidContext` / `SecretNotFound` for local problems), shows the
//! circuit breaker (`consecutiveFailures`), and keeps its finalizer while ApiDefinitions use it.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::Event as Finalizer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::context::{self, ContextError};
use super::status::{self, Reason, Retry, ACCEPTED, DELETION_BLOCKED, READY, RESOLVED_REFS};
use super::{Error, Shared};
use crate::cluster::CachedApi;
use crate::crd::{ManagementContext, ManagementContextStatus};
use crate::model::ObjectKey;

/// Contexts whose credentials come from `secret`.
pub fn contexts_using_secret(
    contexts: &Store<ManagementContext>,
    secret: &ObjectKey,
) -> Vec<ObjectKey> {
    contexts
        .state()
        .iter()
        .filter(|c| context::secret_of(c).as_ref() == Some(secret))
        .map(|c| context::key_of(c))
        .collect()
}

/// The contexts of `api` that are being deleted (watch mapping: their deletion may proceed when it goes).
pub fn deleting_contexts_of(
    contexts: &Store<ManagementContext>,
    api: &CachedApi,
) -> Vec<ObjectRef<ManagementContext>> {
    let links = api.links();
    [links.context, links.synced_context]
        .into_iter()
        .flatten()
        .map(|k| ObjectRef::new(&k.name).within(&k.namespace))
        .filter(|r| {
            contexts
                .get(r)
                .is_some_and(|c| c.metadata.deletion_timestamp.is_some())
        })
        .collect()
}

/// `ns/name` of the ApiDefinitions (and `ApiV4Definition ns/name` of the v4 APIs) using the context (pointing
/// to it, or last pushed to it and not cleaned up yet), deleting ones included: their deletion needs the context.
pub fn users(shared: &Shared, key: &ObjectKey) -> Vec<String> {
    let mut users: Vec<String> = shared
        .cache
        .index
        .context_or_synced_users(key)
        .iter()
        .map(ObjectKey::to_string)
        .collect();
    // v4 APIs too, named with their kind.
    users.extend(
        shared
            .cache
            .v4_index
            .context_or_synced_users(key)
            .iter()
            .map(|k| format!("ApiV4Definition {k}")),
    );
    users.sort();
    users
}

pub async fn reconcile(
    context: Arc<ManagementContext>,
    shared: Arc<Shared>,
) -> Result<Action, Error> {
    let shared = &shared;
    super::finalized(
        context,
        shared,
        "ManagementContext",
        |api, event| async move {
            match event {
                Finalizer::Apply(c) => apply(&c, shared, &api).await,
                Finalizer::Cleanup(c) => cleanup(&c, shared, &api).await,
            }
        },
    )
    .await
}

fn not_ready(
    st: &mut ManagementContextStatus,
    reason: Reason,
    message: String,
    generation: Option<i64>,
) {
    status::set(
        &mut st.conditions,
        READY,
        false,
        reason,
        message,
        generation,
    );
}

async fn apply(
    ctx: &ManagementContext,
    shared: &Shared,
    api: &Api<ManagementContext>,
) -> Result<Action, Error> {
    let key = context::key_of(ctx);
    let generation = ctx.metadata.generation;
    let old = ctx.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.observed_generation = generation;
    status::set(
        &mut st.conditions,
        ACCEPTED,
        true,
        Reason::Accepted,
        "",
        generation,
    );
    status::remove(&mut st.conditions, DELETION_BLOCKED);

    // Fresh credentials every time (and refresh the cache the APIs use).
    shared.targets.invalidate(&key);
    let action = match shared.targets.get(&shared.client, ctx).await {
        Err(ContextError::Kube { source, .. }) => return Err(source.into()),
        Err(e @ (ContextError::SecretMissing(_) | ContextError::ConfigMapMissing(_))) => {
            let reason = match e {
                ContextError::ConfigMapMissing(_) => Reason::ConfigMapNotFound,
                _ => Reason::SecretNotFound,
            };
            let message = e.to_string();
            status::set(
                &mut st.conditions,
                RESOLVED_REFS,
                false,
                reason,
                message.clone(),
                generation,
            );
            not_ready(&mut st, reason, message, generation);
            Action::requeue(shared.settings.missing_ref_requeue)
        }
        Err(e @ ContextError::Invalid(_)) => {
            status::set(
                &mut st.conditions,
                RESOLVED_REFS,
                true,
                Reason::Resolved,
                "",
                generation,
            );
            not_ready(&mut st, Reason::InvalidContext, e.to_string(), generation);
            Action::await_change()
        }
        Ok(resolved) => {
            status::set(
                &mut st.conditions,
                RESOLVED_REFS,
                true,
                Reason::Resolved,
                "",
                generation,
            );
            let identity =
                super::payload::value_hash(&serde_json::Value::String(resolved.identity.clone()));
            if old.probed_hash.as_deref() != Some(identity.as_str()) {
                shared.apim.forget(&resolved.target);
            }
            match shared.breakers.admit(&key) {
                Err(wait) => {
                    let snapshot = shared.breakers.snapshot(&key);
                    st.consecutive_failures = Some(i64::from(snapshot.consecutive_failures));
                    not_ready(
                        &mut st,
                        Reason::Unreachable,
                        format!(
                            "{} consecutive failures: calls to this Management API are paused; next probe in {}s",
                            snapshot.consecutive_failures,
                            wait.as_secs().max(1)
                        ),
                        generation,
                    );
                    Action::requeue(wait + std::time::Duration::from_millis(50))
                }
                Ok(permit) => match shared.apim.probe(&resolved.target).await {
                    Ok(probe) => {
                        permit.success();
                        shared.count_call("ok");
                        st.apim_generation = Some(probe.generation.as_str().to_owned());
                        st.consecutive_failures = Some(0);
                        st.probed_hash = Some(identity);
                        status::set(
                            &mut st.conditions,
                            READY,
                            true,
                            Reason::Reachable,
                            reachable_message(
                                &probe,
                                &resolved.target,
                                shared.settings.apim.trust.insecure_skip_verify(),
                            ),
                            generation,
                        );
                        Action::requeue(shared.settings.context_resync)
                    }
                    Err(e) => {
                        let c = status::classify(&e);
                        shared.count_call(c.reason.as_str());
                        if c.unreachable {
                            permit.failure();
                        } else {
                            permit.success();
                        }
                        let snapshot = shared.breakers.snapshot(&key);
                        st.consecutive_failures = Some(i64::from(snapshot.consecutive_failures));
                        let reason = match c.reason {
                            Reason::ApimUnavailable => Reason::Unreachable,
                            other => other,
                        };
                        not_ready(&mut st, reason, c.message, generation);
                        match c.retry {
                            Retry::Backoff => {
                                Action::requeue(snapshot.retry_in.unwrap_or_else(|| {
                                    shared
                                        .memory
                                        .backoff(ctx.metadata.uid.as_deref().unwrap_or_default())
                                }))
                            }
                            Retry::Slow(d) => Action::requeue(d),
                            Retry::OnChange => Action::await_change(),
                        }
                    }
                },
            }
        }
    };

    let was_ready = status::is_true(&old.conditions, READY);
    let before = status::reason_of(&old.conditions, READY).map(str::to_owned);
    let now_ready = status::is_true(&st.conditions, READY);
    let reason = status::reason_of(&st.conditions, READY)
        .unwrap_or_default()
        .to_owned();
    status::patch_status(api, &ctx.name_any(), Some(&old), &st).await?;
    if was_ready != now_ready || before.as_deref() != Some(reason.as_str()) {
        let message = crate::crd::common::find_condition(&st.conditions, READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        let type_ = if now_ready {
            EventType::Normal
        } else {
            EventType::Warning
        };
        shared
            .event(
                ctx,
                type_,
                if now_ready { "Reachable" } else { "NotReady" },
                format!("{reason}: {message}"),
            )
            .await;
    }
    if now_ready {
        shared
            .memory
            .reset_backoff(ctx.metadata.uid.as_deref().unwrap_or_default());
    }
    Ok(action)
}

async fn cleanup(
    ctx: &ManagementContext,
    shared: &Shared,
    api: &Api<ManagementContext>,
) -> Result<Action, Error> {
    if !shared.cache.apis.ready.is_ready() {
        return Err(Error::Blocked {
            message: "waiting for the ApiDefinition cache before deleting".into(),
            retry: shared.settings.blocked_requeue,
        });
    }
    let key = context::key_of(ctx);
    let users = users(shared, &key);
    if users.is_empty() {
        shared.targets.invalidate(&key);
        shared.breakers.forget(&key);
        return Ok(Action::await_change());
    }
    let old = ctx.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let message = format!(
        "deletion waits: still used by {}; delete those ApiDefinitions or point them to another context first",
        super::api_resource::describe(&users)
    );
    let changed = status::set(
        &mut st.conditions,
        DELETION_BLOCKED,
        true,
        Reason::InUse,
        message.clone(),
        ctx.metadata.generation,
    );
    status::patch_status(api, &ctx.name_any(), Some(&old), &st).await?;
    if changed {
        shared
            .event(ctx, EventType::Warning, "DeletionBlocked", message.clone())
            .await;
    }
    Err(Error::Blocked {
        message,
        retry: shared.settings.blocked_requeue,
    })
}

/// The Ready message of a reachable context; says loudly when TLS verification is off.
fn reachable_message(
    probe: &crate::apim::Probe,
    target: &crate::apim::Target,
    insecure: bool,
) -> String {
    let base = format!(
        "APIM {} answers for organization {} environment {}",
        probe.generation,
        target.organization_id(),
        target.environment_id()
    );
    if insecure {
        format!("{base}; WARNING: {}", crate::apim::INSECURE_WARNING)
    } else {
        base
    }
}
