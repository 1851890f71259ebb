//! The development signing key: 256 random bits, generated into `<data_dir>/dev-signing-key`
//! (mode 0600) on first start, used to verify HS256 tokens in development and by
//! `anslut token` to mint them. Production never uses it.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode};

use super::Claims;
use crate::config::Secret;

/// The file name of the development signing key in the data directory.
pub const DEV_KEY_FILE: &str = "dev-signing-key";
/// The key id development tokens carry.
pub const DEV_KEY_ID: &str = "dev";

/// A secret read from a file of hex, or generated into it (32 random bytes, mode 0600)
/// when the file does not exist. Returns the bytes and whether they were generated.
pub fn load_or_generate_key_file(path: &Path) -> io::Result<(Secret<Vec<u8>>, bool)> {
    let generated = if path.exists() {
        false
    } else {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
        // Two processes starting at once both read the one key that was published first.
        keyfile::create_if_missing(path, format!("{}\n", hex::encode(&bytes)).as_bytes())?
    };
    let text = fs::read_to_string(path)?;
    let bytes = hex::decode(text.trim()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not hex: {e}", path.display()),
        )
    })?;
    if bytes.len() < 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds fewer than 32 bytes", path.display()),
        ));
    }
    Ok((Secret::new(bytes), generated))
}

/// What a development token says.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub subject: String,
    pub role: String,
    pub region: String,
    pub org: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

/// The HS256 development key.
#[derive(Clone)]
pub struct DevKey {
    secret: Secret<Vec<u8>>,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevKey([redacted])")
    }
}

impl DevKey {
    /// The configured key (hex), or the one in the data directory, generated when missing.
    /// Returns whether it was generated now.
    pub fn load(configured: Option<&Secret<String>>, data_dir: &Path) -> io::Result<(Self, bool)> {
        if let Some(hex_key) = configured {
            let bytes = hex::decode(hex_key.expose().trim()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "auth.dev_signing_key is not hex",
                )
            })?;
            if bytes.len() < 32 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "auth.dev_signing_key needs at least 32 bytes",
                ));
            }
            return Ok((Self::from_bytes(bytes), false));
        }
        let (secret, created) = load_or_generate_key_file(&data_dir.join(DEV_KEY_FILE))?;
        Ok((Self { secret }, created))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            secret: Secret::new(bytes),
        }
    }

    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_secret(self.secret.expose())
    }

    /// A signed HS256 token.
    pub fn mint(&self, spec: &TokenSpec) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(spec.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: spec.subject.clone(),
            iss: spec.issuer.clone(),
            aud: spec.audience.clone(),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            role: spec.role.clone(),
            region: spec.region.clone(),
            org: spec.org.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(DEV_KEY_ID.to_owned());
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(self.secret.expose()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_generated_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = DevKey::load(None, dir.path()).unwrap();
        assert!(created);
        let (second, created) = DevKey::load(None, dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.secret.expose(), second.secret.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(DEV_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
