//! The bodies gko sends for a v4 API, built purely from the object and what its references resolved to:
//! the Automation API's (HRID or legacy mode), `_import/crd`'s (GKO ≤ 4.11 shape) and the gateway JSON of
//! the local ConfigMap.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::ids::{self, LegacyIds};
use crate::apim::V4Identity;
use crate::crd::api_definition::ApiState;
use crate::crd::api_v4_definition::SyncFrom;
use crate::crd::{ApiResourceSpec, ApiV4Definition};
use crate::model::ObjectKey;
use crate::reconcile::payload::{self, PayloadError, Stamp, TemplateKey};

/// What the bodies depend on besides the object.
#[derive(Clone, Copy, Debug)]
pub struct BodyInputs<'a> {
    pub identity: &'a V4Identity,
    pub resources: &'a BTreeMap<ObjectKey, ApiResourceSpec>,
    pub templates: &'a BTreeMap<TemplateKey, String>,
    pub stamp: Option<&'a Stamp>,
}

/// `STARTED` or `STOPPED` as the spec asks (default STARTED).
pub fn desired_state(api: &ApiV4Definition) -> &'static str {
    match api.spec.state.unwrap_or_default() {
        ApiState::Started => "STARTED",
        ApiState::Stopped => "STOPPED",
    }
}

/// `definitionContext.syncFrom: KUBERNETES`: gko also writes the gateway ConfigMap.
pub fn syncs_from_kubernetes(api: &ApiV4Definition) -> bool {
    api.spec
        .definition_context
        .as_ref()
        .and_then(|c| c.sync_from)
        == Some(SyncFrom::Kubernetes)
}

/// The spec as JSON with what every body shares: `contextRef` gone, resources inlined, templates resolved,
/// `definitionContext` and `state` explicit, the ownership stamp in `properties`.
fn common(
    api: &ApiV4Definition,
    inputs: &BodyInputs<'_>,
) -> Result<Map<String, Value>, PayloadError> {
    let namespace = api.metadata.namespace.as_deref().unwrap_or_default();
    let mut value =
        serde_json::to_value(&api.spec).map_err(|e| PayloadError::Encode(e.to_string()))?;
    payload::substitute(&mut value, namespace, inputs.templates)?;
    let Value::Object(mut spec) = value else {
        return Err(PayloadError::Encode("the spec is not an object".into()));
    };
    spec.remove("contextRef");
    spec.insert("definitionVersion".into(), json!("V4"));
    spec.insert("state".into(), json!(desired_state(api)));
    let mut context = json!({"origin": "KUBERNETES", "syncFrom": "MANAGEMENT"});
    if let (Some(Value::Object(given)), Some(target)) =
        (spec.get("definitionContext"), context.as_object_mut())
    {
        target.extend(given.clone());
    }
    spec.insert("definitionContext".into(), context);

    if let Some(Value::Array(resources)) = spec.get_mut("resources") {
        for entry in resources.iter_mut() {
            let Some(reference) = entry.get("ref").filter(|r| r.is_object()) else {
                continue;
            };
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ns = reference
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(namespace);
            let key = ObjectKey::new(ns, name);
            let resolved = inputs
                .resources
                .get(&key)
                .ok_or_else(|| PayloadError::MissingResource(key.clone()))?;
            *entry = json!({
                "name": resolved.name,
                "type": resolved.type_,
                "configuration": resolved.configuration,
                "enabled": true,
            });
        }
    }

    if let Some(stamp) = inputs.stamp {
        let mut properties = match spec.remove("properties") {
            Some(Value::Array(p)) => p,
            _ => Vec::new(),
        };
        properties.retain(|p| {
            let key = p.get("key").and_then(Value::as_str);
            key != Some(payload::CLUSTER_PROPERTY) && key != Some(payload::OWNER_PROPERTY)
        });
        properties.push(json!({"key": payload::CLUSTER_PROPERTY, "value": stamp.cluster_id}));
        properties.push(json!({"key": payload::OWNER_PROPERTY, "value": stamp.owner}));
        spec.insert("properties".into(), Value::Array(properties));
    }
    Ok(spec)
}

