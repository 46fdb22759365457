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

use std::borrow::Cow;

use jsonschema::json::{self, NodeIdentity};
use jsonschema::JsonType;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Number, Value};

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
    pub fn from_value(value: &'a Value) -> Doc<'a> {
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
    pub fn to_value(&self) -> Value {
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
    pub fn get(&self, key: &str) -> Option<&Doc<'a>> {
        match self {
            Doc::Object(members) => member(members, key),
            _ => None,
        }
    }

    /// The value at a JSON pointer made of object keys only (`/metadata/name`).
    pub fn pointer(&self, pointer: &str) -> Option<&Doc<'a>> {
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self, |node, key| node.get(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Doc::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Doc<'a>]> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }

    /// The same value owning all its strings.
    pub fn into_owned(self) -> Doc<'static> {
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

// ---- parsing: strings without escapes borrow from the input ----

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut scratch = Scratch::default();
        DocSeed {
            scratch: &mut scratch,
        }
        .deserialize(deserializer)
    }
}

/// Members and elements of the containers being parsed, as a stack: each container is built
/// there, then moved into a vector of exactly its size (one allocation per container, none for
/// growing).
#[derive(Default)]
struct Scratch<'de> {
    members: Vec<(Cow<'de, str>, Doc<'de>)>,
    items: Vec<Doc<'de>>,
    /// Containers open around the value being parsed.
    depth: usize,
}

/// Deepest nesting accepted (as `serde_json`'s own limit): a body of a few million `[` must be
/// refused, not overflow the stack.
pub const MAX_DEPTH: usize = 128;

impl Scratch<'_> {
    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "the JSON is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }
}

struct DocSeed<'s, 'de> {
    scratch: &'s mut Scratch<'de>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_, 'de> {
    type Value = Doc<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_, 'de> {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Doc<'de>, E> {
        Ok(Number::from_f64(v).map_or(Doc::Null, Doc::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_none<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Doc<'de>, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        self.scratch.enter()?;
        let start = self.scratch.items.len();
        while let Some(item) = seq.next_element_seed(DocSeed {
            scratch: &mut *self.scratch,
        })? {
            self.scratch.items.push(item);
        }
        self.scratch.depth -= 1;
        Ok(Doc::Array(self.scratch.items.drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        self.scratch.enter()?;
        let start = self.scratch.members.len();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(DocSeed {
                scratch: &mut *self.scratch,
            })?;
            self.scratch.members.push((key, value));
        }
        self.scratch.depth -= 1;
        Ok(Doc::Object(self.scratch.members.drain(start..).collect()))
    }
}

/// An object key, borrowed when the input allows.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

// ---- `&Doc` as a serde Deserializer, for the typed specs the rules read ----

impl<'de> de::Deserializer<'de> for &'de Doc<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Doc::Null => visitor.visit_unit(),
            Doc::Bool(b) => visitor.visit_bool(*b),
            Doc::Number(n) => de::Deserializer::deserialize_any(n, visitor),
            Doc::String(s) => visitor.visit_borrowed_str(s),
            Doc::Array(items) => visitor.visit_seq(Items(items.iter())),
            Doc::Object(members) => visitor.visit_map(Members {
                iter: members.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Doc::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Doc::String(s) => visitor.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
            Doc::Object(members) if members.len() == 1 => {
                let (variant, value) = &members[0];
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"a variant name",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl Doc<'_> {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Doc::Null => de::Unexpected::Unit,
            Doc::Bool(b) => de::Unexpected::Bool(*b),
            Doc::Number(_) => de::Unexpected::Other("number"),
            Doc::String(s) => de::Unexpected::Str(s),
            Doc::Array(_) => de::Unexpected::Seq,
            Doc::Object(_) => de::Unexpected::Map,
        }
    }
}

struct Items<'de, 'a>(std::slice::Iter<'de, Doc<'a>>);

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The members of an object, for a visitor; `value` is the one whose key was just read.
struct Members<'de, 'a> {
    iter: std::slice::Iter<'de, (Cow<'a, str>, Doc<'a>)>,
    value: Option<&'de Doc<'a>>,
}

impl<'de> MapAccess<'de> for Members<'de, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// `{"Variant": value}`, an enum variant with data.
struct Variant<'de, 'a> {
    variant: &'de Cow<'a, str>,
    value: &'de Doc<'a>,
}

impl<'de> de::EnumAccess<'de> for Variant<'de, '_> {
    type Error = serde_json::Error;
    type Variant = &'de Doc<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let name = seed.deserialize(de::value::BorrowedStrDeserializer::<Self::Error>::new(
            self.variant,
        ))?;
        Ok((name, shorten(self.value)))
    }
}

