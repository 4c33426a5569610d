//! Director failover (feature `failover`): keepalived's VRRP moves the VIPs
//! between two (or more) directors, and its role drives the IPVS connection
//! sync daemon, so that established connections survive a takeover.
//!
//! - [`Settings`]: the VRRP instance, the sync daemon, FAULT/STOP behaviour;
//!   checked before anything starts ([`SettingsError`] names the field).
//! - [`keepalived_config`]: keepalived's configuration from them.
//! - [`Failover::start`]: runs `keepalived --vrrp` as a supervised child
//!   ([`supervise`]) in the caller's network namespace, or attaches to one
//!   already running; follows its notify FIFO ([`Notice`]) into a [`Role`];
//!   each role change brings the sync daemons to it ([`sync`]) through the
//!   blocking [`Client`](crate::client::Client). Every change is an [`Event`] and a log line.
//!
//! The IPVS table itself is not touched: give every director of the pair
//! the same table (e.g. `ipvsctl apply` on each), so that a backup is ready
//! and a takeover is only the VIPs moving. The backup's sync daemon fills
//! its connection table from the master's, so established connections
//! continue through it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ipvs::client::Client;
//! use ipvs::failover::{Failover, Settings};
//! let settings = Settings::new("eth0", 51, 150, ["198.51.100.100/24".parse()?]);
//! let failover = Failover::start(settings, Client::new()?).await?;
//! let mut events = failover.events();
//! while let Ok(event) = events.recv().await {
//!     println!("{event}");
//! }
//! failover.stop().await;
//! # Ok(()) }
//! ```

mod config;
mod notify;
mod settings;
pub mod supervise;
pub mod sync;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::DaemonState;

pub use config::keepalived_config;
pub use notify::{InstanceState, Notice, Role};
pub use settings::{
    DEFAULT_RUNTIME_DIR, IdleSync, Keepalived, Settings, SettingsError, SyncSettings, Unicast, Vip,
};
use supervise::{ChildEvent, Policy, Program, Supervisor};
use sync::SyncControl;

/// Why the role changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// keepalived said so on its notify FIFO.
    Keepalived,
    /// keepalived exited unasked: FAULT until it runs and reports again.
    KeepalivedExited,
    /// We stopped (keepalived did not report STOP itself).
    Stopped,
}

/// Something that happened, in order. Its `Display` is the log line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The role changed.
    Role {
        /// The new role.
        role: Role,
        /// The one before (none before keepalived's first report).
        previous: Option<Role>,
        /// The priority keepalived reported with it.
        priority: Option<u8>,
        /// Why.
        cause: Cause,
    },
    /// The sync daemons now are what the role calls for.
    Sync {
        /// The role.
        role: Role,
        /// The daemons running now.
        running: Vec<DaemonState>,
        /// Those stopped by this change.
        stopped: Vec<DaemonState>,
        /// Those started by this change.
        started: Vec<DaemonState>,
    },
    /// IPVS refused a sync daemon change; retried while the role lasts.
    SyncFailed {
        /// The role.
        role: Role,
        /// The kernel's answer.
        error: String,
        /// Its errno, when it has one.
        errno: Option<i32>,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
    /// keepalived started.
    KeepalivedStarted {
        /// Its pid.
        pid: u32,
    },
    /// keepalived exited unasked; restarted after `restart_in`.
    KeepalivedExited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        status: String,
        /// The delay before it is started again.
        restart_in: Duration,
    },
    /// keepalived could not be started; tried again after `retry_in`.
    KeepalivedSpawnFailed {
        /// Why.
        error: String,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
    /// A FIFO line that is not a role change of our instance.
    Ignored {
        /// The line.
        line: String,
    },
    /// Failover stopped: keepalived (if ours) is gone, the sync daemons are
    /// as `on_stop` says.
    Stopped,
}

