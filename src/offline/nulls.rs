//! Explicit YAML nulls, handled the way the API server handles them before admission.
//!
//! For a CRD with a structural schema the API server drops every field whose value is `null`
//! unless its schema says `nullable: true`, or sets the schema's `default` when it has one, before
//! defaulting and validation. Fields under `x-kubernetes-preserve-unknown-fields` without a schema
//! of their own keep their nulls. So a chart that renders `flow_mode: null` is admitted, and
//! `gko validate` must see the object as the webhook will.

use serde_json::{Map, Value};

/// Drops (or defaults) the explicit nulls of `object`, walking it beside `schema` (an
/// OpenAPI v3 schema as the CRD holds it).
pub(crate) fn prune(object: &mut Value, schema: &Value) {
    match object {
        Value::Object(map) => prune_members(map, schema),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn prune_members(map: &mut Map<String, Value>, schema: &Value) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|s| s.is_object());
    map.retain(|name, value| {
        let Some(field_schema) = properties.and_then(|p| p.get(name)).or(additional) else {
            // No schema for it: kept as it is, nulls included.
            return true;
        };
        if value.is_null() && !nullable(field_schema) {
            match field_schema.get("default") {
                Some(default) => *value = default.clone(),
                None => return false,
            }
        }
        prune(value, field_schema);
        true
    });
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "flow_mode": {"type": "string"},
                        "mode": {"type": "string", "default": "DEFAULT"},
                        "note": {"type": "string", "nullable": true},
                        "plans": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "tags": {"type": "array"}}
                        }},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "configuration": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }
            }
        })
    }

    #[test]
    fn nulls_of_known_fields_are_dropped_or_defaulted() {
        let mut object = json!({"spec": {"flow_mode": null, "mode": null, "note": null}});
        prune(&mut object, &schema());
        assert_eq!(object, json!({"spec": {"mode": "DEFAULT", "note": null}}));
    }

    #[test]
    fn nulls_inside_arrays_and_maps_are_dropped_too() {
        let mut object = json!({"spec": {
            "plans": [{"name": "free", "tags": null}],
            "labels": {"team": null, "tier": "gold"}
        }});
        prune(&mut object, &schema());
        assert_eq!(
            object,
            json!({"spec": {"plans": [{"name": "free"}], "labels": {"tier": "gold"}}})
        );
    }

    #[test]
    fn nulls_under_open_blocks_are_kept() {
        let mut object = json!({"spec": {"configuration": {"timeout": null}}, "other": null});
        prune(&mut object, &schema());
        assert_eq!(
            object,
            json!({"spec": {"configuration": {"timeout": null}}, "other": null})
        );
    }
}
