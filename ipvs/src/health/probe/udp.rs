//! UDP send/expect checks (`{type: udp, send, expect}`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;

use super::tcp::mismatch;
use super::{Outcome, Payload, Phase, ProbeError, Target, io_failure, within};

/// The largest datagram read (anything longer is cut; UDP's maximum).
pub const MAX_DATAGRAM: usize = 65_535;

/// UDP send/expect over a connected socket: send `send`, and wait for a
/// datagram that starts with `expect` (any datagram if `expect` is not
/// set). An ICMP port unreachable in answer is
/// [`FailureReason::Refused`](super::FailureReason::Refused); a datagram that does not start with
/// `expect` is [`FailureReason::UnexpectedReply`](super::FailureReason::UnexpectedReply); silence is
/// [`FailureReason::Timeout`](super::FailureReason::Timeout).
///
/// ```
/// use ipvs::health::probe::{Payload, Probe, Udp};
/// let probe: Probe = serde_json::from_str(
///     r#"{"type": "udp", "send": {"hex": "00 01"}, "expect": "pong"}"#,
/// ).unwrap();
/// assert_eq!(probe, Probe::Udp(Udp::new(Payload::bytes(vec![0, 1])).with_expect("pong")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Udp {
    /// The datagram sent (may be empty: `""`).
    pub send: Payload,
    /// What the reply must start with (none: any reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Payload>,
}

impl Udp {
    /// Send `send`; any reply is up.
    pub fn new(send: impl Into<Payload>) -> Self {
        Udp {
            send: send.into(),
            expect: None,
        }
    }

    /// Require the reply to start with these bytes.
    pub fn with_expect(mut self, expect: impl Into<Payload>) -> Self {
        self.expect = Some(expect.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        Ok(())
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        let phase = Phase::new("reply");
        within(target, timeout, &phase, async {
            let socket = match connected_udp(target).await {
                Ok(socket) => socket,
                Err(e) => return io_failure(target, "connect", &e),
            };
            if let Err(e) = socket.send(self.send.as_bytes()).await {
                return io_failure(target, "send", &e);
            }
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let n = match socket.recv(&mut buf).await {
                Ok(n) => n,
                Err(e) => return io_failure(target, "reply", &e),
            };
            let reply = &buf[..n];
            match &self.expect {
                Some(expect) if !reply.starts_with(expect.as_bytes()) => {
                    mismatch(target, reply, "does not start with the expected bytes")
                }
                _ => Outcome::Up,
            }
        })
        .await
    }
}

/// A UDP socket connected to the target (so ICMP errors come back as
/// `ECONNREFUSED`), bound to its source address if one is set.
pub(crate) async fn connected_udp(target: &Target) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = match (target.source, target.addr) {
        (Some(source), _) => SocketAddr::new(source, 0),
        (None, SocketAddr::V4(_)) => "0.0.0.0:0".parse().expect("an address"),
        (None, SocketAddr::V6(_)) => "[::]:0".parse().expect("an address"),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target.addr).await?;
    Ok(socket)
}
