//! The real-server side of LVS-DR and LVS-TUN.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use super::engine::{self, Ctx, Want};
use super::{Error, Netns, Outcome, Place, Status, Sysctl};

/// How the director's packets reach this real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealServerMode {
    /// Direct routing (`-g`): frames to this host's MAC with the VIP as
    /// destination. The VIP goes on `lo`.
    DirectRoute,
    /// Tunnelling (`-i`): the VIP goes on `tunl0`.
    Tunnel(TunnelMode),
}

/// The encapsulation a tunnelling real server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelMode {
    /// IP in IP (`--tun-type ipip`): the `ipip` module and its `tunl0`.
    Ipip,
    /// Generic UDP Encapsulation (`--tun-type gue --tun-port PORT`): as for
    /// IPIP, plus a GUE receive port (module `fou`).
    Gue {
        /// The UDP port the director sends to.
        port: u16,
    },
}

impl fmt::Display for RealServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealServerMode::DirectRoute => f.write_str("direct routing"),
            RealServerMode::Tunnel(TunnelMode::Ipip) => f.write_str("ipip tunnel"),
            RealServerMode::Tunnel(TunnelMode::Gue { port }) => {
                write!(f, "gue tunnel, port {port}")
            }
        }
    }
}

/// What a real server needs to answer for a VIP it gets from an IPVS
/// director by direct routing or tunnelling:
///
/// - the VIP as a host address (/32, /128) on `lo` (DR) or `tunl0` (TUN), so
///   the server accepts packets to it, added *after* the ARP settings so
///   the server never answers ARP for it;
/// - `arp_ignore=1` and `arp_announce=2` on `all` and on that interface
///   (the kernel takes the larger of `all` and the interface), plus any
///   [`arp_interface`](Self::arp_interface), so that only the director
///   answers ARP for the VIP (IPv4 only: IPv6 neighbour discovery answers
///   only for addresses of the asking interface);
/// - for TUN: `tunl0` (the `ipip` module, loaded on demand through
///   rtnetlink), up, `rp_filter` 0 (or 2) on `tunl0` and `all` since the
///   decapsulated packets come from clients the server routes elsewhere;
///   for GUE also the `fou` module and a GUE receive port.
///
/// A value already acceptable is left alone (and never restored by the
/// teardown); everything changed is recorded in the [journal](super::journal)
/// before it is changed. See the [module docs](super) for apply, teardown
/// and status.
///
/// ```
/// use ipvs::cluster::{Netns, RealServerSetup, TunnelMode};
/// let rs = RealServerSetup::tun("192.0.2.10".parse().unwrap(), TunnelMode::Gue { port: 6080 })
///     .netns(Netns::named("rs1").unwrap())
///     .journal_dir("/run/my-lb");
/// assert_eq!(rs.owner(), "real-server 192.0.2.10");
/// assert_eq!(rs.vip_interface(), "tunl0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerSetup {
    vip: IpAddr,
    mode: RealServerMode,
    place: Place,
    rp_filter: u8,
    arp_interfaces: Vec<String>,
}

impl RealServerSetup {
    /// A real server for `vip` in `mode`, in the caller's namespace, with
    /// the journal in [`DEFAULT_DIR`](super::DEFAULT_DIR).
    pub fn new(vip: IpAddr, mode: RealServerMode) -> Self {
        RealServerSetup {
            vip,
            mode,
            place: Place::default(),
            rp_filter: 0,
            arp_interfaces: Vec::new(),
        }
    }

    /// A direct-routing real server.
    pub fn dr(vip: IpAddr) -> Self {
        Self::new(vip, RealServerMode::DirectRoute)
    }

    /// A tunnelling real server.
    pub fn tun(vip: IpAddr, tunnel: TunnelMode) -> Self {
        Self::new(vip, RealServerMode::Tunnel(tunnel))
    }

    /// Act in this network namespace.
    pub fn netns(mut self, netns: Netns) -> Self {
        self.place.netns = netns;
        self
    }

