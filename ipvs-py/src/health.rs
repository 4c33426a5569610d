//! `ipvs.health`: run files, checks, events and the health-checked run of
//! `ipvs::health`. A run lives on a tokio runtime of its own (its own
//! threads); Python waits for it with the GIL released and in bounded
//! slices, so that Ctrl-C is seen.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use ipvs::client::Client;
use ipvs::health::probe::{Failure, FailureReason, Outcome, Target};
use ipvs::health::{
    Check, CheckError, ConfigError, Event, Format, Handle, MemoryTable, Monitor, OnStop, RunConfig,
    RunError, ServiceHealth, Supervisor, SupervisorOptions, Table,
};
use ipvs::state::{ApplyOptions, ApplyReport, Plan, State};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::convert::{self, Model};
use crate::errors::kind_errno;
use crate::pump::Pump;
use crate::state::{state_error_to_py, state_from_py, state_to_py};

/// How long one wait lasts before Python's signals are looked at.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// An exception of a Python module of the package, built by its
/// `_from_native(kind, message, details)`.
pub(crate) fn native_error(
    py: Python<'_>,
    module: &str,
    kind: &str,
    message: &str,
    details: Value,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let f = py.import(module)?.getattr("_from_native")?;
        Ok(PyErr::from_value(f.call1((
            kind,
            message,
            details.to_string(),
        ))?))
    })();
    made.unwrap_or_else(|e| {
        PyRuntimeError::new_err(format!(
            "{message} (and {module} could not make the exception: {e})"
        ))
    })
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{what}: {secs} is not a duration in seconds")))
}

/// A runtime of its own for one run.
pub(crate) fn runtime(name: &str) -> PyResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a runtime: {e}")))
}

/// A run file that does not load, as `ipvs.health.ConfigError` (or the
/// `ipvs.StateError` a state file with the same problem raises).
fn config_error_to_py(py: Python<'_>, e: &ConfigError, text: Option<&str>) -> PyErr {
    let message = e.to_string();
    let (kind, details) = match e {
        ConfigError::State(s) => return state_error_to_py(py, s, text),
        ConfigError::Read { path, source } => (
            "Read",
            json!({ "path": path.display().to_string(), "errno": kind_errno(source.kind()) }),
        ),
        ConfigError::Field {
            location,
            field,
            problem,
        } => (
            "Field",
            json!({
                "service": location.service,
                "dest": location.dest.map(|d| d.to_string()),
                "field": field,
                "problem": problem,
            }),
        ),
        ConfigError::SharedProbeTiming(s) => (
            "SharedProbeTiming",
            json!({
                "service": s.second.service,
                "dest": s.second.dest.map(|d| d.to_string()),
                "field": "check",
                "problem": message,
            }),
        ),
        _ => ("Other", json!({})),
    };
    native_error(py, "ipvs.health", kind, &message, details)
}

fn check_error_to_py(py: Python<'_>, e: &CheckError) -> PyErr {
    native_error(
        py,
        "ipvs.health",
        "Field",
        &format!("field {}: {}", e.field, e.problem),
        json!({ "service": null, "dest": null, "field": e.field, "problem": e.problem }),
    )
}

/// `obj` as JSON text, values JSON lacks (addresses, paths) as `str()`:
/// the coercion of Python values into a serde document.
pub(crate) fn dumps(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let kw = pyo3::types::PyDict::new(py);
    kw.set_item("default", py.import("builtins")?.getattr("str")?)?;
    py.import("json")?
        .getattr("dumps")?
        .call((obj,), Some(&kw))?
        .extract()
}

/// A JSON text as Python values (maps keep their order).
pub(crate) fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("json")?
        .getattr("loads")?
        .call1((text,))?
        .unbind())
}

// ---------------------------------------------------------------------
// Checks.

/// One check of a real server (Rust's `ipvs::health::Check`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "Check")]
pub(crate) struct PyCheck {
    pub(crate) inner: Check,
}

