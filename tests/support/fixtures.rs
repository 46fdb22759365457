//! The objects tests build: valid ManagementContexts, ApiDefinitions, ApiResources, Secrets and
//! ConfigMaps, and small helpers to derive variants (`with`, `without`, `in_namespace`).
//!
//! One module for every test crate (and the benches that include it with `#[path]`): the rule
//! tests start from [`api`], [`context`] and [`resource`] and change one thing; the end-to-end
//! tests push [`api_json`], [`context_json`] and [`resource_json`] to a cluster.
#![allow(dead_code)]

use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Rule fixtures: small valid objects in namespace `default`
// ---------------------------------------------------------------------------------------------

/// A valid, local ApiDefinition `default/orders` with one KEY_LESS plan and one endpoint.
pub fn api() -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiDefinition",
        "metadata": {"name": "orders", "namespace": "default"},
        "spec": {
            "name": "Orders",
            "version": "1.0",
            "description": "Orders API",
            "local": true,
            "plans": [{"name": "free", "security": "KEY_LESS"}],
            "proxy": {
                "virtual_hosts": [{"path": "/orders"}],
                "groups": [{
                    "name": "default",
                    "endpoints": [{"name": "backend", "target": "https://orders.internal/v1"}]
                }]
            }
        }
    })
}

/// Another valid API `namespace/name` served at `path`.
pub fn other_api(namespace: &str, name: &str, path: &str) -> Value {
    let mut a = api();
    a["metadata"] = json!({"name": name, "namespace": namespace});
    a["spec"]["proxy"]["virtual_hosts"] = json!([{ "path": path }]);
    a
}

/// A valid ManagementContext `default/dev` authenticating with a Secret.
pub fn context() -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ManagementContext",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {
            "baseUrl": "https://apim.example.com",
            "organizationId": "DEFAULT",
            "environmentId": "DEFAULT",
            "auth": {"secretRef": {"name": "apim-credentials"}}
        }
    })
}

/// A valid ApiV4Definition `default/orders-v4`: a PROXY API on `/orders-v4` with one KEY_LESS plan
/// and one http-proxy endpoint, deployed to the gateway only (no context).
pub fn api_v4() -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiV4Definition",
        "metadata": {"name": "orders-v4", "namespace": "default"},
        "spec": {
            "name": "Orders v4",
            "version": "1.0",
            "type": "PROXY",
            "definitionContext": {"syncFrom": "KUBERNETES"},
            "listeners": [{
                "type": "HTTP",
                "paths": [{"path": "/orders-v4"}],
                "entrypoints": [{"type": "http-proxy", "qos": "AUTO"}]
            }],
            "endpointGroups": [{
                "name": "default",
                "type": "http-proxy",
                "endpoints": [{
                    "name": "backend",
                    "type": "http-proxy",
                    "inheritConfiguration": false,
                    "configuration": {"target": "https://orders.internal/v1"}
                }]
            }],
            "plans": {"free": {"name": "Free", "security": {"type": "KEY_LESS"}}}
        }
    })
}

/// Another valid ApiV4Definition `namespace/name` served at `path`.
pub fn other_api_v4(namespace: &str, name: &str, path: &str) -> Value {
    let mut a = api_v4();
    a["metadata"] = json!({"name": name, "namespace": namespace});
    a["spec"]["listeners"][0]["paths"] = json!([{ "path": path }]);
    a
}

/// A ManagementContext `namespace/name` with a bearer token (needs nothing else).
pub fn context_named(namespace: &str, name: &str) -> Value {
    let mut c = context();
    c["metadata"] = json!({"name": name, "namespace": namespace});
    c["spec"]["auth"] = json!({"bearerToken": "token"});
    c
}

/// A valid ApiResource `default/<object>` named `name` of type `type_`.
pub fn resource(object: &str, name: &str, type_: &str) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiResource",
        "metadata": {"name": object, "namespace": "default"},
        "spec": {"name": name, "type": type_, "configuration": {"timeToLiveSeconds": 60}}
    })
}

/// A Secret `default/name` with the given keys.
pub fn secret(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!("dmFsdWU=")))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

/// A ConfigMap `default/name` with the given keys.
pub fn config_map(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> =
        keys.iter().map(|k| (k.to_string(), json!("v"))).collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

/// An inline OAuth2 resource entry of `spec.resources`.
pub fn inline_oauth2(name: &str) -> Value {
    json!({"name": name, "type": "oauth2", "configuration": {"introspectionEndpoint": "https://idp/introspect"}})
}

/// Places `object` in `namespace` (metadata.namespace).
pub fn in_namespace(mut object: Value, namespace: &str) -> Value {
    object["metadata"]["namespace"] = json!(namespace);
    object
}

/// Sets the value at a JSON pointer (creating nothing: the parent must exist).
pub fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = object.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            items[i] = value;
        }
        other => panic!("cannot set {key} in {other}"),
    }
    object
}

