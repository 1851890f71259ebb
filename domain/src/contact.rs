//! The people a provider names for a case, by the role the documents give them.

use serde::{Deserialize, Serialize};

use crate::text::ShortText;

/// The role a named contact holds for a case (Värmland §8; Dalarna BUP §8; Jämtland §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    /// The provider's overall IT contact (IT-kontakt).
    ItContact,
    /// The contact for HSA and SITHS matters (HSA/SITHS-kontakt).
    HsaSithsContact,
    /// The contact for the office environment (kontorsmiljö).
    OfficeEnvironmentContact,
    /// The head of the unit (verksamhetschef).
    HeadOfUnit,
    /// The unit's IT representative (IT-ombud).
    ItRepresentative,
    /// A care administrator (vårdadministratör) with rights in the patient record system.
    CareAdministrator,
    /// The administrator of the unit's HSA catalogue entries (katalogadministratör).
    CatalogueAdministrator,
    /// A system administrator for user registration in named systems (systemadministratör).
    SystemAdministrator,
}

impl ContactRole {
    pub const ALL: [Self; 8] = [
        Self::ItContact,
        Self::HsaSithsContact,
        Self::OfficeEnvironmentContact,
        Self::HeadOfUnit,
        Self::ItRepresentative,
        Self::CareAdministrator,
        Self::CatalogueAdministrator,
        Self::SystemAdministrator,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ItContact => "it_contact",
            Self::HsaSithsContact => "hsa_siths_contact",
            Self::OfficeEnvironmentContact => "office_environment_contact",
            Self::HeadOfUnit => "head_of_unit",
            Self::ItRepresentative => "it_representative",
            Self::CareAdministrator => "care_administrator",
            Self::CatalogueAdministrator => "catalogue_administrator",
            Self::SystemAdministrator => "system_administrator",
        }
    }
}

/// How to reach a contact. Personal data: held inside [`crate::Personal`] in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDetails {
    pub name: ShortText,
    pub email: EmailAddress,
    pub phone: Option<PhoneNumber>,
}

/// An e-mail address: one `@` between a non-empty local part and a domain with a dot, no
/// spaces, at most 254 characters. Deliverability is not the domain's concern.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// A phone number: digits with an optional leading `+` and spaces or dashes between groups,
/// 5 to 20 digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

/// Why contact details were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not an e-mail address")]
    Email,
    #[error("not a phone number")]
    Phone,
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let raw = raw.trim();
        let (local, domain) = raw.split_once('@').ok_or(ContactError::Email)?;
        let ok = raw.len() <= 254
            && !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ContactError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let raw = raw.trim();
        let body = raw.strip_prefix('+').unwrap_or(raw);
        let digits = body.chars().filter(char::is_ascii_digit).count();
        let ok = (5..=20).contains(&digits)
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
            && body.starts_with(|c: char| c.is_ascii_digit())
            && body.ends_with(|c: char| c.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ContactError::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! personal_text_impls {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<personal data>)"))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
personal_text_impls!(EmailAddress);
personal_text_impls!(PhoneNumber);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_need_one_at_and_a_dotted_domain() {
        assert!(EmailAddress::parse("it@vardcentral.se").is_ok());
        assert!(EmailAddress::parse("it@localhost").is_err());
        assert!(EmailAddress::parse("a b@x.se").is_err());
        assert!(EmailAddress::parse("@x.se").is_err());
        assert!(EmailAddress::parse("a@b@x.se").is_err());
    }

    #[test]
    fn phone_numbers_are_digits_with_optional_plus_and_separators() {
        assert!(PhoneNumber::parse("+46 23 49 00 00").is_ok());
        assert!(PhoneNumber::parse("023-490000").is_ok());
        assert!(PhoneNumber::parse("call me").is_err());
        assert!(PhoneNumber::parse("123").is_err());
    }

    #[test]
    fn contact_details_do_not_print_personal_data_in_debug() {
        let email = EmailAddress::parse("anna@vardcentral.se").unwrap();
        assert!(!format!("{email:?}").contains("anna"));
    }
}
