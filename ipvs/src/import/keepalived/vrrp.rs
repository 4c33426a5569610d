//! keepalived's `vrrp_instance` (and `lvs_sync_daemon`) to and from
//! [`failover::Settings`] (feature `failover`).
//!
//! One instance is carried over: the one `lvs_sync_daemon` names, else the
//! first. Its `interface`, `virtual_router_id`, `priority`, `advert_int`,
//! `nopreempt`/`preempt_delay`, `virtual_ipaddress` (on the instance's
//! interface), `unicast_src_ip`/`unicast_peer` and the sync daemon's
//! interface, id, port and group map one to one; everything else of the
//! instance (`state`, `authentication`, `track_*`, `notify_*`, garp
//! settings, VIPs on other interfaces...) is a warning.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::document::{Config, VrrpInstance, value_error};
use super::parse::Statement;
use crate::failover::{Settings, Unicast, Vip};
use crate::import::{ErrorKind, ImportError, Location, WarningKind, Warnings};

/// keepalived's priority when none is given.
const DEFAULT_PRIORITY: u32 = 100;

/// The failover settings of `config`'s VRRP instances, if it has any.
pub(crate) fn to_settings(
    config: &Config,
    w: &mut Warnings,
) -> Result<Option<Settings>, ImportError> {
    let sync = config.global_defs.lvs_sync_daemon.as_ref();
    let sync_inst = sync.and_then(|s| {
        let words = &s.value;
        words
            .iter()
            .position(|x| x == "inst")
            .and_then(|i| words.get(i + 1))
            .or_else(|| {
                words
                    .get(1)
                    .filter(|x| !matches!(x.as_str(), "id" | "maxlen" | "port" | "ttl" | "group"))
            })
            .cloned()
    });
    let chosen = match &sync_inst {
        Some(name) => config.vrrp_instances.iter().find(|v| &v.name.value == name),
        None => config.vrrp_instances.first(),
    };
    for v in &config.vrrp_instances {
        if chosen.is_some_and(|c| std::ptr::eq(c, v)) {
            continue;
        }
        w.push(
            &v.name.at,
            WarningKind::NotCarriedOver,
            format!("vrrp_instance {}", v.name.value),
            "the failover settings hold one instance (the one lvs_sync_daemon names, else the first)",
        );
    }
    let Some(v) = chosen else {
        if let Some(s) = sync {
            w.push(
                &s.at,
                WarningKind::NotCarriedOver,
                "lvs_sync_daemon",
                "no vrrp_instance of that name: no failover settings",
            );
        }
        return Ok(None);
    };
    let mut settings = instance(v, w)?;
    match sync {
        Some(s) => {
            sync_daemon(&s.value, &s.at, &mut settings, w)?;
            // The settings' defaults: the VRRP interface and virtual router id.
            if settings.sync.interface.as_deref() == Some(settings.interface.as_str()) {
                settings.sync.interface = None;
            }
            if settings.sync.sync_id == Some(settings.virtual_router_id) {
                settings.sync.sync_id = None;
            }
        }
        None => w.push(
            &v.name.at,
            WarningKind::Corrected,
            format!("vrrp_instance {}", v.name.value),
            "no lvs_sync_daemon: keepalived runs none; the failover settings run one following \
             the role (on the instance's interface, with its virtual router id as sync id)",
        ),
    }
    settings.validate().map_err(|e| {
        ImportError::at(
            &v.name.at,
            ErrorKind::Conflict,
            format!("vrrp_instance {}: {e}", v.name.value),
        )
    })?;
    Ok(Some(settings))
}

fn arg(s: &Statement) -> Result<&str, ImportError> {
    s.args()
        .first()
        .map(|a| a.text.as_str())
        .ok_or_else(|| value_error(s.at(), s.key(), "a value is missing"))
}

fn number(s: &Statement, min: u32, max: u32) -> Result<u32, ImportError> {
    super::document::number(
        &s.args()
            .first()
            .cloned()
            .ok_or_else(|| value_error(s.at(), s.key(), "a value is missing"))?,
        s.key(),
        min,
        max,
    )
}

fn seconds(s: &Statement) -> Result<f64, ImportError> {
    let v = arg(s)?;
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| {
            value_error(
                s.at(),
                s.key(),
                &format!("{v:?} is not a number of seconds"),
            )
        })
}

