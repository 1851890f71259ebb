//! Strict extractors. Every failure becomes the same problem+json as every other error:
//! a body that is not JSON (415), too large (413), not received in time (408), malformed or
//! of the wrong shape (400 `invalid_body` with the JSON path), bad path or query values (400
//! `invalid_path`, `invalid_query`) and bad precondition headers (400 `invalid_header`).
//!
//! Messages name the place and the kind of problem, never the value sent: a personnummer in
//! the wrong field must not come back in an error body or a log line.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use uuid::Uuid;

use crate::config::DEFAULT_BODY_LIMIT;
use crate::problem::{ApiError, FieldError, ProblemCode};
use crate::state::AppState;

/// A JSON request body, parsed strictly, with its bytes (for the idempotency fingerprint).
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: T,
    pub bytes: Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, timeout) = req
            .app_data::<web::Data<AppState>>()
            .map_or((DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT), |state| {
                (state.body_limit, state.body_timeout)
            });
        let is_json = req.mime_type().ok().flatten().is_some_and(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        });
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::unsupported_media_type());
            }
            if declared_length.is_some_and(|length| length > limit) {
                return Err(ApiError::payload_too_large(limit));
            }
            let bytes = read_body(&mut payload, limit, timeout).await?;
            let value = parse_json(&bytes)?;
            Ok(Self { value, bytes })
        })
    }
}

/// How long reading a body may take when the state does not say (30 s, the default of
/// `request_body_timeout_milliseconds`).
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole body, refusing it once it exceeds `limit` bytes (413) or has not ended
/// within `timeout` (408). Without the deadline, a client that stops mid-body would hold
/// its connection and this request open forever: the HTTP server's own timeout covers the
/// headers alone.
async fn read_body(
    payload: &mut Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    tokio::time::timeout(timeout, read_body_unbounded(payload, limit))
        .await
        .map_err(|_| ApiError::request_timeout())?
}

async fn read_body_unbounded(payload: &mut Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::invalid_body(&[FieldError {
                path: String::new(),
                message: "the body could not be read".into(),
            }])
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses JSON strictly: the path of the first problem, and no trailing data.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ApiError::invalid_body(&[FieldError {
            path,
            message: describe_json_error(error.inner()),
        }])
    })?;
    deserializer.end().map_err(|error| {
        ApiError::invalid_body(&[FieldError {
            path: String::new(),
            message: describe_json_error(&error),
        }])
    })?;
    Ok(value)
}

/// serde_json's message without its position suffix and without any value it quotes.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax => format!(
            "malformed JSON at line {}, column {}",
            error.line(),
            error.column()
        ),
        Category::Eof => "the JSON ends too early".into(),
        Category::Io => "the body could not be read".into(),
        Category::Data => {
            let message = error.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(head, _)| head);
            without_values(message)
        }
    }
}

/// Removes quoted values from a serde message. Field names stay for unknown, missing and
/// duplicate fields (they are the client's keys, not its values); every other quoted text
/// (`invalid type: string "..."`, `integer `8112189876``, an unknown variant) goes.
pub fn without_values(message: &str) -> String {
    let keeps_names = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if keeps_names {
        return message.to_owned();
    }
    // What follows ", expected" names types or variants; what precedes it may quote a value.
    let (head, tail) = message
        .find(", expected")
        .map_or((message, ""), |at| message.split_at(at));
    let strip = |text: &str| {
        let mut out = String::with_capacity(text.len());
        let mut quote: Option<char> = None;
        for c in text.chars() {
            match quote {
                Some(open) if c == open => quote = None,
                Some(_) => {}
                None if c == '"' || c == '`' => quote = Some(c),
                None => out.push(c),
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let tail = if tail.contains('"') {
        strip(tail)
    } else {
        tail.to_owned()
    };
    format!("{}{tail}", strip(head))
}

/// 400 `invalid_path` for a path parameter that does not parse.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature PathConfig::error_handler takes"
)]
pub fn path_error(error: PathError, _: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        PathError::Deserialize(inner) => without_values(&inner.to_string()),
        _ => "the path is not valid".to_owned(),
    };
    ApiError::invalid(
        ProblemCode::InvalidPath,
        format!("a path parameter is not valid: {message}"),
        &[FieldError {
            path: "path".into(),
            message,
        }],
    )
    .into()
}

