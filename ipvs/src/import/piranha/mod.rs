//! Piranha's `lvs.cf` (Red Hat's LVS tool: piranha-gui writes it, pulse,
//! lvsd and nanny read it): parser, typed document, and the mapping to the
//! IPVS table.
//!
//! Every key Piranha's parser knows is read into [`LvsCf`] with its place
//! in the file: the global keys (`serial_no`, `primary`, `backup`,
//! `heartbeat`, `keepalive`, `deadtime`, `network`, `nat_router`,
//! `syncdaemon`, `tcp_timeout`...), `virtual NAME { }` (`active`,
//! `address`, `port`, `fwmark`, `protocol`, `persistent`, `pmask`,
//! `scheduler`, nanny's `send`/`expect`/`timeout`/`reentry`...),
//! `server NAME { }` and `failover NAME { }`.
//!
//! The table ([`to_import`]): `network` gives every destination's
//! forwarding method (`nat` NAT, `direct` direct routing, `tunnel` IPIP);
//! `active = 0` virtuals and servers are not loaded; virtuals sharing a
//! firewall mark are one service; `tcp_timeout`, `tcpfin_timeout` and
//! `udp_timeout` are the table's timeouts. Health (nanny) and failover
//! (pulse) keys are warnings until those settings are carried over.
//!
//! ```
//! use ipvs::import::piranha;
//!
//! let doc = piranha::parse("\
//! network = direct
//! virtual web {
//!     active = 1
//!     address = 192.0.2.10 eth0:1
//!     port = 80
//!     scheduler = wrr
//!     protocol = tcp
//!     server rs1 {
//!         address = 192.0.2.21
//!         active = 1
//!         weight = 3
//!     }
//! }
//! ", "lvs.cf".as_ref()).unwrap();
//! let loaded = piranha::to_import(&doc).unwrap();
//! assert_eq!(loaded.state.to_rules_text(), "\
//! -A -t 192.0.2.10:80 -s wrr
//! -a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 3
//! ");
//! // The VIP's interface belongs to the failover settings.
//! assert_eq!(loaded.warnings[0].key, "address");
//! ```

#[cfg(feature = "failover")]
mod failover;
mod map;
#[cfg(feature = "health")]
mod nanny;
mod parse;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

pub use map::to_import;
pub use parse::{Block, Entry, Tree};

use crate::import::{ErrorKind, ImportError, Located, Location, Warning, WarningKind, Warnings};
use crate::model::{Protocol, Timeouts};

/// `network`: how the directors reach the real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `nat`.
    Nat,
    /// `direct`.
    Direct,
    /// `tunnel`.
    Tunnel,
}

/// An address with an optional interface (`address = 192.0.2.10 eth0:1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressOn {
    /// The address.
    pub address: IpAddr,
    /// The interface (with its alias), if written.
    pub interface: Option<String>,
}