fn instance(v: &VrrpInstance, w: &mut Warnings) -> Result<Settings, ImportError> {
    let name = &v.name.value;
    let at = &v.name.at;
    let mut interface = None;
    let mut vrid = None;
    let mut priority = None;
    let mut advert = 1.0;
    let mut preempt = true;
    let mut preempt_delay = 0.0;
    let mut vips = Vec::new();
    let mut vip_lines: Vec<(&Statement, Vip, Option<String>)> = Vec::new();
    let mut src = None;
    let mut peers = Vec::new();
    for s in &v.statements {
        match s.key() {
            "interface" => interface = Some(arg(s)?.to_owned()),
            "virtual_router_id" => vrid = Some(number(s, 1, 255)?),
            "priority" => priority = Some(number(s, 1, 255)?),
            "advert_int" => advert = seconds(s)?,
            "nopreempt" => preempt = false,
            "preempt" => preempt = true,
            "preempt_delay" => preempt_delay = seconds(s)?,
            "virtual_ipaddress" => {
                for line in s.children() {
                    let vip: Vip = line.key().parse().map_err(|_| {
                        value_error(
                            line.at(),
                            "virtual_ipaddress",
                            &format!("{:?} is not an address[/prefix]", line.key()),
                        )
                    })?;
                    let args: Vec<&str> = line.args().iter().map(|a| a.text.as_str()).collect();
                    let dev = args
                        .iter()
                        .position(|a| *a == "dev")
                        .and_then(|i| args.get(i + 1))
                        .map(|d| d.to_string());
                    let others: Vec<&&str> = args
                        .iter()
                        .enumerate()
                        .filter(|(i, a)| **a != "dev" && !(*i > 0 && args[i - 1] == "dev"))
                        .map(|(_, a)| a)
                        .collect();
                    if !others.is_empty() {
                        w.push(
                            line.at(),
                            WarningKind::NotCarriedOver,
                            "virtual_ipaddress",
                            format!("{}: options {others:?} dropped", line.key()),
                        );
                    }
                    vip_lines.push((line, vip, dev));
                }
            }
            "unicast_src_ip" => {
                src = Some(
                    arg(s)?
                        .parse::<IpAddr>()
                        .map_err(|_| value_error(s.at(), s.key(), "not an IP address"))?,
                )
            }
            "unicast_peer" => {
                for line in s.children() {
                    peers.push(line.key().parse::<IpAddr>().map_err(|_| {
                        value_error(
                            line.at(),
                            "unicast_peer",
                            &format!("{:?} is not an IP address", line.key()),
                        )
                    })?);
                    if !line.args().is_empty() {
                        w.push(
                            line.at(),
                            WarningKind::NotCarriedOver,
                            "unicast_peer",
                            "per-peer options dropped",
                        );
                    }
                }
            }
            // keepalived honours nopreempt only from state BACKUP: then
            // the state is part of that setting.
            "state"
                if arg(s)? == "BACKUP" && v.statements.iter().any(|x| x.key() == "nopreempt") => {}
            "state" => w.push(
                s.at(),
                WarningKind::NotCarriedOver,
                "state",
                "the role follows the priority (and preempt): the initial state is not a setting",
            ),
            k => w.push(
                s.at(),
                WarningKind::NotCarriedOver,
                k,
                format!("vrrp_instance {name}: a VRRP setting the failover settings do not hold"),
            ),
        }
    }
    let interface = interface
        .ok_or_else(|| value_error(at, &format!("vrrp_instance {name}"), "no interface"))?;
    let vrid = vrid
        .ok_or_else(|| value_error(at, &format!("vrrp_instance {name}"), "no virtual_router_id"))?;
    let priority = match priority {
        Some(255) => {
            w.push(
                at,
                WarningKind::Corrected,
                format!("vrrp_instance {name}"),
                "priority 255 (the address owner): 254, the highest the failover settings take",
            );
            254
        }
        Some(p) => p,
        None => {
            w.push(
                at,
                WarningKind::Corrected,
                format!("vrrp_instance {name}"),
                format!("no priority: {DEFAULT_PRIORITY}, as keepalived defaults"),
            );
            DEFAULT_PRIORITY
        }
    };
    for (line, vip, dev) in vip_lines {
        match dev {
            Some(d) if d != interface => w.push(
                line.at(),
                WarningKind::NotCarriedOver,
                "virtual_ipaddress",
                format!("{vip} is on {d}, not on the instance's interface {interface}: dropped"),
            ),
            _ => vips.push(vip),
        }
    }
    let mut settings = Settings::new(interface, vrid, priority, vips);
    settings.instance = name.clone();
    settings.advert_interval = advert;
    settings.preempt = preempt;
    settings.preempt_delay = preempt_delay;
    match (src, peers.is_empty()) {
        (Some(src_ip), false) => settings.unicast = Some(Unicast { src_ip, peers }),
        (None, false) => {
            return Err(value_error(
                at,
                &format!("vrrp_instance {name}"),
                "unicast_peer without unicast_src_ip: the failover settings need the source address",
            ));
        }
        (Some(_), true) => w.push(
            at,
            WarningKind::NotCarriedOver,
            "unicast_src_ip",
            "no unicast_peer: multicast advertisements",
        ),
        (None, true) => {}
    }
    Ok(settings)
}

