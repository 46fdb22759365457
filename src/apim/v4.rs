//! v4 API definitions: the Automation API (APIM 4.8+) and, on older 4.x, `_import/crd` on the Management API
//! v2. Which one a target serves is learned from the first v4 push (a `PUT AUTO/apis` answered 404 means
//! there is no Automation API: that `PUT` never answers 404 otherwise) and remembered per target, like the
//! APIM generation, until [`ApimClient::forget`].

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::{ApimClient, Reply};
use super::{ApimError, ImportErrors, Result, Target};

/// How APIM knows a v4 API.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum V4Identity {
    /// HRID mode (GKO 4.12+): `<namespace>-<name>`; APIM derives the ids from it.
    Hrid(String),
    /// Legacy mode (objects synced by GKO ≤ 4.11, or `spec.id` set): the API UUID, sent as the hrid with
    /// `hridContainsUUID=true`.
    Legacy(String),
}

impl V4Identity {
    /// The value that addresses the API on the Automation API.
    pub fn key(&self) -> &str {
        match self {
            V4Identity::Hrid(hrid) => hrid,
            V4Identity::Legacy(id) => id,
        }
    }
    pub fn is_legacy(&self) -> bool {
        matches!(self, V4Identity::Legacy(_))
    }
}

/// One v4 push: the identity and the body for each route (the reconcile builds both, purely).
#[derive(Clone, Copy, Debug)]
pub struct V4Push<'a> {
    pub identity: &'a V4Identity,
    /// `PUT AUTO/apis` body (plans and pages as arrays, hrids).
    pub automation: &'a Value,
    /// `PUT ENV2/apis/_import/crd` body (plans and pages as maps, ids mandatory).
    pub import_crd: &'a Value,
}

/// Which call carried a v4 push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V4Route {
    /// `PUT AUTO/apis` (APIM 4.8+).
    Automation,
    /// `PUT ENV2/apis/_import/crd` (APIM 4.2 – 4.7, or when the Automation API is absent).
    ImportCrd,
}

impl V4Route {
    pub fn as_str(self) -> &'static str {
        match self {
            V4Route::Automation => "automation",
            V4Route::ImportCrd => "import-crd",
        }
    }
}

