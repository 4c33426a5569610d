use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::Stats;

// The kernel's values (`include/uapi/linux/ip_vs.h`), for both directions.
/// `IP_VS_CONN_F_MASQ`.
const IP_VS_CONN_F_MASQ: u32 = 0;
/// `IP_VS_CONN_F_LOCALNODE`.
const IP_VS_CONN_F_LOCALNODE: u32 = 1;
/// `IP_VS_CONN_F_TUNNEL`.
const IP_VS_CONN_F_TUNNEL: u32 = 2;
/// `IP_VS_CONN_F_DROUTE`.
const IP_VS_CONN_F_DROUTE: u32 = 3;
/// `IP_VS_CONN_F_BYPASS`.
const IP_VS_CONN_F_BYPASS: u32 = 4;
/// `IP_VS_CONN_F_TUNNEL_TYPE_IPIP`.
const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
/// `IP_VS_CONN_F_TUNNEL_TYPE_GUE`.
const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
/// `IP_VS_CONN_F_TUNNEL_TYPE_GRE`.
const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;
/// `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM`.
const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
/// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM`.
const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
/// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`.
const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

/// How the director forwards packets to a destination (real server).
///
/// ```
/// use ipvs::{ForwardMethod, Tunnel, TunnelChecksum};
/// let gue = ForwardMethod::Tunnel(Tunnel::Gue { port: 6080, checksum: TunnelChecksum::Remote });
/// assert_eq!(gue.to_raw(), 2);
/// assert_eq!(ForwardMethod::DirectRoute.to_string(), "Route");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ForwardMethod {
    /// NAT (masquerading, `-m`): the director rewrites the destination address.
    #[default]
    Masquerade,
    /// The destination is the director itself.
    Local,
    /// IP-in-IP, GUE or GRE tunnelling (`-i`).
    Tunnel(Tunnel),
    /// Direct routing (`-g`, gatewaying): the frame goes to the real server's MAC.
    DirectRoute,
    /// Bypass.
    Bypass,
    /// A forwarding value the kernel reported that means none of the above.
    /// Never sent: validation rejects it.
    Other(u32),
}

impl ForwardMethod {
    /// `IP_VS_CONN_F_FWD_MASK`.
    pub const MASK: u32 = 0x7;

    /// The kernel's forwarding value (`IP_VS_CONN_F_*`).
    pub const fn to_raw(&self) -> u32 {
        match self {
            ForwardMethod::Masquerade => IP_VS_CONN_F_MASQ,
            ForwardMethod::Local => IP_VS_CONN_F_LOCALNODE,
            ForwardMethod::Tunnel(_) => IP_VS_CONN_F_TUNNEL,
            ForwardMethod::DirectRoute => IP_VS_CONN_F_DROUTE,
            ForwardMethod::Bypass => IP_VS_CONN_F_BYPASS,
            ForwardMethod::Other(n) => *n,
        }
    }

    /// The method for the kernel's forwarding value (its low 3 bits,
    /// [`ForwardMethod::MASK`]) and, for a tunnel, the tunnel settings.
    ///
    /// ```
    /// use ipvs::{ForwardMethod, Tunnel};
    /// assert_eq!(ForwardMethod::from_raw(3, Tunnel::Ipip), ForwardMethod::DirectRoute);
    /// assert_eq!(ForwardMethod::from_raw(0x102, Tunnel::Ipip), ForwardMethod::Tunnel(Tunnel::Ipip));
    /// assert_eq!(ForwardMethod::from_raw(6, Tunnel::Ipip), ForwardMethod::Other(6));
    /// ```
    pub const fn from_raw(raw: u32, tunnel: Tunnel) -> Self {
        match raw & Self::MASK {
            IP_VS_CONN_F_MASQ => ForwardMethod::Masquerade,
            IP_VS_CONN_F_LOCALNODE => ForwardMethod::Local,
            IP_VS_CONN_F_TUNNEL => ForwardMethod::Tunnel(tunnel),
            IP_VS_CONN_F_DROUTE => ForwardMethod::DirectRoute,
            IP_VS_CONN_F_BYPASS => ForwardMethod::Bypass,
            n => ForwardMethod::Other(n),
        }
    }

    /// The tunnel settings, for a tunnel.
    pub const fn tunnel(&self) -> Option<&Tunnel> {
        match self {
            ForwardMethod::Tunnel(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for ForwardMethod {
    /// ipvsadm's name for the method.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardMethod::Masquerade => f.write_str("Masq"),
            ForwardMethod::Local => f.write_str("Local"),
            ForwardMethod::Tunnel(_) => f.write_str("Tunnel"),
            ForwardMethod::DirectRoute => f.write_str("Route"),
            ForwardMethod::Bypass => f.write_str("Bypass"),
            ForwardMethod::Other(n) => write!(f, "fwd-{n}"),
        }
    }
}

/// Checksum handling of a GUE or GRE tunnel (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TunnelChecksum {
    /// No checksum (`--tun-nocsum`).
    #[default]
    None,
    /// A checksum in the encapsulation header (`--tun-csum`).
    Checksum,
    /// Remote checksum offload (`--tun-remcsum`, GUE only).
    Remote,
}

impl TunnelChecksum {
    /// The kernel's tunnel flag bits.
    pub const fn to_raw(self) -> u16 {
        match self {
            TunnelChecksum::None => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
            TunnelChecksum::Checksum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            TunnelChecksum::Remote => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
        }
    }

