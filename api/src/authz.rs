//! Authorisation, in one place.
//!
//! The permission an operation needs is part of its handler's signature:
//! `Authorized<Decide>` authenticates the caller (401 otherwise) and checks that its role
//! holds the domain's `Permission::Decide` (403 otherwise) before any resource is read, so a
//! 403 says nothing about any resource. `Authorized<Read>` admits every authenticated role.
//!
//! Tenancy is [`visible`]: a case or incident is visible to a principal iff it belongs to the
//! principal's region and, for providers, to the principal's organisation. Every resource
//! load goes through it, and a resource that is not visible answers exactly like one that
//! does not exist (404). The read models apply the same rule as SQL filters, from
//! [`tenancy`]: every read-model handler gets its `Tenancy` there.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};
use domain::Role;
use domain::case::Permission;
use domain::identity::OrgNumber;
use domain::ids::RegionId;
use futures_util::future::LocalBoxFuture;
use projections::Tenancy;

use crate::auth::Principal;
use crate::limits::Budget;
use crate::problem::ApiError;
use crate::state::AppState;

/// What an operation requires of the caller's role.
pub trait Requirement: 'static {
    /// The domain permission needed; `None` for reads, which every role may do, and for
    /// requirements that are not domain permissions (they override [`Requirement::admits`]).
    const PERMISSION: Option<Permission>;

    /// Whether `role` meets the requirement: by default, whether it holds `PERMISSION`.
    fn admits(role: Role) -> bool {
        Self::PERMISSION.is_none_or(|permission| permission.allows(role))
    }

    /// The requirement's name in a 403.
    fn name() -> &'static str {
        Self::PERMISSION.map_or("read", Permission::as_str)
    }

    /// The per-caller rate limit a request under this requirement draws on: by default,
    /// writes under a domain permission are commands; reads are not counted.
    fn budget(method: &Method) -> Budget {
        if Self::PERMISSION.is_some() && !is_read(method) {
            Budget::Commands
        } else {
            Budget::None
        }
    }
}

macro_rules! requirement {
    ($(#[$doc:meta])* $name:ident => $permission:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl Requirement for $name {
            const PERMISSION: Option<Permission> = $permission;
        }
    };
}

requirement!(
    /// Any authenticated role; tenancy still applies to cases and incidents.
    Read => None
);
requirement!(
    /// `Permission::Apply`: submit an application.
    Apply => Some(Permission::Apply)
);
requirement!(
    /// `Permission::Decide`: the region's decisions.
    Decide => Some(Permission::Decide)
);
requirement!(
    /// `Permission::Verify`: the region's technical work.
    Verify => Some(Permission::Verify)
);
requirement!(
    /// `Permission::Declare`: the provider's own statements.
    Declare => Some(Permission::Declare)
);
requirement!(
    /// `Permission::Record`: facts either side records.
    Record => Some(Permission::Record)
);
requirement!(
    /// `Permission::ReportIncident`: report a security incident or record an action on it.
    ReportIncident => Some(Permission::ReportIncident)
);
requirement!(
    /// `Permission::AssessIncident`: assess or close a security incident.
    AssessIncident => Some(Permission::AssessIncident)
);

/// Reading the tamper evidence (checkpoints and proofs): auditors, officers, region IT and
/// integrations. Not a domain permission: the domain decides commands, and this reads none.
#[derive(Debug, Clone, Copy)]
pub struct ReadAudit;

impl Requirement for ReadAudit {
    const PERMISSION: Option<Permission> = None;

    fn admits(role: Role) -> bool {
        matches!(
            role,
            Role::Auditor | Role::Officer | Role::RegionIt | Role::Integration
        )
    }

    fn name() -> &'static str {
        "read_audit"
    }
}

/// Managing the region's webhook subscriptions and their deliveries: region IT (who run the
/// region's case systems) and integrations (the case systems themselves). Not a domain
/// permission: subscriptions decide nothing about cases. Officers, auditors and dashboards
/// read events through the API and the feed; providers never receive a region's events.
#[derive(Debug, Clone, Copy)]
pub struct ManageWebhooks;

impl Requirement for ManageWebhooks {
    const PERMISSION: Option<Permission> = None;

    fn admits(role: Role) -> bool {
        matches!(role, Role::RegionIt | Role::Integration)
    }

    fn name() -> &'static str {
        "manage_webhooks"
    }

    /// Creating, deactivating and rotating subscriptions, redelivering and skipping count as
    /// commands.
    fn budget(method: &Method) -> Budget {
        if is_read(method) {
            Budget::None
        } else {
            Budget::Commands
        }
    }
}