#[pymethods]
impl PyCheck {
    /// A check of probe `type` with `fields` (its map in a run file),
    /// validated; values are passed through JSON (`str()` for others, such
    /// as addresses).
    #[new]
    #[pyo3(signature = (r#type, **fields))]
    fn new(
        py: Python<'_>,
        r#type: &str,
        fields: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let dict = pyo3::types::PyDict::new(py);
        if let Some(f) = fields {
            dict.update(f.as_mapping())?;
        }
        dict.set_item("type", r#type)?;
        Self::from_json(py, &dumps(py, dict.as_any())?)
    }

    /// A check from its map in JSON (`{"type": "tcp", "interval": "2s"}`),
    /// validated.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PyValueError::new_err(format!("malformed check JSON ({e})")))?;
        let check = Check::from_value(&value)
            .and_then(|c| c.validate().map(|()| c))
            .map_err(|e| check_error_to_py(py, &e))?;
        Ok(PyCheck { inner: check })
    }

    /// The check as its map in JSON (what `from_json` reads).
    fn to_json(&self) -> String {
        self.inner.to_value().to_string()
    }

    /// The probe's `type`: `tcp`, `tcp_send_expect`, `http`, `udp`, `dns`,
    /// `exec` or `file`.
    #[getter]
    fn r#type(&self) -> &'static str {
        self.inner.probe.kind()
    }

    #[getter]
    fn interval(&self) -> f64 {
        self.inner.interval.as_secs_f64()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.inner.timeout.as_secs_f64()
    }

    #[getter]
    fn fall(&self) -> u32 {
        self.inner.fall
    }

    #[getter]
    fn rise(&self) -> u32 {
        self.inner.rise
    }

    #[getter]
    fn jitter(&self) -> f64 {
        self.inner.timing().jitter.as_secs_f64()
    }

    #[getter]
    fn connect_address(&self) -> Option<String> {
        self.inner.connect_address.map(|a| a.to_string())
    }

    #[getter]
    fn connect_port(&self) -> Option<u16> {
        self.inner.connect_port
    }

    #[getter]
    fn source(&self) -> Option<String> {
        self.inner.source.map(|a| a.to_string())
    }

    /// Run the probe once against the real server `address`:`port` (the
    /// check's `connect_address`/`connect_port` apply), within `timeout`
    /// seconds (default: the check's).
    #[pyo3(signature = (address, port, timeout=None))]
    fn probe(
        &self,
        py: Python<'_>,
        address: &str,
        port: u16,
        timeout: Option<f64>,
    ) -> PyResult<PyOutcome> {
        let ip: std::net::IpAddr = address.parse().map_err(|_| {
            PyValueError::new_err(format!("address: {address:?} is not an IP address"))
        })?;
        let timeout = match timeout {
            Some(t) => seconds("timeout", t)?,
            None => self.inner.timeout,
        };
        let target: Target = self.inner.target(std::net::SocketAddr::new(ip, port));
        let probe = self.inner.probe.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start a runtime: {e}")))?;
        let outcome = py.detach(|| {
            rt.block_on(ipvs::health::scheduler::run_bounded(
                &probe, &target, timeout,
            ))
        });
        Ok(PyOutcome { inner: outcome })
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyCheck>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.to_json().hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        format!("Check({})", self.to_json())
    }
}

/// What one probe found.
#[pyclass(frozen, module = "ipvs._ipvs", name = "Outcome")]
pub(crate) struct PyOutcome {
    inner: Outcome,
}