    /// From the kernel's tunnel flag bits: remote checksum offload if its
    /// bit is set, a checksum if any other is.
    pub const fn from_raw(flags: u16) -> Self {
        if flags & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
            TunnelChecksum::Remote
        } else if flags == IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM {
            TunnelChecksum::None
        } else {
            TunnelChecksum::Checksum
        }
    }
}

/// The encapsulation of a tunnelled destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "type"))]
pub enum Tunnel {
    /// IP in IP (the default, `--tun-type ipip`).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to `port` (`--tun-type gue --tun-port`).
    Gue {
        /// The UDP port of the real server's GUE receiver (non-zero).
        port: u16,
        /// Checksum handling.
        #[cfg_attr(feature = "serde", serde(default))]
        checksum: TunnelChecksum,
    },
    /// GRE (`--tun-type gre`).
    Gre {
        /// Checksum handling (not [`TunnelChecksum::Remote`]).
        #[cfg_attr(feature = "serde", serde(default))]
        checksum: TunnelChecksum,
    },
}

impl Tunnel {
    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    pub const fn type_raw(&self) -> u8 {
        match self {
            Tunnel::Ipip => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
            Tunnel::Gue { .. } => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
            Tunnel::Gre { .. } => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
        }
    }

    /// The tunnel for the kernel's tunnel type, port and flags (an unknown
    /// type reads as IP in IP, the kernel's default).
    pub const fn from_raw(tun_type: u8, port: u16, flags: u16) -> Self {
        let checksum = TunnelChecksum::from_raw(flags);
        match tun_type {
            IP_VS_CONN_F_TUNNEL_TYPE_GUE => Tunnel::Gue { port, checksum },
            IP_VS_CONN_F_TUNNEL_TYPE_GRE => Tunnel::Gre { checksum },
            _ => Tunnel::Ipip,
        }
    }
    /// The UDP port, for GUE.
    pub const fn port(&self) -> u16 {
        match self {
            Tunnel::Gue { port, .. } => *port,
            _ => 0,
        }
    }
    /// The checksum handling.
    pub const fn checksum(&self) -> TunnelChecksum {
        match self {
            Tunnel::Ipip => TunnelChecksum::None,
            Tunnel::Gue { checksum, .. } | Tunnel::Gre { checksum } => *checksum,
        }
    }
}

/// Connection counts of a destination, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Connections {
    /// Established connections (`ActiveConn`).
    pub active: u32,
    /// Other connections (`InActConn`).
    pub inactive: u32,
    /// Persistence templates pointing at this destination.
    pub persistent: u32,
}

/// A destination (real server) of a virtual service.
///
/// ```
/// use ipvs::{Destination, ForwardMethod};
/// let rs = Destination::new("192.0.2.21:80".parse().unwrap())
///     .with_forward(ForwardMethod::DirectRoute)
///     .with_weight(3);
/// assert_eq!(rs.weight, 3);
/// assert_eq!(rs.socket_addr().to_string(), "192.0.2.21:80");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Destination {
    /// The real server's address; its family may differ from the service's
    /// only when tunnelling.
    pub address: IpAddr,
    /// The real server's port (ignored by the kernel for direct routing
    /// and tunnels, where the service's port is used).
    pub port: u16,
    /// How packets reach it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub forward: ForwardMethod,
    /// Relative weight, 0 to `i32::MAX`; 0 stops new connections (quiesced).
    #[cfg_attr(feature = "serde", serde(default = "default_weight"))]
    pub weight: u32,
    /// Stop sending new connections above this many (0: no limit).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub upper_threshold: u32,
    /// Resume below this many after hitting the upper threshold (0: unset).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub lower_threshold: u32,
    /// Connection counts, on destinations read from the kernel.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub connections: Option<Connections>,
    /// Traffic counters, on destinations read from the kernel.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub stats: Option<Stats>,
}

#[cfg(feature = "serde")]
fn default_weight() -> u32 {
    1
}

#[cfg(feature = "serde")]
fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Destination {
    /// A NAT destination of weight 1.
    pub fn new(addr: SocketAddr) -> Self {
        Destination {
            address: addr.ip(),
            port: addr.port(),
            forward: ForwardMethod::Masquerade,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            connections: None,
            stats: None,
        }
    }

    /// Set the forwarding method.
    pub fn with_forward(mut self, forward: ForwardMethod) -> Self {
        self.forward = forward;
        self
    }

    /// Set the weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Set the upper and lower connection thresholds.
    pub fn with_thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }

    /// Address and port.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// This destination's settings without what only the kernel reports
    /// (connections, stats).
    pub fn config(&self) -> Destination {
        Destination {
            connections: None,
            stats: None,
            ..self.clone()
        }
    }
}
