//! Between the model and attribute lists, both ways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use netlink_packet_core::Nla;

use super::constants::*;
use super::nla::{attrs, be16_of, exact, str_of, u8_of, u16_of, u32_of, walk};

use super::attr::{DaemonAttr, DestAttr, FlagsMask, ServiceAttr, StatsAttr, StatsNest};
use crate::model::{
    AddressFamily, Connections, DaemonState, Destination, ForwardMethod, Netmask, Persistence,
    Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon, Tunnel,
};

/// Hand each attribute of a payload laid out as `$layout` ([`laid_out`])
/// to `$reader.read`, from its place (`$offsets`): no header is read, and
/// as each kind is a constant here, each `read` inlines to a store into
/// one field.
macro_rules! read_at_places {
    ($reader:expr, $payload:expr, $stats:expr, $layout:ident, $offsets:ident; $($i:literal)*) => {$(
        let (kind, len) = $layout[$i];
        let at = $offsets[$i] + 4;
        $reader.read(kind, &$payload[at..at + (len as usize - 4)], $stats)?;
    )*};
}

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
    let mut r = ServiceReader::default();
    let mut value = Vec::new();
    for a in attrs {
        r.read(a.kind(), emitted(a, &mut value), true)?;
    }
    r.finish()
}

/// The value bytes of `a`, written into `buf`: the typed attributes are
/// read by the same in-place readers as the kernel's bytes.
fn emitted<'b>(a: &impl Nla, buf: &'b mut Vec<u8>) -> &'b [u8] {
    buf.clear();
    buf.resize(a.value_len(), 0);
    a.emit_value(buf);
    buf
}

/// The service described by a `SERVICE` nest's payload, read in place:
/// the same reading as [`service_from_attrs`], without building the
/// attributes first; without `stats`, the counters are not read (`None`).
pub fn service_from_nest(payload: &[u8], stats: bool) -> Result<Service, DecodeError> {
    let mut r = ServiceReader::default();
    if !r.read_kernel_layout(payload, stats)? {
        walk(payload, |kind, value| r.read(kind, value, stats))?;
    }
    r.finish()
}

/// The start of a `SERVICE` nest as Linux writes it
/// (`ip_vs_genl_fill_service`) for a service with an address...
const KERNEL_SERVICE_ADDRESS: [(u16, u16); 4] = [
    (IPVS_SVC_ATTR_AF, 6),
    (IPVS_SVC_ATTR_PROTOCOL, 6),
    (IPVS_SVC_ATTR_ADDR, 20),
    (IPVS_SVC_ATTR_PORT, 6),
];
const KERNEL_SERVICE_ADDRESS_OFFSETS: [usize; 4] = offsets(&KERNEL_SERVICE_ADDRESS);
/// ... or with a firewall mark; then the names (scheduler, persistence
/// engine: of any length), then ...
const KERNEL_SERVICE_FWMARK: [(u16, u16); 2] = [(IPVS_SVC_ATTR_AF, 6), (IPVS_SVC_ATTR_FWMARK, 8)];
const KERNEL_SERVICE_FWMARK_OFFSETS: [usize; 2] = offsets(&KERNEL_SERVICE_FWMARK);
/// ... its end (5.3 and later, where 64-bit counters need no padding).
const KERNEL_SERVICE_END: [(u16, u16); 5] = [
    (IPVS_SVC_ATTR_FLAGS, 12),
    (IPVS_SVC_ATTR_TIMEOUT, 8),
    (IPVS_SVC_ATTR_NETMASK, 8),
    (IPVS_SVC_ATTR_STATS, 92),
    (IPVS_SVC_ATTR_STATS64, 124),
];
const KERNEL_SERVICE_END_OFFSETS: [usize; 5] = offsets(&KERNEL_SERVICE_END);

