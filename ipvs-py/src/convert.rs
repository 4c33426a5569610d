//! Between the Rust model and the Python one (`ipvs.model`, `ipvs.ops`),
//! object to object.
//!
//! Listing 10,000 services means building some 100,000 Python objects: this
//! module makes them without going through their constructors (the kernel's
//! values need no checking) or JSON, by allocating each instance and setting
//! its slots directly, which is an order of magnitude faster than
//! `from_dict`. Reading the Python values back (for validation and every
//! change sent) takes their attributes; the constructors have already
//! checked their types and ranges.
//!
//! The Python model stays the one definition of the Python side: the tests
//! check, for every kind of value, that this module and `to_dict()` /
//! `from_dict()` agree on the serde form.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs::client::{Operation, ServiceEntry};
use ipvs::{
    AddressFamily, Connections, DaemonState, Destination, ForwardMethod, Info, Netmask,
    Persistence, Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon,
    Timeouts, Tunnel, TunnelChecksum,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString, PyTuple, PyType};
use pyo3::{IntoPyObjectExt, ffi, intern};

/// Handles on the Python model's classes and enum members, fetched once.
pub(crate) struct Model {
    object_new: Py<PyAny>,
    ipv4: Py<PyType>,
    ipv6: Py<PyType>,
    // model classes
    service: Py<PyType>,
    address_key: Py<PyType>,
    fwmark_key: Py<PyType>,
    persistence: Py<PyType>,
    stats: Py<PyType>,
    connections: Py<PyType>,
    destination: Py<PyType>,
    tunnel: Py<PyType>,
    timeouts: Py<PyType>,
    info: Py<PyType>,
    version: Py<PyType>,
    daemon: Py<PyType>,
    entry: Py<PyType>,
    service_flags: Py<PyType>,
    no_flags: Py<PyAny>,
    // enum members, in the Rust variants' order
    protocols: [Py<PyAny>; 3],
    families: [Py<PyAny>; 2],
    forwards: [Py<PyAny>; 5],
    tunnel_types: [Py<PyAny>; 3],
    checksums: [Py<PyAny>; 3],
    daemon_states: [Py<PyAny>; 2],
    schedulers: HashMap<String, Py<PyAny>>,
    // operations
    ops: [Py<PyType>; 11],
}

static MODEL: PyOnceLock<Model> = PyOnceLock::new();

fn members<const N: usize>(
    module: &Bound<'_, PyModule>,
    class: &str,
    names: [&str; N],
) -> PyResult<[Py<PyAny>; N]> {
    let cls = module.getattr(class)?;
    let mut out = Vec::with_capacity(N);
    for name in names {
        out.push(cls.getattr(name)?.unbind());
    }
    Ok(out.try_into().unwrap_or_else(|_| unreachable!()))
}