/// What the sync hash covers: the spec as every body shares it (resources inlined, templates resolved, the
/// stamp), without the identity fields that depend on the mode or the route, so that an object whose mode
/// follows from its first push (HRID, then legacy after `_import/crd`) is not pushed again for it.
pub fn hash_basis(api: &ApiV4Definition, inputs: &BodyInputs<'_>) -> Result<Value, PayloadError> {
    common(api, inputs).map(Value::Object)
}

fn take_map(spec: &mut Map<String, Value>, field: &str) -> Vec<(String, Map<String, Value>)> {
    match spec.remove(field) {
        // A BTreeMap in the spec: already sorted by key, so array positions (plan order) are stable.
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::Object(o) => (k, o),
                _ => (k, Map::new()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_set(object: &Map<String, Value>, key: &str) -> bool {
    object
        .get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// `PUT AUTO/apis` body: plans and pages as arrays sorted by key, hrids from the keys, ids only in legacy
/// mode (GKO's derivation, so a migrated API keeps its plans and pages).
pub fn automation_body(
    api: &ApiV4Definition,
    inputs: &BodyInputs<'_>,
) -> Result<Value, PayloadError> {
    let mut spec = common(api, inputs)?;
    spec.insert("hrid".into(), json!(inputs.identity.key()));
    let legacy = match inputs.identity {
        V4Identity::Hrid(_) => {
            spec.remove("id");
            None
        }
        V4Identity::Legacy(id) => {
            let cross_id = ids::legacy_cross_id(api);
            spec.insert("id".into(), json!(id));
            spec.insert("crossId".into(), json!(cross_id));
            Some(LegacyIds::new(api, id.clone(), cross_id))
        }
    };
    let api_ref = legacy
        .as_ref()
        .map_or_else(|| inputs.identity.key().to_owned(), |l| l.api_id.clone());
    let plans: Vec<Value> = take_map(&mut spec, "plans")
        .into_iter()
        .map(|(key, mut plan)| {
            plan.insert("hrid".into(), json!(ids::sanitise(&key)));
            if let Some(Value::String(page)) = plan.remove("generalConditions") {
                plan.insert("generalConditionsHrid".into(), json!(ids::sanitise(&page)));
            }
            if let Some(l) = &legacy {
                if let Some(id) = l.plans.get(&key) {
                    plan.insert("id".into(), json!(id));
                }
            }
            Value::Object(plan)
        })
        .collect();
    spec.insert("plans".into(), Value::Array(plans));
    let pages: Vec<Value> = take_map(&mut spec, "pages")
        .into_iter()
        .map(|(key, mut page)| {
            page.insert("hrid".into(), json!(ids::sanitise(&key)));
            page.insert("api".into(), json!(api_ref));
            let parent = page
                .get("parent")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(parent) = &parent {
                page.insert("parentHrid".into(), json!(ids::sanitise(parent)));
            }
            if let Some(l) = &legacy {
                if !is_set(&page, "id") {
                    page.insert("id".into(), json!(l.page_id(&key)));
                }
                if !is_set(&page, "crossId") {
                    page.insert("crossId".into(), json!(ids::page_cross_id(api, &key)));
                }
                if let Some(parent) = &parent {
                    page.insert("parentId".into(), json!(l.page_id(parent)));
                }
            }
            Value::Object(page)
        })
        .collect();
    spec.insert("pages".into(), Value::Array(pages));
    Ok(Value::Object(spec))
}

/// `PUT ENV2/apis/_import/crd` body (APIM without the Automation API): ids always, plans and pages as maps,
/// no hrid, `consoleNotificationConfiguration` instead of `consoleNotification`.
pub fn import_crd_body(
    api: &ApiV4Definition,
    inputs: &BodyInputs<'_>,
    org: &str,
    env: &str,
) -> Result<Value, PayloadError> {
    let mut spec = common(api, inputs)?;
    spec.remove("hrid");
    let cross_id = ids::legacy_cross_id(api);
    let api_id = match inputs.identity {
        V4Identity::Legacy(id) => id.clone(),
        V4Identity::Hrid(_) => ids::import_crd_id(api, &cross_id, org, env),
    };
    let legacy = LegacyIds::new(api, api_id.clone(), cross_id.clone());
    spec.insert("id".into(), json!(api_id));
    spec.insert("crossId".into(), json!(cross_id));
    let pages = take_map(&mut spec, "pages");
    let page_ids: BTreeMap<String, String> = pages
        .iter()
        .map(|(key, page)| {
            let id = page
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map_or_else(|| legacy.page_id(key), str::to_owned);
            (key.clone(), id)
        })
        .collect();
    let mut plan_map = Map::new();
    for (key, mut plan) in take_map(&mut spec, "plans") {
        if let Some(id) = legacy.plans.get(&key) {
            plan.insert("id".into(), json!(id));
        }
        if !is_set(&plan, "crossId") {
            plan.insert(
                "crossId".into(),
                json!(ids::gko_uuid(&format!("{cross_id}/{key}"))),
            );
        }
        if let Some(page) = plan.get("generalConditions").and_then(Value::as_str) {
            if let Some(id) = page_ids.get(page) {
                plan.insert("generalConditions".into(), json!(id));
            }
        }
        plan_map.insert(key, Value::Object(plan));
    }
    spec.insert("plans".into(), Value::Object(plan_map));
    let mut page_map = Map::new();
    for (key, mut page) in pages {
        page.insert("id".into(), json!(page_ids.get(&key)));
        if !is_set(&page, "crossId") {
            page.insert("crossId".into(), json!(ids::page_cross_id(api, &key)));
        }
        page.insert("api".into(), json!(api_id));
        if let Some(parent) = page
            .get("parent")
            .and_then(Value::as_str)
            .map(str::to_owned)
        {
            page.insert("parentId".into(), json!(page_ids.get(&parent)));
        }
        page_map.insert(key, Value::Object(page));
    }
    spec.insert("pages".into(), Value::Object(page_map));
    if let Some(notification) = spec.remove("consoleNotification") {
        spec.insert(
            "consoleNotificationConfiguration".into(),
            json!({
                "hooks": notification.get("events").cloned().unwrap_or(json!([])),
                "groups": notification.get("groups").cloned().unwrap_or(json!([])),
                "config_type": "GENERIC",
                "origin": "KUBERNETES",
            }),
        );
    }
    Ok(Value::Object(spec))
}

/// Enum values the gateway reads lowercased with `_` → `-`.
fn gateway_enum(value: &mut Value) {
    if let Value::String(s) = value {
        *s = s.to_ascii_lowercase().replace('_', "-");
    }
}

fn gateway_enum_at(object: &mut Value, pointer: &str) {
    if let Some(v) = object.pointer_mut(pointer) {
        gateway_enum(v);
    }
}

/// The gateway JSON of the local ConfigMap: the spec with ids (`status.id`, else U(`<ns>-<name>`)), plans as
/// an array named by their keys, `apiVersion` and `definitionVersion` 4.0.0, enums as the gateway reads them.
pub fn gateway_definition(
    api: &ApiV4Definition,
    inputs: &BodyInputs<'_>,
) -> Result<Value, PayloadError> {
    let mut spec = common(api, inputs)?;
    let namespace = api.metadata.namespace.as_deref().unwrap_or_default();
    let name = api.metadata.name.as_deref().unwrap_or_default();
    let api_id = ids::known_id(api).map_or_else(
        || ids::gko_uuid(&ids::api_hrid(namespace, name)),
        str::to_owned,
    );
    let legacy = LegacyIds::new(api, api_id.clone(), ids::legacy_cross_id(api));
    spec.insert("id".into(), json!(api_id));
    spec.insert("definitionVersion".into(), json!("4.0.0"));
    if let Some(version) = spec.get("version").cloned() {
        spec.insert("apiVersion".into(), version);
    }
    spec.remove("pages");
    let plans: Vec<Value> = take_map(&mut spec, "plans")
        .into_iter()
        .map(|(key, mut plan)| {
            plan.insert("name".into(), json!(key));
            plan.insert("id".into(), json!(legacy.plans.get(&key)));
            let mut plan = Value::Object(plan);
            for pointer in ["/security/type", "/mode", "/status"] {
                gateway_enum_at(&mut plan, pointer);
            }
            plan
        })
        .collect();
    spec.insert("plans".into(), Value::Array(plans));
    let mut value = Value::Object(spec);
    gateway_enum_at(&mut value, "/type");
    gateway_enum_at(&mut value, "/flowExecution/mode");
    if let Some(Value::Array(listeners)) = value.get_mut("listeners") {
        for listener in listeners.iter_mut() {
            gateway_enum_at(listener, "/type");
            if let Some(Value::Array(entrypoints)) = listener.get_mut("entrypoints") {
                for e in entrypoints.iter_mut() {
                    gateway_enum_at(e, "/qos");
                }
            }
        }
    }
    if let Some(Value::Array(groups)) = value.get_mut("endpointGroups") {
        for group in groups.iter_mut() {
            gateway_enum_at(group, "/loadBalancer/type");
        }
    }
    if let Some(Value::Array(flows)) = value.get_mut("flows") {
        for flow in flows.iter_mut() {
            if let Some(Value::Array(selectors)) = flow.get_mut("selectors") {
                for s in selectors.iter_mut() {
                    gateway_enum_at(s, "/type");
                }
            }
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ApiV4DefinitionStatus;

    fn api(spec: Value) -> ApiV4Definition {
        let spec = serde_json::from_value(spec).unwrap_or_default();
        let mut a = ApiV4Definition::new("my-api", spec);
        a.metadata.namespace = Some("default".into());
        a
    }

    fn sample() -> ApiV4Definition {
        api(json!({
            "contextRef": {"name": "dev"}, "name": "my", "version": "1.0", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": "/my"}], "entrypoints": [{"type": "http-proxy", "qos": "AUTO"}]}],
            "endpointGroups": [{"name": "g", "type": "http-proxy", "endpoints": [{"name": "e", "type": "http-proxy"}]}],
            "plans": {"Key Less.v1": {"name": "Free", "security": {"type": "KEY_LESS"}, "generalConditions": "terms v1",
                                      "status": "PUBLISHED", "mode": "STANDARD"},
                      "API key": {"name": "Keys", "security": {"type": "API_KEY"}}},
            "pages": {"terms v1": {"name": "Terms", "type": "MARKDOWN"}, "child": {"name": "C", "type": "MARKDOWN", "parent": "terms v1"}},
            "resources": [{"ref": {"name": "cache"}}],
            "properties": [{"key": "tier", "value": "[[ secret `s/k` ]]"}],
        }))
    }

    fn inputs<'a>(
        identity: &'a V4Identity,
        resources: &'a BTreeMap<ObjectKey, ApiResourceSpec>,
        templates: &'a BTreeMap<TemplateKey, String>,
        stamp: &'a Stamp,
    ) -> BodyInputs<'a> {
        BodyInputs {
            identity,
            resources,
            templates,
            stamp: Some(stamp),
        }
    }

    fn refs() -> (
        BTreeMap<ObjectKey, ApiResourceSpec>,
        BTreeMap<TemplateKey, String>,
        Stamp,
    ) {
        let resource: ApiResourceSpec = serde_json::from_value(
            json!({"name": "cache", "type": "cache", "configuration": {"ttl": 5}}),
        )
        .unwrap_or_default();
        let key = TemplateKey {
            secret: true,
            namespace: "default".into(),
            name: "s".into(),
            key: "k".into(),
        };
        (
            [(ObjectKey::new("default", "cache"), resource)].into(),
            [(key, "gold".to_string())].into(),
            Stamp {
                cluster_id: "c1".into(),
                owner: "default/my-api".into(),
            },
        )
    }

    #[test]
    fn hrid_body_has_hrids_no_ids_and_sorted_arrays() {
        let a = sample();
        let (resources, templates, stamp) = refs();
        let identity = V4Identity::Hrid("default-my-api".into());
        let body = automation_body(&a, &inputs(&identity, &resources, &templates, &stamp))
            .unwrap_or_default();
        assert_eq!(body["hrid"], "default-my-api");
        assert!(
            body.get("contextRef").is_none()
                && body.get("id").is_none()
                && body.get("crossId").is_none()
        );
        assert_eq!(body["state"], "STARTED");
        assert_eq!(
            body["definitionContext"],
            json!({"origin": "KUBERNETES", "syncFrom": "MANAGEMENT"})
        );
        let hrids: Vec<&str> = body["plans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hrid"].as_str())
            .collect();
        assert_eq!(hrids, ["API-key", "Key-Less-v1"]);
        assert_eq!(body["plans"][1]["generalConditionsHrid"], "terms-v1");
        assert!(body["plans"][1].get("generalConditions").is_none());
        assert!(body["plans"][1].get("id").is_none());
        assert_eq!(body["pages"][0]["hrid"], "child");
        assert_eq!(body["pages"][0]["parentHrid"], "terms-v1");
        assert_eq!(body["pages"][0]["api"], "default-my-api");
        assert_eq!(
            body["resources"][0],
            json!({"name": "cache", "type": "cache", "configuration": {"ttl": 5}, "enabled": true})
        );
        assert_eq!(
            body["properties"][0],
            json!({"key": "tier", "value": "gold"})
        );
        assert_eq!(body["properties"][1]["key"], payload::CLUSTER_PROPERTY);
    }

    #[test]
    fn legacy_body_keeps_gko_s_ids() {
        let mut a = sample();
        a.status = Some(ApiV4DefinitionStatus {
            id: Some("6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10".into()),
            ..Default::default()
        });
        let (resources, templates, stamp) = refs();
        let identity = ids::identity(&a);
        assert!(identity.is_legacy());
        let body = automation_body(&a, &inputs(&identity, &resources, &templates, &stamp))
            .unwrap_or_default();
        assert_eq!(body["hrid"], "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10");
        assert_eq!(body["crossId"], ids::gko_uuid("default/my-api"));
        assert_eq!(
            body["plans"][1]["id"],
            ids::gko_uuid("6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10Key Less.v1")
        );
        assert_eq!(
            body["pages"][1]["id"],
            ids::gko_uuid("6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10/terms v1")
        );
        assert_eq!(body["pages"][0]["parentId"], body["pages"][1]["id"]);
    }

    #[test]
    fn import_crd_body_has_ids_and_maps() {
        let a = sample();
        let (resources, templates, stamp) = refs();
        let identity = V4Identity::Hrid("default-my-api".into());
        let body = import_crd_body(
            &a,
            &inputs(&identity, &resources, &templates, &stamp),
            "DEFAULT",
            "DEFAULT",
        )
        .unwrap_or_default();
        let cross = ids::gko_uuid("default/my-api");
        assert_eq!(body["crossId"], cross);
        assert_eq!(body["id"], ids::gko_uuid(&format!("{cross}DEFAULTDEFAULT")));
        assert!(body.get("hrid").is_none());
        assert!(body["plans"]["API key"]["id"].is_string());
        assert_eq!(
            body["plans"]["Key Less.v1"]["generalConditions"],
            body["pages"]["terms v1"]["id"]
        );
        assert_eq!(
            body["pages"]["child"]["parentId"],
            body["pages"]["terms v1"]["id"]
        );
    }

    #[test]
    fn gateway_definition_lowercases_enums() {
        let mut a = sample();
        a.spec.context_ref = None;
        let (resources, templates, stamp) = refs();
        let identity = V4Identity::Hrid("default-my-api".into());
        let gw = gateway_definition(&a, &inputs(&identity, &resources, &templates, &stamp))
            .unwrap_or_default();
        assert_eq!(gw["id"], "78609c86-6ad0-628f-1c8a-8aceaee6a925");
        assert_eq!(gw["definitionVersion"], "4.0.0");
        assert_eq!(gw["apiVersion"], "1.0");
        assert_eq!(gw["type"], "proxy");
        assert_eq!(gw["listeners"][0]["type"], "http");
        assert_eq!(gw["listeners"][0]["entrypoints"][0]["qos"], "auto");
        assert_eq!(gw["plans"][1]["name"], "Key Less.v1");
        assert_eq!(gw["plans"][1]["security"]["type"], "key-less");
        assert!(gw.get("pages").is_none());
    }

    #[test]
    fn an_unresolved_resource_is_an_error() {
        let a = sample();
        let (_, templates, stamp) = refs();
        let identity = V4Identity::Hrid("default-my-api".into());
        let none = BTreeMap::new();
        assert!(matches!(
            automation_body(&a, &inputs(&identity, &none, &templates, &stamp)),
            Err(PayloadError::MissingResource(_))
        ));
    }
}
