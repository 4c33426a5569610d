//! Building an LVS cluster around IPVS: what the real servers and the
//! director need besides the IPVS table, and a report on how evenly the
//! table spreads the load (feature `cluster`).
//!
//! - [`RealServerSetup`]: the VIP on `lo` (direct routing) or on `tunl0`
//!   (IPIP or GUE tunnelling), the ARP sysctls, relaxed `rp_filter` for
//!   tunnels, the tunnel module and the GUE port.
//! - [`DirectorSetup`]: the VIP on its interface, IP forwarding for NAT,
//!   and optionally the IPVS services themselves.
//! - [`BalanceReport`]: each destination's share of new connections against
//!   its share of weight, and why they differ.
//!
//! Every setup works through rtnetlink, generic netlink and `/proc/sys`
//! (no `ip`, no `sysctl`), inside any network namespace ([`Netns`]), and
//! has the same three calls:
//! - `apply()` is idempotent: a second run changes nothing.
//! - `teardown()` removes exactly what `apply()` added and puts each sysctl
//!   back to the value it had before (not to 0), from the durable
//!   [`journal`], so it works from another process and after a crash.
//! - `status()` says what is in place and what is missing.
//!
//! ```no_run
//! use ipvs::cluster::{RealServerSetup, TunnelMode};
//! let rs = RealServerSetup::tun("192.0.2.10".parse()?, TunnelMode::Ipip);
//! let done = rs.apply()?;
//! println!("{done}");
//! assert!(rs.status()?.is_complete());
//! rs.teardown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod balance;
mod director;
mod engine;
pub mod fou;
pub mod journal;
mod netlink;
mod real_server;
pub mod rtnl;
mod sysctl;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use crate::client::Netns;
pub use balance::{BalanceReport, DestinationBalance, Reason};
pub use director::{DirectorSetup, ServiceSpec};
pub use journal::{Change, DEFAULT_DIR};
pub use real_server::{RealServerMode, RealServerSetup, TunnelMode};
pub use sysctl::Sysctl;

/// Everything a setup, teardown or status call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// Entering the network namespace failed.
    #[error("network namespace {netns}: {source}")]
    Netns {
        /// The namespace.
        netns: String,
        /// The error.
        source: io::Error,
    },
    /// The kernel refused a netlink request.
    #[error("{operation}: {}{}", io::Error::from_raw_os_error(*errno), message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Netlink {
        /// The request.
        operation: &'static str,
        /// The errno the kernel answered.
        errno: i32,
        /// The kernel's extended-ACK message, when it gave one.
        message: Option<String>,
    },
    /// A reply could not be decoded.
    #[error("undecodable netlink reply: {0}")]
    Decode(String),
    /// No interface of that name in the namespace.
    #[error("no interface {name:?}")]
    NoSuchInterface {
        /// The name.
        name: String,
    },
    /// A kernel module (or the feature it brings) is not available.
    #[error("kernel module {module} is not available: {detail}")]
    ModuleUnavailable {
        /// The module.
        module: String,
        /// What was tried.
        detail: String,
    },
    /// A sysctl could not be read or written.
    #[error("sysctl {sysctl}: {source}")]
    Sysctl {
        /// The sysctl.
        sysctl: Sysctl,
        /// The error.
        source: io::Error,
    },
    /// The sysctl does not exist (a missing interface, or a kernel without it).
    #[error("sysctl {sysctl} does not exist")]
    SysctlMissing {
        /// The sysctl.
        sysctl: Sysctl,
    },
    /// The kernel took a write but kept another value.
    #[error("sysctl {sysctl}: wrote {wanted:?}, reads back {got:?}")]
    SysctlRejected {
        /// The sysctl.
        sysctl: Sysctl,
        /// The value written.
        wanted: String,
        /// The value read back.
        got: String,
    },
    /// The journal could not be read or written.
    #[error("journal {}: {detail}", path.display())]
    Journal {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The setup asks for something this library does not do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An IPVS call failed.
    #[error(transparent)]
    Ipvs(#[from] crate::client::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The errno behind this error, where there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. }
            | Error::Netns { source, .. }
            | Error::Sysctl { source, .. } => source.raw_os_error(),
            Error::Netlink { errno, .. } => Some(*errno),
            Error::Ipvs(e) => e.errno(),
            _ => None,
        }
    }
}

/// One item a setup manages, and whether it is in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What it is (`address 192.0.2.10/32 on lo`, `sysctl net.ipv4.conf.all.arp_ignore`).
    pub item: String,
    /// What the setup wants (`present`, `1`, `0 or 2`).
    pub wanted: String,
    /// What the system has now (`absent`, `0`).
    pub actual: String,
    /// Whether `actual` satisfies `wanted`.
    pub ok: bool,
    /// Whether this setup's journal holds it (so a teardown will undo it).
    pub recorded: bool,
}

