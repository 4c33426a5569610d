//! keepalived.conf as a typed document: the parts this crate reads
//! (`global_defs`' LVS settings, `virtual_server_group`, `virtual_server`
//! with its real servers and checkers, `vrrp_instance`), every value with
//! where it was written. Keys that belong elsewhere in keepalived
//! (notification e-mail, VRRP scripts...) and keys keepalived does not
//! know are warnings, made while the document is built.

use std::net::IpAddr;
use std::time::Duration;

use super::parse::{Statement, Word};
use crate::import::{ErrorKind, ImportError, Located, Location, WarningKind, Warnings};
use crate::model::{AddressFamily, Protocol, Tunnel, TunnelChecksum};

/// A whole keepalived.conf (includes followed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `global_defs`: the LVS-related settings.
    pub global_defs: GlobalDefs,
    /// Every `virtual_server_group`.
    pub groups: Vec<VirtualServerGroup>,
    /// Every `virtual_server`, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// Every `vrrp_instance` (its statements, read by the failover settings).
    pub vrrp_instances: Vec<VrrpInstance>,
}

/// The LVS-related settings of `global_defs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalDefs {
    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`: the table's connection
    /// timeouts (unset ones 0: left alone).
    pub lvs_timeouts: Option<Located<crate::model::Timeouts>>,
    /// `lvs_sync_daemon IFACE [inst VRRP_INSTANCE] [id N] ...`, as written.
    pub lvs_sync_daemon: Option<Located<Vec<String>>>,
    /// `router_id`.
    pub router_id: Option<Located<String>>,
}

/// One line of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEntry {
    /// An address (or a range `192.0.2.10-20`, `192.0.2.10-192.0.2.20`,
    /// `192.0.2.8/29`) and a port (0 when none is given).
    Addresses {
        /// The first address.
        first: IpAddr,
        /// The last address (the first, for a single address).
        last: IpAddr,
        /// The port.
        port: u16,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        /// The mark.
        mark: u32,
        /// The family, if written.
        family: Option<AddressFamily>,
    },
}

/// A `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServerGroup {
    /// Its name, where the group is defined.
    pub name: Located<String>,
    /// Its entries, in order.
    pub entries: Vec<Located<GroupEntry>>,
}

/// What a `virtual_server` balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualServerId {
    /// `virtual_server IP PORT` (port 0 or none: every port).
    Address {
        /// The virtual IP.
        address: IpAddr,
        /// The port.
        port: u16,
    },
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// A forwarding method as keepalived writes it: `NAT`, `DR`, or `TUN`
/// with its tunnel options (`TUN type gue port 6080 csum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `NAT`.
    Nat,
    /// `DR`.
    DirectRoute,
    /// `TUN`, with its encapsulation.
    Tunnel(Tunnel),
}

/// A scheduler flag (`ops`, `flag-1`, `sh-port`, `hashed`...) and the
/// scheduler set before it: keepalived reads `sh-*`/`mh-*` flags only
/// after `lvs_sched sh`/`mh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerFlag {
    /// The flag's keyword.
    pub name: String,
    /// The scheduler set when the flag was read.
    pub scheduler_then: Option<String>,
}

/// A `virtual_server { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServer {
    /// What it balances, where it is defined.
    pub id: Located<VirtualServerId>,
    /// `ip_family inet|inet6`.
    pub ip_family: Option<Located<AddressFamily>>,
    /// `lvs_sched` / `lb_algo`.
    pub scheduler: Option<Located<String>>,
    /// Scheduler flags, in order.
    pub flags: Vec<Located<SchedulerFlag>>,
    /// `lvs_method` / `lb_kind`.
    pub method: Option<Located<Method>>,
    /// `persistence_timeout` (bare: 360).
    pub persistence_timeout: Option<Located<u32>>,
    /// `persistence_granularity`, as written (an IPv4 mask or an IPv6
    /// prefix length).
    pub persistence_granularity: Option<Located<String>>,
    /// `persistence_engine`.
    pub persistence_engine: Option<Located<String>>,
    /// `protocol`.
    pub protocol: Option<Located<Protocol>>,
    /// `weight`: real servers' default weight.
    pub weight: Option<Located<u32>>,
    /// `quorum`.
    pub quorum: Option<Located<u32>>,
    /// `hysteresis`.
    pub hysteresis: Option<Located<u32>>,
    /// `quorum_up` script, as written.
    pub quorum_up: Option<Located<Vec<String>>>,
    /// `quorum_down` script, as written.
    pub quorum_down: Option<Located<Vec<String>>>,
    /// `alpha`.
    pub alpha: Option<Located<bool>>,
    /// `omega`.
    pub omega: Option<Located<bool>>,
    /// `inhibit_on_failure` (real servers' default).
    pub inhibit_on_failure: Option<Located<bool>>,
    /// `ha_suspend`.
    pub ha_suspend: Option<Located<bool>>,
    /// `sorry_server IP [PORT]`.
    pub sorry_server: Option<Located<(IpAddr, u16)>>,
    /// `sorry_server_inhibit`.
    pub sorry_server_inhibit: Option<Located<bool>>,
    /// `sorry_server_lvs_method`.
    pub sorry_server_method: Option<Located<Method>>,
    /// Checker timing defaults for its real servers.
    pub timing: Timing,
    /// `virtualhost` (HTTP checkers' default Host).
    pub virtualhost: Option<Located<String>>,
    /// The real servers.
    pub real_servers: Vec<RealServer>,
}