fn class(module: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyType>> {
    Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
}

impl Model {
    pub(crate) fn get(py: Python<'_>) -> PyResult<&Model> {
        MODEL.get_or_try_init(py, || Model::load(py))
    }

    fn load(py: Python<'_>) -> PyResult<Model> {
        let m = py.import("ipvs.model")?;
        let ops = py.import("ipvs.ops")?;
        let ip = py.import("ipaddress")?;
        let builtins = py.import("builtins")?;
        let service_flags = class(&m, "ServiceFlags")?;
        let no_flags = service_flags.bind(py).call1((0,))?.unbind();
        let mut schedulers = HashMap::new();
        for member in m.getattr("Scheduler")?.try_iter()? {
            let member = member?;
            let name: String = member.getattr("value")?.extract()?;
            schedulers.insert(name, member.unbind());
        }
        let op_names = [
            "AddService",
            "UpdateService",
            "DeleteService",
            "AddDestination",
            "UpdateDestination",
            "DeleteDestination",
            "SetTimeouts",
            "Zero",
            "Flush",
            "StartDaemon",
            "StopDaemon",
        ];
        let mut op_classes = Vec::new();
        for name in op_names {
            op_classes.push(class(&ops, name)?);
        }
        Ok(Model {
            object_new: builtins.getattr("object")?.getattr("__new__")?.unbind(),
            ipv4: class(&ip, "IPv4Address")?,
            ipv6: class(&ip, "IPv6Address")?,
            service: class(&m, "Service")?,
            address_key: class(&m, "AddressKey")?,
            fwmark_key: class(&m, "FwmarkKey")?,
            persistence: class(&m, "Persistence")?,
            stats: class(&m, "Stats")?,
            connections: class(&m, "Connections")?,
            destination: class(&m, "Destination")?,
            tunnel: class(&m, "Tunnel")?,
            timeouts: class(&m, "Timeouts")?,
            info: class(&m, "Info")?,
            version: class(&m, "Version")?,
            daemon: class(&m, "SyncDaemon")?,
            entry: class(&m, "ServiceEntry")?,
            service_flags,
            no_flags,
            protocols: members(&m, "Protocol", ["TCP", "UDP", "SCTP"])?,
            families: members(&m, "AddressFamily", ["IPV4", "IPV6"])?,
            forwards: members(
                &m,
                "ForwardMethod",
                ["MASQUERADE", "LOCAL", "TUNNEL", "DIRECT_ROUTE", "BYPASS"],
            )?,
            tunnel_types: members(&m, "TunnelType", ["IPIP", "GUE", "GRE"])?,
            checksums: members(&m, "TunnelChecksum", ["NONE", "CHECKSUM", "REMOTE"])?,
            daemon_states: members(&m, "DaemonState", ["MASTER", "BACKUP"])?,
            schedulers,
            ops: op_classes.try_into().unwrap_or_else(|_| unreachable!()),
        })
    }
}

// ---------------------------------------------------------------------------
// Rust to Python.

/// A new instance of `cls`, its constructor skipped.
fn alloc<'py>(py: Python<'py>, m: &Model, cls: &Py<PyType>) -> PyResult<Bound<'py, PyAny>> {
    m.object_new.bind(py).call1((cls.bind(py),))
}

/// `object.__setattr__(obj, name, value)`: sets a slot of a frozen dataclass.
fn set(
    obj: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
    value: Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: three valid, owned-by-the-caller object pointers, with the GIL held.
    let rc = unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(obj.py()))
    }
}

/// Build an instance of `$cls` from `field => value` pairs.
macro_rules! make {
    ($py:expr, $m:expr, $cls:expr, { $($name:literal => $value:expr),* $(,)? }) => {{
        let obj = alloc($py, $m, $cls)?;
        $( set(&obj, intern!($py, $name), ($value).into_bound_py_any($py)?)?; )*
        obj
    }};
}

fn none(py: Python<'_>) -> Bound<'_, PyAny> {
    py.None().into_bound(py)
}

fn opt<'py, T>(
    py: Python<'py>,
    v: Option<T>,
    f: impl FnOnce(T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => f(v),
        None => Ok(none(py)),
    }
}

pub(crate) fn ip_to_py<'py>(py: Python<'py>, m: &Model, ip: IpAddr) -> PyResult<Bound<'py, PyAny>> {
    match ip {
        IpAddr::V4(a) => m.ipv4.bind(py).call1((u32::from(a),)),
        IpAddr::V6(a) => m.ipv6.bind(py).call1((u128::from(a),)),
    }
}

pub(crate) fn key_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    k: &ServiceKey,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match k {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            let protocol = match protocol {
                Protocol::Tcp => m.protocols[0].bind(py).clone(),
                Protocol::Udp => m.protocols[1].bind(py).clone(),
                Protocol::Sctp => m.protocols[2].bind(py).clone(),
                Protocol::Other(n) => n.into_bound_py_any(py)?,
            };
            make!(py, m, &m.address_key, {
                "protocol" => protocol,
                "address" => ip_to_py(py, m, *address)?,
                "port" => *port,
            })
        }
        ServiceKey::Fwmark { fwmark, family } => make!(py, m, &m.fwmark_key, {
            "fwmark" => *fwmark,
            "family" => family_to_py(py, m, *family),
        }),
    })
}

