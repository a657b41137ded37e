//! The process's metrics, in one registry every crate records into and the HTTPS crate's
//! metrics listener encodes in the Prometheus text format (ARCHITECTURE.md: prometheus-client).
//! Labels are small fixed sets (a service, an outcome, a PEC kind), never an address or an
//! id, so the number of series stays bounded whatever the traffic.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// Every metric of pecd.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    uptime: Gauge,
    /// Connections accepted, by service (smtp, submissions, imaps, pop3s, https).
    pub connections: Family<Labels, Counter>,
    /// Connections open now, by service.
    pub open_connections: Family<Labels, Gauge>,
    /// Logins by service and result (ok, failed, expired, throttled).
    pub logins: Family<Labels, Counter>,
    /// Messages submitted or received over SMTP, by outcome (accepted, refused) and reason.
    pub messages: Family<Labels, Counter>,
    /// PEC messages emitted, by kind (accettazione, trasporto, presa-in-carico, consegna, ...).
    pub pec_emitted: Family<Labels, Counter>,
    /// Relay queue: messages waiting, and the age of the oldest in seconds.
    pub queue_depth: Gauge,
    pub queue_oldest_seconds: Gauge,
    /// Seconds a store commit round takes (write to durable).
    pub commit_seconds: Histogram,
    /// Seconds one S/MIME signature takes.
    pub sign_seconds: Histogram,
    /// Runs of the scheduled jobs, by result (ok, failed).
    pub job_runs: Family<Labels, Counter>,
    /// HTTPS requests by status class (2xx, 3xx, 4xx, 5xx).
    pub http_requests: Family<Labels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pecd");
        let m = Metrics {
            started: Instant::now(),
            uptime: Gauge::default(),
            connections: Family::default(),
            open_connections: Family::default(),
            logins: Family::default(),
            messages: Family::default(),
            pec_emitted: Family::default(),
            queue_depth: Gauge::default(),
            queue_oldest_seconds: Gauge::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            sign_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 14)),
            job_runs: Family::default(),
            http_requests: Family::default(),
            registry: Registry::default(),
        };
        let info: Family<Labels, Gauge> = Family::default();
        info.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register("build_info", "pecd version", info);
        registry.register(
            "uptime_seconds",
            "Seconds since pecd started",
            m.uptime.clone(),
        );
        registry.register(
            "connections",
            "Connections accepted by service",
            m.connections.clone(),
        );
        registry.register(
            "open_connections",
            "Connections open now by service",
            m.open_connections.clone(),
        );
        registry.register("logins", "Logins by service and result", m.logins.clone());
        registry.register(
            "messages",
            "Messages over SMTP by outcome and reason",
            m.messages.clone(),
        );
        registry.register(
            "pec_emitted",
            "PEC messages emitted by kind",
            m.pec_emitted.clone(),
        );
        registry.register(
            "relay_queue_depth",
            "Messages in the relay queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "relay_queue_oldest_age_seconds",
            "Age of the oldest queued message",
            m.queue_oldest_seconds.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Store commit round latency",
            m.commit_seconds.clone(),
        );
        registry.register(
            "signer_seconds",
            "S/MIME signature latency",
            m.sign_seconds.clone(),
        );
        registry.register(
            "job_runs",
            "Scheduled job runs by result",
            m.job_runs.clone(),
        );
        registry.register(
            "http_requests",
            "HTTPS requests by status class",
            m.http_requests.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The whole registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        self.uptime.set(self.started.elapsed().as_secs() as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts one event in a family with one label.
pub fn count(family: &Family<Labels, Counter>, key: &'static str, value: &'static str) {
    family.get_or_create(&vec![(key, value)]).inc();
}

/// Counts one event in a family with two labels.
pub fn count2(family: &Family<Labels, Counter>, labels: [(&'static str, &'static str); 2]) {
    family.get_or_create(&labels.to_vec()).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_text_format_with_their_labels() {
        let m = metrics();
        count(&m.connections, "service", "imaps");
        count2(&m.logins, [("service", "imaps"), ("result", "ok")]);
        m.commit_seconds.observe(0.002);
        let text = m.encode();
        assert!(
            text.contains("pecd_connections_total{service=\"imaps\"}"),
            "{text}"
        );
        assert!(
            text.contains("pecd_logins_total{service=\"imaps\",result=\"ok\"}"),
            "{text}"
        );
        assert!(text.contains("pecd_store_commit_seconds_bucket"), "{text}");
        assert!(text.contains("pecd_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
