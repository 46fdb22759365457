//! ApiResource controller: status (how many APIs use it) and deletion that waits while it is referenced.
//! The re-sync of the APIs using a resource is a watch mapping of the ApiDefinition controller
//! ([`super::api_definition::users_of_resource`]).

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::Event as Finalizer;
use kube::ResourceExt;

use super::status::{self, Reason, ACCEPTED, DELETION_BLOCKED, SYNCED};
use super::{Error, Shared};
use crate::crd::ApiResource;

/// `ns/name` of the ApiDefinitions (`ApiV4Definition ns/name` of the v4 APIs) that reference `resource`
/// (deleting ones excluded: they no longer need its content).
pub fn users(shared: &Shared, resource: &ApiResource) -> Vec<String> {
    let index = &shared.cache.index;
    let key = crate::model::ObjectKey::new(
        resource.metadata.namespace.clone().unwrap_or_default(),
        resource.name_any(),
    );
    let mut users: Vec<String> = index
        .resource_users(&key)
        .into_iter()
        .filter(|k| index.links(k).is_some_and(|l| !l.deleting))
        .map(|k| k.to_string())
        .collect();
    let v4 = &shared.cache.v4_index;
    users.extend(
        v4.resource_users(&key)
            .into_iter()
            .filter(|k| v4.links(k).is_some_and(|l| !l.deleting))
            .map(|k| format!("ApiV4Definition {k}")),
    );
    users.sort();
    users
}

/// "a, b, c and 4 more".
pub fn describe(users: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = users
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if users.len() > SHOWN {
        out.push_str(&format!(" and {} more", users.len() - SHOWN));
    }
    out
}

pub async fn reconcile(resource: Arc<ApiResource>, shared: Arc<Shared>) -> Result<Action, Error> {
    let shared = &shared;
    super::finalized(resource, shared, "ApiResource", |api, event| async move {
        match event {
            Finalizer::Apply(r) => apply(&r, shared, &api).await,
            Finalizer::Cleanup(r) => cleanup(&r, shared, &api).await,
        }
    })
    .await
}

async fn apply(
    resource: &ApiResource,
    shared: &Shared,
    api: &Api<ApiResource>,
) -> Result<Action, Error> {
    let old = resource.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let generation = resource.metadata.generation;
    st.observed_generation = generation;
    status::set(
        &mut st.conditions,
        ACCEPTED,
        true,
        Reason::Accepted,
        "",
        generation,
    );
    let mut action = Action::await_change();
    if shared.cache.apis.ready.is_ready() {
        let users = users(shared, resource);
        let count = Some(i64::try_from(users.len()).unwrap_or(i64::MAX));
        if count != old.referenced_by {
            if let Err(wait) = shared
                .memory
                .count_write_slot(resource.metadata.uid.as_deref().unwrap_or_default())
            {
                // Counted again shortly, with whatever the burst has become by then.
                return Ok(Action::requeue(wait));
            }
        }
        st.referenced_by = count;
        let message = if users.is_empty() {
            "not referenced by any ApiDefinition".to_owned()
        } else {
            format!(
                "inlined into {} ApiDefinition(s): {}",
                users.len(),
                describe(&users)
            )
        };
        status::set(
            &mut st.conditions,
            SYNCED,
            true,
            Reason::Resolved,
            message,
            generation,
        );
    }
    status::remove(&mut st.conditions, DELETION_BLOCKED);
    status::patch_status(api, &resource.name_any(), Some(&old), &st).await?;
    if !shared.cache.apis.ready.is_ready() {
        action = Action::requeue(shared.settings.blocked_requeue);
    }
    Ok(action)
}

async fn cleanup(
    resource: &ApiResource,
    shared: &Shared,
    api: &Api<ApiResource>,
) -> Result<Action, Error> {
    if !shared.cache.apis.ready.is_ready() {
        return Err(Error::Blocked {
            message: "waiting for the ApiDefinition cache before deleting".into(),
            retry: shared.settings.blocked_requeue,
        });
    }
    let users = users(shared, resource);
    if users.is_empty() {
        return Ok(Action::await_change());
    }
    let old = resource.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let message = format!(
        "deletion waits: still referenced by {}; remove the reference from those ApiDefinitions first",
        describe(&users)
    );
    st.referenced_by = Some(i64::try_from(users.len()).unwrap_or(i64::MAX));
    let changed = status::set(
        &mut st.conditions,
        DELETION_BLOCKED,
        true,
        Reason::InUse,
        message.clone(),
        resource.metadata.generation,
    );
    status::patch_status(api, &resource.name_any(), Some(&old), &st).await?;
    if changed {
        shared
            .event(
                resource,
                EventType::Warning,
                "DeletionBlocked",
                message.clone(),
            )
            .await;
    }
    Err(Error::Blocked {
        message,
        retry: shared.settings.blocked_requeue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_lists_are_shortened() {
        let users: Vec<String> = (0..8).map(|i| format!("ns/api-{i}")).collect();
        assert_eq!(
            describe(&users),
            "ns/api-0, ns/api-1, ns/api-2, ns/api-3, ns/api-4 and 3 more"
        );
        assert_eq!(describe(&users[..1]), "ns/api-0");
    }
}
