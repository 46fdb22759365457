//! Mutation: defaults and normalisation, returned to the API server as an RFC 6902 patch.
//!
//! [`defaulted`] is a pure function of the object and its namespace; [`patch`] is the minimal
//! JSON patch (computed with `json-patch`'s diff) from the object to its defaulted form. Applying
//! the defaults twice changes nothing, so mutating an already mutated object gives an empty patch.
//!
//! Every mutation is listed in README ("Mutations").

use serde_json::{json, Map, Value};

use crate::crd::Kind;
use crate::model::entrypoint::normalise_path;

/// The object with gko's defaults filled in and its values normalised.
pub fn defaulted(kind: Kind, object: &Value, namespace: &str) -> Value {
    let mut out = object.clone();
    if let Some(spec) = out.get_mut("spec") {
        default_spec(kind, spec, namespace);
    }
    out
}

fn default_spec(kind: Kind, spec: &mut Value, namespace: &str) {
    if let Some(spec) = spec.as_object_mut() {
        match kind {
            Kind::ApiDefinition => api_definition(spec, namespace),
            Kind::ManagementContext => management_context(spec, namespace),
            Kind::ApiResource => api_resource(spec),
            Kind::ApiV4Definition => api_v4_definition(spec, namespace),
        }
    }
}

/// The JSON patch from `object` to its defaulted form (empty when nothing changes).
///
/// Defaults only ever touch `spec`, so only `spec` is copied and diffed (the metadata, with its
/// managedFields, is neither); the operations' paths are then put under `/spec`.
pub fn patch(kind: Kind, object: &Value, namespace: &str) -> json_patch::Patch {
    match object.get("spec") {
        Some(spec) => spec_patch(kind, spec, namespace),
        None => json_patch::Patch::default(),
    }
}

/// The JSON patch (paths under `/spec`) from `spec` to its defaulted form.
pub fn spec_patch(kind: Kind, spec: &Value, namespace: &str) -> json_patch::Patch {
    spec_patch_to(kind, spec, spec.clone(), namespace)
}

/// The JSON patch (paths under `/spec`) from `spec` to `target` (`spec` with other defaults already
/// applied, e.g. a cloud context's) with gko's defaults applied.
pub fn spec_patch_to(
    kind: Kind,
    spec: &Value,
    mut target: Value,
    namespace: &str,
) -> json_patch::Patch {
    default_spec(kind, &mut target, namespace);
    let out = target;
    let mut patch = json_patch::diff(spec, &out);
    for op in &mut patch.0 {
        under_spec(op);
    }
    patch
}

fn under_spec(op: &mut json_patch::PatchOperation) {
    use json_patch::PatchOperation as Op;
    match op {
        Op::Add(o) => o.path.push_front("spec"),
        Op::Remove(o) => o.path.push_front("spec"),
        Op::Replace(o) => o.path.push_front("spec"),
        Op::Test(o) => o.path.push_front("spec"),
        Op::Move(o) => {
            o.path.push_front("spec");
            o.from.push_front("spec");
        }
        Op::Copy(o) => {
            o.path.push_front("spec");
            o.from.push_front("spec");
        }
    }
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_string(), value);
        }
        Some(_) => {}
    }
}

