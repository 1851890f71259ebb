//! Prometheus metrics: requests by route template and status, request latency, appended
//! events and conflicts, per read model its checkpoint, lag and leadership, and the webhook
//! deliveries by status with the outbox projector's lag and leadership (set from the
//! status at each scrape).
//!
//! Built on the `prometheus` crate with a registry per application rather than a global
//! recorder (`metrics` + its exporter): tests run many applications in one process, and each
//! must count only its own requests.

use projections::{Leader, ProjectionStatus};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The application's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    appended: IntCounterVec,
    conflicts: IntCounter,
    projection_lag_events: IntGaugeVec,
    projection_lag_seconds: GaugeVec,
    projection_checkpoint: IntGaugeVec,
    projection_leader: IntGaugeVec,
    webhook_deliveries: IntGaugeVec,
    webhook_oldest_due_seconds: Gauge,
    webhook_lag_events: IntGauge,
    webhook_leader: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("anslut".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template and method",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        let appended = IntCounterVec::new(
            Opts::new(
                "events_appended_total",
                "Events appended to the log by stream type",
            ),
            &["stream_type"],
        )?;
        let conflicts = IntCounter::new(
            "command_conflicts_total",
            "Commands refused because the resource changed (stale If-Match or a write in between)",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(appended.clone()))?;
        registry.register(Box::new(conflicts.clone()))?;
        let projection_lag_events = IntGaugeVec::new(
            Opts::new(
                "projection_lag_events",
                "Events in the log a read model has not projected yet",
            ),
            &["projection"],
        )?;
        let projection_lag_seconds = GaugeVec::new(
            Opts::new(
                "projection_lag_seconds",
                "Age of the oldest event a read model has not projected yet; 0 when caught up",
            ),
            &["projection"],
        )?;
        let projection_checkpoint = IntGaugeVec::new(
            Opts::new(
                "projection_checkpoint",
                "The log position up to which a read model has projected",
            ),
            &["projection"],
        )?;
        let projection_leader = IntGaugeVec::new(
            Opts::new(
                "projection_leader",
                "1 while this instance runs the read model's projector (leads it), else 0",
            ),
            &["projection"],
        )?;
        registry.register(Box::new(projection_lag_events.clone()))?;
        registry.register(Box::new(projection_lag_seconds.clone()))?;
        registry.register(Box::new(projection_checkpoint.clone()))?;
        registry.register(Box::new(projection_leader.clone()))?;
        let webhook_deliveries = IntGaugeVec::new(
            Opts::new(
                "webhook_deliveries",
                "Webhook deliveries (outbox rows, all subscriptions) by status",
            ),
            &["status"],
        )?;
        let webhook_oldest_due_seconds = Gauge::new(
            "webhook_oldest_due_seconds",
            "How long the earliest due webhook delivery has waited; 0 when none is due",
        )?;
        let webhook_lag_events = IntGauge::new(
            "webhook_lag_events",
            "Events in the log the webhooks' outbox projector has not looked at yet",
        )?;
        let webhook_leader = IntGauge::new(
            "webhook_leader",
            "1 while this instance runs the webhooks' outbox projector, else 0",
        )?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(webhook_oldest_due_seconds.clone()))?;
        registry.register(Box::new(webhook_lag_events.clone()))?;
        registry.register(Box::new(webhook_leader.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            appended,
            conflicts,
            projection_lag_events,
            projection_lag_seconds,
            projection_checkpoint,
            projection_leader,
            webhook_deliveries,
            webhook_oldest_due_seconds,
            webhook_lag_events,
            webhook_leader,
        })
    }

    /// Counts a request. `route` must be a route template (or `unmatched`) and `method` one of
    /// `edge::method_label`'s labels, so that no client can add series.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    pub fn appended(&self, stream_type: &str, events: u64) {
        self.appended
            .with_label_values(&[stream_type])
            .inc_by(events);
    }

    pub fn conflict(&self) {
        self.conflicts.inc();
    }

    /// Sets the read models' gauges from their status.
    pub fn observe_projections(&self, statuses: &[ProjectionStatus]) {
        for status in statuses {
            let label = [status.name.as_str()];
            self.projection_lag_events
                .with_label_values(&label)
                .set(i64::try_from(status.lag_events).unwrap_or(i64::MAX));
            self.projection_lag_seconds
                .with_label_values(&label)
                .set(status.lag_seconds);
            self.projection_checkpoint
                .with_label_values(&label)
                .set(i64::try_from(status.checkpoint.get()).unwrap_or(i64::MAX));
            self.projection_leader
                .with_label_values(&label)
                .set(i64::from(status.leader == Leader::Here));
        }
    }

    /// Sets the webhooks' gauges from their status.
    pub fn observe_webhooks(&self, status: &webhooks::WebhookStatus) {
        for (label, count) in [
            ("pending", Some(status.pending)),
            ("delivering", Some(status.delivering)),
            ("delivered", status.delivered),
            ("parked", Some(status.parked)),
            ("skipped", status.skipped),
        ] {
            let Some(count) = count else { continue };
            self.webhook_deliveries
                .with_label_values(&[label])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.webhook_oldest_due_seconds
            .set(status.oldest_due_seconds);
        self.webhook_lag_events
            .set(i64::try_from(status.lag_events).unwrap_or(i64::MAX));
        self.webhook_leader
            .set(i64::from(status.leader == webhooks::Leader::Here));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