/// `&'de Doc<'a>` as `&'de Doc<'de>` (a `Doc` is covariant in its lifetime, and `'a: 'de`).
fn shorten<'de, 'a: 'de>(doc: &'de Doc<'a>) -> &'de Doc<'de> {
    doc
}

impl<'de> de::VariantAccess<'de> for &'de Doc<'de> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self {
            Doc::Null => Ok(()),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

// ---- `jsonschema` instance representation ----

/// `Doc` as an instance representation for `jsonschema` validators.
pub struct DocJson;

impl json::Json for DocJson {
    type Node<'a> = &'a Doc<'a>;
    type PreparedKey = String;
    type StringBuffer = Doc<'static>;

    // A lookup scans the members (objects are small): a pass over the members is as cheap as a
    // few lookups.
    const KEYS_PER_LOOKUP: usize = 8;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Doc<'static>,
        string: &str,
        f: impl FnOnce(<Self as json::Json>::Node<'_>) -> T,
    ) -> T {
        *buffer = Doc::String(Cow::Owned(string.to_owned()));
        f(buffer)
    }
}

/// The members of an object node.
#[derive(Clone, Copy)]
pub struct DocObject<'a>(&'a [(Cow<'a, str>, Doc<'a>)]);

/// The elements of an array node.
#[derive(Clone, Copy)]
pub struct DocArray<'a>(&'a [Doc<'a>]);

impl<'a> json::Node<'a, DocJson> for &'a Doc<'a> {
    type Object = DocObject<'a>;
    type Array = DocArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<DocObject<'a>> {
        match self {
            Doc::Object(members) => Some(DocObject(members)),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<DocArray<'a>> {
        match self {
            Doc::Array(items) => Some(DocArray(items)),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Doc::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Doc::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            Doc::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            Doc::Null => JsonType::Null,
            Doc::Bool(_) => JsonType::Boolean,
            Doc::Number(_) => JsonType::Number,
            Doc::String(_) => JsonType::String,
            Doc::Array(_) => JsonType::Array,
            Doc::Object(_) => JsonType::Object,
        }
    }

    /// `enum` and `const` checks: strings and booleans compare in place (no `Value` is built for
    /// the common case); anything else as `jsonschema` compares values.
    fn equals_value(&self, expected: &Value) -> bool {
        match (self, expected) {
            (Doc::String(s), Value::String(e)) => s == e,
            (Doc::String(_), _) | (_, Value::String(_)) => false,
            (Doc::Bool(b), Value::Bool(e)) => b == e,
            (Doc::Null, Value::Null) => true,
            _ => json::cmp::equal(&self.to_value(), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Doc::to_value(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Doc<'a>>(*self) as usize
        ))
    }
}

impl<'a> json::Object<'a, DocJson> for DocObject<'a> {
    type Node = &'a Doc<'a>;
    type MemberName = &'a str;
    type MembersIter = MembersIter<'a>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<&'a Doc<'a>> {
        member(self.0, key)
    }

    fn members(&self) -> MembersIter<'a> {
        MembersIter(self.0.iter())
    }
}

pub struct MembersIter<'a>(std::slice::Iter<'a, (Cow<'a, str>, Doc<'a>)>);

impl<'a> Iterator for MembersIter<'a> {
    type Item = (&'a str, &'a Doc<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> json::Array<'a, DocJson> for DocArray<'a> {
    type Node = &'a Doc<'a>;
    type ElementsIter = std::slice::Iter<'a, Doc<'a>>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn elements(&self) -> std::slice::Iter<'a, Doc<'a>> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
