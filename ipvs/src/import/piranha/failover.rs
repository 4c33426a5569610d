//! lvs.cf's pulse keys to [`failover::Settings`] (feature `failover`):
//! the two directors (`primary`, `backup`) as VRRP unicast peers, the
//! heartbeat interval (`keepalive`) as the advertisement interval, the
//! active virtuals' addresses (`address = VIP DEV:N`, `vip_nmask`) as the
//! VIPs on DEV, the sync daemon from `syncd_iface`/`syncd_id`. pulse has
//! no virtual router id and no priorities: the settings say so in
//! warnings (1 is used; the file describes the primary, priority 150).

use std::net::Ipv4Addr;

use super::{LvsCf, Virtual};
use crate::failover::{Settings, Unicast, Vip};
use crate::import::{ErrorKind, ImportError, WarningKind, Warnings};

/// The virtual router id used for a pulse pair (pulse has none).
pub const PULSE_VIRTUAL_ROUTER_ID: u32 = 1;
/// The priority of the primary director (the backup's copy needs less).
pub const PRIMARY_PRIORITY: u32 = 150;

/// The failover settings of the primary director of `doc`, if it has a
/// backup director.
pub(crate) fn to_settings(
    doc: &LvsCf,
    active: &[&Virtual],
    w: &mut Warnings,
) -> Result<Option<Settings>, ImportError> {
    let g = &doc.global;
    let (Some(primary), Some(backup)) = (&g.primary, &g.backup) else {
        return Ok(None);
    };
    if let Some(a) = &g.backup_active {
        if !a.value {
            w.push(
                &a.at,
                WarningKind::NotCarriedOver,
                "backup_active",
                "0: no backup director, no failover settings",
            );
            return Ok(None);
        }
    }
    // The VIPs and their interface.
    let mut interface: Option<String> = None;
    let mut vips: Vec<Vip> = Vec::new();
    for v in active {
        let Some(addr) = &v.address else { continue };
        let Some(dev) = &addr.value.interface else {
            w.push(
                &addr.at,
                WarningKind::NotCarriedOver,
                "address",
                format!(
                    "virtual {}: no interface: its VIP is not in the failover settings",
                    v.name.value
                ),
            );
            continue;
        };
        let base = dev.split(':').next().unwrap_or(dev).to_owned();
        match &interface {
            None => interface = Some(base.clone()),
            Some(i) if *i != base => {
                w.push(
                    &addr.at,
                    WarningKind::NotCarriedOver,
                    "address",
                    format!(
                        "virtual {}: on {base}, not {i}: its VIP is not in the failover settings",
                        v.name.value
                    ),
                );
                continue;
            }
            _ => {}
        }
        let prefix = match &v.vip_nmask {
            None => {
                if addr.value.address.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(m) => prefix_of(m.value).ok_or_else(|| {
                ImportError::at(
                    &m.at,
                    ErrorKind::Value,
                    format!("vip_nmask: {} is not a contiguous netmask", m.value),
                )
            })?,
        };
        let vip = Vip {
            address: addr.value.address,
            prefix_len: prefix,
        };
        if !vips.contains(&vip) {
            vips.push(vip);
        }
    }
    let Some(interface) = interface else {
        w.push(
            &primary.at,
            WarningKind::NotCarriedOver,
            "primary",
            "no active virtual with an interface: no failover settings",
        );
        return Ok(None);
    };
    let mut s = Settings::new(interface, PULSE_VIRTUAL_ROUTER_ID, PRIMARY_PRIORITY, vips);
    s.instance = "lvs".into();
    w.push(&primary.at, WarningKind::Corrected, "primary", format!(
        "pulse has no virtual router id nor priorities: virtual router id {PULSE_VIRTUAL_ROUTER_ID} (make it unique on the segment), priority {PRIMARY_PRIORITY} for this primary (give the backup's copy less)"
    ));
    s.unicast = Some(Unicast {
        src_ip: primary.value,
        peers: vec![backup.value],
    });
    if let Some(k) = &g.keepalive {
        s.advert_interval = f64::from(k.value);
    }
    if let Some(d) = &g.deadtime {
        w.push(&d.at, WarningKind::NotCarriedOver, "deadtime", format!(
            "{} s: VRRP's backup takes over after 3 advertisement intervals plus a skew, not after deadtime", d.value
        ));
    }
    if let Some(p) = &g.heartbeat_port {
        w.push(
            &p.at,
            WarningKind::NotCarriedOver,
            "heartbeat_port",
            "VRRP is IP protocol 112, not a UDP port",
        );
    }
    match (&g.syncdaemon, &g.syncd_iface, &g.syncd_id) {
        (Some(on), iface, id) if on.value => {
            s.sync.interface = iface.as_ref().map(|i| i.value.clone());
            s.sync.sync_id = id.as_ref().map(|i| i.value);
        }
        (Some(off), _, _) => w.push(
            &off.at,
            WarningKind::Corrected,
            "syncdaemon",
            "0: the failover settings always run the sync daemon, following the role",
        ),
        _ => {}
    }
    s.validate().map_err(|e| {
        ImportError::at(
            &primary.at,
            ErrorKind::Conflict,
            format!("failover settings: {e}"),
        )
    })?;
    Ok(Some(s))
}

fn prefix_of(m: Ipv4Addr) -> Option<u8> {
    crate::model::Netmask::V4(m).prefix_len()
}