fn states(v: &[DaemonState]) -> String {
    if v.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<&str> = v
        .iter()
        .map(|s| match s {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
            DaemonState::Other(_) => "other",
        })
        .collect();
    names.join("+")
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Role {
                role,
                previous,
                priority,
                cause,
            } => {
                let prev = previous.map_or("(none)".to_owned(), |p| p.to_string());
                write!(f, "role {prev} -> {role}")?;
                if let Some(p) = priority {
                    write!(f, " (priority {p})")?;
                }
                match cause {
                    Cause::Keepalived => Ok(()),
                    Cause::KeepalivedExited => f.write_str(" because keepalived exited"),
                    Cause::Stopped => f.write_str(" because failover stopped"),
                }
            }
            Event::Sync {
                role,
                running,
                stopped,
                started,
            } => {
                write!(f, "sync daemon for {role}: {}", states(running))?;
                if !stopped.is_empty() || !started.is_empty() {
                    write!(
                        f,
                        " (stopped {}, started {})",
                        states(stopped),
                        states(started)
                    )?;
                }
                Ok(())
            }
            Event::SyncFailed {
                role,
                error,
                retry_in,
                ..
            } => write!(
                f,
                "sync daemon for {role} failed: {error}; retry in {:.1} s",
                retry_in.as_secs_f64()
            ),
            Event::KeepalivedStarted { pid } => write!(f, "keepalived started, pid {pid}"),
            Event::KeepalivedExited {
                pid,
                status,
                restart_in,
            } => write!(
                f,
                "keepalived (pid {pid}) exited unasked: {status}; restart in {:.1} s",
                restart_in.as_secs_f64()
            ),
            Event::KeepalivedSpawnFailed { error, retry_in } => write!(
                f,
                "keepalived did not start: {error}; retry in {:.1} s",
                retry_in.as_secs_f64()
            ),
            Event::Ignored { line } => write!(f, "notify line ignored: {line}"),
            Event::Stopped => f.write_str("failover stopped"),
        }
    }
}

/// Why failover did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The settings cannot work on this host.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Preparing the runtime directory, configuration or FIFO failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `keepalived --config-test` refused the configuration we wrote.
    #[error("keepalived --config-test refused {} ({status}):\n{output}", path.display())]
    ConfigRejected {
        /// The configuration file.
        path: PathBuf,
        /// Its exit status.
        status: String,
        /// What it said.
        output: String,
    },
}

/// A log sink: one line per event (and keepalived's own output).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Starting failover; see the module docs.
#[derive(Debug)]
pub struct Failover;

/// How often keepalived is restarted, and how long it has to stop.
const POLICY: Policy = Policy {
    initial_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(30),
    stable_after: Duration::from_secs(30),
    stop_timeout: Duration::from_secs(5),
};

