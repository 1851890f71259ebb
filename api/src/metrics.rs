//! Prometheus metrics: requests by route template and status, request latency, appended
//! events and conflicts.
//!
//! Built on the `prometheus` crate with a registry per application rather than a global
//! recorder (`metrics` + its exporter): tests run many applications in one process, and each
//! must count only its own requests.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The application's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    appended: IntCounterVec,
    conflicts: IntCounter,
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
        Ok(Self {
            registry,
            requests,
            latency,
            appended,
            conflicts,
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

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
