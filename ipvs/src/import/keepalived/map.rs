//! keepalived.conf's document to the IPVS table, as keepalived 2.2's
//! checker process builds it once every real server is up: the same
//! defaults (scheduler `wlc`, method NAT, UDP when no protocol is given,
//! persistence 360 s for port 0), the same corrections (a direct-routed
//! real server's port is the virtual server's, a fwmark one's 0; a
//! duplicate real server is dropped), each reported as a warning.

use std::collections::HashMap;
use std::net::IpAddr;

#[cfg(not(feature = "health"))]
use super::document::{Checker, Timing};
use super::document::{
    Config, GroupEntry, Method, RealServer, VirtualServer, VirtualServerGroup, VirtualServerId,
};
use crate::import::{ErrorKind, Import, ImportError, Located, Location, WarningKind, Warnings};
use crate::model::{
    AddressFamily, Destination, ForwardMethod, Netmask, Persistence, Protocol, Scheduler, Service,
    ServiceFlags, ServiceKey,
};
use crate::state::{ServiceState, State, StateError};

/// The schedulers keepalived 2.2 accepts in `lvs_sched`.
pub(crate) const KEEPALIVED_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// keepalived's persistence timeout when none is given (`IPVS_SVC_PERSISTENT_TIMEOUT`).
pub const DEFAULT_PERSISTENCE: u32 = 360;

#[cfg(not(feature = "health"))]
const HEALTH_PENDING: &str = "a health-checking setting: not carried over (feature health is off)";
#[cfg(not(feature = "failover"))]
const FAILOVER_PENDING: &str = "a failover setting: not carried over (feature failover is off)";

/// The table keepalived makes from `config` with every real server up,
/// and what did not carry over.
pub fn to_import(config: &Config) -> Result<Import, ImportError> {
    let mut w = Warnings::default();
    let mut state = State::new();
    if let Some(t) = &config.global_defs.lvs_timeouts {
        state.timeouts = Some(t.value);
    }
    if let Some(r) = &config.global_defs.router_id {
        w.push(
            &r.at,
            WarningKind::NotCarriedOver,
            "router_id",
            "keepalived's name for this director (in its e-mails and logs): no counterpart",
        );
    }
    #[cfg(feature = "failover")]
    let failover = super::vrrp::to_settings(config, &mut w)?;
    #[cfg(not(feature = "failover"))]
    {
        if let Some(d) = &config.global_defs.lvs_sync_daemon {
            w.push(
                &d.at,
                WarningKind::NotCarriedOver,
                "lvs_sync_daemon",
                FAILOVER_PENDING,
            );
        }
        for v in &config.vrrp_instances {
            w.push(
                &v.name.at,
                WarningKind::NotCarriedOver,
                format!("vrrp_instance {}", v.name.value),
                FAILOVER_PENDING,
            );
        }
    }

    let groups: HashMap<&str, &VirtualServerGroup> = config
        .groups
        .iter()
        .map(|g| (g.name.value.as_str(), g))
        .collect();
    // Where each service came from, to name both places of a duplicate.
    let mut defined_at: HashMap<ServiceKey, Location> = HashMap::new();
    #[cfg(feature = "health")]
    let mut health = std::collections::HashMap::new();
    #[cfg(feature = "health")]
    let mut checks = std::collections::HashMap::new();
    for vs in &config.virtual_servers {
        #[cfg(not(feature = "health"))]
        report_health_keys(vs, &mut w);
        let services = virtual_server(vs, &groups, &mut w)?;
        #[cfg(feature = "health")]
        for (i, svc) in services.iter().enumerate() {
            let method_of = |rs: &RealServer| {
                rs.method
                    .as_ref()
                    .or(vs.method.as_ref())
                    .map(|m| m.value)
                    .unwrap_or(Method::Nat)
            };
            let (h, c) = super::checkers::map(vs, svc, method_of, i == 0, &mut w);
            let key = svc.service.key;
            if let Some(h) = h {
                health.insert(key, h);
            }
            for (dest, check) in c {
                checks.insert((key, dest), Some(check));
            }
        }
        for svc in services {
            let key = svc.service.key;
            if let Some(first) = defined_at.get(&key) {
                return Err(ImportError::at(
                    &vs.id.at,
                    ErrorKind::Conflict,
                    format!("virtual_server: service {key} is already defined at {first}"),
                ));
            }
            defined_at.insert(key, vs.id.at.clone());
            state.services.push(svc);
        }
    }
    state.validate().map_err(|e| state_error(e, &defined_at))?;
    Ok(Import {
        state,
        #[cfg(feature = "failover")]
        failover,
        #[cfg(feature = "health")]
        health,
        #[cfg(feature = "health")]
        checks,
        warnings: w.0,
    })
}

