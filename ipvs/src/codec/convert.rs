//! Between the model and attribute lists, both ways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use super::attr::{DaemonAttr, DestAttr, FlagsMask, ServiceAttr, StatsAttr, StatsNest};
use crate::model::{
    AddressFamily, Connections, DaemonState, Destination, ForwardMethod, Netmask, Persistence,
    Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon, Tunnel,
};

/// An address as the kernel's 16-byte `union nf_inet_addr`.
pub fn addr_bytes(addr: &IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// A 16-byte kernel address read in `family`.
pub fn addr_from_bytes(family: AddressFamily, b: &[u8; 16]) -> IpAddr {
    match family {
        AddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        AddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from(*b)),
    }
}

fn family_of(raw: u16) -> Result<AddressFamily, DecodeError> {
    AddressFamily::from_raw(raw)
        .ok_or_else(|| DecodeError::from(format!("address family {raw} is not IPv4 or IPv6")))
}

/// The attributes that identify a service.
pub fn service_key_attrs(key: &ServiceKey) -> Vec<ServiceAttr> {
    match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => vec![
            ServiceAttr::Af(AddressFamily::of(address).to_raw()),
            ServiceAttr::Protocol(protocol.to_raw()),
            ServiceAttr::Addr(addr_bytes(address)),
            ServiceAttr::Port(*port),
        ],
        ServiceKey::Fwmark { fwmark, family } => vec![
            ServiceAttr::Af(family.to_raw()),
            ServiceAttr::Fwmark(*fwmark),
        ],
    }
}

/// Every attribute `NEW_SERVICE` and `SET_SERVICE` need, as ipvsadm sends them
/// (same attributes, same order).
pub fn service_attrs(svc: &Service) -> Vec<ServiceAttr> {
    let mut attrs = service_key_attrs(&svc.key);
    attrs.push(ServiceAttr::SchedName(svc.scheduler.name().to_owned()));
    if let Some(pe) = &svc.persistence_engine {
        attrs.push(ServiceAttr::PeName(pe.clone()));
    }
    let family = svc.key.family();
    let (timeout, netmask) = match &svc.persistence {
        Some(p) => (p.timeout, p.netmask),
        None => (0, Netmask::host(family)),
    };
    attrs.push(ServiceAttr::Flags(FlagsMask {
        flags: svc.kernel_flags().bits(),
        mask: !0,
    }));
    attrs.push(ServiceAttr::Timeout(timeout));
    attrs.push(ServiceAttr::Netmask(netmask.to_raw()));
    attrs
}

/// The service described by a `SERVICE` nest.
pub fn service_from_attrs(attrs: &[ServiceAttr]) -> Result<Service, DecodeError> {
    let (mut af, mut protocol, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, None, 0, None, None);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            ServiceAttr::Af(v) => af = Some(*v),
            ServiceAttr::Protocol(v) => protocol = Some(*v),
            ServiceAttr::Addr(v) => addr = Some(v),
            ServiceAttr::Port(v) => port = Some(*v),
            ServiceAttr::Fwmark(v) => fwmark = Some(*v),
            ServiceAttr::SchedName(v) => sched = Some(v.as_str()),
            ServiceAttr::Flags(v) => flags = Some(v.flags),
            ServiceAttr::Timeout(v) => timeout = *v,
            ServiceAttr::Netmask(v) => netmask = Some(*v),
            ServiceAttr::PeName(v) => pe = Some(v.clone()),
            ServiceAttr::Stats(s) => stats = Some(stats_from(s)),
            ServiceAttr::Stats64(s) => stats64 = Some(stats_from(s)),
            ServiceAttr::Other(_) => {}
        }
    }
    let family = family_of(af.ok_or("SERVICE without AF")?)?;
    let key = match (fwmark, protocol, addr, port) {
        (Some(mark), _, _, _) if mark != 0 => ServiceKey::Fwmark {
            fwmark: mark,
            family,
        },
        (_, Some(protocol), Some(addr), Some(port)) => ServiceKey::Address {
            protocol: Protocol::from_raw(protocol),
            address: addr_from_bytes(family, addr),
            port,
        },
        _ => return Err("SERVICE without FWMARK nor PROTOCOL, ADDR and PORT".into()),
    };
    let flags = ServiceFlags::from_bits_retain(flags.unwrap_or(0));
    let persistence = flags
        .contains(ServiceFlags::PERSISTENT)
        .then(|| Persistence {
            timeout,
            netmask: netmask.map_or(Netmask::host(family), |m| Netmask::from_raw(family, m)),
        });
    Ok(Service {
        key,
        scheduler: Scheduler::from_name(sched.unwrap_or("")),
        persistence,
        flags: flags.difference(ServiceFlags::PERSISTENT | ServiceFlags::HASHED),
        persistence_engine: pe.filter(|p| !p.is_empty()),
        stats: stats64.or(stats),
    })
}