/// lvs.cf's global keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    /// `serial_no`.
    pub serial_no: Option<Located<String>>,
    /// `primary`: the primary director's public address.
    pub primary: Option<Located<IpAddr>>,
    /// `primary_private`.
    pub primary_private: Option<Located<IpAddr>>,
    /// `primary_shared` (older Piranha).
    pub primary_shared: Option<Located<IpAddr>>,
    /// `backup`.
    pub backup: Option<Located<IpAddr>>,
    /// `backup_active`.
    pub backup_active: Option<Located<bool>>,
    /// `backup_private`.
    pub backup_private: Option<Located<IpAddr>>,
    /// `backup_shared` (older Piranha).
    pub backup_shared: Option<Located<IpAddr>>,
    /// `service`: `lvs` or `fos`.
    pub service: Option<Located<String>>,
    /// `rsh_command`.
    pub rsh_command: Option<Located<String>>,
    /// `heartbeat`.
    pub heartbeat: Option<Located<bool>>,
    /// `heartbeat_port`.
    pub heartbeat_port: Option<Located<u16>>,
    /// `keepalive`: seconds between heartbeats.
    pub keepalive: Option<Located<u32>>,
    /// `deadtime`: seconds without a heartbeat before the backup takes over.
    pub deadtime: Option<Located<u32>>,
    /// `network`.
    pub network: Option<Located<Network>>,
    /// `nat_router`: the NAT router's address and interface.
    pub nat_router: Option<Located<AddressOn>>,
    /// `nat_nmask`.
    pub nat_nmask: Option<Located<Ipv4Addr>>,
    /// `reservation_conflict_action`.
    pub reservation_conflict_action: Option<Located<String>>,
    /// `debug_level`.
    pub debug_level: Option<Located<String>>,
    /// `monitor_links`.
    pub monitor_links: Option<Located<bool>>,
    /// `syncdaemon`.
    pub syncdaemon: Option<Located<bool>>,
    /// `syncd_iface`.
    pub syncd_iface: Option<Located<String>>,
    /// `syncd_id`.
    pub syncd_id: Option<Located<u32>>,
    /// `tcp_timeout`.
    pub tcp_timeout: Option<Located<u32>>,
    /// `tcpfin_timeout`.
    pub tcpfin_timeout: Option<Located<u32>>,
    /// `udp_timeout`.
    pub udp_timeout: Option<Located<u32>>,
    /// `hard_shutdown`.
    pub hard_shutdown: Option<Located<bool>>,
}

/// A `virtual NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtual {
    /// Its name, where the block starts.
    pub name: Located<String>,
    /// `active`.
    pub active: Option<Located<bool>>,
    /// `address = VIP [DEV:N]`.
    pub address: Option<Located<AddressOn>>,
    /// `vip_nmask`.
    pub vip_nmask: Option<Located<Ipv4Addr>>,
    /// `port`.
    pub port: Option<Located<u16>>,
    /// `fwmark`.
    pub fwmark: Option<Located<u32>>,
    /// `protocol`.
    pub protocol: Option<Located<Protocol>>,
    /// `persistent`: persistence seconds (0: none).
    pub persistent: Option<Located<u32>>,
    /// `pmask`: the persistence netmask.
    pub pmask: Option<Located<Ipv4Addr>>,
    /// `scheduler`.
    pub scheduler: Option<Located<String>>,
    /// `send`: what nanny sends (escapes resolved).
    pub send: Option<Located<String>>,
    /// `expect`: what nanny expects back (`*`: anything).
    pub expect: Option<Located<String>>,
    /// `use_regex`.
    pub use_regex: Option<Located<bool>>,
    /// `send_program`: a program run instead (`%h`, `%p`).
    pub send_program: Option<Located<String>>,
    /// `load_monitor`: `none`, `rup` or `ruptime`.
    pub load_monitor: Option<Located<String>>,
    /// `timeout`: nanny's probe interval and timeout, seconds.
    pub timeout: Option<Located<u32>>,
    /// `reentry`: seconds of success before a server is put back.
    pub reentry: Option<Located<u32>>,
    /// `quiesce_server`.
    pub quiesce_server: Option<Located<bool>>,
    /// `sorry_server`.
    pub sorry_server: Option<Located<IpAddr>>,
    /// `client_monitor`.
    pub client_monitor: Option<Located<String>>,
    /// Its servers.
    pub servers: Vec<Server>,
}

/// A `server NAME { }` of a virtual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its name, where the block starts.
    pub name: Located<String>,
    /// `address`.
    pub address: Option<Located<IpAddr>>,
    /// `active`.
    pub active: Option<Located<bool>>,
    /// `port`.
    pub port: Option<Located<u16>>,
    /// `weight`.
    pub weight: Option<Located<u32>>,
}

/// A `failover NAME { }` (Piranha's failover services, `service = fos`),
/// as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    /// Its name, where the block starts.
    pub name: Located<String>,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// A whole lvs.cf, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LvsCf {
    /// The global keys.
    pub global: Global,
    /// The virtual servers, in file order.
    pub virtuals: Vec<Virtual>,
    /// The failover services.
    pub failovers: Vec<Failover>,
    /// What parsing reported (unknown keys, keys given twice).
    pub warnings: Vec<Warning>,
}