/// The bound on `keepalived --config-test`.
const CONFIG_TEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Failover {
    /// Check `settings` on this host, write keepalived's configuration,
    /// start it (or attach to it) and follow its role; log lines go to
    /// stderr, prefixed `failover: `.
    pub async fn start(
        settings: Settings,
        client: impl SyncControl,
    ) -> Result<FailoverHandle, StartError> {
        let log: Log = Arc::new(|line: &str| eprintln!("failover: {line}"));
        Self::start_with_log(settings, client, log).await
    }

    /// [`start`](Self::start), with log lines going to `log`.
    pub async fn start_with_log(
        settings: Settings,
        client: impl SyncControl,
        log: Log,
    ) -> Result<FailoverHandle, StartError> {
        Self::start_inner(settings, client, log, true).await
    }

    /// [`start`](Self::start) for a caller that logs the [`Event`]s itself
    /// (from [`FailoverHandle::events`]): `log` gets only the other lines,
    /// keepalived's own output and how it stopped.
    pub async fn start_with_output_log(
        settings: Settings,
        client: impl SyncControl,
        log: Log,
    ) -> Result<FailoverHandle, StartError> {
        Self::start_inner(settings, client, log, false).await
    }

    async fn start_inner(
        settings: Settings,
        client: impl SyncControl,
        log: Log,
        log_events: bool,
    ) -> Result<FailoverHandle, StartError> {
        let checked = settings.clone();
        tokio::task::spawn_blocking(move || checked.check_host())
            .await
            .map_err(|e| SettingsError::Host {
                message: format!("check task: {e}"),
            })??;
        let (fifo_path, child) = match &settings.keepalived {
            Keepalived::Attach { fifo } => (fifo.clone(), None),
            Keepalived::Run { binary, .. } => {
                let dir = settings.runtime_dir().expect("Run has a runtime dir");
                let files = prepare(&settings, &dir)?;
                let binary = settings::find_program(binary).ok_or_else(|| {
                    SettingsError::KeepalivedMissing {
                        binary: binary.clone(),
                    }
                })?;
                config_test(&binary, &files.config).await?;
                stop_leftover(&files, &log).await;
                (files.fifo.clone(), Some((binary, files)))
            }
        };
        let fifo = pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&fifo_path)
            .map_err(|source| StartError::Io {
                context: "opening the notify FIFO",
                path: fifo_path.clone(),
                source,
            })?;
        let (child_tx, child_rx) = mpsc::unbounded_channel();
        let supervisor = child.map(|(binary, files)| {
            let program = Program::new(binary)
                .arg("--vrrp")
                .arg("--dont-fork")
                .arg("--log-console")
                .arg("--no-syslog")
                .arg("--use-file")
                .arg(&files.config)
                .arg("--pid")
                .arg(&files.pid)
                .arg("--vrrp_pid")
                .arg(&files.vrrp_pid);
            Supervisor::spawn(program, POLICY, child_tx.clone())
        });
        let (events, first_events) = broadcast::channel(256);
        let (role_tx, role) = watch::channel(None);
        let (stop, stop_rx) = oneshot::channel();
        let owned_fifo = supervisor.is_some().then(|| fifo_path.clone());
        let runner = Runner {
            settings,
            client: Arc::new(client),
            log,
            log_events,
            events: events.clone(),
            role: role_tx,
            retry: None,
        };
        let task = tokio::spawn(runner.run(fifo, child_rx, supervisor, stop_rx, owned_fifo));
        Ok(FailoverHandle {
            first_events: std::sync::Mutex::new(Some(first_events)),
            events,
            role,
            stop: Some(stop),
            task,
        })
    }
}

/// A running failover. Dropping it stops failover in the background (as
/// long as the runtime runs); [`stop`](Self::stop) waits for it.
#[derive(Debug)]
pub struct FailoverHandle {
    first_events: std::sync::Mutex<Option<broadcast::Receiver<Event>>>,
    events: broadcast::Sender<Event>,
    role: watch::Receiver<Option<Role>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FailoverHandle {
    /// The events: the first call gets every one since the start, later
    /// calls those from then on. A receiver more than 256 events behind
    /// loses the oldest ones.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        let first = self.first_events.lock().map(|mut f| f.take());
        match first {
            Ok(Some(rx)) => rx,
            _ => self.events.subscribe(),
        }
    }

    /// The current role (none before keepalived's first report).
    pub fn role(&self) -> Option<Role> {
        *self.role.borrow()
    }

    /// A receiver of the role, to wait for changes.
    pub fn role_changes(&self) -> watch::Receiver<Option<Role>> {
        self.role.clone()
    }

