//! The HTTP resources. Every handler names its permission in its signature
//! (`Authorized<...>`) and carries `#[utoipa::path]` with summary, description, security,
//! examples and every problem it can answer.

pub mod audit;
pub mod cases;
pub mod catalogues;
pub mod commands;
pub mod feed;
pub mod history;
pub mod incidents;
pub mod ops;
pub mod privacy;
pub mod read_models;
pub mod webhooks;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::UtoipaApp;

use crate::problem::ApiError;

/// Registers every documented resource.
pub fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = Error,
            InitError = (),
        >,
{
    let app = cases::register(app);
    let app = incidents::register(app);
    let app = commands::register(app);
    let app = audit::register(app);
    let app = read_models::register(app);
    let app = webhooks::register(app);
    let app = privacy::register(app);
    catalogues::register(app)
        .service(feed::feed)
        .service(audit::checkpoint_key)
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
}

/// The documented routes, for telling a wrong method (405 with `Allow`) from an unknown
/// path (404) in the fallback handler.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods = Vec::new();
                if item.get.is_some() {
                    methods.push("GET");
                }
                if item.post.is_some() {
                    methods.push("POST");
                }
                if item.put.is_some() {
                    methods.push("PUT");
                }
                if item.delete.is_some() {
                    methods.push("DELETE");
                }
                if item.patch.is_some() {
                    methods.push("PATCH");
                }
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods the resource at `path` answers, if a documented route matches it.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let wanted: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<&'static str> =
            self.routes
                .iter()
                .filter(|(segments, _)| {
                    segments.len() == wanted.len()
                        && segments.iter().zip(&wanted).all(|(template, actual)| {
                            template.starts_with('{') || template == actual
                        })
                })
                .flat_map(|(_, methods)| methods.iter().copied())
                .collect();
        allowed.sort_unstable();
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}

/// Every request no route answers: 405 with `Allow` when the path exists, else 404.
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let error = match table.allowed(req.path()) {
        Some(methods) if !methods.contains(&req.method().as_str()) => {
            ApiError::method_not_allowed(&methods.join(", "))
        }
        _ => ApiError::no_route(),
    };
    error.error_response()
}
