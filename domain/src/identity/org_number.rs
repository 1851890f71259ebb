//! Organisationsnummer: the ten-digit number of a Swedish legal person.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{IdentifierKind, IdentityError, deserialize_parsed, digits_and_separator, luhn};

const KIND: IdentifierKind = IdentifierKind::OrgNumber;

/// The organisationsnummer of a legal person (a company, association, authority or region),
/// e.g. Region Dalarna's `232100-0180`.
///
/// [`OrgNumber::parse`] accepts `NNNNNN-NNNN`, `NNNNNNNNNN`, and the twelve-digit form with
/// the prefix `16` (`16NNNNNNNNNN` or `16NNNNNN-NNNN`). The tenth digit is the Luhn check
/// digit of the first nine, and the third digit is at least 2.
///
/// That third-digit rule is what tells a legal person's number from a personnummer, whose
/// third digit is the first digit of a month (0 or 1). A sole trader (enskild
/// näringsidkare) has no number of their own: their "organisationsnummer" is their
/// personnummer. We refuse it here ([`IdentityError::PersonnummerAsOrgNumber`]) so that
/// personal data never lands in tenancy fields, tokens and logs, where organisation numbers
/// travel freely.
///
/// `Display` and `Serialize` give `NNNNNN-NNNN`; `Deserialize` parses.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgNumber(String);

impl OrgNumber {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let (digits, _) = digits_and_separator(
            raw.trim(),
            KIND,
            b"-",
            "only digits, with at most a dash before the last four",
        )?;
        let ten = match digits.len() {
            10 => &digits[..],
            12 if digits.starts_with(b"16") => &digits[2..],
            12 => {
                return Err(IdentityError::Malformed {
                    kind: KIND,
                    reason: "the twelve-digit form begins with 16",
                });
            }
            found => {
                return Err(IdentityError::WrongLength {
                    kind: KIND,
                    expected: "10 digits, or 12 beginning with 16",
                    found,
                });
            }
        };
        if !luhn::is_valid(ten) {
            return Err(IdentityError::CheckDigit { kind: KIND });
        }
        if ten[2] < b'2' {
            return Err(IdentityError::PersonnummerAsOrgNumber);
        }
        Ok(Self(ten.iter().copied().map(char::from).collect()))
    }

    /// The ten digits, without dash or prefix.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// An organisation number from ten digits already known to be a valid one.
    pub(super) fn from_valid_digits(digits: &str) -> Self {
        debug_assert!(Self::parse(digits).is_ok_and(|org| org.0 == digits));
        Self(digits.to_owned())
    }
}

impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..6], &self.0[6..])
    }
}

impl fmt::Debug for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgNumber({self})")
    }
}

impl FromStr for OrgNumber {
    type Err = IdentityError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl Serialize for OrgNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrgNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "an organisationsnummer string, NNNNNN-NNNN",
            Self::parse,
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn with_check_digit(nine: &str) -> String {
        let check = char::from(luhn::check_digit(nine.as_bytes()));
        format!("{nine}{check}")
    }

    #[test]
    fn region_dalarna_parses_in_every_accepted_form() {
        for raw in [
            "232100-0180",
            "2321000180",
            "162321000180",
            "16232100-0180",
            "  232100-0180\n",
        ] {
            let org = OrgNumber::parse(raw).unwrap();
            assert_eq!(org.digits(), "2321000180", "{raw}");
            assert_eq!(org.to_string(), "232100-0180");
            assert_eq!(format!("{org:?}"), "OrgNumber(232100-0180)");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_refused() {
        assert_eq!(
            OrgNumber::parse("232100-0181"),
            Err(IdentityError::CheckDigit { kind: KIND })
        );
    }

    #[test]
    fn a_personnummer_is_refused_as_an_organisation_number() {
        for raw in ["121212-1212", "811218-9876", "5705749959", "16121212-1212"] {
            assert_eq!(
                OrgNumber::parse(raw),
                Err(IdentityError::PersonnummerAsOrgNumber),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_refusal_of_a_personnummer_does_not_repeat_it() {
        let error = OrgNumber::parse("811218-9876").unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("9876") && !text.contains("811218"), "{text}");
        }
    }

    #[test]
    fn wrong_lengths_separators_and_prefixes_are_refused() {
        for raw in [
            "",
            "232100-018",
            "23210001800",
            "2321-000180",
            "232100 0180",
            "232100+0180",
            "192321000180",
            "1623210-00180",
            "23210O-0180",
            "２３２１００-０１８０",
        ] {
            assert!(OrgNumber::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(
            OrgNumber::parse("192321000180"),
            Err(IdentityError::Malformed {
                kind: KIND,
                reason: "the twelve-digit form begins with 16",
            })
        );
        assert!(matches!(
            OrgNumber::parse("23210-0180"),
            Err(IdentityError::WrongLength { found: 9, .. })
        ));
    }

    #[test]
    fn serde_writes_the_dashed_form_and_reads_any_accepted_form() {
        let org = OrgNumber::parse("2321000180").unwrap();
        assert_eq!(serde_json::to_string(&org).unwrap(), "\"232100-0180\"");
        let back: OrgNumber = serde_json::from_str("\"162321000180\"").unwrap();
        assert_eq!(back, org);
        assert!(serde_json::from_str::<OrgNumber>("\"232100-0181\"").is_err());
        let error = serde_json::from_str::<OrgNumber>("2321000180").unwrap_err();
        assert!(!error.to_string().contains("2321000180"), "{error}");
    }

    proptest! {
        #[test]
        fn every_valid_organisation_number_round_trips_in_every_form(
            nine in "[0-9]{2}[2-9][0-9]{6}",
        ) {
            let ten = with_check_digit(&nine);
            let dashed = format!("{}-{}", &ten[..6], &ten[6..]);
            for raw in [
                ten.clone(),
                dashed.clone(),
                format!("16{ten}"),
                format!("16{dashed}"),
            ] {
                let org = OrgNumber::parse(&raw).unwrap();
                prop_assert_eq!(org.digits(), ten.as_str());
                prop_assert_eq!(org.to_string(), dashed.clone());
                let json = serde_json::to_string(&org).unwrap();
                prop_assert_eq!(&json, &format!("\"{dashed}\""));
                prop_assert_eq!(serde_json::from_str::<OrgNumber>(&json).unwrap(), org);
            }
        }

        #[test]
        fn changing_the_check_digit_always_fails(
            nine in "[0-9]{2}[2-9][0-9]{6}",
            change in 1u8..10,
        ) {
            let ten = with_check_digit(&nine);
            let check = ten.as_bytes()[9] - b'0';
            let wrong = format!("{nine}{}", (check + change) % 10);
            prop_assert_eq!(
                OrgNumber::parse(&wrong),
                Err(IdentityError::CheckDigit { kind: KIND })
            );
        }

        #[test]
        fn a_third_digit_below_two_is_always_refused(nine in "[0-9]{2}[01][0-9]{6}") {
            prop_assert_eq!(
                OrgNumber::parse(&with_check_digit(&nine)),
                Err(IdentityError::PersonnummerAsOrgNumber)
            );
        }
    }
}