    /// Stop: keepalived (if ours) gets SIGTERM and releases the VIPs
    /// (SIGKILL after 5 s), the sync daemons become what `on_stop` says.
    /// Attached to someone else's keepalived, only the following stops.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The files of a keepalived we run.
#[derive(Debug, Clone)]
struct Files {
    config: PathBuf,
    fifo: PathBuf,
    pid: PathBuf,
    vrrp_pid: PathBuf,
}

/// The runtime directory with keepalived's configuration and a fresh FIFO.
fn prepare(settings: &Settings, dir: &Path) -> Result<Files, StartError> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
    let io = |context, path: &Path| {
        let path = path.to_owned();
        move |source| StartError::Io {
            context,
            path,
            source,
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("creating the runtime directory", dir))?;
    let files = Files {
        config: dir.join("keepalived.conf"),
        fifo: dir.join("notify.fifo"),
        pid: dir.join("keepalived.pid"),
        vrrp_pid: dir.join("vrrp.pid"),
    };
    std::fs::write(&files.config, keepalived_config(settings, &files.fifo))
        .map_err(io("writing", &files.config))?;
    match std::fs::symlink_metadata(&files.fifo) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            std::fs::remove_file(&files.fifo).map_err(io("removing", &files.fifo))?;
            mkfifo(&files.fifo).map_err(io("creating the notify FIFO", &files.fifo))?;
        }
        Err(_) => mkfifo(&files.fifo).map_err(io("creating the notify FIFO", &files.fifo))?,
    }
    Ok(files)
}

