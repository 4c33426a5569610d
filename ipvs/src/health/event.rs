//! Every transition of a run, as a value: destinations up, down and
//! reweighted, quorum lost and regained, the sorry server in and out,
//! drift repaired, an operator's drain seen, reconciles that failed,
//! reloads.
//!
//! ```
//! use ipvs::health::Event;
//! use ipvs::ServiceKey;
//! let e = Event::DestUp {
//!     service: ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
//!     dest: "198.51.100.1:80".parse().unwrap(),
//!     weight: 3,
//! };
//! assert_eq!(e.to_string(), r#"dest-up service="TCP 192.0.2.10:80" dest=198.51.100.1:80 weight=3"#);
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::policy::OnFailure;
use crate::ServiceKey;

/// A transition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A checked destination came up (after `rise` successes), at `weight`
    /// (the first step of its slow start, if it has one).
    DestUp {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
        /// Its weight now.
        weight: u32,
    },
    /// A checked destination went down (after `fall` failures).
    DestDown {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
        /// What becomes of it.
        action: OnFailure,
        /// The last probe's failure.
        reason: String,
    },
    /// A live destination's weight changed: a slow-start step, or a
    /// weight reported by its check.
    DestWeight {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
        /// The weight before.
        from: u32,
        /// The weight now.
        to: u32,
    },
    /// The service's live weight fell below its quorum.
    QuorumLost {
        /// The service.
        service: ServiceKey,
        /// The sum of its live destinations' weights.
        live: u64,
        /// Its quorum.
        quorum: u32,
    },
    /// The service's live weight is back above its quorum.
    QuorumRegained {
        /// The service.
        service: ServiceKey,
        /// The sum of its live destinations' weights.
        live: u64,
        /// Its quorum.
        quorum: u32,
    },
    /// The sorry server took over the service.
    SorryServerIn {
        /// The service.
        service: ServiceKey,
        /// The sorry server.
        dest: SocketAddr,
    },
    /// The sorry server left the service.
    SorryServerOut {
        /// The service.
        service: ServiceKey,
        /// The sorry server.
        dest: SocketAddr,
    },
    /// Something changed behind the run's back (a destination deleted or
    /// changed by hand, a service deleted) and was put back.
    DriftRepaired {
        /// The service.
        service: ServiceKey,
        /// The destination, if the drift was one.
        dest: Option<SocketAddr>,
        /// What was sent to repair it, as an ipvsadm rule.
        repair: String,
    },
    /// A destination the run had at a non-zero weight was set to weight 0
    /// by someone else: an operator's drain, which the run keeps until the
    /// operator gives it a weight again.
    OperatorDrain {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// An operator's drain ended (the destination has a weight again, or
    /// is gone): the run manages its weight again.
    OperatorDrainEnded {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// A reconcile did not read or change the table as it should.
    ReconcileFailed {
        /// Why.
        error: String,
    },
    /// A new configuration runs.
    ConfigReloaded {
        /// Probes started.
        probes_started: usize,
        /// Probes stopped.
        probes_stopped: usize,
        /// Probes kept, with their state and counters.
        probes_kept: usize,
    },
    /// A new configuration was refused; the running one stays.
    ReloadFailed {
        /// Why.
        error: String,
    },
}

impl Event {
    /// The event's name: `dest-up`, `dest-down`, `dest-weight`,
    /// `quorum-lost`, `quorum-regained`, `sorry-server-in`,
    /// `sorry-server-out`, `drift-repaired`, `operator-drain`,
    /// `operator-drain-ended`, `reconcile-failed`, `config-reloaded`,
    /// `reload-failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::DestUp { .. } => "dest-up",
            Event::DestDown { .. } => "dest-down",
            Event::DestWeight { .. } => "dest-weight",
            Event::QuorumLost { .. } => "quorum-lost",
            Event::QuorumRegained { .. } => "quorum-regained",
            Event::SorryServerIn { .. } => "sorry-server-in",
            Event::SorryServerOut { .. } => "sorry-server-out",
            Event::DriftRepaired { .. } => "drift-repaired",
            Event::OperatorDrain { .. } => "operator-drain",
            Event::OperatorDrainEnded { .. } => "operator-drain-ended",
            Event::ReconcileFailed { .. } => "reconcile-failed",
            Event::ConfigReloaded { .. } => "config-reloaded",
            Event::ReloadFailed { .. } => "reload-failed",
        }
    }

    /// The service the event is about, if any.
    pub fn service(&self) -> Option<&ServiceKey> {
        match self {
            Event::DestUp { service, .. }
            | Event::DestDown { service, .. }
            | Event::DestWeight { service, .. }
            | Event::QuorumLost { service, .. }
            | Event::QuorumRegained { service, .. }
            | Event::SorryServerIn { service, .. }
            | Event::SorryServerOut { service, .. }
            | Event::DriftRepaired { service, .. }
            | Event::OperatorDrain { service, .. }
            | Event::OperatorDrainEnded { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The event's fields as `name`, `value` pairs (the notify program's
    /// arguments, the log line's words).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = Vec::new();
        if let Some(s) = self.service() {
            f.push(("service", s.to_string()));
        }
        match self {
            Event::DestUp { dest, weight, .. } => {
                f.push(("dest", dest.to_string()));
                f.push(("weight", weight.to_string()));
            }
            Event::DestDown {
                dest,
                action,
                reason,
                ..
            } => {
                f.push(("dest", dest.to_string()));
                let action = match action {
                    OnFailure::Remove => "remove",
                    OnFailure::Quiesce => "quiesce",
                };
                f.push(("action", action.into()));
                f.push(("reason", reason.clone()));
            }
            Event::DestWeight { dest, from, to, .. } => {
                f.push(("dest", dest.to_string()));
                f.push(("from", from.to_string()));
                f.push(("to", to.to_string()));
            }
            Event::QuorumLost { live, quorum, .. } | Event::QuorumRegained { live, quorum, .. } => {
                f.push(("live", live.to_string()));
                f.push(("quorum", quorum.to_string()));
            }
            Event::SorryServerIn { dest, .. }
            | Event::SorryServerOut { dest, .. }
            | Event::OperatorDrain { dest, .. }
            | Event::OperatorDrainEnded { dest, .. } => f.push(("dest", dest.to_string())),
            Event::DriftRepaired { dest, repair, .. } => {
                if let Some(d) = dest {
                    f.push(("dest", d.to_string()));
                }
                f.push(("repair", repair.clone()));
            }
            Event::ReconcileFailed { error } | Event::ReloadFailed { error } => {
                f.push(("error", error.clone()))
            }
            Event::ConfigReloaded {
                probes_started,
                probes_stopped,
                probes_kept,
            } => {
                f.push(("probes_started", probes_started.to_string()));
                f.push(("probes_stopped", probes_stopped.to_string()));
                f.push(("probes_kept", probes_kept.to_string()));
            }
        }
        f
    }
}

impl fmt::Display for Event {
    /// `kind name=value ...`, values with spaces or quotes quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        for (name, value) in self.fields() {
            if value.is_empty() || value.contains([' ', '"', '=']) {
                write!(f, " {name}={value:?}")?;
            } else {
                write!(f, " {name}={value}")?;
            }
        }
        Ok(())
    }
}

/// `at` as an RFC 3339 UTC timestamp with milliseconds
/// (`2026-12-02T06:39:41.123Z`), for log lines.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_796_193_581_123);
/// assert_eq!(ipvs::health::event::timestamp(t), "2026-12-02T06:39:41.123Z");
/// ```
pub fn timestamp(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}
