//! Personal data inside events, marked so that it can be encrypted per data subject and
//! erased by destroying the subject's key (crypto-shredding).
//!
//! A [`Personal`] value serialises as `{"pii": {"subject": "<uuid>", "value": ...}}`. The
//! store finds these objects in an event's JSON, encrypts `value` under the subject's key
//! before the event is written, and decrypts it on read; once the key is destroyed, reads
//! give `{"pii": {"subject": "<uuid>", "erased": true}}`, which deserialises to an erased
//! value. The domain itself never sees ciphertext.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::DataSubjectId;

/// The JSON key that marks a personal-data object.
pub const PII_KEY: &str = "pii";

/// Personal data about one data subject, or the mark that it was erased.
#[derive(Clone, PartialEq, Eq)]
pub struct Personal<T> {
    subject: DataSubjectId,
    value: Option<T>,
}

impl<T> Personal<T> {
    pub const fn new(subject: DataSubjectId, value: T) -> Self {
        Self {
            subject,
            value: Some(value),
        }
    }

    pub const fn erased(subject: DataSubjectId) -> Self {
        Self {
            subject,
            value: None,
        }
    }

    pub const fn subject(&self) -> DataSubjectId {
        self.subject
    }

    /// The data, or `None` once the subject has been forgotten.
    pub const fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub const fn is_erased(&self) -> bool {
        self.value.is_none()
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.value.is_some() {
            "<redacted>"
        } else {
            "<erased>"
        };
        write!(f, "Personal({}, {state})", self.subject)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "V: Deserialize<'de>"))]
struct Inner<V> {
    subject: DataSubjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<V>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    erased: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "V: Deserialize<'de>"))]
struct Outer<V> {
    pii: Inner<V>,
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Outer {
            pii: Inner {
                subject: self.subject,
                value: self.value.as_ref(),
                erased: self.value.is_none(),
            },
        }
        .serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Outer { pii } = Outer::<T>::deserialize(deserializer)?;
        match (pii.value, pii.erased) {
            (Some(value), false) => Ok(Self::new(pii.subject, value)),
            (None, true) => Ok(Self::erased(pii.subject)),
            _ => Err(serde::de::Error::custom(
                "personal data is either a value or erased",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn subject() -> DataSubjectId {
        DataSubjectId::from_uuid(Uuid::from_u128(7))
    }

    #[test]
    fn personal_data_serialises_under_the_pii_marker() {
        let json = serde_json::to_value(Personal::new(subject(), "Anna")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"pii": {"subject": subject().to_string(), "value": "Anna"}})
        );
        let back: Personal<String> = serde_json::from_value(json).unwrap();
        assert_eq!(back.value().map(String::as_str), Some("Anna"));
    }

    #[test]
    fn erased_personal_data_reads_back_as_erased() {
        let json = serde_json::json!({"pii": {"subject": subject().to_string(), "erased": true}});
        let back: Personal<String> = serde_json::from_value(json).unwrap();
        assert!(back.is_erased());
        assert_eq!(
            serde_json::to_value(&back).unwrap()["pii"]["erased"],
            serde_json::json!(true)
        );
    }

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!("{:?}", Personal::new(subject(), "Anna Andersson"));
        assert!(!shown.contains("Anna"), "{shown}");
    }
}
