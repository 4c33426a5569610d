//! What a service does with its destinations' health: remove or quiesce
//! the failed ones, ramp recovered ones up slowly, hold a quorum, and
//! fall back to a sorry server without it.
//!
//! In a file, a service's `health:` block holds these beside the service's
//! default check:
//!
//! ```yaml
//! health:
//!   check: {type: tcp}       # the default check of its destinations
//!   on_failure: quiesce      # remove (default) | quiesce
//!   slow_start: true         # or {divisor: 16}; default: none
//!   quorum: {weight: 4, hysteresis: 1}
//!   sorry_server: {address: 192.0.2.99, port: 80, weight: 1}
//!   initial: down            # up (default) | down
//! ```

use serde::{Deserialize, Serialize};

use super::check::Check;
use crate::model::Destination;

/// A service's health settings: the default check of its destinations
/// and its policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHealth {
    /// The check of every destination that has no `check:` of its own;
    /// `None`: only destinations with their own check are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// What a failed destination becomes.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Ramp recovered destinations up to their weight; `None`: at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "slow_start_setting"
    )]
    pub slow_start: Option<SlowStart>,
    /// The least live weight the service needs; below it the sorry server
    /// (if any) takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
    /// The destination that takes the service's new connections while the
    /// quorum is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<Destination>,
    /// What checked destinations are before their first probe.
    #[serde(default)]
    pub initial: Initial,
}

/// What becomes of a destination whose check fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// It leaves the table (drained first if the run drains removals and
    /// it has connections).
    #[default]
    Remove,
    /// It stays at weight 0: no new connections, the established ones kept.
    Quiesce,
}

/// Slow start: a recovered destination starts at `weight / divisor` (at
/// least 1) and doubles on each successful probe until it reaches its
/// weight (nanny's ramp: 1/32, 1/16, ... 1/2, whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowStart {
    /// The first step's fraction of the weight (default 32).
    #[serde(default = "default_divisor")]
    pub divisor: u32,
}

impl Default for SlowStart {
    fn default() -> Self {
        SlowStart {
            divisor: default_divisor(),
        }
    }
}

fn default_divisor() -> u32 {
    32
}

impl SlowStart {
    /// The weight after `step` successes since recovery (0: the first),
    /// ramping to `weight`.
    ///
    /// ```
    /// use ipvs::health::SlowStart;
    /// let ramp = SlowStart { divisor: 8 };
    /// let w: Vec<u32> = (0..5).map(|s| ramp.weight(100, s)).collect();
    /// assert_eq!(w, [12, 25, 50, 100, 100]);
    /// assert_eq!(ramp.weight(3, 0), 1);
    /// ```
    pub fn weight(&self, weight: u32, step: u32) -> u32 {
        if weight == 0 {
            return 0;
        }
        let scaled = u64::from(weight) << step.min(32);
        let w = scaled / u64::from(self.divisor.max(1));
        w.clamp(1, u64::from(weight)) as u32
    }

    /// Whether the ramp is over after `step` successes.
    pub fn done(&self, weight: u32, step: u32) -> bool {
        self.weight(weight, step) >= weight
    }
}

/// `slow_start: true`, `false` or `{divisor: N}`.
fn slow_start_setting<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SlowStart>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        On(bool),
        With(SlowStart),
    }
    Ok(match Option::<Setting>::deserialize(d)? {
        None | Some(Setting::On(false)) => None,
        Some(Setting::On(true)) => Some(SlowStart::default()),
        Some(Setting::With(s)) => Some(s),
    })
}

/// A quorum: the service is healthy while the sum of its live
/// destinations' weights is at least `weight`. With a hysteresis `h`, a
/// service that has its quorum loses it below `weight - h`, and one that
/// lost it gets it back at `weight + h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quorum {
    /// The live weight needed (at least 1).
    pub weight: u32,
    /// The band around `weight` that keeps the quorum from flapping.
    #[serde(default)]
    pub hysteresis: u32,
}

impl Quorum {
    /// Whether a service that `had` its quorum has it with `live` weight.
    ///
    /// ```
    /// use ipvs::health::Quorum;
    /// let q = Quorum { weight: 4, hysteresis: 1 };
    /// assert!(q.holds(true, 3) && !q.holds(true, 2));
    /// assert!(!q.holds(false, 4) && q.holds(false, 5));
    /// ```
    pub fn holds(&self, had: bool, live: u64) -> bool {
        let (w, h) = (u64::from(self.weight), u64::from(self.hysteresis));
        if had {
            live >= w.saturating_sub(h)
        } else {
            live >= w + h
        }
    }
}

/// What a checked destination is before its first probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initial {
    /// Up at its weight, down after `fall` failures: a restart of the run
    /// leaves a working table alone.
    #[default]
    Up,
    /// Down until its first successful probe.
    Down,
}

/// A policy setting that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PolicyError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl ServiceHealth {
    /// Check the policy (the default check is checked by its own
    /// [`Check::validate`]).
    pub fn validate_policy(&self, service: &crate::ServiceKey) -> Result<(), PolicyError> {
        let err = |field: &str, problem: String| PolicyError {
            field: field.into(),
            problem,
        };
        if let Some(s) = &self.slow_start {
            if s.divisor == 0 {
                return Err(err("slow_start.divisor", "must be at least 1".into()));
            }
        }
        if let Some(q) = &self.quorum {
            if q.weight == 0 {
                return Err(err("quorum.weight", "must be at least 1".into()));
            }
            if q.hysteresis >= q.weight {
                return Err(err(
                    "quorum.hysteresis",
                    format!("{} must be below the quorum ({})", q.hysteresis, q.weight),
                ));
            }
        }
        if let Some(sorry) = &self.sorry_server {
            sorry
                .validate(service)
                .map_err(|e| err("sorry_server", e.to_string()))?;
        }
        Ok(())
    }
}
