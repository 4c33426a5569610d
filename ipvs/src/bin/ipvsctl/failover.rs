//! `ipvsctl run`'s failover: the file's `failover:` block run beside the
//! health checks with `ipvs::failover` (keepalived's VRRP as our child, or
//! one already running, its role driving the IPVS sync daemon).
//!
//! - Before anything starts, [`check`] checks the block on this host (in the
//!   run's network namespace): keepalived installed, the interfaces there,
//!   an address of the VIPs' family; a failure exits 2.
//! - Every failover event is one log line, in the run's format: text
//!   `TIMESTAMP failover role BACKUP -> MASTER (priority 150)`, or JSON
//!   `{"at": ..., "event": "failover", "kind": "role", "role": "MASTER", ...}`;
//!   keepalived's own output as `failover: keepalived: ...`.
//! - [`DirectorFailover::roles`] is the role and since when, for the status
//!   page and metrics.
//! - SIGHUP ([`DirectorFailover::reload_file`]): a file that does not load
//!   changes nothing; the same block keeps keepalived running untouched; a
//!   changed block is checked first (a failing one keeps the running
//!   failover) and then replaces it: keepalived stops (the VIPs go to the
//!   peer) and starts again with the new settings; a removed block stops
//!   failover, an added one starts it.
//! - [`DirectorFailover::stop`]: keepalived stops (releasing the VIPs) and is
//!   reaped, the sync daemons become what `on_stop` says.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use ipvs::client::Client;
use ipvs::failover::{Cause, Event, Failover, FailoverHandle, Log, Role, Settings, StartError};
use ipvs::health::event::timestamp;
use ipvs::health::{Format, RunConfig};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::exit::Exit;
use crate::run::LogFormat;

/// The failover role now and since when: what the status page and the
/// metrics show (`None` before keepalived's first report, or without a
/// `failover:` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleNow {
    /// The role.
    pub role: Role,
    /// When it began.
    pub since: SystemTime,
}

/// Check `settings` on this host, in the calling thread's network namespace;
/// the message and exit status of a failure.
pub fn check(settings: &Settings) -> Result<(), (Exit, String)> {
    settings
        .check_host()
        .map_err(|e| (Exit::Usage, format!("failover.{e}")))
}

/// The run's failover, started or not.
pub struct DirectorFailover {
    log: LogFormat,
    running: Option<Running>,
    roles: watch::Sender<Option<RoleNow>>,
}

/// One start of `ipvs::failover`, and the task logging its events.
struct Running {
    settings: Settings,
    handle: FailoverHandle,
    logger: JoinHandle<()>,
}

impl DirectorFailover {
    /// Failover with nothing running yet.
    pub fn new(log: LogFormat) -> DirectorFailover {
        DirectorFailover {
            log,
            running: None,
            roles: watch::Sender::new(None),
        }
    }

    /// The run's failover: started from `config`'s `failover:` block (which
    /// the start checks on this host again), or nothing running without one.
    pub async fn from_config(
        config: &RunConfig,
        log: LogFormat,
    ) -> Result<DirectorFailover, (Exit, String)> {
        let mut failover = DirectorFailover::new(log);
        if let Some(settings) = &config.failover {
            failover.start(settings.clone()).await?;
        }
        Ok(failover)
    }

    /// The role and its changes: take it before the run moves `self` into
    /// its signal task (the status page and metrics of `--listen` follow it).
    #[allow(dead_code, reason = "for --listen's status page and metrics")]
    pub fn roles(&self) -> watch::Receiver<Option<RoleNow>> {
        self.roles.subscribe()
    }

    /// Start with `settings` (already [`check`]ed): write keepalived's
    /// configuration, start it, follow its role.
    pub async fn start(&mut self, settings: Settings) -> Result<(), (Exit, String)> {
        assert!(self.running.is_none(), "failover already started");
        let client = Client::new().map_err(|e| (Exit::Unavailable, e.to_string()))?;
        let format = self.log;
        let output: Log = Arc::new(move |line: &str| log_text(format, line));
        let handle = Failover::start_with_output_log(settings.clone(), client, output)
            .await
            .map_err(|e| {
                let exit = match e {
                    StartError::Io { .. } => Exit::Kernel,
                    _ => Exit::Usage,
                };
                (exit, format!("failover: {e}"))
            })?;
        let logger = tokio::spawn(follow(handle.events(), self.log, self.roles.clone()));
        self.running = Some(Running {
            settings,
            handle,
            logger,
        });
        Ok(())
    }