/// Every attribute `NEW_DEST` and `SET_DEST` need: ipvsadm's, but `ADDR_FAMILY`
/// last rather than first and the `TUN_*` ones only for tunnels (absent is 0
/// to the kernel).
pub fn dest_attrs(d: &Destination) -> Vec<DestAttr> {
    let mut attrs = vec![
        DestAttr::Addr(addr_bytes(&d.address)),
        DestAttr::Port(d.port),
        DestAttr::FwdMethod(d.forward.to_raw()),
        DestAttr::Weight(d.weight),
    ];
    if let ForwardMethod::Tunnel(t) = &d.forward {
        attrs.push(DestAttr::TunType(t.type_raw()));
        attrs.push(DestAttr::TunPort(t.port()));
        attrs.push(DestAttr::TunFlags(t.checksum().to_raw()));
    }
    attrs.push(DestAttr::UThresh(d.upper_threshold));
    attrs.push(DestAttr::LThresh(d.lower_threshold));
    attrs.push(DestAttr::AddrFamily(AddressFamily::of(&d.address).to_raw()));
    attrs
}

/// The destination described by a `DEST` nest; `service_family` stands in
/// for kernels that do not report the destination's own family.
pub fn dest_from_attrs(
    attrs: &[DestAttr],
    service_family: AddressFamily,
) -> Result<Destination, DecodeError> {
    let (mut addr, mut port, mut fwd, mut weight, mut af) = (None, None, None, 0, None);
    let (mut upper, mut lower, mut conns, mut has_conns) = (0, 0, Connections::default(), false);
    let (mut tun_type, mut tun_port, mut tun_flags) = (0, 0, 0);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Addr(v) => addr = Some(v),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => fwd = Some(*v),
            DestAttr::Weight(v) => weight = *v,
            DestAttr::UThresh(v) => upper = *v,
            DestAttr::LThresh(v) => lower = *v,
            DestAttr::ActiveConns(v) => (conns.active, has_conns) = (*v, true),
            DestAttr::InactConns(v) => (conns.inactive, has_conns) = (*v, true),
            DestAttr::PersistConns(v) => (conns.persistent, has_conns) = (*v, true),
            DestAttr::Stats(s) => stats = Some(stats_from(s)),
            DestAttr::Stats64(s) => stats64 = Some(stats_from(s)),
            DestAttr::AddrFamily(v) => af = Some(*v),
            DestAttr::TunType(v) => tun_type = *v,
            DestAttr::TunPort(v) => tun_port = *v,
            DestAttr::TunFlags(v) => tun_flags = *v,
            DestAttr::Other(_) => {}
        }
    }
    let family = match af {
        Some(raw) => family_of(raw)?,
        None => service_family,
    };
    let forward = ForwardMethod::from_raw(
        fwd.ok_or("DEST without FWD_METHOD")?,
        Tunnel::from_raw(tun_type, tun_port, tun_flags),
    );
    Ok(Destination {
        address: addr_from_bytes(family, addr.ok_or("DEST without ADDR")?),
        port: port.ok_or("DEST without PORT")?,
        forward,
        weight,
        upper_threshold: upper,
        lower_threshold: lower,
        connections: has_conns.then_some(conns),
        stats: stats64.or(stats),
    })
}

