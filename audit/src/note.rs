//! Signed checkpoints: the C2SP signed-note format (c2sp.org/signed-note) with an Ed25519
//! key, over a C2SP transparency-log checkpoint body (c2sp.org/tlog-checkpoint).
//!
//! Why this format: it is what the transparency-log ecosystem (Go's sumdb, Sigsum, the
//! witness network) reads and writes, it is plain text a person can look at, and an outside
//! verifier needs only SHA-256, base64 and Ed25519. A checkpoint
//!
//! ```text
//! anslut.example/dalarna-prod
//! 1000000
//! 9ZrpUdPbVYzx5aNdd/vI2xSBlfyFrEvxoGlunVC2tzQ=
//!
//! — anslut.example/dalarna-prod BZl5Yd2Qh1cN…(base64 of 4 + 64 bytes)
//! ```
//!
//! is the *text* (origin line, tree size in decimal without leading zeros, base64 of the
//! root hash, each ending in a newline), a blank line, and one signature line per key:
//! U+2014 EM DASH, a space, the key name, a space, and base64 of the 4-byte key id followed
//! by the 64-byte Ed25519 signature (RFC 8032) of the text. The key id is the first four bytes
//! of `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`. The key name is the origin.
//!
//! The public key is published as a verifier key (the `vkey` form of Go's
//! `golang.org/x/mod/sumdb/note`): `<name>+<key id as 8 lowercase hex digits>+<base64(0x01 ||
//! public key)>`.
//!
//! The signing key is a 32-byte Ed25519 seed in a file of its own (mode 0600). It never
//! appears in `Debug` output or logs; [`CheckpointSigner`] holds it.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::AuditError;
use crate::merkle::TreeHash;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// A signature line starts with U+2014 and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Checks a key name or origin: non-empty, no Unicode whitespace, no `+`, no control
/// characters (signed-note §Format; tlog-checkpoint recommends the same for origins).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        Err(format!(
            "{name:?} is not a key name: it must be non-empty, without spaces, '+' or control \
             characters"
        ))
    } else {
        Ok(())
    }
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[..4]`.
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut digest = Sha256::new();
    digest.update(name.as_bytes());
    digest.update([b'\n', ED25519]);
    digest.update(key.as_bytes());
    let hash: [u8; 32] = digest.finalize().into();
    [hash[0], hash[1], hash[2], hash[3]]
}

/// A public key that verifies checkpoints: name (the origin), key id, Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key for `name` and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, AuditError> {
        check_name(name).map_err(AuditError::Key)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|e| AuditError::Key(format!("not an Ed25519 public key: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// The key name: the origin of the checkpoints it verifies.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies a signed note and returns its text (everything up to and including the
    /// newline before the blank line), following c2sp.org/signed-note: signatures by other
    /// keys are ignored; a signature by this key (same name and key id) must verify; at least
    /// one must be present.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed(
                "a note may contain no control characters other than newline".into(),
            ));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        if signatures.is_empty() || !signatures.ends_with('\n') {
            return Err(NoteError::Malformed(
                "the signature lines must end with a newline".into(),
            ));
        }
        let mut verified = false;
        for line in signatures[..signatures.len() - 1].split('\n') {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or_else(|| NoteError::Malformed(format!("{line:?} is not a signature line")))?;
            let (name, encoded) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed(format!("{line:?} is not a signature line")))?;
            check_name(name).map_err(NoteError::Malformed)?;
            let bytes = BASE64
                .decode(encoded)
                .map_err(|e| NoteError::Malformed(format!("a signature is not base64: {e}")))?;
            if bytes.len() < 4 {
                return Err(NoteError::Malformed("a signature without a key id".into()));
            }
            if name != self.name || bytes[..4] != self.id {
                continue;
            }
            let signature = <[u8; 64]>::try_from(&bytes[4..])
                .map(|bytes| Signature::from_bytes(&bytes))
                .map_err(|_| NoteError::BadSignature)?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature)?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::NotSignedByKey(self.to_string()))
        }
    }

    /// Verifies a signed checkpoint and parses its text. The origin must be the key's name.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let checkpoint = Checkpoint::parse(self.open(note)?)?;
        if checkpoint.origin != self.name {
            return Err(NoteError::WrongOrigin {
                origin: checkpoint.origin,
                expected: self.name.clone(),
            });
        }
        Ok(checkpoint)
    }
}

impl fmt::Display for VerifierKey {
    /// The `vkey` text: `name+hex(key id)+base64(0x01 || public key)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut typed = Vec::with_capacity(33);
        typed.push(ED25519);
        typed.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            BASE64.encode(typed)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = AuditError;

    /// Parses the `vkey` text, checking that the key id matches the name and key.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| AuditError::Key(format!("{text:?} is not a verifier key: {why}"));
        // The name has no '+'; the base64 part may.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        let id = hex::decode(id)
            .ok()
            .and_then(|id| <[u8; 4]>::try_from(id).ok())
            .ok_or_else(|| bad("the key id is not 8 hex digits"))?;
        let typed = BASE64
            .decode(encoded)
            .map_err(|_| bad("the key is not base64"))?;
        let (&kind, public) = typed.split_first().ok_or_else(|| bad("the key is empty"))?;
        if kind != ED25519 {
            return Err(bad("only Ed25519 keys (type 0x01) are supported"));
        }
        let public = <[u8; 32]>::try_from(public).map_err(|_| bad("the key is not 32 bytes"))?;
        let key = Self::new(name, &public)?;
        if key.id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(key)
    }
}

