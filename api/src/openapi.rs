//! The OpenAPI 3.1 document: collected from the handlers' `#[utoipa::path]` attributes as they
//! are registered (`utoipa-actix-web`), on top of [`spec_base`]: info, the bearer security scheme,
//! tags, the `Problem` schema and one reusable response, with an example, per problem status.
//!
//! Committed at `openapi/openapi.json`; regenerate with
//! `cargo run --bin anslut -- openapi > openapi/openapi.json`.

use actix_web::App;
use serde_json::json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Response,
    ResponseBuilder,
};
use utoipa::{PartialSchema, ToResponse, ToSchema};
use utoipa_actix_web::AppExt;

use crate::problem::{FieldError, PROBLEM_JSON, ProblemCode, ProblemDoc, UnmetCondition};

/// The document served at `/openapi.json` (built once at startup) and printed by `anslut
/// openapi`.
pub fn spec() -> OpenApi {
    let (_, mut api) = crate::routes::register(App::new().into_utoipa_app().openapi(spec_base()))
        .split_for_parts();
    complete(&mut api);
    api
}

/// What the handlers' attributes cannot say, added to the collected document.
fn complete(api: &mut OpenApi) {
    with_rate_limits(api);
    with_command_headers(api);
    with_closed_variants(api);
    with_programmes(api);
}

/// The `programme` of a catalogue path is one of the programmes compiled in: the spec lists
/// them (`enum`), so a value it admits names a catalogue that exists.
fn with_programmes(api: &mut OpenApi) {
    use utoipa::openapi::Schema;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    let Ok(catalogues) = domain::catalogue::CatalogueRegistry::load_embedded() else {
        return;
    };
    let mut programmes: Vec<String> = catalogues
        .programmes()
        .map(|programme| programme.as_str().to_owned())
        .collect();
    programmes.sort();
    programmes.dedup();
    for operation in operations_mut(api) {
        for parameter in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter
                && matches!(parameter.parameter_in, ParameterIn::Path)
                && parameter.name == "programme"
            {
                let schema = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(programmes.clone()));
                parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
            }
        }
    }
}

/// The request enums tagged by `kind` (`MilestoneRequest`, `OrganisationalChangeRequest`,
/// `EndingRequest`) deny unknown fields like every request struct, but utoipa writes
/// `additionalProperties: false` for structs only: each variant object gets it here, so that
/// the schema does not admit a field the server refuses.
fn with_closed_variants(api: &mut OpenApi) {
    use utoipa::openapi::Schema;
    use utoipa::openapi::schema::AdditionalProperties;

    let Some(components) = api.components.as_mut() else {
        return;
    };
    for (name, schema) in &mut components.schemas {
        if !name.ends_with("Request") {
            continue;
        }
        let RefOr::T(Schema::OneOf(one_of)) = schema else {
            continue;
        };
        for variant in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = variant {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Every operation's mutable methods, in a fixed order.
fn operations_mut(
    api: &mut OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    api.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// `If-Match` and `Idempotency-Key` are read by one extractor ([`crate::extract::CommandHeaders`]),
/// so their schemas come from the patterns beside it rather than from each handler: a header
/// of the value the schema admits is one the extractor accepts, and the other way round. The
/// handlers' declarations keep their descriptions.
fn with_command_headers(api: &mut OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Required, Schema};

    use crate::extract::{
        IDEMPOTENCY_KEY_PATTERN, IF_MATCH_PATTERN, MAX_IDEMPOTENCY_KEY_HEADER_LEN,
    };
    for operation in operations_mut(api) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if !matches!(parameter.parameter_in, ParameterIn::Header) {
                continue;
            }
            let schema = match parameter.name.as_str() {
                "If-Match" => ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(IF_MATCH_PATTERN))
                    .max_length(Some(MAX_IF_MATCH_LEN)),
                "Idempotency-Key" => {
                    parameter.required = Required::False;
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
                        .min_length(Some(1))
                        .max_length(Some(MAX_IDEMPOTENCY_KEY_HEADER_LEN))
                }
                _ => continue,
            };
            parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
        }
    }
}

