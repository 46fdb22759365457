//! The admitted object as the validating webhook reads it: a JSON tree that borrows its strings
//! from the request body.
//!
//! Building a `serde_json::Value` for every review (a `String` per key and per value, a B-tree per
//! object, all dropped after the answer) was half of a review's CPU. [`Doc`] keeps strings without
//! escapes as slices of the body and objects as small vectors of members, in document order. The
//! schema check runs on it directly (it implements `jsonschema`'s instance representation), the
//! rules decode their typed spec from it (`&Doc` is a serde `Deserializer`), and the template scan
//! walks it. [`Doc::from_value`] borrows a `Value` the same way, for callers that have one (the
//! CLI, tests); [`Doc::to_value`] builds a `Value` for the cold paths (error paths, the APIM dry run).

mod de;
mod instance;
mod parse;

use std::borrow::Cow;

use serde_json::{Number, Value};

pub use self::instance::DocJson;

/// One JSON value. Object members keep their order; a key given twice is read as its last
/// occurrence, as `serde_json` does.
#[derive(Debug, Clone, Default)]
pub enum Doc<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    Object(Vec<(Cow<'a, str>, Doc<'a>)>),
}

impl<'a> Doc<'a> {
    /// Borrows `value` (no string is copied).
    pub(crate) fn from_value(value: &'a Value) -> Doc<'a> {
        match value {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Number(n) => Doc::Number(n.clone()),
            Value::String(s) => Doc::String(Cow::Borrowed(s)),
            Value::Array(items) => Doc::Array(items.iter().map(Doc::from_value).collect()),
            Value::Object(map) => Doc::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Doc::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The same value as a `serde_json::Value` (copies every string).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::String(s) => Value::String(s.to_string()),
            Doc::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Doc::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Doc<'a>> {
        match self {
            Doc::Object(members) => member(members, key),
            _ => None,
        }
    }

    /// The value at a JSON pointer made of object keys only (`/metadata/name`).
    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Doc<'a>> {
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self, |node, key| node.get(key))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Doc::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Doc<'a>]> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }

    /// The same value owning all its strings (tests keep parsed requests past their body).
    #[cfg(test)]
    pub(crate) fn into_owned(self) -> Doc<'static> {
        match self {
            Doc::Null => Doc::Null,
            Doc::Bool(b) => Doc::Bool(b),
            Doc::Number(n) => Doc::Number(n),
            Doc::String(s) => Doc::String(Cow::Owned(s.into_owned())),
            Doc::Array(items) => Doc::Array(items.into_iter().map(Doc::into_owned).collect()),
            Doc::Object(members) => Doc::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

/// The value of `key` among `members`: its last occurrence, as `serde_json` reads a repeated key.
fn member<'d, 'a>(members: &'d [(Cow<'a, str>, Doc<'a>)], key: &str) -> Option<&'d Doc<'a>> {
    members
        .iter()
        .rev()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v)
}

/// Equality as for `serde_json::Value`: objects are equal when they have the same members, in any
/// order.
impl PartialEq for Doc<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Doc::Null, Doc::Null) => true,
            (Doc::Bool(a), Doc::Bool(b)) => a == b,
            (Doc::Number(a), Doc::Number(b)) => a == b,
            (Doc::String(a), Doc::String(b)) => a == b,
            (Doc::Array(a), Doc::Array(b)) => a == b,
            (Doc::Object(a), Doc::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| other.get(k) == Some(v))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::parse::MAX_DEPTH;
    use super::*;