/// Checker timing settings, at virtual server, real server or checker level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// `delay_loop`: the interval between checks.
    pub delay_loop: Option<Located<Duration>>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Located<Duration>>,
    /// `retry` (or `nb_get_retry`).
    pub retry: Option<Located<u32>>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Located<Duration>>,
    /// `warmup`.
    pub warmup: Option<Located<Duration>>,
}

/// A `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    /// Where it is defined.
    pub at: Location,
    /// Its address.
    pub address: IpAddr,
    /// Its port (0 when none is given).
    pub port: u16,
    /// `weight`.
    pub weight: Option<Located<u32>>,
    /// `lvs_method`.
    pub method: Option<Located<Method>>,
    /// `uthreshold`.
    pub upper_threshold: Option<Located<u32>>,
    /// `lthreshold`.
    pub lower_threshold: Option<Located<u32>>,
    /// `inhibit_on_failure`.
    pub inhibit_on_failure: Option<Located<bool>>,
    /// `alpha`.
    pub alpha: Option<Located<bool>>,
    /// `notify_up` script, as written.
    pub notify_up: Option<Located<Vec<String>>>,
    /// `notify_down` script, as written.
    pub notify_down: Option<Located<Vec<String>>>,
    /// `virtualhost`.
    pub virtualhost: Option<Located<String>>,
    /// Checker timing defaults.
    pub timing: Timing,
    /// Its checkers.
    pub checkers: Vec<Checker>,
}

/// The checker kinds keepalived 2.2 has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckerKind {
    /// `TCP_CHECK`.
    Tcp,
    /// `HTTP_GET`.
    HttpGet,
    /// `SSL_GET`.
    SslGet,
    /// `MISC_CHECK`.
    Misc,
    /// `DNS_CHECK`.
    Dns,
    /// `UDP_CHECK`.
    Udp,
    /// `FILE_CHECK`.
    File,
    /// `SMTP_CHECK`.
    Smtp,
    /// `PING_CHECK`.
    Ping,
    /// `BFD_CHECK`.
    Bfd,
}

impl CheckerKind {
    /// The keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::HttpGet => "HTTP_GET",
            CheckerKind::SslGet => "SSL_GET",
            CheckerKind::Misc => "MISC_CHECK",
            CheckerKind::Dns => "DNS_CHECK",
            CheckerKind::Udp => "UDP_CHECK",
            CheckerKind::File => "FILE_CHECK",
            CheckerKind::Smtp => "SMTP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::Bfd => "BFD_CHECK",
        }
    }

    fn from_keyword(k: &str) -> Option<Self> {
        Some(match k {
            "TCP_CHECK" => CheckerKind::Tcp,
            "HTTP_GET" => CheckerKind::HttpGet,
            "SSL_GET" => CheckerKind::SslGet,
            "MISC_CHECK" => CheckerKind::Misc,
            "DNS_CHECK" => CheckerKind::Dns,
            "UDP_CHECK" => CheckerKind::Udp,
            "FILE_CHECK" => CheckerKind::File,
            "SMTP_CHECK" => CheckerKind::Smtp,
            "PING_CHECK" => CheckerKind::Ping,
            "BFD_CHECK" => CheckerKind::Bfd,
            _ => return None,
        })
    }
}

