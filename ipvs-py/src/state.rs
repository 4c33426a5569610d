//! The native half of `ipvs.state`: whole tables (`State`), diffs into
//! plans, plans applied to the kernel, ipvsadm rules and config files.
//!
//! Everything is the Rust crate's `ipvs::state` and `ipvs::rules`; this
//! module only converts. Python states cross object to object (through
//! `convert`), plans stay Rust values inside `_ipvs.Plan` (their Python
//! operations are built once, for reading), and every kernel call, diff and
//! parse of a big text runs with the GIL released.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipvs::client::{Error as ClientError, Operation};
use ipvs::rules::{self, WriteOptions};
use ipvs::state::{
    ApplyOptions, ApplyReport, Change, DiffOptions, DrainOptions, DrainTracker, FailedChange,
    OnError, Plan, Reconciler, ReplayError, ServiceState, State, StateError,
};
use ipvs::{Destination, ServiceKey};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};
use serde_json::{Value, json};

use crate::PyClient;
use crate::convert::{self, Model};
use crate::errors::{error_to_py, validation_field};

/// Handles on `ipvs.state`'s and `ipvs.ops`' classes, fetched once.
struct Classes {
    state: Py<PyAny>,
    service_state: Py<PyAny>,
    make_state: Py<PyAny>,
    make_service_state: Py<PyAny>,
    draining: Py<PyAny>,
    state_error: Py<PyAny>,
    from_native: Py<PyAny>,
    drain_destination: Py<PyAny>,
    // ipvs.ops
    set_timeouts: Py<PyAny>,
    add_service: Py<PyAny>,
    update_service: Py<PyAny>,
    delete_service: Py<PyAny>,
    add_destination: Py<PyAny>,
    update_destination: Py<PyAny>,
    delete_destination: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

impl Classes {
    fn get(py: Python<'_>) -> PyResult<&Classes> {
        CLASSES.get_or_try_init(py, || {
            let s = py.import("ipvs.state")?;
            let o = py.import("ipvs.ops")?;
            let e = py.import("ipvs.errors")?;
            let g = |m: &Bound<'_, PyModule>, n: &str| m.getattr(n).map(Bound::unbind);
            Ok(Classes {
                state: g(&s, "State")?,
                service_state: g(&s, "ServiceState")?,
                make_state: g(&s, "_make_state")?,
                make_service_state: g(&s, "_make_service_state")?,
                draining: g(&s, "Draining")?,
                state_error: g(&s, "_state_error")?,
                from_native: g(&e, "_from_native")?,
                drain_destination: g(&s, "DrainDestination")?,
                set_timeouts: g(&o, "SetTimeouts")?,
                add_service: g(&o, "AddService")?,
                update_service: g(&o, "UpdateService")?,
                delete_service: g(&o, "DeleteService")?,
                add_destination: g(&o, "AddDestination")?,
                update_destination: g(&o, "UpdateDestination")?,
                delete_destination: g(&o, "DeleteDestination")?,
            })
        })
    }
}

// ---------------------------------------------------------------------------
// Errors.

/// The variant's name of a Debug value: `DuplicateService`, `BadValue`, ...
fn variant<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Line and column (from 1, in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn replay_error_details(e: &ReplayError) -> Value {
    match e {
        ReplayError::ServiceExists(k) | ReplayError::NoSuchService(k) => json!({ "service": k }),
        ReplayError::DestExists { service, dest } | ReplayError::NoSuchDest { service, dest } => {
            json!({ "service": service, "address": dest.ip().to_string(), "port": dest.port() })
        }
        _ => json!({}),
    }
}

/// A `StateError` as `ipvs.StateError` (or its subclass `ipvs.RulesError`,
/// for rules); `text` is the document read, to place TOML errors.
pub(crate) fn state_error_to_py(py: Python<'_>, e: &StateError, text: Option<&str>) -> PyErr {
    let details = match e {
        StateError::DuplicateService(k) => json!({ "service": k }),
        StateError::DuplicateDest { service, dest } => json!({
            "service": service, "address": dest.ip().to_string(), "port": dest.port(),
        }),
        StateError::InvalidService { service, error } => json!({
            "service": service, "field": validation_field(error), "reason": variant(error),
        }),
        StateError::InvalidDest {
            service,
            dest,
            error,
        } => json!({
            "service": service, "address": dest.ip().to_string(), "port": dest.port(),
            "field": validation_field(error), "reason": variant(error),
        }),
        StateError::Rules(r) => json!({
            "line": r.line, "column": r.column, "reason": variant(&r.kind),
            "message": r.kind.to_string(),
        }),
        StateError::Rule { line, error } => {
            let mut d = replay_error_details(error);
            d["line"] = json!(line);
            d["column"] = json!(1);
            d["reason"] = json!(variant(error));
            d["message"] = json!(error.to_string());
            d
        }
        StateError::Json(j) => json!({ "line": j.line(), "column": j.column() }),
        StateError::Yaml(y) => match y.location() {
            Some(l) => json!({ "line": l.line(), "column": l.column() }),
            None => json!({}),
        },
        StateError::TomlRead(t) => match (t.span(), text) {
            (Some(span), Some(text)) => {
                let (line, column) = line_col(text, span.start);
                json!({ "line": line, "column": column, "message": t.message() })
            }
            _ => json!({ "message": t.message() }),
        },
        _ => json!({}),
    };
    let kind = match e {
        StateError::TomlRead(_) | StateError::TomlWrite(_) => "Toml".to_owned(),
        other => variant(other),
    };
    let made = (|| -> PyResult<PyErr> {
        let c = Classes::get(py)?;
        let exc =
            c.state_error
                .bind(py)
                .call1((kind.as_str(), e.to_string(), details.to_string()))?;
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|err| PyRuntimeError::new_err(format!("{e} ({err})")))
}

/// An in-memory refusal ([`Plan::replay`]) as the exception the kernel's
/// refusal would be (`ServiceExists`, `ServiceNotFound`, ...).
fn replay_error_to_py(py: Python<'_>, e: &ReplayError) -> PyErr {
    let (kind, errno) = match e {
        ReplayError::ServiceExists(_) => ("ServiceExists", libc::EEXIST),
        ReplayError::NoSuchService(_) => ("ServiceNotFound", libc::ESRCH),
        ReplayError::DestExists { .. } => ("DestinationExists", libc::EEXIST),
        ReplayError::NoSuchDest { .. } => ("DestinationNotFound", libc::ENOENT),
        _ => ("KernelError", libc::EINVAL),
    };
    let made = (|| -> PyResult<PyErr> {
        let c = Classes::get(py)?;
        let exc = c.from_native.bind(py).call1((
            kind,
            e.to_string(),
            errno,
            None::<&str>,
            replay_error_details(e).to_string(),
        ))?;
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|err| PyRuntimeError::new_err(format!("{e} ({err})")))
}

// ---------------------------------------------------------------------------
// States between Python and Rust.

fn service_state_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<ServiceState> {
    let py = obj.py();
    let service = convert::service_from_py(m, &obj.getattr(intern!(py, "service"))?)?;
    let mut destinations = Vec::new();
    for d in obj.getattr(intern!(py, "destinations"))?.try_iter()? {
        destinations.push(convert::destination_from_py(m, &d?)?);
    }
    Ok(ServiceState {
        service,
        destinations,
    })
}

/// An `ipvs.State` as the Rust `State`.
pub(crate) fn state_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<State> {
    let m = Model::get(py)?;
    let c = Classes::get(py)?;
    if !obj.is_instance(c.state.bind(py))? {
        return Err(PyTypeError::new_err(format!(
            "expected an ipvs.State, got {}",
            obj.get_type().name()?
        )));
    }
    let t = obj.getattr(intern!(py, "timeouts"))?;
    let timeouts = if t.is_none() {
        None
    } else {
        Some(convert::timeouts_from_py(m, &t)?)
    };
    let mut services = Vec::new();
    for (i, s) in obj
        .getattr(intern!(py, "services"))?
        .try_iter()?
        .enumerate()
    {
        let s = s?;
        if !s.is_instance(c.service_state.bind(py))? {
            return Err(PyTypeError::new_err(format!(
                "services[{i}]: expected an ipvs.ServiceState"
            )));
        }
        services.push(service_state_from_py(m, &s)?);
    }
    Ok(State { timeouts, services })
}

/// A Rust `State` as an `ipvs.State`.
pub(crate) fn state_to_py<'py>(py: Python<'py>, s: &State) -> PyResult<Bound<'py, PyAny>> {
    let m = Model::get(py)?;
    let c = Classes::get(py)?;
    let make = c.make_service_state.bind(py);
    let _gc = convert::GcPaused::new(py);
    let mut services = Vec::with_capacity(s.services.len());
    for ss in &s.services {
        let dests = ss
            .destinations
            .iter()
            .map(|d| convert::destination_to_py(py, m, d))
            .collect::<PyResult<Vec<_>>>()?;
        services.push(make.call1((
            convert::service_to_py(py, m, &ss.service)?,
            PyTuple::new(py, dests)?,
        ))?);
    }
    let timeouts = match &s.timeouts {
        Some(t) => convert::timeouts_to_py(py, m, t)?,
        None => py.None().into_bound(py),
    };
    c.make_state
        .bind(py)
        .call1((PyTuple::new(py, services)?, timeouts))
}

// ---------------------------------------------------------------------------
// Operations between Python and Rust.

fn op_to_py<'py>(py: Python<'py>, op: &Change) -> PyResult<Bound<'py, PyAny>> {
    let m = Model::get(py)?;
    let c = Classes::get(py)?;
    let key = |k: &ServiceKey| convert::key_to_py(py, m, k);
    let dest = |d: &Destination| convert::destination_to_py(py, m, d);
    match op {
        Change::SetTimeouts { timeouts } => c
            .set_timeouts
            .bind(py)
            .call1((convert::timeouts_to_py(py, m, timeouts)?,)),
        Change::AddService { service } => c
            .add_service
            .bind(py)
            .call1((convert::service_to_py(py, m, service)?,)),
        Change::UpdateService { service } => c
            .update_service
            .bind(py)
            .call1((convert::service_to_py(py, m, service)?,)),
        Change::DeleteService { service } => c.delete_service.bind(py).call1((key(service)?,)),
        Change::AddDestination { service, dest: d } => {
            c.add_destination.bind(py).call1((key(service)?, dest(d)?))
        }
        Change::UpdateDestination { service, dest: d } => c
            .update_destination
            .bind(py)
            .call1((key(service)?, dest(d)?)),
        Change::DrainDestination { service, dest: d } => c
            .drain_destination
            .bind(py)
            .call1((key(service)?, dest(d)?)),
        Change::DeleteDestination { service, dest: d } => c
            .delete_destination
            .bind(py)
            .call1((key(service)?, dest(d)?)),
    }
}

