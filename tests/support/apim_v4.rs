//! v4 API definitions in the Management API stand-in: both generations APIM 4.x has served them with.
//!
//! - `AUTO` = `{automation prefix}/organizations/{org}/environments/{env}` (Automation API, APIM 4.8+):
//!   `PUT AUTO/apis?dryRun=&hridContainsUUID=`, `GET|DELETE AUTO/apis/{hrid}?hridContainsUUID=`.
//!   Off when the stand-in plays an older 4.x (`StandInConfig::without_automation`): every AUTO call is 404.
//! - `ENV2` = `{prefix}/v2/organizations/{org}/environments/{env}`: `PUT ENV2/apis/_import/crd?dryRun=`,
//!   `DELETE ENV2/apis/{id}?closePlans=true`.
//!
//! Identity as APIM 4.12 derives it (V3 = Java's name-based UUID: MD5 of the bytes, no namespace): in HRID
//! mode `crossId` = V3(org + hrid) unless given, `id` = V3(V3(org + hrid) + env); plan / page with hrid k
//! get `id` = V3(A + env + k), A = V3(org + apiHrid). With `hridContainsUUID=true` the body hrid is the
//! API id and the given ids are kept. An existing API is found by environment + crossId.
//!
//! Validation: severe findings (HTTP listener without path, duplicated path, path clash with any v2 or v4
//! API of the environment by APIM's prefix rule) answer 200 with `errors.severe` on a dry run and 400
//! `Unable to import because of errors [...]` otherwise; unknown categories are warnings and dropped; a
//! duplicate or missing plan / page hrid and an HTTP selector without `pathOperator` are plain 400s.

use std::collections::{BTreeMap, HashMap};

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::{bad_request, not_found, Reply, State, StoredApi};

/// Java's `UUID.nameUUIDFromBytes`: MD5 of the bytes with version 3 and the RFC 4122 variant.
pub fn v3(seed: &str) -> String {
    let digest: [u8; 16] = Md5::digest(seed.as_bytes()).into();
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .to_string()
}

/// (host, `/path/`) of every path of the HTTP listeners, normalised as APIM does (leading and trailing `/`).
pub fn listener_paths(definition: &Value) -> Vec<(String, String)> {
    definition
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| l.get("type").and_then(Value::as_str) == Some("HTTP"))
        .flat_map(|l| {
            l.get("paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| {
            let path = p.get("path")?.as_str()?;
            let host = p.get("host").and_then(Value::as_str).unwrap_or("");
            Some((host.to_owned(), normalise_path(path)))
        })
        .collect()
}

fn normalise_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// APIM's clash rule: same host (or both host-less) and one path a prefix of the other.
pub fn paths_clash(a: &(String, String), b: &(String, String)) -> bool {
    a.0 == b.0 && (a.1.starts_with(&b.1) || b.1.starts_with(&a.1))
}

