//! The read-only dashboard in the browser: `/` and everything under `/dashboard/`.
//!
//! * **A static shell and one script.** `GET /` answers the shell (server-rendered HTML, no
//!   data: navigation, the sign-in form, an empty `main`); `/dashboard/app.js` and
//!   `/dashboard/app.css` are compiled into the binary (`include_str!`). The script keeps the
//!   bearer token in a variable (never in `localStorage`, `sessionStorage` or a cookie) and
//!   fetches the views as HTML fragments with `Authorization: Bearer`.
//! * **The views** (`views`) are server-rendered fragments under `/dashboard/views/...`: each
//!   handler takes `Authorized<authz::Read>` and reads the read models with the tenancy of
//!   `authz::tenancy`, turns the rows into the API's own views (`dto::read_models`, which
//!   apply `domain::disclosure` for the caller's role) and renders those. A fragment shows
//!   nothing the JSON read model would not show the same caller. Charts are SVG drawn on
//!   the server (`chart`); every value is escaped by maud.
//! * **Sign-in.** With the development key (no `auth.jwks_*`, not production), the shell
//!   offers the roles of `anslut token`, and `POST /dashboard/dev-token` mints one; with any
//!   other configuration that endpoint answers 404. With `auth.oidc_issuer` and
//!   `auth.oidc_client_id`, the shell signs in at the issuer (authorization code with PKCE in
//!   a pop-up window; `/dashboard/callback` hands the code back to the opener).
//! * **Content-Security-Policy** on every answer here ([`Dashboard::csp`]): `default-src
//!   'none'`, scripts, styles, images and fetches from this origin only (plus the OpenID
//!   issuer's origin for fetches), no inline script or style, no framing.
//!
//! Errors of the views are the API's problems (RFC 9457, JSON): the script shows their title.

mod chart;
mod i18n;
mod views;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpRequest, HttpResponse, web};
use domain::Role;
use domain::catalogue::CatalogueRegistry;
use maud::{DOCTYPE, Markup, html};
use serde::{Deserialize, Serialize};

use crate::auth::dev::{DevKey, TokenSpec};
use crate::config::{AuthSettings, Settings};
use crate::extract::JsonBody;
use crate::problem::{ApiError, FieldError};

pub use i18n::Lang;