fn ops_to_py<'py>(py: Python<'py>, ops: &[Change]) -> PyResult<Bound<'py, PyList>> {
    let items = ops
        .iter()
        .map(|op| op_to_py(py, op))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A Python operation (`ipvs.ops`, or `ipvs.DrainDestination`) as a plan's
/// `Change`; operations a plan cannot hold (zero, flush, daemons) are refused.
fn op_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Change> {
    let m = Model::get(py)?;
    let c = Classes::get(py)?;
    let operation = convert::op_from_py(m, obj)?;
    let drain = obj.is_instance(c.drain_destination.bind(py))?;
    Ok(match operation {
        Operation::SetTimeouts(timeouts) => Change::SetTimeouts { timeouts },
        Operation::AddService(service) => Change::AddService { service },
        Operation::UpdateService(service) => Change::UpdateService { service },
        Operation::DeleteService(service) => Change::DeleteService { service },
        Operation::AddDestination(service, dest) => Change::AddDestination { service, dest },
        Operation::UpdateDestination(service, dest) if drain => {
            Change::DrainDestination { service, dest }
        }
        Operation::UpdateDestination(service, dest) => Change::UpdateDestination { service, dest },
        Operation::DeleteDestination(service, addr) => Change::DeleteDestination {
            service,
            dest: Destination::new(addr),
        },
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{} is not an operation of a plan (those are SetTimeouts, AddService, \
                 UpdateService, DeleteService, AddDestination, UpdateDestination, \
                 DrainDestination and DeleteDestination)",
                obj.get_type().name()?
            )));
        }
    })
}

