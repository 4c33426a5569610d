//! The native half of `ipvs.cluster`: the real-server and director setups
//! of `ipvs::cluster`, and its balance report.
//!
//! The Python classes (`ipvs.cluster`) check their arguments' types and
//! build one of these with plain values. Every `apply()`, `status()` and
//! `teardown()` runs with the GIL released and answers `(json, text)`: the
//! serde JSON of the Rust result and its `Display`, so `str()` in Python is
//! exactly what the Rust side prints. Errors become `ipvs.cluster.ClusterError`
//! (built by `ipvs.cluster._error_from_native`), except IPVS client errors,
//! which stay the `ipvs.errors` class they are everywhere else.

use std::net::IpAddr;
use std::path::PathBuf;

use ipvs::client::Netns;
use ipvs::cluster::{
    BalanceReport, DEFAULT_DIR, DirectorSetup, Error, Outcome, RealServerSetup, Status, TunnelMode,
};
use ipvs::{Destination, Service};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::convert::{self, Model};
use crate::errors::{error_to_py, kind_errno, validation_to_py};

/// The variant's name: `SysctlMissing`, `Netns`, ...
fn variant(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "Io",
        Error::Netns { .. } => "Netns",
        Error::Netlink { .. } => "Netlink",
        Error::Decode(_) => "Decode",
        Error::NoSuchInterface { .. } => "NoSuchInterface",
        Error::ModuleUnavailable { .. } => "ModuleUnavailable",
        Error::Sysctl { .. } => "Sysctl",
        Error::SysctlMissing { .. } => "SysctlMissing",
        Error::SysctlRejected { .. } => "SysctlRejected",
        Error::Journal { .. } => "Journal",
        Error::Unsupported(_) => "Unsupported",
        Error::Ipvs(_) => "Ipvs",
        _ => "Other",
    }
}

fn details(e: &Error) -> Value {
    match e {
        Error::Io { context, .. } => json!({ "context": context }),
        Error::Netns { netns, .. } => json!({ "netns": netns }),
        Error::Netlink {
            operation, message, ..
        } => json!({ "operation": operation, "kernel_message": message }),
        Error::NoSuchInterface { name } => json!({ "interface": name }),
        Error::ModuleUnavailable { module, detail } => {
            json!({ "module": module, "detail": detail })
        }
        Error::Sysctl { sysctl, .. } | Error::SysctlMissing { sysctl } => {
            json!({ "sysctl": sysctl.to_string() })
        }
        Error::SysctlRejected {
            sysctl,
            wanted,
            got,
        } => json!({ "sysctl": sysctl.to_string(), "wanted": wanted, "got": got }),
        Error::Journal { path, detail } => {
            json!({ "path": path.display().to_string(), "detail": detail })
        }
        _ => json!({}),
    }
}

/// The errno of an error, also for an I/O error made with a message
/// (opening a namespace file), which keeps only its kind.
fn errno(e: &Error) -> Option<i32> {
    e.errno().or_else(|| match e {
        Error::Io { source, .. } | Error::Netns { source, .. } | Error::Sysctl { source, .. } => {
            kind_errno(source.kind())
        }
        _ => None,
    })
}

/// A cluster error as the matching Python exception.
pub(crate) fn cluster_error_to_py(py: Python<'_>, e: &Error) -> PyErr {
    if let Error::Ipvs(inner) = e {
        return error_to_py(py, inner);
    }
    let message = e.to_string();
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("ipvs.cluster")?;
        let exc = module.getattr("_error_from_native")?.call1((
            variant(e),
            message.as_str(),
            errno(e),
            details(e).to_string(),
        ))?;
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|err| {
        PyRuntimeError::new_err(format!(
            "{message} (and ipvs.cluster could not make the exception: {err})"
        ))
    })
}

fn parse_ip(field: &str, s: &str) -> PyResult<IpAddr> {
    s.parse()
        .map_err(|_| PyValueError::new_err(format!("{field}: {s:?} is not an IP address")))
}

fn netns_of(path: Option<PathBuf>) -> Netns {
    path.map(Netns::Path).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize to JSON: {e}")))
}

/// Run a setup call without the GIL; `(json, text)` of what it returned.
fn run<T: serde::Serialize + std::fmt::Display + Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> PyResult<(String, String)> {
    let value = py.detach(f).map_err(|e| cluster_error_to_py(py, &e))?;
    Ok((to_json(&value)?, value.to_string()))
}

/// `ipvs::cluster::RealServerSetup`.
#[pyclass(frozen, module = "ipvs._ipvs", name = "ClusterRealServer")]
pub(crate) struct PyRealServer {
    inner: RealServerSetup,
}

