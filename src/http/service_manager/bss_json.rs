//! Reads request JSON the way the BSS writes it.
//!
//! The BSS is a .NET client whose serializer matches property names
//! case-insensitively, and it sends empty strings for fields it has no value
//! for. This deserializer, run over a parsed `serde_json::Value`, gives every
//! wire type the same leniency without per-field attributes:
//! - struct fields match whatever the case (`externalId` is `ExternalID`);
//! - unknown fields are ignored (serde's default);
//! - strings read into `String` are trimmed;
//! - `null` and blank strings read as `None` for optional fields.
//!
//! Free-form maps (`ExtraDetails`, `SyncOptions`) keep their keys and values
//! exactly as sent.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// Error of [`from_value`], carrying the path of the offending field.
pub type PathError = serde_path_to_error::Error<serde_json::Error>;

/// Deserializes `T` from `value` with the BSS's leniency.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, PathError> {
    serde_path_to_error::deserialize(BssValue(value))
}

struct BssValue(Value);

impl<'de> IntoDeserializer<'de, serde_json::Error> for BssValue {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Renames each key of `object` to the struct field it matches ignoring case.
fn canonical_keys(
    object: Map<String, Value>,
    fields: &'static [&'static str],
) -> Vec<(String, BssValue)> {
    object
        .into_iter()
        .map(|(key, value)| {
            let key = match fields.iter().find(|field| field.eq_ignore_ascii_case(&key)) {
                Some(field) => (*field).to_owned(),
                None => key,
            };
            (key, BssValue(value))
        })
        .collect()
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => de::Unexpected::Signed(i),
            (_, Some(u), _) => de::Unexpected::Unsigned(u),
            (_, _, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

impl<'de> de::Deserializer<'de> for BssValue {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => de::Deserializer::deserialize_any(n, visitor),
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(BssValue));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(object) => {
                let mut map =
                    MapDeserializer::new(object.into_iter().map(|(k, v)| (k, BssValue(v))));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match &self.0 {
            Value::Null => visitor.visit_none(),
            Value::String(s) if s.trim().is_empty() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::String(s) => {
                let trimmed = s.trim();
                if trimmed.len() == s.len() {
                    visitor.visit_string(s)
                } else {
                    visitor.visit_str(trimmed)
                }
            }
            other => BssValue(other).deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(object) => {
                let mut map = MapDeserializer::new(canonical_keys(object, fields).into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
            // Not positional fields from an array, as serde would allow.
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_enum(self.0, name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Inner {
        #[serde(rename = "ID")]
        id: Option<String>,
        first_name: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Outer {
        #[serde(rename = "ExternalID")]
        external_id: Option<String>,
        name: Option<String>,
        contact: Option<Inner>,
        extra_details: Option<BTreeMap<String, Value>>,
        is_test: Option<bool>,
    }

    #[test]
    fn fields_match_whatever_the_case() {
        let outer: Outer = from_value(json!({
            "externalId": "cus_1",
            "NAME": "  Acme  ",
            "contact": {"id": "7", "firstname": "Ada"},
            "ExtraDetails": {"Keep": " As Sent "},
            "unknown": [1, 2, 3],
            "isTest": true
        }))
        .unwrap();
        assert_eq!(outer.external_id.as_deref(), Some("cus_1"));
        assert_eq!(outer.name.as_deref(), Some("Acme"));
        assert_eq!(outer.contact.unwrap().first_name.as_deref(), Some("Ada"));
        assert_eq!(outer.extra_details.unwrap()["Keep"], json!(" As Sent "));
        assert_eq!(outer.is_test, Some(true));
    }

    #[test]
    fn null_and_blank_read_as_none() {
        let outer: Outer =
            from_value(json!({"ExternalID": "   ", "Name": null, "Contact": null})).unwrap();
        assert_eq!(outer.external_id, None);
        assert_eq!(outer.name, None);
        assert_eq!(outer.contact, None);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let error = from_value::<Outer>(json!({"Contact": {"FirstName": 5}})).unwrap_err();
        assert_eq!(error.path().to_string(), "Contact.FirstName");
        assert!(
            error.inner().to_string().contains("expected a string"),
            "{error}"
        );
        let error = from_value::<Outer>(json!(["cus_1", "Acme"])).unwrap_err();
        assert_eq!(
            error.inner().to_string(),
            "invalid type: sequence, expected struct Outer"
        );
        assert!(from_value::<Outer>(json!({"IsTest": "yes"})).is_err());
    }
}