/// The script and the style sheet, compiled in.
const APP_JS: &str = include_str!("assets/app.js");
const CALLBACK_JS: &str = include_str!("assets/callback.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// How long a development token minted for the dashboard lives.
const DEV_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// The roles `anslut token` mints, in the order the sign-in form offers them.
const ROLES: [Role; 6] = [
    Role::Officer,
    Role::RegionIt,
    Role::Provider,
    Role::Auditor,
    Role::Dashboard,
    Role::Integration,
];

/// How the dashboard signs in, and the policy its answers carry.
pub struct Dashboard {
    sign_in: SignIn,
    /// The `Content-Security-Policy` of every dashboard answer.
    csp: HeaderValue,
    /// The regions of the embedded catalogues (id, name), for the development sign-in.
    regions: Vec<(String, String)>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

enum SignIn {
    /// The server verifies tokens with its development key: the dashboard mints them too.
    Development {
        key: DevKey,
        issuer: String,
        audience: String,
    },
    /// An OpenID Connect issuer: authorization code with PKCE.
    Oidc { issuer: String, client_id: String },
    /// Verification keys without an issuer to sign in at: the dashboard cannot sign in.
    Unavailable,
}

/// Checks the OpenID Connect settings: both or neither; `https://` (in development also
/// `http://` on a loopback address, for tests).
pub fn validate_oidc(auth: &AuthSettings, production: bool) -> Result<(), String> {
    match (&auth.oidc_issuer, &auth.oidc_client_id) {
        (None, None) => Ok(()),
        (Some(issuer), Some(client_id)) => {
            if client_id.trim().is_empty() {
                return Err("auth.oidc_client_id is empty".into());
            }
            origin_of(issuer, production).map(|_| ())
        }
        _ => Err("configure both auth.oidc_issuer and auth.oidc_client_id, or neither".into()),
    }
}

/// The origin (`scheme://host[:port]`) of an issuer URL, for `connect-src`.
fn origin_of(issuer: &str, production: bool) -> Result<String, String> {
    let url =
        reqwest::Url::parse(issuer).map_err(|_| "auth.oidc_issuer is not a URL".to_owned())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let allowed = url.scheme() == "https" || (url.scheme() == "http" && loopback && !production);
    if !allowed {
        return Err("auth.oidc_issuer must be an https:// URL".into());
    }
    let origin = url.origin().ascii_serialization();
    if origin == "null" {
        return Err("auth.oidc_issuer has no origin".into());
    }
    Ok(origin)
}

impl Dashboard {
    /// The dashboard of a server with these settings: development sign-in exactly when the
    /// server verifies tokens with its development key.
    pub fn new(settings: &Settings, catalogues: &CatalogueRegistry) -> std::io::Result<Self> {
        let auth = &settings.auth;
        let mut connect = "'self'".to_owned();
        let sign_in = if let (Some(issuer), Some(client_id)) =
            (&auth.oidc_issuer, &auth.oidc_client_id)
        {
            let origin =
                origin_of(issuer, settings.is_production()).map_err(std::io::Error::other)?;
            connect = format!("'self' {origin}");
            SignIn::Oidc {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id: client_id.clone(),
            }
        } else if auth.jwks_file.is_none() && auth.jwks_url.is_none() && !settings.is_production() {
            let (key, _) = DevKey::load(auth.dev_signing_key.as_ref(), &settings.data_dir)?;
            SignIn::Development {
                key,
                issuer: auth.issuer.clone(),
                audience: auth.audience.clone(),
            }
        } else {
            SignIn::Unavailable
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        let mut regions: Vec<(String, String)> = catalogues
            .all()
            .iter()
            .map(|c| (c.region.to_string(), c.region_name.clone()))
            .collect();
        regions.sort();
        regions.dedup_by(|a, b| a.0 == b.0);
        Ok(Self {
            sign_in,
            csp: HeaderValue::from_str(&csp).map_err(std::io::Error::other)?,
            regions,
        })
    }

    /// The `Content-Security-Policy` every dashboard answer carries.
    pub fn csp(&self) -> &HeaderValue {
        &self.csp
    }
}

/// Mounts `/` and `/dashboard/...` (not in the OpenAPI document: they are the browser's, not
/// the API's).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .wrap(from_fn(policy))
            .route(web::get().to(shell)),
    )
    .service(
        web::scope("/dashboard")
            .wrap(from_fn(policy))
            .route("/app.js", web::get().to(app_js))
            .route("/callback.js", web::get().to(callback_js))
            .route("/app.css", web::get().to(app_css))
            .route("/favicon.svg", web::get().to(favicon))
            .route("/callback", web::get().to(callback))
            .route("/dev-token", web::post().to(dev_token))
            .configure(views::configure),
    );
}

/// Adds the dashboard's headers to every answer under it, errors included.
async fn policy(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let csp = req
        .app_data::<web::Data<Dashboard>>()
        .map(|dashboard| dashboard.csp().clone());
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if let Some(csp) = csp {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn callback_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CALLBACK_JS)
}

async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn favicon() -> HttpResponse {
    asset("image/svg+xml", FAVICON_SVG)
}

/// An HTML answer.
pub(crate) fn html_response(markup: &Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(markup.0.clone())
}

#[derive(Debug, Deserialize)]
struct ShellQuery {
    lang: Option<String>,
}

/// The language of the shell: `?lang=sv|en`, else the first of `Accept-Language` that is
/// one of them, else Swedish.
fn shell_lang(req: &HttpRequest, query: &ShellQuery) -> Lang {
    if let Some(lang) = query.lang.as_deref().and_then(Lang::parse) {
        return lang;
    }
    req.headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .split(',')
                .filter_map(|tag| tag.split(';').next())
                .find_map(|tag| Lang::parse(tag.trim().split('-').next().unwrap_or_default()))
        })
        .unwrap_or_default()
}

/// `GET /`: the shell.
async fn shell(
    req: HttpRequest,
    dashboard: web::Data<Dashboard>,
    query: web::Query<ShellQuery>,
) -> HttpResponse {
    let lang = shell_lang(&req, &query);
    html_response(&shell_markup(&dashboard, lang))
}