/// 400 `invalid_query` for a query string that does not parse.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature QueryConfig::error_handler takes"
)]
pub fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        QueryPayloadError::Deserialize(inner) => without_values(&inner.to_string()),
        _ => "the query string is not valid".to_owned(),
    };
    ApiError::invalid(
        ProblemCode::InvalidQuery,
        format!("the query is not valid: {message}"),
        &[FieldError {
            path: "query".into(),
            message,
        }],
    )
    .into()
}

/// The `If-Match` precondition of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: whatever the current version.
    Any,
    /// A list of entity tags: the versions its strong tags name (`"<version>"`, as `ETag`
    /// gives them). Weak tags and tags of another form are well formed but name no version:
    /// strong comparison never matches them (RFC 9110 §13.1.1), so they fail with 412, not 400.
    Versions(Vec<u64>),
}

/// What `If-Match` accepts, as the spec's `pattern`: `*`, or a comma-separated list of entity
/// tags (RFC 9110 §8.8.3: optionally `W/`, then visible ASCII but `"` in quotes). Exactly what
/// [`IfMatch::parse`] accepts; only the tags an `ETag` header gave can match.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)$"#;

/// One strong ETag of ours, `"<version>"`: the digits of a version, without sign or leading
/// zeros (strong comparison is by octets: `"07"` is not the tag `"7"`).
fn version_of(opaque: &str) -> Option<u64> {
    let canonical = !opaque.is_empty()
        && opaque.bytes().all(|b| b.is_ascii_digit())
        && (opaque == "0" || !opaque.starts_with('0'));
    canonical.then(|| opaque.parse().ok()).flatten()
}

/// The entity tags of a list (RFC 9110 `1#entity-tag`), each as (weak, opaque text), or
/// `None` when the list is malformed. No empty elements.
fn entity_tags(list: &str) -> Option<Vec<(bool, &str)>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (weak, tagged) = match rest.strip_prefix("W/") {
            Some(tagged) => (true, tagged),
            None => (false, rest),
        };
        let quoted = tagged.strip_prefix('"')?;
        let end = quoted.find('"')?;
        let opaque = &quoted[..end];
        if !opaque
            .bytes()
            .all(|b| b == b'!' || (b'#'..=b'~').contains(&b))
        {
            return None;
        }
        tags.push((weak, opaque));
        rest = quoted[end + 1..].trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Some(tags);
        }
        rest = rest.strip_prefix(',')?;
    }
}

impl IfMatch {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let raw = raw.trim_matches([' ', '\t']);
        if raw == "*" {
            return Ok(Self::Any);
        }
        let tags = entity_tags(raw).ok_or_else(|| {
            ApiError::invalid_header(
                "If-Match",
                "must be * or a list of entity tags as given in ETag headers, e.g. \"7\"",
            )
        })?;
        Ok(Self::Versions(
            tags.into_iter()
                .filter(|(weak, _)| !weak)
                .filter_map(|(_, opaque)| version_of(opaque))
                .collect(),
        ))
    }

    pub fn admits(&self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&current),
        }
    }
}

/// The headers a command may carry: `If-Match` and `Idempotency-Key`.
#[derive(Debug, Clone, Default)]
pub struct CommandHeaders {
    pub if_match: Option<IfMatch>,
    pub idempotency_key: Option<String>,
}

/// The longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// What `Idempotency-Key` accepts, as the spec's `pattern`: printable ASCII (spaces inside
/// only, as HTTP trims the ends), either a bare key of 1 to 255 characters or a structured-field
/// string, `"..."`, whose 1 to 255 characters inside are the key. Exactly what
/// [`CommandHeaders`] accepts: a bare key may begin or end with `"` as long as it is not both.
pub const IDEMPOTENCY_KEY_PATTERN: &str =
    r#"^([!-~]|[!#-~][ -~]{0,253}[!-~]|"[ -~]{0,253}[!#-~]|"[ -~]{1,255}")$"#;

/// The longest `Idempotency-Key` header value: a key of 255 characters in quotes.
pub const MAX_IDEMPOTENCY_KEY_HEADER_LEN: usize = MAX_IDEMPOTENCY_KEY_LEN + 2;

