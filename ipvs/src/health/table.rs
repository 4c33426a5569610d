//! Where a run's table lives: the kernel ([`KernelTable`], through the
//! blocking client), or memory ([`MemoryTable`], for tests and dry runs).
//! The run calls these from a blocking thread, never from its event loop.
//!
//! ```
//! use ipvs::health::{MemoryTable, Table};
//! use ipvs::state::{DiffOptions, State, diff};
//! let mut table = MemoryTable::new(State::new());
//! let want = State::from_rules_text("-A -t 192.0.2.10:80 -s rr\n").unwrap();
//! let plan = diff(&table.read().unwrap(), &want, &DiffOptions::default());
//! assert!(table.apply(&plan, &State::new()).is_ok());
//! assert!(table.snapshot().config_eq(&want));
//! ```

use std::sync::{Arc, Mutex};

use crate::client::{Client, Error};
use crate::state::{ApplyOptions, ApplyReport, FailedChange, Plan, ReplayError, State};

/// A table a run reads and changes.
pub trait Table: Send + 'static {
    /// The whole table, with connection counts where there are any.
    fn read(&mut self) -> Result<State, Error>;
    /// Apply `plan`, diffed from `actual`, and say what became of it.
    fn apply(&mut self, plan: &Plan, actual: &State) -> ApplyReport;
}

/// The kernel's table, through a blocking [`Client`].
#[derive(Debug)]
pub struct KernelTable {
    client: Client,
    options: ApplyOptions,
}

impl KernelTable {
    /// The table `client` talks to; plans applied with `options`.
    pub fn new(client: Client, options: ApplyOptions) -> Self {
        KernelTable { client, options }
    }
}

impl Table for KernelTable {
    fn read(&mut self) -> Result<State, Error> {
        State::read(&self.client)
    }

    fn apply(&mut self, plan: &Plan, actual: &State) -> ApplyReport {
        plan.apply(&self.client, actual, &self.options)
    }
}

/// A table in memory: plans are replayed on a [`State`] as the kernel
/// would apply them, stopping at the first operation it would refuse.
/// Clones share one table, so a test can change it behind a run's back.
#[derive(Debug, Clone, Default)]
pub struct MemoryTable {
    state: Arc<Mutex<State>>,
}

impl MemoryTable {
    /// A table holding `state`.
    pub fn new(state: State) -> Self {
        MemoryTable {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The table now.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    /// Change the table (as an operator with ipvsadm would).
    pub fn edit<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves a usable state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn kernel_error(e: ReplayError) -> Error {
    match e {
        ReplayError::ServiceExists(service) => Error::ServiceExists { service },
        ReplayError::NoSuchService(service) => Error::ServiceNotFound { service },
        ReplayError::DestExists { service, dest } => Error::DestinationExists {
            service,
            destination: dest,
        },
        ReplayError::NoSuchDest { service, dest } => Error::DestinationNotFound {
            service,
            destination: dest,
        },
    }
}

impl Table for MemoryTable {
    fn read(&mut self) -> Result<State, Error> {
        Ok(self.snapshot())
    }

    fn apply(&mut self, plan: &Plan, _actual: &State) -> ApplyReport {
        let mut table = self.lock();
        let mut report = ApplyReport::default();
        let mut ops = plan.ops.iter().cloned().enumerate();
        for (index, op) in ops.by_ref() {
            match table.replay(&op) {
                Ok(()) => report.applied.push(op),
                Err(e) => {
                    report.failed.push(FailedChange {
                        index,
                        op,
                        error: kernel_error(e),
                    });
                    break;
                }
            }
        }
        report.not_attempted = ops.map(|(_, op)| op).collect();
        report
    }
}