fn family_to_py<'py>(py: Python<'py>, m: &Model, f: AddressFamily) -> Bound<'py, PyAny> {
    match f {
        AddressFamily::Ipv4 => m.families[0].bind(py).clone(),
        AddressFamily::Ipv6 => m.families[1].bind(py).clone(),
    }
}

fn stats_to_py<'py>(py: Python<'py>, m: &Model, s: &Stats) -> PyResult<Bound<'py, PyAny>> {
    Ok(make!(py, m, &m.stats, {
        "connections" => s.connections,
        "packets_in" => s.packets_in,
        "packets_out" => s.packets_out,
        "bytes_in" => s.bytes_in,
        "bytes_out" => s.bytes_out,
        "cps" => s.cps,
        "pps_in" => s.pps_in,
        "pps_out" => s.pps_out,
        "bps_in" => s.bps_in,
        "bps_out" => s.bps_out,
    }))
}

pub(crate) fn service_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    s: &Service,
) -> PyResult<Bound<'py, PyAny>> {
    let scheduler = match m.schedulers.get(s.scheduler.name()) {
        Some(member) => member.bind(py).clone(),
        None => s.scheduler.name().into_bound_py_any(py)?,
    };
    let persistence = opt(py, s.persistence.as_ref(), |p| {
        let netmask = match p.netmask {
            Netmask::V4(mask) => ip_to_py(py, m, IpAddr::V4(mask))?,
            Netmask::V6(len) => len.into_bound_py_any(py)?,
        };
        Ok(make!(py, m, &m.persistence, { "timeout" => p.timeout, "netmask" => netmask }))
    })?;
    let flags = match s.flags.bits() {
        0 => m.no_flags.bind(py).clone(),
        bits => m.service_flags.bind(py).call1((bits,))?,
    };
    Ok(make!(py, m, &m.service, {
        "key" => key_to_py(py, m, &s.key)?,
        "scheduler" => scheduler,
        "persistence" => persistence,
        "flags" => flags,
        "persistence_engine" => s.persistence_engine.as_deref(),
        "stats" => opt(py, s.stats.as_ref(), |s| stats_to_py(py, m, s))?,
    }))
}

fn tunnel_to_py<'py>(py: Python<'py>, m: &Model, t: &Tunnel) -> PyResult<Bound<'py, PyAny>> {
    let checksum = match t.checksum() {
        TunnelChecksum::None => &m.checksums[0],
        TunnelChecksum::Checksum => &m.checksums[1],
        TunnelChecksum::Remote => &m.checksums[2],
    };
    Ok(make!(py, m, &m.tunnel, {
        "type" => m.tunnel_types[t.type_raw() as usize].bind(py).clone(),
        "port" => t.port(),
        "checksum" => checksum.bind(py).clone(),
    }))
}

pub(crate) fn destination_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    d: &Destination,
) -> PyResult<Bound<'py, PyAny>> {
    let (forward, tunnel) = match &d.forward {
        ForwardMethod::Tunnel(t) => (m.forwards[2].bind(py).clone(), tunnel_to_py(py, m, t)?),
        ForwardMethod::Other(n) => (n.into_bound_py_any(py)?, none(py)),
        other => (
            m.forwards[other.to_raw() as usize].bind(py).clone(),
            none(py),
        ),
    };
    let connections = opt(py, d.connections.as_ref(), |c| {
        Ok(make!(py, m, &m.connections, {
            "active" => c.active,
            "inactive" => c.inactive,
            "persistent" => c.persistent,
        }))
    })?;
    Ok(make!(py, m, &m.destination, {
        "address" => ip_to_py(py, m, d.address)?,
        "port" => d.port,
        "forward" => forward,
        "tunnel" => tunnel,
        "weight" => d.weight,
        "upper_threshold" => d.upper_threshold,
        "lower_threshold" => d.lower_threshold,
        "connections" => connections,
        "stats" => opt(py, d.stats.as_ref(), |s| stats_to_py(py, m, s))?,
    }))
}

