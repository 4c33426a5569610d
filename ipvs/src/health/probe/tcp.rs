//! TCP checks: connect (`{type: tcp}`), and send/expect
//! (`{type: tcp_send_expect, send: ..., expect: ..., regex: ...}`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pattern::RegexCache;
use super::{
    FailureReason, Outcome, Payload, Phase, ProbeError, ProbeErrorKind, Target, io_failure,
    tcp_connect, within,
};

/// The most reply bytes a send/expect check reads.
pub const MAX_REPLY: usize = 64 * 1024;

/// A TCP connection is accepted within the timeout.
pub(crate) async fn run_connect(target: &Target, timeout: Duration) -> Outcome {
    let phase = Phase::new("connection");
    within(target, timeout, &phase, async {
        match tcp_connect(target).await {
            Ok(_) => Outcome::Up,
            Err(e) => io_failure(target, "connect", &e),
        }
    })
    .await
}

/// The parameters of `{type: tcp}`: none. Any other field is an error that
/// points at `tcp_send_expect`.
pub(crate) struct NoParameters;

impl<'de> Deserialize<'de> for NoParameters {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NoFields;

        impl<'de> serde::de::Visitor<'de> for NoFields {
            type Value = NoParameters;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("no parameters")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NoParameters, A::Error> {
                match map.next_key::<String>()? {
                    None => Ok(NoParameters),
                    Some(key) => Err(serde::de::Error::custom(format!(
                        "unknown field `{key}`: a `tcp` check has no parameters \
                         (send/expect is `type: tcp_send_expect`)"
                    ))),
                }
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<NoParameters, E> {
                Ok(NoParameters)
            }
        }

        deserializer.deserialize_any(NoFields)
    }
}

/// TCP send/expect (nanny's `send`, `expect` and `use_regex`): connect, send
/// `send` if set, and read until the reply matches `expect`.
///
/// - `expect: "*"`: any reply (at least one byte) is up.
/// - `regex: false` (default): the reply must start with `expect`'s bytes
///   (a string or `{hex: ...}`).
/// - `regex: true`: `expect` is a regular expression (a string), searched
///   in the reply as it arrives.
///
/// The reply is read until it matches, the peer closes, [`MAX_REPLY`] bytes
/// or the timeout. Serde form:
///
/// ```
/// use ipvs::health::probe::{Probe, TcpSendExpect};
/// let yaml = r#"{"type": "tcp_send_expect", "send": "PING\r\n", "expect": "^\\+PONG", "regex": true}"#;
/// let probe: Probe = serde_json::from_str(yaml).unwrap();
/// assert_eq!(probe, Probe::TcpSendExpect(TcpSendExpect::new("^\\+PONG").with_send("PING\r\n").regex(true)));
/// probe.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSendExpect {
    /// Bytes sent once connected (none: only read, e.g. a banner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Payload>,
    /// What the reply must start with, `*` for any reply, or a regex with
    /// `regex: true`.
    pub expect: Payload,
    /// `expect` is a regular expression.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regex: bool,
    #[serde(skip)]
    cache: RegexCache,
}

impl TcpSendExpect {
    /// Expect a reply starting with `expect` (or any reply for `*`), sending
    /// nothing.
    pub fn new(expect: impl Into<Payload>) -> Self {
        TcpSendExpect {
            send: None,
            expect: expect.into(),
            regex: false,
            cache: RegexCache::default(),
        }
    }

    /// Send these bytes once connected.
    pub fn with_send(mut self, send: impl Into<Payload>) -> Self {
        self.send = Some(send.into());
        self
    }

    /// Treat `expect` as a regular expression.
    pub fn regex(mut self, regex: bool) -> Self {
        self.regex = regex;
        self
    }

    fn any_reply(&self) -> bool {
        self.expect.as_bytes() == b"*"
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        let err =
            |kind, message: String| ProbeError::new("tcp_send_expect", "expect", kind, message);
        if self.expect.is_empty() {
            return Err(err(
                ProbeErrorKind::Empty,
                "is empty (write \"*\" to accept any reply)".into(),
            ));
        }
        if self.regex && !self.any_reply() {
            let Some(source) = self.expect.as_text() else {
                return Err(err(
                    ProbeErrorKind::Conflict,
                    "a regex (regex: true) must be a string, not hex".into(),
                ));
            };
            self.cache.get(source).map_err(|e| {
                err(
                    ProbeErrorKind::Regex,
                    format!("regex does not compile: {e}"),
                )
            })?;
        }
        Ok(())
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        if let Err(e) = self.validate() {
            return Outcome::down(FailureReason::Config, e.to_string());
        }
        let phase = Phase::new("connection");
        within(target, timeout, &phase, self.exchange(target, &phase)).await
    }

    async fn exchange(&self, target: &Target, phase: &Phase) -> Outcome {
        let mut stream = match tcp_connect(target).await {
            Ok(stream) => stream,
            Err(e) => return io_failure(target, "connect", &e),
        };
        if let Some(send) = &self.send {
            phase.set("send");
            if let Err(e) = stream.write_all(send.as_bytes()).await {
                return io_failure(target, "send", &e);
            }
        }
        phase.set("matching reply");
        let regex = match (self.regex && !self.any_reply(), self.expect.as_text()) {
            (true, Some(source)) => match self.cache.get(source) {
                Ok(regex) => Some(regex),
                Err(e) => return Outcome::down(FailureReason::Config, e),
            },
            _ => None,
        };
        let expect = self.expect.as_bytes();
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let room = (MAX_REPLY - reply.len()).min(chunk.len());
            let n = match stream.read(&mut chunk[..room]).await {
                Ok(n) => n,
                Err(e) => return io_failure(target, "read", &e),
            };
            reply.extend_from_slice(&chunk[..n]);
            if self.any_reply() && !reply.is_empty() {
                return Outcome::Up;
            }
            match &regex {
                Some(regex) => {
                    if regex.is_match(&reply) {
                        return Outcome::Up;
                    }
                }
                None => {
                    let common = reply.len().min(expect.len());
                    if reply[..common] != expect[..common] {
                        return mismatch(target, &reply, "does not start with the expected bytes");
                    }
                    if common == expect.len() {
                        return Outcome::Up;
                    }
                }
            }
            if n == 0 {
                if reply.is_empty() {
                    return Outcome::down(
                        FailureReason::Closed,
                        format!("{}: closed without a reply", target.addr),
                    );
                }
                return mismatch(target, &reply, "ended without a match");
            }
            if reply.len() >= MAX_REPLY {
                return mismatch(target, &reply, "reached the read limit without a match");
            }
        }
    }
}

/// An unexpected reply, with its first bytes for the log.
pub(crate) fn mismatch(target: &Target, reply: &[u8], why: &str) -> Outcome {
    let shown = &reply[..reply.len().min(64)];
    Outcome::down(
        FailureReason::UnexpectedReply,
        format!(
            "{}: reply ({} bytes, starting {:?}) {why}",
            target.addr,
            reply.len(),
            String::from_utf8_lossy(shown)
        ),
    )
}
