use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{AddressFamily, Protocol, Scheduler, Stats};

/// What identifies a virtual service: an address, port and protocol, or a
/// firewall mark within an address family.
///
/// ```
/// use ipvs::ServiceKey;
/// let web = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
/// assert_eq!(web.to_string(), "TCP 192.0.2.10:80");
/// let marked = ServiceKey::fwmark(7);
/// assert_eq!(marked.to_string(), "FWM 7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase", untagged))]
pub enum ServiceKey {
    /// A service on an address and port, for one protocol.
    Address {
        /// TCP, UDP or SCTP.
        protocol: Protocol,
        /// The virtual IP address.
        address: IpAddr,
        /// The port; 0 means every port (and needs persistence).
        port: u16,
    },
    /// A service matching packets that carry a firewall mark.
    Fwmark {
        /// The mark (non-zero).
        fwmark: u32,
        /// The family of the packets the service matches.
        family: AddressFamily,
    },
}

impl ServiceKey {
    /// A TCP service on `addr`.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self::with_protocol(Protocol::Tcp, addr)
    }

    /// A UDP service on `addr`.
    pub fn udp(addr: SocketAddr) -> Self {
        Self::with_protocol(Protocol::Udp, addr)
    }

    /// An SCTP service on `addr`.
    pub fn sctp(addr: SocketAddr) -> Self {
        Self::with_protocol(Protocol::Sctp, addr)
    }

    /// A service for `protocol` on `addr`.
    pub fn with_protocol(protocol: Protocol, addr: SocketAddr) -> Self {
        ServiceKey::Address {
            protocol,
            address: addr.ip(),
            port: addr.port(),
        }
    }

    /// An IPv4 firewall-mark service.
    pub fn fwmark(fwmark: u32) -> Self {
        ServiceKey::Fwmark {
            fwmark,
            family: AddressFamily::Ipv4,
        }
    }

    /// An IPv6 firewall-mark service.
    pub fn fwmark_v6(fwmark: u32) -> Self {
        ServiceKey::Fwmark {
            fwmark,
            family: AddressFamily::Ipv6,
        }
    }

    /// The address family of the service.
    pub fn family(&self) -> AddressFamily {
        match self {
            ServiceKey::Address { address, .. } => AddressFamily::of(address),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The port, for an address service.
    pub fn port(&self) -> Option<u16> {
        match self {
            ServiceKey::Address { port, .. } => Some(*port),
            ServiceKey::Fwmark { .. } => None,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => write!(f, "{protocol} {}", SocketAddr::new(*address, *port)),
            ServiceKey::Fwmark {
                fwmark,
                family: AddressFamily::Ipv4,
            } => write!(f, "FWM {fwmark}"),
            ServiceKey::Fwmark { fwmark, .. } => write!(f, "FWM {fwmark} IPv6"),
        }
    }
}

/// Service flag bits (`IP_VS_SVC_F_*`), with every bit kept, known or not
/// (a [`bitflags`] set: build one from the kernel's bits with
/// [`ServiceFlags::from_bits_retain`]).
///
/// The meaning of the three scheduler flags depends on the scheduler; the
/// aliases name them for `sh` and `mh`. In JSON, YAML and TOML the flags
/// are their number.
///
/// ```
/// use ipvs::ServiceFlags;
/// let f = ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT;
/// assert!(f.contains(ServiceFlags::SCHED1));
/// assert_eq!(f.bits(), 0x18);
/// // Bits this crate does not name survive.
/// assert_eq!(ServiceFlags::from_bits_retain(0x440).bits(), 0x440);
/// assert_eq!(ServiceFlags::from_bits(0x440), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct ServiceFlags(u32);

bitflags::bitflags! {
    impl ServiceFlags: u32 {
        /// Persistent service (set by [`Service::persistence`]).
        const PERSISTENT = 0x1;
        /// The service is hashed (kernel-owned, never sent).
        const HASHED = 0x2;
        /// One-packet scheduling: schedule each UDP datagram on its own.
        const ONE_PACKET = 0x4;
        /// Scheduler flag 1.
        const SCHED1 = 0x8;
        /// Scheduler flag 2.
        const SCHED2 = 0x10;
        /// Scheduler flag 3.
        const SCHED3 = 0x20;
        /// `sh`: fall back to another server when the hashed one is unavailable.
        const SH_FALLBACK = Self::SCHED1.bits();
        /// `sh`: hash the source port as well as the address.
        const SH_PORT = Self::SCHED2.bits();
        /// `mh`: fall back to another server when the hashed one is unavailable.
        const MH_FALLBACK = Self::SCHED1.bits();
        /// `mh`: hash the source port as well as the address.
        const MH_PORT = Self::SCHED2.bits();
    }
}

/// The netmask that groups clients for persistence: an IPv4 mask, or an
/// IPv6 prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Netmask {
    /// An IPv4 mask such as 255.255.255.0.
    V4(Ipv4Addr),
    /// An IPv6 prefix length, 1 to 128.
    V6(u8),
}

impl Netmask {
    /// The mask that makes each client its own group: /32 or /128.
    pub const fn host(family: AddressFamily) -> Self {
        match family {
            AddressFamily::Ipv4 => Netmask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Ipv6 => Netmask::V6(128),
        }
    }