/// A state validation error, placed at the virtual server it is about.
fn state_error(e: StateError, defined_at: &HashMap<ServiceKey, Location>) -> ImportError {
    let key = match &e {
        StateError::DuplicateDest { service, .. }
        | StateError::InvalidService { service, .. }
        | StateError::InvalidDest { service, .. } => Some(*service),
        StateError::DuplicateService(k) => Some(*k),
        _ => None,
    };
    let at = key
        .and_then(|k| defined_at.get(&k))
        .cloned()
        .unwrap_or_else(|| defined_at.values().next().cloned().expect("a service"));
    ImportError::at(&at, ErrorKind::Conflict, format!("virtual_server: {e}"))
}

/// What a virtual server's table settings are before its keys are known.
struct Shape {
    /// Address entries (first, last, port) or fwmarks (mark, family).
    addresses: Vec<(IpAddr, IpAddr, u16)>,
    fwmarks: Vec<(u32, Option<AddressFamily>)>,
}

fn virtual_server(
    vs: &VirtualServer,
    groups: &HashMap<&str, &VirtualServerGroup>,
    w: &mut Warnings,
) -> Result<Vec<ServiceState>, ImportError> {
    let at = &vs.id.at;
    let name = describe(&vs.id.value);

    if vs.real_servers.is_empty() {
        w.push(
            at,
            WarningKind::Corrected,
            &name,
            "no real servers: keepalived ignores this virtual server, so it is not loaded",
        );
        return Ok(Vec::new());
    }

    let shape = match &vs.id.value {
        VirtualServerId::Address { address, port } => Shape {
            addresses: vec![(*address, *address, *port)],
            fwmarks: Vec::new(),
        },
        VirtualServerId::Fwmark(m) => Shape {
            addresses: Vec::new(),
            fwmarks: vec![(*m, None)],
        },
        VirtualServerId::Group(g) => {
            let Some(group) = groups.get(g.as_str()) else {
                w.push(
                    at,
                    WarningKind::Corrected,
                    &name,
                    format!("virtual_server_group {g} is not defined: keepalived ignores this virtual server, so it is not loaded"),
                );
                return Ok(Vec::new());
            };
            let mut s = Shape {
                addresses: Vec::new(),
                fwmarks: Vec::new(),
            };
            for e in &group.entries {
                match e.value {
                    GroupEntry::Addresses { first, last, port } => {
                        s.addresses.push((first, last, port))
                    }
                    GroupEntry::Fwmark { mark, family } => s.fwmarks.push((mark, family)),
                }
            }
            if s.addresses.is_empty() && s.fwmarks.is_empty() {
                w.push(
                    &group.name.at,
                    WarningKind::Corrected,
                    format!("virtual_server_group {g}"),
                    "no entries: keepalived removes the group and ignores the virtual servers using it",
                );
                return Ok(Vec::new());
            }
            s
        }
    };
    let is_group = matches!(vs.id.value, VirtualServerId::Group(_));

    // The address family: the virtual address's, else ip_family, else the
    // real servers' (as keepalived's rs_end_handler and vs_end_handler).
    let mut family = match &vs.id.value {
        VirtualServerId::Address { address, .. } => Some(AddressFamily::of(address)),
        _ => None,
    };
    if let Some(f) = &vs.ip_family {
        match family {
            Some(have) if have != f.value => w.push(
                &f.at,
                WarningKind::Corrected,
                "ip_family",
                format!("conflicts with the virtual server's {have} address: ignored, as keepalived ignores it"),
            ),
            _ => family = Some(f.value),
        }
    }

    // Forwarding methods, and which real servers keepalived keeps.
    let mut defaulted_nat = false;
    let mut method_of = |rs: &RealServer| -> Method {
        if let Some(m) = &rs.method {
            return m.value;
        }
        if let Some(m) = &vs.method {
            return m.value;
        }
        defaulted_nat = true;
        Method::Nat
    };
    let mut kept: Vec<(&RealServer, Method)> = Vec::new();
    for rs in &vs.real_servers {
        let m = method_of(rs);
        let rs_family = AddressFamily::of(&rs.address);
        if !matches!(m, Method::Tunnel(_)) {
            match family {
                None if !is_group => family = Some(rs_family),
                Some(f) if f != rs_family => {
                    w.push(
                        &rs.at,
                        WarningKind::Corrected,
                        format!("real_server {}", rs.address),
                        format!("not of the virtual server's family ({f}): keepalived skips it, so it is not loaded"),
                    );
                    continue;
                }
                _ => {}
            }
        }
        if let Some((first, _)) = kept
            .iter()
            .find(|(k, _)| k.address == rs.address && k.port == rs.port)
        {
            w.push(
                &rs.at,
                WarningKind::Corrected,
                format!("real_server {} {}", rs.address, rs.port),
                format!(
                    "duplicate of the one at {}: keepalived removes it, so it is not loaded",
                    first.at
                ),
            );
            continue;
        }
        kept.push((rs, m));
    }
    if defaulted_nat {
        w.push(
            at,
            WarningKind::Corrected,
            &name,
            "no lvs_method: NAT, as keepalived defaults",
        );
    }
    if is_group {
        // The group's family (link_vsg_to_vs).
        let has4 = shape.addresses.iter().any(|a| a.0.is_ipv4())
            || shape
                .fwmarks
                .iter()
                .any(|f| f.1 == Some(AddressFamily::Ipv4));
        let has6 = shape.addresses.iter().any(|a| a.0.is_ipv6())
            || shape
                .fwmarks
                .iter()
                .any(|f| f.1 == Some(AddressFamily::Ipv6));
        let group_family = match (has4, has6) {
            (true, false) => Some(AddressFamily::Ipv4),
            (false, true) => Some(AddressFamily::Ipv6),
            _ => None,
        };
        match (family, group_family, has4 && has6) {
            (Some(f), _, true) => {
                w.push(
                    at,
                    WarningKind::Corrected,
                    &name,
                    format!("the group mixes IPv4 and IPv6 but the real servers are {f}: keepalived ignores this virtual server, so it is not loaded"),
                );
                return Ok(Vec::new());
            }
            (Some(f), Some(g), _) if f != g => {
                w.push(
                    at,
                    WarningKind::Corrected,
                    &name,
                    format!("the group is {g} but the real servers are {f}: keepalived ignores this virtual server, so it is not loaded"),
                );
                return Ok(Vec::new());
            }
            (None, Some(g), _) => family = Some(g),
            _ => {}
        }
    }
    if family.is_none() {
        // Only tunnelled real servers: their family if they agree, else IPv4.
        let mut fams = kept.iter().map(|(rs, _)| AddressFamily::of(&rs.address));
        let first = fams.next();
        family = match first {
            Some(f) if fams.all(|g| g == f) => Some(f),
            _ => Some(AddressFamily::Ipv4),
        };
    }
    let family = family.expect("set above");

    // Protocol.
    let has_addresses = !shape.addresses.is_empty();
    let protocol = if has_addresses {
        match &vs.protocol {
            Some(p) => p.value,
            None => {
                w.push(
                    at,
                    WarningKind::Corrected,
                    &name,
                    "no protocol: UDP, as keepalived defaults (it reports this as a configuration error)",
                );
                Protocol::Udp
            }
        }
    } else {
        if let Some(p) = &vs.protocol {
            w.push(
                &p.at,
                WarningKind::Corrected,
                "protocol",
                "a fwmark service has no protocol: ignored, as keepalived ignores it",
            );
        }
        Protocol::Tcp
    };

    // Scheduler.
    let scheduler = match &vs.scheduler {
        Some(s) if KEEPALIVED_SCHEDULERS.contains(&s.value.as_str()) => {
            Scheduler::from_name(&s.value)
        }
        Some(s) => {
            w.push(
                &s.at,
                WarningKind::Corrected,
                "lvs_sched",
                format!(
                    "{:?} is not a scheduler keepalived accepts: wlc, as keepalived defaults",
                    s.value
                ),
            );
            Scheduler::WeightedLeastConnection
        }
        None => {
            w.push(
                at,
                WarningKind::Corrected,
                &name,
                "no lvs_sched: wlc, as keepalived defaults",
            );
            Scheduler::WeightedLeastConnection
        }
    };

    // Flags, in keepalived's order-dependent way.
    let mut flags = ServiceFlags::empty();
    for f in &vs.flags {
        let then = f.value.scheduler_then.as_deref();
        let flag = match (f.value.name.as_str(), then) {
            ("ops", _) => Some(ServiceFlags::ONE_PACKET),
            ("flag-1", _) => Some(ServiceFlags::SCHED1),
            ("flag-2", _) => Some(ServiceFlags::SCHED2),
            ("flag-3", _) => Some(ServiceFlags::SCHED3),
            ("sh-fallback", Some("sh")) => Some(ServiceFlags::SH_FALLBACK),
            ("sh-port", Some("sh")) => Some(ServiceFlags::SH_PORT),
            ("mh-fallback", Some("mh")) => Some(ServiceFlags::MH_FALLBACK),
            ("mh-port", Some("mh")) => Some(ServiceFlags::MH_PORT),
            _ => None,
        };
        match flag {
            Some(b) => flags |= b,
            None => w.push(
                &f.at,
                WarningKind::Corrected,
                &f.value.name,
                match f.value.name.as_str() {
                    "hashed" => "keepalived 2.2 sets no flag for it: ignored".to_owned(),
                    n => format!(
                        "applies only after lvs_sched {} (the scheduler was {}): ignored, as keepalived ignores it",
                        &n[..2],
                        then.unwrap_or("not yet set")
                    ),
                },
            ),
        }
    }
    if flags.contains(ServiceFlags::ONE_PACKET) && has_addresses && protocol != Protocol::Udp {
        w.push(
            at,
            WarningKind::Corrected,
            "ops",
            "one-packet scheduling needs UDP: removed, as keepalived removes it",
        );
        flags.set(ServiceFlags::ONE_PACKET, false);
    }

    // Persistence.
    let mut timeout = vs.persistence_timeout.as_ref().map(|p| p.value);
    let mut netmask = None;
    if let Some(g) = &vs.persistence_granularity {
        netmask = Some(granularity(
            g,
            vs.ip_family
                .as_ref()
                .map(|f| f.value)
                .or(match &vs.id.value {
                    VirtualServerId::Address { address, .. } => Some(AddressFamily::of(address)),
                    _ => None,
                }),
        )?);
        if timeout.is_none() {
            timeout = Some(DEFAULT_PERSISTENCE);
        }
    }
    if timeout.is_none() && shape.addresses.iter().any(|a| a.2 == 0) {
        w.push(
            at,
            WarningKind::Corrected,
            &name,
            format!("port 0 without persistence_timeout: persistent for {DEFAULT_PERSISTENCE} s, as keepalived sets it"),
        );
        timeout = Some(DEFAULT_PERSISTENCE);
    }
    let persistence_engine = match (&vs.persistence_engine, timeout) {
        (Some(pe), Some(_)) => Some(pe.value.clone()),
        (Some(pe), None) => {
            w.push(
                &pe.at,
                WarningKind::Corrected,
                "persistence_engine",
                "the service is not persistent: keepalived sends no engine, so it is dropped",
            );
            None
        }
        _ => None,
    };

    // Destinations for one service key; `entry_port` is the port of the
    // address the service is on (None for fwmark services).
    let dests = |entry_port: Option<u16>, w: &mut Warnings| -> Vec<Destination> {
        let mut out = Vec::new();
        for (rs, m) in &kept {
            let forward = match m {
                Method::Nat => ForwardMethod::Masquerade,
                Method::DirectRoute => ForwardMethod::DirectRoute,
                Method::Tunnel(t) => ForwardMethod::Tunnel(*t),
            };
            let port = match (m, entry_port) {
                (Method::Nat, Some(p)) if rs.port == 0 && !is_group => p,
                (Method::Nat, _) => rs.port,
                (_, None) => {
                    if rs.port != 0 && !is_group {
                        w.push(
                            &rs.at,
                            WarningKind::Corrected,
                            format!("real_server {} {}", rs.address, rs.port),
                            "a fwmark service's non-NAT real server has port 0: cleared, as keepalived clears it",
                        );
                    }
                    0
                }
                (_, Some(p)) => {
                    if rs.port != 0 && rs.port != p {
                        w.push(
                            &rs.at,
                            WarningKind::Corrected,
                            format!("real_server {} {}", rs.address, rs.port),
                            format!("port differs from the virtual server's {p}: {p}, as keepalived resets it"),
                        );
                    }
                    p
                }
            };
            let weight = rs
                .weight
                .as_ref()
                .or(vs.weight.as_ref())
                .map(|w| w.value)
                .unwrap_or(1);
            let d = Destination::new(std::net::SocketAddr::new(rs.address, port))
                .with_forward(forward)
                .with_weight(weight)
                .with_thresholds(
                    rs.upper_threshold.as_ref().map(|t| t.value).unwrap_or(0),
                    rs.lower_threshold.as_ref().map(|t| t.value).unwrap_or(0),
                );
            out.push(d);
        }
        out
    };

    let make = |key: ServiceKey| -> Service {
        let mut svc = Service::new(key, scheduler.clone()).with_flags(flags);
        if let Some(t) = timeout {
            svc.persistence = Some(Persistence {
                timeout: t,
                netmask: netmask.unwrap_or(Netmask::host(key.family())),
            });
            svc.persistence_engine = persistence_engine.clone();
        }
        svc
    };

    let mut out = Vec::new();
    for (first, last, port) in &shape.addresses {
        let ports_warned_once = out.is_empty();
        let mut addr = *first;
        let mut count = 0u32;
        loop {
            count += 1;
            if count > 65536 {
                return Err(ImportError::at(
                    at,
                    ErrorKind::Conflict,
                    format!("{name}: a group range of more than 65536 addresses"),
                ));
            }
            let key = ServiceKey::with_protocol(protocol, std::net::SocketAddr::new(addr, *port));
            let mut scratch = Warnings::default();
            let d = dests(
                Some(*port),
                if ports_warned_once && count == 1 {
                    &mut *w
                } else {
                    &mut scratch
                },
            );
            out.push(ServiceState {
                service: make(key),
                destinations: d,
            });
            if addr == *last {
                break;
            }
            addr = next_addr(addr);
        }
    }
    for (i, (mark, fam)) in shape.fwmarks.iter().enumerate() {
        let key = ServiceKey::Fwmark {
            fwmark: *mark,
            family: fam.unwrap_or(family),
        };
        let mut scratch = Warnings::default();
        let d = dests(
            None,
            if i == 0 && shape.addresses.is_empty() {
                &mut *w
            } else {
                &mut scratch
            },
        );
        out.push(ServiceState {
            service: make(key),
            destinations: d,
        });
    }
    Ok(out)
}

