//! What a director's failover needs: the VRRP instance keepalived runs, the
//! connection sync daemon its role drives, and what to do in FAULT and STOP.
//!
//! [`Settings`] is the `failover:` section of `ipvsctl run`'s configuration
//! file; [`Settings::validate`] checks it without touching the system and
//! [`Settings::check_host`] checks it against this host (keepalived
//! installed, interfaces present, an address of the VIPs' family).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A virtual IP address with its prefix length, as keepalived adds it to the
/// interface: `198.51.100.100/24`. Without a prefix it is a host address
/// (`/32`, `/128`).
///
/// ```
/// use ipvs::failover::Vip;
/// let vip: Vip = "198.51.100.100/24".parse()?;
/// assert_eq!(vip.prefix_len, 24);
/// assert_eq!(vip.to_string(), "198.51.100.100/24");
/// # Ok::<(), ipvs::failover::SettingsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vip {
    /// The address.
    pub address: IpAddr,
    /// Its prefix length (at most 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
}

impl Vip {
    /// A host address (`/32` or `/128`).
    pub fn host(address: IpAddr) -> Vip {
        Vip {
            address,
            prefix_len: max_prefix(address),
        }
    }
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Vip {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Vip, SettingsError> {
        let bad = || SettingsError::Vip {
            value: s.to_owned(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix_len = match prefix {
            None => max_prefix(address),
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
        };
        if prefix_len == 0 || prefix_len > max_prefix(address) {
            return Err(bad());
        }
        Ok(Vip {
            address,
            prefix_len,
        })
    }
}

impl Serialize for Vip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Vip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Vip, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// VRRP advertisements sent to peers directly instead of to the multicast
/// group (224.0.0.18 / ff02::12): for networks that drop multicast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unicast {
    /// This director's source address for advertisements (an address of
    /// `interface`).
    pub src_ip: IpAddr,
    /// The other directors' addresses.
    pub peers: Vec<IpAddr>,
}

/// The IPVS connection sync daemon the role drives (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// The interface the sync messages go out on and come in from
    /// (default: the VRRP `interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The sync id (0..=255) pairing masters and backups (default: the
    /// virtual router id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_id: Option<u32>,
    /// The UDP port (default: the kernel's, 8848).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The multicast group (default: the kernel's, 224.0.0.81).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
}

/// What the sync daemon does when the role is neither MASTER nor BACKUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleSync {
    /// Run as backup only: the table keeps receiving the master's
    /// connections, ready for when this director becomes master again.
    Backup,
    /// Stop every sync daemon.
    Stopped,
}

/// How keepalived is run: `{mode: run, binary: ..., runtime_dir: ...}` or
/// `{mode: attach, fifo: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Keepalived {
    /// Our child: configuration, notify FIFO and pid files under
    /// `runtime_dir`, started, watched, restarted, stopped by us.
    Run {
        /// The program (default `keepalived`, looked up on `PATH`).
        #[serde(default = "default_binary")]
        binary: PathBuf,
        /// A directory of this director's own (default
        /// `/run/ipvs-failover/<instance>`); several directors on one host
        /// (in different network namespaces) need different ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        runtime_dir: Option<PathBuf>,
    },
    /// A keepalived someone else runs, whose configuration has
    /// `vrrp_notify_fifo FIFO` (or `notify_fifo`): only its state is
    /// followed, nothing is started or stopped.
    Attach {
        /// The FIFO keepalived writes its notifications to.
        fifo: PathBuf,
    },
}

impl Default for Keepalived {
    fn default() -> Self {
        Keepalived::Run {
            binary: default_binary(),
            runtime_dir: None,
        }
    }
}

fn default_binary() -> PathBuf {
    PathBuf::from("keepalived")
}

