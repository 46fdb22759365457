//! First step of validation: the object against its CRD's OpenAPI schema, with `jsonschema`.
//!
//! The CRD schema is generated from gko's Rust types (the same one `gko crds` prints). For the
//! check, objects that list their properties are closed (`additionalProperties: false`) unless they
//! preserve unknown fields, so that a misspelt field is reported as `kubectl --validate=strict`
//! would, with a suggestion of the field that was probably meant.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde_json::Value;

use super::rules::{
    SCHEMA_ENUM, SCHEMA_INVALID, SCHEMA_REQUIRED, SCHEMA_TYPE, SCHEMA_UNAVAILABLE,
    SCHEMA_UNKNOWN_FIELD,
};
use super::Verdict;
use crate::crd::Kind;
use crate::model::doc::{Doc, DocJson};

struct Compiled {
    validator: Option<Validator<DocJson>>,
    schema: Value,
}

fn compiled(kind: Kind) -> &'static Compiled {
    static CACHE: [OnceLock<Compiled>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = match kind {
        Kind::ManagementContext => &CACHE[0],
        Kind::ApiDefinition => &CACHE[1],
        Kind::ApiResource => &CACHE[2],
        Kind::ApiV4Definition => &CACHE[3],
    };
    slot.get_or_init(|| {
        let mut schema = kind.openapi_schema();
        close_objects(&mut schema);
        let validator = jsonschema::options_for::<DocJson>()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&schema)
            .ok();
        Compiled { validator, schema }
    })
}

/// The OpenAPI schema of `kind` as the checks use it (built once).
pub(crate) fn schema_of(kind: Kind) -> &'static Value {
    &compiled(kind).schema
}

/// Adds `additionalProperties: false` to every object schema with `properties`, except those that
/// keep unknown fields. `metadata` is left open (the API server owns its schema).
fn close_objects(node: &mut Value) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    let preserves = map
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if map.contains_key("properties") && !preserves && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object_mut() {
                    for (name, prop) in props.iter_mut() {
                        if name != "metadata" {
                            close_objects(prop);
                        }
                    }
                }
            }
            "items" | "additionalProperties" => close_objects(child),
            _ => {}
        }
    }
}

/// [`check`] of a `serde_json::Value`.
pub fn check_value(kind: Kind, object: &Value, verdict: &mut Verdict) {
    check(kind, &Doc::from_value(object), verdict)
}

/// Checks `object` against the schema of `kind`, adding one violation per schema error.
pub(crate) fn check(kind: Kind, object: &Doc<'_>, verdict: &mut Verdict) {
    let compiled = compiled(kind);
    let Some(validator) = compiled.validator.as_ref() else {
        verdict.raise(
            &SCHEMA_UNAVAILABLE,
            "",
            format!("internal error: the {kind} schema could not be compiled; report this bug"),
        );
        return;
    };
    // Most admitted objects are valid: the boolean check is much cheaper than collecting errors.
    if validator.is_valid(object) {
        return;
    }
    // The error path: field paths are read from a `Value` of the object.
    let instance = object.to_value();
    for error in validator.iter_errors(object) {
        let path = field_path(&instance, error.instance_path().as_str());
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_properties(&compiled.schema, error.schema_path().as_str());
                for name in unexpected {
                    let hint = match closest(name, &known) {
                        Some(best) => format!("did you mean `{best}`? "),
                        None => String::new(),
                    };
                    verdict.raise(
                        &SCHEMA_UNKNOWN_FIELD,
                        join(&path, name),
                        format!(
                            "unknown field `{name}`: it is not part of the {kind} schema; {hint}remove it or correct its spelling"
                        ),
                    );
                }
            }
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options
                    .as_array()
                    .map(|a| a.iter().map(plain).collect())
                    .unwrap_or_default();
                verdict.raise(
                    &SCHEMA_ENUM,
                    path,
                    format!(
                        "{} is not a valid value; use one of {}",
                        error.instance(),
                        allowed.join(", ")
                    ),
                );
            }
            ValidationErrorKind::Type { kind: expected } => {
                let expected = match expected {
                    TypeKind::Single(t) => t.to_string(),
                    TypeKind::Multiple(set) => format!("{set:?}"),
                };
                verdict.raise(
                    &SCHEMA_TYPE,
                    path,
                    format!(
                        "must be of type {expected}, but {} is {}; change the value's type",
                        error.instance(),
                        json_type(error.instance())
                    ),
                );
            }
            ValidationErrorKind::Required { property } => {
                let name = plain(property);
                verdict.raise(&SCHEMA_REQUIRED, join(&path, &name), "is required; add it");
            }
            _ => verdict.raise(&SCHEMA_INVALID, path, format!("{error}; fix the value")),
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// Turns a JSON pointer into the dotted path users know: `/spec/plans/1/security` becomes
/// `spec.plans[1].security` (an index only where the instance has an array).
pub(crate) fn field_path(instance: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut node = Some(instance);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                node = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            Some(Value::Object(map)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                node = map.get(&segment);
            }
            _ => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                node = None;
            }
        }
    }
    out
}