/// The longest `If-Match` the spec admits: far more ETags than a client has reason to send,
/// far less than the request head's limit.
const MAX_IF_MATCH_LEN: usize = 1024;

/// Every operation behind a bearer token may answer 429 (a rate limit: failed authentication
/// per client address, commands and privacy per caller, the long-poll cap), so each documents
/// it once, from here rather than in every handler.
fn with_rate_limits(api: &mut OpenApi) {
    for operation in operations_mut(api) {
        let bearer = operation.security.as_ref().is_some_and(|requirements| {
            requirements.iter().any(|requirement| {
                serde_json::to_value(requirement).is_ok_and(|value| value.get("bearer").is_some())
            })
        });
        if bearer {
            operation.responses.responses.insert(
                "429".into(),
                RefOr::Ref(Ref::from_response_name("TooManyRequests")),
            );
        }
    }
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn spec_json() -> String {
    let mut text = spec()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// What the handlers' paths are added to.
fn spec_base() -> OpenApi {
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with `sub`, `iss`, `aud`, `exp`, `nbf`, `iat`, `role` (officer, \
                         region_it, provider, auditor, dashboard, integration), `region` and, for \
                         providers, `org` (organisationsnummer). Development: HS256 tokens from \
                         `anslut token`. Production: RS256, ES256 or EdDSA, verified against the \
                         configured JWKS by `kid`.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "ops",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operations token (`ops.token`, `ANSLUT_OPS__TOKEN`): opens \
                         `/metrics` and the detail of `/readyz`. Not needed on the operations \
                         listener (`ops.listen`).",
                    ))
                    .build(),
            ),
        )
        .schema(ProblemDoc::name(), ProblemDoc::schema())
        .schema(FieldError::name(), FieldError::schema())
        .schema(UnmetCondition::name(), UnmetCondition::schema());
    for (name, response) in [
        BadRequest::response(),
        Unauthorized::response(),
        Forbidden::response(),
        NotFound::response(),
        Conflict::response(),
        PreconditionFailed::response(),
        PayloadTooLarge::response(),
        UnsupportedMediaType::response(),
        Unprocessable::response(),
        OutOfRange::response(),
        PreconditionRequired::response(),
        Unavailable::response(),
        CommandUnavailable::response(),
        ProjectionLagging::response(),
        BeyondTheLog::response(),
        NotReady::response(),
        WebhookUnprocessable::response(),
        WebhookConflict::response(),
        LookupLimited::response(),
        TooManyRequests::response(),
        OpsUnauthorized::response(),
    ] {
        components = components.response(name, response);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Anslut")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The system of record for connecting private care providers to Swedish \
                     regions' IT: applications, contracts, agreements, self-declarations, final \
                     verification, go-live, incidents and catalogues.\n\nEvery error is an RFC \
                     9457 `application/problem+json` body with a stable `code`. Commands to an \
                     existing case or incident need `If-Match` with its `ETag`; every POST takes \
                     an `Idempotency-Key`. Request bodies are limited to 256 KiB by default, \
                     request lines and headers together to 32 KiB (431 \
                     `request_header_fields_too_large`). Failed authentication is limited per \
                     client address, commands and data-subject lookups per caller (429 \
                     `too_many_requests` with `Retry-After`). Every answer carries \
                     `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`.",
                ))
                .build(),
        )
        .components(Some(components.build()))
        .tags(Some(vec![
            TagBuilder::new()
                .name("cases")
                .description(Some(
                    "Connection cases (anslutningsärenden) and their commands.",
                ))
                .build(),
            TagBuilder::new()
                .name("incidents")
                .description(Some("Security incidents reported against a case."))
                .build(),
            TagBuilder::new()
                .name("commands")
                .description(Some(
                    "What became of a command: recorded (with its original answer) or not. \
                     For answers that were lost or said `outcome_unknown`.",
                ))
                .build(),
            TagBuilder::new()
                .name("audit")
                .description(Some(
                    "Tamper evidence: signed checkpoints of the Merkle tree over the log, \
                     inclusion and consistency proofs, and the key that verifies them.",
                ))
                .build(),
            TagBuilder::new()
                .name("feed")
                .description(Some(
                    "The event log in global order as CloudEvents, filtered by tenancy.",
                ))
                .build(),
            TagBuilder::new()
                .name("dashboards")
                .description(Some(
                    "Read models for dashboards and case systems: the pipeline, findings, the \
                     compliance matrix, staff commitments and costs. Lists page with cursors, \
                     answer CSV for `Accept: text/csv`, and read your writes with \
                     `min_position`.",
                ))
                .build(),
            TagBuilder::new()
                .name("privacy")
                .description(Some(
                    "Erasure of personal data: forgetting a data subject destroys its key, so                      its personal data reads as erased everywhere while the log still verifies.",
                ))
                .build(),
            TagBuilder::new()
                .name("webhooks")
                .description(Some(
                    "A region's webhook subscriptions: its events POSTed to its case systems as \
                     signed CloudEvents (Standard Webhooks), with the delivery log, redelivery \
                     and skipping.",
                ))
                .build(),
            TagBuilder::new()
                .name("catalogues")
                .description(Some(
                    "The programmes' requirement catalogues (IT appendices).",
                ))
                .build(),
            TagBuilder::new()
                .name("operations")
                .description(Some("Health, readiness and metrics."))
                .build(),
        ]))
        .build()
}

