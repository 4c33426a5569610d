//! `ipvs.failover`: the settings, the role and its events, and a failover
//! run (`ipvs::failover::Failover`: keepalived as a child, or attached to
//! one) on a runtime of its own.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ipvs::DaemonState;
use ipvs::client::Client;
use ipvs::failover::{Cause, Event, Failover, FailoverHandle, Role, Settings, SettingsError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};

use crate::health::json_loads;
use crate::health::{dumps, lock, native_error, runtime, seconds};
use crate::pump::Pump;

fn settings_error_to_py(py: Python<'_>, e: &SettingsError) -> PyErr {
    let message = e.to_string();
    let field = message.split(':').next().unwrap_or_default().to_owned();
    native_error(
        py,
        "ipvs.failover",
        "Settings",
        &message,
        json!({ "field": field }),
    )
}

/// The field serde names in "unknown field `x`" or "missing field `x`".
fn named_field(message: &str) -> Option<String> {
    ["unknown field `", "missing field `"].iter().find_map(|p| {
        let rest = message.split(p).nth(1)?;
        Some(rest.split('`').next()?.to_owned())
    })
}

/// The last key before where serde stopped in a one-line JSON document:
/// the field whose value did not read.
fn field_at(text: &str, e: &serde_json::Error) -> Option<String> {
    if e.line() != 1 {
        return None;
    }
    let upto: String = text.chars().take(e.column()).collect();
    let end = upto.rfind("\":")?;
    let start = upto[..end].rfind('"')? + 1;
    Some(upto[start..end].to_owned())
}

fn role_word(r: Role) -> String {
    r.to_string()
}

/// A director's failover settings (Rust's `ipvs::failover::Settings`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "FailoverSettings")]
pub(crate) struct PySettings {
    pub(crate) inner: Settings,
}

#[pymethods]
impl PySettings {
    /// Settings from the required fields and any others of the
    /// `failover:` block as keywords, validated.
    #[new]
    #[pyo3(signature = (interface, virtual_router_id, priority, vips, **fields))]
    fn new(
        py: Python<'_>,
        interface: &str,
        virtual_router_id: u32,
        priority: u32,
        vips: Vec<Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let dict = PyDict::new(py);
        if let Some(f) = fields {
            dict.update(f.as_mapping())?;
        }
        dict.set_item("interface", interface)?;
        dict.set_item("virtual_router_id", virtual_router_id)?;
        dict.set_item("priority", priority)?;
        let vips = vips
            .iter()
            .map(|v| v.str().map(|s| s.to_string()))
            .collect::<PyResult<Vec<String>>>()?;
        dict.set_item("vips", vips)?;
        Self::from_json(py, &dumps(py, dict.as_any())?)
    }

    /// Settings from the `failover:` block's document, validated.
    #[staticmethod]
    fn from_dict(py: Python<'_>, document: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::from_json(py, &dumps(py, document)?)
    }

    /// The serde form, every default written out.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.to_json()?)
    }

    /// Settings from their serde form (JSON; the `failover:` block of a
    /// run file), validated.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let settings: Settings = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let field = named_field(&message)
                .or_else(|| field_at(text, &e))
                .unwrap_or_else(|| "failover".to_owned());
            let message = message
                .strip_prefix(&format!("{field}: "))
                .unwrap_or(&message);
            native_error(
                py,
                "ipvs.failover",
                "Settings",
                &format!("{field}: {message}"),
                json!({ "field": field }),
            )
        })?;
        settings
            .validate()
            .map_err(|e| settings_error_to_py(py, &e))?;
        Ok(PySettings { inner: settings })
    }

    /// The serde form (JSON).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner)
            .map_err(|e| PyValueError::new_err(format!("cannot serialize: {e}")))
    }

    #[getter]
    fn instance(&self) -> &str {
        &self.inner.instance
    }

    #[getter]
    fn interface(&self) -> &str {
        &self.inner.interface
    }

    #[getter]
    fn virtual_router_id(&self) -> u32 {
        self.inner.virtual_router_id
    }

    #[getter]
    fn priority(&self) -> u32 {
        self.inner.priority
    }

    #[getter]
    fn advert_interval(&self) -> f64 {
        self.inner.advert_interval
    }

    #[getter]
    fn preempt(&self) -> bool {
        self.inner.preempt
    }

    #[getter]
    fn preempt_delay(&self) -> f64 {
        self.inner.preempt_delay
    }

    /// The VIPs as `address/prefix`.
    #[getter]
    fn vips(&self) -> Vec<String> {
        self.inner.vips.iter().map(|v| v.to_string()).collect()
    }

    /// The sync daemon's interface (`sync.interface`, or `interface`).
    #[getter]
    fn sync_interface(&self) -> &str {
        self.inner.sync_interface()
    }

    /// The sync daemon's id (`sync.sync_id`, or the virtual router id).
    #[getter]
    fn sync_id(&self) -> u32 {
        self.inner.sync_id()
    }

    /// The sync daemons (`"master"`, `"backup"`) a role calls for.
    fn sync_daemons_for(&self, role: &str) -> PyResult<Vec<&'static str>> {
        let role = role_from(role)?;
        Ok(ipvs::failover::sync::wanted(role, &self.inner)
            .into_iter()
            .map(daemon_word)
            .collect())
    }

    /// keepalived's configuration for these settings, its notify FIFO at `fifo`.
    fn keepalived_config(&self, fifo: PathBuf) -> String {
        ipvs::failover::keepalived_config(&self.inner, &fifo)
    }

    /// Check the settings on this host: keepalived installed (when it is to
    /// run as our child), the interfaces present, the VIPs of a family the
    /// interface has.
    fn check_host(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.inner.clone();
        py.detach(move || s.check_host())
            .map_err(|e| settings_error_to_py(py, &e))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PySettings>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> PyResult<u64> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.to_json()?.hash(&mut h);
        Ok(h.finish())
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("FailoverSettings({})", self.to_json()?))
    }
}

