//! Pure payload building: what gko sends to the Management API for an ApiDefinition, the stable ids it
//! uses, and the hashes that let it skip a push when nothing changed. No I/O here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crd::api_definition::ApiState;
use crate::crd::{ApiDefinition, ApiResourceSpec};
use crate::model::template::{self as templating, Source};
use crate::model::Entrypoint;
use crate::model::ObjectKey;

/// API property holding the id of the cluster that pushed the API (read back for ownership checks).
pub const CLUSTER_PROPERTY: &str = "gko.cluster-id";
/// API property holding `namespace/name` of the ApiDefinition that pushed the API.
pub const OWNER_PROPERTY: &str = "gko.owner";

/// Fields of the spec that only mean something to the operator and are never sent.
const OPERATOR_ONLY: [&str; 2] = ["contextRef", "local"];

/// A deterministic UUID (v5, URL namespace) of `seed`.
pub fn derived_uuid(seed: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, seed.as_bytes()).to_string()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// gko's legacy crossId of a plan: a UUIDv5 of the API crossId and the plan name (or its position). Kept for
/// plans gko pushed before it derived ids as GKO does, and for unnamed plans (see `reconcile::ids`).
pub fn plan_cross_id(api_cross_id: &str, plan_name: Option<&str>, index: usize) -> String {
    match non_empty(plan_name) {
        Some(name) => derived_uuid(&format!("{api_cross_id}/plan/{name}")),
        None => derived_uuid(&format!("{api_cross_id}/plan/#{index}")),
    }
}

/// The values read from Secrets among resolved templates: what must never appear in a message.
pub fn secret_values(templates: &BTreeMap<TemplateKey, String>) -> Vec<String> {
    templates
        .iter()
        .filter(|(k, _)| k.secret)
        .map(|(_, v)| v.clone())
        .collect()
}

/// What a `[[ secret ... ]]` / `[[ configmap ... ]]` template names, with the namespace resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    pub secret: bool,
    pub namespace: String,
    pub name: String,
    pub key: String,
}

impl std::fmt::Display for TemplateKey {
    /// Names the object and key, never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.secret { "Secret" } else { "ConfigMap" };
        write!(
            f,
            "{kind} {}/{} key `{}`",
            self.namespace, self.name, self.key
        )
    }
}

/// Why a payload cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("ApiResource {0} is referenced but was not resolved")]
    MissingResource(ObjectKey),
    #[error("the template refers to {0}, which was not resolved")]
    MissingTemplate(TemplateKey),
    #[error("template `{0}` is not understood; write [[ secret `name/key` ]] or [[ configmap `name/key` ]]")]
    BadTemplate(String),
    #[error("cannot encode the definition: {0}")]
    Encode(String),
}

