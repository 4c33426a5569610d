//! A state as keepalived.conf: one `virtual_server` per service, one
//! `real_server` per destination, the timeouts in `global_defs`, written so
//! that keepalived 2.2 makes exactly this table (every key explicit: no
//! default of keepalived is relied on) and so that reading the file back
//! ([`super::parse_str`], [`super::to_import`]) gives the same state.
//!
//! What keepalived cannot express is an error naming the service or
//! destination, never a silent change: a scheduler it does not accept, a
//! service without destinations (keepalived ignores it), one-packet
//! scheduling on a TCP or SCTP address service, a direct-routed or
//! tunnelled destination whose port keepalived would reset, local or
//! bypass forwarding.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::map::KEEPALIVED_SCHEDULERS;
#[cfg(feature = "health")]
use super::write_health as health_keys;
use crate::model::{
    AddressFamily, Destination, ForwardMethod, Netmask, Protocol, Service, ServiceFlags,
    ServiceKey, Tunnel, TunnelChecksum,
};
use crate::state::{ServiceState, State};

/// A state that keepalived.conf cannot express as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}{}: {reason}", dest.map(|d| format!(", destination {d}")).unwrap_or_default())]
pub struct WriteError {
    /// The service.
    pub service: ServiceKey,
    /// The destination, if the problem is one.
    pub dest: Option<SocketAddr>,
    /// Why.
    pub reason: String,
}

/// `state` as keepalived.conf (checkers and VRRP aside).
///
/// ```
/// use ipvs::import::keepalived;
/// use ipvs::state::State;
///
/// let state = State::from_rules_text("\
/// -A -t 192.0.2.10:80 -s wrr -p 300
/// -a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 3
/// ").unwrap();
/// let text = keepalived::write(&state).unwrap();
/// assert!(text.contains("virtual_server 192.0.2.10 80 {"));
/// let doc = keepalived::parse_str(&text, "keepalived.conf".as_ref()).unwrap();
/// assert!(keepalived::to_import(&doc).unwrap().state.config_eq(&state));
/// ```
pub fn write(state: &State) -> Result<String, WriteError> {
    write_inner(state, None)
}

/// `state` and the director failover `settings` as keepalived.conf: the
/// table as [`write()`] writes it, the `vrrp_instance` and the
/// `lvs_sync_daemon` that follows it. Reads back to the same state and
/// settings (what keepalived.conf cannot hold of the settings, such as
/// FAULT and STOP behaviour or how keepalived is run, is not written).
#[cfg(feature = "failover")]
pub fn write_with_failover(
    state: &State,
    settings: &crate::failover::Settings,
) -> Result<String, WriteError> {
    write_inner(state, Some(super::vrrp::write_settings(settings)))
}

/// A run's whole configuration as keepalived.conf: the table, each
/// service's health policy and each destination's check as keepalived's
/// keys and checkers, and (with feature `failover`) the failover
/// settings. Reads back ([`super::parse_str`], [`super::to_import`],
/// [`crate::import::Import::to_run_config`]) to the same configuration.
///
/// What keepalived cannot express is an error naming the service or
/// destination: slow start, a `rise` above 1 (keepalived brings a server
/// back on its first success), TCP send/expect and file checks, `%h`/`%p`
/// in a program's arguments, certificate verification, different checks
/// for one real server in services made from one virtual server.
#[cfg(feature = "health")]
pub fn write_run_config(config: &crate::health::RunConfig) -> Result<String, WriteError> {
    #[cfg(feature = "failover")]
    let vrrp = config.failover.as_ref().map(super::vrrp::write_settings);
    #[cfg(not(feature = "failover"))]
    let vrrp = None;
    let mut sorted = config.state.config();
    sorted.sort();
    // Every service's health block, checked before anything is written.
    let mut blocks = std::collections::HashMap::new();
    for ss in &sorted.services {
        let key = ss.service.key;
        blocks.insert(key, health_keys::service_block(config, ss)?);
    }
    let scripts = blocks
        .values()
        .any(|b: &health_keys::Block| b.dests.values().any(|t| t.contains("MISC_CHECK")));
    write_sorted(
        &sorted,
        vrrp,
        scripts,
        &|ss: &ServiceState, d: Option<&Destination>| {
            let b = &blocks[&ss.service.key];
            match d {
                None => b.service.clone(),
                Some(d) => b.dests.get(&d.socket_addr()).cloned().unwrap_or_default(),
            }
        },
    )
}