fn problem_response(description: &str, example: serde_json::Value) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ProblemDoc::name())))
                .example(Some(example))
                .build(),
        )
        .build()
        .into()
}

macro_rules! problem_responses {
    ($($name:ident, $status:literal, $code:ident, $description:literal, $example:tt;)*) => {
        $(
            #[doc = $description]
            #[derive(Debug)]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    let mut example = json!($example);
                    example["type"] = json!(format!("urn:anslut:problem:{}", ProblemCode::$code.as_str()));
                    example["status"] = json!($status);
                    example["code"] = json!(ProblemCode::$code.as_str());
                    (stringify!($name), problem_response($description, example))
                }
            }
        )*
    };
}

problem_responses! {
    BadRequest, 400, InvalidBody,
    "The request is malformed: `invalid_body` (malformed JSON, a wrong type, an unknown field or a value a parser refuses, each with its JSON path in `errors`), `invalid_path`, `invalid_query` or `invalid_header`. Values sent are never repeated.",
    {"title": "The request is malformed", "detail": "org_number: organisationsnummer has a wrong check digit", "errors": [{"path": "org_number", "message": "organisationsnummer has a wrong check digit"}]};

    Unauthorized, 401, InvalidToken,
    "No bearer token (`unauthenticated`), or one that is malformed, expired, not yet valid, for another audience or issuer, or not signed by a trusted key (`invalid_token`; `WWW-Authenticate: Bearer error=\"invalid_token\"`).",
    {"title": "The bearer token is not valid", "detail": "the token has expired"};

    Forbidden, 403, Forbidden,
    "The caller's role lacks the permission the operation needs. Checked before any resource is read, so it reveals nothing about one.",
    {"title": "The caller's role may not do this", "detail": "the role auditor lacks the permission decide"};

    NotFound, 404, NotFound,
    "No such resource, or one in another region or of another provider: both answer alike.",
    {"title": "Not found", "detail": "no case with this id is visible to the caller"};

    Conflict, 409, GoLiveBlocked,
    "The case's state does not allow the command now (the domain's `code`: `wrong_phase`, `go_live_blocked` with every unmet condition in `unmet`, `open_demands`, ...).",
    {"title": "The current state does not allow this command", "detail": "go-live is blocked: demand 1 is open", "unmet": [{"condition": "demand_open", "finding": 1, "message": "demand 1 is open"}]};

    PreconditionFailed, 412, PreconditionFailed,
    "`If-Match` names a version that is no longer current, or another command changed the resource meanwhile. The current version is in `current_version` and `ETag`.",
    {"title": "The resource has changed", "detail": "the resource is at version 7; read it again and decide anew", "current_version": 7};

    PayloadTooLarge, 413, PayloadTooLarge,
    "The body exceeds the limit (256 KiB by default, `ANSLUT_BODY_LIMIT`).",
    {"title": "The request body is too large", "detail": "request bodies are limited to 262144 bytes"};

    UnsupportedMediaType, 415, UnsupportedMediaType,
    "The body is not sent as `application/json`.",
    {"title": "The body must be JSON", "detail": "send the body with Content-Type: application/json"};

    Unprocessable, 422, InvalidApplication,
    "The command breaks a rule whatever the state (the domain's `code`, with its details), or the `Idempotency-Key` was used for another request (`idempotency_key_reused`).",
    {"title": "The command breaks a rule", "detail": "the application is incomplete: no system_administrator named", "problems": [{"problem": "missing_contact", "role": "system_administrator"}]};

    OutOfRange, 422, OutOfRange,
    "A tree size or position outside the Merkle tree: a position past the tree size, a consistency proof from 0 or backwards, or a tree size the tree does not cover yet (it follows the log about once a second).",
    {"title": "Outside the tree", "detail": "the tree has 1290 leaves, not 1300"};

    PreconditionRequired, 428, PreconditionRequired,
    "A command to an existing resource without `If-Match`.",
    {"title": "If-Match is required", "detail": "commands to an existing resource need If-Match with its ETag (or *), so that nobody acts on a stale view by accident"};

    Unavailable, 503, Unavailable,
    "The database could not be reached in time; `Retry-After` says when to try again.",
    {"title": "The service is unavailable", "detail": "the database could not be reached in time and nothing was written; retry later (with the same Idempotency-Key, a retry is safe)"};

    CommandUnavailable, 503, OutcomeUnknown,
    "The command could not be completed. `unavailable`: the database could not be reached in time and nothing was written; retry (with the same `Idempotency-Key`, a retry is always safe). `outcome_unknown`: the database failed while committing and it cannot be told whether the command was recorded; `GET /v1/commands/{command_id}` (the id is in `command_id` and `Command-Id`) answers once the service is back, or send the request again with the same `Idempotency-Key`, which replays the original answer if it was recorded. Never resend under a new key. `Retry-After` says when to try again.",
    {"title": "The outcome of the command is unknown", "detail": "the database failed while committing and it cannot be told whether the command was recorded; ask GET /v1/commands/0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b once the service is back, or send the request again with the same Idempotency-Key (both are safe; never resend it under a new key)", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b"};

    ProjectionLagging, 503, ProjectionLagging,
    "The read asked for `min_position` and the read model did not reach that position within the wait bound (5 s by default, `ANSLUT_PROJECTIONS__WAIT_MILLISECONDS`): `projection` names it, `checkpoint` is how far it got; `Retry-After` says when to try again. Also `unavailable` when the database could not be reached in time.",
    {"title": "The read model has not caught up", "detail": "the read model case_overview has projected the log up to position 1286, not yet 1287; retry later", "projection": "case_overview", "checkpoint": 1286, "min_position": 1287};

    BeyondTheLog, 422, BeyondTheLog,
    "`min_position` is past the last position of the log: no write was answered with it, so no read model will reach it. `head` is the log's last position.",
    {"title": "Beyond the end of the log", "detail": "min_position is past the end of the log (its last position is 1290); use the position a write was answered with", "head": 1290};

    WebhookUnprocessable, 422, UrlRefused,
    "The subscription breaks a rule: `url_refused` (not https, or in development not http to a loopback host; credentials or a fragment in the URL; in production a private, loopback or reserved address) or `invalid_subscription` (no event types, more than 64, a malformed pattern or one that matches no event type this system records, a description over 200 characters), or a creation's `Idempotency-Key` was used for another body (`idempotency_key_reused`). The value sent is never repeated.",
    {"title": "The subscription is not acceptable", "detail": "the endpoint URL is refused: it must use https (http only to a loopback host in development)"};

    WebhookConflict, 409, DeliveryState,
    "The delivery's state does not allow the request (`delivery_state`: redelivering a pending or delivering delivery, or one of a deactivated subscription; skipping one that is not parked; rotating a deactivated subscription's secret), the region has as many active subscriptions as allowed (`too_many_subscriptions`), or a creation retried with its `Idempotency-Key` found the subscription it created (`subscription_exists`, with `subscription_id` and `Location`; the secret is not shown again).",
    {"title": "The delivery's state does not allow this", "detail": "a pending delivery cannot be redelivered"};

    LookupLimited, 429, LookupLimitReached,
    "The caller looked up as many data subjects as it may in 24 hours (100); every lookup, found or not, counts and is recorded. `Retry-After` says when to try again.",
    {"title": "Too many lookups", "detail": "a caller may look up 100 data subjects a day"};
    TooManyRequests, 429, TooManyRequests,
    "A rate limit was reached (`too_many_requests`): too many requests from this client address failed authentication (then every request of the address that needs a token is refused until the limit refills, before its token is looked at), or this caller sent too many commands or data-subject lookups. Or, for the feed's long polls, `too_many_long_polls`: the caller or the server has as many waiting as allowed. `Retry-After` says when to try again, in seconds.",
    {"title": "Too many requests", "detail": "this caller sent too many commands; wait before sending more"};

    OpsUnauthorized, 401, Unauthenticated,
    "The operations token is missing or wrong (`WWW-Authenticate: Bearer realm=\"anslut-ops\"`).",
    {"title": "Authentication is required", "detail": "metrics need the operations token as a bearer token"};

    NotReady, 503, NotReady,
    "Not ready to serve. With the operations token (or on the operations listener) the problem says why: a read model stopped on an event it cannot apply, or lags beyond the configured thresholds (`projections` lists each with its `reason`, `stopped` or `lagging`, checkpoint, lag and last error), or the webhook outbox projector (`webhooks`); also `unavailable` when the database could not be reached in time. Without, only the status and `code`. `Retry-After` says when to look again.",
    {"title": "Not ready", "detail": "read models stopped or behind the log: findings", "projections": [{"projection": "findings", "reason": "lagging", "checkpoint": 1180, "head": 1290, "lag_events": 110, "lag_seconds": 74.2, "last_error": null}]};
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::dto::read_models::{CURSOR_PATTERN, MAX_CURSOR_LEN};
    use crate::dto::{SHORT_TEXT_PATTERN, SLUG_PATTERN};

    /// Every string schema in `value`, with where it is.
    fn strings<'a>(value: &'a Value, at: &str, found: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                let is_string = match map.get("type") {
                    Some(Value::String(t)) => t == "string",
                    Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
                    _ => false,
                };
                if is_string {
                    found.push((at.to_owned(), value));
                }
                for (key, inner) in map {
                    strings(inner, &format!("{at}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    strings(inner, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    /// The patterns the attributes repeat as literals are the ones the code defines: a cursor,
    /// a slug, a short text are the same wherever the spec names one.
    #[test]
    fn repeated_patterns_are_the_defined_ones() {
        let spec = serde_json::to_value(super::spec()).unwrap();
        let mut found = Vec::new();
        strings(&spec, "", &mut found);
        let mut cursors = 0;
        for (at, schema) in found {
            let pattern = schema.get("pattern").and_then(Value::as_str);
            let max = schema.get("maxLength").and_then(Value::as_u64);
            if at.ends_with("next_cursor") || pattern == Some(CURSOR_PATTERN) {
                cursors += 1;
                assert_eq!(pattern, Some(CURSOR_PATTERN), "{at}");
                assert_eq!(max, Some(MAX_CURSOR_LEN as u64), "{at}");
            }
            match max {
                Some(200) if pattern.is_some() => {
                    assert_eq!(pattern, Some(SHORT_TEXT_PATTERN), "{at}");
                }
                Some(64) if pattern.is_some() => assert_eq!(pattern, Some(SLUG_PATTERN), "{at}"),
                _ => {}
            }
        }
        assert!(cursors >= 6, "every list's cursor and next_cursor");
    }
}
