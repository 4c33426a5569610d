//! `ipvs._ipvs`: the native half of the `ipvs` Python package.
//!
//! The Python model (`ipvs.model`) is pure Python; it crosses into Rust as
//! JSON in exactly the serde form of the Rust model, so there is one
//! validation (Rust's `validate()`), one codec and one client. Every kernel
//! call runs with the GIL released. Errors become the exception classes of
//! `ipvs.errors`, built by `ipvs.errors._from_native`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipvs::client::{self, Netns, Operation, ServiceEntry};
use ipvs::{
    Connections, DaemonState, Destination, ForwardMethod, Info, Netmask, Persistence, Service,
    ServiceKey, Stats, SyncDaemon, Timeouts, Tunnel, ValidationError, Version,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod cluster;
mod convert;
mod errors;
mod failover;
mod health;
mod importer;
mod metrics;
mod pump;
mod state;

use convert::Model;
use errors::{error_to_py, validation_to_py};

/// Parse the JSON of a model value; a malformed one is a bug of the Python
/// side (its constructors check types and ranges), reported as ValueError.
fn parse<T: DeserializeOwned>(what: &str, json: &str) -> PyResult<T> {
    serde_json::from_str(json)
        .map_err(|e| PyValueError::new_err(format!("malformed {what} JSON ({e}): {json}")))
}

fn serialize<T: Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize to JSON: {e}")))
}

/// Rust-side deserialize-then-serialize of one model value: what the Rust
/// serde form of `json` is. For tests and for checking documents.
#[pyfunction]
fn normalize(kind: &str, json: &str) -> PyResult<String> {
    fn round<T: Serialize + DeserializeOwned>(kind: &str, json: &str) -> PyResult<String> {
        serialize(&parse::<T>(kind, json)?)
    }
    match kind {
        "service" => round::<Service>(kind, json),
        "service_key" => round::<ServiceKey>(kind, json),
        "destination" => round::<Destination>(kind, json),
        "forward" => round::<ForwardMethod>(kind, json),
        "tunnel" => round::<Tunnel>(kind, json),
        "persistence" => round::<Persistence>(kind, json),
        "netmask" => round::<Netmask>(kind, json),
        "stats" => round::<Stats>(kind, json),
        "connections" => round::<Connections>(kind, json),
        "timeouts" => round::<Timeouts>(kind, json),
        "info" => round::<Info>(kind, json),
        "version" => round::<Version>(kind, json),
        "daemon" => round::<SyncDaemon>(kind, json),
        "daemon_state" => round::<DaemonState>(kind, json),
        "operation" => round::<Operation>(kind, json),
        "operations" => round::<Vec<Operation>>(kind, json),
        "entry" => round::<ServiceEntry>(kind, json),
        "entries" => round::<Vec<ServiceEntry>>(kind, json),
        _ => Err(PyValueError::new_err(format!("unknown kind {kind:?}"))),
    }
}

fn check(py: Python<'_>, r: Result<(), ValidationError>) -> PyResult<()> {
    r.map_err(|e| validation_to_py(py, &e, None))
}

/// Validate a `Service` (Rust's `Service::validate`).
#[pyfunction]
fn validate_service(py: Python<'_>, service: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = convert::service_from_py(Model::get(py)?, service)?;
    check(py, s.validate())
}

/// Validate a `ServiceKey` (Rust's `ServiceKey::validate`).
#[pyfunction]
fn validate_service_key(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
    let k = convert::key_from_py(Model::get(py)?, key)?;
    check(py, k.validate())
}

/// Validate a `Destination` of the service `key` (Rust's `Destination::validate`).
#[pyfunction]
fn validate_destination(
    py: Python<'_>,
    destination: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let m = Model::get(py)?;
    let d = convert::destination_from_py(m, destination)?;
    let k = convert::key_from_py(m, key)?;
    check(py, d.validate(&k))
}

/// Validate a `SyncDaemon` (Rust's `SyncDaemon::validate`).
#[pyfunction]
fn validate_daemon(py: Python<'_>, daemon: &Bound<'_, PyAny>) -> PyResult<()> {
    let d = convert::daemon_from_py(Model::get(py)?, daemon)?;
    check(py, d.validate())
}

