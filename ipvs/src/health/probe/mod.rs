//! What one check does to one real server, and what it found.
//!
//! A [`Probe`] is the check's kind and its parameters; [`Probe::run`] runs it
//! once against a [`Target`] within a timeout and returns an [`Outcome`].
//! Timing (interval, fall, rise, jitter) and policy live above this module.
//!
//! | `type` | fields (required in bold) | what is up | module |
//! | --- | --- | --- | --- |
//! | `tcp` | none | a TCP connection is accepted | [`tcp`] |
//! | `tcp_send_expect` | `send`, **`expect`**, `regex` | after `send`, the reply matches `expect` (`*`: any reply) | [`tcp`] |
//! | `http` | `path`, `host`, `status`, `body`, `tls`, `tls_verify`, `tls_ca` | a GET's status is in `status` (200-299), its body matches `body` | [`http`] |
//! | `udp` | **`send`**, `expect` | a datagram answers `send` (and starts with `expect`) | [`udp`] |
//! | `dns` | **`name`**, `query_type` | a query for `name` (type `A`) is answered with RCODE 0 | [`dns`] |
//! | `exec` | **`program`**, `args` | `program` exits 0 (or 2..255: up with weight code − 2) | [`exec`] |
//! | `file` | **`path`** | `path` says `up` or a weight | [`mod@file`] |
//!
//! `send` and `expect` are [`Payload`]s: a string or `{hex: "..."}`. `args`
//! and a file's `path` may hold `%h` and `%p` (the target's host and port).
//! Unknown fields are errors in every kind.
//!
//! TCP probes close their connection with a reset (no `TIME_WAIT` left on
//! the director). Every probe is bounded by its timeout (a server that
//! accepts and never answers, or trickles bytes, is down with
//! [`FailureReason::Timeout`]) and in memory (replies are read into fixed
//! caps). Regular expressions are compiled once per [`Probe`] value (by
//! [`Probe::validate`] or the first run) and compared by their source text.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use ipvs::health::probe::{Outcome, Probe, Target};
//! let target = Target::new("127.0.0.1:80".parse().unwrap());
//! let outcome = Probe::Tcp.run(&target, Duration::from_secs(1)).await;
//! if let Outcome::Down(failure) = outcome {
//!     println!("down: {failure}");
//! }
//! # }
//! ```
//!
//! In a state file a probe is a map tagged by `type`:
//!
//! ```
//! use ipvs::health::probe::Probe;
//! let probe: Probe = serde_json::from_str(
//!     r#"{"type": "http", "path": "/health", "status": ["200-299"], "body": "ok|ready"}"#,
//! ).unwrap();
//! probe.validate().unwrap();
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod dns;
pub mod exec;
pub mod file;
pub mod http;
mod pattern;
mod payload;
pub mod tcp;
#[cfg(feature = "health-tls")]
mod tls;
pub mod udp;

pub use dns::Dns;
pub use exec::Exec;
pub use file::File;
pub use http::{Http, StatusRange};
pub use payload::Payload;
pub use tcp::TcpSendExpect;
pub use udp::Udp;

/// A check's kind and parameters, tagged by `type` in its serde form.
///
/// Every kind rejects fields it does not have (`{type: tcp, send: ...}` is
/// an error, not a connect check), so a probe can be `#[serde(flatten)]`ed
/// next to a check's timing fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", from = "ProbeForm")]
#[non_exhaustive]
pub enum Probe {
    /// A TCP connection is accepted (`{type: tcp}`).
    Tcp,
    /// TCP send/expect: connect, send, and match the reply (nanny's
    /// `send`/`expect`/`use_regex`).
    TcpSendExpect(TcpSendExpect),
    /// HTTP GET: status in the expected ranges, body matching a regex.
    Http(Http),
    /// UDP send/expect.
    Udp(Udp),
    /// A DNS query answered with RCODE 0 (NOERROR).
    Dns(Dns),
    /// A program's exit code (nanny's `send_program`, keepalived's
    /// `misc_dynamic`).
    Exec(Exec),
    /// A weight, `up` or `down` read from a file.
    File(File),
}

/// The serde form read: [`Probe`] with a parameter-less `tcp` that still
/// rejects unknown fields.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ProbeForm {
    Tcp(tcp::NoParameters),
    TcpSendExpect(TcpSendExpect),
    Http(Http),
    Udp(Udp),
    Dns(Dns),
    Exec(Exec),
    File(File),
}

impl From<ProbeForm> for Probe {
    fn from(form: ProbeForm) -> Self {
        match form {
            ProbeForm::Tcp(tcp::NoParameters) => Probe::Tcp,
            ProbeForm::TcpSendExpect(p) => Probe::TcpSendExpect(p),
            ProbeForm::Http(p) => Probe::Http(p),
            ProbeForm::Udp(p) => Probe::Udp(p),
            ProbeForm::Dns(p) => Probe::Dns(p),
            ProbeForm::Exec(p) => Probe::Exec(p),
            ProbeForm::File(p) => Probe::File(p),
        }
    }
}