/// The counters of a `STATS` or `STATS64` nest.
pub fn stats_from(nest: &StatsNest) -> Stats {
    let mut s = Stats::default();
    for a in &nest.attrs {
        match *a {
            StatsAttr::Conns(v) => s.connections = v,
            StatsAttr::InPkts(v) => s.packets_in = v,
            StatsAttr::OutPkts(v) => s.packets_out = v,
            StatsAttr::InBytes(v) => s.bytes_in = v,
            StatsAttr::OutBytes(v) => s.bytes_out = v,
            StatsAttr::Cps(v) => s.cps = v,
            StatsAttr::InPps(v) => s.pps_in = v,
            StatsAttr::OutPps(v) => s.pps_out = v,
            StatsAttr::InBps(v) => s.bps_in = v,
            StatsAttr::OutBps(v) => s.bps_out = v,
            StatsAttr::Other(_) => {}
        }
    }
    s
}

/// A stats nest holding `s`, 64-bit wide or legacy.
pub fn stats_nest(s: &Stats, wide: bool) -> StatsNest {
    StatsNest {
        wide,
        attrs: vec![
            StatsAttr::Conns(s.connections),
            StatsAttr::InPkts(s.packets_in),
            StatsAttr::OutPkts(s.packets_out),
            StatsAttr::InBytes(s.bytes_in),
            StatsAttr::OutBytes(s.bytes_out),
            StatsAttr::Cps(s.cps),
            StatsAttr::InPps(s.pps_in),
            StatsAttr::OutPps(s.pps_out),
            StatsAttr::InBps(s.bps_in),
            StatsAttr::OutBps(s.bps_out),
        ],
    }
}

/// The attributes `NEW_DAEMON` needs, as ipvsadm sends them (but
/// `MCAST_GROUP` before `MCAST_PORT` and `MCAST_TTL`, not after).
pub fn daemon_attrs(d: &SyncDaemon) -> Vec<DaemonAttr> {
    let mut attrs = vec![
        DaemonAttr::State(d.state.to_raw()),
        DaemonAttr::McastIfn(d.interface.clone()),
        DaemonAttr::SyncId(d.sync_id),
    ];
    if let Some(v) = d.max_len {
        attrs.push(DaemonAttr::SyncMaxLen(v));
    }
    match d.group {
        Some(IpAddr::V4(g)) => attrs.push(DaemonAttr::McastGroup(g.octets())),
        Some(IpAddr::V6(g)) => attrs.push(DaemonAttr::McastGroup6(g.octets())),
        None => {}
    }
    if let Some(v) = d.port {
        attrs.push(DaemonAttr::McastPort(v));
    }
    if let Some(v) = d.ttl {
        attrs.push(DaemonAttr::McastTtl(v));
    }
    attrs
}

/// The daemon described by a `DAEMON` nest.
pub fn daemon_from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, DecodeError> {
    let mut d = SyncDaemon::new(DaemonState::Other(0), String::new(), 0);
    let (mut state, mut ifn) = (None, None);
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(v) => ifn = Some(v.clone()),
            DaemonAttr::SyncId(v) => d.sync_id = *v,
            DaemonAttr::SyncMaxLen(v) => d.max_len = Some(*v),
            DaemonAttr::McastGroup(v) => d.group = d.group.or(Some(IpAddr::V4(Ipv4Addr::from(*v)))),
            DaemonAttr::McastGroup6(v) => d.group = Some(IpAddr::V6(Ipv6Addr::from(*v))),
            DaemonAttr::McastPort(v) => d.port = Some(*v),
            DaemonAttr::McastTtl(v) => d.ttl = Some(*v),
            DaemonAttr::Other(_) => {}
        }
    }
    d.state = DaemonState::from_raw(state.ok_or("DAEMON without STATE")?);
    d.interface = ifn.ok_or("DAEMON without MCAST_IFN")?;
    Ok(d)
}