fn next_addr(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => IpAddr::V4(u32::from(v).wrapping_add(1).into()),
        IpAddr::V6(v) => IpAddr::V6(u128::from(v).wrapping_add(1).into()),
    }
}

/// `persistence_granularity`: an IPv4 mask, or an IPv6 prefix length
/// (guessed from a `.` when the family is not yet known, as keepalived does).
fn granularity(g: &Located<String>, family: Option<AddressFamily>) -> Result<Netmask, ImportError> {
    let family = family.unwrap_or(if g.value.contains('.') {
        AddressFamily::Ipv4
    } else {
        AddressFamily::Ipv6
    });
    let bad = || {
        ImportError::at(
            &g.at,
            ErrorKind::Value,
            format!(
                "persistence_granularity: {:?} is not an {} netmask",
                g.value,
                if family == AddressFamily::Ipv4 {
                    "IPv4"
                } else {
                    "IPv6 (a prefix length 1..128)"
                }
            ),
        )
    };
    match family {
        AddressFamily::Ipv4 => g.value.parse().map(Netmask::V4).map_err(|_| bad()),
        AddressFamily::Ipv6 => match g.value.parse::<u8>() {
            Ok(p) if (1..=128).contains(&p) => Ok(Netmask::V6(p)),
            _ => Err(bad()),
        },
    }
}