/// A checker block of a real server.
#[derive(Debug, Clone, PartialEq)]
pub struct Checker {
    /// Where it is defined.
    pub at: Location,
    /// Its kind.
    pub kind: CheckerKind,
    /// `connect_ip`.
    pub connect_ip: Option<Located<IpAddr>>,
    /// `connect_port`.
    pub connect_port: Option<Located<u16>>,
    /// `bindto`.
    pub bind_to: Option<Located<IpAddr>>,
    /// `alpha`.
    pub alpha: Option<Located<bool>>,
    /// Timing (`retry` and `nb_get_retry` both give `retry`).
    pub timing: Timing,
    /// The kind's own settings (`url`, `misc_path`, `type`, `payload`...),
    /// as written.
    pub settings: Vec<Statement>,
}

/// A `vrrp_instance NAME { ... }`, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// Its name, where it is defined.
    pub name: Located<String>,
    /// Its statements.
    pub statements: Vec<Statement>,
}

// ------------------------------------------------------------------ building

/// Top-level keywords keepalived 2.2 knows that the table does not hold.
const OTHER_TOP_LEVEL: &[&str] = &[
    "vrrp_sync_group",
    "vrrp_script",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "linkbeat_use_polling",
    "garp_group",
    "SSL",
    "bfd_instance",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "use_pid_dir",
    "instance",
    "child_wait_time",
];

/// Build the document from the syntax tree.
pub(crate) fn build(statements: &[Statement], w: &mut Warnings) -> Result<Config, ImportError> {
    let mut config = Config::default();
    for s in statements {
        match s.key() {
            "global_defs" => global_defs(s, &mut config.global_defs, w)?,
            "virtual_server_group" => config.groups.push(group(s, w)?),
            "virtual_server" => config.virtual_servers.push(virtual_server(s, w)?),
            "vrrp_instance" => config.vrrp_instances.push(VrrpInstance {
                name: Located::new(name_arg(s)?.text.clone(), s.at().clone()),
                statements: s.children().to_vec(),
            }),
            k if OTHER_TOP_LEVEL.contains(&k) => w.push(
                s.at(),
                WarningKind::NotCarriedOver,
                k,
                "keepalived setting with no counterpart in the table, health or failover settings",
            ),
            k => w.push(
                s.at(),
                WarningKind::UnknownKey,
                k,
                "not a keepalived keyword at the top level: ignored",
            ),
        }
    }
    Ok(config)
}

fn global_defs(s: &Statement, g: &mut GlobalDefs, w: &mut Warnings) -> Result<(), ImportError> {
    for c in s.children() {
        match c.key() {
            "lvs_timeouts" => {
                let mut t = crate::model::Timeouts::UNCHANGED;
                let args = c.args();
                if args.len() < 2 {
                    return Err(value_error(
                        c.at(),
                        "lvs_timeouts",
                        "needs at least one of tcp N, tcpfin N, udp N",
                    ));
                }
                let mut i = 0;
                while i < args.len() {
                    let slot = match args[i].text.as_str() {
                        "tcp" => &mut t.tcp,
                        "tcpfin" => &mut t.tcp_fin,
                        "udp" => &mut t.udp,
                        other => {
                            return Err(value_error(
                                &args[i].at,
                                "lvs_timeouts",
                                &format!("unknown option {other:?} (tcp, tcpfin, udp)"),
                            ));
                        }
                    };
                    let v = args.get(i + 1).ok_or_else(|| {
                        value_error(&args[i].at, "lvs_timeouts", "a value is missing")
                    })?;
                    *slot = number(v, "lvs_timeouts", 0, crate::model::Timeouts::MAX_SECONDS)?;
                    i += 2;
                }
                set(&mut g.lvs_timeouts, t, c, w);
            }
            "lvs_sync_daemon" => {
                name_arg(c)?;
                let words = c.args().iter().map(|a| a.text.clone()).collect();
                set(&mut g.lvs_sync_daemon, words, c, w);
            }
            "router_id" => {
                let v = name_arg(c)?.text.clone();
                set(&mut g.router_id, v, c, w);
            }
            // keepalived's check of its scripts' file permissions, and the
            // user they run as: a run's programs run as the run itself
            // (root, to change the table), which is what `script_user root`
            // says; the permission check changes nothing that runs.
            #[cfg(feature = "health")]
            "enable_script_security" if c.args().is_empty() => {}
            #[cfg(feature = "health")]
            "script_user" if c.args().len() == 1 && c.args()[0].text == "root" => {}
            k => w.push(
                c.at(),
                WarningKind::NotCarriedOver,
                k,
                "global_defs setting with no counterpart in the table, health or failover settings",
            ),
        }
    }
    Ok(())
}