/// Which call imports the definition.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `PUT AUTO/apis`, HRID mode.
    Hrid,
    /// `PUT AUTO/apis?hridContainsUUID=true`.
    Legacy,
    /// `PUT ENV2/apis/_import/crd`.
    ImportCrd,
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v == "true")
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl State {
    /// `rest` follows `AUTO` (already checked: organization and environment known).
    pub(super) fn route_automation(
        &mut self,
        method: &str,
        org: &str,
        env: &str,
        rest: &[&str],
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        let legacy = flag(query, "hridContainsUUID");
        match (method, rest) {
            ("PUT", ["apis"]) => {
                let flavour = if legacy {
                    Flavour::Legacy
                } else {
                    Flavour::Hrid
                };
                self.import_v4(org, env, body, flag(query, "dryRun"), flavour)
            }
            ("GET", ["apis", hrid]) => match self.find_v4(org, env, hrid, legacy) {
                Some(api) => (200, Some(state_view(api, org, env))),
                None => not_found(format!("Api [{hrid}] can not be found.")),
            },
            ("DELETE", ["apis", hrid]) => {
                let id = self.find_v4(org, env, hrid, legacy).map(|a| a.id.clone());
                match id.and_then(|id| self.remove_api(org, env, &id)) {
                    Some(_) => (204, None),
                    None => not_found(format!("Api [{hrid}] can not be found.")),
                }
            }
            _ => not_found(format!("No route for {method} {}", rest.join("/"))),
        }
    }

    /// `rest` follows `ENV2` for the v4 calls; `None` when the route is not one of them.
    pub(super) fn route_env2_v4(
        &mut self,
        method: &str,
        org: &str,
        env: &str,
        rest: &[&str],
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Option<Reply> {
        Some(match (method, rest) {
            ("PUT", ["apis", "_import", "crd"]) => {
                self.import_v4(org, env, body, flag(query, "dryRun"), Flavour::ImportCrd)
            }
            ("GET", ["apis", id]) => match self.stored(org, env, id) {
                Some(api) => (200, Some(state_view(api, org, env))),
                None => not_found(format!("Api [{id}] can not be found.")),
            },
            ("DELETE", ["apis", id]) => match self.remove_api(org, env, id) {
                Some(_) => (204, None),
                None => not_found(format!("Api [{id}] can not be found.")),
            },
            _ => return None,
        })
    }

    fn remove_api(&mut self, org: &str, env: &str, id: &str) -> Option<StoredApi> {
        self.apis
            .get_mut(&(org.to_owned(), env.to_owned()))
            .and_then(|apis| apis.remove(id))
    }

    fn find_v4(&self, org: &str, env: &str, key: &str, by_id: bool) -> Option<&StoredApi> {
        let mut apis = self.env_apis(org, env).filter(|a| a.v4);
        if by_id {
            apis.find(|a| a.id == key)
        } else {
            apis.find(|a| a.hrid.as_deref() == Some(key))
        }
    }

    fn import_v4(
        &mut self,
        org: &str,
        env: &str,
        body: &[u8],
        dry_run: bool,
        flavour: Flavour,
    ) -> Reply {
        let mut definition: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("Invalid API definition: expected a JSON object".into()),
        };
        let identity = match self.v4_identity(org, env, &definition, flavour) {
            Ok(identity) => identity,
            Err(reply) => return reply,
        };
        if let Err(reply) = check_plain_400s(&definition, flavour) {
            return reply;
        }
        let mut severe = self.v4_severe(org, env, &definition, &identity.id);
        severe.sort();
        let mut warning = self.drop_unknown_categories(&mut definition, env);
        warning.sort();
        if !severe.is_empty() && !dry_run {
            return bad_request(format!(
                "Unable to import because of errors [{}]",
                severe.join(",")
            ));
        }
        let plans = plan_ids(
            &definition,
            flavour,
            &identity,
            org,
            env,
            self.existing_plans(org, env, &identity.id),
        );
        let state = match str_of(&definition, "state") {
            Some(s @ ("STARTED" | "STOPPED")) => s.to_owned(),
            _ => "STARTED".to_owned(),
        };
        let mut answer = match flavour {
            Flavour::ImportCrd => json!({ "plans": plans }),
            Flavour::Hrid | Flavour::Legacy => definition.clone(),
        };
        if let Some(object) = answer.as_object_mut() {
            object.insert("id".into(), json!(identity.id));
            object.insert("crossId".into(), json!(identity.cross_id));
            object.insert("organizationId".into(), json!(org));
            object.insert("environmentId".into(), json!(env));
            object.insert("state".into(), json!(state));
            object.insert(
                "errors".into(),
                json!({ "severe": severe, "warning": warning }),
            );
        }
        if !dry_run {
            self.store_v4(org, env, identity, definition, state, plans);
        }
        (200, Some(answer))
    }

    fn existing_plans(&self, org: &str, env: &str, id: &str) -> BTreeMap<String, String> {
        self.stored(org, env, id)
            .map(|a| a.plans.clone())
            .unwrap_or_default()
    }

    fn v4_identity(
        &self,
        org: &str,
        env: &str,
        definition: &Value,
        flavour: Flavour,
    ) -> Result<Identity, Reply> {
        let given_cross_id = str_of(definition, "crossId").map(str::to_owned);
        let (hrid, cross_id, derived_id) = match flavour {
            Flavour::Hrid => {
                let hrid = str_of(definition, "hrid").ok_or_else(|| {
                    bad_request("Invalid API definition: hrid is required".into())
                })?;
                let base = v3(&format!("{org}{hrid}"));
                let id = v3(&format!("{base}{env}"));
                (Some(hrid.to_owned()), given_cross_id.unwrap_or(base), id)
            }
            Flavour::Legacy => {
                let id = str_of(definition, "hrid").ok_or_else(|| {
                    bad_request("Invalid API definition: hrid is required".into())
                })?;
                let cross_id = given_cross_id.unwrap_or_else(|| v3(&format!("{org}{id}")));
                (None, cross_id, id.to_owned())
            }
            Flavour::ImportCrd => {
                let id = str_of(definition, "id");
                let (Some(id), Some(cross_id)) = (id, given_cross_id) else {
                    return Err(bad_request(
                        "Invalid API definition: id and crossId are required".into(),
                    ));
                };
                (None, cross_id, id.to_owned())
            }
        };
        // The API of the environment with this crossId keeps its id, whatever the body says.
        let id = self
            .env_apis(org, env)
            .find(|a| a.cross_id == cross_id)
            .map_or(derived_id, |a| a.id.clone());
        Ok(Identity { id, cross_id, hrid })
    }

    fn v4_severe(&self, org: &str, env: &str, definition: &Value, id: &str) -> Vec<String> {
        let mut severe = Vec::new();
        for listener in definition
            .get("listeners")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|l| l.get("type").and_then(Value::as_str) == Some("HTTP"))
        {
            let empty = listener
                .get("paths")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            if empty {
                severe.push("HTTP listener requires a minimum of one path".to_owned());
            }
        }
        let paths = listener_paths(definition);
        for (i, path) in paths.iter().enumerate() {
            if paths[..i].contains(path) {
                severe.push(format!("Path [{}{}] is duplicated", path.0, path.1));
            }
        }
        let clashes: Vec<String> = self
            .env_apis(org, env)
            .filter(|other| other.id != id)
            .flat_map(|other| other.paths.iter())
            .filter(|taken| paths.iter().any(|p| paths_clash(p, taken)))
            .map(|taken| format!("Path [{}{}] already exists", taken.0, taken.1))
            .collect();
        severe.extend(clashes);
        severe
    }

    /// Unknown categories are dropped with a warning (only when the stand-in was told which exist).
    fn drop_unknown_categories(&self, definition: &mut Value, env: &str) -> Vec<String> {
        let Some(known) = &self.categories else {
            return Vec::new();
        };
        let Some(categories) = definition
            .get_mut("categories")
            .and_then(Value::as_array_mut)
        else {
            return Vec::new();
        };
        let mut warnings = Vec::new();
        categories.retain(|c| {
            let name = c.as_str().unwrap_or_default();
            let keep = known.contains(name);
            if !keep {
                warnings.push(format!(
                    "category [{name}] is not defined in environment [{env}]"
                ));
            }
            keep
        });
        warnings
    }

    fn store_v4(
        &mut self,
        org: &str,
        env: &str,
        identity: Identity,
        definition: Value,
        state: String,
        plans: BTreeMap<String, String>,
    ) {
        let deploys = state == "STARTED" && has_deployable_plan(&definition);
        let apis = self
            .apis
            .entry((org.to_owned(), env.to_owned()))
            .or_default();
        let api = apis
            .entry(identity.id.clone())
            .or_insert_with(|| StoredApi::empty(&identity.id, &identity.cross_id));
        api.v4 = true;
        api.hrid = identity.hrid;
        api.cross_id = identity.cross_id;
        api.paths = listener_paths(&definition);
        api.definition = definition;
        api.state = state;
        api.plans = plans;
        api.import_count += 1;
        if deploys {
            api.deploy_count += 1;
        }
    }
}

