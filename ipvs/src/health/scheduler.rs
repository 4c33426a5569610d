//! Running probes: one tokio task per probe, each sleeping on tokio's
//! timer wheel between runs, so 10,000 targets cost 10,000 small tasks and
//! timers on one thread. Each task waits a random part of its start-up
//! jitter, then probes every interval (a probe that overruns delays the
//! next one rather than piling up), each run bounded by its timeout, and
//! sends every result to one channel.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use ipvs::health::{Check, Monitor, RunConfig, Scheduler};
//! let config = RunConfig::from_yaml("services: []").unwrap();
//! let monitor = Monitor::new(config);
//! let (mut scheduler, mut reports) = Scheduler::new(1024);
//! scheduler.sync(&monitor, &[]);
//! while let Some(report) = reports.recv().await {
//!     println!("{:?}: {:?}", report.id, report.outcome);
//! }
//! # }
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::monitor::{Monitor, ProbeId, ProbeSpec};
use super::probe::{Failure, FailureReason, Outcome, Probe, Target};

/// One probe's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The probe.
    pub id: ProbeId,
    /// What it found.
    pub outcome: Outcome,
    /// When the probe started.
    pub started: Instant,
    /// How long it took.
    pub took: Duration,
}

/// The running probe tasks.
#[derive(Debug)]
pub struct Scheduler {
    tasks: HashMap<ProbeId, AbortHandle>,
    tx: mpsc::Sender<Report>,
}

impl Scheduler {
    /// A scheduler with no probes, and the receiving end of its reports
    /// (`capacity` reports may wait; a full channel delays the probes).
    pub fn new(capacity: usize) -> (Scheduler, mpsc::Receiver<Report>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Scheduler {
                tasks: HashMap::new(),
                tx,
            },
            rx,
        )
    }

    /// How many probes run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Run exactly the monitor's probes: start the new ones, stop those it
    /// no longer has, restart those in `retimed` (same probe, new timing);
    /// the others go on undisturbed. Must be called within a tokio runtime.
    pub fn sync(&mut self, monitor: &Monitor, retimed: &[ProbeId]) {
        self.tasks.retain(|id, task| {
            let keep = monitor.probe(*id).is_some() && !retimed.contains(id);
            if !keep {
                task.abort();
            }
            keep
        });
        for (id, spec) in monitor.probes() {
            if !self.tasks.contains_key(&id) {
                let handle = tokio::spawn(probe_loop(id, spec.clone(), self.tx.clone()));
                self.tasks.insert(id, handle.abort_handle());
            }
        }
    }

    /// Stop every probe.
    pub fn stop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A random delay below `jitter`.
fn jitter_delay(id: ProbeId, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(id.0);
    let nanos = jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    Duration::from_nanos(h.finish() % nanos)
}

async fn probe_loop(id: ProbeId, spec: ProbeSpec, tx: mpsc::Sender<Report>) {
    tokio::time::sleep(jitter_delay(id, spec.timing.jitter)).await;
    let mut ticks = tokio::time::interval(spec.timing.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let outcome = run_bounded(&spec.probe, &spec.target, spec.timing.timeout).await;
        let report = Report {
            id,
            outcome,
            started,
            took: started.elapsed(),
        };
        if tx.send(report).await.is_err() {
            return;
        }
    }
}

/// Run a probe; whatever it does, it ends within `timeout`.
pub async fn run_bounded(probe: &Probe, target: &Target, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, probe.run(target, timeout)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Down(Failure {
            reason: FailureReason::Timeout,
            detail: format!("{}: no result within {timeout:?}", target.addr),
        }),
    }
}
