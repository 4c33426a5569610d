//! Health checking that drives the table (feature `health`): probes of real
//! servers, the policy that turns their results into the table's effective
//! state, and the loop that keeps the kernel's table there.
//!
//! - [`probe`]: what one check does to one real server ([`probe::Probe`]),
//!   and its result ([`probe::Outcome`]).
//! - [`Check`]: a probe with its timing (interval, timeout, fall, rise,
//!   jitter) and where it connects from and to.
//! - [`ServiceHealth`]: a service's default check and policy (remove or
//!   quiesce, slow start, quorum and sorry server, initial state).
//! - [`RunConfig`]: the file of `ipvsctl run` (a state file with `health:`
//!   and `check:` blocks), split into the configured [`crate::state::State`]
//!   and the checks.
//! - [`Monitor`]: the policy engine, without I/O: one probe per distinct
//!   target, probe and source; results counted per probe; the effective
//!   desired state.
//! - [`Scheduler`]: the probe tasks.
//! - [`Reconcile`]: a reconcile round (operators' drains kept, drift
//!   repaired) through [`crate::state::Reconciler`].
//! - [`Table`]: the kernel ([`KernelTable`]) or memory ([`MemoryTable`]).
//! - [`Event`]: every transition; [`Notifier`] runs a program on each.
//! - [`Observation`]: each check's result and round's figures, for metrics.
//! - [`Supervisor`]: the run loop, and its [`Handle`].

pub mod check;
pub mod config;
pub mod duration;
pub mod event;
pub mod monitor;
pub mod notify;
pub mod observe;
pub mod policy;
pub mod probe;
pub mod reconcile;
pub mod scheduler;
pub mod status;
pub mod supervisor;
pub mod table;

pub use check::{Check, CheckError, Timing};
pub use config::{ConfigError, Format, Location, RunConfig, SharedProbeTiming};
pub use event::Event;
pub use monitor::{Monitor, ProbeChanges, ProbeId, ProbeSpec};
pub use notify::{Notifier, NotifyOutcome, NotifySettings};
pub use observe::{CheckResult, Observation, RoundFigures};
pub use policy::{Initial, OnFailure, PolicyError, Quorum, ServiceHealth, SlowStart};
pub use reconcile::{Reconcile, Round};
pub use scheduler::{Report, Scheduler};
pub use status::TargetStatus;
pub use supervisor::{Handle, OnStop, ReloadSummary, RunError, Supervisor, SupervisorOptions};
pub use table::{KernelTable, MemoryTable, Table};