/// What a `SERVICE` nest said, attribute by attribute.
#[derive(Default)]
struct ServiceReader {
    af: Option<u16>,
    protocol: Option<u16>,
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    fwmark: Option<u32>,
    scheduler: Option<Scheduler>,
    flags: Option<u32>,
    timeout: u32,
    netmask: Option<u32>,
    pe: Option<String>,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl ServiceReader {
    /// Take every attribute of a `payload` laid out as the kernel writes
    /// it (`KERNEL_SERVICE_*`): the fixed start and end at their places, the
    /// names between walked. `false`, nothing taken, for any other layout.
    fn read_kernel_layout(&mut self, payload: &[u8], stats: bool) -> Result<bool, DecodeError> {
        const END: usize = layout_len(&KERNEL_SERVICE_END);
        let Some(names_end) = payload.len().checked_sub(END) else {
            return Ok(false);
        };
        let end = &payload[names_end..];
        let address = laid_out_prefix(payload, &KERNEL_SERVICE_ADDRESS);
        let fwmark = !address && laid_out_prefix(payload, &KERNEL_SERVICE_FWMARK);
        let start = if address {
            layout_len(&KERNEL_SERVICE_ADDRESS)
        } else {
            layout_len(&KERNEL_SERVICE_FWMARK)
        };
        let laid_out = (address || fwmark)
            && start <= names_end
            && laid_out(end, &KERNEL_SERVICE_END)
            && walks_to_its_end(&payload[start..names_end]);
        if !laid_out {
            return Ok(false);
        }
        if address {
            read_at_places!(self, payload, stats, KERNEL_SERVICE_ADDRESS, KERNEL_SERVICE_ADDRESS_OFFSETS; 0 1 2 3);
        } else {
            read_at_places!(self, payload, stats, KERNEL_SERVICE_FWMARK, KERNEL_SERVICE_FWMARK_OFFSETS; 0 1);
        }
        walk(&payload[start..names_end], |kind, value| {
            self.read(kind, value, stats)
        })?;
        read_at_places!(self, end, stats, KERNEL_SERVICE_END, KERNEL_SERVICE_END_OFFSETS; 0 1 2 3 4);
        Ok(true)
    }

    /// Take one attribute; the counters only with `stats`. Unknown kinds
    /// are passed over. Inlined, as [`DestReader::read`].
    #[inline(always)]
    fn read(&mut self, kind: u16, v: &[u8], stats: bool) -> Result<(), DecodeError> {
        match kind {
            IPVS_SVC_ATTR_AF => self.af = Some(u16_of("SVC.AF", v)?),
            IPVS_SVC_ATTR_PROTOCOL => self.protocol = Some(u16_of("SVC.PROTOCOL", v)?),
            IPVS_SVC_ATTR_ADDR => self.addr = Some(exact("SVC.ADDR", v)?),
            IPVS_SVC_ATTR_PORT => self.port = Some(be16_of("SVC.PORT", v)?),
            IPVS_SVC_ATTR_FWMARK => self.fwmark = Some(u32_of("SVC.FWMARK", v)?),
            IPVS_SVC_ATTR_SCHED_NAME => {
                self.scheduler = Some(Scheduler::from_name(str_of("SVC.SCHED_NAME", v)?))
            }
            IPVS_SVC_ATTR_FLAGS => {
                let raw: [u8; 8] = exact("SVC.FLAGS", v)?;
                self.flags = Some(u32_of("SVC.FLAGS", &raw[..4])?);
            }
            IPVS_SVC_ATTR_TIMEOUT => self.timeout = u32_of("SVC.TIMEOUT", v)?,
            IPVS_SVC_ATTR_NETMASK => self.netmask = Some(u32_of("SVC.NETMASK", v)?),
            IPVS_SVC_ATTR_PE_NAME => self.pe = Some(str_of("SVC.PE_NAME", v)?.to_owned()),
            IPVS_SVC_ATTR_STATS if stats => self.stats = Some(stats_in_place(false, v)?),
            IPVS_SVC_ATTR_STATS64 if stats => self.stats64 = Some(stats_in_place(true, v)?),
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Service, DecodeError> {
        let family = family_of(self.af.ok_or("SERVICE without AF")?)?;
        let key = match (self.fwmark, self.protocol, self.addr, self.port) {
            (Some(mark), _, _, _) if mark != 0 => ServiceKey::Fwmark {
                fwmark: mark,
                family,
            },
            (_, Some(protocol), Some(addr), Some(port)) => ServiceKey::Address {
                protocol: Protocol::from_raw(protocol),
                address: addr_from_bytes(family, &addr),
                port,
            },
            _ => return Err("SERVICE without FWMARK nor PROTOCOL, ADDR and PORT".into()),
        };
        let flags = ServiceFlags::from_bits_retain(self.flags.unwrap_or(0));
        let (timeout, netmask) = (self.timeout, self.netmask);
        let persistence = flags
            .contains(ServiceFlags::PERSISTENT)
            .then(|| Persistence {
                timeout,
                netmask: netmask.map_or(Netmask::host(family), |m| Netmask::from_raw(family, m)),
            });
        Ok(Service {
            key,
            scheduler: self.scheduler.unwrap_or_else(|| Scheduler::from_name("")),
            persistence,
            flags: flags.difference(ServiceFlags::PERSISTENT | ServiceFlags::HASHED),
            persistence_engine: self.pe.filter(|p| !p.is_empty()),
            stats: self.stats64.or(self.stats),
        })
    }
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
    let mut r = DestReader::default();
    let mut value = Vec::new();
    for a in attrs {
        r.read(a.kind(), emitted(a, &mut value), true)?;
    }
    r.finish(service_family)
}

/// The destination described by a `DEST` nest's payload, read in place:
/// the same reading as [`dest_from_attrs`], without building the
/// attributes first (nothing allocated); without `stats`, the counters are
/// not read (`None`).
pub fn dest_from_nest(
    payload: &[u8],
    service_family: AddressFamily,
    stats: bool,
) -> Result<Destination, DecodeError> {
    let mut r = DestReader::default();
    if !r.read_kernel_layout(payload, stats)? {
        walk(payload, |kind, value| r.read(kind, value, stats))?;
    }
    r.finish(service_family)
}

/// The `DEST` nest as Linux (5.3 and later, where 64-bit counters need no
/// padding) writes it (`ip_vs_genl_fill_dest`): each attribute's kind and
/// length, in order. Most nests a dump brings are laid out exactly so.
const KERNEL_DEST_LAYOUT: [(u16, u16); 15] = [
    (IPVS_DEST_ATTR_ADDR, 20),
    (IPVS_DEST_ATTR_PORT, 6),
    (IPVS_DEST_ATTR_FWD_METHOD, 8),
    (IPVS_DEST_ATTR_WEIGHT, 8),
    (IPVS_DEST_ATTR_TUN_TYPE, 5),
    (IPVS_DEST_ATTR_TUN_PORT, 6),
    (IPVS_DEST_ATTR_TUN_FLAGS, 6),
    (IPVS_DEST_ATTR_U_THRESH, 8),
    (IPVS_DEST_ATTR_L_THRESH, 8),
    (IPVS_DEST_ATTR_ACTIVE_CONNS, 8),
    (IPVS_DEST_ATTR_INACT_CONNS, 8),
    (IPVS_DEST_ATTR_PERSIST_CONNS, 8),
    (IPVS_DEST_ATTR_ADDR_FAMILY, 6),
    (IPVS_DEST_ATTR_STATS, 92),
    (IPVS_DEST_ATTR_STATS64, 124),
];

/// Where each attribute of `layout` starts.
const fn offsets<const N: usize>(layout: &[(u16, u16); N]) -> [usize; N] {
    let mut at = [0; N];
    let mut i = 1;
    while i < N {
        at[i] = at[i - 1] + ((layout[i - 1].1 as usize + 3) & !3);
        i += 1;
    }
    at
}

/// Where each attribute of [`KERNEL_DEST_LAYOUT`] starts.
const KERNEL_DEST_LAYOUT_OFFSETS: [usize; 15] = offsets(&KERNEL_DEST_LAYOUT);

/// How many bytes the attributes of `layout` take, padding included.
const fn layout_len<const N: usize>(layout: &[(u16, u16); N]) -> usize {
    offsets(layout)[N - 1] + ((layout[N - 1].1 as usize + 3) & !3)
}

/// Whether `payload`'s attributes are exactly those of `layout` (kind and
/// length, in order, nothing after). Read at their places, their values
/// are what walking the attributes one by one finds.
#[inline(always)]
fn laid_out<const N: usize>(payload: &[u8], layout: &[(u16, u16); N]) -> bool {
    if payload.len() != layout_len(layout) {
        return false;
    }
    // Every header compared, the differences gathered, one branch: the
    // length is known here, and the headers' places are constants.
    let mut differ = 0;
    let mut at = 0;
    for &(kind, len) in layout {
        let header = [
            payload[at],
            payload[at + 1],
            payload[at + 2],
            payload[at + 3],
        ];
        let [l0, l1] = len.to_ne_bytes();
        let [k0, k1] = kind.to_ne_bytes();
        differ |= u32::from_ne_bytes(header) ^ u32::from_ne_bytes([l0, l1, k0, k1]);
        at += (usize::from(len) + 3) & !3;
    }
    differ == 0
}

/// Whether `payload` starts with the attributes of `layout`.
fn laid_out_prefix<const N: usize>(payload: &[u8], layout: &[(u16, u16); N]) -> bool {
    payload
        .get(..layout_len(layout))
        .is_some_and(|start| laid_out(start, layout))
}

/// Whether `buf` is whole attributes, the last one (padded) ending where
/// it ends: then walking them from here finds what walking the whole
/// payload finds at this place. (With `buf`'s length aligned, no
/// attribute's padding can run past it.)
fn walks_to_its_end(buf: &[u8]) -> bool {
    buf.len() % 4 == 0 && attrs(buf).all(|a| a.is_ok())
}

/// What a `DEST` nest said, attribute by attribute.
#[derive(Default)]
struct DestReader {
    addr: Option<[u8; 16]>,
    port: Option<u16>,
    fwd: Option<u32>,
    weight: u32,
    af: Option<u16>,
    upper: u32,
    lower: u32,
    conns: Connections,
    has_conns: bool,
    tun_type: u8,
    tun_port: u16,
    tun_flags: u16,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl DestReader {
    /// Take every attribute of a `payload` laid out as
    /// [`KERNEL_DEST_LAYOUT`] says ([`laid_out`]), each value at its place:
    /// no header is read and the kind of each is known here, so each
    /// [`read`](Self::read) is a store into one field. Half what walking
    /// costs; what `save` spends most on. `false`, nothing taken, for any
    /// other layout.
    fn read_kernel_layout(&mut self, payload: &[u8], stats: bool) -> Result<bool, DecodeError> {
        if !laid_out(payload, &KERNEL_DEST_LAYOUT) {
            return Ok(false);
        }
        read_at_places!(
            self, payload, stats, KERNEL_DEST_LAYOUT, KERNEL_DEST_LAYOUT_OFFSETS;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14
        );
        Ok(true)
    }

    /// Take one attribute; the counters only with `stats`. Unknown kinds
    /// are passed over. Inlined into the loop over a nest's attributes: as
    /// a call it cost twice what the reading does (a dump's destinations
    /// are most of what `save` reads).
    #[inline(always)]
    fn read(&mut self, kind: u16, v: &[u8], stats: bool) -> Result<(), DecodeError> {
        match kind {
            IPVS_DEST_ATTR_ADDR => self.addr = Some(exact("DEST.ADDR", v)?),
            IPVS_DEST_ATTR_PORT => self.port = Some(be16_of("DEST.PORT", v)?),
            IPVS_DEST_ATTR_FWD_METHOD => self.fwd = Some(u32_of("DEST.FWD_METHOD", v)?),
            IPVS_DEST_ATTR_WEIGHT => self.weight = u32_of("DEST.WEIGHT", v)?,
            IPVS_DEST_ATTR_U_THRESH => self.upper = u32_of("DEST.U_THRESH", v)?,
            IPVS_DEST_ATTR_L_THRESH => self.lower = u32_of("DEST.L_THRESH", v)?,
            IPVS_DEST_ATTR_ACTIVE_CONNS => {
                (self.conns.active, self.has_conns) = (u32_of("DEST.ACTIVE_CONNS", v)?, true)
            }
            IPVS_DEST_ATTR_INACT_CONNS => {
                (self.conns.inactive, self.has_conns) = (u32_of("DEST.INACT_CONNS", v)?, true)
            }
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                (self.conns.persistent, self.has_conns) = (u32_of("DEST.PERSIST_CONNS", v)?, true)
            }
            IPVS_DEST_ATTR_ADDR_FAMILY => self.af = Some(u16_of("DEST.ADDR_FAMILY", v)?),
            IPVS_DEST_ATTR_TUN_TYPE => self.tun_type = u8_of("DEST.TUN_TYPE", v)?,
            IPVS_DEST_ATTR_TUN_PORT => self.tun_port = be16_of("DEST.TUN_PORT", v)?,
            IPVS_DEST_ATTR_TUN_FLAGS => self.tun_flags = u16_of("DEST.TUN_FLAGS", v)?,
            IPVS_DEST_ATTR_STATS if stats => self.stats = Some(stats_in_place(false, v)?),
            IPVS_DEST_ATTR_STATS64 if stats => self.stats64 = Some(stats_in_place(true, v)?),
            _ => {}
        }
        Ok(())
    }

    /// The destination read. By reference: the reader (both counter sets
    /// in it) is not moved for each destination.
    fn finish(&mut self, service_family: AddressFamily) -> Result<Destination, DecodeError> {
        let family = match self.af {
            Some(raw) => family_of(raw)?,
            None => service_family,
        };
        let forward = ForwardMethod::from_raw(
            self.fwd.ok_or("DEST without FWD_METHOD")?,
            Tunnel::from_raw(self.tun_type, self.tun_port, self.tun_flags),
        );
        Ok(Destination {
            address: addr_from_bytes(family, &self.addr.ok_or("DEST without ADDR")?),
            port: self.port.ok_or("DEST without PORT")?,
            forward,
            weight: self.weight,
            upper_threshold: self.upper,
            lower_threshold: self.lower,
            connections: self.has_conns.then_some(self.conns),
            stats: self.stats64.take().or(self.stats.take()),
        })
    }
}

/// The counters of a `STATS` or `STATS64` nest.
pub fn stats_from(nest: &StatsNest) -> Stats {
    let mut s = Stats::default();
    for a in &nest.attrs {
        stats_take(&mut s, a);
    }
    s
}

/// The counters of a `STATS` (`wide` false) or `STATS64` nest's payload,
/// read in place as [`stats_from`] reads the parsed nest.
fn stats_in_place(wide: bool, payload: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for a in attrs(payload) {
        let (kind, value) = a?;
        if let Some(a) = StatsAttr::known(kind, value)? {
            stats_take(&mut s, &a.narrowed(wide));
        }
    }
    Ok(s)
}

fn stats_take(s: &mut Stats, a: &StatsAttr) {
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

/// The first top-level attribute `kind` (a nest such as
/// `IPVS_CMD_ATTR_DEST`) of an IPVS message's payload as the engine hands
/// it out (the generic-netlink header, then the attributes); `None` if the
/// message has none.
///
/// ```
/// use ipvs::codec::convert::nest_of;
/// // genlmsghdr, then attribute 2 (DEST) holding 4 bytes.
/// let payload = [1, 1, 0, 0, 8, 0, 2, 0, 9, 9, 9, 9];
/// assert_eq!(nest_of(&payload, 2).unwrap(), Some(&[9, 9, 9, 9][..]));
/// assert_eq!(nest_of(&payload, 1).unwrap(), None);
/// ```
pub fn nest_of(payload: &[u8], kind: u16) -> Result<Option<&[u8]>, DecodeError> {
    let payload = payload
        .get(crate::engine::GENL_HDRLEN..)
        .ok_or("generic netlink message shorter than its header")?;
    for a in attrs(payload) {
        let (k, value) = a?;
        if k == kind {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `DEST` nest of every destination a kernel capture lists.
    fn captured_dest_nests() -> Vec<Vec<u8>> {
        captured_nests(5, IPVS_CMD_ATTR_DEST)
    }

    /// The nest `kind` of every reply with `command` in the kernel captures.
    fn captured_nests(command: u8, kind: u16) -> Vec<Vec<u8>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut nests = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            let f: serde_json::Value = serde_json::from_str(&text).unwrap();
            let family = f["family_id"].as_u64().unwrap() as u16;
            for m in f["messages"].as_array().unwrap() {
                let hex = m["hex"].as_str().unwrap();
                let b: Vec<u8> = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                let ipvs = b.len() > 20 && u16::from_ne_bytes([b[4], b[5]]) == family;
                if m["dir"] == "reply" && ipvs && b[16] == command {
                    if let Some(nest) = nest_of(&b[16..], kind).unwrap() {
                        nests.push(nest.to_vec());
                    }
                }
            }
        }
        nests
    }

    fn both_ways(nest: &[u8], stats: bool) -> (Destination, Destination) {
        let mut placed = DestReader::default();
        assert!(placed.read_kernel_layout(nest, stats).unwrap(), "{nest:?}");
        let mut walked = DestReader::default();
        walk(nest, |k, v| walked.read(k, v, stats)).unwrap();
        let af = AddressFamily::Ipv4;
        (placed.finish(af).unwrap(), walked.finish(af).unwrap())
    }

    #[test]
    fn the_kernels_dest_nests_are_read_at_their_places_as_walked() {
        let nests = captured_dest_nests();
        assert!(nests.len() >= 10, "{} nests", nests.len());
        for nest in &nests {
            assert!(laid_out(nest, &KERNEL_DEST_LAYOUT), "{nest:?}");
            for stats in [false, true] {
                let (placed, walked) = both_ways(nest, stats);
                assert_eq!(placed, walked);
                assert_eq!(placed.stats.is_some(), stats);
            }
        }
    }

    #[test]
    fn a_nest_laid_out_otherwise_is_walked() {
        let nest = &captured_dest_nests()[0];
        // One attribute fewer, one more, a flag in a kind, two swapped.
        let last = nest.len() - 124;
        let mut flagged = nest.clone();
        flagged[3] |= 0x80; // NLA_F_NESTED on ADDR
        let mut swapped = nest[20..28].to_vec(); // PORT then the rest
        swapped.extend_from_slice(&nest[..20]);
        swapped.extend_from_slice(&nest[28..]);
        let mut longer = nest.clone();
        longer.extend_from_slice(&[4, 0, 99, 0]);
        for other in [&nest[..last], &longer[..], &flagged[..], &swapped[..]] {
            assert!(!laid_out(other, &KERNEL_DEST_LAYOUT));
        }
        // Swapped, it still reads as the kernel's.
        assert_eq!(
            dest_from_nest(&swapped, AddressFamily::Ipv4, true).unwrap(),
            dest_from_nest(nest, AddressFamily::Ipv4, true).unwrap()
        );
    }

    fn service_both_ways(nest: &[u8], stats: bool) -> (Result<Service, String>, Service) {
        let mut placed = ServiceReader::default();
        assert!(placed.read_kernel_layout(nest, stats).unwrap(), "{nest:?}");
        let mut walked = ServiceReader::default();
        walk(nest, |k, v| walked.read(k, v, stats)).unwrap();
        let placed = placed.finish().map_err(|e| e.to_string());
        (placed, walked.finish().unwrap())
    }

    /// `nest` with `attr` (kind, value) put in before its flags.
    fn with_name(nest: &[u8], kind: u16, value: &[u8]) -> Vec<u8> {
        let end = nest.len() - layout_len(&KERNEL_SERVICE_END);
        let mut out = nest[..end].to_vec();
        out.extend_from_slice(&(4 + value.len() as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(&nest[end..]);
        out
    }

    #[test]
    fn the_kernels_service_nests_are_read_at_their_places_as_walked() {
        let nests = captured_nests(1, IPVS_CMD_ATTR_SERVICE);
        assert!(nests.len() >= 10, "{} nests", nests.len());
        let address = layout_len(&KERNEL_SERVICE_ADDRESS);
        for nest in &nests {
            // As captured; with a persistence engine; with a firewall mark
            // in place of the address (the fast path's other start).
            let pe = with_name(nest, IPVS_SVC_ATTR_PE_NAME, b"sip\0");
            let mut fwmark = vec![6, 0, 1, 0, 2, 0, 0, 0, 8, 0, 5, 0, 7, 0, 0, 0];
            fwmark.extend_from_slice(&nest[address..]);
            for nest in [&nest[..], &pe, &fwmark] {
                for stats in [false, true] {
                    let (placed, walked) = service_both_ways(nest, stats);
                    assert_eq!(placed, Ok(walked));
                }
            }
        }
    }

    #[test]
    fn a_service_nest_laid_out_otherwise_is_walked() {
        let nest = &captured_nests(1, IPVS_CMD_ATTR_SERVICE)[0];
        // A name whose length runs into the end, a nest cut short, an end
        // that is not the kernel's (a flag in the timeout's kind): each
        // walked, and read as walking reads it (or refused as it is).
        let mut overrun = with_name(nest, IPVS_SVC_ATTR_PE_NAME, b"sip\0");
        let name = nest.len() - layout_len(&KERNEL_SERVICE_END);
        overrun[name] = 40;
        let mut flagged = nest.clone();
        flagged[name + 12 + 3] |= 0x40;
        for other in [&overrun[..], &nest[..nest.len() - 4], &flagged] {
            let mut r = ServiceReader::default();
            assert!(!r.read_kernel_layout(other, true).unwrap());
            let mut walked = ServiceReader::default();
            let walked = match walk(other, |k, v| walked.read(k, v, true)) {
                Ok(()) => walked.finish().ok(),
                Err(_) => None,
            };
            assert_eq!(service_from_nest(other, true).ok(), walked);
        }
    }
}