// ---------------------------------------------------------------------------
// Times and drains.

fn time_to_py(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn time_from_py(what: &str, secs: f64) -> PyResult<SystemTime> {
    let bad = || PyValueError::new_err(format!("{what}: {secs} is not a time"));
    if !secs.is_finite() {
        return Err(bad());
    }
    let d = Duration::try_from_secs_f64(secs.abs()).map_err(|_| bad())?;
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .ok_or_else(bad)
}

fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{what}: {secs} is not a number of seconds")))
}

fn ip_to_py<'py>(py: Python<'py>, addr: SocketAddr) -> PyResult<(Bound<'py, PyAny>, u16)> {
    Ok((
        convert::ip_to_py(py, Model::get(py)?, addr.ip())?,
        addr.port(),
    ))
}

/// A tracker as `[(key, address, port, since), ...]`.
fn tracker_to_py<'py>(py: Python<'py>, t: &DrainTracker) -> PyResult<Bound<'py, PyList>> {
    let m = Model::get(py)?;
    let mut items = Vec::with_capacity(t.len());
    for (key, dest, since) in t.iter() {
        let (ip, port) = ip_to_py(py, dest)?;
        items.push(PyTuple::new(
            py,
            [
                convert::key_to_py(py, m, key)?,
                ip,
                port.into_pyobject(py)?.into_any(),
                time_to_py(since).into_pyobject(py)?.into_any(),
            ],
        )?);
    }
    PyList::new(py, items)
}

