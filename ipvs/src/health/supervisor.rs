//! The run loop as a library type: [`Supervisor`] makes the table what
//! the configuration says, runs the checks, reconciles every period and
//! at once on a transition, reloads on request, and stops on request;
//! [`Handle`] is how another task (a signal handler, Python) talks to it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ipvs::health::{MemoryTable, RunConfig, Supervisor, SupervisorOptions};
//! let config = RunConfig::load("/etc/ipvs/run.yaml".as_ref())?;
//! let (supervisor, handle) = Supervisor::new(config, MemoryTable::default(), SupervisorOptions::default());
//! let mut events = handle.subscribe();
//! tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         eprintln!("{event}");
//!     }
//! });
//! let stopper = handle.clone();
//! tokio::spawn(async move {
//!     tokio::signal::ctrl_c().await.ok();
//!     stopper.stop().await;
//! });
//! supervisor.run().await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::config::{ConfigError, RunConfig};
use super::event::Event;
use super::monitor::Monitor;
use super::notify::Notifier;
use super::observe::{CheckResult, Observation, RoundFigures};
use super::reconcile::{Reconcile, Round};
use super::scheduler::{Report, Scheduler};
use super::table::Table;
use crate::state::State;

/// What a run does to the table when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStop {
    /// Leave the table as it is (the default): a restart takes over a
    /// working table without a gap.
    #[default]
    Leave,
    /// Delete every service the run manages.
    Remove,
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Time between reconciles that read the whole table (and repair
    /// drift); transitions reconcile at once in between. Default 5 s.
    pub reconcile_period: Duration,
    /// What stopping does to the table.
    pub on_stop: OnStop,
    /// Destinations leaving the table with connections drain (weight 0)
    /// for at most this long before deletion; `None` (the default):
    /// deleted at once (the kernel keeps forwarding their established
    /// connections unless `expire_nodest_conn` is set).
    pub drain: Option<Duration>,
    /// Probe results that may wait for the loop (default 16,384).
    pub report_capacity: usize,
    /// Events that may wait for a slow subscriber before it misses some
    /// (default 4,096).
    pub event_capacity: usize,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            reconcile_period: Duration::from_secs(5),
            on_stop: OnStop::Leave,
            drain: None,
            report_capacity: 16_384,
            event_capacity: 4096,
        }
    }
}

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The table could not be read or made what the configuration says
    /// at start: nothing was checked.
    #[error("cannot set up the table: {0}")]
    Start(String),
    /// The blocking thread that talks to the table died.
    #[error("the table's thread failed: {0}")]
    TableThread(String),
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Probes started.
    pub started: usize,
    /// Probes stopped.
    pub stopped: usize,
    /// Probes kept with their state.
    pub kept: usize,
    /// Operations the reconcile after the reload sent.
    pub ops: usize,
    /// Those operations, each as an ipvsadm rule (`-e -t ... -w 5`).
    pub operations: Vec<String>,
}

type RoundResult = (
    Box<dyn Table>,
    Reconcile,
    Result<Round, crate::client::Error>,
);
type RoundTask = tokio::task::JoinHandle<RoundResult>;

enum Command {
    Reload(Box<RunConfig>, oneshot::Sender<ReloadSummary>),
    ReloadFile(
        PathBuf,
        Option<super::config::Format>,
        oneshot::Sender<Result<ReloadSummary, ConfigError>>,
    ),
    Desired(oneshot::Sender<State>),
    Stop(oneshot::Sender<()>),
}

/// Talks to a running [`Supervisor`]. Clones talk to the same run;
/// dropping every handle stops it.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    observations: broadcast::Sender<Observation>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Reload(..) => "Reload",
            Command::ReloadFile(..) => "ReloadFile",
            Command::Desired(..) => "Desired",
            Command::Stop(..) => "Stop",
        })
    }
}

impl Handle {
    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Every check result, round and table from now on (see
    /// [`Observation`]); for metrics and status pages.
    pub fn subscribe_observations(&self) -> broadcast::Receiver<Observation> {
        self.observations.subscribe()
    }

    /// Run `config` from now on; unchanged probes keep their state.
    /// `None` if the run has stopped.
    pub async fn reload(&self, config: RunConfig) -> Option<ReloadSummary> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Reload(Box::new(config), tx))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Load `path` and run it; a file that does not load leaves the
    /// running configuration alone (and emits [`Event::ReloadFailed`]).
    /// `None` if the run has stopped.
    pub async fn reload_file(&self, path: PathBuf) -> Option<Result<ReloadSummary, ConfigError>> {
        self.reload_file_as(path, None).await
    }