/// Parse lvs.cf `text`, named `path` in locations.
pub fn parse(text: &str, path: &Path) -> Result<LvsCf, ImportError> {
    let tree = parse::parse_tree(text, path)?;
    let mut w = Warnings::default();
    let mut doc = LvsCf::default();
    for e in &tree.entries {
        global_entry(&mut doc.global, e, &mut w)?;
    }
    for b in &tree.blocks {
        match b.kind.value.as_str() {
            "virtual" => doc.virtuals.push(virtual_block(b, &mut w)?),
            "failover" => {
                if let Some(inner) = b.blocks.first() {
                    return Err(syntax(&inner.kind.at, "a failover block holds no blocks"));
                }
                doc.failovers.push(Failover {
                    name: b.name.clone(),
                    entries: b.entries.clone(),
                })
            }
            other => {
                return Err(syntax(
                    &b.kind.at,
                    &format!("{other}: only virtual and failover blocks are at the top level"),
                ));
            }
        }
    }
    doc.warnings = w.0;
    Ok(doc)
}

/// Read and parse the file at `path`.
pub fn parse_file(path: &Path) -> Result<LvsCf, ImportError> {
    let text = std::fs::read(path).map_err(|error| ImportError::Read {
        file: path.to_owned(),
        error,
    })?;
    parse(&String::from_utf8_lossy(&text), path)
}

fn global_entry(g: &mut Global, e: &Entry, w: &mut Warnings) -> Result<(), ImportError> {
    match e.key.value.as_str() {
        "serial_no" => set(&mut g.serial_no, text(e)?, e, w),
        "primary" => set(&mut g.primary, ip(e)?, e, w),
        "primary_private" => set(&mut g.primary_private, ip(e)?, e, w),
        "primary_shared" => set(&mut g.primary_shared, ip(e)?, e, w),
        "backup" => set(&mut g.backup, ip(e)?, e, w),
        "backup_active" => set(&mut g.backup_active, boolean(e)?, e, w),
        "backup_private" => set(&mut g.backup_private, ip(e)?, e, w),
        "backup_shared" => set(&mut g.backup_shared, ip(e)?, e, w),
        "service" => set(&mut g.service, word(e, &["lvs", "fos"])?, e, w),
        "rsh_command" => set(&mut g.rsh_command, text(e)?, e, w),
        "heartbeat" => set(&mut g.heartbeat, boolean(e)?, e, w),
        "heartbeat_port" => set(&mut g.heartbeat_port, port(e)?, e, w),
        "keepalive" => set(&mut g.keepalive, number(e)?, e, w),
        "deadtime" => set(&mut g.deadtime, number(e)?, e, w),
        "network" => {
            let n = match word(e, &["nat", "direct", "tunnel"])?.as_str() {
                "nat" => Network::Nat,
                "direct" => Network::Direct,
                _ => Network::Tunnel,
            };
            set(&mut g.network, n, e, w)
        }
        "nat_router" => set(&mut g.nat_router, address_on(e)?, e, w),
        "nat_nmask" => set(&mut g.nat_nmask, mask(e)?, e, w),
        "reservation_conflict_action" => set(&mut g.reservation_conflict_action, text(e)?, e, w),
        "debug_level" => set(&mut g.debug_level, text(e)?, e, w),
        "monitor_links" => set(&mut g.monitor_links, boolean(e)?, e, w),
        "syncdaemon" => set(&mut g.syncdaemon, boolean(e)?, e, w),
        "syncd_iface" => set(&mut g.syncd_iface, text(e)?, e, w),
        "syncd_id" => set(&mut g.syncd_id, number(e)?, e, w),
        "tcp_timeout" => set(&mut g.tcp_timeout, timeout(e)?, e, w),
        "tcpfin_timeout" => set(&mut g.tcpfin_timeout, timeout(e)?, e, w),
        "udp_timeout" => set(&mut g.udp_timeout, timeout(e)?, e, w),
        "hard_shutdown" => set(&mut g.hard_shutdown, boolean(e)?, e, w),
        other => unknown(e, other, "a global key", w),
    }
    Ok(())
}

