//! Token verification: the one place where a bearer token is decoded. Algorithms are pinned
//! per key: the development key accepts only HS256; a JWKS key accepts only the `alg` its
//! JWK names (RS256, ES256 or EdDSA). `alg: none` never parses, an HS256 token is never
//! checked against a JWKS key, and `exp`, `nbf`, `iss`, `aud` and `sub` are required, with at
//! most 60 seconds of leeway.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::Principal;
use super::jwks::JwksCache;
use crate::config::MAX_LEEWAY_SECONDS;

/// Why a token was refused. Every variant is a 401; none reveals a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted for its key")]
    Algorithm,
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token's key id is not known")]
    UnknownKeyId,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
    #[error("the token's {0} claim is missing or not valid")]
    Claim(&'static str),
}

/// Where verification keys come from.
pub enum Keys {
    /// The development HS256 key.
    Development(DecodingKey),
    /// Production keys from a JWKS.
    Jwks(Arc<JwksCache>),
}

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct TokenVerifier {
    keys: Keys,
    issuer: String,
    audience: String,
    leeway_seconds: u64,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match self.keys {
            Keys::Development(_) => "development",
            Keys::Jwks(_) => "jwks",
        };
        f.debug_struct("TokenVerifier")
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

/// The claims read from a verified token (the registered ones are checked by the validation).
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    role: Option<String>,
    region: Option<String>,
    org: Option<String>,
}

impl TokenVerifier {
    pub fn new(keys: Keys, issuer: String, audience: String, leeway_seconds: u64) -> Self {
        Self {
            keys,
            issuer,
            audience,
            leeway_seconds: leeway_seconds.min(MAX_LEEWAY_SECONDS),
        }
    }

    /// The validation for one pinned algorithm.
    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = self.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation
    }

    /// Verifies a token and names its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let data = match &self.keys {
            Keys::Development(key) => {
                if header.alg != Algorithm::HS256 {
                    return Err(AuthError::Algorithm);
                }
                decode::<TokenClaims>(token, key, &self.validation(Algorithm::HS256))
            }
            Keys::Jwks(cache) => {
                let kid = header.kid.as_deref().ok_or(AuthError::MissingKeyId)?;
                let key = cache.key(kid).await?;
                if header.alg != key.algorithm {
                    return Err(AuthError::Algorithm);
                }
                decode::<TokenClaims>(token, &key.key, &self.validation(key.algorithm))
            }
        }
        .map_err(|error| match error.into_kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::Audience,
            ErrorKind::InvalidIssuer => AuthError::Issuer,
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::Algorithm,
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim),
            ErrorKind::InvalidSubject => AuthError::Claim("sub"),
            _ => AuthError::Malformed,
        })?;
        let claims = data.claims;
        Principal::from_claims(
            claims.sub.as_deref().ok_or(AuthError::Claim("sub"))?,
            claims.role.as_deref().ok_or(AuthError::Claim("role"))?,
            claims.region.as_deref().ok_or(AuthError::Claim("region"))?,
            claims.org.as_deref(),
        )
        .map(|principal| principal.with_issuer(&self.issuer))
    }
}
