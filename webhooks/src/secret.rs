//! Signing secrets and the server key that seals them at rest.
//!
//! * A [`SigningSecret`] is what a receiver verifies with: 32 random bytes, shown to the
//!   region once, at registration, as `whsec_` + base64 (Standard Webhooks' symmetric secret
//!   serialisation; the spec asks for 24 to 64 bytes). Signatures are
//!   `v1,` + base64(HMAC-SHA256(secret bytes, `{webhook-id}.{webhook-timestamp}.{body}`)).
//! * The database holds only the secret sealed with the [`SecretKey`], a 32-byte server key
//!   kept outside the database (a file from configuration; generated into the data directory
//!   in development). A database dump alone therefore cannot forge a signature. Sealing is
//!   XChaCha20-Poly1305 with a random 192-bit nonce (no nonce bookkeeping, no reuse risk) and
//!   the subscription id as associated data, so a sealed secret copied onto another
//!   subscription's row does not open.
//! * Each sealed secret records the key's id (a truncated hash of the key), so a wrong key
//!   is reported as such rather than as a corrupt row, and a later key rotation can open old
//!   secrets with the previous key by id.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::WebhookError;

/// The prefix of a serialised signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated signing secret.
const SECRET_BYTES: usize = 32;
/// The size of the server key.
pub const KEY_BYTES: usize = 32;
/// Sealed secrets are `v1:` + base64(nonce ‖ ciphertext).
const SEALED_PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 24;

/// A subscription's signing secret. Never printed: `Debug` is redacted; [`SigningSecret::expose`]
/// is the one way to see it (for the registration answer).
#[derive(Clone)]
pub struct SigningSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A fresh secret of 32 random bytes.
    pub(crate) fn generate() -> Result<Self, WebhookError> {
        let mut bytes = Zeroizing::new(vec![0_u8; SECRET_BYTES]);
        getrandom::fill(&mut bytes)
            .map_err(|e| WebhookError::Key(format!("no randomness for a secret: {e}")))?;
        Ok(Self(bytes))
    }

    /// Reads the `whsec_…` form (24 to 64 bytes after decoding).
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| WebhookError::Key("a signing secret starts with whsec_".into()))?;
        let bytes =
            Zeroizing::new(STANDARD.decode(encoded).map_err(|_| {
                WebhookError::Key("a signing secret is base64 after whsec_".into())
            })?);
        if !(24..=64).contains(&bytes.len()) {
            return Err(WebhookError::Key(
                "a signing secret holds 24 to 64 bytes".into(),
            ));
        }
        Ok(Self(bytes))
    }

    /// The `whsec_…` form, to show the region once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The server key that seals signing secrets at rest. `Debug` shows only its id.
#[derive(Clone)]
pub struct SecretKey {
    key: Zeroizing<[u8; KEY_BYTES]>,
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"anslut-webhooks-secret-key\n");
        hasher.update(bytes);
        let id = hex::encode(&hasher.finalize()[..8]);
        Self {
            key: Zeroizing::new(bytes),
            id,
        }
    }

    /// A key written as 64 hex digits (surrounding whitespace ignored), as in the key file
    /// and in an environment variable.
    pub fn from_hex(text: &str) -> Result<Self, WebhookError> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim())
                .map_err(|_| WebhookError::Key("the webhook secret key is not hex".into()))?,
        );
        let bytes: [u8; KEY_BYTES] = bytes.as_slice().try_into().map_err(|_| {
            WebhookError::Key(format!("the webhook secret key is {KEY_BYTES} bytes"))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads the key file (64 hex digits). Production: the file must exist, so that a
    /// forgotten setting never silently makes a new key that opens no stored secret.
    pub fn from_file(path: &Path) -> Result<Self, WebhookError> {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|e| WebhookError::Key(format!("reading {}: {e}", path.display())))?,
        );
        Self::from_hex(&text)
    }

    /// Development: reads the key file, or generates it (mode 0600) when missing. Returns the
    /// key and whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), WebhookError> {
        if path.exists() {
            return Self::from_file(path).map(|key| (key, false));
        }
        let mut bytes = Zeroizing::new([0_u8; KEY_BYTES]);
        getrandom::fill(&mut *bytes)
            .map_err(|e| WebhookError::Key(format!("no randomness for a key: {e}")))?;
        let created =
            keyfile::create_if_missing(path, format!("{}\n", hex::encode(*bytes)).as_bytes())
                .map_err(|e| WebhookError::Key(format!("writing {}: {e}", path.display())))?;
        if !created {
            // Another process published its key first: use that one.
            return Self::from_file(path).map(|key| (key, false));
        }
        Ok((Self::from_bytes(*bytes), true))
    }

    /// The key's id, recorded with every secret it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key).into())
    }

    /// Seals `secret` for the subscription `owner` (the associated data).
    pub(crate) fn seal(&self, owner: &str, secret: &SigningSecret) -> Result<String, WebhookError> {
        let mut nonce = [0_u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| WebhookError::Key(format!("no randomness for a nonce: {e}")))?;
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &secret.0,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| WebhookError::Key("sealing a secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens a secret sealed for `owner` by the key with id `key_id`.
    pub(crate) fn open(
        &self,
        owner: &str,
        key_id: &str,
        sealed: &str,
    ) -> Result<SigningSecret, WebhookError> {
        if key_id != self.id {
            return Err(WebhookError::Key(format!(
                "the secret of subscription {owner} was sealed with key {key_id}, the configured \
                 key is {}",
                self.id
            )));
        }
        let corrupt = || WebhookError::Key(format!("the sealed secret of {owner} does not open"));
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .ok_or_else(corrupt)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| corrupt())?;
        let secret = self
            .cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| corrupt())?;
        Ok(SigningSecret(Zeroizing::new(secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks reference libraries' test suites.
        let secret = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            secret.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_in_whsec_form_and_never_debug_printed() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert!(a.expose().starts_with("whsec_"));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(SigningSecret::parse(&a.expose()).unwrap().0.len(), 32);
        assert_eq!(format!("{a:?}"), "SigningSecret(<redacted>)");
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(SigningSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_owner() {
        let key = SecretKey::from_bytes([7; 32]);
        let other = SecretKey::from_bytes([8; 32]);
        let secret = SigningSecret::generate().unwrap();
        let sealed = key.seal("sub-1", &secret).unwrap();
        assert!(!sealed.contains(&secret.expose()[6..]));
        let opened = key.open("sub-1", key.id(), &sealed).unwrap();
        assert_eq!(opened.expose(), secret.expose());
        assert!(key.open("sub-2", key.id(), &sealed).is_err());
        assert!(other.open("sub-1", key.id(), &sealed).is_err());
        assert!(matches!(
            other.open("sub-1", other.id(), &sealed),
            Err(WebhookError::Key(_))
        ));
        assert_ne!(
            key.seal("sub-1", &secret).unwrap(),
            sealed,
            "fresh nonce per seal"
        );
    }

    #[test]
    fn key_files_are_generated_once_with_owner_only_permissions_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("webhook-secret-key");
        let (first, generated) = SecretKey::load_or_generate(&path).unwrap();
        assert!(generated);
        let (again, generated) = SecretKey::load_or_generate(&path).unwrap();
        assert!(!generated);
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SecretKey::from_hex("abcd").is_err());
        assert!(SecretKey::from_file(&dir.path().join("missing")).is_err());
        assert!(!format!("{first:?}").contains(&hex::encode(*first.key)));
    }
}
