//! The service's Prometheus metrics, one registry per running application
//! (tests start many in one process, so nothing here is global).
//!
//! Counters and histograms are updated as things happen (contract calls);
//! what the database knows (outbox depth, job runs) and the pool's state are
//! read at scrape time and handed to [`Metrics::render`] as a [`Snapshot`].

use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: &'static str,
    code: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

fn call_duration_histogram() -> Histogram {
    // 0.25 ms to about 4 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// What the process counts as it runs.
pub struct Metrics {
    registry: Registry,
    contract_calls: Family<CallLabels, Counter>,
    contract_call_seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mailroom");
        let contract_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "contract_calls",
            "Contract calls answered, by endpoint and result code",
            contract_calls.clone(),
        );
        let contract_call_seconds =
            Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                call_duration_histogram,
            );
        registry.register(
            "contract_call_duration_seconds",
            "Time from a contract call's arrival to its answer",
            contract_call_seconds.clone(),
        );
        Self {
            registry,
            contract_calls,
            contract_call_seconds,
        }
    }

    /// One answered contract call. `endpoint` is one of the contract's
    /// actions or `other`, so the label's values stay a short list.
    pub fn contract_call(&self, endpoint: &'static str, code: i32, took: Duration) {
        self.contract_calls
            .get_or_create(&CallLabels { endpoint, code })
            .inc();
        self.contract_call_seconds
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    /// The text a scrape answers: the counters kept here and `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &self.registry);
        let _ = encode_registry(&mut text, &snapshot.registry());
        let _ = encode_eof(&mut text);
        text
    }
}

/// What a scrape reads from the database and the pool.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// (status, mails) for the statuses that need watching (queued, failed).
    pub outbox: Vec<(String, i64)>,
    /// How long the longest-waiting mail that is due has waited, in seconds
    /// (0 when none is due).
    pub outbox_oldest_due_seconds: f64,
    /// (job, outcome, runs) over the recorded run history.
    pub job_runs: Vec<(String, String, i64)>,
}

impl Snapshot {
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("mailroom");
        let gauge = |value: i64| {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            gauge
        };
        registry.register(
            "db_pool_connections",
            "Database connections open",
            gauge(i64::from(self.pool_connections)),
        );
        registry.register(
            "db_pool_idle_connections",
            "Database connections open and not in use",
            gauge(i64::from(self.pool_idle)),
        );
        registry.register(
            "db_pool_max_connections",
            "The most database connections the pool opens",
            gauge(i64::from(self.pool_max)),
        );
        let outbox = Family::<StatusLabels, Gauge>::default();
        for (status, mails) in &self.outbox {
            outbox
                .get_or_create(&StatusLabels {
                    status: status.clone(),
                })
                .set(*mails);
        }
        registry.register("outbox_mails", "Mails in the outbox by status", outbox);
        let oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        oldest.set(self.outbox_oldest_due_seconds);
        registry.register(
            "outbox_oldest_due_seconds",
            "How long the longest-waiting due mail has waited",
            oldest,
        );
        let runs = Family::<JobLabels, Gauge>::default();
        for (job, outcome, count) in &self.job_runs {
            runs.get_or_create(&JobLabels {
                job: job.clone(),
                outcome: outcome.clone(),
            })
            .set(*count);
        }
        registry.register(
            "job_runs",
            "Recorded runs of scheduled jobs by outcome",
            runs,
        );
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_calls_and_the_snapshot_in_openmetrics_text() {
        let metrics = Metrics::new();
        metrics.contract_call("Accounts/Exists", 1, Duration::from_millis(2));
        metrics.contract_call("Accounts/Exists", 1, Duration::from_millis(3));
        metrics.contract_call("Accounts/Exists", -5, Duration::from_secs(6));
        let snapshot = Snapshot {
            pool_connections: 3,
            pool_idle: 2,
            pool_max: 16,
            outbox: vec![("queued".into(), 4), ("failed".into(), 1)],
            outbox_oldest_due_seconds: 12.5,
            job_runs: vec![("connectwise.quantity_sync".into(), "failed".into(), 2)],
        };
        let text = metrics.render(&snapshot);
        for line in [
            r#"mailroom_contract_calls_total{endpoint="Accounts/Exists",code="1"} 2"#,
            r#"mailroom_contract_calls_total{endpoint="Accounts/Exists",code="-5"} 1"#,
            r#"mailroom_contract_call_duration_seconds_count{endpoint="Accounts/Exists"} 3"#,
            r#"mailroom_contract_call_duration_seconds_bucket{le="+Inf",endpoint="Accounts/Exists"} 3"#,
            "mailroom_db_pool_connections 3",
            "mailroom_db_pool_idle_connections 2",
            r#"mailroom_outbox_mails{status="queued"} 4"#,
            "mailroom_outbox_oldest_due_seconds 12.5",
            r#"mailroom_job_runs{job="connectwise.quantity_sync",outcome="failed"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