fn write_inner(state: &State, vrrp: Option<(String, String)>) -> Result<String, WriteError> {
    let mut sorted = state.config();
    sorted.sort();
    write_sorted(&sorted, vrrp, false, &|_, _| String::new())
}

/// Lines added to a virtual server (`None`) or a real server block.
type Extra<'a> = dyn Fn(&ServiceState, Option<&Destination>) -> String + 'a;

fn write_sorted(
    sorted: &State,
    vrrp: Option<(String, String)>,
    scripts: bool,
    extra: &Extra<'_>,
) -> Result<String, WriteError> {
    let mut out = String::from("! Written by ipvs-netlink: the IPVS table as keepalived.conf.\n");
    let mut globals = Vec::new();
    if let Some(t) = sorted.timeouts {
        let mut parts = Vec::new();
        for (name, v) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
            if v != 0 {
                parts.push(format!("{name} {v}"));
            }
        }
        if !parts.is_empty() {
            globals.push(format!("lvs_timeouts {}", parts.join(" ")));
        }
    }
    if let Some((sync, _)) = &vrrp {
        globals.push(sync.clone());
    }
    if scripts {
        // keepalived refuses to run check programs without these; the
        // run's own programs run as root.
        globals.push("enable_script_security".into());
        globals.push("script_user root".into());
    }
    if !globals.is_empty() {
        out.push_str("\nglobal_defs {\n");
        for g in globals {
            let _ = writeln!(out, "    {g}");
        }
        out.push_str("}\n");
    }
    if let Some((_, instance)) = &vrrp {
        out.push('\n');
        out.push_str(instance);
    }
    for s in &sorted.services {
        out.push('\n');
        service(&mut out, s, extra)?;
    }
    Ok(out)
}

pub(super) fn err(
    s: &Service,
    dest: Option<&Destination>,
    reason: impl Into<String>,
) -> WriteError {
    WriteError {
        service: s.key,
        dest: dest.map(Destination::socket_addr),
        reason: reason.into(),
    }
}

