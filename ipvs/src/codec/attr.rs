//! Every IPVS attribute, typed, with unknown ones kept as [`DefaultNla`].
//!
//! A known attribute whose payload has the wrong size is a decode error; an
//! unknown attribute number is kept byte for byte and emitted again as it came.

use netlink_packet_core::{DecodeError, DefaultNla, Emitable, Nla, NlaBuffer, NlasIterator};

use super::Command;
use super::constants::*;
use super::nla::*;

/// Service flags as sent: the bits, and which bits to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlagsMask {
    /// New values of the bits.
    pub flags: u32,
    /// Which bits the kernel changes: `(old & !mask) | (flags & mask)`.
    pub mask: u32,
}

/// One counter or rate of a `STATS` or `STATS64` nest (`IPVS_STATS_ATTR_*`).
///
/// In `STATS` the counts and rates are 32-bit and the byte counts 64-bit; in
/// `STATS64` all are 64-bit. Values are held as `u64` either way and written
/// back at the width of the nest they stand in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttr {
    /// 1: connections.
    Conns(u64),
    /// 2: packets in.
    InPkts(u64),
    /// 3: packets out.
    OutPkts(u64),
    /// 4: bytes in.
    InBytes(u64),
    /// 5: bytes out.
    OutBytes(u64),
    /// 6: connections per second.
    Cps(u64),
    /// 7: packets in per second.
    InPps(u64),
    /// 8: packets out per second.
    OutPps(u64),
    /// 9: bytes in per second.
    InBps(u64),
    /// 10: bytes out per second.
    OutBps(u64),
    /// Anything else (11 is padding).
    Other(DefaultNla),
}

impl StatsAttr {
    /// The value as a nest of width `wide` holds it: a legacy nest
    /// (`wide` false) holds 32-bit counts and rates, so an 8-byte one keeps
    /// only what the nest can carry (as it is written back).
    pub(crate) fn narrowed(mut self, wide: bool) -> Self {
        if !wide {
            match &mut self {
                StatsAttr::InBytes(_) | StatsAttr::OutBytes(_) | StatsAttr::Other(_) => {}
                StatsAttr::Conns(v)
                | StatsAttr::InPkts(v)
                | StatsAttr::OutPkts(v)
                | StatsAttr::Cps(v)
                | StatsAttr::InPps(v)
                | StatsAttr::OutPps(v)
                | StatsAttr::InBps(v)
                | StatsAttr::OutBps(v) => *v &= u64::from(u32::MAX),
            }
        }
        self
    }

    fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        match Self::known(nla.kind(), nla.value())? {
            Some(a) => Ok(a),
            None => Ok(Self::Other(other(nla)?)),
        }
    }

    /// The attribute `kind` holding `v`, if it is one this crate knows.
    pub(crate) fn known(kind: u16, v: &[u8]) -> Result<Option<Self>, DecodeError> {
        Ok(Some(match kind {
            IPVS_STATS_ATTR_CONNS => Self::Conns(counter_of("STATS.CONNS", v)?),
            IPVS_STATS_ATTR_INPKTS => Self::InPkts(counter_of("STATS.INPKTS", v)?),
            IPVS_STATS_ATTR_OUTPKTS => Self::OutPkts(counter_of("STATS.OUTPKTS", v)?),
            IPVS_STATS_ATTR_INBYTES => Self::InBytes(counter_of("STATS.INBYTES", v)?),
            IPVS_STATS_ATTR_OUTBYTES => Self::OutBytes(counter_of("STATS.OUTBYTES", v)?),
            IPVS_STATS_ATTR_CPS => Self::Cps(counter_of("STATS.CPS", v)?),
            IPVS_STATS_ATTR_INPPS => Self::InPps(counter_of("STATS.INPPS", v)?),
            IPVS_STATS_ATTR_OUTPPS => Self::OutPps(counter_of("STATS.OUTPPS", v)?),
            IPVS_STATS_ATTR_INBPS => Self::InBps(counter_of("STATS.INBPS", v)?),
            IPVS_STATS_ATTR_OUTBPS => Self::OutBps(counter_of("STATS.OUTBPS", v)?),
            _ => return Ok(None),
        }))
    }

    fn kind_value(&self) -> Option<(u16, u64)> {
        Some(match *self {
            Self::Conns(v) => (IPVS_STATS_ATTR_CONNS, v),
            Self::InPkts(v) => (IPVS_STATS_ATTR_INPKTS, v),
            Self::OutPkts(v) => (IPVS_STATS_ATTR_OUTPKTS, v),
            Self::InBytes(v) => (IPVS_STATS_ATTR_INBYTES, v),
            Self::OutBytes(v) => (IPVS_STATS_ATTR_OUTBYTES, v),
            Self::Cps(v) => (IPVS_STATS_ATTR_CPS, v),
            Self::InPps(v) => (IPVS_STATS_ATTR_INPPS, v),
            Self::OutPps(v) => (IPVS_STATS_ATTR_OUTPPS, v),
            Self::InBps(v) => (IPVS_STATS_ATTR_INBPS, v),
            Self::OutBps(v) => (IPVS_STATS_ATTR_OUTBPS, v),
            Self::Other(_) => return None,
        })
    }
}

