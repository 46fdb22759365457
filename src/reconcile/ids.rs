//! Which crossIds and ids gko uses for an ApiDefinition and its plans, as pure decisions (README, "Which ids
//! gko uses"). The controller does the lookups in APIM around them (`api_definition::remote`).
//!
//! API crossId: `status.crossId` → `spec.crossId` → gko's own UUIDv5 of `namespace/name` when APIM holds
//! that API with gko's ownership stamp (so nothing gko already synced moves) → GKO 4.x's `U(namespace/name)`
//! (XXH3) when APIM holds it → GKO 0.x's (UUIDv3) when APIM holds it → for a new API, GKO 4.x's.
//!
//! Plan crossId (named plans): `spec.plans[].crossId` → a key of `status.plans` that one of the derivations
//! below gives (what was pushed before: stable without any read) → the crossId of the plan of that name
//! APIM holds for the API → GKO's `U(apiId/planName)` (XXH3), apiId being `status.id`, else `spec.id`,
//! else, for an API APIM has not assigned an id yet, the API crossId.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::crd::{ApiDefinition, ApiDefinitionStatus};
use crate::model::gko_ids::{self, Derivation};

use super::payload;

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Where a candidate API crossId comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// gko's UUIDv5 of `namespace/name` (gko before GKO compatibility): taken only if gko stamped the API.
    Gko,
    /// GKO's derivation (4.x / 0.12.1+, or 0.3.0-0.12.0).
    Gko4,
    Gko0,
}

/// A crossId to look for in APIM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub origin: Origin,
    pub cross_id: String,
}

/// The API crossId: known from the object, or to be searched for in APIM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiCrossId {
    /// `status.crossId` or `spec.crossId`.
    Known(String),
    /// Look these up in APIM; [`pick`] chooses; a new API gets [`new_api_cross_id`].
    Search(Vec<Candidate>),
}

/// The API crossId as far as the object alone tells it.
pub fn api_cross_id(api: &ApiDefinition) -> ApiCrossId {
    let status = api.status.as_ref().and_then(|s| s.cross_id.as_deref());
    if let Some(id) = non_empty(status).or_else(|| non_empty(api.spec.cross_id.as_deref())) {
        return ApiCrossId::Known(id.to_owned());
    }
    let (namespace, name) = names(api);
    ApiCrossId::Search(vec![
        Candidate {
            origin: Origin::Gko,
            cross_id: payload::derived_uuid(&format!("{namespace}/{name}")),
        },
        Candidate {
            origin: Origin::Gko4,
            cross_id: gko_ids::api_cross_id(Derivation::Xxh3, namespace, name),
        },
        Candidate {
            origin: Origin::Gko0,
            cross_id: gko_ids::api_cross_id(Derivation::V3, namespace, name),
        },
    ])
}

fn names(api: &ApiDefinition) -> (&str, &str) {
    (
        api.metadata.namespace.as_deref().unwrap_or_default(),
        api.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// The crossId of an API APIM does not hold under any candidate: GKO 4.x's `U(namespace/name)`.
pub fn new_api_cross_id(api: &ApiDefinition) -> String {
    let (namespace, name) = names(api);
    gko_ids::api_cross_id(Derivation::Xxh3, namespace, name)
}

/// The crossId without looking in APIM (dry runs, deletes of objects never synced): the known one, else
/// a new API's.
pub fn api_cross_id_offline(api: &ApiDefinition) -> String {
    match api_cross_id(api) {
        ApiCrossId::Known(id) => id,
        ApiCrossId::Search(_) => new_api_cross_id(api),
    }
}

/// What APIM holds under a candidate crossId.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The API carries gko's ownership stamp (any cluster).
    pub gko_stamped: bool,
}

/// Whether an API found under a candidate is the one to adopt: gko's own derivation only for an API gko
/// stamped (an unstamped API under that crossId is not gko's), GKO's derivations whenever APIM holds them.
pub fn accepts(origin: Origin, found: Option<Found>) -> bool {
    match (origin, found) {
        (_, None) => false,
        (Origin::Gko, Some(f)) => f.gko_stamped,
        (Origin::Gko4 | Origin::Gko0, Some(_)) => true,
    }
}

/// The candidate to adopt: the first one accepted, in order (`found[i]` is what APIM holds under
/// `candidates[i]`); `None`: a new API.
pub fn pick(candidates: &[Candidate], found: &[Option<Found>]) -> Option<usize> {
    candidates
        .iter()
        .zip(found)
        .position(|(candidate, f)| accepts(candidate.origin, *f))
}

/// Whether `status.id` and `status.plans` describe the API in the environment being pushed to: gko's status
/// names the context it pushed to; GKO's names the environment only (`syncedContext` absent, `id` present).
pub fn same_environment(status: &ApiDefinitionStatus, context: &str, environment_id: &str) -> bool {
    match status.synced_context.as_deref() {
        Some(synced) => synced == context,
        None => {
            non_empty(status.id.as_deref()).is_some()
                && status
                    .environment_id
                    .as_deref()
                    .is_none_or(|e| e == environment_id)
        }
    }
}

/// What the plan crossIds are chosen from, besides the spec.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanSources<'a> {
    pub api_cross_id: &'a str,
    /// `status.id` (GKO's or gko's), for the same environment.
    pub status_id: Option<&'a str>,
    pub spec_id: Option<&'a str>,
    /// `status.plans` (crossId → id), for the same environment.
    pub status_plans: Option<&'a BTreeMap<String, String>>,
    /// The plans APIM holds for the API: name → crossId (`None`: not read).
    pub remote: Option<&'a BTreeMap<String, String>>,
}

