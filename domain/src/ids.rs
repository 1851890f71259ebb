//! Identifiers of the things the domain keeps: cases, incidents, regions, programmes,
//! requirements, findings. Each is a newtype that parses, so an id that exists is valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not a UUID: {0}")]
    NotUuid(String),
    #[error("not a valid {kind}: {reason}")]
    Invalid {
        kind: &'static str,
        reason: &'static str,
    },
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                Uuid::parse_str(raw)
                    .map(Self)
                    .map_err(|_| IdError::NotUuid(raw.chars().take(64).collect()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
    };
}

uuid_id!(
    /// The id of a connection case (anslutningsärende); also its stream id.
    CaseId
);
uuid_id!(
    /// The id of a security incident; also its stream id.
    IncidentId
);
uuid_id!(
    /// The data subject whose personal data a [`crate::Personal`] value holds; erasing the
    /// subject's key erases every such value.
    DataSubjectId
);

fn parse_slug(raw: &str, kind: &'static str) -> Result<String, IdError> {
    let invalid = |reason| IdError::Invalid { kind, reason };
    if raw.is_empty() || raw.len() > 64 {
        return Err(invalid("must be 1 to 64 characters"));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "only lowercase letters a-z, digits and '-' are allowed",
        ));
    }
    if raw.starts_with('-') || raw.ends_with('-') || raw.contains("--") {
        return Err(invalid("'-' only between words"));
    }
    Ok(raw.to_owned())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                parse_slug(raw, $kind).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_id!(
    /// A region, the tenant of everything it holds: `dalarna`, `jamtland-harjedalen`,
    /// `varmland`.
    RegionId,
    "region id"
);
slug_id!(
    /// A region's programme for publicly funded care (Vårdval, Hälsoval), e.g. `dalarna-bup`,
    /// `jamtland-halsoval`, `varmland-vardcentral`.
    ProgrammeId,
    "programme id"
);
slug_id!(
    /// A service package a programme offers (tjänstepaket), e.g. `vardutbud-bas`.
    ServicePackageId,
    "service package id"
);

/// The stable id of one requirement in a catalogue, e.g. `DBUP-014`; kept across catalogue
/// versions so that versions can be compared.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequirementId(String);

impl RequirementId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let invalid = |reason| IdError::Invalid {
            kind: "requirement id",
            reason,
        };
        if raw.is_empty() || raw.len() > 32 {
            return Err(invalid("must be 1 to 32 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(invalid(
                "only uppercase letters A-Z, digits, '-' and '.' are allowed",
            ));
        }
        if !raw.as_bytes()[0].is_ascii_uppercase() {
            return Err(invalid("must start with a letter"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequirementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequirementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequirementId({})", self.0)
    }
}

impl FromStr for RequirementId {
    type Err = IdError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl<'de> Deserialize<'de> for RequirementId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

macro_rules! number_in_case {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
        #[serde(transparent)]
        pub struct $name(u32);

        impl $name {
            pub const fn new(n: u32) -> Self {
                Self(n)
            }

            pub const fn get(self) -> u32 {
                self.0
            }

            /// The number after this one.
            #[must_use]
            pub const fn next(self) -> Self {
                Self(self.0 + 1)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

number_in_case!(
    /// A finding's number within its case, assigned in order from 1.
    FindingNo
);
number_in_case!(
    /// A request for a non-standard service, numbered within its case from 1.
    ServiceRequestNo
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_parse_only_lowercase_words_joined_by_dashes() {
        assert!(RegionId::parse("jamtland-harjedalen").is_ok());
        assert!(RegionId::parse("Dalarna").is_err());
        assert!(RegionId::parse("-dalarna").is_err());
        assert!(RegionId::parse("dal--arna").is_err());
        assert!(RegionId::parse("").is_err());
        assert!(RegionId::parse("jämtland").is_err());
    }

    #[test]
    fn requirement_ids_are_uppercase_codes() {
        assert!(RequirementId::parse("DBUP-014").is_ok());
        assert!(RequirementId::parse("VRM-3.2-A").is_ok());
        assert!(RequirementId::parse("dbup-1").is_err());
        assert!(RequirementId::parse("1-A").is_err());
    }

    #[test]
    fn uuid_ids_round_trip_through_their_text() {
        let id = CaseId::from_uuid(Uuid::nil());
        assert_eq!(CaseId::parse(&id.to_string()).unwrap(), id);
        assert!(CaseId::parse("not-a-uuid").is_err());
    }
}