fn default_ref_namespace(reference: Option<&mut Value>, namespace: &str) {
    if let Some(r) = reference.and_then(Value::as_object_mut) {
        let empty = r
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if empty {
            r.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }
}

fn api_definition(spec: &mut Map<String, Value>, namespace: &str) {
    default_ref_namespace(spec.get_mut("contextRef"), namespace);
    if let Some(resources) = spec.get_mut("resources").and_then(Value::as_array_mut) {
        for res in resources {
            default_ref_namespace(res.get_mut("ref"), namespace);
        }
    }
    set_default(spec, "state", json!("STARTED"));
    set_default(spec, "visibility", json!("PRIVATE"));
    set_default(spec, "definition_context", json!({}));
    if let Some(ctx) = spec
        .get_mut("definition_context")
        .and_then(Value::as_object_mut)
    {
        set_default(ctx, "origin", json!("kubernetes"));
        set_default(ctx, "mode", json!("fully_managed"));
    }
    if let Some(plans) = spec.get_mut("plans").and_then(Value::as_array_mut) {
        for plan in plans.iter_mut().filter_map(Value::as_object_mut) {
            set_default(plan, "status", json!("PUBLISHED"));
            set_default(plan, "type", json!("API"));
            set_default(plan, "validation", json!("AUTO"));
        }
    }
    if let Some(proxy) = spec.get_mut("proxy").and_then(Value::as_object_mut) {
        if let Some(hosts) = proxy.get_mut("virtual_hosts").and_then(Value::as_array_mut) {
            for vh in hosts.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(Value::String(path)) = vh.get_mut("path") {
                    let normal = normalise_path(path);
                    if *path != normal {
                        *path = normal;
                    }
                }
            }
        }
        if let Some(groups) = proxy.get_mut("groups").and_then(Value::as_array_mut) {
            for group in groups.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(endpoints) = group.get_mut("endpoints").and_then(Value::as_array_mut) {
                    for ep in endpoints.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(ep, "type", json!("http"));
                        set_default(ep, "weight", json!(1));
                    }
                }
            }
        }
    }
}

/// GKO 4.x's defaults of a v4 API (its CRD's, and the definition context GKO assumes when the
/// object has none), so that what is stored says what APIM receives.
fn api_v4_definition(spec: &mut Map<String, Value>, namespace: &str) {
    default_ref_namespace(spec.get_mut("contextRef"), namespace);
    if let Some(resources) = spec.get_mut("resources").and_then(Value::as_array_mut) {
        for res in resources.iter_mut() {
            default_ref_namespace(res.get_mut("ref"), namespace);
            if let Some(res) = res.as_object_mut().filter(|r| !r.contains_key("ref")) {
                set_default(res, "enabled", json!(true));
            }
        }
    }
    set_default(spec, "definitionVersion", json!("V4"));
    set_default(spec, "state", json!("STARTED"));
    set_default(spec, "lifecycleState", json!("UNPUBLISHED"));
    set_default(spec, "visibility", json!("PRIVATE"));
    set_default(spec, "notifyMembers", json!(true));
    set_default(spec, "definitionContext", json!({}));
    if let Some(ctx) = spec
        .get_mut("definitionContext")
        .and_then(Value::as_object_mut)
    {
        set_default(ctx, "origin", json!("KUBERNETES"));
        set_default(ctx, "syncFrom", json!("MANAGEMENT"));
    }
    v4_flows(spec.get_mut("flows"));
    if let Some(plans) = spec.get_mut("plans").and_then(Value::as_object_mut) {
        for plan in plans.values_mut().filter_map(Value::as_object_mut) {
            set_default(plan, "definitionVersion", json!("V4"));
            set_default(plan, "status", json!("PUBLISHED"));
            set_default(plan, "type", json!("API"));
            set_default(plan, "validation", json!("AUTO"));
            set_default(plan, "mode", json!("STANDARD"));
            v4_flows(plan.get_mut("flows"));
        }
    }
    if let Some(members) = spec.get_mut("members").and_then(Value::as_array_mut) {
        for member in members.iter_mut().filter_map(Value::as_object_mut) {
            set_default(member, "role", json!("USER"));
        }
    }
    if let Some(pages) = spec.get_mut("pages").and_then(Value::as_object_mut) {
        for page in pages.values_mut().filter_map(Value::as_object_mut) {
            set_default(page, "visibility", json!("PUBLIC"));
            set_default(page, "published", json!(false));
            set_default(page, "homepage", json!(false));
        }
    }
    if let Some(groups) = spec.get_mut("endpointGroups").and_then(Value::as_array_mut) {
        for group in groups.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(endpoints) = group.get_mut("endpoints").and_then(Value::as_array_mut) {
                for ep in endpoints.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(ep, "secondary", json!(false));
                }
            }
        }
    }
}

