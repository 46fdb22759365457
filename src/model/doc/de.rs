//! `&Doc` as a serde `Deserializer`, for the typed specs the rules read.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::Doc;

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
