//! The human listing, laid out as `ipvsadm -Ln` lays it out.

use std::fmt::Write;
use std::net::SocketAddr;

use ipvs::state::State;
use ipvs::{AddressFamily, Info, Service, ServiceFlags, ServiceKey};

/// The whole listing: header, then each service and its destinations.
pub fn listing(info: &Info, state: &State) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "IP Virtual Server version {} (size={})",
        info.version, info.connection_table_size
    );
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for s in &state.services {
        let _ = writeln!(out, "{}", service_line(&s.service));
        for d in &s.destinations {
            let c = d.connections.unwrap_or_default();
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                SocketAddr::new(d.address, d.port).to_string(),
                d.forward.to_string(),
                d.weight,
                c.active,
                c.inactive
            );
        }
    }
    out
}

fn service_line(s: &Service) -> String {
    let mut line = match s.key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => format!("{protocol}  {}", SocketAddr::new(address, port)),
        ServiceKey::Fwmark { fwmark, family } => match family {
            AddressFamily::Ipv6 => format!("FWM  {fwmark} IPv6"),
            _ => format!("FWM  {fwmark}"),
        },
    };
    let _ = write!(line, " {}", s.scheduler);
    if let Some(p) = &s.persistence {
        let _ = write!(line, " persistent {}", p.timeout);
        if p.netmask != ipvs::Netmask::host(s.key.family()) {
            let _ = write!(line, " mask {}", p.netmask);
        }
    }
    if let Some(pe) = &s.persistence_engine {
        let _ = write!(line, " pe {pe}");
    }
    if s.flags.contains(ServiceFlags::ONE_PACKET) {
        line.push_str(" ops");
    }
    let names: [&str; 3] = match s.scheduler.name() {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    let set: Vec<&str> = [
        ServiceFlags::SCHED1,
        ServiceFlags::SCHED2,
        ServiceFlags::SCHED3,
    ]
    .iter()
    .zip(names)
    .filter(|(f, _)| s.flags.contains(**f))
    .map(|(_, n)| n)
    .collect();
    if !set.is_empty() {
        let _ = write!(line, " {}", set.join(","));
    }
    line
}