    /// Stop: keepalived releases the VIPs and is reaped; every event up to
    /// `failover stopped` is logged.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.handle.stop().await;
            let _ = r.logger.await;
        }
    }

    /// SIGHUP: the `failover:` block of `file` (read in `format`, else by
    /// its name) as it is now (see the module docs for what each case does).
    pub async fn reload_file(&mut self, file: &Path, format: Option<Format>) {
        // A file that does not load is logged by the health run's reload.
        let loaded = match format {
            Some(f) => RunConfig::load_as(file, f),
            None => RunConfig::load(file),
        };
        let Ok(config) = loaded else {
            return;
        };
        let new = config.failover;
        let old = self.running.as_ref().map(|r| r.settings.clone());
        if new == old {
            if new.is_some() {
                log_text(
                    self.log,
                    "failover: settings unchanged; keepalived left running",
                );
            }
            return;
        }
        let Some(new) = new else {
            log_text(self.log, "failover: block removed; stopping failover");
            self.stop().await;
            return;
        };
        let checked = new.clone();
        let host = tokio::task::spawn_blocking(move || check(&checked))
            .await
            .unwrap_or_else(|e| Err((Exit::Kernel, e.to_string())));
        if let Err((_, e)) = host {
            log_text(
                self.log,
                &format!("failover: reload refused, the running failover is kept: {e}"),
            );
            return;
        }
        if old.is_some() {
            log_text(
                self.log,
                "failover: settings changed; restarting keepalived (the VIPs go to the peer meanwhile)",
            );
            self.stop().await;
        }
        if let Err((_, e)) = self.start(new).await {
            log_text(self.log, &format!("failover: reload failed: {e}"));
            if let Some(old) = old {
                log_text(
                    self.log,
                    "failover: starting again with the previous settings",
                );
                if let Err((_, e)) = self.start(old).await {
                    log_text(self.log, &format!("failover: {e}; failover stays stopped"));
                }
            }
        }
    }
}

/// Log every event until failover stops; keep `roles` current.
async fn follow(
    mut events: broadcast::Receiver<Event>,
    format: LogFormat,
    roles: watch::Sender<Option<RoleNow>>,
) {
    loop {
        match events.recv().await {
            Ok(Event::Ignored { .. }) => {}
            Ok(event) => {
                if let Event::Role { role, .. } = &event {
                    roles.send_replace(Some(RoleNow {
                        role: *role,
                        since: SystemTime::now(),
                    }));
                }
                log_event(format, &event);
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                log_text(format, &format!("failover: {n} events missed"))
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A line that is not an event (keepalived's output, a reload's outcome).
fn log_text(format: LogFormat, message: &str) {
    let at = timestamp(SystemTime::now());
    match format {
        LogFormat::Text => eprintln!("{at} {message}"),
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"at": at, "event": "log", "message": message})
        ),
    }
}

/// One event: text `TIMESTAMP failover EVENT`, or a JSON object with
/// `kind`, the role's fields and the text as `message`.
fn log_event(format: LogFormat, event: &Event) {
    eprintln!(
        "{}",
        event_line(format, &timestamp(SystemTime::now()), event)
    );
}

fn event_line(format: LogFormat, at: &str, event: &Event) -> String {
    if format == LogFormat::Text {
        return format!("{at} failover {event}");
    }
    let mut v = serde_json::json!({"at": at, "event": "failover", "message": event.to_string()});
    let fields = match event {
        Event::Role {
            role,
            previous,
            priority,
            cause,
        } => serde_json::json!({
            "kind": "role",
            "role": role.to_string(),
            "previous": previous.map(|p| p.to_string()),
            "priority": priority,
            "cause": match cause {
                Cause::Keepalived => "keepalived",
                Cause::KeepalivedExited => "keepalived-exited",
                Cause::Stopped => "stopped",
            },
        }),
        Event::Sync { role, .. } => serde_json::json!({"kind": "sync", "role": role.to_string()}),
        Event::SyncFailed { role, errno, .. } => {
            serde_json::json!({"kind": "sync-failed", "role": role.to_string(), "errno": errno})
        }
        Event::KeepalivedStarted { pid } => {
            serde_json::json!({"kind": "keepalived-started", "pid": pid})
        }
        Event::KeepalivedExited { pid, .. } => {
            serde_json::json!({"kind": "keepalived-exited", "pid": pid})
        }
        Event::KeepalivedSpawnFailed { .. } => {
            serde_json::json!({"kind": "keepalived-spawn-failed"})
        }
        Event::Stopped => serde_json::json!({"kind": "stopped"}),
        _ => serde_json::json!({"kind": "other"}),
    };
    if let (Some(m), serde_json::Value::Object(f)) = (v.as_object_mut(), fields) {
        m.extend(f);
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_change_is_one_line_in_either_format() {
        let e = Event::Role {
            role: Role::Master,
            previous: Some(Role::Backup),
            priority: Some(150),
            cause: Cause::Keepalived,
        };
        let at = "2026-01-02T03:04:05.000Z";
        assert_eq!(
            event_line(LogFormat::Text, at, &e),
            "2026-01-02T03:04:05.000Z failover role BACKUP -> MASTER (priority 150)"
        );
        let v: serde_json::Value =
            serde_json::from_str(&event_line(LogFormat::Json, at, &e)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "at": at, "event": "failover", "kind": "role", "role": "MASTER",
                "previous": "BACKUP", "priority": 150, "cause": "keepalived",
                "message": "role BACKUP -> MASTER (priority 150)",
            })
        );
        let stop = event_line(LogFormat::Json, at, &Event::Stopped);
        assert!(stop.contains(r#""kind":"stopped""#), "{stop}");
    }
}
