//! lvs.cf's document to the IPVS table, as Piranha's lvsd builds it with
//! ipvsadm: one service per active virtual (virtuals sharing a firewall
//! mark are one service), one destination per active server, every
//! destination forwarded as `network` says; a direct-routed or tunnelled
//! server's port is the service's, as ipvsadm makes it.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::{LvsCf, Network, Virtual};
use crate::import::{ErrorKind, Import, ImportError, Located, Location, WarningKind, Warnings};
use crate::model::{
    AddressFamily, Destination, ForwardMethod, Netmask, Persistence, Protocol, Scheduler, Service,
    ServiceKey, Timeouts, Tunnel,
};
use crate::state::{ServiceState, State};

#[cfg(not(feature = "health"))]
const HEALTH_PENDING: &str =
    "a health-checking (nanny) setting: not carried over (feature health is off)";
const FAILOVER_PENDING: &str = "a failover (pulse) setting: not carried over (feature failover \
     off, or no failover settings: no primary and backup, or no VIP with an interface)";
const PULSE_ONLY: &str = "a pulse setting the failover settings do not hold: not carried over";

/// The table Piranha makes from `doc`, and what did not carry over.
pub fn to_import(doc: &LvsCf) -> Result<Import, ImportError> {
    let mut w = Warnings(doc.warnings.clone());
    let g = &doc.global;
    let mut state = State::new();

    // Global keys that are not the table's.
    fn note<T>(w: &mut Warnings, key: &str, v: &Option<Located<T>>, why: &str) {
        if let Some(v) = v {
            w.push(&v.at, WarningKind::NotCarriedOver, key, why);
        }
    }
    const BOOKKEEPING: &str = "Piranha's own bookkeeping: no counterpart";
    note(&mut w, "serial_no", &g.serial_no, BOOKKEEPING);
    note(&mut w, "debug_level", &g.debug_level, BOOKKEEPING);
    note(&mut w, "rsh_command", &g.rsh_command, BOOKKEEPING);
    note(
        &mut w,
        "reservation_conflict_action",
        &g.reservation_conflict_action,
        BOOKKEEPING,
    );
    // pulse keys the failover settings never hold.
    note(&mut w, "primary_private", &g.primary_private, PULSE_ONLY);
    note(&mut w, "primary_shared", &g.primary_shared, PULSE_ONLY);
    note(&mut w, "backup_private", &g.backup_private, PULSE_ONLY);
    note(&mut w, "backup_shared", &g.backup_shared, PULSE_ONLY);
    note(&mut w, "heartbeat", &g.heartbeat, PULSE_ONLY);
    note(&mut w, "nat_router", &g.nat_router, PULSE_ONLY);
    note(&mut w, "nat_nmask", &g.nat_nmask, PULSE_ONLY);
    note(&mut w, "monitor_links", &g.monitor_links, PULSE_ONLY);
    note(&mut w, "hard_shutdown", &g.hard_shutdown, PULSE_ONLY);
    for f in &doc.failovers {
        w.push(
            &f.name.at,
            WarningKind::NotCarriedOver,
            format!("failover {}", f.name.value),
            "a Piranha failover service (fos): not an IPVS service, not carried over",
        );
    }
    if let Some(s) = &g.service {
        if s.value == "fos" {
            w.push(
                &s.at,
                WarningKind::NotCarriedOver,
                "service",
                "fos: Piranha runs failover services, not LVS; the virtual servers are still read",
            );
        }
    }

    // Timeouts.
    let t = Timeouts {
        tcp: g.tcp_timeout.as_ref().map(|t| t.value).unwrap_or(0),
        tcp_fin: g.tcpfin_timeout.as_ref().map(|t| t.value).unwrap_or(0),
        udp: g.udp_timeout.as_ref().map(|t| t.value).unwrap_or(0),
    };
    if t != Timeouts::UNCHANGED {
        state.timeouts = Some(t);
    }

    let active: Vec<&Virtual> = doc
        .virtuals
        .iter()
        .filter(|v| is_active(&v.active, &v.name, "virtual", &mut w))
        .collect();
    #[cfg(feature = "failover")]
    let failover = super::failover::to_settings(doc, &active, &mut w)?;
    #[cfg(feature = "failover")]
    let carried = failover.is_some();
    #[cfg(not(feature = "failover"))]
    let carried = false;
    if !carried {
        // The keys the failover settings would hold.
        note(&mut w, "primary", &g.primary, FAILOVER_PENDING);
        note(&mut w, "backup", &g.backup, FAILOVER_PENDING);
        note(&mut w, "backup_active", &g.backup_active, FAILOVER_PENDING);
        note(
            &mut w,
            "heartbeat_port",
            &g.heartbeat_port,
            FAILOVER_PENDING,
        );
        note(&mut w, "keepalive", &g.keepalive, FAILOVER_PENDING);
        note(&mut w, "deadtime", &g.deadtime, FAILOVER_PENDING);
        note(&mut w, "syncdaemon", &g.syncdaemon, FAILOVER_PENDING);
        note(&mut w, "syncd_iface", &g.syncd_iface, FAILOVER_PENDING);
        note(&mut w, "syncd_id", &g.syncd_id, FAILOVER_PENDING);
    }
    let forward = match &g.network {
        Some(n) => match n.value {
            Network::Nat => ForwardMethod::Masquerade,
            Network::Direct => ForwardMethod::DirectRoute,
            Network::Tunnel => ForwardMethod::Tunnel(Tunnel::Ipip),
        },
        None => {
            if let Some(v) = active.first() {
                return Err(ImportError::at(
                    &v.name.at,
                    ErrorKind::Value,
                    "network: missing (nat, direct or tunnel): the forwarding method is unknown",
                ));
            }
            ForwardMethod::Masquerade
        }
    };

    let mut defined_at: HashMap<ServiceKey, (Location, usize)> = HashMap::new();
    #[cfg(feature = "health")]
    let mut health = HashMap::new();
    #[cfg(feature = "health")]
    let mut checks = HashMap::new();
    for v in active {
        let svc = virtual_service(v, forward, carried, &mut w)?;
        let key = svc.service.key;
        #[cfg(feature = "health")]
        {
            let (h, check) = super::nanny::map(v, &svc, &mut w);
            if defined_at.contains_key(&key) {
                // A second virtual of one fwmark service: its servers
                // already have the first virtual's check.
                if h.is_some() || check.is_some() {
                    w.push(
                        &v.name.at,
                        WarningKind::NotCarriedOver,
                        format!("virtual {}", v.name.value),
                        "nanny's settings of a second virtual of one fwmark service: one check per destination here (the first virtual's are used)",
                    );
                }
            } else {
                if let Some(h) = h {
                    health.insert(key, h);
                }
                if let Some(c) = check {
                    for d in &svc.destinations {
                        checks.insert((key, d.socket_addr()), Some(c.clone()));
                    }
                }
            }
        }
        match defined_at.get(&key) {
            None => {
                defined_at.insert(key, (v.name.at.clone(), state.services.len()));
                state.services.push(svc);
            }
            Some((first_at, i)) => {
                // Virtuals sharing a firewall mark: one service.
                let existing = &mut state.services[*i];
                if !matches!(key, ServiceKey::Fwmark { .. }) {
                    return Err(ImportError::at(
                        &v.name.at,
                        ErrorKind::Conflict,
                        format!(
                            "virtual {}: service {key} is already defined at {first_at}",
                            v.name.value
                        ),
                    ));
                }
                if existing.service != svc.service {
                    return Err(ImportError::at(
                        &v.name.at,
                        ErrorKind::Conflict,
                        format!(
                            "virtual {}: fwmark service {key} has other settings (scheduler, persistence) in the virtual at {first_at}",
                            v.name.value
                        ),
                    ));
                }
                for d in svc.destinations {
                    match existing.dest(d.socket_addr()) {
                        None => {
                            #[cfg(feature = "health")]
                            if let Some(c) = existing
                                .destinations
                                .first()
                                .and_then(|f| checks.get(&(key, f.socket_addr())))
                                .cloned()
                            {
                                checks.insert((key, d.socket_addr()), c);
                            }
                            existing.destinations.push(d)
                        }
                        Some(e) if *e == d => {}
                        Some(_) => {
                            return Err(ImportError::at(
                                &v.name.at,
                                ErrorKind::Conflict,
                                format!(
                                    "virtual {}: server {} of fwmark service {key} has another weight in the virtual at {first_at}",
                                    v.name.value,
                                    d.socket_addr()
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    state.validate().map_err(|e| {
        let at = doc
            .virtuals
            .first()
            .map(|v| v.name.at.clone())
            .expect("a state with an error has a virtual");
        ImportError::at(&at, ErrorKind::Conflict, e.to_string())
    })?;
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

fn is_active(
    active: &Option<Located<bool>>,
    name: &Located<String>,
    what: &str,
    w: &mut Warnings,
) -> bool {
    match active {
        Some(a) if !a.value => {
            w.push(
                &a.at,
                WarningKind::Inactive,
                format!("{what} {}", name.value),
                "active = 0: not loaded",
            );
            false
        }
        Some(_) => true,
        None => {
            w.push(
                &name.at,
                WarningKind::Corrected,
                format!("{what} {}", name.value),
                "no active key: loaded as if active = 1",
            );
            true
        }
    }
}

fn virtual_service(
    v: &Virtual,
    forward: ForwardMethod,
    failover_carried: bool,
    w: &mut Warnings,
) -> Result<ServiceState, ImportError> {
    let name = format!("virtual {}", v.name.value);
    let err = |at: &Location, msg: String| {
        ImportError::at(at, ErrorKind::Value, format!("{name}: {msg}"))
    };
    let address = v
        .address
        .as_ref()
        .ok_or_else(|| err(&v.name.at, "no address".into()))?;
    if address.value.interface.is_some() && !failover_carried {
        w.push(
            &address.at,
            WarningKind::NotCarriedOver,
            "address",
            format!(
                "the VIP's interface {}: {FAILOVER_PENDING}",
                address.value.interface.as_deref().unwrap_or_default()
            ),
        );
    }
    if let (Some(m), false) = (&v.vip_nmask, failover_carried) {
        w.push(
            &m.at,
            WarningKind::NotCarriedOver,
            "vip_nmask",
            FAILOVER_PENDING,
        );
    }
    let family = AddressFamily::of(&address.value.address);
    let protocol = match &v.protocol {
        Some(p) => p.value,
        None => {
            w.push(
                &v.name.at,
                WarningKind::Corrected,
                &name,
                "no protocol: tcp, as Piranha defaults",
            );
            Protocol::Tcp
        }
    };
    let key = match &v.fwmark {
        Some(m) if m.value != 0 => {
            if let Some(p) = &v.protocol {
                w.push(
                    &p.at,
                    WarningKind::Corrected,
                    "protocol",
                    "a fwmark service has no protocol: not part of the service (the port is still the servers' default)",
                );
            }
            ServiceKey::Fwmark {
                fwmark: m.value,
                family,
            }
        }
        _ => {
            let port = v
                .port
                .as_ref()
                .ok_or_else(|| err(&v.name.at, "no port (and no fwmark)".into()))?;
            ServiceKey::with_protocol(protocol, SocketAddr::new(address.value.address, port.value))
        }
    };
    let scheduler = match &v.scheduler {
        Some(s) => crate::model::Scheduler::from_name(&s.value),
        None => {
            w.push(
                &v.name.at,
                WarningKind::Corrected,
                &name,
                "no scheduler: wlc, as Piranha defaults",
            );
            Scheduler::WeightedLeastConnection
        }
    };
    let mut service = Service::new(key, scheduler);
    match (&v.persistent, &v.pmask) {
        (Some(p), pmask) if p.value > 0 => {
            service.persistence = Some(Persistence {
                timeout: p.value,
                netmask: match (pmask, family) {
                    (Some(m), AddressFamily::Ipv4) => Netmask::V4(m.value),
                    (Some(m), AddressFamily::Ipv6) => {
                        return Err(err(
                            &m.at,
                            "pmask is an IPv4 mask; the service is IPv6".into(),
                        ));
                    }
                    (None, f) => Netmask::host(f),
                },
            });
        }
        (_, Some(m)) => w.push(
            &m.at,
            WarningKind::Corrected,
            "pmask",
            "the virtual is not persistent: the mask is dropped, as ipvsadm drops it",
        ),
        _ => {}
    }

    // nanny's keys, when the health settings do not carry them.
    #[cfg(not(feature = "health"))]
    let health: [(&str, Option<&Location>); 9] = [
        ("send", v.send.as_ref().map(|x| &x.at)),
        ("expect", v.expect.as_ref().map(|x| &x.at)),
        ("use_regex", v.use_regex.as_ref().map(|x| &x.at)),
        ("send_program", v.send_program.as_ref().map(|x| &x.at)),
        ("timeout", v.timeout.as_ref().map(|x| &x.at)),
        ("reentry", v.reentry.as_ref().map(|x| &x.at)),
        ("quiesce_server", v.quiesce_server.as_ref().map(|x| &x.at)),
        ("sorry_server", v.sorry_server.as_ref().map(|x| &x.at)),
        ("client_monitor", v.client_monitor.as_ref().map(|x| &x.at)),
    ];
    #[cfg(not(feature = "health"))]
    for (key, at) in health {
        if let Some(at) = at {
            w.push(at, WarningKind::NotCarriedOver, key, HEALTH_PENDING);
        }
    }
    if let Some(lm) = &v.load_monitor {
        if lm.value != "none" {
            w.push(
                &lm.at,
                WarningKind::NotCarriedOver,
                "load_monitor",
                format!(
                    "{}: Piranha's load monitor (weights from rup/ruptime load) has no counterpart",
                    lm.value
                ),
            );
        }
    }

    let mut svc = ServiceState::new(service);
    let service_port = key.port();
    for s in &v.servers {
        if !is_active(&s.active, &s.name, "server", w) {
            continue;
        }
        let address = s
            .address
            .as_ref()
            .ok_or_else(|| err(&s.name.at, format!("server {}: no address", s.name.value)))?;
        let written = s
            .port
            .as_ref()
            .map(|p| p.value)
            .or(v.port.as_ref().map(|p| p.value));
        let port = match forward {
            ForwardMethod::Masquerade => written.unwrap_or(0),
            _ => {
                // ipvsadm: for -g and -i the destination's port is the service's.
                let p = service_port.unwrap_or(0);
                if let (Some(sp), Some(at)) = (s.port.as_ref(), s.port.as_ref().map(|x| &x.at)) {
                    if sp.value != p {
                        w.push(
                            at,
                            WarningKind::Corrected,
                            "port",
                            format!(
                                "server {}: a direct-routed or tunnelled server gets the service's port {p}, as ipvsadm gives it",
                                s.name.value
                            ),
                        );
                    }
                }
                p
            }
        };
        let d = Destination::new(SocketAddr::new(address.value, port))
            .with_forward(forward)
            .with_weight(s.weight.as_ref().map(|x| x.value).unwrap_or(1));
        if svc.dest(d.socket_addr()).is_some() {
            return Err(ImportError::at(
                &s.name.at,
                ErrorKind::Conflict,
                format!(
                    "{name}: server {} is {} again",
                    s.name.value,
                    d.socket_addr()
                ),
            ));
        }
        svc.destinations.push(d);
    }
    svc.service
        .validate()
        .map_err(|e| ImportError::at(&v.name.at, ErrorKind::Conflict, format!("{name}: {e}")))?;
    Ok(svc)
}