fn mkfifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A keepalived still running with our configuration (its parent, ours,
/// died without stopping it) is stopped: SIGTERM, SIGKILL after 5 s. Pid
/// files naming anything else are stale and removed, so that keepalived
/// does not take a reused pid for itself already running.
async fn stop_leftover(files: &Files, log: &Log) {
    for pid_file in [&files.pid, &files.vrrp_pid] {
        let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 0)
        else {
            let _ = std::fs::remove_file(pid_file);
            continue;
        };
        let ours = |pid: i32| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let config = files.config.as_os_str().as_encoded_bytes();
                c.windows(config.len()).any(|w| w == config)
            })
        };
        if ours(pid) {
            log(&format!(
                "keepalived {pid} of an earlier run still runs with {}: stopping it",
                files.config.display()
            ));
            supervise::signal(pid, libc::SIGTERM);
            let t0 = Instant::now();
            while ours(pid) && t0.elapsed() < POLICY.stop_timeout {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if ours(pid) {
                supervise::signal(pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(pid_file);
    }
}

/// `keepalived --config-test -f FILE`, bounded in time.
async fn config_test(binary: &Path, config: &Path) -> Result<(), StartError> {
    let run = tokio::process::Command::new(binary)
        .arg("--config-test")
        .arg("--use-file")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let rejected = |status: String, output: String| StartError::ConfigRejected {
        path: config.to_owned(),
        status,
        output,
    };
    match tokio::time::timeout(CONFIG_TEST_TIMEOUT, run).await {
        Err(_) => Err(rejected("timed out".into(), String::new())),
        Ok(Err(source)) => Err(StartError::Io {
            context: "running keepalived --config-test on",
            path: config.to_owned(),
            source,
        }),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(rejected(
            out.status.to_string(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
    }
}

/// The task behind a [`FailoverHandle`].
struct Runner {
    settings: Settings,
    client: Arc<dyn SyncControl>,
    log: Log,
    /// Whether events go to `log` too.
    log_events: bool,
    events: broadcast::Sender<Event>,
    role: watch::Sender<Option<Role>>,
    /// When the last sync change failed: when to try again, and the delay after that.
    retry: Option<(Instant, Duration)>,
}

/// How long, after keepalived stopped, lines still in the FIFO are read.
const DRAIN: Duration = Duration::from_millis(300);

impl Runner {
    fn emit(&self, event: Event) {
        if self.log_events {
            (self.log)(&event.to_string());
        }
        let _ = self.events.send(event);
    }

    async fn run(
        mut self,
        fifo: pipe::Receiver,
        mut child: mpsc::UnboundedReceiver<ChildEvent>,
        supervisor: Option<Supervisor>,
        mut stop: oneshot::Receiver<()>,
        owned_fifo: Option<PathBuf>,
    ) {
        let mut lines = BufReader::new(fifo).lines();
        loop {
            let retry_at = self.retry.map(|(at, _)| at);
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) => self.notice(&line).await,
                    // (Never EOF: we hold the FIFO open for writing too.)
                    Ok(None) | Err(_) => break,
                },
                Some(ev) = child.recv() => self.child_event(ev).await,
                _ = sleep_until(retry_at) => {
                    let role = *self.role.borrow();
                    if let Some(role) = role {
                        self.sync(role).await;
                    }
                }
                _ = &mut stop => break,
            }
        }
        if let Some(sup) = supervisor {
            let how = sup.stop().await;
            (self.log)(&format!("keepalived stopped: {how:?}"));
            // Its last words (STOP) are in the FIFO by now.
            while let Ok(Ok(Some(line))) = tokio::time::timeout(DRAIN, lines.next_line()).await {
                self.notice(&line).await;
            }
            while let Ok(ev) = child.try_recv() {
                if let ChildEvent::Output { line, .. } = ev {
                    (self.log)(&format!("keepalived: {line}"));
                }
            }
            if *self.role.borrow() != Some(Role::Stop) {
                self.transition(Role::Stop, None, Cause::Stopped).await;
            }
            if let Some(path) = owned_fifo {
                let _ = std::fs::remove_file(path);
            }
        }
        self.emit(Event::Stopped);
    }

    async fn notice(&mut self, line: &str) {
        match Notice::parse(line) {
            Notice::Instance {
                name,
                state,
                priority,
            } if name == self.settings.instance => match state.role() {
                Some(role) => {
                    self.transition(role, Some(priority), Cause::Keepalived)
                        .await
                }
                None => (self.log)(&format!("keepalived: {line}")),
            },
            _ => self.emit(Event::Ignored {
                line: line.to_owned(),
            }),
        }
    }

    async fn child_event(&mut self, ev: ChildEvent) {
        match ev {
            ChildEvent::Started { pid } => self.emit(Event::KeepalivedStarted { pid }),
            ChildEvent::Output { line, .. } => (self.log)(&format!("keepalived: {line}")),
            ChildEvent::Exited {
                pid,
                status,
                restart_in,
            } => {
                self.emit(Event::KeepalivedExited {
                    pid,
                    status,
                    restart_in,
                });
                if matches!(*self.role.borrow(), Some(Role::Master | Role::Backup)) {
                    self.transition(Role::Fault, None, Cause::KeepalivedExited)
                        .await;
                }
            }
            ChildEvent::SpawnFailed { error, retry_in } => {
                self.emit(Event::KeepalivedSpawnFailed { error, retry_in })
            }
        }
    }

    async fn transition(&mut self, role: Role, priority: Option<u8>, cause: Cause) {
        let previous = *self.role.borrow();
        if previous == Some(role) {
            return;
        }
        self.role.send_replace(Some(role));
        self.emit(Event::Role {
            role,
            previous,
            priority,
            cause,
        });
        self.retry = None;
        self.sync(role).await;
    }

    /// Bring the sync daemons to `role`; on failure, schedule a retry.
    async fn sync(&mut self, role: Role) {
        let client = self.client.clone();
        let settings = self.settings.clone();
        let result =
            tokio::task::spawn_blocking(move || sync::reconcile(&*client, role, &settings)).await;
        match result {
            Ok(Ok(changes)) => {
                self.retry = None;
                self.emit(Event::Sync {
                    role,
                    running: sync::wanted(role, &self.settings),
                    stopped: changes.stopped,
                    started: changes.started,
                });
            }
            Ok(Err(e)) => {
                let delay = self
                    .retry
                    .map_or(Duration::from_secs(1), |(_, d)| (d * 2).min(MAX_RETRY));
                self.retry = Some((Instant::now() + delay, delay));
                self.emit(Event::SyncFailed {
                    role,
                    error: e.to_string(),
                    errno: e.errno(),
                    retry_in: delay,
                });
            }
            Err(e) => {
                self.retry = Some((Instant::now() + MAX_RETRY, MAX_RETRY));
                self.emit(Event::SyncFailed {
                    role,
                    error: format!("sync task failed: {e}"),
                    errno: None,
                    retry_in: MAX_RETRY,
                });
            }
        }
    }
}

/// The longest delay between attempts at a sync daemon change.
const MAX_RETRY: Duration = Duration::from_secs(30);

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