/// A `STATS` (legacy widths) or `STATS64` nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsNest {
    /// `STATS64`: every value 64 bits wide.
    pub wide: bool,
    /// The counters.
    pub attrs: Vec<StatsAttr>,
}

/// A [`StatsAttr`] at the width of its nest.
struct Sized<'a>(&'a StatsAttr, bool);

impl Nla for Sized<'_> {
    fn value_len(&self) -> usize {
        match self.0.kind_value() {
            Some((kind, _))
                if self.1
                    || kind == IPVS_STATS_ATTR_INBYTES
                    || kind == IPVS_STATS_ATTR_OUTBYTES =>
            {
                8
            }
            Some(_) => 4,
            None => match self.0 {
                StatsAttr::Other(nla) => nla.value_len(),
                _ => 0,
            },
        }
    }
    fn kind(&self) -> u16 {
        match (self.0.kind_value(), self.0) {
            (Some((kind, _)), _) => kind,
            (None, StatsAttr::Other(nla)) => nla.kind(),
            _ => 0,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match (self.0.kind_value(), self.0) {
            (Some((_, v)), _) if buf.len() == 8 => buf.copy_from_slice(&v.to_ne_bytes()),
            (Some((_, v)), _) => buf.copy_from_slice(&(v as u32).to_ne_bytes()),
            (None, StatsAttr::Other(nla)) => nla.emit_value(buf),
            _ => {}
        }
    }
}

impl StatsNest {
    fn parse(wide: bool, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut attrs = Vec::new();
        Self::read(wide, payload, |a| attrs.push(a))?;
        Ok(StatsNest { wide, attrs })
    }

    /// Each attribute of a `STATS` (`wide` false) or `STATS64` nest, as
    /// [`StatsNest`] holds it, handed to `each` without being kept.
    pub(crate) fn read(
        wide: bool,
        payload: &[u8],
        mut each: impl FnMut(StatsAttr),
    ) -> Result<(), DecodeError> {
        for nla in NlasIterator::new(payload) {
            let a = StatsAttr::parse(&nla?)?;
            each(a.narrowed(wide));
        }
        Ok(())
    }
    fn sized(&self) -> impl Iterator<Item = Sized<'_>> {
        self.attrs.iter().map(|a| Sized(a, self.wide))
    }
    fn value_len(&self) -> usize {
        self.sized().map(|a| a.buffer_len()).sum()
    }
    fn emit(&self, buf: &mut [u8]) {
        let mut at = 0;
        for a in self.sized() {
            let len = a.buffer_len();
            emit_one(&a, &mut buf[at..at + len]);
            at += len;
        }
    }
}