/// Forgetting a data subject and looking one up: the roles of
/// `domain::subject::FORGET_ROLES` (officers and region IT). Not a case permission: a data
/// subject is not a case; which subjects a caller may forget is decided by the handler (those
/// named in an event of the caller's region).
#[derive(Debug, Clone, Copy)]
pub struct ForgetSubject;

impl Requirement for ForgetSubject {
    const PERMISSION: Option<Permission> = None;

    fn admits(role: Role) -> bool {
        domain::subject::FORGET_ROLES.contains(&role)
    }

    fn name() -> &'static str {
        "forget_subject"
    }

    /// Every lookup and forget counts: a lookup answers whether a personnummer is known.
    fn budget(_: &Method) -> Budget {
        Budget::Privacy
    }
}

/// Whether a request only reads.
fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// An authenticated caller whose role meets `R`.
#[derive(Debug)]
pub struct Authorized<R> {
    pub principal: Principal,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: Requirement> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authorization = req.headers().get(header::AUTHORIZATION).cloned();
        let address = req.peer_addr().map(|peer| peer.ip());
        let budget = R::budget(req.method());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::internal("the application state is missing"))?;
            // An address that spent its failed-authentication budget: refused before its
            // token is looked at.
            state.limits.check_address(address)?;
            let principal = match authenticate(&state, authorization.as_ref()).await {
                Ok(principal) => principal,
                Err(error) => {
                    if error.status() == actix_web::http::StatusCode::UNAUTHORIZED {
                        // The failure that spends the budget is answered 429 already.
                        state.limits.failed_authentication(address)?;
                    }
                    return Err(error);
                }
            };
            if !R::admits(principal.role()) {
                return Err(ApiError::forbidden(format!(
                    "the role {} lacks the permission {}",
                    principal.role(),
                    R::name()
                )));
            }
            state.limits.check_caller(&principal, budget)?;
            Ok(Self {
                principal,
                _requirement: PhantomData,
            })
        })
    }
}

/// The principal a request's `Authorization` header names: 401 without one, or with one that
/// is not a valid bearer token.
async fn authenticate(
    state: &AppState,
    authorization: Option<&header::HeaderValue>,
) -> Result<Principal, ApiError> {
    let authorization = authorization.ok_or_else(ApiError::unauthenticated)?;
    let token = authorization
        .to_str()
        .ok()
        .and_then(bearer_token)
        .ok_or_else(|| {
            ApiError::invalid_token("the Authorization header is not `Bearer <token>`")
        })?;
    state.verifier.verify(token).await.map_err(Into::into)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a resource of `region` and provider `org` is visible to `principal`.
pub fn visible(principal: &Principal, region: &RegionId, org: &OrgNumber) -> bool {
    principal.region() == region && principal.provider_org().is_none_or(|own| own == org)
}

/// [`visible`] as the read models apply it: rows of the principal's region and, for
/// providers, of the principal's organisation.
pub fn tenancy(principal: &Principal) -> Tenancy {
    match principal.provider_org() {
        Some(org) => Tenancy::provider(principal.region().clone(), org.clone()),
        None => Tenancy::region(principal.region().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_tokens_are_read() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn reading_the_audit_trail_is_for_the_regions_roles_and_auditors() {
        let admitted: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|role| ReadAudit::admits(*role))
            .collect();
        assert_eq!(
            admitted,
            [
                Role::Officer,
                Role::RegionIt,
                Role::Auditor,
                Role::Integration
            ]
        );
        assert!(Role::ALL.into_iter().all(Read::admits));
        let managing: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|role| ManageWebhooks::admits(*role))
            .collect();
        assert_eq!(managing, [Role::RegionIt, Role::Integration]);
        assert_eq!(Decide::name(), "decide");
    }

    #[test]
    fn providers_see_only_their_organisation_and_everyone_only_their_region() {
        let region = RegionId::parse("dalarna").unwrap();
        let org = OrgNumber::parse("556036-0793").unwrap();
        let other_org = OrgNumber::parse("232100-0180").unwrap();
        let officer = Principal::from_claims("o", "officer", "dalarna", None).unwrap();
        let provider =
            Principal::from_claims("p", "provider", "dalarna", Some("556036-0793")).unwrap();
        let foreign = Principal::from_claims("f", "officer", "varmland", None).unwrap();
        assert!(visible(&officer, &region, &other_org));
        assert!(visible(&provider, &region, &org));
        assert!(!visible(&provider, &region, &other_org));
        assert!(!visible(&foreign, &region, &org));
        assert_eq!(tenancy(&officer), Tenancy::region(region.clone()));
        assert_eq!(tenancy(&provider), Tenancy::provider(region, org));
    }
}