fn role_from(word: &str) -> PyResult<Role> {
    serde_json::from_value(Value::String(word.to_owned())).map_err(|_| {
        PyValueError::new_err(format!(
            "role: {word:?} is not MASTER, BACKUP, FAULT or STOP"
        ))
    })
}

fn daemon_word(d: DaemonState) -> &'static str {
    match d {
        DaemonState::Master => "master",
        DaemonState::Backup => "backup",
        DaemonState::Other(_) => "other",
    }
}

/// The roles' words, in order: `MASTER`, `BACKUP`, `FAULT`, `STOP`.
#[pyfunction]
fn failover_roles() -> Vec<String> {
    [Role::Master, Role::Backup, Role::Fault, Role::Stop]
        .into_iter()
        .map(role_word)
        .collect()
}

/// Something that happened to a failover run (Rust's `ipvs::failover::Event`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "FailoverEvent")]
pub(crate) struct PyFailoverEvent {
    inner: Event,
    at: SystemTime,
}

fn states(v: &[DaemonState]) -> Vec<&'static str> {
    v.iter().copied().map(daemon_word).collect()
}

impl PyFailoverEvent {
    /// The event as a map: `event` names it, the fields follow.
    fn value(&self) -> Value {
        match &self.inner {
            Event::Role {
                role,
                previous,
                priority,
                cause,
            } => json!({
                "event": "role",
                "role": role_word(*role),
                "previous": previous.map(role_word),
                "priority": priority,
                "cause": match cause {
                    Cause::Keepalived => "keepalived",
                    Cause::KeepalivedExited => "keepalived_exited",
                    Cause::Stopped => "stopped",
                },
            }),
            Event::Sync {
                role,
                running,
                stopped,
                started,
            } => json!({
                "event": "sync",
                "role": role_word(*role),
                "running": states(running),
                "stopped": states(stopped),
                "started": states(started),
            }),
            Event::SyncFailed {
                role,
                error,
                errno,
                retry_in,
            } => json!({
                "event": "sync_failed",
                "role": role_word(*role),
                "error": error,
                "errno": errno,
                "retry_in": retry_in.as_secs_f64(),
            }),
            Event::KeepalivedStarted { pid } => {
                json!({ "event": "keepalived_started", "pid": pid })
            }
            Event::KeepalivedExited {
                pid,
                status,
                restart_in,
            } => json!({
                "event": "keepalived_exited",
                "pid": pid,
                "status": status,
                "restart_in": restart_in.as_secs_f64(),
            }),
            Event::KeepalivedSpawnFailed { error, retry_in } => json!({
                "event": "keepalived_spawn_failed",
                "error": error,
                "retry_in": retry_in.as_secs_f64(),
            }),
            Event::Ignored { line } => json!({ "event": "ignored", "line": line }),
            Event::Stopped => json!({ "event": "stopped" }),
            _ => json!({ "event": "other", "text": self.inner.to_string() }),
        }
    }
}

