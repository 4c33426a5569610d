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
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod errors;

use errors::{error_to_py, validation_to_py};

/// Parse the JSON of a model value; a malformed one is a bug of the Python
/// side (its constructors check types and ranges), reported as ValueError.
fn parse<T: DeserializeOwned>(what: &str, json: &str) -> PyResult<T> {
    serde_json::from_str(json)
        .map_err(|e| PyValueError::new_err(format!("malformed {what} JSON ({e}): {json}")))
}

fn to_json<T: Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize to JSON: {e}")))
}

/// Rust-side deserialize-then-serialize of one model value: what the Rust
/// serde form of `json` is. For tests and for checking documents.
#[pyfunction]
fn normalize(kind: &str, json: &str) -> PyResult<String> {
    fn round<T: Serialize + DeserializeOwned>(kind: &str, json: &str) -> PyResult<String> {
        to_json(&parse::<T>(kind, json)?)
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

/// Validate a service (Rust's `Service::validate`).
#[pyfunction]
fn validate_service(py: Python<'_>, json: &str) -> PyResult<()> {
    let s: Service = parse("service", json)?;
    check(py, s.validate())
}

/// Validate a service key (Rust's `ServiceKey::validate`).
#[pyfunction]
fn validate_service_key(py: Python<'_>, json: &str) -> PyResult<()> {
    let k: ServiceKey = parse("service key", json)?;
    check(py, k.validate())
}

/// Validate a destination of the service `key_json` (Rust's `Destination::validate`).
#[pyfunction]
fn validate_destination(py: Python<'_>, json: &str, key_json: &str) -> PyResult<()> {
    let d: Destination = parse("destination", json)?;
    let k: ServiceKey = parse("service key", key_json)?;
    check(py, d.validate(&k))
}

/// Validate a sync daemon configuration (Rust's `SyncDaemon::validate`).
#[pyfunction]
fn validate_daemon(py: Python<'_>, json: &str) -> PyResult<()> {
    let d: SyncDaemon = parse("daemon", json)?;
    check(py, d.validate())
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

    /// Run a read without the GIL and return its result as JSON.
    fn read<T: Serialize>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&client::Client) -> client::Result<T> + Send,
    ) -> PyResult<Py<PyString>> {
        let c = self.get()?;
        let json = py
            .detach(|| f(&c).map(|v| serde_json::to_string(&v)))
            .map_err(|e| error_to_py(py, &e))?
            .map_err(|e| PyValueError::new_err(format!("cannot serialize to JSON: {e}")))?;
        Ok(PyString::new(py, &json).unbind())
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
        let c = py.detach(|| builder.build()).map_err(|e| error_to_py(py, &e))?;
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
        self.inner.read().unwrap_or_else(|e| e.into_inner()).is_none()
    }

    /// The generic-netlink id of the IPVS family.
    #[getter]
    fn family_id(&self) -> PyResult<u16> {
        Ok(self.get()?.family_id())
    }

    /// Apply one operation (serde JSON of `Operation`).
    fn execute(&self, py: Python<'_>, op_json: &str) -> PyResult<()> {
        let op: Operation = parse("operation", op_json)?;
        self.call(py, |c| c.execute(&op))
    }

    /// Apply a batch (JSON list of operations): one entry per operation,
    /// `None` or the exception it failed with.
    fn apply<'py>(&self, py: Python<'py>, ops_json: &str) -> PyResult<Bound<'py, PyList>> {
        let c = self.get()?;
        let result = py.detach(|| -> PyResult<_> {
            let ops: Vec<Operation> = serde_json::from_str(ops_json)
                .map_err(|e| PyValueError::new_err(format!("malformed operations JSON: {e}")))?;
            Ok(c.apply(&ops))
        })?;
        let result = result.map_err(|e| error_to_py(py, &e))?;
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

    /// One service (JSON), by key (JSON).
    fn service(&self, py: Python<'_>, key_json: &str) -> PyResult<Py<PyString>> {
        let key: ServiceKey = parse("service key", key_json)?;
        self.read(py, |c| c.service(&key))
    }

    /// Every service (JSON list).
    fn services(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.read(py, |c| c.services())
    }

    /// The destinations of a service (JSON list).
    fn destinations(&self, py: Python<'_>, key_json: &str) -> PyResult<Py<PyString>> {
        let key: ServiceKey = parse("service key", key_json)?;
        self.read(py, |c| c.destinations(&key))
    }

    /// Every service with its destinations (JSON list of entries).
    fn snapshot(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.read(py, |c| c.snapshot())
    }

    /// The timeouts (JSON).
    fn timeouts(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.read(py, |c| c.timeouts())
    }

    /// Version and connection table size (JSON).
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.read(py, |c| c.info())
    }

    /// The running sync daemons (JSON list).
    fn daemons(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.read(py, |c| c.daemons())
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
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