    /// [`Handle::reload_file`] in `format` (`None`: by the file's name).
    pub async fn reload_file_as(
        &self,
        path: PathBuf,
        format: Option<super::config::Format>,
    ) -> Option<Result<ReloadSummary, ConfigError>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::ReloadFile(path, format, tx))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// The effective desired state now.
    pub async fn desired(&self) -> Option<State> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Desired(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Stop the run, and wait until it has done what it does on stop.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A health-checked run of a table.
pub struct Supervisor {
    monitor: Monitor,
    table: Option<Box<dyn Table>>,
    reconcile: Option<Reconcile>,
    options: SupervisorOptions,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    observations: broadcast::Sender<Observation>,
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("monitor", &self.monitor)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A run of `config` on `table`; nothing happens until [`Supervisor::run`].
    pub fn new(
        config: RunConfig,
        table: impl Table,
        options: SupervisorOptions,
    ) -> (Supervisor, Handle) {
        let (ctx, crx) = mpsc::channel(16);
        let (etx, _) = broadcast::channel(options.event_capacity.max(1));
        let (otx, _) = broadcast::channel(options.event_capacity.max(1));
        let notifier = config.notify.clone().map(Notifier::new);
        let s = Supervisor {
            monitor: Monitor::new(config),
            table: Some(Box::new(table)),
            reconcile: Some(Reconcile::new(options.drain)),
            options,
            commands: crx,
            events: etx.clone(),
            observations: otx.clone(),
            notifier,
        };
        (
            s,
            Handle {
                commands: ctx,
                events: etx,
                observations: otx,
            },
        )
    }

    fn emit(&self, event: Event) {
        if let Some(n) = &self.notifier {
            n.notify(&event);
        }
        let _ = self.events.send(event);
    }

    /// Send what `make` builds, if anyone listens.
    fn observe(&self, make: impl FnOnce() -> Observation) {
        if self.observations.receiver_count() > 0 {
            let _ = self.observations.send(make());
        }
    }

    /// Start a reconcile round on the blocking thread pool.
    fn start_round(&mut self, read: bool) -> RoundTask {
        let (desired, events) = self.monitor.desired();
        for e in events {
            self.emit(e);
        }
        self.observe(|| Observation::Effective(std::sync::Arc::new(desired.clone())));
        let mut table = self
            .table
            .take()
            .expect("the table is back after each round");
        let mut reconcile = self
            .reconcile
            .take()
            .expect("the reconcile state is back after each round");
        tokio::task::spawn_blocking(move || {
            let r = reconcile.round(table.as_mut(), &desired, read);
            (table, reconcile, r)
        })
    }

    /// Take back what a round had, and emit its events.
    fn finish_round(
        &mut self,
        done: Result<RoundResult, tokio::task::JoinError>,
    ) -> Result<Option<Round>, RunError> {
        let (table, reconcile, result) = done.map_err(|e| RunError::TableThread(e.to_string()))?;
        self.table = Some(table);
        self.reconcile = Some(reconcile);
        match result {
            Ok(round) => {
                for e in round.events.clone() {
                    self.emit(e);
                }
                self.observe(|| {
                    Observation::Round(RoundFigures {
                        read: round.read,
                        planned: round.plan.len(),
                        applied: round.report.applied.len(),
                        failed: round.report.failed.len() + round.report.in_doubt.len(),
                        drift_repaired: round
                            .events
                            .iter()
                            .filter(|e| matches!(e, Event::DriftRepaired { .. }))
                            .count(),
                    })
                });
                Ok(Some(round))
            }
            Err(e) => {
                self.reconcile.as_mut().expect("back").force_read();
                self.emit(Event::ReconcileFailed {
                    error: format!("reading the table: {e}"),
                });
                Ok(None)
            }
        }
    }

    /// One whole round, waited for (a round under way first finishes).
    async fn reconcile(
        &mut self,
        running: &mut Option<RoundTask>,
        read: bool,
    ) -> Result<Option<Round>, RunError> {
        if let Some(task) = running.take() {
            self.finish_round(task.await)?;
        }
        let task = self.start_round(read);
        self.finish_round(task.await)
    }

    /// Run until stopped: the first reconcile (which must succeed: else
    /// [`RunError::Start`]), then the checks and the loop.
    ///
    /// Rounds run on the blocking pool while results keep being counted;
    /// transitions during a round are covered by one round right after it
    /// (a quick one, trusting the table as the last round left it); every
    /// `reconcile_period` a round reads the table and repairs drift.
    pub async fn run(mut self) -> Result<(), RunError> {
        let mut running: Option<RoundTask> = None;
        self.observe_configured();
        match self.reconcile(&mut running, true).await? {
            Some(round) if round.report.is_ok() => {}
            Some(round) => return Err(RunError::Start(round.report.to_string())),
            None => {
                return Err(RunError::Start(
                    "the table could not be read (see the reconcile-failed event)".into(),
                ));
            }
        }
        let (mut scheduler, mut reports) = Scheduler::new(self.options.report_capacity);
        scheduler.sync(&self.monitor, &[]);
        let mut ticks = tokio::time::interval(self.options.reconcile_period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks.tick().await;
        // A round wanted: Some(whether it reads the table).
        let mut wanted: Option<bool> = None;
        loop {
            if running.is_none() {
                if let Some(read) = wanted.take() {
                    running = Some(self.start_round(read));
                }
            }
            tokio::select! {
                done = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                    running = None;
                    self.finish_round(done)?;
                }
                command = self.commands.recv() => match command {
                    None => return self.stop(scheduler, running, None).await,
                    Some(Command::Stop(done)) => return self.stop(scheduler, running, Some(done)).await,
                    Some(Command::Desired(tx)) => {
                        let (desired, events) = self.monitor.desired();
                        for e in events {
                            self.emit(e);
                        }
                        let _ = tx.send(desired);
                    }
                    Some(Command::Reload(config, tx)) => {
                        let summary = self.reload(*config, &mut scheduler, &mut running).await?;
                        let _ = tx.send(summary);
                    }
                    Some(Command::ReloadFile(path, format, tx)) => {
                        let loaded = tokio::task::spawn_blocking(move || match format {
                            Some(f) => RunConfig::load_as(&path, f),
                            None => RunConfig::load(&path),
                        })
                            .await
                            .map_err(|e| RunError::TableThread(e.to_string()))?;
                        match loaded {
                            Ok(config) => {
                                let summary = self.reload(config, &mut scheduler, &mut running).await?;
                                let _ = tx.send(Ok(summary));
                            }
                            Err(e) => {
                                self.emit(Event::ReloadFailed { error: e.to_string() });
                                let _ = tx.send(Err(e));
                            }
                        }
                    }
                },
                Some(report) = reports.recv() => {
                    let mut changed = self.handle(report);
                    // Take every result already waiting.
                    while let Ok(report) = reports.try_recv() {
                        changed |= self.handle(report);
                    }
                    if changed {
                        wanted = Some(wanted.unwrap_or(false));
                    }
                }
                _ = ticks.tick() => {
                    wanted = Some(true);
                }
            }
        }
    }

    /// Count a result; whether the effective state changed.
    fn handle(&mut self, report: Report) -> bool {
        let (events, changed) = self.monitor.record_changed(report.id, &report.outcome);
        for e in events {
            self.emit(e);
        }
        // (A result of a probe a reload stopped has no spec: not shown.)
        if let Some(spec) = self.monitor.probe(report.id) {
            self.observe(|| {
                Observation::Check(CheckResult {
                    target: spec.target.addr,
                    check: spec.probe.kind(),
                    dests: spec.dests.clone(),
                    up: self.monitor.status(report.id).is_none_or(|s| s.up),
                    outcome: report.outcome,
                    took: report.took,
                    at: std::time::SystemTime::now(),
                })
            });
        }
        changed
    }

    fn observe_configured(&self) {
        self.observe(|| {
            Observation::Configured(std::sync::Arc::new(self.monitor.config().state.clone()))
        });
    }

    async fn reload(
        &mut self,
        config: RunConfig,
        scheduler: &mut Scheduler,
        running: &mut Option<RoundTask>,
    ) -> Result<ReloadSummary, RunError> {
        if let Some(n) = &config.notify {
            self.notifier = Some(Notifier::new(n.clone()));
        } else {
            self.notifier = None;
        }
        let changes = self.monitor.reload(config);
        self.observe_configured();
        scheduler.sync(&self.monitor, &changes.retimed);
        self.emit(Event::ConfigReloaded {
            probes_started: changes.started.len(),
            probes_stopped: changes.stopped.len(),
            probes_kept: changes.kept.len(),
        });
        let operations: Vec<String> = self
            .reconcile(running, true)
            .await?
            .map(|r| r.report.applied.iter().map(|op| op.to_string()).collect())
            .unwrap_or_default();
        Ok(ReloadSummary {
            started: changes.started.len(),
            stopped: changes.stopped.len(),
            kept: changes.kept.len(),
            ops: operations.len(),
            operations,
        })
    }

    async fn stop(
        mut self,
        mut scheduler: Scheduler,
        running: Option<RoundTask>,
        done: Option<oneshot::Sender<()>>,
    ) -> Result<(), RunError> {
        scheduler.stop();
        if let Some(task) = running {
            self.finish_round(task.await)?;
        }
        if self.options.on_stop == OnStop::Remove {
            let mut table = self.table.take().expect("the table is here");
            let mut reconcile = self.reconcile.take().expect("the reconcile state is here");
            let round = tokio::task::spawn_blocking(move || reconcile.remove_ours(table.as_mut()))
                .await
                .map_err(|e| RunError::TableThread(e.to_string()))?;
            match round {
                Ok(round) => {
                    for e in round.events {
                        self.emit(e);
                    }
                }
                Err(e) => self.emit(Event::ReconcileFailed {
                    error: format!("removing the run's services: {e}"),
                }),
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
        Ok(())
    }
}
