//! A program run on each event (keepalived's `notify`): its argv is the
//! configured command, then the event's kind, then one `name=value`
//! argument per field; the event as JSON is in `IPVS_EVENT`.
//!
//! A run never waits for it: each runs in a task of its own, bounded by
//! its timeout (then killed and reaped), and at most `max_running` at
//! once (events beyond that are not notified, and say so on stderr).
//!
//! ```yaml
//! notify:
//!   command: [/usr/local/bin/lvs-event, --site, a]
//!   timeout: 5s          # default 5s
//!   max_running: 16      # default 16
//! ```
//! runs `/usr/local/bin/lvs-event --site a dest-down service=TCP 192.0.2.10:80 dest=198.51.100.1:80 action=remove reason=...`
//! (each `name=value` one argument).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::duration;
use super::event::Event;

/// The notify program's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The program and its first arguments.
    pub command: Vec<String>,
    /// How long one run may take before it is killed.
    pub timeout: Duration,
    /// How many may run at once.
    pub max_running: usize,
}

impl NotifySettings {
    /// Run `command` with the defaults (5 s, 16 at once).
    pub fn new(command: Vec<String>) -> Self {
        NotifySettings {
            command,
            timeout: Duration::from_secs(5),
            max_running: 16,
        }
    }

    /// The `notify:` map (what the run's file reads).
    pub(crate) fn to_value(&self) -> Value {
        serde_json::json!({
            "command": self.command,
            "timeout": duration::format(self.timeout),
            "max_running": self.max_running,
        })
    }

    /// Read the `notify:` map; the error is (field, problem).
    pub(crate) fn from_value(v: &Value) -> Result<Self, (String, String)> {
        let bad = |f: &str, p: String| (format!("notify.{f}"), p);
        let Value::Object(map) = v else {
            return Err(("notify".into(), "must be a map with a command".into()));
        };
        let mut s = NotifySettings::new(Vec::new());
        for (k, v) in map {
            match k.as_str() {
                "command" => {
                    s.command = match v {
                        Value::String(p) => vec![p.clone()],
                        Value::Array(a) => a
                            .iter()
                            .map(|x| x.as_str().map(str::to_owned))
                            .collect::<Option<_>>()
                            .ok_or_else(|| bad(k, "must be a list of strings".into()))?,
                        _ => return Err(bad(k, "must be a list of strings".into())),
                    }
                }
                "timeout" => s.timeout = duration::from_value(v).map_err(|e| bad(k, e))?,
                "max_running" => {
                    s.max_running = v
                        .as_u64()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(k, "must be a whole number, at least 1".into()))?
                        as usize
                }
                other => {
                    return Err(bad(
                        other,
                        "unknown field (known: command, timeout, max_running)".into(),
                    ));
                }
            }
        }
        s.validate().map_err(|(f, p)| bad(f, p))?;
        Ok(s)
    }

    /// The program must exist and be executable; the timeout above zero.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let Some(program) = self.command.first() else {
            return Err(("command", "missing: the program to run".into()));
        };
        if find_program(program).is_none() {
            return Err(("command", format!("{program}: no such executable program")));
        }
        if self.timeout.is_zero() {
            return Err(("timeout", "must be above zero".into()));
        }
        Ok(())
    }
}

/// Where `program` is: itself if it has a `/`, else the first executable
/// of that name on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// Runs the notify program on events, never blocking the caller.
#[derive(Debug, Clone)]
pub struct Notifier {
    settings: Arc<NotifySettings>,
    slots: Arc<Semaphore>,
}

impl Notifier {
    /// A notifier with `settings`.
    pub fn new(settings: NotifySettings) -> Self {
        Notifier {
            slots: Arc::new(Semaphore::new(settings.max_running.max(1))),
            settings: Arc::new(settings),
        }
    }

    /// The argv for `event`.
    pub fn argv(&self, event: &Event) -> Vec<String> {
        let mut argv = self.settings.command.clone();
        argv.push(event.kind().into());
        argv.extend(event.fields().into_iter().map(|(k, v)| format!("{k}={v}")));
        argv
    }

    /// Start the program for `event` in a task of its own; returns at once.
    /// The task's handle says how it ended (for tests).
    pub fn notify(&self, event: &Event) -> Option<tokio::task::JoinHandle<NotifyOutcome>> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            eprintln!(
                "notify: {} runs under way, not notifying {}",
                self.settings.max_running,
                event.kind()
            );
            return None;
        };
        let argv = self.argv(event);
        let json = serde_json::to_string(event).unwrap_or_default();
        let timeout = self.settings.timeout;
        Some(tokio::spawn(async move {
            let _permit = permit;
            run(&argv, &json, timeout).await
        }))
    }
}

/// How one notify run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// It exited with this status (`None`: killed by a signal).
    Exited(Option<i32>),
    /// It did not end within the timeout: killed and reaped.
    Killed,
    /// It did not start.
    NotStarted(String),
}

async fn run(argv: &[String], json: &str, timeout: Duration) -> NotifyOutcome {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("IPVS_EVENT", json)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("notify: {}: {e}", argv[0]);
            return NotifyOutcome::NotStarted(e.to_string());
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            if !status.success() {
                eprintln!("notify: {} exited with {status}", argv[0]);
            }
            NotifyOutcome::Exited(status.code())
        }
        Ok(Err(e)) => NotifyOutcome::NotStarted(e.to_string()),
        Err(_) => {
            eprintln!(
                "notify: {} still running after {timeout:?}: killed",
                argv[0]
            );
            // kill() sends SIGKILL and waits for the child: reaped.
            let _ = child.kill().await;
            NotifyOutcome::Killed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceKey;

    fn event() -> Event {
        Event::OperatorDrain {
            service: ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
            dest: "198.51.100.1:80".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn the_program_gets_the_event_and_hangs_are_killed() {
        let dir = std::env::temp_dir().join(format!("ipvs-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let n = Notifier::new(NotifySettings::new(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("echo \"$@\" > {}", out.display()),
            "notify".into(),
        ]));
        let h = n.notify(&event()).unwrap();
        assert_eq!(h.await.unwrap(), NotifyOutcome::Exited(Some(0)));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "operator-drain service=TCP 192.0.2.10:80 dest=198.51.100.1:80\n"
        );

        let mut slow =
            NotifySettings::new(vec!["/bin/sh".into(), "-c".into(), "exec sleep 30".into()]);
        slow.timeout = Duration::from_millis(200);
        slow.max_running = 1;
        let n = Notifier::new(slow);
        let t0 = std::time::Instant::now();
        let h = n.notify(&event()).unwrap();
        // A second one while the first runs: not started, not waited for.
        assert!(n.notify(&event()).is_none());
        assert_eq!(h.await.unwrap(), NotifyOutcome::Killed);
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(n.notify(&event()).is_some(), "the slot is free again");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_program_is_refused() {
        let v = serde_json::json!({"command": ["/nonexistent/prog"]});
        let (field, problem) = NotifySettings::from_value(&v).unwrap_err();
        assert_eq!(field, "notify.command");
        assert!(problem.contains("no such executable"), "{problem}");
        let v = serde_json::json!({"command": "sh", "timeout": "0s"});
        assert_eq!(
            NotifySettings::from_value(&v).unwrap_err().0,
            "notify.timeout"
        );
    }
}
