//! What one check does to one real server, and what it found.
//!
//! A [`Probe`] is the check's kind and its parameters (TCP connect, TCP
//! send/expect, HTTP, UDP, DNS, exec, file); [`Probe::run`] runs it once
//! against a [`Target`] within a timeout and returns an [`Outcome`]. Timing
//! (interval, fall, rise, jitter) and policy live above this module.
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

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A check's kind and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Probe {
    /// A TCP connection is accepted.
    Tcp,
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

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure (for metrics and events).
    pub reason: FailureReason,
    /// A human-readable detail, for logs.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The kind of a probe failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// No answer within the timeout.
    Timeout,
    /// The connection was refused (or a UDP port unreachable came back).
    Refused,
    /// Any other I/O error.
    Io,
}

impl FailureReason {
    /// A short, stable name (`timeout`, `refused`, ...), for metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Refused => "refused",
            FailureReason::Io => "io",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Probe {
    /// Run the probe once against `target`, giving up after `timeout`.
    pub async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        match self {
            Probe::Tcp => match tokio::time::timeout(timeout, connect(target)).await {
                Err(_) => Outcome::Down(Failure {
                    reason: FailureReason::Timeout,
                    detail: format!("no connection to {} within {timeout:?}", target.addr),
                }),
                Ok(Err(e)) => Outcome::Down(io_failure(target, &e)),
                Ok(Ok(_)) => Outcome::Up,
            },
        }
    }
}

async fn connect(target: &Target) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match target.addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(source) = target.source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    socket.connect(target.addr).await
}

fn io_failure(target: &Target, e: &std::io::Error) -> Failure {
    let reason = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => FailureReason::Refused,
        std::io::ErrorKind::TimedOut => FailureReason::Timeout,
        _ => FailureReason::Io,
    };
    Failure {
        reason,
        detail: format!("{}: {e}", target.addr),
    }
}