fn group(s: &Statement, w: &mut Warnings) -> Result<VirtualServerGroup, ImportError> {
    let name = Located::new(name_arg(s)?.text.clone(), s.at().clone());
    let mut entries = Vec::new();
    for c in s.children() {
        if c.block.is_some() {
            return Err(syntax(c.at(), "a virtual_server_group entry has no block"));
        }
        let entry = if c.key() == "fwmark" {
            let mark = number(first_arg(c)?, "fwmark", 0, u32::MAX)?;
            let family = match c.args().get(1).map(|a| a.text.as_str()) {
                None => None,
                Some("inet") => Some(AddressFamily::Ipv4),
                Some("inet6") => Some(AddressFamily::Ipv6),
                Some(other) => {
                    return Err(value_error(
                        &c.args()[1].at,
                        "fwmark",
                        &format!("family {other:?} is neither inet nor inet6"),
                    ));
                }
            };
            GroupEntry::Fwmark { mark, family }
        } else {
            let port = match c.args().first() {
                Some(p) => port(p)?,
                None => 0,
            };
            let (first, last) = address_range(&c.words[0])?;
            GroupEntry::Addresses { first, last, port }
        };
        if c.args().len() > 2 || (c.key() != "fwmark" && c.args().len() > 1) {
            extra_args(c, w);
        }
        entries.push(Located::new(entry, c.at().clone()));
    }
    Ok(VirtualServerGroup { name, entries })
}

fn virtual_server(s: &Statement, w: &mut Warnings) -> Result<VirtualServer, ImportError> {
    let first = first_arg(s)?;
    let id = match first.text.as_str() {
        "group" => VirtualServerId::Group(
            s.args()
                .get(1)
                .ok_or_else(|| {
                    value_error(&first.at, "virtual_server group", "needs a group name")
                })?
                .text
                .clone(),
        ),
        "fwmark" => {
            let m = s
                .args()
                .get(1)
                .ok_or_else(|| value_error(&first.at, "virtual_server fwmark", "needs a mark"))?;
            VirtualServerId::Fwmark(number(m, "fwmark", 1, u32::MAX)?)
        }
        _ => VirtualServerId::Address {
            address: ip(first)?,
            port: match s.args().get(1) {
                Some(p) => port(p)?,
                None => 0,
            },
        },
    };
    if s.args().len() > 2 {
        extra_args(s, w);
    }
    let mut vs = VirtualServer {
        id: Located::new(id, s.at().clone()),
        ip_family: None,
        scheduler: None,
        flags: Vec::new(),
        method: None,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        protocol: None,
        weight: None,
        quorum: None,
        hysteresis: None,
        quorum_up: None,
        quorum_down: None,
        alpha: None,
        omega: None,
        inhibit_on_failure: None,
        ha_suspend: None,
        sorry_server: None,
        sorry_server_inhibit: None,
        sorry_server_method: None,
        timing: Timing::default(),
        virtualhost: None,
        real_servers: Vec::new(),
    };
    for c in s.children() {
        let key = c.key();
        if timing(c, &mut vs.timing, w)? {
            continue;
        }
        match key {
            "ip_family" => {
                let f = match first_arg(c)?.text.as_str() {
                    "inet" => AddressFamily::Ipv4,
                    "inet6" => AddressFamily::Ipv6,
                    other => {
                        return Err(value_error(
                            c.at(),
                            key,
                            &format!("{other:?} is neither inet nor inet6"),
                        ));
                    }
                };
                set(&mut vs.ip_family, f, c, w);
            }
            "lvs_sched" | "lb_algo" => {
                let v = first_arg(c)?.text.clone();
                set(&mut vs.scheduler, v, c, w);
            }
            "ops" | "hashed" | "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback"
            | "mh-port" | "mh-fallback" => vs.flags.push(Located::new(
                SchedulerFlag {
                    name: key.to_owned(),
                    scheduler_then: vs.scheduler.as_ref().map(|s| s.value.clone()),
                },
                c.at().clone(),
            )),
            "lvs_method" | "lb_kind" => read(&mut vs.method, c, w, method)?,
            "persistence_timeout" => {
                let v = match c.args().first() {
                    None => 360,
                    Some(a) => number(a, key, 1, 86400 * 31)?,
                };
                set(&mut vs.persistence_timeout, v, c, w);
            }
            "persistence_granularity" => {
                let v = first_arg(c)?.text.clone();
                set(&mut vs.persistence_granularity, v, c, w);
            }
            "persistence_engine" => {
                let v = first_arg(c)?.text.clone();
                set(&mut vs.persistence_engine, v, c, w);
            }
            "protocol" => {
                let p = match first_arg(c)?.text.to_ascii_uppercase().as_str() {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    other => {
                        return Err(value_error(
                            c.at(),
                            key,
                            &format!("{other:?} is not TCP, UDP or SCTP"),
                        ));
                    }
                };
                set(&mut vs.protocol, p, c, w);
            }
            "weight" => read(&mut vs.weight, c, w, |c| {
                number(first_arg(c)?, key, 1, i32::MAX as u32)
            })?,
            "quorum" => read(&mut vs.quorum, c, w, |c| {
                number(first_arg(c)?, key, 1, u32::MAX)
            })?,
            "hysteresis" => read(&mut vs.hysteresis, c, w, |c| {
                number(first_arg(c)?, key, 0, u32::MAX)
            })?,
            "quorum_up" => read(&mut vs.quorum_up, c, w, script)?,
            "quorum_down" => read(&mut vs.quorum_down, c, w, script)?,
            "alpha" => read(&mut vs.alpha, c, w, flag)?,
            "omega" => read(&mut vs.omega, c, w, flag)?,
            "inhibit_on_failure" => read(&mut vs.inhibit_on_failure, c, w, flag)?,
            "ha_suspend" => read(&mut vs.ha_suspend, c, w, flag)?,
            "sorry_server" => {
                let a = ip(first_arg(c)?)?;
                let p = match c.args().get(1) {
                    Some(p) => port(p)?,
                    None => 0,
                };
                set(&mut vs.sorry_server, (a, p), c, w);
            }
            "sorry_server_inhibit" => read(&mut vs.sorry_server_inhibit, c, w, flag)?,
            "sorry_server_lvs_method" => read(&mut vs.sorry_server_method, c, w, method)?,
            "virtualhost" => {
                let v = first_arg(c)?.text.clone();
                set(&mut vs.virtualhost, v, c, w);
            }
            "real_server" => vs.real_servers.push(real_server(c, w)?),
            "smtp_alert" | "snmp_name" => w.push(
                c.at(),
                WarningKind::NotCarriedOver,
                key,
                "no counterpart (e-mail alerts and SNMP are keepalived's own)",
            ),
            _ => w.push(
                c.at(),
                WarningKind::UnknownKey,
                key,
                "not a virtual_server keyword: ignored",
            ),
        }
    }
    Ok(vs)
}