#[pymethods]
impl PyFailoverEvent {
    /// The event's name: `role`, `sync`, `sync_failed`,
    /// `keepalived_started`, `keepalived_exited`,
    /// `keepalived_spawn_failed`, `ignored`, `stopped`.
    #[getter]
    fn event(&self) -> String {
        self.value()["event"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The role, for `role`, `sync` and `sync_failed` events.
    #[getter]
    fn role(&self) -> Option<String> {
        self.value()["role"].as_str().map(str::to_owned)
    }

    /// The role before, for `role` events (None before keepalived's first report).
    #[getter]
    fn previous(&self) -> Option<String> {
        self.value()["previous"].as_str().map(str::to_owned)
    }

    /// When the event was received, in seconds since the epoch.
    #[getter]
    fn time(&self) -> f64 {
        self.at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    }

    /// The event as JSON.
    fn to_json(&self) -> String {
        self.value().to_string()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<FailoverEvent {}>", self.inner)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyFailoverEvent>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// A failover run on its own runtime.
#[pyclass(frozen, module = "ipvs._ipvs", name = "FailoverRun")]
pub(crate) struct PyFailoverRun {
    pump: Pump<Event>,
    handle: Mutex<Option<FailoverHandle>>,
    role: tokio::sync::watch::Receiver<Option<Role>>,
}

impl PyFailoverRun {
    /// Stop failover (bounded by `timeout`), then its runtime.
    fn shut_down(&self, timeout: Duration) {
        let handle = lock(&self.handle).take();
        self.pump.shut_down(
            async move {
                if let Some(h) = handle {
                    h.stop().await;
                }
            },
            timeout,
        );
    }
}

#[pymethods]
impl PyFailoverRun {
    /// Check `settings` on this host, start keepalived (or attach to it)
    /// and follow its role, driving the sync daemons through `client` (or
    /// a new client).
    #[new]
    #[pyo3(signature = (settings, client=None))]
    fn new(
        py: Python<'_>,
        settings: &PySettings,
        client: Option<&Bound<'_, crate::PyClient>>,
    ) -> PyResult<Self> {
        let client: Arc<Client> = match client {
            Some(c) => c.get().get()?,
            None => Arc::new(
                py.detach(Client::new)
                    .map_err(|e| crate::errors::error_to_py(py, &e))?,
            ),
        };
        let settings = settings.inner.clone();
        let rt = runtime("ipvs-failover")?;
        let started = py.detach(|| rt.block_on(Failover::start(settings, client)));
        let handle = match started {
            Ok(h) => h,
            Err(ipvs::failover::StartError::Settings(e)) => {
                rt.shutdown_timeout(Duration::from_secs(2));
                return Err(settings_error_to_py(py, &e));
            }
            Err(e) => {
                rt.shutdown_timeout(Duration::from_secs(2));
                return Err(native_error(
                    py,
                    "ipvs.failover",
                    "Start",
                    &e.to_string(),
                    json!({}),
                ));
            }
        };
        Ok(PyFailoverRun {
            pump: Pump::new(rt, handle.events(), None),
            role: handle.role_changes(),
            handle: Mutex::new(Some(handle)),
        })
    }

    /// The role now (None before keepalived's first report).
    #[getter]
    fn role(&self) -> Option<String> {
        (*self.role.borrow()).map(role_word)
    }

    /// Whether the run is running (not stopped).
    #[getter]
    fn running(&self) -> bool {
        lock(&self.handle).is_some()
    }

    /// The next event within `timeout` seconds (None: none came, or the
    /// run has stopped and every event was read).
    #[pyo3(signature = (timeout=None))]
    fn next_event(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<Option<PyFailoverEvent>> {
        Ok(self.pump.next(py, timeout)?.map(|e| PyFailoverEvent {
            inner: e,
            at: SystemTime::now(),
        }))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next event, as long as the run runs.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyFailoverEvent>> {
        self.next_event(py, None)
    }

    /// Stop: keepalived (if ours) gets SIGTERM and releases the VIPs, the
    /// sync daemons become what `on_stop` says; waits at most `timeout`
    /// seconds, then 2 s for the threads. Events not read yet can still
    /// be read.
    #[pyo3(signature = (timeout=15.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds("timeout", timeout)?;
        py.detach(|| self.shut_down(timeout));
        Ok(())
    }
}

impl Drop for PyFailoverRun {
    fn drop(&mut self) {
        self.shut_down(Duration::from_secs(10));
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySettings>()?;
    m.add_class::<PyFailoverEvent>()?;
    m.add_class::<PyFailoverRun>()?;
    m.add_function(wrap_pyfunction!(failover_roles, m)?)?;
    Ok(())
}
