//! The v4 counterpart of the webhook bench's realistic ApiDefinition: the same API written as an
//! ApiV4Definition (two plans with flows, three endpoint groups of 3, 2 and 1 endpoints, HTTP options).

use serde_json::{json, Value};

pub fn realistic_api_v4(i: usize) -> Value {
    let flow = |path: &str| {
        json!({"name": "rate", "enabled": true,
               "selectors": [{"type": "HTTP", "path": path, "pathOperator": "STARTS_WITH", "methods": ["GET", "POST"]}],
               "request": [{"name": "Rate limit", "policy": "rate-limit", "enabled": true,
                            "configuration": {"rate": {"limit": 100, "periodTime": 1, "periodTimeUnit": "SECONDS"}}},
                           {"name": "Transform headers", "policy": "transform-headers", "enabled": true,
                            "configuration": {"addHeaders": [{"name": "x-team", "value": "payments"}]}}],
               "response": [{"name": "Assign", "policy": "policy-assign-attributes", "enabled": true,
                             "configuration": {"attributes": [{"name": "a", "value": "b"}]}}]})
    };
    let group = |name: &str, n: usize| {
        let endpoints: Vec<Value> = (0..n)
            .map(|e| json!({"name": format!("{name}-{e}"), "type": "http-proxy", "weight": 1, "secondary": e > 0,
                           "inheritConfiguration": false,
                           "configuration": {"target": format!("https://{name}-{e}.backend.example.com/v1")}}))
            .collect();
        json!({"name": name, "type": "http-proxy", "endpoints": endpoints, "loadBalancer": {"type": "ROUND_ROBIN"},
               "http": {"connectTimeout": 5000, "idleTimeout": 60000, "keepAlive": true, "readTimeout": 10000,
                        "pipelining": false, "maxConcurrentConnections": 100, "useCompression": true, "followRedirects": false}})
    };
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiV4Definition",
        "metadata": {"name": format!("bench-v4-{i}"), "namespace": "bench", "uid": "0b8a4c3e-1a2b-4c5d-8e9f-000000000001",
                     "generation": 1, "labels": {"team": "payments"}},
        "spec": {
            "name": format!("Payments v4 {i}"), "version": "2.3.1", "description": "Payments API", "type": "PROXY",
            "contextRef": {"name": "apim", "namespace": "bench"},
            "listeners": [{"type": "HTTP", "paths": [{"path": format!("/payments-v4-{i}")}],
                           "entrypoints": [{"type": "http-proxy", "qos": "AUTO"}]}],
            "endpointGroups": [group("primary", 3), group("secondary", 2), group("legacy", 1)],
            "failover": {"enabled": true, "maxRetries": 2},
            "plans": {
                "keyless": {"name": "keyless", "description": "open", "security": {"type": "KEY_LESS"}, "flows": [flow("/public")]},
                "apikey": {"name": "apikey", "description": "keys", "security": {"type": "API_KEY"}, "flows": [flow("/"), flow("/admin")]}
            },
            "flows": [flow("/")],
            "properties": [{"key": "backend", "value": "https://backend.example.com"}]
        }
    })
}