    fn parsed(text: &str) -> Doc<'_> {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parsing_borrows_plain_strings_and_copies_escaped_ones() {
        let text = r#"{"plain": "abc", "esc\"aped": "a\nb", "n": [1, -2, 2.5, null, true]}"#;
        let doc = parsed(text);
        let Doc::Object(members) = &doc else {
            panic!("not an object: {doc:?}")
        };
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(members[0].1, Doc::String(Cow::Borrowed("abc"))));
        assert!(matches!(&members[1].0, Cow::Owned(k) if k == "esc\"aped"));
        assert!(matches!(&members[1].1, Doc::String(Cow::Owned(v)) if v == "a\nb"));
        let value: Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(doc.to_value(), value);
        assert_eq!(Doc::from_value(&value), doc);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_an_error_not_a_crash() {
        // Through a tokenizer without a depth limit of its own, this parser's limit holds.
        // (`Value`'s own deserializer has no depth limit.)
        let nested = |n: usize| (0..n).fold(Value::Null, |inner, _| Value::Array(vec![inner]));
        let from_value = |value: Value| Doc::deserialize(value).map(Doc::into_owned);
        let err = from_value(nested(MAX_DEPTH + 1)).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("nested more than 128 levels")),
            "{err:?}"
        );
        assert!(from_value(nested(MAX_DEPTH)).is_ok());
        // serde_json stops at the same depth by itself.
        assert!(serde_json::from_str::<Doc<'_>>(&"[".repeat(1_000_000)).is_err());
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_occurrence_like_serde_json() {
        let doc = parsed(r#"{"a": 1, "a": 2}"#);
        assert_eq!(doc.get("a"), Some(&Doc::Number(2.into())));
        assert_eq!(doc.to_value(), json!({"a": 2}));
    }

    #[test]
    fn equality_ignores_member_order_like_value() {
        assert_eq!(
            parsed(r#"{"a": 1, "b": [true]}"#),
            parsed(r#"{"b": [true], "a": 1}"#)
        );
        assert_ne!(parsed(r#"{"a": 1}"#), parsed(r#"{"a": 1, "b": 2}"#));
        assert_ne!(parsed(r#"{"a": 1, "b": 2}"#), parsed(r#"{"a": 1, "c": 2}"#));
        assert_ne!(parsed("[1, 2]"), parsed("[2, 1]"));
        assert_ne!(parsed("1"), parsed("1.0"));
    }

    #[test]
    fn pointer_reads_object_paths() {
        let doc = parsed(r#"{"metadata": {"name": "x", "deletionTimestamp": null}}"#);
        assert_eq!(
            doc.pointer("/metadata/name").and_then(Doc::as_str),
            Some("x")
        );
        assert!(doc
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(Doc::is_null));
        assert_eq!(doc.pointer("/metadata/uid"), None);
        assert_eq!(doc.pointer("metadata"), None);
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Typed {
        name: String,
        count: Option<u32>,
        ratio: f64,
        tags: Vec<String>,
        mode: Mode,
        shape: Shape,
        #[serde(default)]
        missing: Option<String>,
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, Value>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "UPPERCASE")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    enum Shape {
        Circle(f64),
        Rect { w: u32, h: u32 },
    }

    #[test]
    fn typed_decoding_from_a_doc_equals_decoding_from_a_value() {
        for text in [
            r#"{"name": "n", "count": 3, "ratio": 0.5, "tags": ["a", "b"], "mode": "FAST",
                "shape": {"Circle": 2.0}, "extra": {"x": [1]}}"#,
            r#"{"name": "n", "count": null, "ratio": 1, "tags": [], "mode": "SLOW",
                "shape": {"Rect": {"w": 1, "h": 2}}}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap_or_default();
            let from_value = Typed::deserialize(&value).map_err(|e| e.to_string());
            let doc = parsed(text);
            let from_doc = Typed::deserialize(&doc).map_err(|e| e.to_string());
            assert!(from_doc.is_ok(), "{from_doc:?}");
            assert_eq!(from_doc, from_value);
        }
        for wrong in [
            r#"{"name": 1, "ratio": 1, "tags": [], "mode": "FAST", "shape": {"Circle": 1}}"#,
            r#"{"name": "n", "ratio": 1, "tags": [], "mode": "MEDIUM", "shape": {"Circle": 1}}"#,
            r#"{"name": "n", "ratio": 1, "tags": [], "mode": "FAST", "shape": []}"#,
            r#"{"name": "n", "ratio": 1, "tags": "a", "mode": "FAST", "shape": {"Circle": 1}}"#,
        ] {
            assert!(Typed::deserialize(&parsed(wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn schema_checks_agree_with_the_serde_json_representation() {
        let schema = json!({
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 2},
                "mode": {"type": "string", "enum": ["FAST", "SLOW"]},
                "n": {"type": "integer", "minimum": 1},
                "on": {"type": "boolean"},
                "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let (Ok(by_value), Ok(by_doc)) = (
            jsonschema::draft4::options().build(&schema),
            jsonschema::options_for::<DocJson>()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&schema),
        ) else {
            panic!("schema does not compile")
        };
        for instance in [
            json!({"name": "ok", "mode": "FAST", "n": 3, "on": true, "list": [{"k": "v"}], "free": {"a": 1}}),
            json!({"name": "x"}),
            json!({"mode": "MEDIUM"}),
            json!({"name": "ok", "n": 1.5}),
            json!({"name": "ok", "n": 0}),
            json!({"name": "ok", "nme": "typo"}),
            json!({"name": "ok", "list": [{"k": 1}]}),
            json!({"name": "ok", "on": "yes"}),
            json!(["not", "an", "object"]),
        ] {
            let doc = Doc::from_value(&instance);
            assert_eq!(
                by_doc.is_valid(&doc),
                by_value.is_valid(&instance),
                "{instance}"
            );
            let errors = |it: jsonschema::ErrorIterator<'_>| -> Vec<String> {
                it.map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect()
            };
            assert_eq!(
                errors(by_doc.iter_errors(&doc)),
                errors(by_value.iter_errors(&instance)),
                "{instance}"
            );
        }
    }
}
