//! The HTTP edge: what every request and answer passes through, whatever the route.
//!
//! * **Logs** name a request by its method (one of the known ones, else `other`), its route
//!   template and its path, never its query string (a token sent as `?access_token=` would be
//!   written in full), its headers or its body: [`RootSpan`] replaces the default root span of
//!   `tracing-actix-web`, which records the whole target.
//! * **Metric labels** are bounded the same way: [`method_label`] and the route template (one
//!   `unmatched` label for every path no route matched), so made-up methods and paths add no
//!   series.
//! * **The request head** (request line and headers) is limited to
//!   `limits.max_request_header_bytes`; a larger one gets 431
//!   `request_header_fields_too_large` as problem+json before any handler or token check. Heads
//!   over 128 KiB or with more than 96 headers, and requests the HTTP layer cannot parse (a
//!   header line without a colon, say), are refused by actix-http's dispatcher itself with an
//!   empty 431 or 400 and a closed connection: it answers those before any service or
//!   middleware runs, and offers no hook to shape the body (`HttpServer` has no setting for
//!   the head's size either). A reverse proxy in front, with smaller limits, answers them
//!   first.
//! * **Every answer** carries `X-Content-Type-Options: nosniff` and, unless its handler chose
//!   another, `Cache-Control: no-store` (any answer under `/v1` may carry personal data, and
//!   an error body names what was asked for).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";
/// The longest path a log line carries, in bytes.
const MAX_LOGGED_PATH: usize = 256;

/// The method as a metric label or log field: the methods HTTP defines, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The path for a log line: without the query string, cut at [`MAX_LOGGED_PATH`] bytes.
pub fn logged_path(path: &str) -> &str {
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// The root span of every request: method label, route template, path (no query), client
/// address, request id; status and error are recorded at the end.
#[derive(Debug, Clone, Copy)]
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| UNMATCHED.to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let client = request
            .peer_addr()
            .map(|peer| peer.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = method_label(request.method()),
            http.route = %route,
            http.target = %logged_path(request.path()),
            http.client_ip = %client,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The size of the request head as received: request line and every header line.
pub fn head_size(request: &ServiceRequest) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len())
        + 12;
    request.headers().iter().fold(line, |size, (name, value)| {
        size + name.as_str().len() + value.len() + 4
    })
}

/// `nosniff` on every answer; `no-store` unless the handler chose a cache policy.
pub fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes("X".repeat(200).as_bytes()).unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
            "other"
        );
    }

    #[test]
    fn logged_paths_are_cut_on_a_character_boundary() {
        assert_eq!(logged_path("/v1/cases"), "/v1/cases");
        let long = format!("/{}", "ö".repeat(300));
        let cut = logged_path(&long);
        assert!(cut.len() <= MAX_LOGGED_PATH && long.starts_with(cut));
    }

    #[test]
    fn every_answer_gets_nosniff_and_no_store_unless_it_chose_a_cache_policy() {
        let mut headers = HeaderMap::new();
        secure_headers(&mut headers);
        assert_eq!(
            headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        let mut cached = HeaderMap::new();
        cached.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        secure_headers(&mut cached);
        assert_eq!(cached.get(header::CACHE_CONTROL).unwrap(), "max-age=60");
    }
}
