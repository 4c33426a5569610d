//! nanny's keys to the health settings (feature `health`): one check per
//! server of a virtual, as nanny runs one per server.
//!
//! | lvs.cf | health settings |
//! | --- | --- |
//! | `send`, `expect` (`*`: any reply), `use_regex` | `tcp_send_expect` |
//! | `send_program` (`%h`, `%p`) | `exec` (exit 0 up, else down) |
//! | none of them | `tcp` (nanny's connect check) |
//! | `timeout` (10 s) | `interval` and `timeout` |
//! | one failure takes a server out | `fall` 1 |
//! | `reentry` (180 s) | `rise` = reentry / interval, rounded up |
//! | `quiesce_server = 1` | `on_failure: quiesce` |
//! | `sorry_server` | `sorry_server`, quorum 1 (all servers down) |

use std::time::Duration;

use super::Virtual;
use crate::health::probe::{Exec, Payload, Probe, TcpSendExpect};
use crate::health::{Check, OnFailure, Quorum, ServiceHealth};
use crate::import::{WarningKind, Warnings};
use crate::model::{Destination, ForwardMethod, Protocol, ServiceKey};
use crate::state::ServiceState;

/// nanny's `timeout` when none is given.
pub const DEFAULT_TIMEOUT: u32 = 10;
/// nanny's `reentry` when none is given.
pub const DEFAULT_REENTRY: u32 = 180;

/// The policy of virtual `v` (if it has any policy key) and the check of
/// its servers (none for a UDP virtual without `send_program`).
pub(crate) fn map(
    v: &Virtual,
    svc: &ServiceState,
    w: &mut Warnings,
) -> (Option<ServiceHealth>, Option<Check>) {
    let mut health = ServiceHealth::default();
    let mut has_policy = false;
    if v.quiesce_server.as_ref().is_some_and(|q| q.value) {
        health.on_failure = OnFailure::Quiesce;
        has_policy = true;
    }
    if let Some(s) = &v.sorry_server {
        let forward = svc
            .destinations
            .first()
            .map(|d| d.forward)
            .unwrap_or(ForwardMethod::Masquerade);
        // As the servers' ports: a NAT one the virtual's port, a direct-
        // routed or tunnelled one the service's (0 for a fwmark service).
        let port = match forward {
            ForwardMethod::Masquerade => svc
                .service
                .key
                .port()
                .or(v.port.as_ref().map(|p| p.value))
                .unwrap_or(0),
            _ => svc.service.key.port().unwrap_or(0),
        };
        health.sorry_server = Some(
            Destination::new(std::net::SocketAddr::new(s.value, port))
                .with_forward(forward)
                .with_weight(1),
        );
        health.quorum = Some(Quorum {
            weight: 1,
            hysteresis: 0,
        });
        has_policy = true;
    }
    if let Some(c) = &v.client_monitor {
        w.push(
            &c.at,
            WarningKind::NotCarriedOver,
            "client_monitor",
            "no counterpart",
        );
    }

    let seconds = v
        .timeout
        .as_ref()
        .map(|t| t.value)
        .unwrap_or(DEFAULT_TIMEOUT)
        .max(1);
    let interval = Duration::from_secs(u64::from(seconds));
    let reentry = v
        .reentry
        .as_ref()
        .map(|r| r.value)
        .unwrap_or(DEFAULT_REENTRY);
    let rise = reentry.div_ceil(seconds).max(1);

    let probe = if let Some(p) = &v.send_program {
        if let Some(e) = &v.expect {
            w.push(
                &e.at,
                WarningKind::Corrected,
                "expect",
                "with send_program: the program's exit status decides (0 up, any other down), not its output",
            );
        }
        if let Some(s) = &v.send {
            w.push(
                &s.at,
                WarningKind::Corrected,
                "send",
                "with send_program: nothing is sent, the program runs",
            );
        }
        // nanny runs the line through the shell; `%h` and `%p` are
        // replaced first.
        Probe::Exec(
            Exec::new("/bin/sh")
                .with_args(["-c", p.value.as_str()])
                .with_dynamic(false),
        )
    } else if v.send.is_some() || v.expect.is_some() {
        let expect = v
            .expect
            .as_ref()
            .map(|e| e.value.clone())
            .unwrap_or_else(|| "*".into());
        let mut p = TcpSendExpect::new(Payload::text(expect));
        if let Some(s) = &v.send {
            p = p.with_send(Payload::text(s.value.clone()));
        }
        if v.use_regex.as_ref().is_some_and(|r| r.value) {
            p = p.regex(true);
        }
        Probe::TcpSendExpect(p)
    } else {
        match svc.service.key {
            ServiceKey::Address {
                protocol: Protocol::Udp,
                ..
            } => {
                w.push(
                    &v.name.at,
                    WarningKind::NotCarriedOver,
                    format!("virtual {}", v.name.value),
                    "a UDP virtual without send_program: nanny has nothing to check it with, neither has this",
                );
                return (has_policy.then_some(health), None);
            }
            _ => Probe::Tcp,
        }
    };
    let mut check = Check::new(probe).every(interval, interval).counts(1, rise);
    if matches!(svc.service.key, ServiceKey::Fwmark { .. }) {
        // A fwmark service's destinations have port 0: nanny checks the
        // virtual's port.
        check.connect_port = v.port.as_ref().map(|p| p.value);
    }
    (has_policy.then_some(health), Some(check))
}
