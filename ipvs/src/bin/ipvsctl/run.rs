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
use tokio::signal::unix::{SignalKind, signal};

/// How events are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `TIMESTAMP kind name=value ...`
    #[default]
    Text,
    /// One JSON object a line, with `at`.
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Result<LogFormat, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format {s:?} (text or json)")),
        }
    }
}

/// `leave` or `remove`.
pub fn parse_on_stop(s: &str) -> Result<OnStop, String> {
    match s {
        "leave" => Ok(OnStop::Leave),
        "remove" => Ok(OnStop::Remove),
        _ => Err(format!("unknown --on-stop {s:?} (leave or remove)")),
    }
}

/// What `ipvsctl run` was asked.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub file: PathBuf,
    pub netns: Option<String>,
    /// Time between reconciles that read the table.
    pub period: Duration,
    pub on_stop: OnStop,
    /// Drain destinations leaving the table for at most this long.
    pub drain: Option<Duration>,
    pub log: LogFormat,
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

/// Move this thread (and the threads it starts) into the namespace `name`.
fn enter_netns(name: &str) -> Result<(), String> {
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
pub fn run(opts: &RunOptions) -> u8 {
    let config = match RunConfig::load(&opts.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl run: {}: {e}", opts.file.display());
            return crate::exit::USAGE;
        }
    };
    if let Some(ns) = &opts.netns {
        if let Err(e) = enter_netns(ns) {
            eprintln!("ipvsctl run: {e}");
            return crate::exit::UNAVAILABLE;
        }
    }
    let client = match Client::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl run: {e}");
            return crate::exit::UNAVAILABLE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ipvsctl run: cannot start: {e}");
            return crate::exit::KERNEL;
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
                        let _ = handle.reload_file(file.clone()).await;
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
                crate::exit::OK
            }
            Err(e) => {
                eprintln!("ipvsctl run: {e}");
                crate::exit::KERNEL
            }
        }
    })
}