/// What [`RealServerSetup::status`] or [`DirectorSetup::status`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Who asked (`real-server 192.0.2.10`).
    pub owner: String,
    /// Every item, in the order `apply()` handles them.
    pub checks: Vec<Check>,
}

impl Status {
    /// Whether everything is in place.
    pub fn is_complete(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
    /// The items in place.
    pub fn in_place(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.ok)
    }
    /// The items missing.
    pub fn missing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
    /// Whether nothing of it is recorded in the journal (nothing to tear down).
    pub fn nothing_recorded(&self) -> bool {
        self.checks.iter().all(|c| !c.recorded)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_complete() {
            "complete"
        } else {
            "incomplete"
        };
        writeln!(f, "{}: {state}", self.owner)?;
        for c in &self.checks {
            let mark = if c.ok { "ok     " } else { "MISSING" };
            let rec = if c.recorded { " [journal]" } else { "" };
            writeln!(
                f,
                "  {mark} {}: want {}, have {}{rec}",
                c.item, c.wanted, c.actual
            )?;
        }
        Ok(())
    }
}

/// What `apply()` or `teardown()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Who acted.
    pub owner: String,
    /// What was changed, in order (`set sysctl ... 0 -> 1`).
    pub changed: Vec<String>,
    /// What was left alone, and why (`sysctl ... already 1`,
    /// `... changed by someone else since: left at 0`).
    pub unchanged: Vec<String>,
    /// The journal file used.
    pub journal: PathBuf,
}

impl Outcome {
    /// Whether nothing was changed (a second `apply()` returns this).
    pub fn is_noop(&self) -> bool {
        self.changed.is_empty()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (journal {}):", self.owner, self.journal.display())?;
        if self.changed.is_empty() {
            writeln!(f, "  nothing changed")?;
        }
        for c in &self.changed {
            writeln!(f, "  changed: {c}")?;
        }
        for c in &self.unchanged {
            writeln!(f, "  left:    {c}")?;
        }
        Ok(())
    }
}

/// Where a setup acts and keeps its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) netns: Netns,
    pub(crate) journal_dir: PathBuf,
}

impl Default for Place {
    fn default() -> Self {
        Place {
            netns: Netns::Current,
            journal_dir: PathBuf::from(DEFAULT_DIR),
        }
    }
}

impl Place {
    fn describe(&self) -> String {
        match &self.netns {
            Netns::Path(p) => p.display().to_string(),
            _ => "current".to_owned(),
        }
    }

    /// Run `f` on a thread inside the namespace (or right here for the
    /// current one), with the namespace's journal open and locked.
    pub(crate) fn run<T: Send>(
        &self,
        f: impl FnOnce(&mut journal::Journal) -> Result<T, Error> + Send,
    ) -> Result<T, Error> {
        let desc = self.describe();
        let dir = self.journal_dir.clone();
        let inner = crate::client::within_netns(&self.netns, move || {
            Ok((|| {
                let id = netns_id()?;
                let mut j = journal::Journal::open(&dir, &id, &desc)?;
                f(&mut j)
            })())
        });
        match inner {
            Ok(r) => r,
            Err(source) => Err(Error::Netns {
                netns: self.describe(),
                source,
            }),
        }
    }
}

/// The identity of the calling thread's network namespace: its cookie
/// (`SO_NETNS_COOKIE`, Linux 5.14+, unique while the machine runs), else
/// the device and inode of its namespace file.
pub(crate) fn netns_id() -> Result<String, Error> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with};
    use std::os::fd::AsRawFd;
    const SO_NETNS_COOKIE: libc::c_int = 71;
    if let Ok(sock) = socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    ) {
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: `sock` is open for the call; the option value is a u64 on
        // our stack and `len` its size. (Neither rustix nor nix reads
        // SO_NETNS_COOKIE.)
        let rc = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                (&mut cookie as *mut u64).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            return Ok(format!("cookie-{cookie}"));
        }
    }
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("reading /proc/thread-self/ns/net", e))?;
    Ok(format!("ino-{}-{}", m.dev(), m.ino()))
}

/// Run `modprobe NAME` (kernel modules are the one thing rtnetlink cannot
/// always load on demand). Returns what modprobe said when it failed.
pub(crate) fn modprobe(name: &str) -> Result<(), String> {
    match std::process::Command::new("modprobe").arg(name).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "modprobe {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run modprobe: {e}")),
    }
}
