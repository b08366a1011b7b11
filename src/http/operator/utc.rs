//! Instants in the operator API. The database keeps them as UTC without a
//! zone; answers carry RFC 3339 with `Z`, so that a client (and the
//! `date-time` format the document declares) reads them as UTC.
//! Use as `#[serde(with = "utc")]`, or `utc::option` for an `Option`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Deserializer, Serializer};

fn format(at: &NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse<E: serde::de::Error>(text: &str) -> Result<NaiveDateTime, E> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.naive_utc())
        .map_err(E::custom)
}

pub fn serialize<S: Serializer>(at: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDateTime, D::Error> {
    parse(&String::deserialize(deserializer)?)
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<NaiveDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&format(at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDateTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| parse(&text))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct View {
        #[serde(with = "super")]
        at: NaiveDateTime,
        #[serde(with = "super::option")]
        maybe: Option<NaiveDateTime>,
    }

    #[test]
    fn instants_are_answered_in_utc_with_a_zone() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_nano_opt(14, 19, 52, 878_632_167)
            .unwrap();
        let view = View {
            at,
            maybe: Some(at.date().and_hms_opt(0, 0, 0).unwrap()),
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["at"], "2026-11-23T14:19:52.878632167Z");
        assert_eq!(json["maybe"], "2026-11-23T00:00:00Z");
        assert_eq!(serde_json::from_value::<View>(json).unwrap(), view);
        let none = View { at, maybe: None };
        assert_eq!(
            serde_json::to_value(&none).unwrap()["maybe"],
            serde_json::Value::Null
        );
    }
}