fn describe(id: &VirtualServerId) -> String {
    match id {
        VirtualServerId::Address { address, port } => format!("virtual_server {address} {port}"),
        VirtualServerId::Fwmark(m) => format!("virtual_server fwmark {m}"),
        VirtualServerId::Group(g) => format!("virtual_server group {g}"),
    }
}

/// Health-checking keys of a virtual server, its real servers and
/// checkers: reported when the health settings are not carried over.
#[cfg(not(feature = "health"))]
fn report_health_keys(vs: &VirtualServer, w: &mut Warnings) {
    fn opt<T>(w: &mut Warnings, key: &str, v: &Option<Located<T>>) {
        if let Some(v) = v {
            w.push(&v.at, WarningKind::NotCarriedOver, key, HEALTH_PENDING);
        }
    }
    fn timing(w: &mut Warnings, t: &Timing) {
        opt(w, "delay_loop", &t.delay_loop);
        opt(w, "connect_timeout", &t.connect_timeout);
        opt(w, "retry", &t.retry);
        opt(w, "delay_before_retry", &t.delay_before_retry);
        opt(w, "warmup", &t.warmup);
    }
    fn checker(w: &mut Warnings, c: &Checker) {
        w.push(
            &c.at,
            WarningKind::NotCarriedOver,
            c.kind.keyword(),
            HEALTH_PENDING,
        );
    }
    opt(w, "quorum", &vs.quorum);
    opt(w, "hysteresis", &vs.hysteresis);
    opt(w, "quorum_up", &vs.quorum_up);
    opt(w, "quorum_down", &vs.quorum_down);
    opt(w, "alpha", &vs.alpha);
    opt(w, "omega", &vs.omega);
    opt(w, "inhibit_on_failure", &vs.inhibit_on_failure);
    opt(w, "ha_suspend", &vs.ha_suspend);
    opt(w, "sorry_server", &vs.sorry_server);
    opt(w, "sorry_server_inhibit", &vs.sorry_server_inhibit);
    opt(w, "sorry_server_lvs_method", &vs.sorry_server_method);
    opt(w, "virtualhost", &vs.virtualhost);
    timing(w, &vs.timing);
    for rs in &vs.real_servers {
        opt(w, "inhibit_on_failure", &rs.inhibit_on_failure);
        opt(w, "alpha", &rs.alpha);
        opt(w, "notify_up", &rs.notify_up);
        opt(w, "notify_down", &rs.notify_down);
        opt(w, "virtualhost", &rs.virtualhost);
        timing(w, &rs.timing);
        for c in &rs.checkers {
            checker(w, c);
        }
    }
}