fn virtual_block(b: &Block, w: &mut Warnings) -> Result<Virtual, ImportError> {
    let mut v = Virtual {
        name: b.name.clone(),
        active: None,
        address: None,
        vip_nmask: None,
        port: None,
        fwmark: None,
        protocol: None,
        persistent: None,
        pmask: None,
        scheduler: None,
        send: None,
        expect: None,
        use_regex: None,
        send_program: None,
        load_monitor: None,
        timeout: None,
        reentry: None,
        quiesce_server: None,
        sorry_server: None,
        client_monitor: None,
        servers: Vec::new(),
    };
    for e in &b.entries {
        match e.key.value.as_str() {
            "active" => set(&mut v.active, boolean(e)?, e, w),
            "address" => set(&mut v.address, address_on(e)?, e, w),
            "vip_nmask" => set(&mut v.vip_nmask, mask(e)?, e, w),
            "port" => set(&mut v.port, port(e)?, e, w),
            "fwmark" => set(&mut v.fwmark, number(e)?, e, w),
            "protocol" => {
                let p = match word(e, &["tcp", "udp"])?.as_str() {
                    "tcp" => Protocol::Tcp,
                    _ => Protocol::Udp,
                };
                set(&mut v.protocol, p, e, w)
            }
            "persistent" => set(&mut v.persistent, number(e)?, e, w),
            "pmask" => set(&mut v.pmask, mask(e)?, e, w),
            "scheduler" => set(&mut v.scheduler, text(e)?, e, w),
            "send" => set(&mut v.send, text(e)?, e, w),
            "expect" => set(&mut v.expect, text(e)?, e, w),
            "use_regex" => set(&mut v.use_regex, boolean(e)?, e, w),
            "send_program" => set(&mut v.send_program, text(e)?, e, w),
            "load_monitor" => set(&mut v.load_monitor, text(e)?, e, w),
            "timeout" => set(&mut v.timeout, number(e)?, e, w),
            "reentry" => set(&mut v.reentry, number(e)?, e, w),
            "quiesce_server" => set(&mut v.quiesce_server, boolean(e)?, e, w),
            "sorry_server" => set(&mut v.sorry_server, ip(e)?, e, w),
            "client_monitor" => set(&mut v.client_monitor, text(e)?, e, w),
            other => unknown(e, other, "a virtual key", w),
        }
    }
    for s in &b.blocks {
        if s.kind.value != "server" {
            return Err(syntax(
                &s.kind.at,
                &format!("{}: a virtual holds server blocks only", s.kind.value),
            ));
        }
        if let Some(inner) = s.blocks.first() {
            return Err(syntax(&inner.kind.at, "a server block holds no blocks"));
        }
        let mut server = Server {
            name: s.name.clone(),
            address: None,
            active: None,
            port: None,
            weight: None,
        };
        for e in &s.entries {
            match e.key.value.as_str() {
                "address" => set(&mut server.address, ip(e)?, e, w),
                "active" => set(&mut server.active, boolean(e)?, e, w),
                "port" => set(&mut server.port, port(e)?, e, w),
                "weight" => {
                    let n = number(e)?;
                    if n > i32::MAX as u32 {
                        return Err(value(e, "is above the kernel's maximum weight 2147483647"));
                    }
                    set(&mut server.weight, n, e, w)
                }
                other => unknown(e, other, "a server key", w),
            }
        }
        v.servers.push(server);
    }
    Ok(v)
}

// ------------------------------------------------------------------ values