/// `[(key, address, port, since), ...]` as a tracker.
fn tracker_from_py(py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<DrainTracker> {
    let m = Model::get(py)?;
    let mut t = DrainTracker::default();
    for e in entries.try_iter()? {
        let e = e?;
        let (key, ip, port, since): (Bound<'_, PyAny>, IpAddr, u16, f64) = e.extract()?;
        t.insert(
            convert::key_from_py(m, &key)?,
            SocketAddr::new(ip, port),
            time_from_py("since", since)?,
        );
    }
    Ok(t)
}

/// A tracker's file: the JSON `ipvsctl --drain-state` writes (pretty, with
/// a final newline), from `[(key, address, port, since), ...]`.
#[pyfunction]
fn tracker_dumps(py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<String> {
    let t = tracker_from_py(py, entries)?;
    let text = serde_json::to_string_pretty(&t)
        .map_err(|e| PyValueError::new_err(format!("drain tracker: {e}")))?;
    Ok(text + "\n")
}

/// A tracker file (as `ipvsctl --drain-state` reads it), as
/// `[(key, address, port, since), ...]`.
#[pyfunction]
fn tracker_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
    let t: DrainTracker = serde_json::from_str(text)
        .map_err(|e| PyValueError::new_err(format!("drain tracker: {e}")))?;
    tracker_to_py(py, &t)
}

/// `str()` of an `ipvs.PlanSummary`: the Rust `PlanSummary`'s words (`ipvsctl`'s).
#[pyfunction]
fn summary_text(summary: &Bound<'_, PyAny>) -> PyResult<String> {
    let n = |name: &str| -> PyResult<usize> { summary.getattr(name)?.extract() };
    Ok(ipvs::state::PlanSummary {
        set_timeouts: n("set_timeouts")?,
        add_services: n("add_services")?,
        update_services: n("update_services")?,
        delete_services: n("delete_services")?,
        add_destinations: n("add_destinations")?,
        update_destinations: n("update_destinations")?,
        drain_destinations: n("drain_destinations")?,
        delete_destinations: n("delete_destinations")?,
    }
    .to_string())
}

/// `str()` of an `ipvs.Draining`: the Rust `Draining`'s words (`ipvsctl`'s).
#[pyfunction]
fn draining_text(py: Python<'_>, draining: &Bound<'_, PyAny>) -> PyResult<String> {
    let d = draining;
    let m = Model::get(py)?;
    let ip: IpAddr = d.getattr("address")?.extract()?;
    Ok(ipvs::state::Draining {
        service: convert::key_from_py(m, &d.getattr("service")?)?,
        dest: SocketAddr::new(ip, d.getattr("port")?.extract()?),
        since: time_from_py("since", d.getattr("since")?.extract()?)?,
        deadline: time_from_py("deadline", d.getattr("deadline")?.extract()?)?,
        active: d.getattr("active")?.extract()?,
        inactive: d.getattr("inactive")?.extract()?,
        service_removed: d.getattr("service_removed")?.extract()?,
    }
    .to_string())
}

fn draining_to_py<'py>(py: Python<'py>, plan: &Plan) -> PyResult<Bound<'py, PyList>> {
    let m = Model::get(py)?;
    let c = Classes::get(py)?;
    let mut items = Vec::with_capacity(plan.draining.len());
    for d in &plan.draining {
        let (ip, port) = ip_to_py(py, d.dest)?;
        items.push(c.draining.bind(py).call1((
            convert::key_to_py(py, m, &d.service)?,
            ip,
            port,
            time_to_py(d.since),
            time_to_py(d.deadline),
            d.active,
            d.inactive,
            d.service_removed,
        ))?);
    }
    PyList::new(py, items)
}