/// A director's failover settings: the `failover:` section of `ipvsctl
/// run`'s configuration file, in YAML:
///
/// ```yaml
/// instance: web
/// interface: eth0
/// virtual_router_id: 51
/// priority: 150
/// advert_interval: 1
/// preempt: true
/// vips: [198.51.100.100/24]
/// sync: { interface: eth0, sync_id: 51 }
/// ```
///
/// ```
/// use ipvs::failover::Settings;
/// let s = Settings::new("eth0", 51, 150, ["198.51.100.100/24".parse()?]);
/// s.validate()?;
/// # Ok::<(), ipvs::failover::SettingsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The `vrrp_instance` name (letters, digits, `_`, `-`, `.`; default `ipvs`).
    #[serde(default = "default_instance")]
    pub instance: String,
    /// The interface VRRP runs on and the VIPs are added to.
    pub interface: String,
    /// The virtual router id, 1..=255, the same on every director of the pair
    /// and unique on the network segment.
    pub virtual_router_id: u32,
    /// This director's priority, 1..=254: the highest one alive is master.
    pub priority: u32,
    /// Seconds between advertisements (0.01..=40.95, in hundredths; default
    /// 1). A backup takes over after 3 missed ones plus a skew.
    #[serde(default = "default_advert")]
    pub advert_interval: f64,
    /// Whether a director with a higher priority takes the VIPs back when it
    /// returns (default true). Without, the current master keeps them.
    #[serde(default = "default_true")]
    pub preempt: bool,
    /// Seconds to wait before preempting, 0..=1000 (default 0).
    #[serde(default)]
    pub preempt_delay: f64,
    /// The virtual IP addresses, all of one family.
    pub vips: Vec<Vip>,
    /// Unicast peers instead of multicast advertisements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<Unicast>,
    /// The connection sync daemon.
    #[serde(default)]
    pub sync: SyncSettings,
    /// The sync daemon in FAULT (default: backup).
    #[serde(default = "default_on_fault")]
    pub on_fault: IdleSync,
    /// The sync daemon once stopped (default: stopped).
    #[serde(default = "default_on_stop")]
    pub on_stop: IdleSync,
    /// How keepalived is run (default: as our child).
    #[serde(default)]
    pub keepalived: Keepalived,
}

fn default_instance() -> String {
    "ipvs".to_owned()
}
fn default_advert() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}
fn default_on_fault() -> IdleSync {
    IdleSync::Backup
}
fn default_on_stop() -> IdleSync {
    IdleSync::Stopped
}

/// Where an instance's runtime files go by default.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/ipvs-failover";

impl Settings {
    /// Settings with every default: instance `ipvs`, advertisements every
    /// second, preempt, multicast, sync daemon on `interface` with the
    /// virtual router id as sync id, keepalived as our child.
    pub fn new(
        interface: impl Into<String>,
        virtual_router_id: u32,
        priority: u32,
        vips: impl IntoIterator<Item = Vip>,
    ) -> Settings {
        Settings {
            instance: default_instance(),
            interface: interface.into(),
            virtual_router_id,
            priority,
            advert_interval: default_advert(),
            preempt: true,
            preempt_delay: 0.0,
            vips: vips.into_iter().collect(),
            unicast: None,
            sync: SyncSettings::default(),
            on_fault: default_on_fault(),
            on_stop: default_on_stop(),
            keepalived: Keepalived::default(),
        }
    }

    /// The sync daemon's interface.
    pub fn sync_interface(&self) -> &str {
        self.sync.interface.as_deref().unwrap_or(&self.interface)
    }

    /// The sync daemon's sync id.
    pub fn sync_id(&self) -> u32 {
        self.sync.sync_id.unwrap_or(self.virtual_router_id)
    }

    /// The runtime directory, when keepalived is our child.
    pub fn runtime_dir(&self) -> Option<PathBuf> {
        match &self.keepalived {
            Keepalived::Run { runtime_dir, .. } => Some(
                runtime_dir
                    .clone()
                    .unwrap_or_else(|| Path::new(DEFAULT_RUNTIME_DIR).join(&self.instance)),
            ),
            Keepalived::Attach { .. } => None,
        }
    }