struct Identity {
    id: String,
    cross_id: String,
    /// `None` in legacy mode and on `_import/crd`: APIM stores no hrid then.
    hrid: Option<String>,
}

fn has_deployable_plan(definition: &Value) -> bool {
    plan_values(definition).any(|(_, p)| {
        matches!(
            p.get("status").and_then(Value::as_str),
            Some("PUBLISHED" | "DEPRECATED")
        )
    })
}

/// (key, plan): the hrid on AUTO (array), the map key on `_import/crd`.
fn plan_values(definition: &Value) -> Box<dyn Iterator<Item = (String, &Value)> + '_> {
    match definition.get("plans") {
        Some(Value::Array(plans)) => Box::new(plans.iter().enumerate().map(|(i, p)| {
            let key = str_of(p, "hrid").map_or_else(|| format!("plan-{i}"), str::to_owned);
            (key, p)
        })),
        Some(Value::Object(plans)) => Box::new(plans.iter().map(|(k, p)| (k.clone(), p))),
        _ => Box::new(std::iter::empty()),
    }
}

/// plan key → id: the id sent, else the one already stored, else APIM's derivation from the hrid.
fn plan_ids(
    definition: &Value,
    flavour: Flavour,
    identity: &Identity,
    org: &str,
    env: &str,
    existing: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let api_seed = v3(&format!(
        "{org}{}",
        identity.hrid.as_deref().unwrap_or(&identity.id)
    ));
    plan_values(definition)
        .map(|(key, plan)| {
            let id = str_of(plan, "id")
                .map(str::to_owned)
                .or_else(|| existing.get(&key).cloned())
                .unwrap_or_else(|| match flavour {
                    Flavour::Hrid => v3(&format!("{api_seed}{env}{key}")),
                    Flavour::Legacy | Flavour::ImportCrd => {
                        v3(&format!("{}{env}{key}", identity.id))
                    }
                });
            (key, id)
        })
        .collect()
}

