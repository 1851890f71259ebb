//! The canonical bytes of an event and the per-stream hash chain.
//!
//! Every stored event carries `hash = SHA-256(prev_hash || canonical_bytes(event))`, where
//! `prev_hash` is the `hash` of the previous event of the same stream (32 zero bytes for a
//! stream's first event). Anyone holding a copy of the `events` table can recompute the chain
//! with nothing but this description; [`crate::EventStore::verify`] does exactly that.
//!
//! # Canonical JSON
//!
//! A JSON value is encoded as UTF-8 without any insignificant whitespace:
//!
//! * `null`, `true`, `false` as themselves.
//! * Numbers must be integers in the range of a signed or unsigned 64-bit integer and are
//!   written in decimal: an optional `-`, then the digits, no leading zeros, no `+`, no
//!   fraction, no exponent. Any other number (a fraction, an exponent, anything outside that
//!   range) is refused when the event is appended. This keeps the encoding exactly
//!   specified: floating-point formatting differs between libraries and versions, and a hash
//!   chain must still verify after every library is replaced. Decimals belong in strings
//!   (money is integer öre anyway).
//! * Strings are written between `"` with exactly these escapes: `"` as `\"`, `\` as `\\`,
//!   U+0008 as `\b`, U+000C as `\f`, U+000A as `\n`, U+000D as `\r`, U+0009 as `\t`, any other
//!   character below U+0020 as `\u00xx` with lowercase hexadecimal digits. Every other
//!   character, including `/`, U+007F and all non-ASCII characters, is written as its UTF-8
//!   bytes.
//! * Arrays as `[`, the elements separated by `,`, `]`.
//! * Objects as `{`, the members `"key":value` separated by `,`, `}`, with the members sorted
//!   by the UTF-8 bytes of their keys (bytewise, which is Unicode code point order). Keys are
//!   encoded like strings. This is deliberately done here and not left to the order of a map
//!   type: `serde_json` keeps insertion order when any crate in the build enables its
//!   `preserve_order` feature.
//!
//! This is close to, but not the same as, RFC 8785 (which sorts keys by UTF-16 code units and
//! formats numbers as IEEE doubles).
//!
//! # The event object
//!
//! `canonical_bytes(event)` is the canonical JSON of this object (shown with its keys in
//! canonical order):
//!
//! ```text
//! {
//!   "event_id":      the event id, lowercase hyphenated UUID string,
//!   "event_type":    string,
//!   "event_version": string,
//!   "metadata": {
//!     "actor":          null, or {"provider_org": null or string, "region": string,
//!                                 "role": string, "subject": string},
//!     "causation_id":   null, or lowercase hyphenated UUID string,
//!     "command_id":     lowercase hyphenated UUID string,
//!     "correlation_id": lowercase hyphenated UUID string,
//!     "extra":          object of string values (metadata keys the store does not model)
//!   },
//!   "payload":       the payload as stored (after the payload codec), any JSON value,
//!   "position":      integer, the global position,
//!   "recorded_at":   string, UTC in RFC 3339 with exactly six fraction digits and "Z",
//!                    e.g. "2026-01-31T12:00:00.000000Z",
//!   "stream_id":     string,
//!   "stream_type":   string,
//!   "version":       integer, the 1-based version within the stream
//! }
//! ```
//!
//! The hash is over the payload as stored, so a payload codec that encrypts personal data
//! hashes the ciphertext: erasing a key later (crypto-shredding) leaves the chain intact.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A SHA-256 digest in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The `prev_hash` of a stream's first event.
    pub const ZERO: Self = Self([0; 32]);

    /// Reads a hash from the 32 bytes stored in the database.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The chain step: `SHA-256(prev || canonical)`.
    pub fn chain(prev: &Self, canonical: &[u8]) -> Self {
        let mut digest = Sha256::new();
        digest.update(prev.0);
        digest.update(canonical);
        Self(digest.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for EventHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

impl std::fmt::Display for EventHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a value has no canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} has no canonical encoding: JSON numbers in events must be 64-bit integers")]
pub struct NotCanonical(pub String);

/// Writes the canonical JSON encoding of `value` (see the module docs).
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(NotCanonical(format!("the number {n}")));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The canonical JSON encoding of `value` as a string.
pub fn to_canonical_string(value: &Value) -> Result<String, NotCanonical> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    // Only UTF-8 strings and ASCII punctuation were written.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if escape.is_empty() {
            let mut hex = String::with_capacity(6);
            write!(hex, "\\u{byte:04x}").expect("writing to a String cannot fail");
            out.extend_from_slice(hex.as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

/// `recorded_at` as it appears in the canonical bytes: RFC 3339, UTC, six fraction digits, `Z`.
pub fn format_recorded_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The fields of an event that the hash covers, with payload and metadata already in their
/// canonical encoding (computed once when the append is prepared, outside the writer's lock).
pub struct EventFields<'a> {
    pub position: u64,
    pub stream_type: &'a str,
    pub stream_id: &'a str,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub canonical_metadata: &'a str,
    pub canonical_payload: &'a str,
    pub recorded_at: &'a DateTime<Utc>,
}

/// The canonical bytes of an event (see the module docs). Written member by member in
/// canonical key order; a test checks it against [`write_canonical`] of the same object.
pub fn event_bytes(fields: &EventFields<'_>) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(fields.canonical_payload.len() + fields.canonical_metadata.len() + 320);
    out.extend_from_slice(b"{\"event_id\":");
    write_string(&fields.event_id.hyphenated().to_string(), &mut out);
    out.extend_from_slice(b",\"event_type\":");
    write_string(fields.event_type, &mut out);
    out.extend_from_slice(b",\"event_version\":");
    write_string(fields.event_version, &mut out);
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(fields.canonical_metadata.as_bytes());
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(fields.canonical_payload.as_bytes());
    out.extend_from_slice(b",\"position\":");
    out.extend_from_slice(fields.position.to_string().as_bytes());
    out.extend_from_slice(b",\"recorded_at\":");
    write_string(&format_recorded_at(fields.recorded_at), &mut out);
    out.extend_from_slice(b",\"stream_id\":");
    write_string(fields.stream_id, &mut out);
    out.extend_from_slice(b",\"stream_type\":");
    write_string(fields.stream_type, &mut out);
    out.extend_from_slice(b",\"version\":");
    out.extend_from_slice(fields.version.to_string().as_bytes());
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn canonical(value: &Value) -> String {
        to_canonical_string(value).unwrap()
    }

    #[test]
    fn object_keys_are_sorted_bytewise_whatever_the_insertion_order() {
        let mut map = serde_json::Map::new();
        map.insert("b".into(), json!(1));
        map.insert("a".into(), json!({"z": 1, "y": [true, null]}));
        map.insert("é".into(), json!(2));
        map.insert("Z".into(), json!(3));
        assert_eq!(
            canonical(&Value::Object(map)),
            r#"{"Z":3,"a":{"y":[true,null],"z":1},"b":1,"é":2}"#
        );
    }

    #[test]
    fn strings_use_exactly_the_documented_escapes() {
        let s = "q\"b\\s/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}åäö😀";
        assert_eq!(
            canonical(&json!(s)),
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}åäö😀\""
        );
    }

    #[test]
    fn canonical_strings_parse_back_to_the_same_value() {
        let value = json!({"s": "q\"\\\u{1}\u{1f}\nå😀", "n": [i64::MIN, u64::MAX, 0, -1]});
        let text = canonical(&value);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert_eq!(canonical(&back), text);
    }

    #[test]
    fn integers_are_plain_decimals_and_other_numbers_are_refused() {
        assert_eq!(
            canonical(&json!([0, -7, i64::MIN, u64::MAX])),
            "[0,-7,-9223372036854775808,18446744073709551615]"
        );
        assert!(to_canonical_string(&json!({"x": 1.5})).is_err());
        assert!(to_canonical_string(&json!(1.0)).is_err());
        let big: Value = serde_json::from_str("18446744073709551616").unwrap();
        assert!(to_canonical_string(&big).is_err());
    }

    #[test]
    fn recorded_at_has_six_fraction_digits_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(format_recorded_at(&at), "2026-01-31T12:00:00.000000Z");
    }

    #[test]
    fn event_bytes_equal_the_canonical_encoding_of_the_documented_object() {
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        let metadata = json!({
            "actor": {"provider_org": null, "region": "dalarna", "role": "officer", "subject": "x"},
            "causation_id": null,
            "command_id": "0190a0b0-0000-7000-8000-000000000001",
            "correlation_id": "0190a0b0-0000-7000-8000-000000000001",
            "extra": {"k": "v"}
        });
        let payload = json!({"name": "Vårdcentral \"Norr\"", "n": 3});
        let event_id = Uuid::parse_str("0190a0b0-0000-7000-8000-0000000000ff").unwrap();
        let bytes = event_bytes(&EventFields {
            position: 42,
            stream_type: "ConnectionCase",
            stream_id: "case-1",
            version: 3,
            event_id,
            event_type: "ApplicationSubmitted",
            event_version: "1",
            canonical_metadata: &canonical(&metadata),
            canonical_payload: &canonical(&payload),
            recorded_at: &at,
        });
        let object = json!({
            "version": 3,
            "stream_type": "ConnectionCase",
            "stream_id": "case-1",
            "recorded_at": "2026-01-31T12:00:00.123456Z",
            "position": 42,
            "payload": payload,
            "metadata": metadata,
            "event_version": "1",
            "event_type": "ApplicationSubmitted",
            "event_id": "0190a0b0-0000-7000-8000-0000000000ff"
        });
        assert_eq!(String::from_utf8(bytes).unwrap(), canonical(&object));
    }

    #[test]
    fn the_chain_hashes_the_previous_hash_then_the_bytes() {
        let first = EventHash::chain(&EventHash::ZERO, b"{}");
        let mut digest = Sha256::new();
        digest.update([0u8; 32]);
        digest.update(b"{}");
        assert_eq!(first.0, <[u8; 32]>::from(digest.finalize()));
        assert_ne!(EventHash::chain(&first, b"{}"), first);
    }
}