/// The Rust serde JSON of a Python model value (what the Rust side reads it as).
#[pyfunction]
fn to_json(py: Python<'_>, kind: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    convert::to_json(Model::get(py)?, kind, value)
}

/// The display string of a Python value (`str()`): its Rust value's `Display`.
#[pyfunction]
fn display(py: Python<'_>, kind: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    convert::display(Model::get(py)?, kind, value)
}

/// A Python model value built the way the client builds what it reads
/// from the kernel, from the Rust value `json` deserializes to.
#[pyfunction]
fn from_json<'py>(py: Python<'py>, kind: &str, json: &str) -> PyResult<Bound<'py, PyAny>> {
    convert::from_json(py, Model::get(py)?, kind, json)
}

/// For the benchmarks: `services` TCP services with `dests` NAT destinations
/// each, with stats and connection counts as the kernel reports them, built
/// in Rust; as the Python values a snapshot returns if `build`, else `None`.
#[pyfunction]
fn _synthetic_snapshot<'py>(
    py: Python<'py>,
    services: u32,
    dests: u16,
    build: bool,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let list = synthetic_entries(services, dests);
    if !build {
        return Ok(None);
    }
    let m = Model::get(py)?;
    convert::list_to_py(py, m, &list, convert::entry_to_py).map(Some)
}

fn synthetic_entries(services: u32, dests: u16) -> Vec<ServiceEntry> {
    use std::net::{Ipv4Addr, SocketAddr};
    let stats = Stats {
        connections: 12,
        packets_in: 3400,
        bytes_in: 567_000,
        ..Stats::default()
    };
    (0..services)
        .map(|i| {
            let vip = Ipv4Addr::from(0xc612_0000 + i);
            let mut service = Service::new(
                ServiceKey::tcp(SocketAddr::new(vip.into(), 80)),
                ipvs::Scheduler::WeightedRoundRobin,
            );
            service.stats = Some(stats);
            let destinations = (0..dests)
                .map(|j| {
                    let rip = Ipv4Addr::from(0xc633_6400 + (i * 4 + u32::from(j)) % 250 + 1);
                    let mut d = Destination::new(SocketAddr::new(rip.into(), 8000 + j));
                    d.weight = 1 + u32::from(j);
                    d.connections = Some(Connections {
                        active: 3,
                        inactive: 1,
                        persistent: 0,
                    });
                    d.stats = Some(stats);
                    d
                })
                .collect();
            ServiceEntry {
                service,
                destinations,
            }
        })
        .collect()
}

/// The blocking Rust client behind `ipvs.Client`.
///
/// Frozen and `Sync`: Python threads share it; calls are serialized on its
/// socket by the Rust client's own lock, with the GIL released meanwhile.
#[pyclass(frozen, module = "ipvs._ipvs", name = "Client")]
struct PyClient {
    inner: RwLock<Option<Arc<client::Client>>>,
}

impl PyClient {
    fn get(&self) -> PyResult<Arc<client::Client>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err("I/O operation on a closed ipvs.Client"))
    }

    /// Run `f` on the client without the GIL; map its error.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&client::Client) -> client::Result<T> + Send,
    ) -> PyResult<T> {
        let c = self.get()?;
        py.detach(|| f(&c)).map_err(|e| error_to_py(py, &e))
    }
}

