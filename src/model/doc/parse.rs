//! Parsing a [`Doc`] from JSON text: strings without escapes borrow from the input.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Number;

use super::Doc;

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
pub(crate) const MAX_DEPTH: usize = 128;

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