/// Checks APIM answers with a plain 400 before validating (no `errors` object).
fn check_plain_400s(definition: &Value, flavour: Flavour) -> Result<(), Reply> {
    if flavour != Flavour::ImportCrd {
        for (field, label) in [("plans", "plans"), ("pages", "pages")] {
            let mut seen = Vec::new();
            for item in definition
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(hrid) = str_of(item, "hrid") else {
                    return Err(bad_request(format!("Missing hrid in {label}")));
                };
                if seen.contains(&hrid) {
                    return Err(bad_request(format!("Duplicate hrid found in {label}")));
                }
                seen.push(hrid);
            }
        }
    }
    for flow in flows(definition) {
        let missing = flow
            .get("selectors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| {
                s.get("type").and_then(Value::as_str) == Some("HTTP")
                    && s.get("pathOperator").is_none()
            });
        if missing {
            let name = str_of(flow, "name").unwrap_or_default();
            return Err(bad_request(format!(
                "The flow [{name}] contains an HTTP selector with a missing pathOperator"
            )));
        }
    }
    Ok(())
}

/// API flows and plan flows.
fn flows(definition: &Value) -> impl Iterator<Item = &Value> {
    let api = definition
        .get("flows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let plans = plan_values(definition).flat_map(|(_, p)| {
        p.get("flows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    });
    api.chain(plans)
}

/// `GET AUTO/apis/{hrid}`: the stored spec with APIM's ids (an `ApiV4State`).
fn state_view(api: &StoredApi, org: &str, env: &str) -> Value {
    let mut view = match &api.definition {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    view.insert("id".into(), json!(api.id));
    view.insert("crossId".into(), json!(api.cross_id));
    view.insert("organizationId".into(), json!(org));
    view.insert("environmentId".into(), json!(env));
    view.insert("state".into(), json!(api.state));
    if let Some(Value::Array(plans)) = view.get_mut("plans") {
        for plan in plans.iter_mut() {
            let id = str_of(plan, "hrid").and_then(|h| api.plans.get(h)).cloned();
            if let (Some(id), Some(object)) = (id, plan.as_object_mut()) {
                object.insert("id".into(), json!(id));
            }
        }
    }
    Value::Object(view)
}
