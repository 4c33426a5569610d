//! Figures other modules record: health checking, failover, reconciling.
//! Each handle is cheap to clone (shared counters inside) and takes plain
//! words (check kinds, reasons, roles), so that this module depends on none
//! of the modules that call it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Health checking's figures, per checked server (`server`, `ADDR:PORT`)
/// and check kind (`check`: `tcp`, `http`, `exec`, ...):
///
/// - `ipvs_health_up`: 1 up, 0 down;
/// - `ipvs_health_transitions_total{server,check,to}`: state changes, `to` = `up` or `down`;
/// - `ipvs_health_check_duration_seconds{check}`: how long checks took (histogram);
/// - `ipvs_health_check_failures_total{check,reason}`: failed checks by reason
///   (`timeout`, `refused`, `status`, ... as the checker names them).
///
/// ```
/// use std::time::Duration;
/// use ipvs::metrics::{Metrics, MetricsOptions};
///
/// let metrics = Metrics::new(|| Ok(Vec::new()), MetricsOptions::default());
/// let health = metrics.health();
/// let server = "198.51.100.2:80".parse().unwrap();
/// health.check_finished("tcp", Duration::from_millis(3), None);
/// health.check_finished("tcp", Duration::from_secs(2), Some("timeout"));
/// health.set_up(server, "tcp", false);
/// let text = metrics.encode();
/// assert!(text.contains("ipvs_health_up{server=\"198.51.100.2:80\",check=\"tcp\"} 0\n"));
/// assert!(text.contains("ipvs_health_transitions_total{server=\"198.51.100.2:80\",check=\"tcp\",to=\"down\"} 1\n"));
/// assert!(text.contains("ipvs_health_check_failures_total{check=\"tcp\",reason=\"timeout\"} 1\n"));
/// assert!(text.contains("ipvs_health_check_duration_seconds_count{check=\"tcp\"} 2\n"));
/// ```
#[derive(Debug, Clone)]
pub struct HealthMetrics {
    up: Family<Labels, Gauge>,
    transitions: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    failures: Family<Labels, Counter>,
    last: Arc<Mutex<std::collections::HashMap<(SocketAddr, String), bool>>>,
}

impl Default for HealthMetrics {
    fn default() -> Self {
        HealthMetrics {
            up: Family::default(),
            transitions: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            failures: Family::default(),
            last: Arc::default(),
        }
    }
}

impl HealthMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "ipvs_health_up",
            "Whether a checked server is up (1) or down (0)",
            self.up.clone(),
        );
        r.register(
            "ipvs_health_transitions",
            "Health state changes of a checked server",
            self.transitions.clone(),
        );
        r.register(
            "ipvs_health_check_duration_seconds",
            "How long health checks took",
            self.duration.clone(),
        );
        r.register(
            "ipvs_health_check_failures",
            "Failed health checks by reason",
            self.failures.clone(),
        );
    }

    /// The server's state now; a change from the state set before counts
    /// as a transition (the first state set does too when it is down).
    pub fn set_up(&self, server: SocketAddr, check: &str, up: bool) {
        let text = server.to_string();
        self.up
            .get_or_create(&labels(&[("server", &text), ("check", check)]))
            .set(i64::from(up));
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let before = last.insert((server, check.to_owned()), up);
        if before.map_or(!up, |b| b != up) {
            let to = if up { "up" } else { "down" };
            self.transitions
                .get_or_create(&labels(&[("server", &text), ("check", check), ("to", to)]))
                .inc();
        }
    }

    /// One check done: its duration, and its failure reason if it failed.
    pub fn check_finished(&self, check: &str, duration: Duration, failure: Option<&str>) {
        self.duration
            .get_or_create(&labels(&[("check", check)]))
            .observe(duration.as_secs_f64());
        if let Some(reason) = failure {
            self.failures
                .get_or_create(&labels(&[("check", check), ("reason", reason)]))
                .inc();
        }
    }
}