    /// The VIPs' family, once validated (`true` for IPv6).
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.address.is_ipv6())
    }

    /// Check the settings on their own (no system access): ranges, names,
    /// one family, paths keepalived's configuration can hold.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !name_ok(&self.instance) {
            return Err(SettingsError::Instance {
                value: self.instance.clone(),
            });
        }
        check_interface_name("interface", &self.interface)?;
        if let Some(i) = &self.sync.interface {
            check_interface_name("sync.interface", i)?;
        }
        if !(1..=255).contains(&self.virtual_router_id) {
            return Err(SettingsError::VirtualRouterId {
                value: self.virtual_router_id,
            });
        }
        if !(1..=254).contains(&self.priority) {
            return Err(SettingsError::Priority {
                value: self.priority,
            });
        }
        let hundredths = (self.advert_interval * 100.0).round();
        if !self.advert_interval.is_finite() || !(1.0..=4095.0).contains(&hundredths) {
            return Err(SettingsError::AdvertInterval {
                value: self.advert_interval,
            });
        }
        if !self.preempt_delay.is_finite() || !(0.0..=1000.0).contains(&self.preempt_delay) {
            return Err(SettingsError::PreemptDelay {
                value: self.preempt_delay,
            });
        }
        let Some(first) = self.vips.first() else {
            return Err(SettingsError::NoVips);
        };
        for (i, vip) in self.vips.iter().enumerate() {
            if vip.address.is_ipv6() != first.address.is_ipv6() {
                return Err(SettingsError::MixedFamilies {
                    first: *first,
                    other: *vip,
                });
            }
            if self.vips[..i].contains(vip) {
                return Err(SettingsError::DuplicateVip { vip: *vip });
            }
            let a = vip.address;
            if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
                return Err(SettingsError::Vip {
                    value: vip.to_string(),
                });
            }
        }
        if let Some(u) = &self.unicast {
            let family_ok = |a: &IpAddr| a.is_ipv6() == first.address.is_ipv6();
            if !family_ok(&u.src_ip) {
                return Err(SettingsError::UnicastFamily {
                    field: "unicast.src_ip".to_owned(),
                    address: u.src_ip,
                });
            }
            if u.peers.is_empty() {
                return Err(SettingsError::NoUnicastPeers);
            }
            for (i, p) in u.peers.iter().enumerate() {
                if !family_ok(p) {
                    return Err(SettingsError::UnicastFamily {
                        field: format!("unicast.peers[{i}]"),
                        address: *p,
                    });
                }
            }
        }
        if self.sync_id() > 255 {
            return Err(SettingsError::SyncId {
                value: self.sync_id(),
            });
        }
        match &self.keepalived {
            Keepalived::Run {
                binary,
                runtime_dir,
            } => {
                check_path("keepalived.binary", binary, false)?;
                if let Some(d) = runtime_dir {
                    check_path("keepalived.runtime_dir", d, true)?;
                }
            }
            Keepalived::Attach { fifo } => check_path("keepalived.fifo", fifo, true)?,
        }
        Ok(())
    }

    /// Check the settings against this host, in the calling thread's network
    /// namespace: [`validate`](Self::validate), then keepalived installed (when
    /// we run it), both interfaces present, and `interface` holding an
    /// address of the VIPs' family (VRRP's source address).
    pub fn check_host(&self) -> Result<(), SettingsError> {
        self.validate()?;
        if let Keepalived::Run { binary, .. } = &self.keepalived {
            find_program(binary).ok_or_else(|| SettingsError::KeepalivedMissing {
                binary: binary.clone(),
            })?;
        }
        let mut rtnl = crate::cluster::rtnl::Rtnl::open().map_err(|e| SettingsError::Host {
            message: e.to_string(),
        })?;
        let mut link = |field: &'static str, name: &str| match rtnl.link(name) {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(SettingsError::InterfaceMissing {
                field,
                name: name.to_owned(),
            }),
            Err(e) => Err(SettingsError::Host {
                message: e.to_string(),
            }),
        };
        let vrrp_link = link("interface", &self.interface)?;
        link("sync.interface", self.sync_interface())?;
        let addresses = rtnl.addresses().map_err(|e| SettingsError::Host {
            message: e.to_string(),
        })?;
        let ipv6 = self.is_ipv6();
        let has_family = addresses
            .iter()
            .any(|a| a.index == vrrp_link.index && a.address.is_ipv6() == ipv6);
        if !has_family {
            return Err(SettingsError::VipFamily {
                vip: self.vips[0],
                interface: self.interface.clone(),
            });
        }
        Ok(())
    }
}

fn check_interface_name(field: &'static str, name: &str) -> Result<(), SettingsError> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '"' && c != ':');
    if ok {
        Ok(())
    } else {
        Err(SettingsError::InterfaceName {
            field,
            name: name.to_owned(),
        })
    }
}

fn check_path(field: &'static str, path: &Path, absolute: bool) -> Result<(), SettingsError> {
    let s = path.to_string_lossy();
    let ok = !s.is_empty()
        && (!absolute || path.is_absolute())
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '#' | '!'));
    if ok {
        Ok(())
    } else {
        Err(SettingsError::Path {
            field,
            path: path.to_owned(),
        })
    }
}

