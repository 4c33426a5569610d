//! `ipvsctl run FILE`: the health-checked run as a process. Thin glue over
//! `ipvs::health::Supervisor`: load FILE (a bad one exits 2 before
//! anything is touched), enter the namespace, log each event as one line
//! on stderr, reload on SIGHUP, stop on SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ipvs::client::{Client, Netns};
use ipvs::health::event::timestamp;
use ipvs::health::{Event, KernelTable, OnStop, RunConfig, Supervisor, SupervisorOptions};
use ipvs::state::ApplyOptions;

use crate::exit::{Exit, Result};
use crate::kernel::Global;
use tokio::signal::unix::{SignalKind, signal};

/// How events are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP kind name=value ...`
    #[default]
    Text,
    /// One JSON object a line, with `at`.
    Json,
}

/// What to do with the table when the run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StopAction {
    /// Leave the table as it is.
    #[default]
    Leave,
    /// Remove the services of FILE.
    Remove,
}

/// `run FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The configuration: a state file (.json, .yaml or .yml, .toml) with
    /// `health:` blocks per service and `check:` per destination, or plain
    /// ipvsadm rules (no checks).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Time between reconciles that read the table (also at once on a
    /// transition). DURATION: seconds, or with units (500ms, 5s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::apply::parse_duration)]
    pub period: Duration,
    /// On SIGTERM/SIGINT: leave the table, or remove the services of FILE.
    #[arg(long, value_enum, value_name = "ACTION", default_value = "leave")]
    pub on_stop: StopAction,
    /// Destinations leaving the table drain (weight 0) for at most DURATION
    /// before they are deleted.
    #[arg(long, value_name = "DURATION", value_parser = crate::apply::parse_duration)]
    pub drain: Option<Duration>,
    /// One line per event on stderr: plain text or JSON.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

fn log_line(format: LogFormat, what: &str, event: Option<&Event>) {
    let at = timestamp(SystemTime::now());
    match (format, event) {
        (LogFormat::Text, Some(e)) => eprintln!("{at} {e}"),
        (LogFormat::Text, None) => eprintln!("{at} {what}"),
        (LogFormat::Json, Some(e)) => {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.insert("at".into(), at.into());
            }
            eprintln!("{v}");
        }
        (LogFormat::Json, None) => {
            eprintln!(
                "{}",
                serde_json::json!({"at": at, "event": "log", "message": what})
            )
        }
    }
}

/// What a reload did, as one log line: the probes, then every operation
/// sent (`run: reloaded: 0 probes started, 0 stopped, 3 kept; 1 operation: -e ...`).
fn reload_line(s: &ipvs::health::ReloadSummary) -> String {
    let ops = match s.operations.len() {
        0 => "no operation".to_owned(),
        1 => format!("1 operation: {}", s.operations[0]),
        n => format!("{n} operations: {}", s.operations.join("; ")),
    };
    format!(
        "run: reloaded: {} probes started, {} stopped, {} kept; {ops}",
        s.started, s.stopped, s.kept
    )
}

/// Move this thread (and the threads it starts) into the namespace `name`.
fn enter_netns(name: &str) -> std::result::Result<(), String> {
    use std::os::fd::AsRawFd;
    let Netns::Path(path) = Netns::named(name).map_err(|e| format!("--netns: {e}"))? else {
        return Ok(());
    };
    let file = std::fs::File::open(&path)
        .map_err(|e| format!("no network namespace {name:?} ({}: {e})", path.display()))?;
    // SAFETY: setns takes a namespace fd we hold open for the call; it
    // changes only the calling thread's namespace, before any other thread
    // of this process exists.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!(
            "cannot enter network namespace {name:?}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Run; the process's exit code.
pub fn run(args: &RunArgs, global: &Global) -> Result<Exit> {
    Ok(run_with(&RunOptions {
        file: args.file.clone(),
        netns: global.netns.clone(),
        period: args.period,
        on_stop: match args.on_stop {
            StopAction::Leave => OnStop::Leave,
            StopAction::Remove => OnStop::Remove,
        },
        drain: args.drain,
        log: args.log_format,
    }))
}

/// What `ipvsctl run` was asked, resolved.
struct RunOptions {
    file: PathBuf,
    netns: Option<String>,
    period: Duration,
    on_stop: OnStop,
    drain: Option<Duration>,
    log: LogFormat,
}

fn run_with(opts: &RunOptions) -> Exit {
    let config = match RunConfig::load(&opts.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl run: {}: {e}", opts.file.display());
            return Exit::Usage;
        }
    };
    if let Some(ns) = &opts.netns {
        if let Err(e) = enter_netns(ns) {
            eprintln!("ipvsctl run: {e}");
            return Exit::Unavailable;
        }
    }
    let client = match Client::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl run: {e}");
            return Exit::Unavailable;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ipvsctl run: cannot start: {e}");
            return Exit::Kernel;
        }
    };
    let log = opts.log;
    let summary = format!(
        "run: {}: {} services, {} destinations, {} checked",
        opts.file.display(),
        config.state.services.len(),
        config.state.dest_count(),
        config.checked().count()
    );
    runtime.block_on(async move {
        let table = KernelTable::new(client, ApplyOptions::default());
        let options = SupervisorOptions {
            reconcile_period: opts.period,
            on_stop: opts.on_stop,
            drain: opts.drain,
            ..SupervisorOptions::default()
        };
        let (supervisor, handle) = Supervisor::new(config, table, options);
        let mut events = handle.subscribe();
        let logger = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => log_line(log, "", Some(&e)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        log_line(log, &format!("log: {n} events missed"), None)
                    }
                    Err(_) => return,
                }
            }
        });
        let file = opts.file.clone();
        let signals = tokio::spawn(async move {
            let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::hangup()),
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                log_line(log, "run: cannot handle signals; stopping", None);
                handle.stop().await;
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        log_line(log, &format!("run: SIGHUP: reloading {}", file.display()), None);
                        // A file that does not load is logged (reload-failed) and changes nothing.
                        if let Some(Ok(s)) = handle.reload_file(file.clone()).await {
                            log_line(log, &reload_line(&s), None);
                        }
                    }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
            }
            log_line(log, "run: stopping", None);
            handle.stop().await;
        });
        log_line(log, &summary, None);
        let result = supervisor.run().await;
        signals.abort();
        // Let the logger print what is left.
        tokio::time::sleep(Duration::from_millis(20)).await;
        logger.abort();
        match result {
            Ok(()) => {
                log_line(log, "run: stopped", None);
                Exit::Done
            }
            Err(e) => {
                eprintln!("ipvsctl run: {e}");
                Exit::Kernel
            }
        }
    })
}