impl CommandHeaders {
    fn read(req: &HttpRequest) -> Result<Self, ApiError> {
        let text = |name: &'static str| -> Result<Option<&str>, ApiError> {
            req.headers()
                .get(name)
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| ApiError::invalid_header(name, "must be visible ASCII"))
                })
                .transpose()
        };
        let if_match = text("If-Match")?.map(IfMatch::parse).transpose()?;
        let idempotency_key = text("Idempotency-Key")?
            .map(|raw| {
                let raw = raw.trim_matches([' ', '\t']);
                // A structured-field string ("...") or a bare token.
                let key = raw
                    .strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .unwrap_or(raw);
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                    Err(ApiError::invalid_header(
                        "Idempotency-Key",
                        format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"),
                    ))
                } else if key.chars().any(|c| !c.is_ascii_graphic() && c != ' ') {
                    Err(ApiError::invalid_header(
                        "Idempotency-Key",
                        "must be printable ASCII",
                    ))
                } else {
                    Ok(key.to_owned())
                }
            })
            .transpose()?;
        Ok(Self {
            if_match,
            idempotency_key,
        })
    }
}

impl FromRequest for CommandHeaders {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::read(req))
    }
}

/// Facts about the request the pipeline records: its id (the correlation id of the events),
/// method, path and route template.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: Uuid,
    pub method: String,
    pub path: String,
    pub route: String,
}

