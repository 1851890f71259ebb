//! Swedish identifiers: organisationsnummer, personnummer (and samordningsnummer), HSA-id.
//! PLACEHOLDER: the real parsers replace this file.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid {kind}: {reason}")]
    Invalid {
        kind: &'static str,
        reason: &'static str,
    },
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgNumber(String);

impl OrgNumber {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 10 {
            Ok(Self(digits))
        } else {
            Err(IdentityError::Invalid {
                kind: "organisationsnummer",
                reason: "ten digits",
            })
        }
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
impl Serialize for OrgNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for OrgNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Personnummer(String);

impl Personnummer {
    pub fn parse(raw: &str, _today: NaiveDate) -> Result<Self, IdentityError> {
        Self::parse_canonical(raw)
    }
    pub fn parse_canonical(raw: &str) -> Result<Self, IdentityError> {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 12 {
            Ok(Self(digits))
        } else {
            Err(IdentityError::Invalid {
                kind: "personnummer",
                reason: "twelve digits",
            })
        }
    }
    pub fn canonical(&self) -> String {
        self.0.clone()
    }
}
impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-****", &self.0[..8])
    }
}
impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({self})")
    }
}
impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse_canonical(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        if raw.starts_with("SE") && raw.contains('-') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdentityError::Invalid {
                kind: "HSA-id",
                reason: "SE, organisation number, dash, local part",
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
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
impl<'de> Deserialize<'de> for HsaId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
