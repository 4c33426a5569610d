//! Exit statuses a script can rely on, and the failures that lead to them.

use std::process::{ExitCode, Termination};

use ipvs::client::Error as ClientError;

/// How `ipvsctl` ends. `main` returns it; its number is the exit status.
///
/// ```text
/// $ ipvsctl diff lb.yaml --exit-code; echo $?
/// 4
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; for `diff --exit-code`, no difference.
    Done = 0,
    /// 1: the kernel refused an operation or a read failed; the table may be
    /// partly changed (the report says exactly what was applied).
    Kernel = 1,
    /// 2: bad command line, or a file that does not read, parse or validate.
    Usage = 2,
    /// 3: IPVS is not available here: no ip_vs module, no permission
    /// (CAP_NET_ADMIN), or no such network namespace.
    Unavailable = 3,
    /// 4: `diff --exit-code`: the table differs from the file.
    Different = 4,
}

impl Exit {
    /// Every exit status, in order.
    pub const ALL: [Exit; 5] = [
        Exit::Done,
        Exit::Kernel,
        Exit::Usage,
        Exit::Unavailable,
        Exit::Different,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What it means, in one line (the man page's EXIT STATUS; `--help`
    /// has the same words in [`HELP`]).
    pub fn description(self) -> &'static str {
        match self {
            Exit::Done => "done (diff --exit-code: no difference)",
            Exit::Kernel => {
                "the kernel refused an operation, or a read failed: the table may be partly \
                 changed; the report on stderr (or --json) says which operations were applied"
            }
            Exit::Usage => {
                "usage error, or a file that does not read, parse or validate (nothing changed)"
            }
            Exit::Unavailable => {
                "IPVS not available: no ip_vs module, no permission (CAP_NET_ADMIN), or no \
                 such network namespace (nothing changed)"
            }
            Exit::Different => "diff --exit-code: the table differs from FILE",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        self.into()
    }
}

/// The exit statuses as `--help` and the man page list them.
pub const HELP: &str = "\
Exit status:
  0  done (diff --exit-code: no difference)
  1  the kernel refused an operation, or a read failed: the table may be partly
     changed; the report on stderr (or --json) says which operations were applied
  2  usage error, or a file that does not read, parse or validate (nothing changed)
  3  IPVS not available: no ip_vs module, no permission (CAP_NET_ADMIN), or no
     such network namespace (nothing changed)
  4  diff --exit-code: the table differs from FILE";

/// A failure: the message `ipvsctl` prints, and how it exits.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// What went wrong (printed after `ipvsctl: `).
    pub message: String,
}

impl Failure {
    /// A usage error, or a file that does not read, parse or validate.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// IPVS unreachable: no module, no permission, no namespace.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Unavailable,
            message: message.into(),
        }
    }

    /// Opening the client failed: no socket in that namespace, or no IPVS
    /// family to talk to; whatever the error, IPVS is unavailable.
    pub fn open(e: ClientError) -> Self {
        Failure::unavailable(e.to_string())
    }

    /// A request to an open client failed while `doing` something.
    pub fn kernel(doing: &str, e: ClientError) -> Self {
        Failure {
            exit: exit_of(&e),
            message: format!("{doing}: {e}"),
        }
    }
}

/// The exit status a client error means once the client is open.
pub fn exit_of(e: &ClientError) -> Exit {
    match e {
        ClientError::IpvsNotAvailable | ClientError::PermissionDenied { .. } => Exit::Unavailable,
        _ => Exit::Kernel,
    }
}

/// What the commands return: how to exit, or why not.
pub type Result<T> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_listed_in_the_help_under_its_number() {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = words(HELP);
        for (n, exit) in Exit::ALL.iter().enumerate() {
            assert_eq!(usize::from(exit.code()), n);
            assert!(HELP.contains(&format!("\n  {n}  ")), "{exit:?}");
            let line = format!("{n} {}", words(exit.description()));
            assert!(help.contains(&line), "{line}");
        }
        assert_eq!(HELP.lines().filter(|l| l.starts_with("  ")).count(), 7);
    }

    #[test]
    fn client_errors_map_to_unavailable_or_kernel() {
        assert_eq!(exit_of(&ClientError::IpvsNotAvailable), Exit::Unavailable);
        assert_eq!(
            Failure::open(ClientError::Timeout(std::time::Duration::from_secs(1))).exit,
            Exit::Unavailable
        );
        assert_eq!(
            Failure::kernel(
                "reading the table",
                ClientError::Timeout(std::time::Duration::from_secs(1))
            )
            .exit,
            Exit::Kernel
        );
    }
}