fn service(out: &mut String, ss: &ServiceState, extra: &Extra<'_>) -> Result<(), WriteError> {
    let s = &ss.service;
    if ss.destinations.is_empty() {
        return Err(err(
            s,
            None,
            "no destinations: keepalived ignores a virtual server without real servers",
        ));
    }
    let sched = s.scheduler.name();
    if !KEEPALIVED_SCHEDULERS.contains(&sched) {
        return Err(err(
            s,
            None,
            format!("scheduler {sched:?} is not one keepalived 2.2 accepts"),
        ));
    }
    match s.key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            let _ = writeln!(out, "virtual_server {address} {port} {{");
            let p = match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
                Protocol::Other(n) => {
                    return Err(err(
                        s,
                        None,
                        format!("protocol {n} is not TCP, UDP or SCTP"),
                    ));
                }
            };
            let _ = writeln!(out, "    protocol {p}");
            if s.one_packet() && protocol != Protocol::Udp {
                return Err(err(
                    s,
                    None,
                    "one-packet scheduling on a TCP or SCTP service: keepalived removes it",
                ));
            }
            if port == 0 && s.persistence.is_none() {
                return Err(err(s, None, "port 0 without persistence"));
            }
        }
        ServiceKey::Fwmark { fwmark, family } => {
            let _ = writeln!(out, "virtual_server fwmark {fwmark} {{");
            let f = match family {
                AddressFamily::Ipv4 => "inet",
                AddressFamily::Ipv6 => "inet6",
            };
            let _ = writeln!(out, "    ip_family {f}");
        }
    }
    let _ = writeln!(out, "    lvs_sched {sched}");
    let flags = s.flags;
    let unnamed = flags.difference(
        ServiceFlags::ONE_PACKET
            | ServiceFlags::SCHED1
            | ServiceFlags::SCHED2
            | ServiceFlags::SCHED3,
    );
    if !unnamed.is_empty() {
        return Err(err(
            s,
            None,
            format!("flag bits {:#x} have no keepalived keyword", unnamed.bits()),
        ));
    }
    if s.one_packet() {
        out.push_str("    ops\n");
    }
    let names: [&str; 3] = match sched {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    for (bit, name) in [
        ServiceFlags::SCHED1,
        ServiceFlags::SCHED2,
        ServiceFlags::SCHED3,
    ]
    .into_iter()
    .zip(names)
    {
        if flags.contains(bit) {
            let _ = writeln!(out, "    {name}");
        }
    }
    if let Some(p) = &s.persistence {
        if p.timeout == 0 || p.timeout > 86400 * 31 {
            return Err(err(
                s,
                None,
                format!(
                    "persistence timeout {} is outside keepalived's 1..2678400",
                    p.timeout
                ),
            ));
        }
        let _ = writeln!(out, "    persistence_timeout {}", p.timeout);
        if p.netmask != Netmask::host(s.key.family()) {
            let _ = writeln!(out, "    persistence_granularity {}", p.netmask);
        }
        if let Some(pe) = &s.persistence_engine {
            let _ = writeln!(out, "    persistence_engine {pe}");
        }
    } else if s.persistence_engine.is_some() {
        return Err(err(
            s,
            None,
            "a persistence engine without persistence: keepalived sends none",
        ));
    }
    // The most common method at the virtual server; others per real server.
    let default = ss.destinations[0].forward;
    let _ = writeln!(out, "    lvs_method {}", method(s, None, &default)?);
    out.push_str(&extra(ss, None));
    for d in &ss.destinations {
        let port_ok = match (d.forward, s.key) {
            (ForwardMethod::Masquerade, _) => true,
            (_, ServiceKey::Address { port, .. }) => d.port == port,
            (_, ServiceKey::Fwmark { .. }) => d.port == 0,
        };
        if !port_ok {
            return Err(err(
                s,
                Some(d),
                "a direct-routed or tunnelled destination's port is not the service's (0 for fwmark): keepalived resets it",
            ));
        }
        if AddressFamily::of(&d.address) != s.key.family()
            && !matches!(d.forward, ForwardMethod::Tunnel(_))
        {
            return Err(err(
                s,
                Some(d),
                "a destination of another family that is not tunnelled",
            ));
        }
        let _ = writeln!(out, "    real_server {} {} {{", d.address, d.port);
        let _ = writeln!(out, "        weight {}", d.weight);
        if d.forward != default {
            let _ = writeln!(
                out,
                "        lvs_method {}",
                method(s, Some(d), &d.forward)?
            );
        }
        if d.upper_threshold != 0 {
            let _ = writeln!(out, "        uthreshold {}", d.upper_threshold);
        }
        if d.lower_threshold != 0 {
            let _ = writeln!(out, "        lthreshold {}", d.lower_threshold);
        }
        out.push_str(&extra(ss, Some(d)));
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    Ok(())
}

pub(super) fn method(
    s: &Service,
    d: Option<&Destination>,
    f: &ForwardMethod,
) -> Result<String, WriteError> {
    let csum = |c: TunnelChecksum| match c {
        TunnelChecksum::None => "nocsum",
        TunnelChecksum::Checksum => "csum",
        TunnelChecksum::Remote => "remcsum",
    };
    Ok(match f {
        ForwardMethod::Masquerade => "NAT".into(),
        ForwardMethod::DirectRoute => "DR".into(),
        ForwardMethod::Tunnel(Tunnel::Ipip) => "TUN".into(),
        ForwardMethod::Tunnel(Tunnel::Gue { port, checksum }) => {
            format!("TUN type gue port {port} {}", csum(*checksum))
        }
        ForwardMethod::Tunnel(Tunnel::Gre { checksum }) => {
            format!("TUN type gre {}", csum(*checksum))
        }
        other => {
            return Err(err(
                s,
                d,
                format!("forwarding method {other} has no keepalived keyword"),
            ));
        }
    })
}
