//! HSA-id: the identity of a person, unit or system in the national HSA catalogue.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{IdentifierKind, IdentityError, OrgNumber, deserialize_parsed};

const KIND: IdentifierKind = IdentifierKind::HsaId;

/// The longest HSA-id, in characters.
const MAX_HSA_ID_LEN: usize = 31;

/// An HSA-id, e.g. `SE2321000180-ABC1`: the country code `SE`, the ten-digit
/// organisationsnummer of the issuing organisation (a valid [`OrgNumber`]), a dash, and a
/// local part of ASCII letters and digits; at most 31 characters in all.
///
/// Lowercase input is accepted; the canonical form, kept and written, is uppercase.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let trimmed = raw.trim();
        if !trimmed.is_ascii() {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: "only ASCII letters, digits and one dash",
            });
        }
        if trimmed.len() > MAX_HSA_ID_LEN {
            return Err(IdentityError::WrongLength {
                kind: KIND,
                expected: "at most 31 characters",
                found: trimmed.len(),
            });
        }
        let id = trimmed.to_ascii_uppercase();
        let bytes = id.as_bytes();
        let malformed = |reason| Err(IdentityError::Malformed { kind: KIND, reason });
        if !id.starts_with("SE") {
            return malformed("begins with the country code SE");
        }
        if !bytes
            .get(2..12)
            .is_some_and(|org| org.iter().all(u8::is_ascii_digit))
        {
            return malformed("SE is followed by the ten digits of an organisationsnummer");
        }
        if bytes.get(12) != Some(&b'-') {
            return malformed("a dash follows the organisationsnummer");
        }
        let local = &bytes[13..];
        if local.is_empty() {
            return malformed("the local part after the dash is empty");
        }
        if !local.iter().all(u8::is_ascii_alphanumeric) {
            return malformed("the local part has only ASCII letters and digits");
        }
        OrgNumber::parse(&id[2..12]).map_err(|e| IdentityError::InvalidIssuer(Box::new(e)))?;
        Ok(Self(id))
    }

    /// The canonical (uppercase) form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organisation that issued this id.
    pub fn issuer(&self) -> OrgNumber {
        OrgNumber::from_valid_digits(&self.0[2..12])
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HsaId({})", self.0)
    }
}

impl FromStr for HsaId {
    type Err = IdentityError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl Serialize for HsaId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HsaId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "an HSA-id string, e.g. SE2321000180-ABC1",
            Self::parse,
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::luhn;
    use super::*;

    fn with_check_digit(nine: &str) -> String {
        let check = char::from(luhn::check_digit(nine.as_bytes()));
        format!("{nine}{check}")
    }

    #[test]
    fn an_hsa_id_of_region_dalarna_parses() {
        let id = HsaId::parse("SE2321000180-ABC1").unwrap();
        assert_eq!(id.as_str(), "SE2321000180-ABC1");
        assert_eq!(id.to_string(), "SE2321000180-ABC1");
        assert_eq!(format!("{id:?}"), "HsaId(SE2321000180-ABC1)");
        assert_eq!(id.issuer(), OrgNumber::parse("232100-0180").unwrap());
    }

    #[test]
    fn lowercase_input_is_stored_uppercase() {
        let id = HsaId::parse(" se2321000180-abc1 ").unwrap();
        assert_eq!(id.as_str(), "SE2321000180-ABC1");
        assert_eq!(id, HsaId::parse("SE2321000180-ABC1").unwrap());
    }

    #[test]
    fn an_invalid_issuer_is_refused_with_the_issuers_error() {
        assert_eq!(
            HsaId::parse("SE2321000181-ABC1"),
            Err(IdentityError::InvalidIssuer(Box::new(
                IdentityError::CheckDigit {
                    kind: IdentifierKind::OrgNumber
                }
            )))
        );
        assert_eq!(
            HsaId::parse("SE1212121212-ABC1"),
            Err(IdentityError::InvalidIssuer(Box::new(
                IdentityError::PersonnummerAsOrgNumber
            )))
        );
    }

    #[test]
    fn malformed_hsa_ids_are_refused() {
        for raw in [
            "",
            "SE",
            "SE2321000180",
            "SE2321000180ABC1",
            "SE2321000180-",
            "SE232100-0180-ABC1",
            "SE232100018-ABC1",
            "SE162321000180-ABC1",
            "NO2321000180-ABC1",
            "2321000180-ABC1",
            "SE2321000180-ÅBC1",
            "SE2321000180-AB C1",
            "SE2321000180-AB-C1",
            "SE2321000180-ABC1_",
        ] {
            let error = HsaId::parse(raw).unwrap_err();
            assert!(
                matches!(error, IdentityError::Malformed { kind: KIND, .. }),
                "{raw}: {error}"
            );
        }
    }

    #[test]
    fn an_hsa_id_longer_than_31_characters_is_refused() {
        let longest = format!("SE2321000180-{}", "A".repeat(18));
        assert_eq!(longest.len(), 31);
        assert!(HsaId::parse(&longest).is_ok());
        assert_eq!(
            HsaId::parse(&format!("{longest}B")),
            Err(IdentityError::WrongLength {
                kind: KIND,
                expected: "at most 31 characters",
                found: 32,
            })
        );
    }

    #[test]
    fn serde_round_trips_the_canonical_string() {
        let id: HsaId = serde_json::from_str("\"se2321000180-abc1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"SE2321000180-ABC1\"");
        assert!(serde_json::from_str::<HsaId>("\"SE2321000180-\"").is_err());
    }

    proptest! {
        #[test]
        fn every_valid_hsa_id_round_trips(
            nine in "[0-9]{2}[2-9][0-9]{6}",
            local in "[A-Za-z0-9]{1,18}",
        ) {
            let org = with_check_digit(&nine);
            let raw = format!("SE{org}-{local}");
            let id = HsaId::parse(&raw).unwrap();
            let upper = raw.to_ascii_uppercase();
            prop_assert_eq!(id.as_str(), upper.as_str());
            prop_assert_eq!(HsaId::parse(&raw.to_ascii_lowercase()).unwrap(), id.clone());
            prop_assert_eq!(id.issuer(), OrgNumber::parse(&org).unwrap());
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(&json, &format!("\"{upper}\""));
            prop_assert_eq!(serde_json::from_str::<HsaId>(&json).unwrap(), id);
        }

        #[test]
        fn changing_the_issuers_check_digit_always_fails(
            nine in "[0-9]{2}[2-9][0-9]{6}",
            change in 1u8..10,
            local in "[A-Za-z0-9]{1,18}",
        ) {
            let check = with_check_digit(&nine).as_bytes()[9] - b'0';
            let raw = format!("SE{nine}{}-{local}", (check + change) % 10);
            prop_assert_eq!(
                HsaId::parse(&raw),
                Err(IdentityError::InvalidIssuer(Box::new(IdentityError::CheckDigit {
                    kind: IdentifierKind::OrgNumber,
                })))
            );
        }

        #[test]
        fn a_local_part_longer_than_18_characters_is_always_refused(
            nine in "[0-9]{2}[2-9][0-9]{6}",
            local in "[A-Za-z0-9]{19,40}",
        ) {
            let raw = format!("SE{}-{local}", with_check_digit(&nine));
            let refused = matches!(
                HsaId::parse(&raw),
                Err(IdentityError::WrongLength { kind: KIND, .. })
            );
            prop_assert!(refused);
        }
    }
}
