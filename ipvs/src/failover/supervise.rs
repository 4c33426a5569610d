//! A supervised child process: started, its output forwarded, restarted
//! with exponential backoff when it exits unasked, stopped with SIGTERM
//! then SIGKILL after a bound, and always reaped.
//!
//! The child runs in a process group of its own (its pid is the group id),
//! so that SIGKILL reaches whatever it forked too (keepalived's VRRP
//! process).
//!
//! ```no_run
//! # async fn demo() {
//! use ipvs::failover::supervise::{ChildEvent, Policy, Program, Supervisor};
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let sup = Supervisor::spawn(Program::new("/usr/sbin/keepalived").arg("--vrrp"), Policy::default(), tx);
//! if let Some(ChildEvent::Started { pid }) = rx.recv().await {
//!     println!("running as {pid}");
//! }
//! println!("{:?}", sup.stop().await);
//! # }
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The executable.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl Program {
    /// A program without arguments.
    pub fn new(path: impl Into<PathBuf>) -> Program {
        Program {
            path: path.into(),
            args: Vec::new(),
        }
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Program {
        self.args.push(arg.into());
        self
    }
}

/// Restart and stop timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first restart delay (default 0.5 s); doubled after each restart.
    pub initial_backoff: Duration,
    /// The largest restart delay (default 30 s).
    pub max_backoff: Duration,
    /// A child that ran this long before exiting is restarted after
    /// `initial_backoff` again (default 30 s).
    pub stable_after: Duration,
    /// How long a child has between SIGTERM and SIGKILL (default 5 s).
    pub stop_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            stable_after: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(5),
        }
    }
}

/// What happens to the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEvent {
    /// It runs.
    Started {
        /// Its pid (and process group).
        pid: u32,
    },
    /// A line it wrote on stdout or stderr.
    Output {
        /// Its pid.
        pid: u32,
        /// The line, without its newline.
        line: String,
    },
    /// It exited without being asked to; it is started again after `restart_in`.
    Exited {
        /// Its pid.
        pid: u32,
        /// How it ended: `exit status 3`, `signal 9 (SIGKILL)`.
        status: String,
        /// The delay before the next start.
        restart_in: Duration,
    },
    /// It could not be started; tried again after `retry_in`.
    SpawnFailed {
        /// Why.
        error: String,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
}

/// How the child ended when asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// It exited after SIGTERM.
    Terminated {
        /// Its exit status.
        status: String,
    },
    /// It was still running `stop_timeout` after SIGTERM: killed (the whole
    /// process group) and reaped.
    Killed,
    /// No child was running (between restarts, or never started).
    NotRunning,
}

/// A child process kept running until [`stop`](Supervisor::stop)ped.
///
/// Dropping a `Supervisor` without stopping it stops the child the same
/// way, in the background (on the runtime that still runs).
#[derive(Debug)]
pub struct Supervisor {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Stopped>,
}

impl Supervisor {
    /// Start `program` now, on the current tokio runtime; events go to `events`.
    pub fn spawn(
        program: Program,
        policy: Policy,
        events: mpsc::UnboundedSender<ChildEvent>,
    ) -> Supervisor {
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(supervise(program, policy, events, stop_rx));
        Supervisor {
            stop: Some(stop),
            task,
        }
    }

    /// Stop the child: SIGTERM, then SIGKILL to its process group after the
    /// policy's `stop_timeout`; it is reaped before this returns.
    pub async fn stop(mut self) -> Stopped {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(s) => s,
            // The task panicked or was cancelled: kill_on_drop killed the child.
            Err(_) => Stopped::Killed,
        }
    }
}

async fn supervise(
    program: Program,
    policy: Policy,
    events: mpsc::UnboundedSender<ChildEvent>,
    mut stop: oneshot::Receiver<()>,
) -> Stopped {
    let mut delay = policy.initial_backoff;
    loop {
        let mut command = Command::new(&program.path);
        command
            .args(&program.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let started = Instant::now();
        let spawned = command.spawn().and_then(|c| match c.id() {
            Some(pid) => Ok((c, pid)),
            None => Err(std::io::Error::other("exited at once")),
        });
        let (mut child, pid) = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(ChildEvent::SpawnFailed {
                    error: format!("{}: {e}", program.path.display()),
                    retry_in: delay,
                });
                if pause_or_stop(delay, &mut stop).await {
                    return Stopped::NotRunning;
                }
                delay = (delay * 2).min(policy.max_backoff);
                continue;
            }
        };
        forward_output(&mut child, pid, &events);
        let _ = events.send(ChildEvent::Started { pid });
        tokio::select! {
            status = child.wait() => {
                if started.elapsed() >= policy.stable_after {
                    delay = policy.initial_backoff;
                }
                let status = match status {
                    Ok(s) => describe(s),
                    Err(e) => format!("wait failed: {e}"),
                };
                let _ = events.send(ChildEvent::Exited { pid, status, restart_in: delay });
                if pause_or_stop(delay, &mut stop).await {
                    return Stopped::NotRunning;
                }
                delay = (delay * 2).min(policy.max_backoff);
            }
            _ = &mut stop => return terminate(child, pid, policy.stop_timeout).await,
        }
    }
}

/// Sleep `delay`; true when asked to stop meanwhile (or the handle is gone).
async fn pause_or_stop(delay: Duration, stop: &mut oneshot::Receiver<()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop => true,
    }
}

async fn terminate(mut child: Child, pid: u32, timeout: Duration) -> Stopped {
    signal(pid as i32, libc::SIGTERM);
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Stopped::Terminated {
            status: describe(status),
        },
        Ok(Err(_)) | Err(_) => {
            signal(-(pid as i32), libc::SIGKILL);
            let _ = child.wait().await;
            Stopped::Killed
        }
    };
    // Whatever the child left behind in its group goes too.
    signal(-(pid as i32), libc::SIGKILL);
    outcome
}

pub(crate) fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // pid that is gone gives ESRCH, which is ignored.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}{}", signal_name(sig)),
        _ => status.to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGINT => " (SIGINT)",
        _ => "",
    }
}

fn forward_output(child: &mut Child, pid: u32, events: &mpsc::UnboundedSender<ChildEvent>) {
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(out, pid, events.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(err, pid, events.clone()));
    }
}

async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    pid: u32,
    events: mpsc::UnboundedSender<ChildEvent>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if events.send(ChildEvent::Output { pid, line }).is_err() {
            break;
        }
    }
}
