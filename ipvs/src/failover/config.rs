//! keepalived's configuration for one director: `global_defs` and one
//! `vrrp_instance`, from [`Settings`].
//!
//! The instance always starts in BACKUP (so `nopreempt` works and a
//! restarted director never claims the VIPs before hearing its peer), uses
//! VRRP version 3 (fractional advertisement intervals, IPv4 and IPv6; it has
//! no authentication) and reports its state changes on the notify FIFO.

use std::fmt::Write as _;
use std::path::Path;

use super::settings::Settings;

/// The text of keepalived's configuration file for `settings`, with state
/// changes written to `fifo`. `settings` must be valid
/// ([`Settings::validate`]).
///
/// ```
/// use ipvs::failover::{keepalived_config, Settings};
/// let s = Settings::new("eth0", 51, 150, ["198.51.100.100/24".parse()?]);
/// let text = keepalived_config(&s, "/run/ipvs-failover/ipvs/notify.fifo".as_ref());
/// assert!(text.contains("virtual_router_id 51\n"));
/// # Ok::<(), ipvs::failover::SettingsError>(())
/// ```
pub fn keepalived_config(settings: &Settings, fifo: &Path) -> String {
    let s = settings;
    let mut t = String::new();
    // (Writing to a String cannot fail.)
    let _ = writeln!(
        t,
        "# keepalived configuration for VRRP instance {}, written by ipvs::failover.\n\
         # Rewritten on every start: change the failover settings instead.",
        s.instance
    );
    t.push_str("global_defs {\n");
    let _ = writeln!(t, "    router_id ipvs-{}", s.instance);
    // VRRPv3: advertisement intervals in hundredths of a second.
    t.push_str("    vrrp_version 3\n");
    // No scripts run; naming root only keeps keepalived from looking for
    // (and warning about) its unprivileged script user.
    t.push_str("    script_user root\n");
    let _ = writeln!(t, "    vrrp_notify_fifo {}", fifo.display());
    // Gratuitous ARPs / unsolicited NAs on becoming master: 3 at once, 3
    // more a second later (keepalived's defaults: 5, and 5 more after 5 s).
    t.push_str("    vrrp_garp_master_repeat 3\n");
    t.push_str("    vrrp_garp_master_delay 1\n");
    t.push_str("}\n\n");

    let _ = writeln!(t, "vrrp_instance {} {{", s.instance);
    t.push_str("    state BACKUP\n");
    let _ = writeln!(t, "    interface {}", s.interface);
    let _ = writeln!(t, "    virtual_router_id {}", s.virtual_router_id);
    let _ = writeln!(t, "    priority {}", s.priority);
    let _ = writeln!(t, "    advert_int {}", seconds(s.advert_interval));
    if !s.preempt {
        t.push_str("    nopreempt\n");
    } else if s.preempt_delay > 0.0 {
        let _ = writeln!(t, "    preempt_delay {}", seconds(s.preempt_delay));
    }
    if let Some(u) = &s.unicast {
        let _ = writeln!(t, "    unicast_src_ip {}", u.src_ip);
        t.push_str("    unicast_peer {\n");
        for p in &u.peers {
            let _ = writeln!(t, "        {p}");
        }
        t.push_str("    }\n");
    }
    t.push_str("    virtual_ipaddress {\n");
    for vip in &s.vips {
        let _ = writeln!(t, "        {vip} dev {}", s.interface);
    }
    t.push_str("    }\n");
    t.push_str("}\n");
    t
}

/// Seconds in hundredths, without trailing zeros: `1`, `0.5`, `0.25`.
fn seconds(v: f64) -> String {
    let hundredths = (v * 100.0).round() as u64;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_hundredths() {
        assert_eq!(seconds(1.0), "1");
        assert_eq!(seconds(0.5), "0.5");
        assert_eq!(seconds(0.25), "0.25");
        assert_eq!(seconds(0.05), "0.05");
        assert_eq!(seconds(40.95), "40.95");
        assert_eq!(seconds(2.999), "3");
    }
}