/// An attribute of the `SERVICE` nest (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAttr {
    /// 1: address family.
    Af(u16),
    /// 2: IP protocol.
    Protocol(u16),
    /// 3: address, 16 bytes whatever the family (IPv4 in the first 4).
    Addr([u8; 16]),
    /// 4: port (big-endian on the wire).
    Port(u16),
    /// 5: firewall mark.
    Fwmark(u32),
    /// 6: scheduler name.
    SchedName(String),
    /// 7: flags and mask.
    Flags(FlagsMask),
    /// 8: persistence timeout, seconds.
    Timeout(u32),
    /// 9: netmask (IPv4: the mask's bytes in network order; IPv6: prefix length).
    Netmask(u32),
    /// 10: legacy stats.
    Stats(StatsNest),
    /// 11: persistence engine name.
    PeName(String),
    /// 12: 64-bit stats.
    Stats64(StatsNest),
    /// Anything else.
    Other(DefaultNla),
}

impl ServiceAttr {
    /// Parse one attribute of a `SERVICE` nest.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        match Self::known(nla.kind(), nla.value())? {
            Some(a) => Ok(a),
            None => Ok(Self::Other(other(nla)?)),
        }
    }

    /// The attribute `kind` holding `v`, if it is one this crate knows.
    pub(crate) fn known(kind: u16, v: &[u8]) -> Result<Option<Self>, DecodeError> {
        Ok(Some(match kind {
            IPVS_SVC_ATTR_AF => Self::Af(u16_of("SVC.AF", v)?),
            IPVS_SVC_ATTR_PROTOCOL => Self::Protocol(u16_of("SVC.PROTOCOL", v)?),
            IPVS_SVC_ATTR_ADDR => Self::Addr(exact("SVC.ADDR", v)?),
            IPVS_SVC_ATTR_PORT => Self::Port(be16_of("SVC.PORT", v)?),
            IPVS_SVC_ATTR_FWMARK => Self::Fwmark(u32_of("SVC.FWMARK", v)?),
            IPVS_SVC_ATTR_SCHED_NAME => Self::SchedName(string_of("SVC.SCHED_NAME", v)?),
            IPVS_SVC_ATTR_FLAGS => {
                let raw: [u8; 8] = exact("SVC.FLAGS", v)?;
                Self::Flags(FlagsMask {
                    flags: u32_of("SVC.FLAGS", &raw[..4])?,
                    mask: u32_of("SVC.FLAGS", &raw[4..])?,
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => Self::Timeout(u32_of("SVC.TIMEOUT", v)?),
            IPVS_SVC_ATTR_NETMASK => Self::Netmask(u32_of("SVC.NETMASK", v)?),
            IPVS_SVC_ATTR_STATS => Self::Stats(StatsNest::parse(false, v)?),
            IPVS_SVC_ATTR_PE_NAME => Self::PeName(string_of("SVC.PE_NAME", v)?),
            IPVS_SVC_ATTR_STATS64 => Self::Stats64(StatsNest::parse(true, v)?),
            _ => return Ok(None),
        }))
    }
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Af(_) | Self::Protocol(_) | Self::Port(_) => 2,
            Self::Addr(_) => 16,
            Self::Fwmark(_) | Self::Timeout(_) | Self::Netmask(_) => 4,
            Self::SchedName(s) | Self::PeName(s) => s.len() + 1,
            Self::Flags(_) => 8,
            Self::Stats(s) | Self::Stats64(s) => s.value_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            Self::Af(_) => IPVS_SVC_ATTR_AF,
            Self::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Self::Addr(_) => IPVS_SVC_ATTR_ADDR,
            Self::Port(_) => IPVS_SVC_ATTR_PORT,
            Self::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            Self::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Self::Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Self::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Self::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Self::Stats(_) => IPVS_SVC_ATTR_STATS,
            Self::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Self::Stats64(_) => IPVS_SVC_ATTR_STATS64,
            Self::Other(nla) => nla.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Self::Af(v) | Self::Protocol(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::Port(v) => buf.copy_from_slice(&v.to_be_bytes()),
            Self::Addr(a) => buf.copy_from_slice(a),
            Self::Fwmark(v) | Self::Timeout(v) | Self::Netmask(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            Self::SchedName(s) | Self::PeName(s) => emit_string(buf, s),
            Self::Flags(f) => {
                buf[..4].copy_from_slice(&f.flags.to_ne_bytes());
                buf[4..].copy_from_slice(&f.mask.to_ne_bytes());
            }
            Self::Stats(s) | Self::Stats64(s) => s.emit(buf),
            Self::Other(nla) => nla.emit_value(buf),
        }
    }
}

/// An attribute of the `DEST` nest (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    /// 1: address, 16 bytes.
    Addr([u8; 16]),
    /// 2: port (big-endian on the wire).
    Port(u16),
    /// 3: forwarding method (`IP_VS_CONN_F_*`, low 3 bits).
    FwdMethod(u32),
    /// 4: weight.
    Weight(u32),
    /// 5: upper threshold.
    UThresh(u32),
    /// 6: lower threshold.
    LThresh(u32),
    /// 7: active connections (replies).
    ActiveConns(u32),
    /// 8: inactive connections (replies).
    InactConns(u32),
    /// 9: persistence templates (replies).
    PersistConns(u32),
    /// 10: legacy stats.
    Stats(StatsNest),
    /// 11: the destination's own address family (Linux 3.18+).
    AddrFamily(u16),
    /// 12: 64-bit stats.
    Stats64(StatsNest),
    /// 13: tunnel type.
    TunType(u8),
    /// 14: tunnel port (big-endian on the wire).
    TunPort(u16),
    /// 15: tunnel flags.
    TunFlags(u16),
    /// Anything else.
    Other(DefaultNla),
}

impl DestAttr {
    /// Parse one attribute of a `DEST` nest.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        match Self::known(nla.kind(), nla.value())? {
            Some(a) => Ok(a),
            None => Ok(Self::Other(other(nla)?)),
        }
    }

    /// The attribute `kind` holding `v`, if it is one this crate knows.
    pub(crate) fn known(kind: u16, v: &[u8]) -> Result<Option<Self>, DecodeError> {
        Ok(Some(match kind {
            IPVS_DEST_ATTR_ADDR => Self::Addr(exact("DEST.ADDR", v)?),
            IPVS_DEST_ATTR_PORT => Self::Port(be16_of("DEST.PORT", v)?),
            IPVS_DEST_ATTR_FWD_METHOD => Self::FwdMethod(u32_of("DEST.FWD_METHOD", v)?),
            IPVS_DEST_ATTR_WEIGHT => Self::Weight(u32_of("DEST.WEIGHT", v)?),
            IPVS_DEST_ATTR_U_THRESH => Self::UThresh(u32_of("DEST.U_THRESH", v)?),
            IPVS_DEST_ATTR_L_THRESH => Self::LThresh(u32_of("DEST.L_THRESH", v)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => Self::ActiveConns(u32_of("DEST.ACTIVE_CONNS", v)?),
            IPVS_DEST_ATTR_INACT_CONNS => Self::InactConns(u32_of("DEST.INACT_CONNS", v)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => Self::PersistConns(u32_of("DEST.PERSIST_CONNS", v)?),
            IPVS_DEST_ATTR_STATS => Self::Stats(StatsNest::parse(false, v)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => Self::AddrFamily(u16_of("DEST.ADDR_FAMILY", v)?),
            IPVS_DEST_ATTR_STATS64 => Self::Stats64(StatsNest::parse(true, v)?),
            IPVS_DEST_ATTR_TUN_TYPE => Self::TunType(u8_of("DEST.TUN_TYPE", v)?),
            IPVS_DEST_ATTR_TUN_PORT => Self::TunPort(be16_of("DEST.TUN_PORT", v)?),
            IPVS_DEST_ATTR_TUN_FLAGS => Self::TunFlags(u16_of("DEST.TUN_FLAGS", v)?),
            _ => return Ok(None),
        }))
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Addr(_) => 16,
            Self::Port(_) | Self::AddrFamily(_) | Self::TunPort(_) | Self::TunFlags(_) => 2,
            Self::TunType(_) => 1,
            Self::FwdMethod(_)
            | Self::Weight(_)
            | Self::UThresh(_)
            | Self::LThresh(_)
            | Self::ActiveConns(_)
            | Self::InactConns(_)
            | Self::PersistConns(_) => 4,
            Self::Stats(s) | Self::Stats64(s) => s.value_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            Self::Addr(_) => IPVS_DEST_ATTR_ADDR,
            Self::Port(_) => IPVS_DEST_ATTR_PORT,
            Self::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Self::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            Self::UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            Self::LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            Self::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            Self::InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            Self::PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Self::Stats(_) => IPVS_DEST_ATTR_STATS,
            Self::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Self::Stats64(_) => IPVS_DEST_ATTR_STATS64,
            Self::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            Self::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            Self::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Self::Other(nla) => nla.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Self::Addr(a) => buf.copy_from_slice(a),
            Self::Port(v) | Self::TunPort(v) => buf.copy_from_slice(&v.to_be_bytes()),
            Self::AddrFamily(v) | Self::TunFlags(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::TunType(v) => buf[0] = *v,
            Self::FwdMethod(v)
            | Self::Weight(v)
            | Self::UThresh(v)
            | Self::LThresh(v)
            | Self::ActiveConns(v)
            | Self::InactConns(v)
            | Self::PersistConns(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::Stats(s) | Self::Stats64(s) => s.emit(buf),
            Self::Other(nla) => nla.emit_value(buf),
        }
    }
}

/// An attribute of the `DAEMON` nest (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// 1: master (1) or backup (2).
    State(u32),
    /// 2: multicast interface name.
    McastIfn(String),
    /// 3: sync id.
    SyncId(u32),
    /// 4: largest sync message.
    SyncMaxLen(u16),
    /// 5: IPv4 multicast group.
    McastGroup([u8; 4]),
    /// 6: IPv6 multicast group.
    McastGroup6([u8; 16]),
    /// 7: UDP port (host byte order, unlike every other port).
    McastPort(u16),
    /// 8: multicast TTL.
    McastTtl(u8),
    /// Anything else.
    Other(DefaultNla),
}

impl DaemonAttr {
    /// Parse one attribute of a `DAEMON` nest.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        match Self::known(nla.kind(), nla.value())? {
            Some(a) => Ok(a),
            None => Ok(Self::Other(other(nla)?)),
        }
    }

    /// The attribute `kind` holding `v`, if it is one this crate knows.
    pub(crate) fn known(kind: u16, v: &[u8]) -> Result<Option<Self>, DecodeError> {
        Ok(Some(match kind {
            IPVS_DAEMON_ATTR_STATE => Self::State(u32_of("DAEMON.STATE", v)?),
            IPVS_DAEMON_ATTR_MCAST_IFN => Self::McastIfn(string_of("DAEMON.MCAST_IFN", v)?),
            IPVS_DAEMON_ATTR_SYNC_ID => Self::SyncId(u32_of("DAEMON.SYNC_ID", v)?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => Self::SyncMaxLen(u16_of("DAEMON.SYNC_MAXLEN", v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => Self::McastGroup(exact("DAEMON.MCAST_GROUP", v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => Self::McastGroup6(exact("DAEMON.MCAST_GROUP6", v)?),
            IPVS_DAEMON_ATTR_MCAST_PORT => Self::McastPort(u16_of("DAEMON.MCAST_PORT", v)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => Self::McastTtl(u8_of("DAEMON.MCAST_TTL", v)?),
            _ => return Ok(None),
        }))
    }
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::State(_) | Self::SyncId(_) | Self::McastGroup(_) => 4,
            Self::McastIfn(s) => s.len() + 1,
            Self::SyncMaxLen(_) | Self::McastPort(_) => 2,
            Self::McastGroup6(_) => 16,
            Self::McastTtl(_) => 1,
            Self::Other(nla) => nla.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            Self::State(_) => IPVS_DAEMON_ATTR_STATE,
            Self::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            Self::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            Self::SyncMaxLen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            Self::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            Self::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            Self::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            Self::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Self::Other(nla) => nla.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Self::State(v) | Self::SyncId(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::McastIfn(s) => emit_string(buf, s),
            Self::SyncMaxLen(v) | Self::McastPort(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::McastGroup(a) => buf.copy_from_slice(a),
            Self::McastGroup6(a) => buf.copy_from_slice(a),
            Self::McastTtl(v) => buf[0] = *v,
            Self::Other(nla) => nla.emit_value(buf),
        }
    }
}

/// A top-level attribute of an IPVS message.
///
/// Numbering depends on the command: for `GET_INFO` / `SET_INFO`,
/// attribute 1 is [`IpvsAttr::Version`] and 2 [`IpvsAttr::ConnTabSize`]
/// (`IPVS_INFO_ATTR_*`); for every other command they are the `SERVICE` and
/// `DEST` nests (`IPVS_CMD_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsAttr {
    /// CMD 1: a service.
    Service(Vec<ServiceAttr>),
    /// CMD 2: a destination.
    Dest(Vec<DestAttr>),
    /// CMD 3: a sync daemon.
    Daemon(Vec<DaemonAttr>),
    /// CMD 4: TCP timeout, seconds.
    TimeoutTcp(u32),
    /// CMD 5: TCP FIN timeout, seconds.
    TimeoutTcpFin(u32),
    /// CMD 6: UDP timeout, seconds.
    TimeoutUdp(u32),
    /// INFO 1: IPVS version.
    Version(u32),
    /// INFO 2: connection table size.
    ConnTabSize(u32),
    /// Anything else.
    Other(DefaultNla),
}

impl IpvsAttr {
    /// Parse one top-level attribute of a message carrying `command`.
    pub fn parse(command: Command, nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        if command.carries_info() {
            return Ok(match nla.kind() {
                IPVS_INFO_ATTR_VERSION => Self::Version(u32_of("INFO.VERSION", v)?),
                IPVS_INFO_ATTR_CONN_TAB_SIZE => Self::ConnTabSize(u32_of("INFO.CONN_TAB_SIZE", v)?),
                _ => Self::Other(other(nla)?),
            });
        }
        Ok(match nla.kind() {
            IPVS_CMD_ATTR_SERVICE => Self::Service(parse_nested(v, ServiceAttr::parse)?),
            IPVS_CMD_ATTR_DEST => Self::Dest(parse_nested(v, DestAttr::parse)?),
            IPVS_CMD_ATTR_DAEMON => Self::Daemon(parse_nested(v, DaemonAttr::parse)?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => Self::TimeoutTcp(u32_of("CMD.TIMEOUT_TCP", v)?),
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => Self::TimeoutTcpFin(u32_of("CMD.TIMEOUT_TCP_FIN", v)?),
            IPVS_CMD_ATTR_TIMEOUT_UDP => Self::TimeoutUdp(u32_of("CMD.TIMEOUT_UDP", v)?),
            _ => Self::Other(other(nla)?),
        })
    }
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Service(a) => nested_len(a),
            Self::Dest(a) => nested_len(a),
            Self::Daemon(a) => nested_len(a),
            Self::TimeoutTcp(_)
            | Self::TimeoutTcpFin(_)
            | Self::TimeoutUdp(_)
            | Self::Version(_)
            | Self::ConnTabSize(_) => 4,
            Self::Other(nla) => nla.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            Self::Service(_) => IPVS_CMD_ATTR_SERVICE,
            Self::Dest(_) => IPVS_CMD_ATTR_DEST,
            Self::Daemon(_) => IPVS_CMD_ATTR_DAEMON,
            Self::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            Self::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            Self::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            Self::Version(_) => IPVS_INFO_ATTR_VERSION,
            Self::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Self::Other(nla) => nla.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Self::Service(a) => emit_nested(a, buf),
            Self::Dest(a) => emit_nested(a, buf),
            Self::Daemon(a) => emit_nested(a, buf),
            Self::TimeoutTcp(v)
            | Self::TimeoutTcpFin(v)
            | Self::TimeoutUdp(v)
            | Self::Version(v)
            | Self::ConnTabSize(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Self::Other(nla) => nla.emit_value(buf),
        }
    }
}