fn real_server(s: &Statement, w: &mut Warnings) -> Result<RealServer, ImportError> {
    let address = ip(first_arg(s)?)?;
    let port = match s.args().get(1) {
        Some(p) => port(p)?,
        None => 0,
    };
    if s.args().len() > 2 {
        extra_args(s, w);
    }
    let mut rs = RealServer {
        at: s.at().clone(),
        address,
        port,
        weight: None,
        method: None,
        upper_threshold: None,
        lower_threshold: None,
        inhibit_on_failure: None,
        alpha: None,
        notify_up: None,
        notify_down: None,
        virtualhost: None,
        timing: Timing::default(),
        checkers: Vec::new(),
    };
    for c in s.children() {
        let key = c.key();
        if timing(c, &mut rs.timing, w)? {
            continue;
        }
        if let Some(kind) = CheckerKind::from_keyword(key) {
            rs.checkers.push(checker(c, kind, w)?);
            continue;
        }
        match key {
            "weight" => read(&mut rs.weight, c, w, |c| {
                number(first_arg(c)?, key, 0, i32::MAX as u32)
            })?,
            "lvs_method" => read(&mut rs.method, c, w, method)?,
            "uthreshold" => read(&mut rs.upper_threshold, c, w, |c| {
                number(first_arg(c)?, key, 0, u32::MAX)
            })?,
            "lthreshold" => read(&mut rs.lower_threshold, c, w, |c| {
                number(first_arg(c)?, key, 0, u32::MAX)
            })?,
            "inhibit_on_failure" => read(&mut rs.inhibit_on_failure, c, w, flag)?,
            "alpha" => read(&mut rs.alpha, c, w, flag)?,
            "notify_up" => read(&mut rs.notify_up, c, w, script)?,
            "notify_down" => read(&mut rs.notify_down, c, w, script)?,
            "virtualhost" => {
                let v = first_arg(c)?.text.clone();
                set(&mut rs.virtualhost, v, c, w);
            }
            "smtp_alert" | "snmp_name" => w.push(
                c.at(),
                WarningKind::NotCarriedOver,
                key,
                "no counterpart (e-mail alerts and SNMP are keepalived's own)",
            ),
            _ => w.push(
                c.at(),
                WarningKind::UnknownKey,
                key,
                "not a real_server keyword: ignored",
            ),
        }
    }
    Ok(rs)
}