/// Every template of `value` (recursively), namespaces defaulting to `namespace`.
pub fn template_keys(value: &Value, namespace: &str) -> Result<Vec<TemplateKey>, PayloadError> {
    let mut out = Vec::new();
    collect_templates(value, namespace, &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect_templates(
    value: &Value,
    namespace: &str,
    out: &mut Vec<TemplateKey>,
) -> Result<(), PayloadError> {
    match value {
        Value::String(s) if templating::is_template(s) => {
            for parsed in templating::parse(s) {
                let t = parsed.map_err(PayloadError::BadTemplate)?;
                out.push(TemplateKey {
                    secret: t.source == Source::Secret,
                    namespace: t.namespace.unwrap_or_else(|| namespace.to_owned()),
                    name: t.name,
                    key: t.key,
                });
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| collect_templates(v, namespace, out)),
        Value::Object(map) => map
            .values()
            .try_for_each(|v| collect_templates(v, namespace, out)),
        _ => Ok(()),
    }
}

/// Replaces every template in `value` by its resolved value.
pub fn substitute(
    value: &mut Value,
    namespace: &str,
    values: &BTreeMap<TemplateKey, String>,
) -> Result<(), PayloadError> {
    match value {
        Value::String(s) if templating::is_template(s) => {
            *s = substitute_str(s, namespace, values)?;
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| substitute(v, namespace, values)),
        Value::Object(map) => map
            .values_mut()
            .try_for_each(|v| substitute(v, namespace, values)),
        _ => Ok(()),
    }
}

fn substitute_str(
    s: &str,
    namespace: &str,
    values: &BTreeMap<TemplateKey, String>,
) -> Result<String, PayloadError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("[[") {
        let Some(len) = rest[start..].find("]]") else {
            break;
        };
        let template = &rest[start..start + len + 2];
        let parsed = templating::parse(template)
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(template.to_owned()))
            .map_err(PayloadError::BadTemplate)?;
        let key = TemplateKey {
            secret: parsed.source == Source::Secret,
            namespace: parsed.namespace.unwrap_or_else(|| namespace.to_owned()),
            name: parsed.name,
            key: parsed.key,
        };
        let resolved = values
            .get(&key)
            .ok_or_else(|| PayloadError::MissingTemplate(key.clone()))?;
        out.push_str(&rest[..start]);
        out.push_str(resolved);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Ownership stamp written into the pushed definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub cluster_id: String,
    /// `namespace/name` of the ApiDefinition.
    pub owner: String,
}

/// Everything the payload depends on besides the ApiDefinition itself.
#[derive(Clone, Debug, Default)]
pub struct Inputs<'a> {
    pub cross_id: &'a str,
    /// APIM id of the API in the environment being pushed to (never an id from another environment).
    pub api_id: Option<&'a str>,
    /// planCrossId → APIM plan id, for the same environment.
    pub plan_ids: Option<&'a BTreeMap<String, String>>,
    /// Plan name → crossId for plans without one in the spec, as chosen by [`super::ids::plan_cross_ids`];
    /// plans it does not name get gko's legacy derivation ([`plan_cross_id`]).
    pub plan_cross_ids: Option<&'a BTreeMap<String, String>>,
    /// Resolved `resources[].ref` targets.
    pub resources: Option<&'a BTreeMap<ObjectKey, ApiResourceSpec>>,
    /// Resolved template values.
    pub templates: Option<&'a BTreeMap<TemplateKey, String>>,
    pub stamp: Option<&'a Stamp>,
}

/// Builds the definition sent to APIM (and written to the local ConfigMap): the spec minus operator-only
/// fields, with `id`, `crossId`, plan crossIds (and ids when known), referenced resources inlined, templates
/// resolved, `definition_context` set to Kubernetes / fully managed, `state` explicit and the ownership stamp.
pub fn build(api: &ApiDefinition, inputs: &Inputs<'_>) -> Result<Value, PayloadError> {
    let namespace = api.metadata.namespace.as_deref().unwrap_or_default();
    let mut value =
        serde_json::to_value(&api.spec).map_err(|e| PayloadError::Encode(e.to_string()))?;
    let Some(spec) = value.as_object_mut() else {
        return Err(PayloadError::Encode("the spec is not an object".into()));
    };
    for field in OPERATOR_ONLY {
        spec.remove(field);
    }
    spec.insert("crossId".into(), json!(inputs.cross_id));
    match non_empty(inputs.api_id).or_else(|| non_empty(api.spec.id.as_deref())) {
        Some(id) => {
            spec.insert("id".into(), json!(id));
        }
        None => {
            spec.remove("id");
        }
    }
    let state = match api.spec.state.unwrap_or_default() {
        ApiState::Started => "STARTED",
        ApiState::Stopped => "STOPPED",
    };
    spec.insert("state".into(), json!(state));

    if let Some(Value::Array(plans)) = spec.get_mut("plans") {
        for (index, plan) in plans.iter_mut().enumerate() {
            let Some(plan) = plan.as_object_mut() else {
                continue;
            };
            let name = plan.get("name").and_then(Value::as_str);
            let chosen = non_empty(name).and_then(|n| inputs.plan_cross_ids?.get(n));
            let cross_id = match non_empty(plan.get("crossId").and_then(Value::as_str)) {
                Some(c) => c.to_owned(),
                None => match chosen {
                    Some(c) => c.clone(),
                    None => plan_cross_id(inputs.cross_id, name, index),
                },
            };
            if let Some(id) = inputs.plan_ids.and_then(|ids| ids.get(&cross_id)) {
                plan.insert("id".into(), json!(id));
            }
            plan.insert("crossId".into(), json!(cross_id));
        }
    }

    if let Some(Value::Array(resources)) = spec.get_mut("resources") {
        for entry in resources.iter_mut() {
            let Some(reference) = entry.get("ref").filter(|r| r.is_object()) else {
                continue;
            };
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ns =
                non_empty(reference.get("namespace").and_then(Value::as_str)).unwrap_or(namespace);
            let key = ObjectKey::new(ns, name);
            let resolved = inputs
                .resources
                .and_then(|r| r.get(&key))
                .ok_or_else(|| PayloadError::MissingResource(key.clone()))?;
            *entry = inline_resource(resolved)?;
        }
    }

    let mut context = Map::new();
    context.insert("origin".into(), json!("kubernetes"));
    context.insert("mode".into(), json!("fully_managed"));
    if let Some(sync_from) = api
        .spec
        .definition_context
        .as_ref()
        .and_then(|c| c.sync_from.as_deref())
    {
        context.insert("syncFrom".into(), json!(sync_from));
    }
    spec.insert("definition_context".into(), Value::Object(context));

    if let Some(stamp) = inputs.stamp {
        let mut properties: Vec<Value> = match spec.remove("properties") {
            Some(Value::Array(p)) => p,
            _ => Vec::new(),
        };
        properties.retain(|p| {
            let key = p.get("key").and_then(Value::as_str);
            key != Some(CLUSTER_PROPERTY) && key != Some(OWNER_PROPERTY)
        });
        properties.push(json!({ "key": CLUSTER_PROPERTY, "value": stamp.cluster_id }));
        properties.push(json!({ "key": OWNER_PROPERTY, "value": stamp.owner }));
        spec.insert("properties".into(), Value::Array(properties));
    }

    match inputs.templates {
        Some(values) => substitute(&mut value, namespace, values)?,
        None => {
            if let Some(first) = template_keys(&value, namespace)?.into_iter().next() {
                return Err(PayloadError::MissingTemplate(first));
            }
        }
    }
    Ok(value)
}

fn inline_resource(resource: &ApiResourceSpec) -> Result<Value, PayloadError> {
    let mut value =
        serde_json::to_value(resource).map_err(|e| PayloadError::Encode(e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.entry("enabled").or_insert(json!(true));
    }
    Ok(value)
}

/// Fills the ids a gateway needs when there is no APIM to assign them (local-only APIs): the API id and plan
/// ids derived from the crossIds, unless already set.
pub fn fill_local_ids(payload: &mut Value) {
    let Some(object) = payload.as_object_mut() else {
        return;
    };
    let cross_id = object
        .get("crossId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    object
        .entry("id")
        .or_insert_with(|| json!(derived_uuid(&format!("{cross_id}/id"))));
    if let Some(Value::Array(plans)) = object.get_mut("plans") {
        for plan in plans.iter_mut().filter_map(Value::as_object_mut) {
            let plan_cross = plan
                .get("crossId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            plan.entry("id")
                .or_insert_with(|| json!(derived_uuid(&format!("{plan_cross}/id"))));
        }
    }
}

/// Identity of an APIM target for hashing: where, not with which credentials.
pub fn target_identity(base_url: &str, path_prefix: &str, org: &str, env: &str) -> String {
    format!("{base_url}{path_prefix}\u{0}{org}\u{0}{env}")
}

/// Hash of what a push depends on: the payload without APIM-assigned ids (they come back from APIM and must
/// not make the next reconcile look different) and the target identity (a URL, organization or environment
/// change pushes again). Credentials are not part of it.
pub fn sync_hash(payload: &Value, target_identity: &str) -> String {
    let mut hasher = Sha256::new();
    let mut without_ids = payload.clone();
    if let Some(object) = without_ids.as_object_mut() {
        object.remove("id");
        if let Some(Value::Array(plans)) = object.get_mut("plans") {
            for plan in plans.iter_mut().filter_map(Value::as_object_mut) {
                plan.remove("id");
            }
        }
    }
    canonical(&without_ids, &mut hasher);
    hasher.update([0u8]);
    hasher.update(target_identity.as_bytes());
    hex(&hasher.finalize())
}

/// Hash of any JSON value, independent of key order.
pub fn value_hash(value: &Value) -> String {
    let mut hasher = Sha256::new();
    canonical(value, &mut hasher);
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Feeds a canonical encoding of `value` (object keys sorted) to the hasher.
fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            hasher.update(b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                if let Some(v) = map.get(key) {
                    canonical(v, hasher);
                }
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// The `host + path` entrypoints of a definition, for conflict checks.
pub fn entrypoints(definition: &Value) -> Vec<Entrypoint> {
    definition
        .pointer("/proxy/virtual_hosts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|vh| {
            let path = vh.get("path")?.as_str()?;
            Some(Entrypoint::new(
                vh.get("host").and_then(Value::as_str),
                path,
            ))
        })
        .collect()
}

/// Reads the ownership stamp back from a definition as APIM returns it.
pub fn read_stamp(definition: &Value) -> (Option<String>, Option<String>) {
    let mut cluster = None;
    let mut owner = None;
    for p in definition
        .get("properties")
        .and_then(properties_list)
        .into_iter()
        .flatten()
    {
        match p.get("key").and_then(Value::as_str) {
            Some(CLUSTER_PROPERTY) => {
                cluster = p.get("value").and_then(Value::as_str).map(str::to_owned)
            }
            Some(OWNER_PROPERTY) => {
                owner = p.get("value").and_then(Value::as_str).map(str::to_owned)
            }
            _ => {}
        }
    }
    (cluster, owner)
}

/// APIM 3.x returns `properties` as a list; some versions wrap it as `{properties: [...]}`.
fn properties_list(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Array(list) => Some(list),
        Value::Object(o) => o.get("properties").and_then(Value::as_array),
        _ => None,
    }
}

/// Top-level fields compared by drift detection: what a console user can edit and gko sets.
pub const DRIFT_FIELDS: [&str; 17] = [
    "name",
    "version",
    "description",
    "visibility",
    "state",
    "proxy",
    "flows",
    "plans",
    "resources",
    "properties",
    "tags",
    "labels",
    "categories",
    "path_mappings",
    "response_templates",
    "services",
    "flow_mode",
];

/// The drift fields of `pushed` that differ in `remote`. Only what gko sent is compared (defaults APIM adds
/// are ignored); plans are matched by crossId; numbers compare by value.
pub fn drifted_fields(pushed: &Value, remote: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in DRIFT_FIELDS {
        let Some(ours) = pushed.get(field) else {
            continue;
        };
        let theirs = remote.get(field).unwrap_or(&Value::Null);
        let same = if field == "plans" {
            same_plans(ours, theirs)
        } else {
            covers(theirs, ours)
        };
        if !same {
            out.push(field.to_owned());
        }
    }
    out
}

fn same_plans(ours: &Value, theirs: &Value) -> bool {
    let (Some(ours), Some(theirs)) = (ours.as_array(), theirs.as_array()) else {
        return covers(theirs, ours);
    };
    if ours.len() != theirs.len() {
        return false;
    }
    ours.iter().all(|plan| {
        let cross = plan.get("crossId");
        theirs
            .iter()
            .find(|t| t.get("crossId") == cross)
            .is_some_and(|t| {
                let mut plan = plan.clone();
                if let Some(o) = plan.as_object_mut() {
                    o.remove("id");
                }
                covers(t, &plan)
            })
    })
}

/// True when `remote` holds every value of `ours` (extra keys in remote objects are ignored).
pub fn covers(remote: &Value, ours: &Value) -> bool {
    match (ours, remote) {
        (Value::Object(o), Value::Object(r)) => o
            .iter()
            .all(|(k, v)| covers(r.get(k).unwrap_or(&Value::Null), v)),
        (Value::Array(o), Value::Array(r)) => {
            o.len() == r.len() && o.iter().zip(r).all(|(a, b)| covers(b, a))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ApiDefinitionSpec;

    fn api(spec: Value) -> ApiDefinition {
        let spec: ApiDefinitionSpec = serde_json::from_value(spec).expect("spec");
        let mut api = ApiDefinition::new("orders", spec);
        api.metadata.namespace = Some("team".into());
        api
    }

    fn base_spec() -> Value {
        json!({
            "name": "orders", "version": "1", "description": "d",
            "contextRef": {"name": "dev"}, "local": false,
            "proxy": {"virtual_hosts": [{"path": "/orders"}],
                      "groups": [{"name": "g", "endpoints": [{"name": "e", "target": "https://b"}]}]},
            "plans": [{"name": "free", "security": "KEY_LESS"}, {"name": "gold", "security": "API_KEY", "crossId": "fixed"}],
            "resources": [{"ref": {"name": "cache", "namespace": "shared"}}, {"name": "inline", "type": "t", "configuration": {}}],
        })
    }

    fn cache() -> BTreeMap<ObjectKey, ApiResourceSpec> {
        let spec: ApiResourceSpec = serde_json::from_value(
            json!({"name": "my-cache", "type": "cache", "configuration": {"ttl": 60}}),
        )
        .expect("resource");
        BTreeMap::from([(ObjectKey::new("shared", "cache"), spec)])
    }

    #[test]
    fn legacy_plan_cross_ids_are_stable_per_name() {
        assert_ne!(
            plan_cross_id("x", Some("free"), 0),
            plan_cross_id("x", Some("gold"), 0)
        );
        assert_eq!(
            plan_cross_id("x", Some("free"), 0),
            plan_cross_id("x", Some("free"), 3)
        );
        assert_ne!(
            plan_cross_id("x", Some("free"), 0),
            plan_cross_id("y", Some("free"), 0)
        );
    }

    #[test]
    fn payload_strips_operator_fields_and_fills_ids() -> Result<(), PayloadError> {
        let a = api(base_spec());
        let resources = cache();
        let plan_ids = BTreeMap::from([("fixed".to_string(), "plan-gold-id".to_string())]);
        let stamp = Stamp {
            cluster_id: "c1".into(),
            owner: "team/orders".into(),
        };
        let p = build(
            &a,
            &Inputs {
                cross_id: "cross",
                api_id: Some("apim-id"),
                plan_ids: Some(&plan_ids),
                plan_cross_ids: None,
                resources: Some(&resources),
                stamp: Some(&stamp),
                ..Default::default()
            },
        )?;
        assert!(p.get("contextRef").is_none() && p.get("local").is_none());
        assert_eq!(p["crossId"], "cross");
        assert_eq!(p["id"], "apim-id");
        assert_eq!(p["state"], "STARTED");
        assert_eq!(
            p["plans"][0]["crossId"],
            plan_cross_id("cross", Some("free"), 0)
        );
        assert!(p["plans"][0].get("id").is_none());
        assert_eq!(p["plans"][1]["crossId"], "fixed");
        assert_eq!(p["plans"][1]["id"], "plan-gold-id");
        assert_eq!(
            p["resources"][0],
            json!({"name": "my-cache", "type": "cache", "enabled": true, "configuration": {"ttl": 60}})
        );
        assert_eq!(p["resources"][1]["name"], "inline");
        assert_eq!(
            p["definition_context"],
            json!({"origin": "kubernetes", "mode": "fully_managed"})
        );
        assert_eq!(
            read_stamp(&p),
            (Some("c1".into()), Some("team/orders".into()))
        );
        Ok(())
    }

    #[test]
    fn missing_resource_is_an_error() {
        let a = api(base_spec());
        let err = build(
            &a,
            &Inputs {
                cross_id: "c",
                ..Default::default()
            },
        );
        assert_eq!(
            err,
            Err(PayloadError::MissingResource(ObjectKey::new(
                "shared", "cache"
            )))
        );
    }

    #[test]
    fn templates_are_resolved_in_place() -> Result<(), PayloadError> {
        let mut spec = base_spec();
        spec["resources"] = json!([]);
        spec["plans"][1]["securityDefinition"] = json!("[[ secret `jwt/key` ]]");
        spec["proxy"]["groups"][0]["endpoints"][0]["target"] =
            json!("https://[[ configmap `other/hosts/backend` ]]/v1");
        let a = api(spec);
        let keys = template_keys(&serde_json::to_value(&a.spec).unwrap_or_default(), "team")?;
        assert_eq!(keys.len(), 2);
        let values = BTreeMap::from([
            (
                TemplateKey {
                    secret: true,
                    namespace: "team".into(),
                    name: "jwt".into(),
                    key: "key".into(),
                },
                "{\"signature\":\"RS256\"}".to_string(),
            ),
            (
                TemplateKey {
                    secret: false,
                    namespace: "other".into(),
                    name: "hosts".into(),
                    key: "backend".into(),
                },
                "b.example".to_string(),
            ),
        ]);
        let p = build(
            &a,
            &Inputs {
                cross_id: "c",
                templates: Some(&values),
                ..Default::default()
            },
        )?;
        assert_eq!(
            p["plans"][1]["securityDefinition"],
            "{\"signature\":\"RS256\"}"
        );
        assert_eq!(
            p["proxy"]["groups"][0]["endpoints"][0]["target"],
            "https://b.example/v1"
        );
        let missing = build(
            &a,
            &Inputs {
                cross_id: "c",
                ..Default::default()
            },
        );
        assert!(matches!(missing, Err(PayloadError::MissingTemplate(_))));
        Ok(())
    }

    #[test]
    fn hash_ignores_key_order_and_apim_ids_but_not_target() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}, "id": "one", "plans": [{"name": "p", "id": "x"}]});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1, "plans": [{"id": "y", "name": "p"}]});
        let t = target_identity("http://h", "/management", "o", "e");
        assert_eq!(sync_hash(&a, &t), sync_hash(&b, &t));
        let t2 = target_identity("http://h", "/management", "o", "e2");
        assert_ne!(sync_hash(&a, &t), sync_hash(&a, &t2));
        let c = json!({"a": {"x": "s", "y": [2, 1]}, "b": 1});
        assert_ne!(sync_hash(&a, &t), sync_hash(&c, &t));
        assert_eq!(value_hash(&a["a"]), value_hash(&b["a"]));
    }

    #[test]
    fn local_ids_are_derived_once() {
        let mut p =
            json!({"crossId": "c", "plans": [{"crossId": "p1"}, {"crossId": "p2", "id": "keep"}]});
        fill_local_ids(&mut p);
        assert_eq!(p["id"], derived_uuid("c/id"));
        assert_eq!(p["plans"][0]["id"], derived_uuid("p1/id"));
        assert_eq!(p["plans"][1]["id"], "keep");
    }

    #[test]
    fn drift_compares_only_what_was_pushed() {
        let pushed = json!({
            "name": "n", "state": "STARTED",
            "proxy": {"virtual_hosts": [{"path": "/a"}], "strip_context_path": false},
            "plans": [{"crossId": "p1", "name": "free", "id": "x"}, {"crossId": "p2", "name": "gold"}],
            "properties": [{"key": "k", "value": 1}],
        });
        let remote = json!({
            "id": "api", "name": "n", "state": "STARTED", "deployedAt": 123,
            "proxy": {"virtual_hosts": [{"path": "/a", "override_entrypoint": true}], "strip_context_path": false, "groups": []},
            "plans": [{"crossId": "p2", "name": "gold", "id": "y", "status": "PUBLISHED"}, {"crossId": "p1", "name": "free", "id": "x"}],
            "properties": [{"key": "k", "value": 1.0}],
        });
        assert!(drifted_fields(&pushed, &remote).is_empty());
        let mut edited = remote.clone();
        edited["proxy"]["virtual_hosts"][0]["path"] = json!("/b");
        edited["state"] = json!("STOPPED");
        assert_eq!(drifted_fields(&pushed, &edited), vec!["state", "proxy"]);
        let mut fewer = remote.clone();
        fewer["plans"] = json!([{"crossId": "p1", "name": "free"}]);
        assert_eq!(drifted_fields(&pushed, &fewer), vec!["plans"]);
    }

    #[test]
    fn entrypoints_are_normalised() {
        let d = json!({"proxy": {"virtual_hosts": [{"path": "/a/"}, {"host": "API.example", "path": "b"}]}});
        assert_eq!(
            entrypoints(&d),
            vec![
                Entrypoint::new(None, "/a"),
                Entrypoint::new(Some("api.example"), "/b")
            ]
        );
    }
}
