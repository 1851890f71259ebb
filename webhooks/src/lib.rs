//! Anslut's webhooks: a region's case system is told when something happens to its cases and
//! incidents, reliably, in order per case, and verifiably from Anslut.
//!
//! A region's integration could poll the feed (`GET /v1/feed`), but most case systems want
//! to be called. Calling out is where webhook systems usually lose events: a process that
//! sends after commit and crashes in between forgets the event; one that sends before commit
//! announces what never happened; retries that race each other deliver twice or out of
//! order. This crate turns the log into deliveries with the same discipline the projections
//! use for read models.
//!
//! # How
//! * **Subscriptions** (`webhook_subscriptions`): a region registers a URL and the event types
//!   it wants ([`EventTypeFilter`]); the server generates the Standard Webhooks signing secret,
//!   shows it once and stores it only sealed with a server key ([`SecretKey`]). The URL must
//!   pass the [`UrlPolicy`] (https; see [`endpoint`] for the SSRF defences). A subscription
//!   receives the matching events recorded after its registration.
//! * **The outbox** (`webhook_deliveries`) is written by a dedicated projector that follows
//!   the log in global order from its own checkpoint (`webhook_projector`): for each event it
//!   reads the tenancy the API recorded in the metadata (`tenant_region`), the CloudEvents
//!   type, and inserts one row per matching active subscription of that region — in the same
//!   transaction that moves the checkpoint by compare-and-set. So an event is enqueued once
//!   for each subscription, or not yet; never lost, never twice. The outbox holds positions
//!   and ids, never payloads: personal data stays in the store (encrypted and erasable there),
//!   and the body is rendered from the store at each attempt. On PostgreSQL one instance at a
//!   time projects (an advisory lock held on a connection of its own); SQLite is one process.
//! * **Delivery**: workers claim due rows in a short transaction (`SELECT … FOR UPDATE SKIP
//!   LOCKED` on PostgreSQL, so instances share the work without claiming the same row; a
//!   plain claim inside SQLite's single write transaction), mark them `delivering` under a
//!   lease, send outside any transaction, and record the outcome only if they still hold the
//!   lease. The body is the event as a CloudEvents 1.0 JSON event ([`CloudEvent`], the feed's
//!   shape), signed with the Standard Webhooks headers: `webhook-id` (the event id, the same
//!   on every attempt), `webhook-timestamp` (the attempt's Unix seconds) and
//!   `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`). 2xx is
//!   delivered; anything else, a redirect or a timeout fails the attempt, which is retried
//!   with exponential backoff and full jitter ([`RetryPolicy`]) and parked after the limit. A
//!   410 Gone parks the row and deactivates the subscription, as the spec asks. An event the
//!   store cannot give back (a codec failure) fails its attempts the same way and ends up
//!   parked, in view, rather than skipped. Every attempt is logged (`webhook_attempts`: time,
//!   duration, status or error; never the body or secret).
//!
//! # What a receiver can rely on
//! * **At least once.** Every matching event is delivered until a 2xx, or parked. A
//!   duplicate happens only when an attempt's outcome was not recorded: the worker died
//!   (or lost its database) after sending and before recording, or the receiver answered
//!   after the lease ran out. The lease then expires, the row returns to pending, and the
//!   same `webhook-id` is sent again: receivers deduplicate by it.
//! * **Order per case.** Rows of one subscription and one stream (a case, an incident) are
//!   delivered in log order: a row is not claimable while an earlier row of the same
//!   subscription and stream is pending, delivering or **parked**. So a parked event is never
//!   overtaken: the events after it wait until it is redelivered (and delivered) or skipped
//!   by an operator ([`Webhooks::redeliver`], [`Webhooks::skip`]). Different streams never
//!   wait for each other. Redelivering an event that was already delivered sends it again
//!   once, without holding back or resending the events after it.
//! * **Leases.** A claimed row belongs to its worker until `lease` (default 60 s, longer
//!   than a request may take) has passed; a crashed worker's rows then return to pending at
//!   once, the lost attempt logged as `abandoned` and counted towards the limit. Due times
//!   and leases are the instances' own clocks: keep them within a small fraction of the
//!   lease of each other (NTP).
//! * **Who sent it.** The signature proves Anslut sent that body at that time; receivers
//!   should refuse timestamps more than five minutes off (Standard Webhooks).
//!
//! # Entry points
//! [`Webhooks::open`] (connects, migrates the tables, builds the HTTP client);
//! [`Webhooks::register`], [`Webhooks::list`], [`Webhooks::get`], [`Webhooks::deactivate`];
//! [`Webhooks::deliveries`] and [`Webhooks::delivery`] (the delivery log);
//! [`Webhooks::redeliver`] and [`Webhooks::skip`]; [`Webhooks::start`] → [`WebhooksHandle`]
//! (the projector and the workers: what `anslut serve` runs); [`Webhooks::status`].
//!
//! **Architecture invariant:** the crate reads the log only through the store's public API
//! and writes only its own tables; it never appends events and knows nothing of the domain
//! or of the API's HTTP layer. The outbox never holds an event's payload.

#![forbid(unsafe_code)]

pub mod cloudevent;
mod db;
pub mod endpoint;
mod error;
mod filter;
mod model;
mod projector;
mod retry;
mod secret;
mod service;
mod worker;

pub use cloudevent::{CONTENT_TYPE, CloudEvent};
pub use db::WEBHOOKS_CHANNEL;
pub use endpoint::UrlPolicy;
pub use error::WebhookError;
pub use filter::{EventTypeFilter, MAX_PATTERNS};
pub use model::{
    Attempt, AttemptOutcome, Caller, Delivery, DeliveryDetail, DeliveryId, DeliveryPage,
    DeliveryQuery, DeliveryStatus, Intervention, InterventionKind, Leader, Registered,
    Registration, Rotated, Subscription, SubscriptionId, SubscriptionSpec, WebhookStatus,
};
pub use retry::RetryPolicy;
pub use secret::{KEY_BYTES, SECRET_PREFIX, SecretKey, SigningSecret};
pub use service::{WebhookOptions, Webhooks, WebhooksHandle};