#[pymethods]
impl PyOutcome {
    /// An outcome, as a probe would report it: up (with the `weight` it
    /// asks for, if any), or down for `reason` (`timeout`, `refused`, ...).
    #[new]
    #[pyo3(signature = (up, weight=None, reason=None, detail=String::new()))]
    fn new(up: bool, weight: Option<u32>, reason: Option<&str>, detail: String) -> PyResult<Self> {
        let words = || {
            FailureReason::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inner = match (up, weight, reason) {
            (true, None, None) => Outcome::Up,
            (true, Some(w), None) => Outcome::UpWithWeight(w),
            (false, None, Some(r)) => {
                let reason = FailureReason::ALL
                    .iter()
                    .find(|k| k.as_str() == r)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("reason: {r:?} is not one of {}", words()))
                    })?;
                Outcome::Down(Failure::new(*reason, detail))
            }
            (false, None, None) => {
                return Err(PyValueError::new_err(format!(
                    "reason: a down outcome needs one ({})",
                    words()
                )));
            }
            _ => {
                return Err(PyValueError::new_err(
                    "an up outcome has no reason, a down one no weight",
                ));
            }
        };
        Ok(PyOutcome { inner })
    }

    /// Whether the server is up.
    #[getter]
    fn up(&self) -> bool {
        self.inner.is_up()
    }

    /// The weight the server asked for (exec and file checks), if any.
    #[getter]
    fn weight(&self) -> Option<u32> {
        match self.inner {
            Outcome::UpWithWeight(w) => Some(w),
            _ => None,
        }
    }

    /// Why it is down: `timeout`, `refused`, `reset`, ... (None if up).
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.failure().map(|f| f.reason.as_str())
    }

    /// The failure's detail (None if up).
    #[getter]
    fn detail(&self) -> Option<String> {
        self.inner.failure().map(|f| f.detail.clone())
    }

    fn __bool__(&self) -> bool {
        self.inner.is_up()
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Outcome::Up => "Outcome(up)".to_owned(),
            Outcome::UpWithWeight(w) => format!("Outcome(up, weight {w})"),
            Outcome::Down(f) => format!("Outcome(down, {f})"),
        }
    }
}

// ---------------------------------------------------------------------
// Run files.

/// The file of a health-checked run (Rust's `ipvs::health::RunConfig`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "RunConfig")]
pub(crate) struct PyRunConfig {
    pub(crate) inner: RunConfig,
}

fn format_from(name: &str) -> PyResult<Format> {
    Ok(match name {
        "json" => Format::Json,
        "yaml" => Format::Yaml,
        "toml" => Format::Toml,
        "rules" => Format::Rules,
        "piranha" => Format::Piranha,
        "keepalived" => Format::Keepalived,
        other => {
            return Err(PyValueError::new_err(format!(
                "format: {other:?} is not json, yaml, toml, rules, piranha or keepalived"
            )));
        }
    })
}

#[pymethods]
impl PyRunConfig {
    /// Read a run file, its format by its extension.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).ok();
        match py.detach(|| RunConfig::load(&path)) {
            Ok(inner) => Ok(PyRunConfig { inner }),
            Err(e) => Err(config_error_to_py(py, &e, text.as_deref())),
        }
    }

    /// Read `text` in `format` (`json`, `yaml`, `toml`, `rules`, `piranha`,
    /// `keepalived`).
    #[staticmethod]
    fn loads(py: Python<'_>, text: &str, format: &str) -> PyResult<Self> {
        let format = format_from(format)?;
        match RunConfig::parse(text, format) {
            Ok(inner) => Ok(PyRunConfig { inner }),
            Err(e) => Err(config_error_to_py(py, &e, Some(text))),
        }
    }

    /// Check it as starting a run checks it: programs exist, regexes
    /// compile, destinations sharing a probe agree on its timing.
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .validate()
            .map_err(|e| config_error_to_py(py, &e, None))
    }

    /// As JSON (what `loads(text, "json")` reads back).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// As YAML.
    fn to_yaml(&self, py: Python<'_>) -> PyResult<String> {
        self.inner
            .to_yaml()
            .map_err(|e| config_error_to_py(py, &e, None))
    }

    /// As TOML.
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        self.inner
            .to_toml()
            .map_err(|e| config_error_to_py(py, &e, None))
    }

    /// The table as configured (every destination at its configured weight).
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        state_to_py(py, &self.inner.state)
    }

    /// Every checked destination: `(service key, address, port, check)`, in
    /// file order.
    fn checks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let m = Model::get(py)?;
        let list = PyList::empty(py);
        for (key, dest, check) in self.inner.checked() {
            let check = Py::new(
                py,
                PyCheck {
                    inner: check.clone(),
                },
            )?;
            list.append((
                convert::key_to_py(py, m, &key)?,
                dest.ip().to_string(),
                dest.port(),
                check,
            ))?;
        }
        Ok(list)
    }

    /// A service's health settings (its default check and policy), or None.
    fn health(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<PyServiceHealth>> {
        let key = convert::key_from_py(Model::get(py)?, key)?;
        Ok(self
            .inner
            .services
            .get(&key)
            .map(|h| PyServiceHealth { inner: h.clone() }))
    }

    /// The failover settings (`failover:`), if any.
    #[getter]
    fn failover(&self) -> Option<crate::failover::PySettings> {
        self.inner
            .failover
            .clone()
            .map(|inner| crate::failover::PySettings { inner })
    }

    /// The notify program's command, if any.
    #[getter]
    fn notify(&self) -> Option<Vec<String>> {
        self.inner.notify.as_ref().map(|n| n.command.clone())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyRunConfig>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "RunConfig({} services, {} checked destinations)",
            self.inner.state.services.len(),
            self.inner.checked().count()
        )
    }
}

