//! YAML input of `gko validate`: each document as the JSON the API server would receive, plus the
//! line every field starts on, so that a finding can point at its line.
//!
//! Parsing is serde-saphyr's (YAML 1.2 core schema, duplicate keys refused, as the API server
//! refuses them); this module only keeps the locations serde-saphyr reports through `Spanned`.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// Where the fields of one YAML document are.
#[derive(Clone, Debug, Default)]
pub(crate) struct Positions {
    /// 1-based line of each field path (`spec.plans[1].security`), as `field_path` spells them.
    lines: HashMap<String, u64>,
    /// Line of the document's first node.
    first_line: u64,
}

impl Positions {
    /// The line of `field`, or of its closest enclosing field present in the document (a missing
    /// `spec.plans[0].security` points at `spec.plans[0]`); the document's first line otherwise.
    pub(crate) fn line_of(&self, field: &str) -> u64 {
        let mut path = field;
        loop {
            if let Some(line) = self.lines.get(path) {
                return *line;
            }
            match parent(path) {
                Some(p) => path = p,
                None => return self.first_line,
            }
        }
    }

    /// The line the document starts on.
    pub(crate) fn first_line(&self) -> u64 {
        self.first_line
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// A document failed to parse.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct YamlError {
    pub message: String,
    /// 1-based line, when the parser knows it.
    pub line: Option<u64>,
}

impl From<serde_saphyr::Error> for YamlError {
    fn from(e: serde_saphyr::Error) -> Self {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        YamlError {
            message: e.to_string(),
            line,
        }
    }
}

/// Parses a stream of YAML documents (JSON is YAML too). Empty documents are skipped. A document
/// that does not parse ends the stream: what follows a syntax error cannot be read reliably. The
/// documents before it are returned.
pub(crate) fn documents(text: &str) -> (Vec<(Value, Positions)>, Option<YamlError>) {
    let options = serde_saphyr::options! { with_snippet: false };
    let mut reader = text.as_bytes();
    let mut docs = Vec::new();
    for item in serde_saphyr::read_with_options::<_, Spanned<Node>>(&mut reader, options) {
        match item {
            Ok(root) => {
                let first_line = root.referenced.line();
                let mut lines = HashMap::new();
                let value = root.value.into_json(String::new(), &mut lines);
                if value.is_null() {
                    continue;
                }
                docs.push((value, Positions { lines, first_line }));
            }
            Err(e) => return (docs, Some(e.into())),
        }
    }
    (docs, None)
}

/// A YAML node with the locations of its children.
enum Node {
    Scalar(Value),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
}

impl Node {
    fn into_json(self, path: String, lines: &mut HashMap<String, u64>) -> Value {
        match self {
            Node::Scalar(v) => v,
            Node::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let at = format!("{path}[{i}]");
                        lines.entry(at.clone()).or_insert(item.referenced.line());
                        item.value.into_json(at, lines)
                    })
                    .collect(),
            ),
            Node::Map(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, value) in members {
                    let at = if path.is_empty() {
                        key.value.0.clone()
                    } else {
                        format!("{path}.{}", key.value.0)
                    };
                    lines.entry(at.clone()).or_insert(key.referenced.line());
                    map.insert(key.value.0, value.value.into_json(at, lines));
                }
                Value::Object(map)
            }
        }
    }
}

/// A mapping key as JSON spells it: YAML allows numbers and booleans as keys, JSON has strings
/// only (the API server's YAML decoder turns them into strings the same way).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
                Ok(Key(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".into()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Number(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Number::from_f64(v)
            .map(|n| Node::Scalar(Value::Number(n)))
            .ok_or_else(|| E::custom(format!("{v} cannot be represented in JSON; quote it")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Value::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(Value::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            members.push((key, value));
        }
        Ok(Node::Map(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Doc {
        value: Value,
        at: Positions,
    }

    impl Doc {
        fn line_of(&self, field: &str) -> u64 {
            self.at.line_of(field)
        }
    }

    fn one(text: &str) -> Doc {
        let (mut docs, err) = documents(text);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(docs.len(), 1);
        let (value, at) = docs.remove(0);
        Doc { value, at }
    }

    const API: &str = "\
apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: orders
spec:
  plans:
    - name: free
      security: KEY_LESS
    - name: gold
      security: JWT
      tags: [a, b]
";

    #[test]
    fn fields_have_the_line_of_their_key_and_items_of_their_dash() {
        let doc = one(API);
        assert_eq!(doc.line_of("metadata.name"), 4);
        assert_eq!(doc.line_of("spec.plans"), 6);
        assert_eq!(doc.line_of("spec.plans[0]"), 7);
        assert_eq!(doc.line_of("spec.plans[1].security"), 10);
        assert_eq!(doc.line_of("spec.plans[1].tags[1]"), 11);
        assert_eq!(doc.at.first_line(), 1);
    }

    #[test]
    fn a_missing_field_points_at_its_closest_parent() {
        let doc = one(API);
        assert_eq!(doc.line_of("spec.plans[0].flows"), 7);
        assert_eq!(doc.line_of("spec.proxy.groups[0]"), 5);
        assert_eq!(doc.line_of("status"), 1);
    }

    #[test]
    fn scalars_follow_the_yaml_core_schema() {
        let doc = one("a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: null\ng: '1'\nh: \"true\"\ni: text\nj: 18446744073709551615\n");
        assert_eq!(
            doc.value,
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": null, "g": "1", "h": "true", "i": "text", "j": 18446744073709551615u64})
        );
    }

    #[test]
    fn non_string_keys_become_strings_as_in_json() {
        let doc = one("200: ok\ntrue: yes-string\n");
        assert_eq!(doc.value["200"], "ok");
        assert_eq!(doc.value["true"], "yes-string");
    }

    #[test]
    fn anchors_and_merge_keys_are_resolved() {
        let doc = one("base: &b {x: 1}\nother:\n  <<: *b\n  z: 2\n");
        assert_eq!(doc.value["other"], json!({"x": 1, "z": 2}));
    }

    #[test]
    fn yaml_1_1_booleans_read_as_kubectl_reads_them() {
        // kubectl's YAML decoder (go-yaml v2) resolves `yes`/`on`/`y` to true, keys included, so
        // the API server receives booleans: gko validate checks what the API server will see.
        let doc = one("a: yes\nb: off\non: 1\n");
        assert_eq!(doc.value, json!({"a": true, "b": false, "true": 1}));
    }

    #[test]
    fn empty_documents_are_skipped_and_json_is_read_too() {
        let (docs, err) = documents("---\n---\n{\"kind\": \"A\", \"n\": [1, 2]}\n---\nkind: B\n");
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, json!({"kind": "A", "n": [1, 2]}));
        assert_eq!(docs[1].1.line_of("kind"), 5);
    }

    #[test]
    fn a_syntax_error_keeps_the_documents_before_it_and_says_where() {
        let (docs, err) = documents("kind: A\n---\nspec: [unclosed\n");
        assert_eq!(docs.len(), 1);
        let err = err.expect("an error");
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused_as_the_api_server_does() {
        let (docs, err) = documents("kind: A\nkind: B\n");
        assert!(docs.is_empty());
        assert!(err.is_some());
    }
}
