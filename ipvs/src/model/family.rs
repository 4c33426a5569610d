use std::fmt;
use std::net::IpAddr;

/// An address family, as IPVS uses them (`AF_INET`, `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`, 2).
    #[default]
    Ipv4,
    /// IPv6 (`AF_INET6`, 10).
    Ipv6,
}

impl AddressFamily {
    /// The kernel's number for this family.
    pub const fn to_raw(self) -> u16 {
        match self {
            AddressFamily::Ipv4 => libc::AF_INET as u16,
            AddressFamily::Ipv6 => libc::AF_INET6 as u16,
        }
    }

    /// The family for a kernel number, if it is one IPVS supports.
    pub const fn from_raw(raw: u16) -> Option<Self> {
        match raw as i32 {
            libc::AF_INET => Some(AddressFamily::Ipv4),
            libc::AF_INET6 => Some(AddressFamily::Ipv6),
            _ => None,
        }
    }

    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        })
    }
}

/// A layer-4 protocol of a virtual service.
///
/// An open set: a protocol number the kernel reports that this crate does not
/// name is kept as [`Protocol::Other`].
///
/// ```
/// use ipvs::Protocol;
/// assert_eq!(Protocol::from_raw(6), Protocol::Tcp);
/// assert_eq!(Protocol::from_raw(99), Protocol::Other(99));
/// assert_eq!("sctp".parse::<Protocol>().unwrap(), Protocol::Sctp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// Any other IP protocol number.
    Other(u16),
}

/// `IPPROTO_TCP`.
const IPPROTO_TCP: u16 = libc::IPPROTO_TCP as u16;
/// `IPPROTO_UDP`.
const IPPROTO_UDP: u16 = libc::IPPROTO_UDP as u16;
/// `IPPROTO_SCTP`.
const IPPROTO_SCTP: u16 = libc::IPPROTO_SCTP as u16;

impl Protocol {
    /// The IP protocol number.
    pub const fn to_raw(self) -> u16 {
        match self {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
            Protocol::Sctp => IPPROTO_SCTP,
            Protocol::Other(n) => n,
        }
    }

    /// The protocol for an IP protocol number.
    pub const fn from_raw(raw: u16) -> Self {
        match raw {
            IPPROTO_TCP => Protocol::Tcp,
            IPPROTO_UDP => Protocol::Udp,
            IPPROTO_SCTP => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Other(n) => write!(f, "proto-{n}"),
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            other => other
                .strip_prefix("proto-")
                .unwrap_or(other)
                .parse::<u16>()
                .map(Protocol::from_raw)
                .map_err(|_| format!("unknown protocol {s:?}")),
        }
    }
}