/// The property names declared next to the `additionalProperties` keyword that failed.
fn known_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(&format!("{parent}/properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The known name closest to `name`, when it is close enough to be a plausible typo.
fn closest(name: &str, known: &[String]) -> Option<String> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let target = squash(name);
    known
        .iter()
        .map(|k| (levenshtein(&target, &squash(k)), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Edit distance between two strings (in characters), for "did you mean" suggestions.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(kind: Kind, object: Value) -> Vec<String> {
        let mut v = Verdict::default();
        check_value(kind, &object, &mut v);
        v.violations.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn field_paths_use_indexes_for_arrays_only() {
        let obj = json!({"spec": {"plans": [{"a": 1}, {"security": 2}], "m": {"0": 1}}});
        assert_eq!(
            field_path(&obj, "/spec/plans/1/security"),
            "spec.plans[1].security"
        );
        assert_eq!(field_path(&obj, "/spec/m/0"), "spec.m.0");
        assert_eq!(field_path(&obj, ""), "");
    }

    #[test]
    fn unknown_field_is_reported_with_a_suggestion() {
        let got = errors(
            Kind::ApiDefinition,
            json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
                   "metadata": {"name": "a"},
                   "spec": {"proxy": {"virtualHosts": [{"path": "/a"}]}}}),
        );
        assert_eq!(
            got,
            vec!["spec.proxy.virtualHosts: unknown field `virtualHosts`: it is not part of the ApiDefinition schema; did you mean `virtual_hosts`? remove it or correct its spelling"]
        );
    }

    #[test]
    fn every_error_is_reported_not_only_the_first() {
        let got = errors(
            Kind::ApiDefinition,
            json!({"spec": {"state": "RUNNING", "visibility": "SECRET", "plans": [{"order": "x"}]}}),
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.contains(
            &"spec.state: \"RUNNING\" is not a valid value; use one of STARTED, STOPPED"
                .to_string()
        ));
        assert!(got
            .iter()
            .any(|e| e.starts_with("spec.plans[0].order: must be of type integer")));
    }

    #[test]
    fn open_configuration_blocks_accept_anything() {
        let got = errors(
            Kind::ApiResource,
            json!({"spec": {"name": "c", "type": "cache", "configuration": {"any": {"deep": [1, "x"]}}}}),
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn both_gko_generations_spellings_are_known() {
        let got = errors(
            Kind::ApiDefinition,
            json!({"spec": {"plans": [{"name": "a", "security": "KEY_LESS", "selectionRule": "x"},
                                      {"name": "b", "security": "KEY_LESS", "selection_rule": "y"}],
                            "primaryOwner": {"id": "1"}, "pages": {"home": {"name": "h", "type": "MARKDOWN"}},
                            "services": {"dynamic-property": {"provider": 1}}}}),
        );
        assert!(got.is_empty(), "{got:?}");
    }
}
