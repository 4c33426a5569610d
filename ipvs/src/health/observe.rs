//! What a run does between its events, for metrics and status pages:
//! every check's result (with its time and duration), every reconcile
//! round's figures, the configured and effective tables. A
//! [`Handle::subscribe_observations`](super::Handle::subscribe_observations)
//! receiver gets them; a run without subscribers builds none.
//!
//! ```no_run
//! # async fn demo(handle: ipvs::health::Handle) {
//! use ipvs::health::Observation;
//! let mut seen = handle.subscribe_observations();
//! while let Ok(o) = seen.recv().await {
//!     if let Observation::Check(c) = o {
//!         println!("{} {}: {:?} in {:?}", c.check, c.target, c.outcome, c.took);
//!     }
//! }
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::probe::Outcome;
use crate::ServiceKey;
use crate::state::State;

/// One check's result, as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The address and port checked.
    pub target: SocketAddr,
    /// The check's kind (`tcp`, `http`, ...: [`super::probe::Probe::kind`]).
    pub check: &'static str,
    /// Every (service, destination) sharing the check.
    pub dests: Vec<(ServiceKey, SocketAddr)>,
    /// What the check found.
    pub outcome: Outcome,
    /// How long it took.
    pub took: Duration,
    /// When its result was counted.
    pub at: SystemTime,
    /// Whether the target counts as up now (after rise and fall).
    pub up: bool,
}

/// One reconcile round's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundFigures {
    /// Whether the round read the table.
    pub read: bool,
    /// Operations planned.
    pub planned: usize,
    /// Operations the table applied.
    pub applied: usize,
    /// Operations refused or in doubt.
    pub failed: usize,
    /// Entries changed behind the run's back and put back.
    pub drift_repaired: usize,
}

/// Something a run did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Observation {
    /// A check's result was counted.
    Check(CheckResult),
    /// A reconcile round finished.
    Round(RoundFigures),
    /// The configuration's table (at start and after each reload).
    Configured(Arc<State>),
    /// The table the run wants now, health applied (before each round).
    Effective(Arc<State>),
}
