//! The typed spec the ApiDefinition rules read, decoded from the admitted JSON without its flows.
//!
//! No rule reads a flow (the schema check and the template scan walk them on the JSON itself), and
//! flows are most of a real API's spec: decoding them into typed steps with their policy
//! configurations, then dropping them, was a fifth of a review's CPU. This is a `Deserializer` over
//! the admitted [`Doc`] that leaves out `flows` of the spec and of each plan, and hands every other
//! field to `&Doc`'s own deserializer unchanged.

use std::borrow::Cow;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::Doc;
use crate::crd::api_definition::ApiDefinitionSpec;

/// Decodes `spec` for the rules: every field but `spec.flows` and `spec.plans[].flows` (left `None`).
pub(crate) fn decode_spec(spec: &Doc<'_>) -> Result<ApiDefinitionSpec, serde_json::Error> {
    ApiDefinitionSpec::deserialize(View {
        value: spec,
        level: Level::Spec,
    })
}

/// Where in the spec a value sits; only these levels hide a `flows` field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Spec,
    Plans,
    Plan,
}

struct View<'de, 'a> {
    value: &'de Doc<'a>,
    level: Level,
}

const HIDDEN: &str = "flows";

impl<'de> de::Deserializer<'de> for View<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match (self.level, self.value) {
            (Level::Spec | Level::Plan, Doc::Object(members)) => visitor.visit_map(Fields {
                iter: members.iter(),
                level: self.level,
                next: None,
            }),
            (Level::Plans, Doc::Array(items)) => visitor.visit_seq(Plans { iter: items.iter() }),
            // Not the shape the schema asks for: decode it as is (and fail the same way).
            (_, other) => de::Deserializer::deserialize_any(other, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.value.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Fields<'de, 'a> {
    iter: std::slice::Iter<'de, (Cow<'a, str>, Doc<'a>)>,
    level: Level,
    next: Option<(&'de str, &'de Doc<'a>)>,
}

impl<'de> MapAccess<'de> for Fields<'de, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (key, value) in self.iter.by_ref() {
            if key == HIDDEN {
                continue;
            }
            let key: &'de str = key;
            self.next = Some((key, value));
            return seed
                .deserialize(BorrowedStrDeserializer::<serde_json::Error>::new(key))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some((key, value)) = self.next.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        if self.level == Level::Spec && key == "plans" {
            seed.deserialize(View {
                value,
                level: Level::Plans,
            })
        } else {
            seed.deserialize(value)
        }
    }
}

struct Plans<'de, 'a> {
    iter: std::slice::Iter<'de, Doc<'a>>,
}

impl<'de> SeqAccess<'de> for Plans<'de, '_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.iter
            .next()
            .map(|value| {
                seed.deserialize(View {
                    value,
                    level: Level::Plan,
                })
            })
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn decode(spec: &Value) -> Result<ApiDefinitionSpec, serde_json::Error> {
        decode_spec(&Doc::from_value(spec))
    }

    fn spec() -> Value {
        json!({
            "name": "orders", "version": "1", "state": "STARTED", "description": "d",
            "contextRef": {"name": "dev"},
            "flows": [{"name": "f", "pre": [{"policy": "rate-limit", "configuration": {"rate": {"limit": 1}}}]}],
            "plans": [
                {"name": "free", "security": "KEY_LESS", "flows": [{"name": "p"}]},
                {"name": "keys", "security": "API_KEY", "securityDefinition": "{}"}
            ],
            "resources": [{"name": "cache", "type": "cache", "configuration": {"flows": 3, "ttl": 60}}],
            "proxy": {"virtual_hosts": [{"path": "/orders"}],
                      "groups": [{"name": "g", "endpoints": [{"name": "e", "target": "https://b"}]}]}
        })
    }

    #[test]
    fn equals_the_full_decode_without_flows() {
        let view = decode(&spec()).expect("the view decodes");
        let mut without = spec();
        without.as_object_mut().expect("object").remove("flows");
        without["plans"][0]
            .as_object_mut()
            .expect("object")
            .remove("flows");
        let full: ApiDefinitionSpec = serde_json::from_value(without).expect("full decode");
        assert_eq!(
            serde_json::to_value(&view).expect("encode"),
            serde_json::to_value(&full).expect("encode")
        );
        assert!(view.flows.is_none());
        assert!(view.plans.iter().flatten().all(|p| p.flows.is_none()));
    }

    #[test]
    fn other_fields_named_flows_are_kept() {
        let view = decode(&spec()).expect("the view decodes");
        let config = view
            .resources
            .as_ref()
            .and_then(|r| r[0].configuration.as_ref());
        assert_eq!(config.and_then(|c| c.get("flows")), Some(&json!(3)));
    }

    #[test]
    fn a_spec_of_the_wrong_shape_fails_like_the_full_decode() {
        for bad in [
            json!("text"),
            json!({"plans": {"a": 1}}),
            json!({"plans": [3]}),
        ] {
            assert_eq!(
                decode(&bad).is_err(),
                serde_json::from_value::<ApiDefinitionSpec>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