// ---------------------------------------------------------------------------
// Reports.

fn on_error_from(name: &str) -> PyResult<OnError> {
    match name {
        "stop" => Ok(OnError::Stop),
        "continue" => Ok(OnError::Continue),
        _ => Err(PyValueError::new_err(format!(
            "on_error: expected \"stop\" or \"continue\", got {name:?}"
        ))),
    }
}

fn apply_options(rollback: bool, on_error: &str, chunk: usize) -> PyResult<ApplyOptions> {
    if chunk == 0 {
        return Err(PyValueError::new_err("chunk: must be at least 1"));
    }
    Ok(ApplyOptions::default()
        .on_error(on_error_from(on_error)?)
        .with_chunk(chunk))
    .map(|o| if rollback { o.with_rollback() } else { o })
}

fn failed_to_py<'py>(py: Python<'py>, failed: &[FailedChange]) -> PyResult<Bound<'py, PyList>> {
    let items = failed
        .iter()
        .map(|f| -> PyResult<Bound<'py, PyTuple>> {
            PyTuple::new(
                py,
                [
                    f.index.into_pyobject(py)?.into_any(),
                    op_to_py(py, &f.op)?,
                    error_to_py(py, &f.error)
                        .into_value(py)
                        .into_bound(py)
                        .into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// An apply report with its words (text and JSON), made while the GIL is
/// released: only the conversion to Python values needs it.
struct Reported {
    report: ApplyReport,
    text: String,
    json: String,
}

impl From<ApplyReport> for Reported {
    fn from(report: ApplyReport) -> Self {
        let text = report.to_string();
        let json = report.to_json();
        Reported { report, text, json }
    }
}

/// A report as a dict of `ipvs.state.ApplyReport`'s constructor arguments.
fn report_to_py<'py>(py: Python<'py>, reported: Reported) -> PyResult<Bound<'py, PyDict>> {
    let Reported {
        report: r,
        text,
        json,
    } = reported;
    let d = PyDict::new(py);
    d.set_item("applied", ops_to_py(py, &r.applied)?)?;
    d.set_item("failed", failed_to_py(py, &r.failed)?)?;
    d.set_item("not_attempted", ops_to_py(py, &r.not_attempted)?)?;
    d.set_item("in_doubt", ops_to_py(py, &r.in_doubt)?)?;
    let rollback = match &r.rollback {
        None => py.None().into_bound(py),
        Some(rb) => {
            let x = PyDict::new(py);
            x.set_item("ops", ops_to_py(py, &rb.ops)?)?;
            x.set_item("applied", ops_to_py(py, &rb.applied)?)?;
            x.set_item("failed", failed_to_py(py, &rb.failed)?)?;
            x.set_item("not_invertible", ops_to_py(py, &rb.not_invertible)?)?;
            x.into_any()
        }
    };
    d.set_item("rollback", rollback)?;
    d.set_item("text", text)?;
    d.set_item("json", json)?;
    Ok(d)
}

// ---------------------------------------------------------------------------
// Plans.

/// A Rust `Plan`: the operations of a diff, and the destinations draining.
#[pyclass(frozen, module = "ipvs._ipvs", name = "Plan")]
pub(crate) struct PyPlan {
    plan: Plan,
}

#[pymethods]
impl PyPlan {
    /// A plan of the given operations (`ipvs.ops` ones, `DrainDestination`).
    #[new]
    fn new(py: Python<'_>, ops: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut list = Vec::new();
        for (i, op) in ops.try_iter()?.enumerate() {
            list.push(
                op_from_py(py, &op?)
                    .map_err(|e| PyTypeError::new_err(format!("operation {i}: {}", e.value(py))))?,
            );
        }
        Ok(PyPlan {
            plan: Plan {
                ops: list,
                draining: Vec::new(),
            },
        })
    }

    fn __len__(&self) -> usize {
        self.plan.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyPlan>()
            .is_ok_and(|o| o.get().plan == self.plan)
    }

    /// The operations, as `ipvs.ops` objects.
    fn ops<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        ops_to_py(py, &self.plan.ops)
    }

    /// The destinations draining, as `ipvs.Draining` objects.
    fn draining<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        draining_to_py(py, &self.plan)
    }

    /// The drains under way after this plan, as tracker entries.
    fn drain_tracker<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        tracker_to_py(py, &self.plan.drain_tracker())
    }

    /// How many operations of each kind.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.plan.summary();
        let d = PyDict::new(py);
        for (k, v) in [
            ("set_timeouts", s.set_timeouts),
            ("add_services", s.add_services),
            ("update_services", s.update_services),
            ("delete_services", s.delete_services),
            ("add_destinations", s.add_destinations),
            ("update_destinations", s.update_destinations),
            ("drain_destinations", s.drain_destinations),
            ("delete_destinations", s.delete_destinations),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The operations as ipvsadm rules, one a line.
    #[pyo3(signature = (thresholds = true))]
    fn rules(&self, thresholds: bool) -> String {
        rules::write_with(&self.plan.to_rules(), &WriteOptions { thresholds })
    }

    /// Each operation as one ipvsadm rule.
    fn op_rules(&self) -> Vec<String> {
        self.plan.ops.iter().map(ToString::to_string).collect()
    }

    /// The plan as JSON (the Rust serde form).
    #[pyo3(signature = (pretty = true))]
    fn to_json(&self, pretty: bool) -> PyResult<String> {
        if pretty {
            return Ok(self.plan.to_json());
        }
        serde_json::to_string(&self.plan).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A plan from its JSON.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyPlan> {
        Plan::from_json(text)
            .map(|plan| PyPlan { plan })
            .map_err(|e| PyValueError::new_err(format!("not a plan: {e}")))
    }

    /// What the plan does to `state`, in memory ([`Plan::replay`], named
    /// `apply_to` in Python), the kernel's refusals raised as the kernel's
    /// exceptions.
    fn apply_to<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut s = state_from_py(py, state)?;
        self.plan
            .replay(&mut s)
            .map_err(|e| replay_error_to_py(py, &e))?;
        state_to_py(py, &s)
    }

    /// Apply the plan to the kernel, with the GIL released; the report's
    /// parts as a dict.
    #[pyo3(signature = (client, actual, rollback = false, on_error = "stop", chunk = 256))]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyClient>,
        actual: &Bound<'py, PyAny>,
        rollback: bool,
        on_error: &str,
        chunk: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = apply_options(rollback, on_error, chunk)?;
        let actual = state_from_py(py, actual)?;
        let c = client.get().get()?;
        let reported = py.detach(|| Reported::from(self.plan.apply(&c, &actual, &opts)));
        report_to_py(py, reported)
    }
}