    /// The prefix length, if the mask is contiguous.
    pub fn prefix_len(&self) -> Option<u8> {
        match self {
            Netmask::V6(p) => Some(*p),
            Netmask::V4(m) => {
                let bits = u32::from(*m);
                let ones = bits.leading_ones();
                (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
            }
        }
    }

    /// The family this mask is for.
    pub const fn family(&self) -> AddressFamily {
        match self {
            Netmask::V4(_) => AddressFamily::Ipv4,
            Netmask::V6(_) => AddressFamily::Ipv6,
        }
    }

    /// The kernel's `NETMASK` value: a big-endian mask for IPv4 (as the
    /// kernel stores it, `__be32`), the prefix length for IPv6.
    pub fn to_raw(&self) -> u32 {
        match self {
            Netmask::V4(m) => u32::from_ne_bytes(m.octets()),
            Netmask::V6(p) => u32::from(*p),
        }
    }

    /// The mask for a kernel `NETMASK` value in `family`.
    pub fn from_raw(family: AddressFamily, raw: u32) -> Self {
        match family {
            AddressFamily::Ipv4 => Netmask::V4(Ipv4Addr::from(raw.to_ne_bytes())),
            AddressFamily::Ipv6 => Netmask::V6(raw.min(255) as u8),
        }
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{m}"),
            Netmask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// Persistence: connections from one client (or client network) go to the
/// same destination for `timeout` seconds after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Persistence {
    /// Seconds a persistence template outlives its last connection.
    pub timeout: u32,
    /// Clients within this mask share a template.
    pub netmask: Netmask,
}

impl Persistence {
    /// ipvsadm's persistence timeout when `-p` has no value: 300 seconds.
    pub const DEFAULT_TIMEOUT: u32 = 300;
}

/// A virtual service: what the director balances.
///
/// ```
/// use ipvs::{Scheduler, Service, ServiceKey};
/// let svc = Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::RoundRobin)
///     .with_persistence(600);
/// assert!(svc.validate().is_ok());
/// assert_eq!(svc.persistence.unwrap().timeout, 600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Service {
    /// What identifies the service.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub key: ServiceKey,
    /// The connection scheduler.
    pub scheduler: Scheduler,
    /// Persistence, if the service is persistent.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub persistence: Option<Persistence>,
    /// Flag bits other than [`ServiceFlags::PERSISTENT`] (which follows
    /// `persistence`) and [`ServiceFlags::HASHED`] (kernel-owned):
    /// one-packet, scheduler flags, and any bit the kernel reports that this
    /// crate does not name.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "ServiceFlags::is_empty")
    )]
    pub flags: ServiceFlags,
    /// The persistence engine, such as `sip`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub persistence_engine: Option<String>,
    /// Traffic counters, on services read from the kernel.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub stats: Option<Stats>,
}

impl Service {
    /// A service with no persistence and no flags.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Service {
            key,
            scheduler,
            persistence: None,
            flags: ServiceFlags::empty(),
            persistence_engine: None,
            stats: None,
        }
    }

    /// Make the service persistent for `timeout` seconds: per client
    /// address, or per client network if [`Service::with_netmask`] set one
    /// (before or after: the order does not matter).
    ///
    /// ```
    /// use ipvs::{Netmask, Scheduler, Service, ServiceKey};
    /// let svc = || Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::RoundRobin);
    /// let m = Netmask::V4("255.255.255.0".parse().unwrap());
    /// assert_eq!(svc().with_netmask(m).with_persistence(600), svc().with_persistence(600).with_netmask(m));
    /// assert_eq!(svc().with_netmask(m).with_persistence(600).persistence.unwrap().netmask, m);
    /// ```
    pub fn with_persistence(mut self, timeout: u32) -> Self {
        let netmask = self
            .persistence
            .map_or(Netmask::host(self.key.family()), |p| p.netmask);
        self.persistence = Some(Persistence { timeout, netmask });
        self
    }

    /// Group clients for persistence by `netmask`: clients within it share
    /// a destination.
    ///
    /// A netmask is a setting of persistence, so on a service that is not
    /// persistent yet this makes it persistent with ipvsadm's timeout for
    /// `-p` alone ([`Persistence::DEFAULT_TIMEOUT`], 300 s) until
    /// [`Service::with_persistence`] sets another; the two compose in
    /// either order.
    ///
    /// ```
    /// use ipvs::{Netmask, Persistence, Scheduler, Service, ServiceKey};
    /// let svc = Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::RoundRobin)
    ///     .with_netmask(Netmask::V4("255.255.0.0".parse().unwrap()));
    /// assert_eq!(svc.persistence.unwrap().timeout, Persistence::DEFAULT_TIMEOUT);
    /// ```
    pub fn with_netmask(mut self, netmask: Netmask) -> Self {
        let timeout = self
            .persistence
            .map_or(Persistence::DEFAULT_TIMEOUT, |p| p.timeout);
        self.persistence = Some(Persistence { timeout, netmask });
        self
    }

    /// Add flag bits (one-packet, scheduler flags).
    pub fn with_flags(mut self, flags: ServiceFlags) -> Self {
        self.flags |= flags;
        self
    }

    /// Use a persistence engine, such as `sip`.
    pub fn with_persistence_engine(mut self, name: impl Into<String>) -> Self {
        self.persistence_engine = Some(name.into());
        self
    }

    /// Whether one-packet scheduling is on.
    pub fn one_packet(&self) -> bool {
        self.flags.contains(ServiceFlags::ONE_PACKET)
    }

    /// The flag bits the kernel stores for this service (persistence included).
    pub fn kernel_flags(&self) -> ServiceFlags {
        let mut flags = self.flags.difference(ServiceFlags::HASHED);
        flags.set(ServiceFlags::PERSISTENT, self.persistence.is_some());
        flags
    }

    /// This service's settings without what only the kernel reports (stats),
    /// for comparing a service read back with one that was written.
    pub fn config(&self) -> Service {
        Service {
            stats: None,
            ..self.clone()
        }
    }
}
