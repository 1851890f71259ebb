//! The two layers of keys and the one cipher.
//!
//! * The [`KeyEncryptionKey`] (KEK) is the server's: 32 bytes from configuration, never in the
//!   database. It wraps every data key.
//! * A [`DataKey`] is one data subject's: 32 random bytes, created on the subject's first
//!   sealed value, stored only wrapped. It seals that subject's personal data in events.
//!
//! Both layers use XChaCha20-Poly1305 with a random 192-bit nonce (random nonces of that size
//! never collide in practice, so there is no nonce bookkeeping) and bind the ciphertext to
//! where it belongs through the associated data: a wrapped key to its subject and key id, a
//! sealed value to its subject, key id and stream, so neither opens when copied elsewhere.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::PrivacyError;

/// The size of both kinds of key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Random bytes in a key id (shown as hex).
const KEY_ID_BYTES: usize = 8;

/// The server's key that wraps the data keys. `Debug` never shows it.
#[derive(Clone)]
pub struct KeyEncryptionKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

impl KeyEncryptionKey {
    /// Exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PrivacyError> {
        let array: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| {
            PrivacyError::Key(format!(
                "the key-encryption key is {KEY_BYTES} bytes, not {}",
                bytes.len()
            ))
        })?;
        Ok(Self(Zeroizing::new(array)))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }

    /// The data key, wrapped for `subject`: base64(nonce ‖ ciphertext).
    pub(crate) fn wrap(&self, subject: Uuid, key: &DataKey) -> Result<String, PrivacyError> {
        let aad = wrap_aad(subject, &key.id);
        seal_with(&self.cipher(), &key.bytes[..], aad.as_bytes())
    }

    /// Opens what [`KeyEncryptionKey::wrap`] made. Fails on a different KEK, subject or id.
    pub(crate) fn unwrap(
        &self,
        subject: Uuid,
        key_id: &str,
        wrapped: &str,
    ) -> Result<DataKey, PrivacyError> {
        let aad = wrap_aad(subject, key_id);
        let plain = open_with(&self.cipher(), wrapped, aad.as_bytes()).map_err(|()| {
            PrivacyError::Key(format!(
                "the key of data subject {subject} does not open with this key-encryption key \
                 (the wrong privacy key, or a damaged row)"
            ))
        })?;
        let bytes: [u8; KEY_BYTES] = plain.as_slice().try_into().map_err(|_| {
            PrivacyError::Key(format!(
                "the key of data subject {subject} has the wrong size"
            ))
        })?;
        Ok(DataKey {
            id: key_id.to_owned(),
            bytes: Zeroizing::new(bytes),
        })
    }
}

fn wrap_aad(subject: Uuid, key_id: &str) -> String {
    format!("anslut/subject-key/v1\0{subject}\0{key_id}")
}

fn seal_aad(subject: Uuid, key_id: &str, stream: &str) -> String {
    format!("anslut/pii/v1\0{subject}\0{key_id}\0{stream}")
}

/// One data subject's key, with the id that sealed values name.
pub(crate) struct DataKey {
    pub id: String,
    bytes: Zeroizing<[u8; KEY_BYTES]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({}, <redacted>)", self.id)
    }
}

impl DataKey {
    /// A fresh random key with a fresh random id.
    pub fn generate() -> Result<Self, PrivacyError> {
        let mut bytes = Zeroizing::new([0_u8; KEY_BYTES]);
        let mut id = [0_u8; KEY_ID_BYTES];
        getrandom::fill(&mut bytes[..])
            .and_then(|()| getrandom::fill(&mut id))
            .map_err(|e| PrivacyError::Key(format!("no randomness for a data key: {e}")))?;
        Ok(Self {
            id: hex::encode(id),
            bytes,
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.bytes).into())
    }

    /// Seals a value's bytes: `<key id>:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, subject: Uuid, stream: &str, plain: &[u8]) -> Result<String, PrivacyError> {
        let aad = seal_aad(subject, &self.id, stream);
        let sealed = seal_with(&self.cipher(), plain, aad.as_bytes())?;
        Ok(format!("{}:{sealed}", self.id))
    }

    /// Opens the base64 part of a sealed value that names this key.
    pub fn open(
        &self,
        subject: Uuid,
        stream: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, PrivacyError> {
        let aad = seal_aad(subject, &self.id, stream);
        open_with(&self.cipher(), sealed, aad.as_bytes()).map_err(|()| {
            PrivacyError::Corrupt(format!(
                "a sealed value of data subject {subject} in {stream} does not open with its key"
            ))
        })
    }
}

/// Splits a sealed value into the key id it names and its base64 part.
pub(crate) fn split_sealed(sealed: &str) -> Option<(&str, &str)> {
    sealed
        .split_once(':')
        .filter(|(id, body)| !id.is_empty() && !body.is_empty())
}

fn seal_with(cipher: &XChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> Result<String, PrivacyError> {
    let mut nonce = [0_u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|e| PrivacyError::Key(format!("no randomness for a nonce: {e}")))?;
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
        .map_err(|_| PrivacyError::Key("sealing failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(STANDARD.encode(out))
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    sealed: &str,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let bytes = STANDARD.decode(sealed).map_err(|_| ())?;
    if bytes.len() <= NONCE_BYTES {
        return Err(());
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| ())?;
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(&[byte; KEY_BYTES]).unwrap()
    }

    #[test]
    fn a_wrapped_key_opens_only_with_its_kek_subject_and_id() {
        let subject = Uuid::from_u128(1);
        let key = DataKey::generate().unwrap();
        let wrapped = kek(1).wrap(subject, &key).unwrap();
        let back = kek(1).unwrap(subject, &key.id, &wrapped).unwrap();
        assert_eq!(*back.bytes, *key.bytes);
        assert!(kek(2).unwrap(subject, &key.id, &wrapped).is_err());
        assert!(
            kek(1)
                .unwrap(Uuid::from_u128(2), &key.id, &wrapped)
                .is_err()
        );
        assert!(
            kek(1)
                .unwrap(subject, "0000000000000000", &wrapped)
                .is_err()
        );
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_stream_and_never_repeats() {
        let subject = Uuid::from_u128(1);
        let key = DataKey::generate().unwrap();
        let one = key.seal(subject, "case/1", b"\"Anna\"").unwrap();
        let two = key.seal(subject, "case/1", b"\"Anna\"").unwrap();
        assert_ne!(one, two, "random nonces");
        let (id, body) = split_sealed(&one).unwrap();
        assert_eq!(id, key.id);
        assert_eq!(&*key.open(subject, "case/1", body).unwrap(), b"\"Anna\"");
        assert!(key.open(subject, "case/2", body).is_err());
        assert!(key.open(Uuid::from_u128(2), "case/1", body).is_err());
        assert!(
            DataKey::generate()
                .unwrap()
                .open(subject, "case/1", body)
                .is_err()
        );
    }

    #[test]
    fn a_kek_is_exactly_32_bytes_and_never_printed() {
        assert!(KeyEncryptionKey::from_bytes(&[0; 31]).is_err());
        assert!(!format!("{:?}", kek(7)).contains('7'));
    }
}