#[pymethods]
impl PyRealServer {
    /// `tunnel`: `None` for direct routing, `"ipip"`, or `"gue"` (with `gue_port`).
    #[new]
    #[pyo3(signature = (vip, tunnel, gue_port, netns, journal_dir, rp_filter_loose, arp_interfaces))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vip: &str,
        tunnel: Option<&str>,
        gue_port: u16,
        netns: Option<PathBuf>,
        journal_dir: PathBuf,
        rp_filter_loose: bool,
        arp_interfaces: Vec<String>,
    ) -> PyResult<Self> {
        let vip = parse_ip("vip", vip)?;
        let mut s = match tunnel {
            None => RealServerSetup::dr(vip),
            Some("ipip") => RealServerSetup::tun(vip, TunnelMode::Ipip),
            Some("gue") => RealServerSetup::tun(vip, TunnelMode::Gue { port: gue_port }),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "tunnel: {other:?} is neither \"ipip\" nor \"gue\""
                )));
            }
        }
        .netns(netns_of(netns))
        .journal_dir(journal_dir);
        if rp_filter_loose {
            s = s.rp_filter_loose();
        }
        for i in arp_interfaces {
            s = s.arp_interface(i);
        }
        Ok(PyRealServer { inner: s })
    }

    /// The name this setup has in the journal.
    #[getter]
    fn owner(&self) -> String {
        self.inner.owner()
    }

    /// `lo` or `tunl0`.
    #[getter]
    fn vip_interface(&self) -> &'static str {
        self.inner.vip_interface()
    }

    fn apply(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Outcome>(py, || self.inner.apply())
    }

    fn status(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Status>(py, || self.inner.status())
    }

    fn teardown(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Outcome>(py, || self.inner.teardown())
    }
}

/// `ipvs::cluster::DirectorSetup`.
#[pyclass(frozen, module = "ipvs._ipvs", name = "ClusterDirector")]
pub(crate) struct PyDirector {
    inner: DirectorSetup,
}

#[pymethods]
impl PyDirector {
    /// `services`: `(Service, [Destination, ...])` pairs of the Python model,
    /// validated here as the client validates what it sends.
    #[new]
    #[pyo3(signature = (vip, interface, prefix_len, nat, services, netns, journal_dir))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vip: &str,
        interface: String,
        prefix_len: Option<u8>,
        nat: bool,
        services: Vec<(Bound<'_, PyAny>, Vec<Bound<'_, PyAny>>)>,
        netns: Option<PathBuf>,
        journal_dir: PathBuf,
    ) -> PyResult<Self> {
        let vip = parse_ip("vip", vip)?;
        let m = Model::get(py)?;
        let mut d = DirectorSetup::new(vip, interface)
            .netns(netns_of(netns))
            .journal_dir(journal_dir);
        if let Some(len) = prefix_len {
            d = d.prefix_len(len);
        }
        if nat {
            d = d.nat();
        }
        for (svc, dests) in services {
            let svc: Service = convert::service_from_py(m, &svc)?;
            svc.validate().map_err(|e| validation_to_py(py, &e, None))?;
            let dests = dests
                .iter()
                .map(|d| {
                    let d: Destination = convert::destination_from_py(m, d)?;
                    d.validate(&svc.key)
                        .map_err(|e| validation_to_py(py, &e, None))?;
                    Ok(d)
                })
                .collect::<PyResult<Vec<_>>>()?;
            d = d.service(svc, dests);
        }
        Ok(PyDirector { inner: d })
    }

    /// The name this setup has in the journal.
    #[getter]
    fn owner(&self) -> String {
        self.inner.owner()
    }

    /// The destinations of each service as the setup will add them (for
    /// direct routing and tunnels, on the service's port).
    fn destinations<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let m = Model::get(py)?;
        let spec = self
            .inner
            .services()
            .get(index)
            .ok_or_else(|| PyValueError::new_err(format!("no service {index}")))?;
        spec.destinations
            .iter()
            .map(|d| convert::destination_to_py(py, m, d))
            .collect()
    }

    fn apply(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Outcome>(py, || self.inner.apply())
    }

    fn status(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Status>(py, || self.inner.status())
    }

    fn teardown(&self, py: Python<'_>) -> PyResult<(String, String)> {
        run::<Outcome>(py, || self.inner.teardown())
    }
}

/// `BalanceReport::between(service, before, after)`: `(json, text)`, each
/// reason in the JSON with its text too.
#[pyfunction]
fn cluster_balance_report(
    py: Python<'_>,
    service: &Bound<'_, PyAny>,
    before: Vec<Bound<'_, PyAny>>,
    after: Vec<Bound<'_, PyAny>>,
) -> PyResult<(String, String)> {
    let m = Model::get(py)?;
    let service = convert::service_from_py(m, service)?;
    let dests = |list: &[Bound<'_, PyAny>]| -> PyResult<Vec<Destination>> {
        list.iter()
            .map(|d| convert::destination_from_py(m, d))
            .collect()
    };
    let (before, after) = (dests(&before)?, dests(&after)?);
    let report = BalanceReport::between(&service, &before, &after);
    let mut value = serde_json::to_value(&report)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize the report: {e}")))?;
    let texts = |reasons: &[ipvs::cluster::Reason]| -> Vec<String> {
        reasons.iter().map(ToString::to_string).collect()
    };
    let add_text = |slot: &mut Value, texts: Vec<String>| {
        if let Some(list) = slot.as_array_mut() {
            for (r, t) in list.iter_mut().zip(texts) {
                if let Some(obj) = r.as_object_mut() {
                    obj.insert("text".into(), Value::String(t));
                }
            }
        }
    };
    add_text(&mut value["reasons"], texts(&report.reasons));
    for (i, d) in report.destinations.iter().enumerate() {
        add_text(&mut value["destinations"][i]["reasons"], texts(&d.reasons));
    }
    Ok((value.to_string(), report.to_string()))
}

/// Register the cluster classes and functions in `_ipvs`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRealServer>()?;
    m.add_class::<PyDirector>()?;
    m.add_function(wrap_pyfunction!(cluster_balance_report, m)?)?;
    m.add("CLUSTER_DEFAULT_JOURNAL_DIR", DEFAULT_DIR)?;
    Ok(())
}