// ---------------------------------------------------------------------------
// Functions.

fn drain_from_py(py: Python<'_>, drain: Option<&Bound<'_, PyAny>>) -> PyResult<DiffOptions> {
    let Some(d) = drain.filter(|d| !d.is_none()) else {
        return Ok(DiffOptions::default());
    };
    let deadline = seconds("deadline", d.getattr(intern!(py, "deadline"))?.extract()?)?;
    let now = d.getattr(intern!(py, "now"))?;
    let now = if now.is_none() {
        SystemTime::now()
    } else {
        time_from_py("now", now.extract()?)?
    };
    let tracker = d.getattr(intern!(py, "tracker"))?;
    let tracker = if tracker.is_none() {
        DrainTracker::default()
    } else {
        tracker_from_py(py, &tracker.getattr(intern!(py, "entries"))?)?
    };
    Ok(DiffOptions {
        drain: Some(DrainOptions::new(deadline).at(now).with_tracker(tracker)),
    })
}

/// The plan from `actual` to `desired` (`drain`: an `ipvs.DrainOptions`).
#[pyfunction]
#[pyo3(signature = (actual, desired, drain = None))]
fn diff(
    py: Python<'_>,
    actual: &Bound<'_, PyAny>,
    desired: &Bound<'_, PyAny>,
    drain: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyPlan> {
    let actual = state_from_py(py, actual)?;
    let desired = state_from_py(py, desired)?;
    let opts = drain_from_py(py, drain)?;
    let plan = py.detach(|| ipvs::state::diff(&actual, &desired, &opts));
    Ok(PyPlan { plan })
}

/// The kernel's table, with the GIL released.
#[pyfunction]
fn state_read<'py>(py: Python<'py>, client: &Bound<'py, PyClient>) -> PyResult<Bound<'py, PyAny>> {
    let c = client.get().get()?;
    let s = py
        .detach(|| State::read(&c))
        .map_err(|e| error_to_py(py, &e))?;
    state_to_py(py, &s)
}

/// A state from text in `format` (`json`, `yaml`, `toml`, `rules`), validated.
#[pyfunction]
fn state_loads<'py>(py: Python<'py>, format: &str, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let read = match format {
        "json" => State::from_json,
        "yaml" => State::from_yaml,
        "toml" => State::from_toml,
        "rules" => State::from_rules_text,
        _ => {
            return Err(PyValueError::new_err(format!(
                "format: expected json, yaml, toml or rules, got {format:?}"
            )));
        }
    };
    let s = py
        .detach(|| read(text))
        .map_err(|e| state_error_to_py(py, &e, Some(text)))?;
    state_to_py(py, &s)
}