/// What APIM answered a v4 push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V4PushResult {
    pub id: String,
    pub cross_id: String,
    pub organization_id: String,
    pub environment_id: String,
    /// STARTED / STOPPED as echoed (empty when APIM did not say).
    pub state: String,
    /// Plan key (hrid) → plan id. On the Automation API the plan list is an echo, so ids are those sent
    /// (empty in HRID mode); `_import/crd` answers the real ids.
    pub plans: BTreeMap<String, String>,
    pub errors: ImportErrors,
    pub route: V4Route,
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireState {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    cross_id: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    plans: Option<WirePlans>,
    #[serde(default)]
    errors: Option<WireErrors>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WirePlans {
    /// Automation API: the echoed plans.
    List(Vec<WirePlan>),
    /// `_import/crd`: key → id.
    Map(BTreeMap<String, String>),
}

#[derive(Deserialize)]
struct WirePlan {
    #[serde(default)]
    hrid: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct WireErrors {
    #[serde(default)]
    severe: Option<Vec<String>>,
    #[serde(default)]
    warning: Option<Vec<String>>,
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn parse(reply: Reply, route: V4Route, dry_run: bool) -> Result<V4PushResult> {
    let call = reply.call.clone();
    let wire: WireState = reply.json()?;
    let id = wire.id.unwrap_or_default();
    if id.is_empty() && !dry_run {
        return Err(ApimError::protocol(
            &call,
            "v4 import answered without an API id",
        ));
    }
    let plans = match wire.plans {
        Some(WirePlans::Map(map)) => map,
        Some(WirePlans::List(list)) => list
            .into_iter()
            .filter_map(|p| Some((p.hrid?, p.id.unwrap_or_default())))
            .collect(),
        None => BTreeMap::new(),
    };
    let errors = wire
        .errors
        .map_or_else(ImportErrors::default, |e| ImportErrors {
            severe: e.severe.unwrap_or_default(),
            warning: e.warning.unwrap_or_default(),
        });
    Ok(V4PushResult {
        id,
        cross_id: wire.cross_id.unwrap_or_default(),
        organization_id: wire.organization_id.unwrap_or_default(),
        environment_id: wire.environment_id.unwrap_or_default(),
        state: wire.state.unwrap_or_default(),
        plans,
        errors,
        route,
        dry_run,
    })
}

impl ApimClient {
    pub(super) fn automation_map(&self) -> MutexGuard<'_, std::collections::HashMap<String, bool>> {
        // Single inserts and removes: consistent even after a panic elsewhere.
        self.automation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `target` serves the Automation API, as last learned (`None`: not known yet).
    pub fn cached_automation(&self, target: &Target) -> Option<bool> {
        self.automation_map().get(&target.generation_key()).copied()
    }

    /// Forgets whether `target` serves the Automation API: the next v4 push tries it again.
    pub fn forget_automation(&self, target: &Target) {
        self.automation_map().remove(&target.generation_key());
    }

    fn remember_automation(&self, target: &Target, available: bool) {
        let previous = self
            .automation_map()
            .insert(target.generation_key(), available);
        if previous != Some(available) {
            tracing::info!(apim_target = %target, automation_api = available, "v4 route learned");
        }
    }

    /// Creates or updates a v4 API (and starts / stops it: `state` is in the body). Through the Automation
    /// API when the target has it, else `_import/crd`. With `dry_run` APIM validates only and answers the
    /// problems in `errors`; otherwise severe problems are an [`ApimError::Invalid`].
    pub async fn push_v4(
        &self,
        target: &Target,
        push: V4Push<'_>,
        dry_run: bool,
    ) -> Result<V4PushResult> {
        if self.cached_automation(target) != Some(false) {
            let mut url = target.automation_url(&["apis"])?;
            url.query_pairs_mut()
                .append_pair("dryRun", bool_str(dry_run));
            if push.identity.is_legacy() {
                url.query_pairs_mut()
                    .append_pair("hridContainsUUID", "true");
            }
            let reply = self
                .exchange(target, Method::PUT, url, Some(push.automation))
                .await?;
            if reply.status != 404 {
                if (200..300).contains(&reply.status) {
                    self.remember_automation(target, true);
                }
                return parse(reply, V4Route::Automation, dry_run);
            }
            self.remember_automation(target, false);
        }
        let mut url = target.url(true, &["apis", "_import", "crd"])?;
        url.query_pairs_mut()
            .append_pair("dryRun", bool_str(dry_run));
        let reply = self
            .exchange(target, Method::PUT, url, Some(push.import_crd))
            .await?;
        if reply.status == 404 {
            // Neither route: not the APIM that was learned. Try the Automation API again next time.
            self.forget_automation(target);
        }
        parse(reply, V4Route::ImportCrd, dry_run)
    }

    /// Deletes a v4 API, closing its plans. `api_id` (the APIM id, when known) lets an APIM without the
    /// Automation API be reached. `Ok(false)` when it was already gone.
    pub async fn delete_v4(
        &self,
        target: &Target,
        identity: &V4Identity,
        api_id: Option<&str>,
    ) -> Result<bool> {
        let known = self.cached_automation(target);
        if known != Some(false) {
            let mut url = target.automation_url(&["apis", identity.key()])?;
            url.query_pairs_mut()
                .append_pair("hridContainsUUID", bool_str(identity.is_legacy()));
            let reply = self.exchange(target, Method::DELETE, url, None).await?;
            if reply.status != 404 {
                reply.ok()?;
                return Ok(true);
            }
            // 404: gone, or no Automation API here (unknown yet): the Management API v2 tells which.
            if known == Some(true) {
                return Ok(false);
            }
        }
        let Some(id) = api_id.filter(|id| !id.is_empty()) else {
            return Ok(false);
        };
        let mut url = target.url(true, &["apis", id])?;
        url.query_pairs_mut().append_pair("closePlans", "true");
        let reply = self.exchange(target, Method::DELETE, url, None).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        reply.ok()?;
        Ok(true)
    }

    /// The v4 API as APIM holds it (`GET AUTO/apis/{hrid}`, or `GET ENV2/apis/{id}` without the Automation
    /// API), for drift checks. `NotFound` when it is gone.
    pub async fn get_v4(
        &self,
        target: &Target,
        identity: &V4Identity,
        api_id: Option<&str>,
    ) -> Result<Value> {
        let known = self.cached_automation(target);
        let env2 = |id: &str| target.url(true, &["apis", id]);
        if known == Some(false) {
            let url = env2(api_id.unwrap_or_else(|| identity.key()))?;
            return self.exchange(target, Method::GET, url, None).await?.json();
        }
        let mut url = target.automation_url(&["apis", identity.key()])?;
        url.query_pairs_mut()
            .append_pair("hridContainsUUID", bool_str(identity.is_legacy()));
        let reply = self.exchange(target, Method::GET, url, None).await?;
        // 404 while the route is not known: gone, or no Automation API; the Management API v2 tells which.
        match api_id.filter(|id| !id.is_empty()) {
            Some(id) if reply.status == 404 && known.is_none() => self
                .exchange(target, Method::GET, env2(id)?, None)
                .await?
                .json(),
            _ => reply.json(),
        }
    }
}