    /// Keep the journal in this directory.
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.place.journal_dir = dir.into();
        self
    }

    /// For tunnels: relax `rp_filter` to loose (2) rather than off (0)
    /// where it is strict.
    pub fn rp_filter_loose(mut self) -> Self {
        self.rp_filter = 2;
        self
    }

    /// Also set the ARP sysctls on this interface (the one facing the
    /// director and clients). Not needed for the kernel, which takes the
    /// larger of `all` and the interface, but some operators want it there.
    pub fn arp_interface(mut self, name: impl Into<String>) -> Self {
        self.arp_interfaces.push(name.into());
        self
    }

    /// The VIP.
    pub fn vip(&self) -> IpAddr {
        self.vip
    }

    /// The mode.
    pub fn mode(&self) -> RealServerMode {
        self.mode
    }

    /// The name this setup has in the journal.
    pub fn owner(&self) -> String {
        format!("real-server {}", self.vip)
    }

    /// The interface the VIP goes on: `lo` or `tunl0`.
    pub fn vip_interface(&self) -> &'static str {
        match self.mode {
            RealServerMode::DirectRoute => "lo",
            RealServerMode::Tunnel(_) => "tunl0",
        }
    }

    fn wants(&self) -> Result<Vec<Want>, Error> {
        let dev = self.vip_interface();
        let mut wants = Vec::new();
        if let RealServerMode::Tunnel(t) = self.mode {
            if !self.vip.is_ipv4() {
                return Err(Error::Unsupported(format!(
                    "tunnelling real server for IPv6 VIP {}: only IPv4 in IPv4 (tunl0)",
                    self.vip
                )));
            }
            wants.push(Want::Tunl0);
            wants.push(Want::LinkUp {
                interface: "tunl0".into(),
            });
            if let TunnelMode::Gue { port } = t {
                if port == 0 {
                    return Err(Error::Unsupported("GUE port 0".into()));
                }
                wants.push(Want::FouModule);
                wants.push(Want::FouPort {
                    port,
                    family: libc::AF_INET as u8,
                });
            }
        }
        if self.vip.is_ipv4() {
            let mut ifaces = vec!["all", dev];
            for i in &self.arp_interfaces {
                if !ifaces.contains(&i.as_str()) {
                    ifaces.push(i);
                }
            }
            for i in &ifaces {
                // 1, 2, 3 and 8 all keep the server from answering for
                // the VIP; 4 to 7 are "reserved" and answer.
                wants.push(Want::sysctl(
                    Sysctl::ipv4_conf(i, "arp_ignore"),
                    &["1", "2", "3", "8"],
                    "1",
                ));
                wants.push(Want::sysctl(
                    Sysctl::ipv4_conf(i, "arp_announce"),
                    &["2"],
                    "2",
                ));
            }
            if matches!(self.mode, RealServerMode::Tunnel(_)) {
                let relaxed = self.rp_filter.to_string();
                for i in ["all", dev] {
                    wants.push(Want::sysctl(
                        Sysctl::ipv4_conf(i, "rp_filter"),
                        &["0", "2"],
                        &relaxed,
                    ));
                }
            }
        }
        let prefix_len = if self.vip.is_ipv4() { 32 } else { 128 };
        wants.push(Want::Address {
            interface: dev.into(),
            address: self.vip,
            prefix_len,
        });
        Ok(wants)
    }

    /// Put everything in place; a second call changes nothing.
    pub fn apply(&self) -> Result<Outcome, Error> {
        let wants = self.wants()?;
        let owner = self.owner();
        self.place
            .run(move |j| engine::apply(&wants, &owner, j, &mut Ctx::default()))
    }

    /// What is in place and what is missing.
    pub fn status(&self) -> Result<Status, Error> {
        let wants = self.wants()?;
        let owner = self.owner();
        self.place
            .run(move |j| engine::status(&wants, &owner, j, &mut Ctx::default()))
    }

    /// Undo what `apply()` did for this VIP in this namespace, from the
    /// journal: by this process or another, before or after a crash. Only
    /// the VIP and the namespace matter, not the mode.
    pub fn teardown(&self) -> Result<Outcome, Error> {
        let owner = self.owner();
        self.place
            .run(move |j| engine::teardown(&owner, j, &mut Ctx::default(), |_, _| Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(rs: &RealServerSetup) -> Vec<String> {
        rs.wants()
            .unwrap()
            .iter()
            .map(|w| match w {
                Want::Sysctl { name, write, .. } => format!("{name}={write}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn dr_sets_arp_then_adds_the_vip_on_lo() {
        let rs = RealServerSetup::dr("192.0.2.10".parse().unwrap());
        let w = items(&rs);
        assert_eq!(
            w,
            [
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.lo.arp_ignore=1",
                "net.ipv4.conf.lo.arp_announce=2",
                "Address { interface: \"lo\", address: 192.0.2.10, prefix_len: 32 }",
            ]
        );
    }

    #[test]
    fn gue_needs_tunl0_fou_and_relaxed_rp_filter() {
        let rs = RealServerSetup::tun(
            "192.0.2.10".parse().unwrap(),
            TunnelMode::Gue { port: 6080 },
        )
        .rp_filter_loose()
        .arp_interface("eth0");
        let w = items(&rs);
        assert_eq!(w[0], "Tunl0");
        assert!(w.contains(&"FouPort { port: 6080, family: 2 }".to_owned()));
        assert!(w.contains(&"net.ipv4.conf.tunl0.rp_filter=2".to_owned()));
        assert!(w.contains(&"net.ipv4.conf.eth0.arp_ignore=1".to_owned()));
        assert!(w.last().unwrap().contains("tunl0"));
    }

    #[test]
    fn ipv6_dr_has_no_arp_and_tun_is_refused() {
        let rs = RealServerSetup::dr("2001:db8::10".parse().unwrap());
        assert_eq!(items(&rs).len(), 1);
        let tun = RealServerSetup::tun("2001:db8::10".parse().unwrap(), TunnelMode::Ipip);
        assert!(matches!(tun.wants(), Err(Error::Unsupported(_))));
    }
}
