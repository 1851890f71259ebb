//! Production verification keys: a JWKS document from a file or an `https://` URL.
//!
//! Keys are chosen by `kid`. Each JWK must name its `alg`, which pins the algorithm tokens
//! signed with it may use; only RS256, ES256 and EdDSA are accepted (HMAC keys and keys
//! without `kid` or `alg` are skipped with a warning). The set is cached, fetched again once
//! it is older than the refresh interval, and on a token with an unknown `kid` (at most once
//! per `min_refetch`, so a stream of bad tokens cannot hammer the identity provider). A
//! failed refresh keeps the keys already held.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use super::token::AuthError;

/// A verification key and the one algorithm it verifies.
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Where the JWKS is read from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(reqwest::Url),
}

/// Why a JWKS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("reading the JWKS file {path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("fetching the JWKS: {0}")]
    Fetch(String),
    #[error("the JWKS is not valid JSON: {0}")]
    Parse(String),
    #[error("the JWKS holds no usable signing key (each needs kid and alg RS256, ES256 or EdDSA)")]
    NoKeys,
    #[error("the JWKS URL {0}")]
    Url(String),
}

impl JwksSource {
    /// An `https://` URL; `http://` only on a loopback host and only when allowed.
    pub fn url(raw: &str, allow_loopback_http: bool) -> Result<Self, JwksError> {
        let url =
            reqwest::Url::parse(raw).map_err(|e| JwksError::Url(format!("is not valid: {e}")))?;
        match url.scheme() {
            "https" => Ok(Self::Url(url)),
            "http" if allow_loopback_http && is_loopback(&url) => Ok(Self::Url(url)),
            "http" => Err(JwksError::Url(
                "must use https (http only on loopback with auth.allow_loopback_http_jwks)".into(),
            )),
            other => Err(JwksError::Url(format!(
                "has the unsupported scheme {other}"
            ))),
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Instant,
}

/// The cached key set.
pub struct JwksCache {
    source: JwksSource,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When a fetch was last attempted; also serialises fetches.
    last_attempt: Mutex<Instant>,
    refresh_every: Duration,
    min_refetch: Duration,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// Loads the key set once; fails when it cannot be read or holds no usable key.
    pub async fn load(
        source: JwksSource,
        refresh_every: Duration,
        min_refetch: Duration,
    ) -> Result<Self, JwksError> {
        let client = http_client()?;
        let keys = fetch(&source, &client).await?;
        Ok(Self {
            source,
            client,
            keys: RwLock::new(Arc::new(KeySet {
                keys,
                fetched_at: Instant::now(),
            })),
            last_attempt: Mutex::new(Instant::now()),
            refresh_every,
            min_refetch,
        })
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key with this `kid`, refreshing the set when it is stale or the `kid` unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        let current = self.current();
        if current.fetched_at.elapsed() < self.refresh_every
            && let Some(key) = current.keys.get(kid)
        {
            return Ok(key.clone());
        }
        self.refresh().await;
        self.current()
            .keys
            .get(kid)
            .cloned()
            .ok_or(AuthError::UnknownKeyId)
    }

    /// Fetches the set again, at most once per `min_refetch` (also when the identity
    /// provider is down: requests then use the keys held rather than wait on it).
    async fn refresh(&self) {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.elapsed() < self.min_refetch {
            return;
        }
        *last_attempt = Instant::now();
        match fetch(&self.source, &self.client).await {
            Ok(keys) => {
                *self
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(KeySet {
                    keys,
                    fetched_at: Instant::now(),
                });
                tracing::info!("refreshed the JWKS");
            }
            Err(error) => {
                tracing::warn!(%error, "refreshing the JWKS failed; keeping the keys held");
            }
        }
    }
}

/// The HTTP client for JWKS URLs: rustls with the ring provider, bounded timeouts.
fn http_client() -> Result<reqwest::Client, JwksError> {
    // Installing twice is harmless: the first provider stays.
    drop(rustls::crypto::ring::default_provider().install_default());
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| JwksError::Fetch(e.to_string()))
}

async fn fetch(
    source: &JwksSource,
    client: &reqwest::Client,
) -> Result<HashMap<String, Arc<VerifyingKey>>, JwksError> {
    let text = match source {
        JwksSource::File(path) => {
            tokio::fs::read_to_string(path)
                .await
                .map_err(|error| JwksError::File {
                    path: path.clone(),
                    error,
                })?
        }
        JwksSource::Url(url) => client
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| JwksError::Fetch(e.to_string()))?
            .text()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?,
    };
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| JwksError::Parse(e.to_string()))?;
    let keys: HashMap<_, _> = set.keys.iter().filter_map(usable).collect();
    if keys.is_empty() {
        return Err(JwksError::NoKeys);
    }
    Ok(keys)
}

/// A JWK's `kid` and key, if it is a signing key with a pinned, accepted algorithm.
fn usable(jwk: &Jwk) -> Option<(String, Arc<VerifyingKey>)> {
    let kid = jwk.common.key_id.clone()?;
    let algorithm = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        other => {
            tracing::warn!(%kid, alg = ?other, "skipping a JWK: alg must be RS256, ES256 or EdDSA");
            return None;
        }
    };
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        tracing::warn!(%kid, "skipping a JWK meant for encryption");
        return None;
    }
    match DecodingKey::from_jwk(jwk) {
        Ok(key) => Some((kid, Arc::new(VerifyingKey { algorithm, key }))),
        Err(error) => {
            tracing::warn!(%kid, %error, "skipping a JWK that does not parse");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_allowed_loopback_http_urls_are_accepted() {
        assert!(JwksSource::url("https://idp.example/jwks", false).is_ok());
        assert!(JwksSource::url("http://idp.example/jwks", true).is_err());
        assert!(JwksSource::url("http://127.0.0.1:9/jwks", false).is_err());
        assert!(JwksSource::url("http://127.0.0.1:9/jwks", true).is_ok());
        assert!(JwksSource::url("http://[::1]:9/jwks", true).is_ok());
        assert!(JwksSource::url("ftp://idp.example/jwks", true).is_err());
    }

    #[test]
    fn hmac_keys_and_keys_without_kid_or_alg_are_skipped() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "e", "alg": "EdDSA",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}))
        .unwrap();
        let kids: Vec<_> = set
            .keys
            .iter()
            .filter_map(usable)
            .map(|(kid, _)| kid)
            .collect();
        assert_eq!(kids, ["e"]);
    }
}