/// A state as text in `format` (`json`, `json-compact`, `yaml`, `toml`,
/// `rules`, `ipvsadm`: exactly what `ipvsadm -S -n` prints).
#[pyfunction]
fn state_dumps(py: Python<'_>, format: &str, state: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = state_from_py(py, state)?;
    let out = match format {
        "json" => s.to_json(),
        "json-compact" => serde_json::to_string(&s).map_err(StateError::from),
        "yaml" => s.to_yaml(),
        "toml" => s.to_toml(),
        "rules" => Ok(s.to_rules_text()),
        "ipvsadm" => Ok({
            let mut s = s;
            s.timeouts = None;
            rules::write(&s.to_rules())
        }),
        _ => {
            return Err(PyValueError::new_err(format!(
                "format: expected json, yaml, toml, rules or ipvsadm, got {format:?}"
            )));
        }
    };
    out.map_err(|e| state_error_to_py(py, &e, None))
}

/// Rust's `State::validate`; raises `ipvs.StateError`.
#[pyfunction]
fn state_validate(py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
    state_from_py(py, state)?
        .validate()
        .map_err(|e| state_error_to_py(py, &e, None))
}

/// Rust's `State::config`: sorted, without stats and connection counts.
#[pyfunction]
fn state_config<'py>(py: Python<'py>, state: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    state_to_py(py, &state_from_py(py, state)?.config())
}

/// Rust's `State::sort`: in ipvsadm's listing order.
#[pyfunction]
fn state_sorted<'py>(py: Python<'py>, state: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let mut s = state_from_py(py, state)?;
    s.sort();
    state_to_py(py, &s)
}

/// Rust's `State::config_eq`.
#[pyfunction]
fn state_config_eq(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(state_from_py(py, a)?.config_eq(&state_from_py(py, b)?))
}

/// Check ipvsadm rules text without building a state: the rules, each as
/// `(line, text)` the way the writer prints it.
#[pyfunction]
fn rules_parse(py: Python<'_>, text: &str) -> PyResult<Vec<(usize, String)>> {
    let parsed = py
        .detach(|| rules::parse_lines(text))
        .map_err(|e| state_error_to_py(py, &StateError::Rules(e), Some(text)))?;
    Ok(parsed
        .iter()
        .map(|p| {
            let mut s = rules::write_with(std::slice::from_ref(&p.rule), &WriteOptions::COMPLETE);
            s.truncate(s.trim_end().len());
            (p.line, s)
        })
        .collect())
}

/// The operations that undo `applied` (applied in that order to `actual`):
/// `(plan, not_invertible)`.
#[pyfunction]
fn inverse_of<'py>(
    py: Python<'py>,
    actual: &Bound<'py, PyAny>,
    applied: &Bound<'py, PyAny>,
) -> PyResult<(PyPlan, Bound<'py, PyList>)> {
    let actual = state_from_py(py, actual)?;
    let applied = PyPlan::new(py, applied)?.plan.ops;
    let (plan, stuck) = ipvs::state::inverse_of(&actual, &applied);
    Ok((PyPlan { plan }, ops_to_py(py, &stuck)?))
}

// ---------------------------------------------------------------------------
// The reconcile loop.