pub(crate) fn entry_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    e: &ServiceEntry,
) -> PyResult<Bound<'py, PyAny>> {
    let dests = e
        .destinations
        .iter()
        .map(|d| destination_to_py(py, m, d))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(make!(py, m, &m.entry, {
        "service" => service_to_py(py, m, &e.service)?,
        "destinations" => PyTuple::new(py, dests)?,
    }))
}

pub(crate) fn timeouts_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    t: &Timeouts,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(make!(py, m, &m.timeouts, { "tcp" => t.tcp, "tcp_fin" => t.tcp_fin, "udp" => t.udp }))
}

pub(crate) fn info_to_py<'py>(py: Python<'py>, m: &Model, i: &Info) -> PyResult<Bound<'py, PyAny>> {
    let v = i.version;
    let version = make!(py, m, &m.version, {
        "major" => v.major, "minor" => v.minor, "patch" => v.patch,
    });
    Ok(make!(py, m, &m.info, {
        "version" => version,
        "connection_table_size" => i.connection_table_size,
    }))
}

fn state_to_py<'py>(py: Python<'py>, m: &Model, s: DaemonState) -> PyResult<Bound<'py, PyAny>> {
    Ok(match s {
        DaemonState::Master => m.daemon_states[0].bind(py).clone(),
        DaemonState::Backup => m.daemon_states[1].bind(py).clone(),
        DaemonState::Other(n) => n.into_bound_py_any(py)?,
    })
}

pub(crate) fn daemon_to_py<'py>(
    py: Python<'py>,
    m: &Model,
    d: &SyncDaemon,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(make!(py, m, &m.daemon, {
        "state" => state_to_py(py, m, d.state)?,
        "interface" => d.interface.as_str(),
        "sync_id" => d.sync_id,
        "max_len" => d.max_len,
        "group" => opt(py, d.group, |g| ip_to_py(py, m, g))?,
        "port" => d.port,
        "ttl" => d.ttl,
    }))
}

pub(crate) fn list_to_py<'py, T>(
    py: Python<'py>,
    m: &Model,
    items: &[T],
    f: impl Fn(Python<'py>, &Model, &T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let objs = items
        .iter()
        .map(|x| f(py, m, x))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objs)
}

// ---------------------------------------------------------------------------
// Python to Rust.

fn bad(field: &str, e: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(format!("{field}: {e}"))
}