/// The signing side: origin (= key name) and Ed25519 key. The key is zeroed when dropped and
/// never printed.
pub struct CheckpointSigner {
    verifier: VerifierKey,
    key: SigningKey,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A signer for checkpoints of `origin` (e.g. `anslut.example/dalarna-prod`) from a
    /// 32-byte Ed25519 seed.
    pub fn from_seed(origin: &str, seed: &[u8; 32]) -> Result<Self, AuditError> {
        let key = SigningKey::from_bytes(seed);
        let verifier = VerifierKey::new(origin, key.verifying_key().as_bytes())?;
        Ok(Self { verifier, key })
    }

    /// Reads the seed from a file that holds exactly 32 bytes (production: a configured
    /// path, e.g. a mounted secret).
    pub fn from_file(origin: &str, path: &Path) -> Result<Self, AuditError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            AuditError::Key(format!("reading the signing key {}: {e}", path.display()))
        })?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(<[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                AuditError::Key(format!(
                    "the signing key {} must hold exactly 32 bytes, not {}",
                    path.display(),
                    bytes.len()
                ))
            })?);
        keyfile::warn_if_readable_by_others(path, "the checkpoint signing key");
        Self::from_seed(origin, &seed)
    }

    /// Reads the seed file, or creates it with a fresh random seed (mode 0600, parent
    /// directories created) when it does not exist: for development, where the key lives in
    /// the data directory. Two processes racing to create it end up with the same key.
    pub fn load_or_generate(origin: &str, path: &Path) -> Result<Self, AuditError> {
        if !path.exists() {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut_slice())
                .map_err(|e| AuditError::Key(format!("no randomness for a new key: {e}")))?;
            // Two processes racing to create it both read the key that was published first.
            let created = keyfile::create_if_missing(path, seed.as_slice()).map_err(|e| {
                AuditError::Key(format!("creating the signing key {}: {e}", path.display()))
            })?;
            if created {
                tracing::info!(path = %path.display(), "generated a checkpoint signing key");
            }
        }
        Self::from_file(origin, path)
    }

    /// The public half, to publish at the well-known endpoint.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier
    }

    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// Signs `text` (which must end in a newline) as a signed note with one signature.
    pub fn sign_note(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'));
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.verifier.id);
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.verifier.name,
            BASE64.encode(blob)
        )
    }

    /// The signed note of a checkpoint of this origin.
    pub fn sign_checkpoint(&self, tree_size: u64, root: &TreeHash) -> String {
        self.sign_note(
            &Checkpoint {
                origin: self.origin().to_owned(),
                tree_size,
                root: *root,
            }
            .text(),
        )
    }
}

/// A checkpoint as stored: its size and root, the signed note as published, and when it was
/// taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    pub root: TreeHash,
    /// The signed note, byte for byte as published.
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// A checkpoint's text: origin, tree size and root (c2sp.org/tlog-checkpoint, no extension
/// lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root: TreeHash,
}

impl Checkpoint {
    /// `origin \n tree_size \n base64(root) \n`.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.tree_size, self.root)
    }

    /// Parses a checkpoint text. Extension lines are refused: Anslut never writes them.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("checkpoint: {why}"));
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(bad("expected exactly origin, tree size and root hash"));
        };
        check_name(origin).map_err(|e| bad(&e))?;
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let tree_size = size
            .parse()
            .ok()
            .filter(|_| canonical_size)
            .ok_or_else(|| bad("the tree size is not a decimal without leading zeros"))?;
        let root = TreeHash::from_base64(root)
            .ok_or_else(|| bad("the root hash is not base64 of 32 bytes"))?;
        Ok(Self {
            origin: origin.to_owned(),
            tree_size,
            root,
        })
    }
}

