//! DNS checks (`{type: dns, name, query_type}`): one query over UDP to the
//! target, up when the answer's RCODE is 0 (NOERROR).

use std::hash::BuildHasher;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::udp::connected_udp;
use super::{
    FailureReason, Outcome, Phase, ProbeError, ProbeErrorKind, Target, io_failure, within,
};

/// The query types known by name (any other as `TYPEnnn`, RFC 3597).
pub const QUERY_TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("DNSKEY", 48),
    ("HTTPS", 65),
    ("ANY", 255),
    ("CAA", 257),
];

/// A DNS query for `name` of type `query_type` (`A` by default), sent over
/// UDP to the target with recursion desired. Up when an answer with the
/// query's ID comes back with RCODE 0 (NOERROR), whatever its answer count;
/// NXDOMAIN, SERVFAIL, REFUSED... are [`FailureReason::BadStatus`], and
/// silence is [`FailureReason::Timeout`].
///
/// ```
/// use ipvs::health::probe::{Dns, Probe};
/// let probe: Probe = serde_json::from_str(
///     r#"{"type": "dns", "name": "www.example.test", "query_type": "AAAA"}"#,
/// ).unwrap();
/// assert_eq!(probe, Probe::Dns(Dns::new("www.example.test").with_query_type("AAAA")));
/// probe.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// The name queried (`.` for the root).
    pub name: String,
    /// The query type: a name in [`QUERY_TYPES`] (any case) or `TYPEnnn`.
    #[serde(default = "default_query_type")]
    pub query_type: String,
}

fn default_query_type() -> String {
    "A".to_owned()
}

impl Dns {
    /// An `A` query for `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Dns {
            name: name.into(),
            query_type: default_query_type(),
        }
    }

    /// Query this type instead.
    pub fn with_query_type(mut self, query_type: impl Into<String>) -> Self {
        self.query_type = query_type.into();
        self
    }

    /// The query type's number, if it is known.
    pub fn query_type_code(&self) -> Option<u16> {
        let wanted = self.query_type.trim();
        if let Some(&(_, code)) = QUERY_TYPES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        {
            return Some(code);
        }
        let prefix = wanted.get(..4)?;
        if !prefix.eq_ignore_ascii_case("TYPE") {
            return None;
        }
        wanted[4..].parse().ok()
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        encode_name(&self.name)
            .map_err(|(kind, message)| ProbeError::new("dns", "name", kind, message))?;
        if self.query_type_code().is_none() {
            let known: Vec<&str> = QUERY_TYPES.iter().map(|(name, _)| *name).collect();
            return Err(ProbeError::new(
                "dns",
                "query_type",
                ProbeErrorKind::QueryType,
                format!(
                    "unknown query type {:?} (known: {}, or TYPEnnn)",
                    self.query_type,
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The query's bytes with this ID.
    fn query(&self, id: u16) -> Result<Vec<u8>, ProbeError> {
        self.validate()?;
        let qtype = self.query_type_code().unwrap_or(1);
        let mut query = Vec::with_capacity(12 + self.name.len() + 6);
        query.extend_from_slice(&id.to_be_bytes());
        query.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
        query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN/NS/AR 0
        query.extend(encode_name(&self.name).unwrap_or_default());
        query.extend_from_slice(&qtype.to_be_bytes());
        query.extend_from_slice(&1u16.to_be_bytes()); // IN
        Ok(query)
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        let id = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now())
            as u16;
        let query = match self.query(id) {
            Ok(query) => query,
            Err(e) => return Outcome::down(FailureReason::Config, e.to_string()),
        };
        let phase = Phase::new("answer");
        within(target, timeout, &phase, async {
            let socket = match connected_udp(target).await {
                Ok(socket) => socket,
                Err(e) => return io_failure(target, "connect", &e),
            };
            if let Err(e) = socket.send(&query).await {
                return io_failure(target, "send", &e);
            }
            let mut buf = vec![0u8; 4096];
            loop {
                let n = match socket.recv(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => return io_failure(target, "answer", &e),
                };
                // Answers to other queries (wrong ID, not a response) are
                // skipped; the timeout bounds the wait.
                let answer = &buf[..n];
                if n < 12 || answer[..2] != id.to_be_bytes() || answer[2] & 0x80 == 0 {
                    continue;
                }
                let rcode = answer[3] & 0x0f;
                return if rcode == 0 {
                    Outcome::Up
                } else {
                    Outcome::down(
                        FailureReason::BadStatus,
                        format!(
                            "{}: {} {} answered {}",
                            target.addr,
                            self.query_type,
                            self.name,
                            rcode_name(rcode)
                        ),
                    )
                };
            }
        })
        .await
    }
}

/// A name in DNS wire form, or why it is not a name.
fn encode_name(name: &str) -> Result<Vec<u8>, (ProbeErrorKind, String)> {
    if name.is_empty() {
        return Err((
            ProbeErrorKind::Empty,
            "is empty (write \".\" for the root)".into(),
        ));
    }
    let bad = |why: &str| (ProbeErrorKind::DnsName, format!("{name:?}: {why}"));
    if name.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("has spaces or control characters"));
    }
    let mut wire = Vec::with_capacity(name.len() + 2);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() {
                return Err(bad("has an empty label"));
            }
            if label.len() > 63 {
                return Err(bad("has a label longer than 63 bytes"));
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
    }
    wire.push(0);
    if wire.len() > 255 {
        return Err(bad("is longer than 255 bytes"));
    }
    Ok(wire)
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE {other}"),
    }
}