/// `program` as given when it has a `/`, else its first match on `PATH`
/// (plus `/usr/sbin` and `/sbin`, where Debian installs keepalived).
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// A failover setting that cannot work, named by its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `instance`: not a name keepalived's configuration can hold.
    #[error("instance: {value:?} is not a VRRP instance name (1 to 64 letters, digits, _ - .)")]
    Instance {
        /// The value.
        value: String,
    },
    /// `interface` or `sync.interface`: not an interface name.
    #[error("{field}: {name:?} is not an interface name")]
    InterfaceName {
        /// The field.
        field: &'static str,
        /// The value.
        name: String,
    },
    /// `virtual_router_id` outside 1..=255.
    #[error("virtual_router_id: {value} is out of range 1..=255")]
    VirtualRouterId {
        /// The value.
        value: u32,
    },
    /// `priority` outside 1..=254.
    #[error(
        "priority: {value} is out of range 1..=254 (255 is the VRRP address owner, a director \
         whose own address is the VIP; here the VIPs belong to the pair, so it is refused)"
    )]
    Priority {
        /// The value.
        value: u32,
    },
    /// `advert_interval` outside 0.01..=40.95 seconds.
    #[error("advert_interval: {value} s is out of range 0.01..=40.95 s")]
    AdvertInterval {
        /// The value.
        value: f64,
    },
    /// `preempt_delay` outside 0..=1000 seconds.
    #[error("preempt_delay: {value} s is out of range 0..=1000 s")]
    PreemptDelay {
        /// The value.
        value: f64,
    },
    /// `vips` is empty.
    #[error("vips: empty; a failover pair needs at least one virtual IP")]
    NoVips,
    /// `vips`: not an address with a prefix, or one that cannot be a VIP.
    #[error("vips: {value:?} is not a virtual IP (an address with an optional /prefix)")]
    Vip {
        /// The value.
        value: String,
    },
    /// `vips` holds the same VIP twice.
    #[error("vips: {vip} is listed twice")]
    DuplicateVip {
        /// The VIP.
        vip: Vip,
    },
    /// `vips` mixes IPv4 and IPv6 (one VRRP instance is one family).
    #[error("vips: {other} is not of the same family as {first} (one VRRP instance is one family)")]
    MixedFamilies {
        /// The first VIP.
        first: Vip,
        /// The one of the other family.
        other: Vip,
    },
    /// `vips`: the interface has no address of their family, so VRRP has no
    /// source address for its advertisements.
    #[error(
        "vips: {vip} is outside the family of interface {interface} (it has no address of that family)"
    )]
    VipFamily {
        /// The first VIP.
        vip: Vip,
        /// The interface.
        interface: String,
    },
    /// `unicast.*`: an address of the other family.
    #[error("{field}: {address} is not of the VIPs' family")]
    UnicastFamily {
        /// The field.
        field: String,
        /// The address.
        address: IpAddr,
    },
    /// `unicast.peers` is empty.
    #[error("unicast.peers: empty; unicast VRRP needs at least one peer")]
    NoUnicastPeers,
    /// `sync.sync_id` (or the virtual router id it defaults to) above 255.
    #[error("sync.sync_id: {value} is out of range 0..=255")]
    SyncId {
        /// The value.
        value: u32,
    },
    /// A path keepalived's configuration cannot hold, or a relative one.
    #[error("{field}: {path:?} must be an absolute path without spaces, quotes, # or !")]
    Path {
        /// The field.
        field: &'static str,
        /// The value.
        path: PathBuf,
    },
    /// `keepalived.binary`: not installed.
    #[error(
        "keepalived.binary: {binary:?} not found (on PATH, /usr/sbin, /sbin); install it: apt-get install keepalived"
    )]
    KeepalivedMissing {
        /// The program looked for.
        binary: PathBuf,
    },
    /// `interface` or `sync.interface`: no such interface in this network namespace.
    #[error("{field}: no interface {name:?} in this network namespace")]
    InterfaceMissing {
        /// The field.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// Looking at the host's interfaces failed.
    #[error("checking interfaces: {message}")]
    Host {
        /// What failed.
        message: String,
    },
}
