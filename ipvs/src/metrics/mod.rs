//! Prometheus metrics (feature `metrics`), on the `prometheus-client` crate.
//!
//! The IPVS table is read when a scrape asks for it (a collector, no
//! background polling): per service and per destination the kernel's 64-bit
//! connection, packet and byte counters and its rate estimates; per
//! destination the active, inactive and persistent connections and the
//! weight. Optionally the same figures under node_exporter's `ipvs`
//! collector names and labels ([`MetricsOptions::node_exporter`]), so that
//! existing dashboards keep working.
//!
//! Other parts of a running director add their own figures through small
//! handles taken from [`Metrics`]: [`HealthMetrics`] (state, transitions,
//! check latency, failures by reason), [`FailoverMetrics`] (role and
//! transitions) and [`ReconcileMetrics`] (operations planned, applied,
//! failed; drift repaired). Each is registered on first use, once.
//!
//! Names (own set, prefix `ipvs_`; labels `family`, `protocol`, `address`,
//! `port`, `fwmark` per service, plus `server_address`, `server_port` per
//! destination):
//!
//! | metric | type |
//! |---|---|
//! | `ipvs_up` | gauge: 1 when the last read of the table worked |
//! | `ipvs_scrape_duration_seconds` | gauge: how long reading and encoding the table took |
//! | `ipvs_services`, `ipvs_destinations` | gauges: how many |
//! | `ipvs_service_info` | gauge 1, with `scheduler`, `persistence_timeout` and `persistence_engine` labels |
//! | `ipvs_{service,destination}_connections_total` | counter |
//! | `ipvs_{service,destination}_{incoming,outgoing}_{packets,bytes}_total` | counters |
//! | `ipvs_{service,destination}_connections_per_second` | gauge (the kernel's estimate) |
//! | `ipvs_{service,destination}_{incoming,outgoing}_{packets,bytes}_per_second` | gauges |
//! | `ipvs_destination_{active,inactive,persistent}_connections` | gauges |
//! | `ipvs_destination_weight` | gauge |
//!
//! node_exporter's set: `node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total`
//! (sums over the services present: node_exporter reads the kernel's
//! namespace-wide totals, which also keep what deleted services counted)
//! and `node_ipvs_backend_{connections_active,connections_inactive,weight}`
//! with `local_address`, `local_port`, `local_mark` (the mark as
//! `/proc/net/ip_vs` prints it, `%08X`), `proto` (`TCP`, `UDP`, `SCTP`,
//! `FWM`), `remote_address`, `remote_port`.
//!
//! ```
//! use ipvs::metrics::{Metrics, MetricsOptions};
//! use ipvs::state::{ServiceState, State};
//! use ipvs::{Destination, Scheduler, Service, ServiceKey};
//!
//! let table = State::new().with_service(
//!     ServiceState::new(Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::RoundRobin))
//!         .with_dest(Destination::new("198.51.100.2:80".parse().unwrap()).with_weight(3)),
//! );
//! // A real director reads the kernel: `Metrics::for_client(client, options)`.
//! let metrics = Metrics::new(move || Ok(table.services.clone()), MetricsOptions::default());
//! metrics.reconcile().record(4, 4, 0);
//! let text = metrics.encode();
//! assert!(text.contains("ipvs_destination_weight{family=\"ipv4\",protocol=\"tcp\",address=\"192.0.2.10\",port=\"80\",fwmark=\"\",server_address=\"198.51.100.2\",server_port=\"80\"} 3\n"));
//! assert!(text.contains("ipvs_reconcile_operations_applied_total 4\n"));
//! ```

mod hooks;
mod table;

use std::sync::{Arc, Mutex, OnceLock};

use prometheus_client::registry::Registry;

use crate::state::ServiceState;

pub use hooks::{FailoverMetrics, HealthMetrics, ReconcileMetrics};
pub use table::{TableCollector, encode_table};

/// The content type of [`Metrics::encode`]'s output (Prometheus text
/// format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The content type of [`Metrics::encode_openmetrics`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which names the table's figures are exposed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricsOptions {
    /// This crate's names (`ipvs_...`), the complete set.
    pub ipvs: bool,
    /// node_exporter's `ipvs` collector names and labels (`node_ipvs_...`).
    pub node_exporter: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            ipvs: true,
            node_exporter: false,
        }
    }
}

impl MetricsOptions {
    /// Both sets.
    pub fn both() -> Self {
        MetricsOptions {
            ipvs: true,
            node_exporter: true,
        }
    }
}

/// Reads the table when asked: the kernel's, through a client, or any
/// other (a test's, a file's).
pub type TableReader = dyn Fn() -> Result<Vec<ServiceState>, String> + Send + Sync;

/// A registry with the IPVS table's collector and the hooks for health
/// checking, failover and reconciling. Share it (`Arc`) between whoever
/// serves `/metrics` and the modules that record figures.
pub struct Metrics {
    registry: Mutex<Registry>,
    table: Arc<TableReader>,
    health: OnceLock<HealthMetrics>,
    failover: OnceLock<FailoverMetrics>,
    reconcile: OnceLock<ReconcileMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics for the table `read` returns, read at every scrape.
    pub fn new(
        read: impl Fn() -> Result<Vec<ServiceState>, String> + Send + Sync + 'static,
        options: MetricsOptions,
    ) -> Metrics {
        let table: Arc<TableReader> = Arc::new(read);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(TableCollector::new(table.clone(), options)));
        Metrics {
            registry: Mutex::new(registry),
            table,
            health: OnceLock::new(),
            failover: OnceLock::new(),
            reconcile: OnceLock::new(),
        }
    }

    /// Metrics for the kernel's table, read through `client` at every scrape.
    pub fn for_client(client: crate::client::Client, options: MetricsOptions) -> Metrics {
        Metrics::new(
            move || {
                client
                    .snapshot()
                    .map(|entries| entries.into_iter().map(ServiceState::from).collect())
                    .map_err(|e| e.to_string())
            },
            options,
        )
    }

    /// Read the table now (what a scrape reads; the status page uses it too).
    pub fn read_table(&self) -> Result<Vec<ServiceState>, String> {
        (self.table)()
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String fails only if a collector reports an error.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }

    /// Everything, in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Register figures of your own (under `prefix`, which may be empty).
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut registry);
    }

    /// The health checker's figures, registered on the first call.
    pub fn health(&self) -> &HealthMetrics {
        self.health.get_or_init(|| {
            let h = HealthMetrics::default();
            self.register(|r| h.register(r));
            h
        })
    }

    /// Failover's figures, registered on the first call.
    pub fn failover(&self) -> &FailoverMetrics {
        self.failover.get_or_init(|| {
            let f = FailoverMetrics::default();
            self.register(|r| f.register(r));
            f
        })
    }

    /// The reconcile loop's figures, registered on the first call.
    pub fn reconcile(&self) -> &ReconcileMetrics {
        self.reconcile.get_or_init(|| {
            let m = ReconcileMetrics::default();
            self.register(|r| m.register(r));
            m
        })
    }
}