fn set<T: std::fmt::Debug>(slot: &mut Option<Located<T>>, v: T, e: &Entry, w: &mut Warnings) {
    if let Some(old) = slot.replace(Located::new(v, e.key.at.clone())) {
        w.push(
            &old.at,
            WarningKind::Corrected,
            &e.key.value,
            format!(
                "set again at {}: this value ({:?}) is dropped",
                e.key.at, old.value
            ),
        );
    }
}

fn unknown(e: &Entry, key: &str, what: &str, w: &mut Warnings) {
    w.push(
        &e.key.at,
        WarningKind::UnknownKey,
        key,
        format!("not {what} Piranha knows: ignored"),
    );
}

fn syntax(at: &Location, message: &str) -> ImportError {
    ImportError::at(at, ErrorKind::Syntax, message)
}

fn value(e: &Entry, message: &str) -> ImportError {
    let at = e.values.first().map(|v| &v.at).unwrap_or(&e.key.at);
    let shown: Vec<&str> = e.values.iter().map(|v| v.value.as_str()).collect();
    ImportError::at(
        at,
        ErrorKind::Value,
        format!("{}: {:?} {message}", e.key.value, shown.join(" ")),
    )
}

fn text(e: &Entry) -> Result<String, ImportError> {
    if e.values.is_empty() {
        return Err(value(e, "is empty: a value is missing"));
    }
    Ok(e.values
        .iter()
        .map(|v| v.value.as_str())
        .collect::<Vec<_>>()
        .join(" "))
}

fn single(e: &Entry) -> Result<&str, ImportError> {
    match e.values.as_slice() {
        [v] => Ok(&v.value),
        [] => Err(value(e, "is empty: a value is missing")),
        _ => Err(value(e, "is more than one value")),
    }
}

fn word(e: &Entry, allowed: &[&str]) -> Result<String, ImportError> {
    let v = single(e)?.to_ascii_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(value(e, &format!("is not one of {}", allowed.join(", "))))
    }
}

fn number(e: &Entry) -> Result<u32, ImportError> {
    let v = single(e)?;
    match v.parse::<u32>() {
        Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(value(e, "is not a whole number")),
    }
}

/// A number, or nothing (piranha-gui writes `tcp_timeout = ` when unset): 0.
fn optional_number(e: &Entry) -> Result<u32, ImportError> {
    if e.values.is_empty() {
        Ok(0)
    } else {
        number(e)
    }
}

/// A table timeout ([`optional_number`]): pulse sets it with `ipvsadm
/// --set`, which refuses more than 31 days.
fn timeout(e: &Entry) -> Result<u32, ImportError> {
    let n = optional_number(e)?;
    if n > Timeouts::MAX_SECONDS {
        let most = Timeouts::MAX_SECONDS;
        return Err(value(
            e,
            &format!("is longer than ipvsadm --set takes ({most} seconds, 31 days)"),
        ));
    }
    Ok(n)
}

fn port(e: &Entry) -> Result<u16, ImportError> {
    let n = number(e)?;
    u16::try_from(n).map_err(|_| value(e, "is not a port (0..65535)"))
}

fn boolean(e: &Entry) -> Result<bool, ImportError> {
    match single(e)? {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(value(e, "is neither 0 nor 1")),
    }
}

fn ip(e: &Entry) -> Result<IpAddr, ImportError> {
    single(e)?
        .parse()
        .map_err(|_| value(e, "is not an IP address"))
}

fn mask(e: &Entry) -> Result<Ipv4Addr, ImportError> {
    single(e)?
        .parse()
        .map_err(|_| value(e, "is not a netmask (such as 255.255.255.0)"))
}

fn address_on(e: &Entry) -> Result<AddressOn, ImportError> {
    match e.values.as_slice() {
        [a] | [a, _] => Ok(AddressOn {
            address: a
                .value
                .parse()
                .map_err(|_| value(e, "does not start with an IP address"))?,
            interface: e.values.get(1).map(|d| d.value.clone()),
        }),
        [] => Err(value(e, "is empty: an address is missing")),
        _ => Err(value(e, "is more than an address and an interface")),
    }
}
