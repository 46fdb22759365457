//! Schema helpers for the CRD types and the post-processing that makes the generated
//! OpenAPI schema structural and close to what GKO users know.

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::Value;

/// An object whose content is free-form (plugin `configuration` blocks): kept as is, never pruned.
pub fn open_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A value of any JSON type, kept as is (GKO 0.x and 4.x disagree on its shape).
pub fn open_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// An integer or a string (GKO 0.x used an integer where 4.x uses a string).
pub fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-int-or-string": true })
}

/// Rewrites a generated CRD schema in place so that the API server accepts it as structural and
/// users see plain OpenAPI: no `nullable` (absent fields are simply absent, as in GKO's CRDs),
/// only formats Kubernetes knows, no JSON-Schema-only keywords.
pub fn normalise(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("nullable");
            map.remove("$schema");
            map.remove("title");
            if let Some(Value::Array(options)) = map.get_mut("enum") {
                options.retain(|o| !o.is_null());
            }
            if let Some(Value::String(format)) = map.get("format") {
                let keep = match format.as_str() {
                    "int32" | "int64" | "date-time" | "byte" | "double" | "float" => {
                        Some(format.clone())
                    }
                    "uint32" | "uint16" | "uint8" | "int16" | "int8" => Some("int32".into()),
                    "uint64" | "uint" | "int" => Some("int64".into()),
                    _ => None,
                };
                match keep {
                    Some(f) => {
                        map.insert("format".into(), Value::String(f));
                    }
                    None => {
                        map.remove("format");
                    }
                }
            }
            for value in map.values_mut() {
                normalise(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// Declares `apiVersion`, `kind` and `metadata` at the root, as every Kubernetes CRD does.
pub fn add_envelope(root: &mut Value) {
    let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    props.insert(
        "apiVersion".into(),
        serde_json::json!({"type": "string", "description": "APIVersion of this object: gravitee.io/v1alpha1."}),
    );
    props.insert(
        "kind".into(),
        serde_json::json!({"type": "string", "description": "Kind of this object."}),
    );
    props.insert("metadata".into(), serde_json::json!({"type": "object"}));
}
