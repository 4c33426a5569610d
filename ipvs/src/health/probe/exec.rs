//! Exec checks (`{type: exec, program, args}`): a program's exit code.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FailureReason, Outcome, ProbeError, ProbeErrorKind, Target};

/// How long to wait for a killed program to be reaped before leaving it to
/// tokio's background reaping.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// Run `program` with `args`, in which `%h` is the target's address (no
/// brackets for IPv6), `%p` its port and `%%` a `%` (nanny's
/// `send_program`). The exit code decides (keepalived's `misc_dynamic`):
///
/// | exit | outcome |
/// | --- | --- |
/// | 0 | [`Outcome::Up`] |
/// | 1 | down, `exit_code` |
/// | 2..=255 | [`Outcome::UpWithWeight`]`(code − 2)`; with `dynamic: false`, down |
/// | killed by a signal | down, `killed` |
/// | still running at the timeout | down, `timeout`; its process group killed |
///
/// The program runs in a process group of its own with stdin, stdout and
/// stderr on `/dev/null`. When the timeout passes (or the probe's future is
/// dropped), the whole group (the program and what it started) gets
/// `SIGKILL`, and the program is reaped. Background processes left by a
/// program that exited on its own are not touched.
///
/// ```
/// use ipvs::health::probe::{Exec, Probe};
/// let probe: Probe = serde_json::from_str(
///     r#"{"type": "exec", "program": "/bin/sh", "args": ["-c", "exit 0", "%h", "%p"]}"#,
/// ).unwrap();
/// assert_eq!(probe, Probe::Exec(Exec::new("/bin/sh").with_args(["-c", "exit 0", "%h", "%p"])));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exec {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// Its arguments, with `%h`, `%p` and `%%` replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Exit codes 2..=255 set the weight (code − 2); `false`: every code
    /// but 0 is down (keepalived's `MISC_CHECK` without `misc_dynamic`).
    #[serde(default = "dynamic_default", skip_serializing_if = "is_dynamic")]
    pub dynamic: bool,
}

fn dynamic_default() -> bool {
    true
}

fn is_dynamic(dynamic: &bool) -> bool {
    *dynamic
}

impl Exec {
    /// Run `program` without arguments.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Exec {
            program: program.into(),
            args: Vec::new(),
            dynamic: true,
        }
    }

    /// Whether exit codes 2..=255 set the weight (the default) or are down.
    pub fn with_dynamic(mut self, dynamic: bool) -> Self {
        self.dynamic = dynamic;
        self
    }

    /// With these arguments.
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The arguments for `target`, `%h`, `%p` and `%%` replaced.
    pub fn args_for(&self, target: &Target) -> Vec<String> {
        let host = target.addr.ip().to_string();
        let port = target.addr.port().to_string();
        self.args
            .iter()
            .map(|arg| substitute(arg, &host, &port))
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        let err =
            |message: String| ProbeError::new("exec", "program", ProbeErrorKind::Program, message);
        if self.program.as_os_str().is_empty() {
            return Err(ProbeError::new(
                "exec",
                "program",
                ProbeErrorKind::Empty,
                "is empty",
            ));
        }
        let found = resolve(&self.program).ok_or_else(|| {
            err(format!(
                "{} does not exist (or is not in PATH)",
                self.program.display()
            ))
        })?;
        executable(&found).map_err(|why| err(format!("{}: {why}", found.display())))
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        let program = self.program.display();
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(self.args_for(target))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Outcome::down(FailureReason::Io, format!("{program}: cannot start: {e}"));
            }
        };
        let Some(pid) = child.id() else {
            return Outcome::down(FailureReason::Io, format!("{program}: no process id"));
        };
        let mut group = GroupKiller::new(pid);
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => {
                group.disarm();
                outcome_of(&program.to_string(), status, self.dynamic)
            }
            Ok(Err(e)) => Outcome::down(FailureReason::Io, format!("{program}: wait: {e}")),
            Err(_) => {
                group.kill();
                // SIGKILL cannot be caught: the wait is short, unless the
                // program is stuck in the kernel (then tokio reaps it later).
                let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
                Outcome::down(
                    FailureReason::Timeout,
                    format!("{program}: still running after {timeout:?}, killed"),
                )
            }
        }
    }
}

/// The outcome of a program's exit status.
fn outcome_of(program: &str, status: ExitStatus, dynamic: bool) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(0) => Outcome::Up,
        Some(1) => Outcome::down(FailureReason::ExitCode, format!("{program}: exited 1")),
        Some(code) => match u32::try_from(code) {
            Ok(code @ 2..=255) if dynamic => Outcome::UpWithWeight(code - 2),
            _ => Outcome::down(FailureReason::ExitCode, format!("{program}: exited {code}")),
        },
        None => Outcome::down(
            FailureReason::Killed,
            format!(
                "{program}: killed by signal {}",
                status.signal().unwrap_or_default()
            ),
        ),
    }
}

/// Sends `SIGKILL` to a process group when dropped armed: the program's
/// group dies with the probe's future. The group's leader is never reaped
/// while armed, so its id cannot have been reused.
struct GroupKiller {
    pgid: libc::pid_t,
    armed: bool,
}

impl GroupKiller {
    fn new(pid: u32) -> Self {
        GroupKiller {
            pgid: pid as libc::pid_t,
            armed: pid > 0,
        }
    }

    fn kill(&mut self) {
        if self.armed {
            // SAFETY: kill(2) takes no pointers; a negative pid names the
            // process group, whose leader (our child) is not reaped yet.
            unsafe {
                libc::kill(-self.pgid, libc::SIGKILL);
            }
            self.armed = false;
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `arg` with `%h`, `%p` and `%%` replaced (any other `%` kept).
pub(crate) fn substitute(arg: &str, host: &str, port: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(port),
            Some('%') => out.push('%'),
            _ => {
                out.push('%');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// The program's path: itself if it has a `/`, else the first match in
/// `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return program.exists().then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate).is_ok())
}

fn executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("is not executable".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn substitutes_host_port_and_percent() {
        assert_eq!(substitute("%h:%p", "::1", "53"), "::1:53");
        assert_eq!(substitute("100%% %x %", "h", "p"), "100% %x %");
        assert_eq!(substitute("-H%h", "192.0.2.1", "80"), "-H192.0.2.1");
    }
}
