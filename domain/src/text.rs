//! Bounded, non-empty free text: names, reasons, descriptions. Parsed once at the edge.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, was {actual}")]
    TooLong { max: usize, actual: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

fn parse_bounded(raw: &str, max: usize, allow_newlines: bool) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    let actual = trimmed.chars().count();
    if actual > max {
        return Err(TextError::TooLong { max, actual });
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $max:expr, $newlines:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted text, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Parses text: trimmed, non-empty, at most `MAX_CHARS` characters.
            pub fn parse(raw: &str) -> Result<Self, TextError> {
                parse_bounded(raw, $max, $newlines).map(Self)
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
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = TextError;
            fn try_from(raw: &str) -> Result<Self, Self::Error> {
                Self::parse(raw)
            }
        }
    };
}

bounded_text!(
    /// A short single-line text: a name, a title, a label (at most 200 characters).
    ShortText,
    200,
    false
);

bounded_text!(
    /// A longer text that may span lines: a description, a reason, a resolution
    /// (at most 4,000 characters).
    LongText,
    4000,
    true
);

/// The reason given for a decision. Every decision event carries one.
pub type Reason = LongText;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_must_not_be_empty() {
        assert_eq!(
            ShortText::parse("  Vårdcentral  ").unwrap().as_str(),
            "Vårdcentral"
        );
        assert_eq!(ShortText::parse("   "), Err(TextError::Empty));
    }

    #[test]
    fn text_longer_than_the_bound_is_refused() {
        let long = "x".repeat(201);
        assert_eq!(
            ShortText::parse(&long),
            Err(TextError::TooLong {
                max: 200,
                actual: 201
            })
        );
    }

    #[test]
    fn short_text_refuses_newlines_and_long_text_keeps_them() {
        assert_eq!(ShortText::parse("a\nb"), Err(TextError::ControlCharacter));
        assert!(LongText::parse("a\nb").is_ok());
        assert_eq!(LongText::parse("a\u{0}b"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn deserialising_parses() {
        assert!(serde_json::from_str::<ShortText>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<ShortText>("\" x \"")
                .unwrap()
                .as_str(),
            "x"
        );
    }
}
