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

/// The text of a serde-serialised unit enum, e.g. a phase's `"final_verification"`.
pub fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