/// Where a probe goes: the address and port to connect to, and optionally
/// the local address to connect from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The address and port probed.
    pub addr: SocketAddr,
    /// The local (source) address, if one is set.
    pub source: Option<IpAddr>,
}

impl Target {
    /// A target without a source address.
    pub fn new(addr: SocketAddr) -> Self {
        Target { addr, source: None }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server is up.
    Up,
    /// The server is up and asks for this weight (exec checks' exit code
    /// 2..255, file checks).
    UpWithWeight(u32),
    /// The server is down, and why.
    Down(Failure),
}

impl Outcome {
    /// True for [`Outcome::Up`] and [`Outcome::UpWithWeight`].
    pub fn is_up(&self) -> bool {
        !matches!(self, Outcome::Down(_))
    }

    /// The failure, if the server is down.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Down(failure) => Some(failure),
            _ => None,
        }
    }

    pub(crate) fn down(reason: FailureReason, detail: impl Into<String>) -> Self {
        Outcome::Down(Failure::new(reason, detail))
    }
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure (for metrics and events).
    pub reason: FailureReason,
    /// A human-readable detail, for logs.
    pub detail: String,
}

impl Failure {
    /// A failure of this kind with this detail.
    pub fn new(reason: FailureReason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The kind of a probe failure. [`FailureReason::as_str`] is stable (metrics
/// labels, event fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// No answer within the timeout (`timeout`); an exec check's program is
    /// killed.
    Timeout,
    /// The connection was refused, or a UDP port unreachable came back
    /// (`refused`).
    Refused,
    /// The connection was reset or aborted by the peer (`reset`).
    Reset,
    /// No route to the host or network (`unreachable`).
    Unreachable,
    /// The peer closed the connection before a complete reply (`closed`).
    Closed,
    /// A reply came that is not the expected one: TCP/UDP expect mismatch,
    /// HTTP body regex mismatch, a malformed or oversized HTTP or DNS reply
    /// (`unexpected_reply`).
    UnexpectedReply,
    /// An HTTP status outside the expected ranges, or a DNS RCODE other than
    /// NOERROR (`bad_status`).
    BadStatus,
    /// An exec check's program exited 1 (`exit_code`).
    ExitCode,
    /// An exec check's program was killed by a signal it did not get from
    /// us (`killed`).
    Killed,
    /// A file check's file is missing, unreadable or does not hold `up`,
    /// `down` or a weight (`file`).
    File,
    /// A file check's file says `down` (`marked_down`).
    MarkedDown,
    /// The probe cannot run as configured (a regex that does not compile, a
    /// feature not built in); [`Probe::validate`] reports these up front
    /// (`config`).
    Config,
    /// The TLS handshake failed: a bad certificate (with `tls_verify`),
    /// no common protocol, not TLS at all (`tls`).
    Tls,
    /// Any other I/O error (`io`).
    Io,
}

impl FailureReason {
    /// A short, stable name (`timeout`, `refused`, ...), for metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Refused => "refused",
            FailureReason::Reset => "reset",
            FailureReason::Unreachable => "unreachable",
            FailureReason::Closed => "closed",
            FailureReason::UnexpectedReply => "unexpected_reply",
            FailureReason::BadStatus => "bad_status",
            FailureReason::ExitCode => "exit_code",
            FailureReason::Killed => "killed",
            FailureReason::File => "file",
            FailureReason::MarkedDown => "marked_down",
            FailureReason::Config => "config",
            FailureReason::Tls => "tls",
            FailureReason::Io => "io",
        }
    }

    /// Every reason, in declaration order (for pre-registering metrics).
    pub const ALL: &'static [FailureReason] = &[
        FailureReason::Timeout,
        FailureReason::Refused,
        FailureReason::Reset,
        FailureReason::Unreachable,
        FailureReason::Closed,
        FailureReason::UnexpectedReply,
        FailureReason::BadStatus,
        FailureReason::ExitCode,
        FailureReason::Killed,
        FailureReason::File,
        FailureReason::MarkedDown,
        FailureReason::Config,
        FailureReason::Tls,
        FailureReason::Io,
    ];
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A probe whose parameters cannot work, found by [`Probe::validate`]
/// before anything runs. `field` is the serde field's name.
///
/// ```
/// use ipvs::health::probe::{Http, Probe, ProbeErrorKind};
/// let probe = Probe::Http(Http::new().with_path("health"));
/// let err = probe.validate().unwrap_err();
/// assert_eq!((err.probe, err.field, err.kind), ("http", "path", ProbeErrorKind::Path));
/// assert_eq!(err.to_string(), "http probe: path: must start with '/' (got \"health\")");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{probe} probe: {field}: {message}")]
pub struct ProbeError {
    /// The probe's `type` (`http`, `exec`, ...).
    pub probe: &'static str,
    /// The offending field's serde name (`body`, `program`, `query_type`, ...).
    pub field: &'static str,
    /// What is wrong, as a kind.
    pub kind: ProbeErrorKind,
    /// What is wrong, in words.
    pub message: String,
}