/// Failover's figures, per VRRP instance (`instance`):
///
/// - `ipvs_failover_role{instance,role}`: 1 for the current role
///   (`master`, `backup`, `fault`, `stop`, as failover names them), 0 for
///   roles held before;
/// - `ipvs_failover_transitions_total{instance,from,to}`.
///
/// ```
/// use ipvs::metrics::{Metrics, MetricsOptions};
///
/// let metrics = Metrics::new(|| Ok(Vec::new()), MetricsOptions::default());
/// metrics.failover().set_role("vi_1", "backup");
/// metrics.failover().set_role("vi_1", "master");
/// let text = metrics.encode();
/// assert!(text.contains("ipvs_failover_role{instance=\"vi_1\",role=\"master\"} 1\n"));
/// assert!(text.contains("ipvs_failover_role{instance=\"vi_1\",role=\"backup\"} 0\n"));
/// assert!(text.contains("ipvs_failover_transitions_total{instance=\"vi_1\",from=\"backup\",to=\"master\"} 1\n"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FailoverMetrics {
    role: Family<Labels, Gauge>,
    transitions: Family<Labels, Counter>,
    current: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

impl FailoverMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "ipvs_failover_role",
            "The director's failover role (1 for the current one)",
            self.role.clone(),
        );
        r.register(
            "ipvs_failover_transitions",
            "Failover role changes",
            self.transitions.clone(),
        );
    }

    /// The instance's role now; a change counts as a transition.
    pub fn set_role(&self, instance: &str, role: &str) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let before = current.insert(instance.to_owned(), role.to_owned());
        if let Some(from) = &before {
            if from != role {
                self.role
                    .get_or_create(&labels(&[("instance", instance), ("role", from)]))
                    .set(0);
                self.transitions
                    .get_or_create(&labels(&[
                        ("instance", instance),
                        ("from", from),
                        ("to", role),
                    ]))
                    .inc();
            }
        }
        self.role
            .get_or_create(&labels(&[("instance", instance), ("role", role)]))
            .set(1);
    }
}

/// The reconcile loop's figures:
///
/// - `ipvs_reconcile_runs_total`;
/// - `ipvs_reconcile_operations_planned_total`, `..._applied_total`, `..._failed_total`;
/// - `ipvs_reconcile_drift_repaired_total`: entries put back after a change
///   made behind the loop's back.
///
/// ```
/// use ipvs::metrics::{Metrics, MetricsOptions};
///
/// let metrics = Metrics::new(|| Ok(Vec::new()), MetricsOptions::default());
/// metrics.reconcile().record(3, 2, 1);
/// metrics.reconcile().drift_repaired(1);
/// let text = metrics.encode();
/// assert!(text.contains("ipvs_reconcile_operations_failed_total 1\n"));
/// assert!(text.contains("ipvs_reconcile_drift_repaired_total 1\n"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReconcileMetrics {
    runs: Counter,
    planned: Counter,
    applied: Counter,
    failed: Counter,
    drift: Counter,
}

impl ReconcileMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "ipvs_reconcile_runs",
            "Reconcile passes (read, diff, apply)",
            self.runs.clone(),
        );
        r.register(
            "ipvs_reconcile_operations_planned",
            "Operations the reconcile passes planned",
            self.planned.clone(),
        );
        r.register(
            "ipvs_reconcile_operations_applied",
            "Operations the kernel accepted",
            self.applied.clone(),
        );
        r.register(
            "ipvs_reconcile_operations_failed",
            "Operations the kernel refused",
            self.failed.clone(),
        );
        r.register(
            "ipvs_reconcile_drift_repaired",
            "Entries changed behind the reconcile loop's back and put back",
            self.drift.clone(),
        );
    }

    /// One reconcile pass: operations planned, applied and failed.
    pub fn record(&self, planned: u64, applied: u64, failed: u64) {
        self.runs.inc();
        self.planned.inc_by(planned);
        self.applied.inc_by(applied);
        self.failed.inc_by(failed);
    }

    /// `n` entries put back after drift.
    pub fn drift_repaired(&self, n: u64) {
        self.drift.inc_by(n);
    }
}
