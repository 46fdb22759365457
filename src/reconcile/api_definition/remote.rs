//! The API as APIM holds it: read back by id or crossId (ownership stamp), and path conflicts explained.

use super::*;

/// The API as APIM holds it, with the ownership stamp read back.
#[derive(Clone, Debug)]
pub struct Remote {
    pub id: String,
    pub cluster: Option<String>,
    pub owner: Option<String>,
    pub definition: Value,
}

impl Remote {
    pub(super) fn from_definition(id: String, definition: Value) -> Remote {
        let (cluster, owner) = payload::read_stamp(&definition);
        Remote {
            id,
            cluster,
            owner,
            definition,
        }
    }

    /// Another cluster's stamp, if the API carries one.
    pub fn other_cluster(&self, ours: &str) -> Option<&str> {
        self.cluster.as_deref().filter(|c| *c != ours)
    }

    pub(super) fn describe_owner(&self) -> String {
        match (&self.cluster, &self.owner) {
            (Some(c), Some(o)) => format!("cluster {c} (ApiDefinition {o})"),
            (Some(c), None) => format!("cluster {c}"),
            _ => "an owner not managed by gko".into(),
        }
    }
}

/// Reads the API with this crossId in the target's environment: by its known id first, else by crossId.
pub async fn read_remote(
    shared: &Shared,
    target: &Target,
    cross_id: &str,
    known_id: Option<&str>,
) -> Result<Option<Remote>, ApimError> {
    if let Some(id) = known_id.filter(|s| !s.is_empty()) {
        match shared.apim.get_api(target, id).await {
            Ok(definition) => {
                let same = definition
                    .get("crossId")
                    .and_then(Value::as_str)
                    .is_none_or(|c| c == cross_id);
                if same {
                    return Ok(Some(Remote::from_definition(id.to_owned(), definition)));
                }
            }
            Err(ApimError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(summary) = shared.apim.find_by_cross_id(target, cross_id).await? else {
        return Ok(None);
    };
    match shared.apim.get_api(target, &summary.id).await {
        Ok(definition) => Ok(Some(Remote::from_definition(summary.id, definition))),
        Err(ApimError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Searches APIM for the API crossId among `candidates` (read at the same time: a new API needs every
/// answer) and chooses with [`ids::pick`]; a new API when none is held. Returns the crossId and the API
/// read back under it.
pub(super) async fn search_cross_id(
    shared: &Shared,
    target: &Target,
    api: &ApiDefinition,
    candidates: &[ids::Candidate],
) -> Result<(String, Option<Remote>), ApimError> {
    let reads = futures::future::join_all(
        candidates
            .iter()
            .map(|c| read_remote(shared, target, &c.cross_id, None)),
    )
    .await;
    let mut remotes = reads.into_iter().collect::<Result<Vec<_>, _>>()?;
    let found: Vec<Option<ids::Found>> = remotes
        .iter()
        .map(|r| {
            r.as_ref().map(|r| ids::Found {
                gko_stamped: r.cluster.is_some(),
            })
        })
        .collect();
    let chosen = ids::pick(candidates, &found)
        .and_then(|i| Some((candidates.get(i)?, remotes.get_mut(i)?.take())));
    match chosen {
        Some((candidate, remote)) => {
            let origin = candidate.origin;
            tracing::info!(cross_id = %candidate.cross_id, ?origin, api = %key_of(api), "adopting the API APIM holds");
            Ok((candidate.cross_id.clone(), remote))
        }
        None => Ok((ids::new_api_cross_id(api), None)),
    }
}

/// The crossId of an API that neither status nor spec names, searched in the context's APIM (a local-only
/// API gets a new API's). `None` when APIM could not be asked: the failure is recorded.
pub(super) async fn settle_cross_id(run: &mut Run<'_>, refs: &Refs) -> Option<String> {
    let api = run.api;
    let shared = run.shared;
    let ids::ApiCrossId::Search(candidates) = ids::api_cross_id(api) else {
        return Some(ids::api_cross_id_offline(api));
    };
    let Some(context) = &refs.context else {
        return Some(ids::new_api_cross_id(api));
    };
    let permit = match shared.breakers.admit(&context.key) {
        Ok(p) => p,
        Err(wait) => {
            run.fail(
                Reason::ContextUnavailable,
                format!(
                    "the Management API of context {} is unreachable: the API's crossId is looked up there first",
                    context.key
                ),
                Retry::Slow(wait + Duration::from_millis(50)),
            );
            return None;
        }
    };
    match search_cross_id(shared, &context.target, api, &candidates).await {
        Ok((cross_id, remote)) => {
            permit.success();
            run.prefetched = Some(Prefetched {
                context: context.key.clone(),
                cross_id: cross_id.clone(),
                remote,
            });
            Some(cross_id)
        }
        Err(e) => {
            record_apim_failure(shared, permit, &context.key, &e);
            run.fail_apim(&e);
            None
        }
    }
}

/// After APIM refused a definition: the API (of this environment) holding one of its entrypoints, described.
pub(super) async fn path_conflict(
    shared: &Shared,
    target: &Target,
    pushed: &Value,
    cross_id: &str,
) -> Option<String> {
    let ours = payload::entrypoints(pushed);
    if ours.is_empty() {
        return None;
    }
    let list = shared.apim.list_apis(target).await.ok()?;
    let candidates: Vec<String> = list
        .into_iter()
        .filter(|a| a.cross_id.as_deref() != Some(cross_id))
        .map(|a| a.id)
        .collect();
    let mut reads = futures::stream::iter(candidates)
        .map(|id| async move {
            let definition = shared.apim.get_api(target, &id).await.ok()?;
            Some(Remote::from_definition(id, definition))
        })
        .buffer_unordered(8);
    while let Some(remote) = reads.next().await {
        let Some(remote) = remote else { continue };
        let theirs = payload::entrypoints(&remote.definition);
        if let Some(clash) = ours
            .iter()
            .find(|e| theirs.iter().any(|t| t.clashes_with(e)))
        {
            let name = remote
                .definition
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let who = if remote.cluster.as_deref() == Some(shared.cluster_id.as_str()) {
                match &remote.owner {
                    Some(o) => format!("this cluster (ApiDefinition {o})"),
                    None => "this cluster".into(),
                }
            } else {
                remote.describe_owner()
            };
            return Some(format!(
                "context path {clash} is already used in environment {} by API \"{name}\" (id {}) owned by {who}",
                target.environment_id(),
                remote.id
            ));
        }
    }
    None
}