/// Removes the value at a JSON pointer.
pub fn without(mut object: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let removed = object
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(key));
    assert!(removed.is_some(), "nothing at {pointer}");
    object
}

// ---------------------------------------------------------------------------------------------
// Cluster fixtures: objects the end-to-end tests and benches push
// ---------------------------------------------------------------------------------------------

/// A context reading its token from Secret `secret`.
pub fn context_json(ns: &str, name: &str, base_url: &str, env: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"baseUrl": base_url, "organizationId": "DEFAULT", "environmentId": env,
                 "auth": {"secretRef": {"name": secret}}}
    })
}

/// An API with two plans, on `path`, pushed to context `context` (`ns/name` or `name`).
pub fn api_json(ns: &str, name: &str, context: Option<&str>, path: &str) -> Value {
    let mut spec = json!({
        "name": name, "version": "1.0", "description": "test API",
        "proxy": {"virtual_hosts": [{"path": path}],
                  "groups": [{"name": "default", "endpoints": [{"name": "e", "target": "https://backend.example"}]}]},
        "plans": [{"name": "free", "security": "KEY_LESS"}, {"name": "gold", "security": "API_KEY"}],
        "local": false,
    });
    if let Some(context) = context {
        let (cns, cname) = context.split_once('/').unwrap_or((ns, context));
        spec["contextRef"] = json!({"name": cname, "namespace": cns});
    }
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

/// An ApiV4Definition `ns/name` for the cluster tests and benches: PROXY on `path`, one KEY_LESS
/// plan, pushed to `context` (`name` or `ns/name`) when given.
pub fn api_v4_json(ns: &str, name: &str, context: Option<&str>, path: &str) -> Value {
    let mut a = other_api_v4(ns, name, path);
    if let Some(context) = context {
        let (cns, cname) = context.split_once('/').unwrap_or((ns, context));
        a["spec"]["contextRef"] = json!({"name": cname, "namespace": cns});
        a["spec"]["definitionContext"] = json!({"syncFrom": "MANAGEMENT"});
    }
    a
}

pub fn resource_json(ns: &str, name: &str, ttl: i64) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiResource",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"name": "shared-cache", "type": "cache", "enabled": true,
                 "configuration": {"timeToLiveSeconds": ttl, "maxEntriesLocalHeap": 1000}}
    })
}

/// A realistic ApiDefinition: two plans (one with a flow), two endpoints, a resource ref, labels.
pub fn realistic_api(ns: &str, i: usize) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiDefinition",
        "metadata": {
            "name": format!("api-{i:05}"),
            "namespace": ns,
            "labels": {"team": format!("team-{}", i % 20), "tier": "gold", "app.kubernetes.io/part-of": "catalog"}
        },
        "spec": {
            "name": format!("Catalog API {i}"),
            "version": "1.2.0",
            "description": "Products, prices and availability of the catalog",
            "contextRef": {"name": "dev"},
            "state": "STARTED",
            "visibility": "PUBLIC",
            "labels": ["catalog", "bench"],
            "resources": [{"ref": {"name": "cache"}}],
            "plans": [
                {
                    "name": "free",
                    "description": "Rate-limited access",
                    "security": "KEY_LESS",
                    "status": "PUBLISHED",
                    "flows": [{
                        "name": "rate limit",
                        "enabled": true,
                        "path-operator": {"path": "/", "operator": "STARTS_WITH"},
                        "pre": [{
                            "name": "Rate limit",
                            "policy": "rate-limit",
                            "enabled": true,
                            "configuration": {"rate": {"limit": 100, "periodTime": 1, "periodTimeUnit": "SECONDS"}}
                        }]
                    }]
                },
                {"name": "partners", "description": "API key access", "security": "API_KEY", "status": "PUBLISHED"}
            ],
            "proxy": {
                "virtual_hosts": [{"path": format!("/catalog/api-{i:05}")}],
                "groups": [{
                    "name": "default",
                    "endpoints": [
                        {"name": "primary", "target": format!("https://catalog-a.internal.example.com/v1/{i}")},
                        {"name": "secondary", "target": format!("https://catalog-b.internal.example.com/v1/{i}")}
                    ]
                }]
            }
        }
    })
}
