//! Request and view types at the HTTP edge. Requests (`...Request`) are plain JSON shapes
//! with `deny_unknown_fields`; each becomes a domain command through `TryFrom`-style
//! conversions in which the domain's newtypes parse, and every value a parser refuses is
//! reported with its JSON path (400 `invalid_body`). Views (`...View`) are built from
//! aggregates and catalogues. Domain types never derive `ToSchema`; this module mirrors what
//! the API shows.

pub mod audit;
pub mod catalogues;
pub mod commands;
pub mod feed;
pub mod history;
pub mod incidents;
pub mod read_models;
pub mod views;
pub mod webhooks;

use std::fmt::Display;

use domain::contact::{ContactDetails, ContactRole, EmailAddress, PhoneNumber};
use domain::identity::IdentityError;
use domain::text::{LongText, ShortText};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::{ApiError, FieldError};

/// Collects every field problem of a request, so that the client learns all at once.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// The parsed value, or `None` with the problem recorded under `path`.
    pub fn take<T, E: Display>(
        &mut self,
        path: impl Into<String>,
        parsed: Result<T, E>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(FieldError {
                    path: path.into(),
                    message: error.to_string(),
                });
                None
            }
        }
    }

    /// Like [`Fields::take`] for an optional field.
    pub fn take_opt<T, E: Display>(
        &mut self,
        path: impl Into<String>,
        parsed: Option<Result<T, E>>,
    ) -> Option<Option<T>> {
        match parsed {
            None => Some(None),
            Some(parsed) => self.take(path, parsed).map(Some),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The 400 for everything recorded.
    pub fn error(self) -> ApiError {
        ApiError::invalid_body(&self.errors)
    }
}

/// Fails with every recorded problem unless all the options are `Some`.
#[macro_export]
macro_rules! all_fields {
    ($fields:expr; $($name:ident),+ $(,)?) => {
        let ($(Some($name),)+) = ($($name,)+) else {
            return Err($fields.error());
        };
        if !$fields.is_empty() {
            return Err($fields.error());
        }
    };
}

/// An identity parser's refusal without the digits it refused (a personnummer's birth date
/// is personal data).
pub fn identity_message(error: &IdentityError) -> String {
    match error {
        IdentityError::ImpossibleDate { .. } => "personnummer has an impossible birth date".into(),
        IdentityError::FutureBirthDate { .. } => {
            "personnummer has a birth date in the future".into()
        }
        other => other.to_string(),
    }
}

pub fn short(fields: &mut Fields, path: &str, raw: &str) -> Option<ShortText> {
    fields.take(path, ShortText::parse(raw))
}

pub fn long(fields: &mut Fields, path: &str, raw: &str) -> Option<LongText> {
    fields.take(path, LongText::parse(raw))
}

pub fn short_opt(
    fields: &mut Fields,
    path: &str,
    raw: Option<&String>,
) -> Option<Option<ShortText>> {
    fields.take_opt(path, raw.map(|raw| ShortText::parse(raw)))
}

pub fn long_opt(fields: &mut Fields, path: &str, raw: Option<&String>) -> Option<Option<LongText>> {
    fields.take_opt(path, raw.map(|raw| LongText::parse(raw)))
}

/// The role a named contact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactRoleDto {
    ItContact,
    HsaSithsContact,
    OfficeEnvironmentContact,
    HeadOfUnit,
    ItRepresentative,
    CareAdministrator,
    CatalogueAdministrator,
    SystemAdministrator,
}

impl From<ContactRoleDto> for ContactRole {
    fn from(role: ContactRoleDto) -> Self {
        match role {
            ContactRoleDto::ItContact => Self::ItContact,
            ContactRoleDto::HsaSithsContact => Self::HsaSithsContact,
            ContactRoleDto::OfficeEnvironmentContact => Self::OfficeEnvironmentContact,
            ContactRoleDto::HeadOfUnit => Self::HeadOfUnit,
            ContactRoleDto::ItRepresentative => Self::ItRepresentative,
            ContactRoleDto::CareAdministrator => Self::CareAdministrator,
            ContactRoleDto::CatalogueAdministrator => Self::CatalogueAdministrator,
            ContactRoleDto::SystemAdministrator => Self::SystemAdministrator,
        }
    }
}