// ---------------------------------------------------------------------
// The policy engine.

/// The policy engine without I/O (Rust's `ipvs::health::Monitor`): probe
/// results in, transitions and the effective desired state out.
#[pyclass(frozen, module = "ipvs._ipvs", name = "Monitor")]
pub(crate) struct PyMonitor {
    inner: Mutex<Monitor>,
}

#[pymethods]
impl PyMonitor {
    #[new]
    fn new(config: &PyRunConfig) -> Self {
        PyMonitor {
            inner: Mutex::new(Monitor::new(config.inner.clone())),
        }
    }

    /// How many distinct probes run (one per target, probe and source,
    /// however many services share it).
    fn probe_count(&self) -> usize {
        lock(&self.inner).probes().count()
    }

    /// Count a result of the probe of destination `address`:`port` of
    /// `service`: the up and down events it causes.
    fn record(
        &self,
        py: Python<'_>,
        service: &Bound<'_, PyAny>,
        address: &str,
        port: u16,
        outcome: &PyOutcome,
    ) -> PyResult<Vec<PyEvent>> {
        let key = convert::key_from_py(Model::get(py)?, service)?;
        let ip: std::net::IpAddr = address.parse().map_err(|_| {
            PyValueError::new_err(format!("address: {address:?} is not an IP address"))
        })?;
        let dest = std::net::SocketAddr::new(ip, port);
        let mut m = lock(&self.inner);
        let id = m.probe_of(&key, dest).ok_or_else(|| {
            PyValueError::new_err(format!("{key}, destination {dest}: not checked"))
        })?;
        Ok(m.record(id, &outcome.inner)
            .into_iter()
            .map(event)
            .collect())
    }

    /// The effective desired state now, and the events since the last
    /// call (weight steps, quorum lost or regained, sorry server in or out).
    fn desired<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Vec<PyEvent>)> {
        let (state, events) = lock(&self.inner).desired();
        Ok((
            state_to_py(py, &state)?,
            events.into_iter().map(event).collect(),
        ))
    }

    /// Whether `service` has its quorum (true without one).
    fn has_quorum(&self, py: Python<'_>, service: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = convert::key_from_py(Model::get(py)?, service)?;
        Ok(lock(&self.inner).has_quorum(&key))
    }
}

// ---------------------------------------------------------------------
// Policies.

/// A service's health settings (Rust's `ipvs::health::ServiceHealth`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "ServiceHealth")]
pub(crate) struct PyServiceHealth {
    inner: ServiceHealth,
}

fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[pymethods]
impl PyServiceHealth {
    /// The check of destinations without their own, if any.
    #[getter]
    fn check(&self) -> Option<PyCheck> {
        self.inner.check.clone().map(|inner| PyCheck { inner })
    }