impl RequestContext {
    /// HMAC-SHA256 over method, path and body: what makes two requests "the same" for
    /// `Idempotency-Key`. Keyed with a server secret ([`crate::application::subjects::SubjectIds::
    /// fingerprint_key`]) because the fingerprint is stored in clear with the events and a
    /// body holding a personnummer could otherwise be found by hashing every personnummer.
    pub fn fingerprint(&self, key: &[u8], body: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return String::new();
        };
        mac.update(self.method.as_bytes());
        mac.update(&[0]);
        mac.update(self.path.as_bytes());
        mac.update(&[0]);
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

impl FromRequest for RequestContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map_or_else(Uuid::now_v7, |id| **id);
        ready(Ok(Self {
            request_id,
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
            route: req.match_pattern().unwrap_or_else(|| req.path().to_owned()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Chunk = Result<Bytes, actix_web::error::PayloadError>;

    fn payload(stream: impl futures_util::Stream<Item = Chunk> + 'static) -> Payload {
        let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = Chunk>>> = Box::pin(stream);
        Payload::from(boxed)
    }

    /// A body whose first bytes arrive and then nothing more, ever.
    fn stalled_body() -> Payload {
        let first = futures_util::stream::once(async { Ok(Bytes::from_static(b"{\"prog")) });
        payload(first.chain(futures_util::stream::pending()))
    }

    #[actix_web::test]
    async fn a_body_that_stalls_is_refused_with_408_when_its_time_is_up() {
        let timeout = std::time::Duration::from_millis(50);
        let started = std::time::Instant::now();
        let refused = read_body(&mut stalled_body(), 1024, timeout)
            .await
            .expect_err("a stalled body never completes");
        assert_eq!(refused.status().as_u16(), 408);
        assert_eq!(refused.code(), "request_timeout");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[actix_web::test]
    async fn a_complete_body_is_read_within_its_time_and_limit() {
        let timeout = std::time::Duration::from_secs(5);
        let chunks: [Chunk; 2] = [Ok(Bytes::from_static(b"{}")), Ok(Bytes::from_static(b" "))];
        let mut complete = payload(futures_util::stream::iter(chunks));
        let bytes = read_body(&mut complete, 3, timeout).await.unwrap();
        assert_eq!(&bytes[..], b"{} ");
        let chunks: [Chunk; 1] = [Ok(Bytes::from_static(b"[1, 2]"))];
        let mut too_long = payload(futures_util::stream::iter(chunks));
        let refused = read_body(&mut too_long, 3, timeout).await.unwrap_err();
        assert_eq!(refused.code(), "payload_too_large");
    }

    #[test]
    fn messages_keep_field_names_and_drop_values() {
        assert_eq!(
            without_values("invalid type: string \"811218-9876\", expected u32"),
            "invalid type: string, expected u32"
        );
        assert_eq!(
            without_values("invalid type: integer `8112189876`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            without_values("unknown field `colour`, expected one of `name`, `email`"),
            "unknown field `colour`, expected one of `name`, `email`"
        );
        assert_eq!(
            without_values("unknown variant `boss`, expected one of `officer`, `provider`"),
            "unknown variant, expected one of `officer`, `provider`"
        );
    }

    /// Whether `value` is one the spec's `pattern` (and `maxLength`) admits.
    fn admitted(pattern: &str, max_len: usize, value: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(value) && value.chars().count() <= max_len
    }

    fn header_request(name: &str, value: &str) -> HttpRequest {
        actix_web::test::TestRequest::default()
            .insert_header((name, value))
            .to_http_request()
    }

    #[test]
    fn the_spec_admits_exactly_the_if_match_values_accepted() {
        let values = [
            "*",
            "\"0\"",
            "\"7\"",
            "\"7\", \"8\"",
            "\"7\",\"8\"",
            "\"7\"\t,\t\"8\"",
            "\"18446744073709551616\"",
            "\"007\"",
            "\"+7\"",
            "W/\"7\"",
            "\"\"",
            "\"a,b\"",
            "W/\"\", \"7\"",
            "\"{\"",
            "7",
            "w/\"7\"",
            "\"7\",",
            ",\"7\"",
            "\"7\" \"8\"",
            "*, \"7\"",
            "**",
            "\"7 \"",
            "\"",
            "\"7\"\"",
        ];
        for value in values {
            let accepted = CommandHeaders::read(&header_request("If-Match", value)).is_ok();
            assert_eq!(
                admitted(IF_MATCH_PATTERN, usize::MAX, value),
                accepted,
                "If-Match {value:?}"
            );
        }
    }

    #[test]
    fn the_spec_admits_exactly_the_idempotency_keys_accepted() {
        let long = |n: usize| "k".repeat(n);
        let values = [
            "k".to_owned(),
            "\"".to_owned(),
            "\"\"".to_owned(),
            "\" \"".to_owned(),
            "\"k\"".to_owned(),
            "\"k".to_owned(),
            "k\"".to_owned(),
            "a\"b\"c".to_owned(),
            "two words".to_owned(),
            "tab\tinside".to_owned(),
            "~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}".to_owned(),
            long(255),
            long(256),
            format!("\"{}\"", long(255)),
            format!("\"{}\"", long(256)),
            format!("\"{}", long(254)),
            format!("\"{}", long(255)),
        ];
        for value in &values {
            let accepted = CommandHeaders::read(&header_request("Idempotency-Key", value)).is_ok();
            assert_eq!(
                admitted(
                    IDEMPOTENCY_KEY_PATTERN,
                    MAX_IDEMPOTENCY_KEY_HEADER_LEN,
                    value
                ),
                accepted,
                "Idempotency-Key {value:?}"
            );
        }
    }

    #[test]
    fn if_match_takes_star_or_strong_etags() {
        assert_eq!(IfMatch::parse("*").unwrap(), IfMatch::Any);
        assert_eq!(
            IfMatch::parse("\"3\", \"4\"").unwrap(),
            IfMatch::Versions(vec![3, 4])
        );
        assert!(IfMatch::parse("3").is_err());
        assert!(IfMatch::parse("").is_err());
        // Well formed, but strong comparison is by octets and never matches a weak tag: these
        // name no version this server gave, so the precondition fails (412), it is not malformed.
        for never in ["W/\"3\"", "\"03\"", "\"+3\"", "\"abc\"", "\"\""] {
            let parsed = IfMatch::parse(never).unwrap();
            assert!(!parsed.admits(3), "{never}");
        }
        assert!(IfMatch::parse("W/\"3\", \"4\"").unwrap().admits(4));
    }

    #[test]
    fn body_problems_name_the_json_path() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(
            dead_code,
            reason = "the fields exist to be rejected or accepted by deserialisation, never read"
        )]
        struct Inner {
            count: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(
            dead_code,
            reason = "the fields exist to be rejected or accepted by deserialisation, never read"
        )]
        struct Outer {
            items: Vec<Inner>,
        }
        let error =
            parse_json::<Outer>(br#"{"items": [{"count": 1}, {"count": "x"}]}"#).unwrap_err();
        assert_eq!(error.code(), "invalid_body");
        assert!(error.to_string().contains("items[1].count"), "{error}");
        assert!(!error.to_string().contains("\"x\""), "{error}");
    }
}