/// Why a signed note or checkpoint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("a signature by the key does not verify")]
    BadSignature,
    #[error("the note carries no signature by {0}")]
    NotSignedByKey(String),
    #[error("the checkpoint's origin {origin:?} is not the key's name {expected:?}")]
    WrongOrigin { origin: String, expected: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of golang.org/x/mod/sumdb/note: its signer key is
    /// `PRIVATE+KEY+PeterNeumann+c74f20a3+` followed by base64 of 0x01 and the seed.
    const GO_SKEY: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n\
                           \n\
                           \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signer() -> CheckpointSigner {
        let typed = BASE64.decode(GO_SKEY).unwrap();
        assert_eq!(typed[0], ED25519);
        CheckpointSigner::from_seed("PeterNeumann", &typed[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn signing_reproduces_the_go_sumdb_note_example_byte_for_byte() {
        let signer = go_signer();
        assert_eq!(signer.verifier_key().to_string(), GO_VKEY);
        assert_eq!(signer.sign_note(GO_TEXT), GO_NOTE);
    }

    #[test]
    fn the_go_example_opens_with_its_verifier_key_and_not_when_altered() {
        let key: VerifierKey = GO_VKEY.parse().unwrap();
        assert_eq!(key.open(GO_NOTE).unwrap(), GO_TEXT);
        assert_eq!(
            key.open(&GO_NOTE.replace("cryptography", "cryptographY")),
            Err(NoteError::BadSignature)
        );
        // A signature by an unknown key is ignored; without one by ours, the note is refused.
        let other = CheckpointSigner::from_seed("PeterNeumann", &[7; 32]).unwrap();
        assert!(matches!(
            key.open(&other.sign_note(GO_TEXT)),
            Err(NoteError::NotSignedByKey(_))
        ));
        // Another known-name signature line besides ours still verifies.
        let both = format!(
            "{GO_NOTE}\u{2014} someone.else/key {}\n",
            BASE64.encode([1u8; 68])
        );
        assert_eq!(key.open(&both).unwrap(), GO_TEXT);
    }

    #[test]
    fn verifier_keys_round_trip_and_a_wrong_key_id_is_refused() {
        let key: VerifierKey = GO_VKEY.parse().unwrap();
        assert_eq!(key.to_string(), GO_VKEY);
        assert_eq!(key.name(), "PeterNeumann");
        assert!(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>()
                .is_err()
        );
        assert!(
            "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>()
                .is_err()
        );
        assert!("PeterNeumann+c74f20a3".parse::<VerifierKey>().is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_must_name_the_keys_origin() {
        let signer = CheckpointSigner::from_seed("anslut.example/test", &[3; 32]).unwrap();
        let root = crate::merkle::leaf_hash(b"x");
        let note = signer.sign_checkpoint(42, &root);
        assert!(note.starts_with(&format!("anslut.example/test\n42\n{root}\n\n\u{2014} ")));
        let checkpoint = signer.verifier_key().open_checkpoint(&note).unwrap();
        assert_eq!(
            checkpoint,
            Checkpoint {
                origin: "anslut.example/test".into(),
                tree_size: 42,
                root
            }
        );
        // The same key under another name is another key.
        let other =
            VerifierKey::new("anslut.example/other", &signer.verifier_key().public_key()).unwrap();
        assert!(other.open_checkpoint(&note).is_err());
    }

    #[test]
    fn checkpoint_texts_are_parsed_strictly() {
        let root = crate::merkle::empty_root().to_base64();
        assert!(Checkpoint::parse(&format!("o\n1\n{root}\n")).is_ok());
        for bad in [
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n1\n{root}"),
            format!("o\n1\n{root}\next\n"),
            format!("o o\n1\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_with_spaces_or_plus_are_refused() {
        for name in ["", "a b", "a+b", "a\tb"] {
            assert!(
                CheckpointSigner::from_seed(name, &[1; 32]).is_err(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_generated_key_file_is_private_and_reloads_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/checkpoint.key");
        let first = CheckpointSigner::load_or_generate("anslut.example/dev", &path).unwrap();
        let again = CheckpointSigner::load_or_generate("anslut.example/dev", &path).unwrap();
        assert_eq!(first.verifier_key(), again.verifier_key());
        assert_eq!(std::fs::read(&path).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&hex::encode(std::fs::read(&path).unwrap())));
        std::fs::write(&path, [0u8; 31]).unwrap();
        assert!(CheckpointSigner::from_file("anslut.example/dev", &path).is_err());
    }
}