/// `lvs_sync_daemon IFACE [inst NAME] [id N] [port P] [group G] [maxlen N] [ttl N]`.
fn sync_daemon(
    words: &[String],
    at: &Location,
    s: &mut Settings,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    s.sync.interface = Some(words[0].clone());
    let mut i = 1;
    while i < words.len() {
        let value = words.get(i + 1);
        let need = || {
            value_error(
                at,
                "lvs_sync_daemon",
                &format!("{} needs a value", words[i]),
            )
        };
        match words[i].as_str() {
            "inst" => {
                value.ok_or_else(need)?;
            }
            "id" => {
                let v = value.ok_or_else(need)?;
                s.sync.sync_id =
                    Some(v.parse::<u32>().ok().filter(|n| *n <= 255).ok_or_else(|| {
                        value_error(at, "lvs_sync_daemon", &format!("id {v:?} is not 0..255"))
                    })?);
            }
            "port" => {
                let v = value.ok_or_else(need)?;
                s.sync.port = Some(v.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    value_error(
                        at,
                        "lvs_sync_daemon",
                        &format!("port {v:?} is not 1..65535"),
                    )
                })?);
            }
            "group" => {
                let v = value.ok_or_else(need)?;
                s.sync.group = Some(v.parse().map_err(|_| {
                    value_error(
                        at,
                        "lvs_sync_daemon",
                        &format!("group {v:?} is not an address"),
                    )
                })?);
            }
            "maxlen" | "ttl" => {
                value.ok_or_else(need)?;
                w.push(
                    at,
                    WarningKind::NotCarriedOver,
                    "lvs_sync_daemon",
                    format!(
                        "{} {}: the failover settings do not hold it",
                        words[i],
                        value.map(String::as_str).unwrap_or("")
                    ),
                );
            }
            // The old form: IFACE VRRP_INSTANCE [SYNC_ID].
            other if i == 1 => {
                let _ = other;
                i += 1;
                continue;
            }
            other if i == 2 && other.bytes().all(|b| b.is_ascii_digit()) => {
                s.sync.sync_id = other.parse().ok();
                i += 1;
                continue;
            }
            other => {
                return Err(value_error(
                    at,
                    "lvs_sync_daemon",
                    &format!("unknown option {other:?}"),
                ));
            }
        }
        i += 2;
    }
    Ok(())
}

/// The failover settings as keepalived.conf: `lvs_sync_daemon` for
/// `global_defs`, and the `vrrp_instance` block.
pub(crate) fn write_settings(s: &Settings) -> (String, String) {
    let mut sync = format!("lvs_sync_daemon {} inst {}", s.sync_interface(), s.instance);
    if let Some(id) = s.sync.sync_id {
        let _ = write!(sync, " id {id}");
    }
    if let Some(p) = s.sync.port {
        let _ = write!(sync, " port {p}");
    }
    if let Some(g) = s.sync.group {
        let _ = write!(sync, " group {g}");
    }
    let mut out = String::new();
    let _ = writeln!(out, "vrrp_instance {} {{", s.instance);
    let _ = writeln!(out, "    interface {}", s.interface);
    let _ = writeln!(out, "    virtual_router_id {}", s.virtual_router_id);
    let _ = writeln!(out, "    priority {}", s.priority);
    let _ = writeln!(out, "    advert_int {}", s.advert_interval);
    if !s.preempt {
        // keepalived honours nopreempt only from state BACKUP.
        out.push_str("    state BACKUP\n    nopreempt\n");
    }
    if s.preempt_delay != 0.0 {
        let _ = writeln!(out, "    preempt_delay {}", s.preempt_delay);
    }
    if let Some(u) = &s.unicast {
        let _ = writeln!(out, "    unicast_src_ip {}", u.src_ip);
        out.push_str("    unicast_peer {\n");
        for p in &u.peers {
            let _ = writeln!(out, "        {p}");
        }
        out.push_str("    }\n");
    }
    out.push_str("    virtual_ipaddress {\n");
    for v in &s.vips {
        let _ = writeln!(out, "        {v} dev {}", s.interface);
    }
    out.push_str("    }\n}\n");
    (sync, out)
}
