//! Prometheus metrics: requests by route template and status, request latency, appended
//! events and conflicts, and per read model its checkpoint, lag and leadership (set from the
//! projections' status at each scrape).
//!
//! Built on the `prometheus` crate with a registry per application rather than a global
//! recorder (`metrics` + its exporter): tests run many applications in one process, and each
//! must count only its own requests.

use projections::{Leader, ProjectionStatus};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
        })
    }

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

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
