//! Authentication: who is calling, from a verified bearer token.
//!
//! * `token.rs` decodes and verifies tokens; it is the only place that does, and it pins the
//!   accepted algorithm per key (HS256 for the development key; the JWK's own `alg`, one of
//!   RS256, ES256 and EdDSA, for JWKS keys).
//! * `jwks.rs` keeps the production keys: a JWKS from a file or an `https://` URL, cached,
//!   refreshed on an interval and on an unknown `kid` (rate-limited).
//! * `dev.rs` is the development signing key and the minting of development tokens.
//!
//! A token carries one role per token: `{"sub", "iss", "aud", "exp", "nbf", "iat", "role",
//! "region", "org"?}`; `org` (an organisationsnummer) is required for the `provider` role.

pub mod dev;
pub mod jwks;
pub mod token;

use domain::Role;
use domain::actor::{Actor, Subject};
use domain::identity::OrgNumber;
use domain::ids::RegionId;
use serde::{Deserialize, Serialize};

pub use token::{AuthError, TokenVerifier};

/// The claims of an Anslut token beyond the registered ones the verifier checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    /// One of `officer`, `region_it`, `provider`, `auditor`, `dashboard`, `integration`.
    pub role: String,
    /// The region the caller acts in, e.g. `jamtland-harjedalen`.
    pub region: String,
    /// The provider's organisationsnummer; required for `provider`, ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// The authenticated caller, as the domain's [`Actor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    actor: Actor,
    /// The token's issuer (`iss`); empty for principals not taken from a token (the demo).
    issuer: String,
}

impl Principal {
    pub const fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The issuer of the token that named this principal.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The same principal, as named by a token from `issuer`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        issuer.clone_into(&mut self.issuer);
        self
    }

    pub const fn role(&self) -> Role {
        self.actor.role
    }

    pub const fn region(&self) -> &RegionId {
        &self.actor.region
    }

    /// The organisation a provider acts for; `None` for every other role.
    pub const fn provider_org(&self) -> Option<&OrgNumber> {
        self.actor.provider_org.as_ref()
    }

    /// The store's record of the actor.
    pub fn record(&self) -> store::ActorRecord {
        store::ActorRecord {
            subject: self.actor.subject.as_str().to_owned(),
            role: self.actor.role.as_str().to_owned(),
            region: self.actor.region.as_str().to_owned(),
            provider_org: self.actor.provider_org.as_ref().map(ToString::to_string),
        }
    }

    /// The principal a verified token names, or why the token cannot name one.
    pub fn from_claims(
        sub: &str,
        role: &str,
        region: &str,
        org: Option<&str>,
    ) -> Result<Self, AuthError> {
        let subject = Subject::parse(sub).map_err(|_| AuthError::Claim("sub"))?;
        let role = Role::parse(role).ok_or(AuthError::Claim("role"))?;
        let region = RegionId::parse(region).map_err(|_| AuthError::Claim("region"))?;
        let provider_org = match role {
            Role::Provider => Some(
                org.and_then(|org| OrgNumber::parse(org).ok())
                    .ok_or(AuthError::Claim("org"))?,
            ),
            _ => None,
        };
        let actor =
            Actor::new(subject, role, region, provider_org).map_err(|_| AuthError::Claim("org"))?;
        Ok(Self {
            actor,
            issuer: String::new(),
        })
    }
}