    /// What a failed destination becomes: `remove` or `quiesce`.
    #[getter]
    fn on_failure(&self) -> String {
        word(&self.inner.on_failure)
    }

    /// Slow start's divisor (the first weight is weight x 2 / divisor,
    /// doubling each interval), or None: back at full weight at once.
    #[getter]
    fn slow_start(&self) -> Option<u32> {
        self.inner.slow_start.map(|s| s.divisor)
    }

    /// The quorum as `(weight, hysteresis)`, or None.
    #[getter]
    fn quorum(&self) -> Option<(u32, u32)> {
        self.inner.quorum.map(|q| (q.weight, q.hysteresis))
    }

    /// The sorry server, or None.
    #[getter]
    fn sorry_server<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .sorry_server
            .as_ref()
            .map(|d| convert::destination_to_py(py, Model::get(py)?, d))
            .transpose()
    }

    /// What checked destinations are before their first probe: `up` or `down`.
    #[getter]
    fn initial(&self) -> String {
        word(&self.inner.initial)
    }

    /// The serde form (JSON), as in a run file's `health:` block.
    fn to_json(&self) -> String {
        serde_json::to_string(&self.inner).unwrap_or_default()
    }

    /// The serde form as a dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.to_json())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyServiceHealth>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!("ServiceHealth({})", self.to_json())
    }
}

// ---------------------------------------------------------------------
// Events.

/// A transition of a run (Rust's `ipvs::health::Event`) and when it was seen.
#[pyclass(frozen, module = "ipvs._ipvs", name = "HealthEvent")]
pub(crate) struct PyEvent {
    inner: Event,
    at: SystemTime,
}

impl PyEvent {
    fn value(&self) -> Value {
        serde_json::to_value(&self.inner).unwrap_or(Value::Null)
    }
}

#[pymethods]
impl PyEvent {
    /// The event's name: `dest-up`, `dest-down`, ...
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The event's tag in its serde form: `dest_up`, `dest_down`, ...
    #[getter]
    fn event(&self) -> String {
        self.value()["event"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The service it is about, if any.
    #[getter]
    fn service<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .service()
            .map(|k| convert::key_to_py(py, Model::get(py)?, k))
            .transpose()
    }

    /// The destination (`address:port`, IPv6 in brackets), if any.
    #[getter]
    fn dest(&self) -> Option<String> {
        self.value()["dest"].as_str().map(str::to_owned)
    }

    /// The fields as `(name, value)` pairs: the log line's words.
    #[getter]
    fn fields(&self) -> Vec<(&'static str, String)> {
        self.inner.fields()
    }

    /// When the event was received, in seconds since the epoch.
    #[getter]
    fn time(&self) -> f64 {
        self.at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    }

    /// That time as RFC 3339 UTC with milliseconds (as `ipvsctl run` logs).
    #[getter]
    fn timestamp(&self) -> String {
        ipvs::health::event::timestamp(self.at)
    }

    /// The serde form (JSON), as `ipvsctl run` and the Rust crate write it.
    fn to_json(&self) -> String {
        serde_json::to_string(&self.inner).unwrap_or_default()
    }

    /// The serde form as a dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.to_json())
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<HealthEvent {}>", self.inner)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyEvent>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.to_json().hash(&mut h);
        h.finish()
    }
}

// ---------------------------------------------------------------------
// Runs.

/// The kernel's table through a client shared with Python.
struct ClientTable {
    client: Arc<Client>,
    options: ApplyOptions,
}

impl Table for ClientTable {
    fn read(&mut self) -> Result<State, ipvs::client::Error> {
        State::read(&self.client)
    }

    fn apply(&mut self, plan: &Plan, actual: &State) -> ApplyReport {
        plan.apply(&self.client, actual, &self.options)
    }
}

/// A run on its own runtime.
#[pyclass(frozen, module = "ipvs._ipvs", name = "HealthRun")]
pub(crate) struct PyHealthRun {
    pump: Pump<Event>,
    handle: Handle,
    result: Arc<Mutex<Option<Result<(), String>>>>,
    memory: Option<MemoryTable>,
}