/// Attribute `name` of `obj`, extracted; a failure names the field.
fn attr<T>(obj: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<T>
where
    T: for<'a, 'py> FromPyObject<'a, 'py>,
{
    let value = obj.getattr(name)?;
    value
        .extract::<T>()
        .map_err(|e| bad(&name.to_string(), e.into()))
}

fn ip_from_py(m: &Model, field: &str, obj: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    let py = obj.py();
    // The addresses' integer (`_ip`), for the exact ipaddress classes.
    let ty = obj.get_type();
    if ty.is(m.ipv4.bind(py)) {
        let n: u32 = obj.getattr(intern!(py, "_ip"))?.extract()?;
        return Ok(IpAddr::V4(Ipv4Addr::from(n)));
    }
    if ty.is(m.ipv6.bind(py)) && obj.getattr(intern!(py, "_scope_id"))?.is_none() {
        let n: u128 = obj.getattr(intern!(py, "_ip"))?.extract()?;
        return Ok(IpAddr::V6(Ipv6Addr::from(n)));
    }
    obj.extract::<IpAddr>().map_err(|_| {
        bad(
            field,
            format!(
                "expected an IP address, got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ),
        )
    })
}

/// `member` is one of `members`: its index.
fn which(obj: &Bound<'_, PyAny>, members: &[Py<PyAny>]) -> Option<usize> {
    members.iter().position(|m| obj.is(m))
}

pub(crate) fn key_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<ServiceKey> {
    let py = obj.py();
    if obj.is_instance(m.address_key.bind(py))? {
        let p = obj.getattr(intern!(py, "protocol"))?;
        let protocol = match which(&p, &m.protocols) {
            Some(0) => Protocol::Tcp,
            Some(1) => Protocol::Udp,
            Some(2) => Protocol::Sctp,
            _ => Protocol::Other(p.extract().map_err(|e: PyErr| bad("protocol", e))?),
        };
        Ok(ServiceKey::Address {
            protocol,
            address: ip_from_py(m, "address", &obj.getattr(intern!(py, "address"))?)?,
            port: attr(obj, intern!(py, "port"))?,
        })
    } else if obj.is_instance(m.fwmark_key.bind(py))? {
        let f = obj.getattr(intern!(py, "family"))?;
        let family = match which(&f, &m.families) {
            Some(0) => AddressFamily::Ipv4,
            Some(1) => AddressFamily::Ipv6,
            _ => return Err(bad("family", "expected an AddressFamily")),
        };
        Ok(ServiceKey::Fwmark {
            fwmark: attr(obj, intern!(py, "fwmark"))?,
            family,
        })
    } else if obj.is_instance(m.service.bind(py))? {
        key_from_py(m, &obj.getattr(intern!(py, "key"))?)
    } else {
        Err(bad("key", "expected a ServiceKey"))
    }
}

fn opt_attr<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let v = obj.getattr(name)?;
    Ok(if v.is_none() { None } else { Some(v) })
}

fn stats_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Stats> {
    let py = obj.py();
    Ok(Stats {
        connections: attr(obj, intern!(py, "connections"))?,
        packets_in: attr(obj, intern!(py, "packets_in"))?,
        packets_out: attr(obj, intern!(py, "packets_out"))?,
        bytes_in: attr(obj, intern!(py, "bytes_in"))?,
        bytes_out: attr(obj, intern!(py, "bytes_out"))?,
        cps: attr(obj, intern!(py, "cps"))?,
        pps_in: attr(obj, intern!(py, "pps_in"))?,
        pps_out: attr(obj, intern!(py, "pps_out"))?,
        bps_in: attr(obj, intern!(py, "bps_in"))?,
        bps_out: attr(obj, intern!(py, "bps_out"))?,
    })
}

pub(crate) fn service_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<Service> {
    let py = obj.py();
    if !obj.is_instance(m.service.bind(py))? {
        return Err(bad("service", "expected a Service"));
    }
    let key = key_from_py(m, &obj.getattr(intern!(py, "key"))?)?;
    let sched = obj.getattr(intern!(py, "scheduler"))?;
    let scheduler = match sched.extract::<String>() {
        Ok(name) => Scheduler::from_name(&name),
        Err(_) => Scheduler::from_name(&attr::<String>(&sched, intern!(py, "value"))?),
    };
    let persistence = match opt_attr(obj, intern!(py, "persistence"))? {
        None => None,
        Some(p) => {
            let mask = p.getattr(intern!(py, "netmask"))?;
            let netmask = if mask.is_none() {
                Netmask::host(key.family())
            } else if let Ok(len) = mask.extract::<u8>() {
                Netmask::V6(len)
            } else {
                match ip_from_py(m, "netmask", &mask)? {
                    IpAddr::V4(a) => Netmask::V4(a),
                    IpAddr::V6(_) => return Err(bad("netmask", "an IPv6 address is not a mask")),
                }
            };
            Some(Persistence {
                timeout: attr(&p, intern!(py, "timeout"))?,
                netmask,
            })
        }
    };
    Ok(Service {
        key,
        scheduler,
        persistence,
        flags: ServiceFlags::from_bits_retain(attr(obj, intern!(py, "flags"))?),
        persistence_engine: attr(obj, intern!(py, "persistence_engine"))?,
        stats: opt_attr(obj, intern!(py, "stats"))?
            .map(|s| stats_from_py(&s))
            .transpose()?,
    })
}

fn tunnel_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<Tunnel> {
    let py = obj.py();
    let kind = which(&obj.getattr(intern!(py, "type"))?, &m.tunnel_types);
    let checksum = match which(&obj.getattr(intern!(py, "checksum"))?, &m.checksums) {
        Some(0) => TunnelChecksum::None,
        Some(1) => TunnelChecksum::Checksum,
        Some(2) => TunnelChecksum::Remote,
        _ => return Err(bad("checksum", "expected a TunnelChecksum")),
    };
    Ok(match kind {
        Some(0) => Tunnel::Ipip,
        Some(1) => Tunnel::Gue {
            port: attr(obj, intern!(py, "port"))?,
            checksum,
        },
        Some(2) => Tunnel::Gre { checksum },
        _ => return Err(bad("tunnel", "expected a TunnelType")),
    })
}

pub(crate) fn destination_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<Destination> {
    let py = obj.py();
    if !obj.is_instance(m.destination.bind(py))? {
        return Err(bad("destination", "expected a Destination"));
    }
    let f = obj.getattr(intern!(py, "forward"))?;
    let forward = match which(&f, &m.forwards) {
        Some(0) => ForwardMethod::Masquerade,
        Some(1) => ForwardMethod::Local,
        Some(2) => match opt_attr(obj, intern!(py, "tunnel"))? {
            Some(t) => ForwardMethod::Tunnel(tunnel_from_py(m, &t)?),
            None => ForwardMethod::Tunnel(Tunnel::Ipip),
        },
        Some(3) => ForwardMethod::DirectRoute,
        Some(4) => ForwardMethod::Bypass,
        _ => ForwardMethod::Other(f.extract().map_err(|e: PyErr| bad("forward", e))?),
    };
    let connections = match opt_attr(obj, intern!(py, "connections"))? {
        None => None,
        Some(c) => Some(Connections {
            active: attr(&c, intern!(py, "active"))?,
            inactive: attr(&c, intern!(py, "inactive"))?,
            persistent: attr(&c, intern!(py, "persistent"))?,
        }),
    };
    Ok(Destination {
        address: ip_from_py(m, "address", &obj.getattr(intern!(py, "address"))?)?,
        port: attr(obj, intern!(py, "port"))?,
        forward,
        weight: attr(obj, intern!(py, "weight"))?,
        upper_threshold: attr(obj, intern!(py, "upper_threshold"))?,
        lower_threshold: attr(obj, intern!(py, "lower_threshold"))?,
        connections,
        stats: opt_attr(obj, intern!(py, "stats"))?
            .map(|s| stats_from_py(&s))
            .transpose()?,
    })
}

pub(crate) fn timeouts_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<Timeouts> {
    let py = obj.py();
    if !obj.is_instance(m.timeouts.bind(py))? {
        return Err(bad("timeouts", "expected a Timeouts"));
    }
    Ok(Timeouts {
        tcp: attr(obj, intern!(py, "tcp"))?,
        tcp_fin: attr(obj, intern!(py, "tcp_fin"))?,
        udp: attr(obj, intern!(py, "udp"))?,
    })
}

fn state_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<DaemonState> {
    Ok(match which(obj, &m.daemon_states) {
        Some(0) => DaemonState::Master,
        Some(1) => DaemonState::Backup,
        _ => DaemonState::Other(obj.extract().map_err(|e: PyErr| bad("state", e))?),
    })
}

pub(crate) fn daemon_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<SyncDaemon> {
    let py = obj.py();
    if !obj.is_instance(m.daemon.bind(py))? {
        return Err(bad("daemon", "expected a SyncDaemon"));
    }
    Ok(SyncDaemon {
        state: state_from_py(m, &obj.getattr(intern!(py, "state"))?)?,
        interface: attr(obj, intern!(py, "interface"))?,
        sync_id: attr(obj, intern!(py, "sync_id"))?,
        max_len: attr(obj, intern!(py, "max_len"))?,
        group: opt_attr(obj, intern!(py, "group"))?
            .map(|g| ip_from_py(m, "group", &g))
            .transpose()?,
        port: attr(obj, intern!(py, "port"))?,
        ttl: attr(obj, intern!(py, "ttl"))?,
    })
}

pub(crate) fn op_from_py(m: &Model, obj: &Bound<'_, PyAny>) -> PyResult<Operation> {
    let py = obj.py();
    let ty = obj.get_type();
    let index = match m.ops.iter().position(|c| ty.is(c.bind(py))) {
        Some(i) => i,
        None => m
            .ops
            .iter()
            .position(|c| obj.is_instance(c.bind(py)).unwrap_or(false))
            .ok_or_else(|| bad("operation", "expected an ipvs Operation"))?,
    };
    let key = || key_from_py(m, &obj.getattr(intern!(py, "key"))?);
    let service = || service_from_py(m, &obj.getattr(intern!(py, "service"))?);
    let dest = || destination_from_py(m, &obj.getattr(intern!(py, "destination"))?);
    Ok(match index {
        0 => Operation::AddService(service()?),
        1 => Operation::UpdateService(service()?),
        2 => Operation::DeleteService(key()?),
        3 => Operation::AddDestination(key()?, dest()?),
        4 => Operation::UpdateDestination(key()?, dest()?),
        5 => Operation::DeleteDestination(
            key()?,
            SocketAddr::new(
                ip_from_py(m, "address", &obj.getattr(intern!(py, "address"))?)?,
                attr(obj, intern!(py, "port"))?,
            ),
        ),
        6 => Operation::SetTimeouts(timeouts_from_py(m, &obj.getattr(intern!(py, "timeouts"))?)?),
        7 => Operation::Zero(
            opt_attr(obj, intern!(py, "key"))?
                .map(|k| key_from_py(m, &k))
                .transpose()?,
        ),
        8 => Operation::Flush,
        9 => Operation::StartDaemon(daemon_from_py(m, &obj.getattr(intern!(py, "daemon"))?)?),
        _ => Operation::StopDaemon(state_from_py(m, &obj.getattr(intern!(py, "state"))?)?),
    })
}

/// The Python value `obj` of `kind` as its Rust value's serde JSON.
pub(crate) fn to_json(m: &Model, kind: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    fn j<T: serde::Serialize>(v: &T) -> PyResult<String> {
        serde_json::to_string(v).map_err(|e| bad("json", e))
    }
    match kind {
        "service" => j(&service_from_py(m, obj)?),
        "service_key" => j(&key_from_py(m, obj)?),
        "destination" => j(&destination_from_py(m, obj)?),
        "timeouts" => j(&timeouts_from_py(m, obj)?),
        "daemon" => j(&daemon_from_py(m, obj)?),
        "operation" => j(&op_from_py(m, obj)?),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown kind {kind:?}"
        ))),
    }
}

/// The Rust value of `kind` read from serde JSON, as a Python value.
pub(crate) fn from_json<'py>(
    py: Python<'py>,
    m: &Model,
    kind: &str,
    json: &str,
) -> PyResult<Bound<'py, PyAny>> {
    fn p<T: serde::de::DeserializeOwned>(json: &str) -> PyResult<T> {
        serde_json::from_str(json)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }
    match kind {
        "service" => service_to_py(py, m, &p(json)?),
        "service_key" => key_to_py(py, m, &p(json)?),
        "destination" => destination_to_py(py, m, &p(json)?),
        "timeouts" => timeouts_to_py(py, m, &p(json)?),
        "info" => info_to_py(py, m, &p(json)?),
        "daemon" => daemon_to_py(py, m, &p(json)?),
        "entry" => entry_to_py(py, m, &p(json)?),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown kind {kind:?}"
        ))),
    }
}