/// Flows and their steps are enabled unless they say otherwise.
fn v4_flows(flows: Option<&mut Value>) {
    let Some(flows) = flows.and_then(Value::as_array_mut) else {
        return;
    };
    for flow in flows.iter_mut().filter_map(Value::as_object_mut) {
        set_default(flow, "enabled", json!(true));
        for phase in [
            "request",
            "response",
            "subscribe",
            "publish",
            "connect",
            "interact",
        ] {
            if let Some(steps) = flow.get_mut(phase).and_then(Value::as_array_mut) {
                for step in steps.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(step, "enabled", json!(true));
                }
            }
        }
    }
}

fn management_context(spec: &mut Map<String, Value>, namespace: &str) {
    if let Some(Value::String(url)) = spec.get_mut("baseUrl") {
        let trimmed = url.trim().trim_end_matches('/').to_string();
        if trimmed.contains("://") && *url != trimmed {
            *url = trimmed;
        }
    }
    if let Some(auth) = spec.get_mut("auth") {
        default_ref_namespace(auth.get_mut("secretRef"), namespace);
    }
    if let Some(cloud) = spec.get_mut("cloud") {
        default_ref_namespace(cloud.get_mut("secretRef"), namespace);
    }
}

fn api_resource(spec: &mut Map<String, Value>) {
    set_default(spec, "enabled", json!(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Value {
        json!({
            "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
            "metadata": {"name": "a", "namespace": "team"},
            "spec": {
                "name": "a", "version": "1",
                "contextRef": {"name": "dev"},
                "resources": [{"ref": {"name": "cache"}}, {"name": "inline", "type": "cache", "configuration": {}}],
                "plans": [{"name": "free", "security": "KEY_LESS"}],
                "proxy": {"virtual_hosts": [{"path": "a/b/"}, {"path": "/"}],
                          "groups": [{"endpoints": [{"name": "e", "target": "https://x"}]}]}
            }
        })
    }

    #[test]
    fn fills_defaults_and_normalises_paths() {
        let out = defaulted(Kind::ApiDefinition, &api(), "team");
        let spec = &out["spec"];
        assert_eq!(spec["contextRef"]["namespace"], "team");
        assert_eq!(spec["resources"][0]["ref"]["namespace"], "team");
        assert!(spec["resources"][1].get("ref").is_none());
        assert_eq!(spec["state"], "STARTED");
        assert_eq!(spec["visibility"], "PRIVATE");
        assert_eq!(
            spec["definition_context"],
            json!({"origin": "kubernetes", "mode": "fully_managed"})
        );
        assert_eq!(spec["plans"][0]["status"], "PUBLISHED");
        assert_eq!(spec["plans"][0]["type"], "API");
        assert_eq!(spec["plans"][0]["validation"], "AUTO");
        assert_eq!(spec["proxy"]["virtual_hosts"][0]["path"], "/a/b");
        assert_eq!(spec["proxy"]["virtual_hosts"][1]["path"], "/");
        assert_eq!(spec["proxy"]["groups"][0]["endpoints"][0]["type"], "http");
        assert_eq!(spec["proxy"]["groups"][0]["endpoints"][0]["weight"], 1);
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut obj = api();
        obj["spec"]["state"] = json!("STOPPED");
        obj["spec"]["plans"][0]["status"] = json!("STAGING");
        obj["spec"]["contextRef"]["namespace"] = json!("other");
        let out = defaulted(Kind::ApiDefinition, &obj, "team");
        assert_eq!(out["spec"]["state"], "STOPPED");
        assert_eq!(out["spec"]["plans"][0]["status"], "STAGING");
        assert_eq!(out["spec"]["contextRef"]["namespace"], "other");
    }

    #[test]
    fn patch_applies_and_second_mutation_is_empty() {
        let obj = api();
        let p = patch(Kind::ApiDefinition, &obj, "team");
        assert!(!p.0.is_empty());
        let mut applied = obj.clone();
        json_patch::patch(&mut applied, &p).expect("patch applies");
        assert_eq!(applied, defaulted(Kind::ApiDefinition, &obj, "team"));
        assert!(patch(Kind::ApiDefinition, &applied, "team").0.is_empty());
    }

    #[test]
    fn context_base_url_loses_trailing_slash_and_resource_is_enabled() {
        let ctx = json!({"spec": {"baseUrl": "https://apim.example.com/"}});
        assert_eq!(
            defaulted(Kind::ManagementContext, &ctx, "ns")["spec"]["baseUrl"],
            "https://apim.example.com"
        );
        let res = json!({"spec": {"name": "c"}});
        assert_eq!(
            defaulted(Kind::ApiResource, &res, "ns")["spec"]["enabled"],
            true
        );
    }

    #[test]
    fn patch_is_the_whole_object_diff() {
        let no_spec = json!({"metadata": {"name": "x"}});
        let odd_spec = json!({"metadata": {"name": "x"}, "spec": "text"});
        for (kind, obj) in [
            (Kind::ApiDefinition, api()),
            (Kind::ApiDefinition, no_spec),
            (Kind::ApiDefinition, odd_spec),
            (
                Kind::ManagementContext,
                json!({"spec": {"baseUrl": "https://a/", "auth": {}}}),
            ),
            (
                Kind::ApiResource,
                json!({"spec": {"name": "c", "type": "cache"}}),
            ),
        ] {
            let whole = json_patch::diff(&obj, &defaulted(kind, &obj, "team"));
            assert_eq!(patch(kind, &obj, "team"), whole, "{obj}");
        }
    }

    #[test]
    fn fills_gko_v4_defaults_and_keeps_explicit_values() {
        let api = json!({
            "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiV4Definition",
            "metadata": {"name": "a", "namespace": "team"},
            "spec": {
                "name": "a", "version": "1", "type": "PROXY",
                "contextRef": {"name": "dev"},
                "state": "STOPPED",
                "resources": [{"ref": {"name": "cache"}}, {"name": "inline", "type": "cache", "configuration": {}}],
                "listeners": [{"type": "HTTP", "paths": [{"path": "/a/"}]}],
                "endpointGroups": [{"name": "g", "type": "http-proxy", "endpoints": [{"type": "http-proxy", "inheritConfiguration": false}]}],
                "flows": [{"request": [{"policy": "p"}]}],
                "plans": {"free": {"name": "Free", "security": {"type": "KEY_LESS"}, "validation": "MANUAL"}},
                "members": [{"source": "gravitee", "sourceId": "jane"}],
                "pages": {"docs": {"name": "Docs", "type": "MARKDOWN"}}
            }
        });
        let out = defaulted(Kind::ApiV4Definition, &api, "team");
        let spec = &out["spec"];
        assert_eq!(spec["contextRef"]["namespace"], "team");
        assert_eq!(spec["resources"][0]["ref"]["namespace"], "team");
        assert!(spec["resources"][0].get("enabled").is_none());
        assert_eq!(spec["resources"][1]["enabled"], true);
        assert_eq!(spec["state"], "STOPPED", "an explicit value stays");
        assert_eq!(spec["lifecycleState"], "UNPUBLISHED");
        assert_eq!(spec["visibility"], "PRIVATE");
        assert_eq!(spec["definitionVersion"], "V4");
        assert_eq!(
            spec["definitionContext"],
            json!({"origin": "KUBERNETES", "syncFrom": "MANAGEMENT"})
        );
        let plan = &spec["plans"]["free"];
        assert_eq!(plan["status"], "PUBLISHED");
        assert_eq!(plan["type"], "API");
        assert_eq!(plan["validation"], "MANUAL");
        assert_eq!(plan["mode"], "STANDARD");
        assert_eq!(spec["flows"][0]["enabled"], true);
        assert_eq!(spec["flows"][0]["request"][0]["enabled"], true);
        assert_eq!(spec["members"][0]["role"], "USER");
        assert_eq!(spec["pages"]["docs"]["visibility"], "PUBLIC");
        assert_eq!(
            spec["endpointGroups"][0]["endpoints"][0]["secondary"],
            false
        );
        assert_eq!(
            spec["listeners"][0]["paths"][0]["path"], "/a/",
            "paths are left as written"
        );
        assert!(
            patch(Kind::ApiV4Definition, &out, "team").0.is_empty(),
            "idempotent"
        );
    }
}