/// The kind of a [`ProbeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProbeErrorKind {
    /// A regular expression that does not compile.
    Regex,
    /// A program that does not exist or is not executable.
    Program,
    /// A required value that is empty.
    Empty,
    /// A DNS name that is not a valid name.
    DnsName,
    /// A DNS query type that is not known.
    QueryType,
    /// An HTTP status range that is not `NNN` or `NNN-NNN` within 100..=999.
    StatusRange,
    /// An HTTP path that does not start with `/`, or has spaces or control
    /// characters.
    Path,
    /// An HTTP Host header with spaces or control characters.
    Host,
    /// A CA certificate file that cannot be read or holds no certificate.
    Certificate,
    /// A value that is not allowed with the others (`regex: true` with a
    /// hex `expect`, `tls` without the `health-tls` feature).
    Conflict,
}

impl ProbeError {
    pub(crate) fn new(
        probe: &'static str,
        field: &'static str,
        kind: ProbeErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ProbeError {
            probe,
            field,
            kind,
            message: message.into(),
        }
    }
}

impl Probe {
    /// The probe's `type` as written in its serde form (`tcp`, `http`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::TcpSendExpect(_) => "tcp_send_expect",
            Probe::Http(_) => "http",
            Probe::Udp(_) => "udp",
            Probe::Dns(_) => "dns",
            Probe::Exec(_) => "exec",
            Probe::File(_) => "file",
        }
    }

    /// Check the parameters (and compile and keep the regexes) before the
    /// probe runs: the first problem found, naming its field.
    pub fn validate(&self) -> Result<(), ProbeError> {
        match self {
            Probe::Tcp => Ok(()),
            Probe::TcpSendExpect(p) => p.validate(),
            Probe::Http(p) => p.validate(),
            Probe::Udp(p) => p.validate(),
            Probe::Dns(p) => p.validate(),
            Probe::Exec(p) => p.validate(),
            Probe::File(p) => p.validate(),
        }
    }

    /// Run the probe once against `target`, giving up after `timeout`.
    ///
    /// The future is `Send`; dropping it early closes its sockets and kills
    /// an exec check's process group.
    pub async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        match self {
            Probe::Tcp => tcp::run_connect(target, timeout).await,
            Probe::TcpSendExpect(p) => p.run(target, timeout).await,
            Probe::Http(p) => p.run(target, timeout).await,
            Probe::Udp(p) => p.run(target, timeout).await,
            Probe::Dns(p) => p.run(target, timeout).await,
            Probe::Exec(p) => p.run(target, timeout).await,
            Probe::File(p) => p.run(target, timeout).await,
        }
    }
}

/// How far a probe got, for the detail of a timeout ("no connection", "no
/// reply", ...). Shared by reference with the probe's future, which stays
/// `Send`.
#[derive(Debug)]
pub(crate) struct Phase(std::sync::Mutex<&'static str>);

impl Phase {
    pub(crate) fn new(what: &'static str) -> Self {
        Phase(std::sync::Mutex::new(what))
    }

    /// The probe now waits for `what`.
    pub(crate) fn set(&self, what: &'static str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = what;
    }

    fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Run `exchange` within `timeout`; on expiry, a [`FailureReason::Timeout`]
/// naming what it was waiting for (`phase`, which it updates as it goes).
pub(crate) async fn within(
    target: &Target,
    timeout: Duration,
    phase: &Phase,
    exchange: impl std::future::Future<Output = Outcome>,
) -> Outcome {
    match tokio::time::timeout(timeout, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::down(
            FailureReason::Timeout,
            format!("{}: no {} within {timeout:?}", target.addr, phase.get()),
        ),
    }
}

/// A TCP connection to the target, from its source address if one is set.
///
/// It closes with a reset (`SO_LINGER` 0) when dropped: a director checking
/// thousands of servers every second keeps no `TIME_WAIT` sockets.
pub(crate) async fn tcp_connect(target: &Target) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match target.addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(source) = target.source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = socket.connect(target.addr).await?;
    stream.set_zero_linger()?;
    Ok(stream)
}

/// An I/O error as a failure: refused, reset, unreachable, timeout or io.
pub(crate) fn io_failure(target: &Target, what: &str, e: &std::io::Error) -> Outcome {
    use std::io::ErrorKind;
    let reason = match e.kind() {
        ErrorKind::ConnectionRefused => FailureReason::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            FailureReason::Reset
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => FailureReason::Unreachable,
        ErrorKind::TimedOut => FailureReason::Timeout,
        ErrorKind::UnexpectedEof => FailureReason::Closed,
        _ => FailureReason::Io,
    };
    Outcome::down(reason, format!("{}: {what}: {e}", target.addr))
}
