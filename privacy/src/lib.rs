//! Crypto-shredding of personal data in Anslut's event log.
//!
//! Events are immutable and hash-chained, so personal data in them cannot be deleted; it can
//! be made unreadable. Every personal value in an event (`domain::personal::Personal`: a
//! personnummer, a name, an e-mail address, a phone number) is sealed by the store's payload
//! codec, [`SubjectCodec`], with a key that belongs to its data subject alone, before the
//! store canonicalises and hashes the event. Destroying that key ([`SubjectKeys::forget`])
//! erases the subject's data from every event at once, while every hash, chain link and
//! Merkle proof stays valid, because they cover the ciphertext.
//!
//! Key hierarchy:
//! * the key-encryption key ([`KeyEncryptionKey`]), 32 bytes from the server's
//!   configuration, never in the database;
//! * one data key per data subject, 32 random bytes, stored only wrapped with the KEK in
//!   the `subject_keys` table beside the store's tables (the crate's own migration). A data
//!   subject is a person in one region (each region is its own controller), so a region's
//!   erasure never reaches another's records; `index.rs` finds subjects without scanning the
//!   log.
//!
//! Keys are cached in memory for [`KeyOptions::cache_ttl`] (10 s by default): a forget
//! evicts this process's entry at once; another instance may open the forgotten subject's
//! data for at most that long afterwards.

mod codec;
mod crypto;
mod error;
mod index;
mod keys;

pub use codec::{SEALED_KEY, SubjectCodec, subjects_in};
pub use crypto::{KEY_BYTES, KeyEncryptionKey};
pub use error::PrivacyError;
pub use keys::{KeyOptions, SubjectKeys};