impl PyHealthRun {
    fn run_error(&self, py: Python<'_>) -> PyResult<()> {
        match &*lock(&self.result) {
            Some(Err(message)) => Err(native_error(py, "ipvs.health", "Run", message, json!({}))),
            _ => Ok(()),
        }
    }

    /// Wait (bounded) for a command's answer.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        timeout: f64,
        f: impl std::future::Future<Output = Option<T>> + Send,
    ) -> PyResult<Option<T>> {
        let timeout = seconds("timeout", timeout)?;
        if self.pump.is_shut_down() {
            return Ok(None);
        }
        py.detach(|| {
            self.pump
                .handle()
                .block_on(async { tokio::time::timeout(timeout, f).await })
        })
        .map_err(|_| {
            native_error(
                py,
                "ipvs.health",
                "Run",
                &format!("the run did not answer within {} s", timeout.as_secs_f64()),
                json!({}),
            )
        })
    }

    /// Stop the run (bounded by `timeout`), then its runtime: waiters
    /// see the run end first, so none waits on a runtime shut down.
    fn shut_down(&self, timeout: Duration) {
        let handle = self.handle.clone();
        self.pump
            .shut_down(async move { handle.stop().await }, timeout);
    }
}

fn event(e: Event) -> PyEvent {
    PyEvent {
        inner: e,
        at: SystemTime::now(),
    }
}