/// A person's contact details (personal data), parsed under `path`.
pub fn parse_person(
    fields: &mut Fields,
    path: &str,
    name: &str,
    email: &str,
    phone: Option<&str>,
) -> Option<ContactDetails> {
    let name = short(fields, &format!("{path}.name"), name);
    let email = fields.take(format!("{path}.email"), EmailAddress::parse(email));
    let phone = fields.take_opt(format!("{path}.phone"), phone.map(PhoneNumber::parse));
    Some(ContactDetails {
        name: name?,
        email: email?,
        phone: phone?,
    })
}

/// A whole number from 0 to `u32::MAX` as JSON Schema counts integers: `3`, and also `3.0`
/// (a number whose fractional part is zero is an integer there, and a client that computed
/// it as a float sends it so). For `#[serde(deserialize_with)]` on the requests' counts and
/// numbers; the error names the expectation, never the value.
pub fn whole_u32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};

    struct Whole;
    impl Visitor<'_> for Whole {
        type Value = u32;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number from 0 to 4294967295")
        }

        fn visit_u64<E: Error>(self, value: u64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
        }

        fn visit_i64<E: Error>(self, value: i64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }

        fn visit_f64<E: Error>(self, value: f64) -> Result<u32, E> {
            let whole = value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value);
            if whole {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a whole number within 0..=u32::MAX, checked above"
                )]
                Ok(value as u32)
            } else {
                Err(E::invalid_value(Unexpected::Float(value), &self))
            }
        }
    }
    deserializer.deserialize_any(Whole)
}

/// [`whole_u32`] for an optional field (with `#[serde(default)]`).
pub fn whole_u32_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_u32")] u32);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|whole| whole.0))
}

/// What a `ShortText` accepts, as a schema `pattern`: no control characters, and something
/// besides white space (the text is trimmed). With `maxLength` 200: the trimmed text is never
/// longer than what was sent. The request types repeat it in their attributes (utoipa takes
/// literals there); `openapi::tests` holds every such property to it.
pub const SHORT_TEXT_PATTERN: &str =
    r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

/// What a slug id (programme, service package, step) accepts, as a schema `pattern`, with
/// `maxLength` 64.
pub const SLUG_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";

/// A list of short texts, for `schema_with`.
pub fn short_text_list() -> utoipa::openapi::schema::Array {
    string_list(SHORT_TEXT_PATTERN, 1, ShortText::MAX_CHARS)
}

/// A list of slug ids, for `schema_with`.
pub fn slug_list() -> utoipa::openapi::schema::Array {
    string_list(SLUG_PATTERN, 1, 64)
}

fn string_list(pattern: &str, min: usize, max: usize) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .min_length(Some(min))
                .max_length(Some(max)),
        )
        .build()
}

/// The text of a serde-serialised unit enum, e.g. a phase's `"final_verification"`.
pub fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Counts {
        #[serde(deserialize_with = "whole_u32")]
        count: u32,
        #[serde(default, deserialize_with = "whole_u32_opt")]
        optional: Option<u32>,
    }

    #[test]
    fn a_whole_number_may_be_written_as_a_float_as_json_schema_counts_integers() {
        let parse = |json: &str| serde_json::from_str::<Counts>(json);
        let counts = parse(r#"{"count": 12.0, "optional": 3}"#).unwrap();
        assert_eq!((counts.count, counts.optional), (12, Some(3)));
        let counts = parse(r#"{"count": 4294967295, "optional": null}"#).unwrap();
        assert_eq!((counts.count, counts.optional), (u32::MAX, None));
        assert_eq!(parse(r#"{"count": 0}"#).unwrap().optional, None);
        for refused in [
            r#"{"count": 1.5}"#,
            r#"{"count": -1}"#,
            r#"{"count": -1.0}"#,
            r#"{"count": 4294967296}"#,
            r#"{"count": 4294967296.0}"#,
            r#"{"count": "1"}"#,
            r#"{"count": 1, "optional": 2.5}"#,
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }
}