#[pymethods]
impl PyClient {
    /// Open a socket (in the network namespace file `netns`, if given) and
    /// resolve the IPVS family. `timeout` in seconds, `None` for none.
    #[new]
    #[pyo3(signature = (netns = None, timeout = Some(30.0), dump_attempts = 5))]
    fn new(
        py: Python<'_>,
        netns: Option<std::path::PathBuf>,
        timeout: Option<f64>,
        dump_attempts: u32,
    ) -> PyResult<Self> {
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(PyValueError::new_err(format!(
                    "timeout: {t} is not a positive number of seconds (None waits forever)"
                )));
            }
        };
        let mut builder = client::Client::builder()
            .timeout(timeout)
            .dump_attempts(dump_attempts);
        if let Some(path) = netns {
            builder = builder.netns(Netns::Path(path));
        }
        let c = py
            .detach(|| builder.build())
            .map_err(|e| error_to_py(py, &e))?;
        Ok(PyClient {
            inner: RwLock::new(Some(Arc::new(c))),
        })
    }

    /// Close the socket (once calls in progress on other threads end).
    fn close(&self) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The generic-netlink id of the IPVS family.
    #[getter]
    fn family_id(&self) -> PyResult<u16> {
        Ok(self.get()?.family_id())
    }

    /// Apply one `ipvs.Operation`.
    fn execute(&self, py: Python<'_>, op: &Bound<'_, PyAny>) -> PyResult<()> {
        let op = convert::op_from_py(Model::get(py)?, op)?;
        self.call(py, |c| c.execute(&op))
    }

    /// Apply a sequence of operations: one entry per operation, `None` or
    /// the exception it failed with.
    fn apply<'py>(&self, py: Python<'py>, ops: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let mut list = Vec::new();
        for (index, op) in ops.try_iter()?.enumerate() {
            let op = op?;
            list.push(convert::op_from_py(m, &op).map_err(|e| {
                PyTypeError::new_err(format!("operation {index}: {}", e.value(py)))
            })?);
        }
        let result = self.call(py, |c| c.execute_batch(&list))?;
        let items = result
            .results
            .iter()
            .map(|r| match r {
                Ok(()) => py.None(),
                Err(e) => error_to_py(py, e).into_value(py).into_any(),
            })
            .collect::<Vec<_>>();
        PyList::new(py, items)
    }

    /// One `Service`, by key.
    fn service<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let m = Model::get(py)?;
        let key = convert::key_from_py(m, key)?;
        let s = self.call(py, |c| c.service(&key))?;
        convert::service_to_py(py, m, &s)
    }

    /// Every `Service`.
    fn services<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let list = self.call(py, |c| c.services())?;
        convert::list_to_py(py, m, &list, convert::service_to_py)
    }

    /// The `Destination`s of a service.
    fn destinations<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let key = convert::key_from_py(m, key)?;
        let list = self.call(py, |c| c.destinations(&key))?;
        convert::list_to_py(py, m, &list, convert::destination_to_py)
    }

    /// Every service with its destinations (`ServiceEntry`s).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let list = self.call(py, |c| c.snapshot())?;
        convert::list_to_py(py, m, &list, convert::entry_to_py)
    }

    /// The Rust snapshot alone, no Python value built: how many services
    /// and destinations it holds (for the benchmarks).
    fn _snapshot_counts(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        let list = self.call(py, |c| c.snapshot())?;
        Ok((list.len(), list.iter().map(|e| e.destinations.len()).sum()))
    }

    /// The `Timeouts`.
    fn timeouts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = Model::get(py)?;
        let t = self.call(py, |c| c.timeouts())?;
        convert::timeouts_to_py(py, m, &t)
    }

    /// The `Info`.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = Model::get(py)?;
        let i = self.call(py, |c| c.info())?;
        convert::info_to_py(py, m, &i)
    }

    /// The running `SyncDaemon`s.
    fn daemons<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let list = self.call(py, |c| c.daemons())?;
        convert::list_to_py(py, m, &list, convert::daemon_to_py)
    }
}

#[pymodule]
fn _ipvs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyClient>()?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(validate_service, m)?)?;
    m.add_function(wrap_pyfunction!(validate_service_key, m)?)?;
    m.add_function(wrap_pyfunction!(validate_destination, m)?)?;
    m.add_function(wrap_pyfunction!(validate_daemon, m)?)?;
    m.add_function(wrap_pyfunction!(to_json, m)?)?;
    m.add_function(wrap_pyfunction!(from_json, m)?)?;
    m.add_function(wrap_pyfunction!(display, m)?)?;
    m.add_function(wrap_pyfunction!(_synthetic_snapshot, m)?)?;
    state::register(m)?;
    cluster::register(m)?;
    health::register(m)?;
    failover::register(m)?;
    importer::register(m)?;
    metrics::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