#[pymethods]
impl PyHealthRun {
    /// Start a run of `config` on the kernel's table (through `client`, or
    /// a new client) or, with `memory`, on a table in memory holding that
    /// state.
    #[new]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    #[pyo3(signature = (config, client=None, memory=None, reconcile_period=5.0, on_stop="leave", drain=None, event_capacity=4096))]
    fn new(
        py: Python<'_>,
        config: &PyRunConfig,
        client: Option<&Bound<'_, crate::PyClient>>,
        memory: Option<&Bound<'_, PyAny>>,
        reconcile_period: f64,
        on_stop: &str,
        drain: Option<f64>,
        event_capacity: usize,
    ) -> PyResult<Self> {
        let options = SupervisorOptions {
            reconcile_period: seconds("reconcile_period", reconcile_period)?,
            on_stop: match on_stop {
                "leave" => OnStop::Leave,
                "remove" => OnStop::Remove,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "on_stop: {other:?} is not leave or remove"
                    )));
                }
            },
            drain: drain.map(|d| seconds("drain", d)).transpose()?,
            event_capacity: event_capacity.max(1),
            ..SupervisorOptions::default()
        };
        if options.reconcile_period.is_zero() {
            return Err(PyValueError::new_err(
                "reconcile_period: must be above zero",
            ));
        }
        let config = config.inner.clone();
        let (supervisor, handle, memory) = match memory {
            Some(state) => {
                let table = MemoryTable::new(state_from_py(py, state)?);
                let (s, h) = Supervisor::new(config, table.clone(), options);
                (s, h, Some(table))
            }
            None => {
                let client = match client {
                    Some(c) => c.get().get()?,
                    None => Arc::new(
                        py.detach(Client::new)
                            .map_err(|e| crate::errors::error_to_py(py, &e))?,
                    ),
                };
                let table = ClientTable {
                    client,
                    options: ApplyOptions::default(),
                };
                let (s, h) = Supervisor::new(config, table, options);
                (s, h, None)
            }
        };
        let events = handle.subscribe();
        let rt = runtime("ipvs-health")?;
        let (done_tx, done) = watch::channel(false);
        let result = Arc::new(Mutex::new(None));
        let result_w = result.clone();
        rt.spawn(async move {
            let r: Result<(), RunError> = supervisor.run().await;
            *lock(&result_w) = Some(r.map_err(|e| e.to_string()));
            let _ = done_tx.send(true);
        });
        Ok(PyHealthRun {
            pump: Pump::new(rt, events, Some(done)),
            handle,
            result,
            memory,
        })
    }

    /// The next event within `timeout` seconds; None if none came, or the
    /// run has ended and every event was read.
    #[pyo3(signature = (timeout=None))]
    fn next_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyEvent>> {
        Ok(self.pump.next(py, timeout)?.map(event))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next event, waiting as long as the run runs; the iteration ends
    /// when the run has ended and every event was read (raising the run's
    /// error if it failed).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        match self.next_event(py, None)? {
            Some(e) => Ok(Some(e)),
            None => {
                self.run_error(py)?;
                Ok(None)
            }
        }
    }

    /// Whether the run is running.
    #[getter]
    fn running(&self) -> bool {
        !self.pump.finished() && !self.pump.is_shut_down()
    }

    /// Events a slow reader missed (more than `event_capacity` behind).
    #[getter]
    fn missed(&self) -> u64 {
        self.pump.missed()
    }

    /// Why the run ended, if it failed.
    #[getter]
    fn error(&self) -> Option<String> {
        lock(&self.result).clone().and_then(Result::err)
    }

    /// The effective desired state now (None once stopped).
    #[pyo3(signature = (timeout=10.0))]
    fn desired<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Option<Bound<'py, PyAny>>> {
        let handle = self.handle.clone();
        match self.call(py, timeout, async move { handle.desired().await })? {
            Some(s) => Ok(Some(state_to_py(py, &s)?)),
            None => Ok(None),
        }
    }

    /// Run `config` from now on: `(started, stopped, kept, ops)`, None once
    /// stopped.
    #[pyo3(signature = (config, timeout=30.0))]
    fn reload(
        &self,
        py: Python<'_>,
        config: &PyRunConfig,
        timeout: f64,
    ) -> PyResult<Option<(usize, usize, usize, usize)>> {
        let handle = self.handle.clone();
        let config = config.inner.clone();
        let r = self.call(py, timeout, async move { handle.reload(config).await })?;
        Ok(r.map(|s| (s.started, s.stopped, s.kept, s.ops)))
    }

    /// Load `path` and run it; a file that does not load raises and the
    /// running configuration stays.
    #[pyo3(signature = (path, timeout=30.0))]
    fn reload_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        timeout: f64,
    ) -> PyResult<Option<(usize, usize, usize, usize)>> {
        let handle = self.handle.clone();
        let text = std::fs::read_to_string(&path).ok();
        let r = self.call(py, timeout, async move { handle.reload_file(path).await })?;
        match r {
            None => Ok(None),
            Some(Ok(s)) => Ok(Some((s.started, s.stopped, s.kept, s.ops))),
            Some(Err(e)) => Err(config_error_to_py(py, &e, text.as_deref())),
        }
    }

    /// A memory table's state now (None on the kernel's table).
    fn table<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.memory
            .as_ref()
            .map(|m| state_to_py(py, &m.snapshot()))
            .transpose()
    }

    /// Replace a memory table's state, as an operator would behind the run's back.
    fn set_table(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(m) = &self.memory else {
            return Err(PyValueError::new_err(
                "set_table: only a run on a memory table has one to set",
            ));
        };
        let s = state_from_py(py, state)?;
        m.edit(|t| *t = s);
        Ok(())
    }

    /// Stop the run (what it does on stop included), and stop its threads
    /// and probes; waits at most `timeout` seconds for the run, then 2 s
    /// for its threads. Events not read yet can still be read.
    #[pyo3(signature = (timeout=10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds("timeout", timeout)?;
        py.detach(|| self.shut_down(timeout));
        Ok(())
    }
}

impl Drop for PyHealthRun {
    fn drop(&mut self) {
        self.shut_down(Duration::from_secs(5));
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCheck>()?;
    m.add_class::<PyOutcome>()?;
    m.add_class::<PyRunConfig>()?;
    m.add_class::<PyServiceHealth>()?;
    m.add_class::<PyMonitor>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyHealthRun>()?;
    Ok(())
}
