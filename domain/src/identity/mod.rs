//! Swedish identifiers: organisationsnummer, personnummer (and samordningsnummer), HSA-id.
//!
//! Each is a newtype with a private field and a `parse` constructor, so a value that exists
//! is valid. Parsers trim surrounding whitespace and accept nothing else around the number.
//!
//! A personnummer is personal data: [`Personnummer`]'s `Debug` and `Display` mask its last
//! four digits, and no [`IdentityError`] ever contains more of a refused input than its birth
//! date. Errors about the other identifiers do not echo the input either, because an
//! "organisationsnummer" may turn out to be a personnummer.

mod hsa_id;
mod luhn;
mod org_number;
mod personnummer;

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserializer, de};

pub use hsa_id::HsaId;
pub use org_number::OrgNumber;
pub use personnummer::Personnummer;

/// Which kind of identifier an [`IdentityError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    OrgNumber,
    /// A personnummer or a samordningsnummer.
    Personnummer,
    HsaId,
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OrgNumber => "organisationsnummer",
            Self::Personnummer => "personnummer",
            Self::HsaId => "HSA-id",
        })
    }
}

/// Why a Swedish identifier was refused.
///
/// No variant carries the refused input; [`IdentityError::ImpossibleDate`] and
/// [`IdentityError::FutureBirthDate`] carry a personnummer's birth date, never its last four
/// digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Too few or too many digits (or, for an HSA-id, characters).
    #[error("{kind} has the wrong length: expected {expected}, found {found}")]
    WrongLength {
        kind: IdentifierKind,
        expected: &'static str,
        found: usize,
    },
    /// Characters or separators where they do not belong.
    #[error("{kind} is malformed: {reason}")]
    Malformed {
        kind: IdentifierKind,
        reason: &'static str,
    },
    /// The last digit is not the Luhn check digit of the others.
    #[error("{kind} has a wrong check digit")]
    CheckDigit { kind: IdentifierKind },
    /// A personnummer whose birth date does not exist (after removing a samordningsnummer's
    /// 60 from the day). `date` is the birth date as written, YYYYMMDD, with the century
    /// that was given or implied.
    #[error("personnummer has an impossible birth date: {date}")]
    ImpossibleDate { date: String },
    /// A twelve-digit personnummer whose birth date is after the reference date.
    #[error("personnummer has a birth date in the future: {birth_date}")]
    FutureBirthDate { birth_date: NaiveDate },
    /// A ten-digit number whose third digit is 0 or 1: a personnummer (perhaps a sole
    /// trader's), which is refused as an organisation number.
    #[error(
        "organisationsnummer has a third digit below 2: that is a personnummer, \
         which is not accepted as an organisation number"
    )]
    PersonnummerAsOrgNumber,
    /// An HSA-id whose issuing organisation's number is invalid.
    #[error("HSA-id has an invalid issuer: {0}")]
    InvalidIssuer(Box<IdentityError>),
}

impl IdentityError {
    /// A stable, machine-readable code for this error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "identity.wrong_length",
            Self::Malformed { .. } => "identity.malformed",
            Self::CheckDigit { .. } => "identity.check_digit",
            Self::ImpossibleDate { .. } => "identity.impossible_date",
            Self::FutureBirthDate { .. } => "identity.future_birth_date",
            Self::PersonnummerAsOrgNumber => "identity.personnummer_as_org_number",
            Self::InvalidIssuer(_) => "identity.invalid_issuer",
        }
    }
}

/// Splits `s` into its ASCII digits and the separator before the last four digits, if one
/// of `separators` stands there. Anything else that is not a digit is refused.
fn digits_and_separator(
    s: &str,
    kind: IdentifierKind,
    separators: &[u8],
    reason: &'static str,
) -> Result<(Vec<u8>, Option<u8>), IdentityError> {
    let bytes = s.as_bytes();
    let (digits, separator) = match bytes.len().checked_sub(5) {
        Some(at) if separators.contains(&bytes[at]) => {
            ([&bytes[..at], &bytes[at + 1..]].concat(), Some(bytes[at]))
        }
        _ => (bytes.to_vec(), None),
    };
    if digits.iter().all(u8::is_ascii_digit) {
        Ok((digits, separator))
    } else {
        Err(IdentityError::Malformed { kind, reason })
    }
}

/// The number written by ASCII digits (at most four of them).
fn number(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0, |acc, digit| acc * 10 + u16::from(digit - b'0'))
}

/// Deserialises an identifier from a string through `parse`.
///
/// Self-describing formats (JSON, TOML) are asked for any value rather than a string, so
/// that a number given where the string belongs reaches [`ParseVisitor`], whose error does
/// not echo it (serde_json's own "invalid type" error would print the whole personnummer).
fn deserialize_parsed<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, IdentityError>,
) -> Result<T, D::Error> {
    let visitor = ParseVisitor { expecting, parse };
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(visitor)
    } else {
        deserializer.deserialize_str(visitor)
    }
}

/// Parses an identifier from a string. Unlike serde's default messages, its errors never
/// echo a number that was given where a string belongs.
struct ParseVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, IdentityError>,
}

impl<T> ParseVisitor<T> {
    fn refuse<E: de::Error>(&self, what: &'static str) -> Result<T, E> {
        Err(E::invalid_type(de::Unexpected::Other(what), self))
    }
}

impl<T> de::Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        self.refuse("an integer")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        self.refuse("an integer")
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<T, E> {
        self.refuse("an integer")
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<T, E> {
        self.refuse("an integer")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        self.refuse("a floating-point number")
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<T, E> {
        self.refuse("a byte string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_stable_code() {
        let errors = [
            IdentityError::WrongLength {
                kind: IdentifierKind::OrgNumber,
                expected: "10 digits",
                found: 9,
            },
            IdentityError::Malformed {
                kind: IdentifierKind::HsaId,
                reason: "r",
            },
            IdentityError::CheckDigit {
                kind: IdentifierKind::Personnummer,
            },
            IdentityError::ImpossibleDate {
                date: "19000229".into(),
            },
            IdentityError::FutureBirthDate {
                birth_date: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            },
            IdentityError::PersonnummerAsOrgNumber,
            IdentityError::InvalidIssuer(Box::new(IdentityError::PersonnummerAsOrgNumber)),
        ];
        let mut codes: Vec<_> = errors.iter().map(IdentityError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(codes.iter().all(|code| code.starts_with("identity.")));
    }

    #[test]
    fn a_separator_is_only_recognised_before_the_last_four_digits() {
        let kind = IdentifierKind::Personnummer;
        assert_eq!(
            digits_and_separator("121212-1212", kind, b"-+", "r"),
            Ok((b"1212121212".to_vec(), Some(b'-')))
        );
        assert_eq!(
            digits_and_separator("1212121212", kind, b"-+", "r"),
            Ok((b"1212121212".to_vec(), None))
        );
        assert!(digits_and_separator("12121-21212", kind, b"-+", "r").is_err());
        assert!(digits_and_separator("121212+1212", kind, b"-", "r").is_err());
        assert!(digits_and_separator("", kind, b"-", "r").is_ok_and(|(d, _)| d.is_empty()));
    }
}
