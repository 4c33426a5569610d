//! `ipvsctl run FILE`: the health-checked run as a process. Thin glue over
//! `ipvs::health::Supervisor`: load FILE (a bad one exits 2 before
//! anything is touched), enter the namespace, log each event as one line
//! on stderr, reload on SIGHUP, stop on SIGTERM or SIGINT. A `failover:`
//! block runs beside it (`crate::failover`).

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

// `run FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The configuration: a state file (.json, .yaml or .yml, .toml) with
    /// `health:` blocks per service and `check:` per destination (and a
    /// `failover:` block: keepalived's VRRP for the VIPs, its role driving
    /// the sync daemon), an lvs.cf or keepalived.conf (nanny's and
    /// keepalived's checks), or plain ipvsadm rules (no checks).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub format: crate::files::FormatOption,
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
    #[cfg(feature = "status")]
    #[command(flatten)]
    pub listen: crate::listen::ListenArgs,
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

/// Each check holds a socket (or a child's pipes) while it runs: with
/// thousands of checks the usual soft limit of 1024 open files is too low.
/// Raise it to the hard limit, and say so if even that looks short.
fn raise_open_file_limit(checks: usize, log: LogFormat) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    let now = getrlimit(Resource::Nofile).current;
    if let Some(n) = now {
        if (n as usize) < checks + 256 {
            log_line(
                log,
                &format!(
                    "run: warning: {checks} checks and at most {n} open files (ulimit -n): checks may fail to open sockets"
                ),
                None,
            );
        }
    }
}

/// Move this thread (and the threads it starts) into the namespace `name`.
fn enter_netns(name: &str) -> std::result::Result<(), String> {
    let ns = Netns::named(name).map_err(|e| format!("--netns: {e}"))?;
    ipvs::client::enter_netns(&ns)
        .map_err(|e| format!("cannot enter network namespace {name:?}: {e}"))
}

/// Run; the process's exit code.
pub fn run(args: &RunArgs, global: &Global) -> Result<Exit> {
    Ok(run_with(&RunOptions {
        file: args.file.clone(),
        format: args.format.format,
        netns: global.netns.clone(),
        period: args.period,
        on_stop: match args.on_stop {
            StopAction::Leave => OnStop::Leave,
            StopAction::Remove => OnStop::Remove,
        },
        drain: args.drain,
        log: args.log_format,
        #[cfg(feature = "status")]
        listen: args.listen.clone(),
    }))
}

/// What `ipvsctl run` was asked, resolved.
struct RunOptions {
    file: PathBuf,
    format: Option<crate::files::Format>,
    netns: Option<String>,
    period: Duration,
    on_stop: OnStop,
    drain: Option<Duration>,
    log: LogFormat,
    #[cfg(feature = "status")]
    listen: crate::listen::ListenArgs,
}

fn run_with(opts: &RunOptions) -> Exit {
    let loaded = crate::files::read_run_config(&opts.file, opts.format).and_then(|c| {
        c.validate()
            .map(|()| c)
            .map_err(|e| crate::exit::Failure::usage(format!("{}: {e}", opts.file.display())))
    });
    let config: RunConfig = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl run: {}", e.message);
            return Exit::Usage;
        }
    };
    raise_open_file_limit(config.checked().count(), opts.log);
    if let Some(ns) = &opts.netns {
        if let Err(e) = enter_netns(ns) {
            eprintln!("ipvsctl run: {e}");
            return Exit::Unavailable;
        }
    }
    #[cfg(feature = "failover")]
    if let Some(Err((exit, e))) = config.failover.as_ref().map(crate::failover::check) {
        eprintln!("ipvsctl run: {}: {e}", opts.file.display());
        return exit;
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
    #[cfg(all(feature = "status", feature = "failover"))]
    let failover_instance = config.failover.as_ref().map(|f| f.instance.clone());
    runtime.block_on(async move {
        #[cfg(feature = "failover")]
        let mut failover = match crate::failover::DirectorFailover::from_config(&config, log).await
        {
            Ok(f) => f,
            Err((exit, e)) => {
                eprintln!("ipvsctl run: {}: {e}", opts.file.display());
                return exit;
            }
        };
        let table = KernelTable::new(client, ApplyOptions::default());
        let options = SupervisorOptions {
            reconcile_period: opts.period,
            on_stop: opts.on_stop,
            drain: opts.drain,
            ..SupervisorOptions::default()
        };
        let (supervisor, handle) = Supervisor::new(config, table, options);
        let mut events = handle.subscribe();
        #[cfg(feature = "status")]
        #[cfg_attr(not(feature = "failover"), allow(unused_mut))]
        let mut _listening = {
            let title = format!("ipvsctl run {}", opts.file.display());
            match crate::listen::start(&opts.listen, &title, &handle, |m| log_line(log, m, None))
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("ipvsctl run: {e}");
                    return Exit::Usage;
                }
            }
        };
        #[cfg(all(feature = "status", feature = "failover"))]
        if let (Some(l), Some(instance)) = (_listening.as_mut(), &failover_instance) {
            l.follow_role(instance.clone(), failover.roles(), |r| {
                r.role.to_string().to_ascii_lowercase()
            });
        }
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
        let format = opts.format.map(crate::files::run_format);
        let (ended, mut run_ended) = tokio::sync::oneshot::channel::<()>();
        let signals = tokio::spawn(async move {
            let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::hangup()),
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                log_line(log, "run: cannot handle signals; stopping", None);
                #[cfg(feature = "failover")]
                failover.stop().await;
                handle.stop().await;
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        log_line(log, &format!("run: SIGHUP: reloading {}", file.display()), None);
                        // A file that does not load is logged (reload-failed) and changes nothing.
                        if let Some(Ok(s)) = handle.reload_file_as(file.clone(), format).await {
                            log_line(log, &reload_line(&s), None);
                        }
                        #[cfg(feature = "failover")]
                        failover.reload_file(&file, format).await;
                    }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = &mut run_ended => break,
                }
            }
            log_line(log, "run: stopping", None);
            // The VIPs go first (to the peer), then the table is left or removed.
            #[cfg(feature = "failover")]
            failover.stop().await;
            handle.stop().await;
        });
        log_line(log, &summary, None);
        let result = supervisor.run().await;
        // Failover (if any) stops before the process ends.
        let _ = ended.send(());
        let _ = signals.await;
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