/// Rust's `Reconciler`: diffs that remember the drains under way.
#[pyclass(frozen, module = "ipvs._ipvs", name = "Reconciler")]
struct PyReconciler {
    inner: Mutex<Reconciler>,
}

impl PyReconciler {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Reconciler) -> T + Send) -> T {
        py.detach(|| f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

#[pymethods]
impl PyReconciler {
    /// `drain`: the longest drain in seconds, or `None` to delete at once.
    #[new]
    #[pyo3(signature = (drain = None))]
    fn new(drain: Option<f64>) -> PyResult<Self> {
        let r = match drain {
            None => Reconciler::new(),
            Some(d) => Reconciler::with_drain(seconds("drain", d)?),
        };
        Ok(PyReconciler {
            inner: Mutex::new(r),
        })
    }

    /// The plan from `actual` to `desired` at `now` (seconds since the
    /// epoch; `None`: now), remembering its drains.
    #[pyo3(signature = (actual, desired, now = None))]
    fn plan(
        &self,
        py: Python<'_>,
        actual: &Bound<'_, PyAny>,
        desired: &Bound<'_, PyAny>,
        now: Option<f64>,
    ) -> PyResult<PyPlan> {
        let actual = state_from_py(py, actual)?;
        let desired = state_from_py(py, desired)?;
        let now = match now {
            None => SystemTime::now(),
            Some(t) => time_from_py("now", t)?,
        };
        let plan = self.with(py, |r| r.plan(&actual, &desired, now));
        Ok(PyPlan { plan })
    }

    /// One round against the kernel: `(at, plan, report)`.
    #[pyo3(signature = (client, desired, rollback = false, on_error = "stop", chunk = 256))]
    fn step<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyClient>,
        desired: &Bound<'py, PyAny>,
        rollback: bool,
        on_error: &str,
        chunk: usize,
    ) -> PyResult<(f64, PyPlan, Bound<'py, PyDict>)> {
        let opts = apply_options(rollback, on_error, chunk)?;
        let desired = state_from_py(py, desired)?;
        let c = client.get().get()?;
        let (at, plan, reported) = self
            .with(py, |r| {
                let step = r.step(&c, &desired, &opts)?;
                Ok((step.at, step.plan, Reported::from(step.report)))
            })
            .map_err(|e: ClientError| error_to_py(py, &e))?;
        let report = report_to_py(py, reported)?;
        Ok((time_to_py(at), PyPlan { plan }, report))
    }

    /// The drains under way, as tracker entries.
    fn tracker<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = self.with(py, |r| r.tracker().clone());
        tracker_to_py(py, &t)
    }

    /// Restore drains under way (tracker entries).
    fn set_tracker(&self, py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = tracker_from_py(py, entries)?;
        self.with(py, |r| r.set_tracker(t));
        Ok(())
    }
}

/// Register the classes and functions on `_ipvs`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPlan>()?;
    m.add_class::<PyReconciler>()?;
    m.add_function(wrap_pyfunction!(diff, m)?)?;
    m.add_function(wrap_pyfunction!(tracker_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(summary_text, m)?)?;
    m.add_function(wrap_pyfunction!(draining_text, m)?)?;
    m.add_function(wrap_pyfunction!(tracker_loads, m)?)?;
    m.add_function(wrap_pyfunction!(state_read, m)?)?;
    m.add_function(wrap_pyfunction!(state_loads, m)?)?;
    m.add_function(wrap_pyfunction!(state_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(state_validate, m)?)?;
    m.add_function(wrap_pyfunction!(state_config, m)?)?;
    m.add_function(wrap_pyfunction!(state_sorted, m)?)?;
    m.add_function(wrap_pyfunction!(state_config_eq, m)?)?;
    m.add_function(wrap_pyfunction!(rules_parse, m)?)?;
    m.add_function(wrap_pyfunction!(inverse_of, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs::rules::RulesErrorKind;

    #[test]
    fn line_col_counts_characters_from_one() {
        let text = "a = 1\nbé = [\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // After "bé " (4 bytes, 3 characters).
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn rules_kinds_name_their_variant() {
        assert_eq!(variant(&RulesErrorKind::NoCommand), "NoCommand");
        assert_eq!(
            variant(&RulesErrorKind::UnknownOption("-q".into())),
            "UnknownOption"
        );
    }
}