fn checker(s: &Statement, kind: CheckerKind, w: &mut Warnings) -> Result<Checker, ImportError> {
    let mut ck = Checker {
        at: s.at().clone(),
        kind,
        connect_ip: None,
        connect_port: None,
        bind_to: None,
        alpha: None,
        timing: Timing::default(),
        settings: Vec::new(),
    };
    for c in s.children() {
        if timing(c, &mut ck.timing, w)? {
            continue;
        }
        match c.key() {
            "connect_ip" => read(&mut ck.connect_ip, c, w, |c| ip(first_arg(c)?))?,
            "connect_port" => read(&mut ck.connect_port, c, w, |c| port(first_arg(c)?))?,
            "bindto" => read(&mut ck.bind_to, c, w, |c| ip(first_arg(c)?))?,
            "alpha" => read(&mut ck.alpha, c, w, flag)?,
            _ => ck.settings.push(c.clone()),
        }
    }
    Ok(ck)
}

/// Read a timing key into `t`; false if `s` is not one.
fn timing(s: &Statement, t: &mut Timing, w: &mut Warnings) -> Result<bool, ImportError> {
    match s.key() {
        "delay_loop" => read(&mut t.delay_loop, s, w, |s| {
            timer(first_arg(s)?, "delay_loop")
        })?,
        "connect_timeout" => read(&mut t.connect_timeout, s, w, |s| {
            timer(first_arg(s)?, "connect_timeout")
        })?,
        "retry" | "nb_get_retry" => read(&mut t.retry, s, w, |s| {
            number(first_arg(s)?, s.key(), 0, u32::MAX)
        })?,
        "delay_before_retry" => read(&mut t.delay_before_retry, s, w, |s| {
            timer(first_arg(s)?, "delay_before_retry")
        })?,
        "warmup" => read(&mut t.warmup, s, w, |s| timer(first_arg(s)?, "warmup"))?,
        _ => return Ok(false),
    }
    Ok(true)
}

// ------------------------------------------------------------------ values

/// Set a key once; a second time, the later value counts (as in
/// keepalived) and the earlier one is reported dropped.
/// Read `s`'s value with `value` into `slot` (see [`set`]).
fn read<T: std::fmt::Debug>(
    slot: &mut Option<Located<T>>,
    s: &Statement,
    w: &mut Warnings,
    value: impl FnOnce(&Statement) -> Result<T, ImportError>,
) -> Result<(), ImportError> {
    let v = value(s)?;
    set(slot, v, s, w);
    Ok(())
}

fn set<T: std::fmt::Debug>(
    slot: &mut Option<Located<T>>,
    value: T,
    s: &Statement,
    w: &mut Warnings,
) {
    if let Some(old) = slot.replace(Located::new(value, s.at().clone())) {
        w.push(
            &old.at,
            WarningKind::Corrected,
            s.key(),
            format!(
                "set again at {}: this value ({:?}) is dropped",
                s.at(),
                old.value
            ),
        );
    }
}

fn syntax(at: &Location, message: &str) -> ImportError {
    ImportError::at(at, ErrorKind::Syntax, message)
}

pub(crate) fn value_error(at: &Location, key: &str, message: &str) -> ImportError {
    ImportError::at(at, ErrorKind::Value, format!("{key}: {message}"))
}

fn first_arg(s: &Statement) -> Result<&Word, ImportError> {
    s.args()
        .first()
        .ok_or_else(|| value_error(s.at(), s.key(), "a value is missing"))
}

fn name_arg(s: &Statement) -> Result<&Word, ImportError> {
    first_arg(s)
}

fn extra_args(s: &Statement, w: &mut Warnings) {
    let extra: Vec<&str> = s.args().iter().skip(2).map(|a| a.text.as_str()).collect();
    w.push(
        s.at(),
        WarningKind::Corrected,
        s.key(),
        format!("extra words {extra:?} ignored, as keepalived ignores them"),
    );
}