fn shell_markup(dashboard: &Dashboard, lang: Lang) -> Markup {
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let (mode, issuer, client) = match &dashboard.sign_in {
        SignIn::Development { .. } => ("development", "", ""),
        SignIn::Oidc { issuer, client_id } => ("oidc", issuer.as_str(), client_id.as_str()),
        SignIn::Unavailable => ("none", "", ""),
    };
    let other = match lang {
        Lang::Sv => Lang::En,
        Lang::En => Lang::Sv,
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Anslut – " (t("översikt", "dashboard")) }
                link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/dashboard/app.css";
                script type="module" src="/dashboard/app.js" {}
            }
            body data-auth=(mode) data-oidc-issuer=(issuer) data-oidc-client=(client) {
                a.skip href="#main" { (t("Hoppa till innehållet", "Skip to content")) }
                header.top {
                    p.brand { "Anslut" }
                    nav #nav aria-label=(t("Vyer", "Views")) hidden {
                        ul {
                            li { a href="#/pipeline" { (t("Flöde", "Pipeline")) } }
                            li { a href="#/cases" { (t("Ärenden", "Cases")) } }
                            li { a href="#/findings" { (t("Brister", "Findings")) } }
                            li { a href="#/incidents" { (t("Incidenter", "Incidents")) } }
                            li { a href="#/compliance" { (t("Efterlevnad", "Compliance")) } }
                            li { a href="#/staff" { (t("Förbindelser", "Commitments")) } }
                            li { a href="#/costs" { (t("Kostnader", "Costs")) } }
                        }
                    }
                    div.session {
                        span #who aria-live="polite" {}
                        button #signout type="button" hidden { (t("Logga ut", "Sign out")) }
                        a #lang-switch href={ "/?lang=" (other.code()) } lang=(other.code()) data-lang=(other.code()) {
                            (other.pick("Svenska", "English"))
                        }
                    }
                }
                section #signin aria-labelledby="signin-title" {
                    h1 #signin-title { (t("Logga in", "Sign in")) }
                    @match &dashboard.sign_in {
                        SignIn::Development { .. } => {
                            p { (t(
                                "Utvecklingsläge: servern signerar sina egna token. Välj en roll som med `anslut token`.",
                                "Development mode: the server signs its own tokens. Choose a role as with `anslut token`."
                            )) }
                            form #dev-signin {
                                div.field {
                                    label for="role" { (t("Roll", "Role")) }
                                    select #role name="role" {
                                        @for role in ROLES {
                                            option value=(role.as_str()) { (i18n::role(lang, role)) }
                                        }
                                    }
                                }
                                div.field {
                                    label for="region" { (t("Region", "Region")) }
                                    select #region name="region" {
                                        @for (id, name) in &dashboard.regions {
                                            option value=(id) { (name) }
                                        }
                                    }
                                }
                                div.field {
                                    label for="org" { (t("Organisationsnummer (vårdgivare)", "Organisation number (providers)")) }
                                    input #org name="org" type="text" inputmode="numeric" autocomplete="off" placeholder="556677-8899";
                                }
                                button type="submit" { (t("Logga in", "Sign in")) }
                            }
                        }
                        SignIn::Oidc { .. } => {
                            p { (t("Logga in hos regionens identitetsleverantör.", "Sign in at the region's identity provider.")) }
                            button #oidc-signin type="button" { (t("Logga in", "Sign in")) }
                        }
                        SignIn::Unavailable => {
                            p { (t(
                                "Inloggning är inte konfigurerad: ange auth.oidc_issuer och auth.oidc_client_id.",
                                "Sign-in is not configured: set auth.oidc_issuer and auth.oidc_client_id."
                            )) }
                        }
                    }
                    p #signin-error.error role="alert" {}
                }
                main #main tabindex="-1" {}
            }
        }
    }
}

/// `GET /dashboard/callback`: where the issuer sends the browser back; its script hands the
/// query (code and state) to the window that opened it, and closes.
async fn callback() -> HttpResponse {
    html_response(&html! {
        (DOCTYPE)
        html lang="sv" {
            head {
                meta charset="utf-8";
                title { "Anslut" }
                script type="module" src="/dashboard/callback.js" {}
            }
            body { p { "…" } }
        }
    })
}

/// What the development sign-in asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    role: String,
    region: String,
    #[serde(default)]
    org: Option<String>,
}

#[derive(Debug, Serialize)]
struct DevTokenView {
    token: String,
    role: String,
    region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    expires_in: u64,
}

fn bad_field(path: &str, message: &str) -> ApiError {
    ApiError::invalid_body(&[FieldError {
        path: path.to_owned(),
        message: message.to_owned(),
    }])
}

/// `POST /dashboard/dev-token`: a development token for a role, region and organisation,
/// as `anslut token` mints it. Only while the server verifies with its development key (never
/// in production, never with `auth.jwks_*`): otherwise 404, as if it did not exist.
async fn dev_token(
    dashboard: web::Data<Dashboard>,
    body: JsonBody<DevTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let SignIn::Development {
        key,
        issuer,
        audience,
    } = &dashboard.sign_in
    else {
        return Err(ApiError::no_route());
    };
    let request = body.value;
    let role = Role::parse(&request.role).ok_or_else(|| bad_field("role", "unknown role"))?;
    let region = domain::ids::RegionId::parse(&request.region)
        .map_err(|_| bad_field("region", "not a region id"))?;
    let org = match (role, request.org.as_deref().map(str::trim)) {
        (Role::Provider, Some(org)) if !org.is_empty() => Some(
            domain::identity::OrgNumber::parse(org)
                .map_err(|_| bad_field("org", "not an organisationsnummer"))?
                .to_string(),
        ),
        (Role::Provider, _) => {
            return Err(bad_field(
                "org",
                "a provider token needs the organisationsnummer",
            ));
        }
        _ => None,
    };
    let spec = TokenSpec {
        subject: format!("dev-{}", role.as_str()),
        role: role.as_str().to_owned(),
        region: region.to_string(),
        org: org.clone(),
        issuer: issuer.clone(),
        audience: audience.clone(),
        ttl: DEV_TOKEN_TTL,
    };
    let token = key.mint(&spec).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(DevTokenView {
        token,
        role: spec.role,
        region: spec.region,
        org,
        expires_in: DEV_TOKEN_TTL.as_secs(),
    }))
}