impl PlanSources<'_> {
    /// Every derivation a plan of this name may have been pushed under, most likely first.
    fn derivations(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for id in [self.status_id, self.spec_id].into_iter().flatten() {
            for d in Derivation::ALL {
                out.push(gko_ids::plan_cross_id(d, id, name));
            }
        }
        out.push(gko_ids::plan_cross_id(
            Derivation::Xxh3,
            self.api_cross_id,
            name,
        ));
        out.push(payload::plan_cross_id(self.api_cross_id, Some(name), 0));
        out
    }

    /// A crossId already recorded in `status.plans` for a plan of this name.
    fn recorded(&self, name: &str) -> Option<String> {
        let plans = self.status_plans?;
        self.derivations(name)
            .into_iter()
            .find(|c| plans.contains_key(c))
    }
}

/// The crossId of a plan without one in its spec (`name` non-empty).
pub fn plan_cross_id(sources: &PlanSources<'_>, name: &str) -> String {
    if let Some(recorded) = sources.recorded(name) {
        return recorded;
    }
    if let Some(remote) = sources.remote.and_then(|r| r.get(name)) {
        return remote.clone();
    }
    let api_id = non_empty(sources.status_id)
        .or_else(|| non_empty(sources.spec_id))
        .unwrap_or(sources.api_cross_id);
    gko_ids::plan_cross_id(Derivation::Xxh3, api_id, name)
}

/// Names of the spec's plans that have a name and no crossId.
fn unnamed_cross_ids(api: &ApiDefinition) -> Vec<&str> {
    api.spec
        .plans
        .iter()
        .flatten()
        .filter(|p| non_empty(p.cross_id.as_deref()).is_none())
        .filter_map(|p| non_empty(p.name.as_deref()))
        .collect()
}

/// Whether the plans APIM holds must be read to choose the plan crossIds: some named plan has no crossId
/// in its spec nor in `status.plans`.
pub fn needs_remote_plans(api: &ApiDefinition, sources: &PlanSources<'_>) -> bool {
    unnamed_cross_ids(api)
        .into_iter()
        .any(|name| sources.recorded(name).is_none())
}

/// Plan name → crossId for every named plan without a crossId in its spec.
pub fn plan_cross_ids(api: &ApiDefinition, sources: &PlanSources<'_>) -> BTreeMap<String, String> {
    unnamed_cross_ids(api)
        .into_iter()
        .map(|name| (name.to_owned(), plan_cross_id(sources, name)))
        .collect()
}

/// The plans of a definition as APIM returns it: name → crossId.
pub fn remote_plans(definition: &Value) -> BTreeMap<String, String> {
    definition
        .get("plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = non_empty(p.get("name").and_then(Value::as_str))?;
            let cross = non_empty(p.get("crossId").and_then(Value::as_str))?;
            Some((name.to_owned(), cross.to_owned()))
        })
        .collect()
}

/// The plan ids of a definition as APIM returns it: crossId → id.
pub fn remote_plan_ids(definition: &Value) -> BTreeMap<String, String> {
    definition
        .get("plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let cross = non_empty(p.get("crossId").and_then(Value::as_str))?;
            let id = non_empty(p.get("id").and_then(Value::as_str))?;
            Some((cross.to_owned(), id.to_owned()))
        })
        .collect()
}

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