pub(crate) fn number(w: &Word, key: &str, min: u32, max: u32) -> Result<u32, ImportError> {
    match w.text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) && w.text.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => Err(value_error(
            &w.at,
            key,
            &format!("{:?} is not a whole number from {min} to {max}", w.text),
        )),
    }
}

/// A keepalived timer: seconds, with up to six decimals.
fn timer(w: &Word, key: &str) -> Result<Duration, ImportError> {
    let bad = || {
        value_error(
            &w.at,
            key,
            &format!("{:?} is not a number of seconds (such as 3 or 1.5)", w.text),
        )
    };
    let (whole, frac) = w.text.split_once('.').unwrap_or((&w.text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return Err(bad());
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    if secs > u64::from(u32::MAX) {
        return Err(bad());
    }
    let micros: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().map_err(|_| bad())?
    };
    Ok(Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
}

pub(crate) fn ip(w: &Word) -> Result<IpAddr, ImportError> {
    let text = w
        .text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(&w.text);
    text.parse().map_err(|_| {
        value_error(
            &w.at,
            "address",
            &format!("{:?} is not an IP address", w.text),
        )
    })
}

fn port(w: &Word) -> Result<u16, ImportError> {
    Ok(number(w, "port", 0, 65535)? as u16)
}

/// A flag keyword: alone it is on; `true`/`false` (yes/no, on/off) given.
fn flag(s: &Statement) -> Result<bool, ImportError> {
    match s.args().first().map(|a| a.text.to_ascii_lowercase()) {
        None => Ok(true),
        Some(v) => match v.as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(value_error(
                s.at(),
                s.key(),
                &format!("{v:?} is not true or false"),
            )),
        },
    }
}

fn script(s: &Statement) -> Result<Vec<String>, ImportError> {
    first_arg(s)?;
    Ok(s.args().iter().map(|a| a.text.clone()).collect())
}

/// `NAT`, `DR`, or `TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`.
fn method(s: &Statement) -> Result<Method, ImportError> {
    let key = s.key();
    let first = first_arg(s)?;
    let m = match first.text.as_str() {
        "NAT" => Method::Nat,
        "DR" => Method::DirectRoute,
        "TUN" => {
            let args = &s.args()[1..];
            let mut kind = "ipip";
            let mut port_n: u16 = 0;
            let mut csum = TunnelChecksum::None;
            let mut i = 0;
            while i < args.len() {
                let a = &args[i];
                match a.text.as_str() {
                    "type" => {
                        let t = args.get(i + 1).ok_or_else(|| {
                            value_error(&a.at, key, "type needs ipip, gue or gre")
                        })?;
                        kind = match t.text.as_str() {
                            "ipip" => "ipip",
                            "gue" => "gue",
                            "gre" => "gre",
                            other => {
                                return Err(value_error(
                                    &t.at,
                                    key,
                                    &format!("tunnel type {other:?} is not ipip, gue or gre"),
                                ));
                            }
                        };
                        i += 1;
                    }
                    "port" => {
                        let p = args
                            .get(i + 1)
                            .ok_or_else(|| value_error(&a.at, key, "port needs a number"))?;
                        port_n = number(p, key, 1, 65535)? as u16;
                        i += 1;
                    }
                    "nocsum" => csum = TunnelChecksum::None,
                    "csum" => csum = TunnelChecksum::Checksum,
                    "remcsum" => csum = TunnelChecksum::Remote,
                    other => {
                        return Err(value_error(
                            &a.at,
                            key,
                            &format!("unknown tunnel option {other:?}"),
                        ));
                    }
                }
                i += 1;
            }
            let tunnel = match kind {
                "gue" if port_n == 0 => {
                    return Err(value_error(&first.at, key, "a gue tunnel needs a port"));
                }
                "gue" => Tunnel::Gue {
                    port: port_n,
                    checksum: csum,
                },
                _ if port_n != 0 => {
                    return Err(value_error(&first.at, key, "only gue tunnels have a port"));
                }
                "gre" if csum == TunnelChecksum::Remote => {
                    return Err(value_error(&first.at, key, "gre tunnels have no remcsum"));
                }
                "gre" => Tunnel::Gre { checksum: csum },
                _ if csum != TunnelChecksum::None => {
                    return Err(value_error(
                        &first.at,
                        key,
                        "ipip tunnels have no checksum option",
                    ));
                }
                _ => Tunnel::Ipip,
            };
            Method::Tunnel(tunnel)
        }
        other => {
            return Err(value_error(
                &first.at,
                key,
                &format!("{other:?} is not NAT, DR or TUN"),
            ));
        }
    };
    if !matches!(m, Method::Tunnel(_)) && s.args().len() > 1 {
        return Err(value_error(&s.args()[1].at, key, "only TUN takes options"));
    }
    Ok(m)
}

/// An address or a range of a `virtual_server_group`.
fn address_range(w: &Word) -> Result<(IpAddr, IpAddr), ImportError> {
    let bad = |why: &str| {
        value_error(
            &w.at,
            "virtual_server_group",
            &format!("{:?}: {why}", w.text),
        )
    };
    let text = w.text.as_str();
    if let Some((addr, mask)) = text.split_once('/') {
        let first: IpAddr = addr.parse().map_err(|_| bad("not an address"))?;
        let bits: u32 = mask.parse().map_err(|_| bad("not a prefix length"))?;
        return match first {
            IpAddr::V4(a) => {
                if bits == 0 || bits > 32 {
                    return Err(bad("prefix length out of 1..32"));
                }
                let host = u32::MAX.checked_shr(bits).unwrap_or(0);
                let a = u32::from(a);
                if a & host != 0 {
                    return Err(bad("host bits set below the prefix"));
                }
                Ok((first, IpAddr::V4((a | host).into())))
            }
            IpAddr::V6(a) => {
                if bits == 0 || bits > 128 {
                    return Err(bad("prefix length out of 1..128"));
                }
                let host = u128::MAX.checked_shr(bits).unwrap_or(0);
                let a = u128::from(a);
                if a & host != 0 {
                    return Err(bad("host bits set below the prefix"));
                }
                Ok((first, IpAddr::V6((a | host).into())))
            }
        };
    }
    let Some((addr, end)) = text.split_once('-') else {
        let a: IpAddr = text.parse().map_err(|_| bad("not an address"))?;
        return Ok((a, a));
    };
    let first: IpAddr = addr.parse().map_err(|_| bad("not an address"))?;
    let last = match first {
        IpAddr::V4(_) if end.contains('.') => end
            .parse::<IpAddr>()
            .map_err(|_| bad("range end is not an address"))?,
        IpAddr::V6(_) if end.contains(':') => end
            .parse::<IpAddr>()
            .map_err(|_| bad("range end is not an address"))?,
        IpAddr::V4(a) => {
            let n: u8 = end.parse().map_err(|_| bad("range end is not 0..255"))?;
            let mut o = a.octets();
            if n <= o[3] {
                return Err(bad("range end is not above the start"));
            }
            o[3] = n;
            IpAddr::V4(o.into())
        }
        IpAddr::V6(a) => {
            let n =
                u16::from_str_radix(end, 16).map_err(|_| bad("range end is not hex 0..ffff"))?;
            let mut s = a.segments();
            if n <= s[7] {
                return Err(bad("range end is not above the start"));
            }
            s[7] = n;
            IpAddr::V6(s.into())
        }
    };
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => Ok((first, last)),
        (IpAddr::V6(a), IpAddr::V6(b)) if u128::from(a) <= u128::from(b) => Ok((first, last)),
        _ => Err(bad("range end is below the start, or of another family")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn word(s: &str) -> Word {
        Word {
            text: s.into(),
            at: Location::new(Arc::from(Path::new("t")), 1, 1),
        }
    }

    #[test]
    fn ranges() {
        let r = |s: &str| address_range(&word(s)).map(|(a, b)| format!("{a} {b}"));
        assert_eq!(r("192.0.2.10-20").unwrap(), "192.0.2.10 192.0.2.20");
        assert_eq!(r("192.0.2.10-192.0.2.12").unwrap(), "192.0.2.10 192.0.2.12");
        assert_eq!(r("192.0.2.8/30").unwrap(), "192.0.2.8 192.0.2.11");
        assert_eq!(r("2001:db8::10-1f").unwrap(), "2001:db8::10 2001:db8::1f");
        assert!(r("192.0.2.10-5").is_err());
        assert!(r("192.0.2.9/30").is_err());
    }

    #[test]
    fn timers() {
        assert_eq!(timer(&word("3"), "k").unwrap(), Duration::from_secs(3));
        assert_eq!(
            timer(&word("1.5"), "k").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(timer(&word("1s"), "k").is_err());
        assert!(timer(&word("."), "k").is_err());
    }
}
