//! HTTP GET checks (`{type: http, path, host, status, body}`), written by
//! hand over tokio: HTTP/1.1 with `Connection: close`, bounded reads.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::pattern::RegexCache;
use super::tcp::mismatch;
use super::{
    FailureReason, Outcome, Phase, ProbeError, ProbeErrorKind, Target, io_failure, tcp_connect,
    within,
};

/// The most bytes read for the status line and headers.
pub const MAX_HEADER: usize = 16 * 1024;
/// The most body bytes read (and matched against `body`).
pub const MAX_BODY: usize = 64 * 1024;

/// HTTP GET: up when the status is in one of `status`'s ranges and, if
/// `body` is set, the body (its first [`MAX_BODY`] bytes, de-chunked)
/// matches that regular expression.
///
/// | field | default | meaning |
/// | --- | --- | --- |
/// | `path` | `/` | the request target; starts with `/` |
/// | `host` | the target's address (and port if not 80) | the `Host` header |
/// | `status` | `["200-299"]` | accepted statuses: `"200"`, `"200-399"` or `200` |
/// | `body` | none | a regex the body must match |
/// | `tls` | `false` | HTTPS (feature `health-tls`) |
/// | `tls_verify` | `false` | verify the certificate (chain and name: `host` or the address) |
/// | `tls_ca` | system roots | PEM file of CA certificates for `tls_verify` |
///
/// Without `tls_verify` any certificate is accepted (as keepalived's
/// `SSL_GET` does), though the server must still prove it holds its key.
///
/// ```
/// use ipvs::health::probe::{Http, Probe, StatusRange};
/// let yaml = r#"{"type": "http", "path": "/health", "host": "example.test", "status": ["200-299", 301], "body": "ok|ready"}"#;
/// let probe: Probe = serde_json::from_str(yaml).unwrap();
/// let expected = Http::new()
///     .with_path("/health")
///     .with_host("example.test")
///     .with_status(vec![StatusRange::new(200, 299), StatusRange::new(301, 301)])
///     .with_body("ok|ready");
/// assert_eq!(probe, Probe::Http(expected));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// The request target (`/` by default).
    #[serde(default = "default_path")]
    pub path: String,
    /// The `Host` header (by default the target's address, with its port
    /// unless 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Accepted statuses (200-299 by default).
    #[serde(default = "default_status")]
    pub status: Vec<StatusRange>,
    /// A regex the body must match (none: the body is not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTTPS instead of HTTP (needs the `health-tls` feature).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// Verify the server's certificate: its chain to `tls_ca` (or the
    /// system's roots) and its name (`host`'s name, or the target address).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates for `tls_verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    #[serde(skip)]
    cache: RegexCache,
    #[cfg(feature = "health-tls")]
    #[serde(skip)]
    tls_cache: super::tls::TlsCache,
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_status() -> Vec<StatusRange> {
    vec![StatusRange::new(200, 299)]
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    /// `GET /`, any 2xx status.
    pub fn new() -> Self {
        Http {
            path: default_path(),
            host: None,
            status: default_status(),
            body: None,
            tls: false,
            tls_verify: false,
            tls_ca: None,
            cache: RegexCache::default(),
            #[cfg(feature = "health-tls")]
            tls_cache: Default::default(),
        }
    }

    /// Request this path.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Send this `Host` header.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Accept these statuses.
    pub fn with_status(mut self, status: Vec<StatusRange>) -> Self {
        self.status = status;
        self
    }

    /// HTTPS, verifying the certificate or not (`tls`, `tls_verify`).
    pub fn with_tls(mut self, verify: bool) -> Self {
        self.tls = true;
        self.tls_verify = verify;
        self
    }

    /// Verify against the CA certificates in this PEM file (`tls_ca`).
    pub fn with_tls_ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(ca.into());
        self
    }

    /// The name the server's certificate must carry: `host` without its
    /// port, or the target's address.
    pub fn server_name(&self, addr: SocketAddr) -> String {
        let Some(host) = &self.host else {
            return addr.ip().to_string();
        };
        if let Some(rest) = host.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest).to_owned();
        }
        match host.split_once(':') {
            Some((name, port)) if !port.contains(':') => name.to_owned(),
            _ => host.clone(),
        }
    }

    /// Require the body to match this regex.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        let err = |field, kind, message: String| ProbeError::new("http", field, kind, message);
        if !self.path.starts_with('/') {
            return Err(err(
                "path",
                ProbeErrorKind::Path,
                format!("must start with '/' (got {:?})", self.path),
            ));
        }
        if self.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(err(
                "path",
                ProbeErrorKind::Path,
                format!("has spaces or control characters: {:?}", self.path),
            ));
        }
        if let Some(host) = &self.host {
            if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(err(
                    "host",
                    ProbeErrorKind::Host,
                    format!("is empty or has spaces or control characters: {host:?}"),
                ));
            }
        }
        if self.status.is_empty() {
            return Err(err(
                "status",
                ProbeErrorKind::Empty,
                "no status accepted (leave it out for 200-299)".into(),
            ));
        }
        for range in &self.status {
            range
                .check()
                .map_err(|e| err("status", ProbeErrorKind::StatusRange, e))?;
        }
        self.validate_tls()?;
        if let Some(body) = &self.body {
            self.cache.get(body).map_err(|e| {
                err(
                    "body",
                    ProbeErrorKind::Regex,
                    format!("regex does not compile: {e}"),
                )
            })?;
        }
        Ok(())
    }

    fn validate_tls(&self) -> Result<(), ProbeError> {
        let err = |field, kind, message: &str| ProbeError::new("http", field, kind, message);
        if !self.tls && self.tls_verify {
            return Err(err(
                "tls_verify",
                ProbeErrorKind::Conflict,
                "needs tls: true",
            ));
        }
        if self.tls_ca.is_some() && !self.tls_verify {
            return Err(err(
                "tls_ca",
                ProbeErrorKind::Conflict,
                "is only used with tls_verify: true",
            ));
        }
        if self.tls && !cfg!(feature = "health-tls") {
            return Err(err(
                "tls",
                ProbeErrorKind::Conflict,
                "this build has no TLS (feature health-tls)",
            ));
        }
        #[cfg(feature = "health-tls")]
        if let Some(ca) = &self.tls_ca {
            super::tls::load_ca(ca)
                .map_err(|e: String| err("tls_ca", ProbeErrorKind::Certificate, &e))?;
        }
        Ok(())
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        if let Err(e) = self.validate() {
            return Outcome::down(FailureReason::Config, e.to_string());
        }
        let phase = Phase::new("connection");
        within(target, timeout, &phase, async {
            let stream = match tcp_connect(target).await {
                Ok(stream) => stream,
                Err(e) => return io_failure(target, "connect", &e),
            };
            if !self.tls {
                return self.converse(stream, target, &phase).await;
            }
            #[cfg(feature = "health-tls")]
            {
                phase.set("TLS handshake");
                let config = match self.tls_cache.get(self.tls_verify, self.tls_ca.as_deref()) {
                    Ok(config) => config,
                    Err(e) => return Outcome::down(FailureReason::Config, e),
                };
                let name = self.server_name(target.addr);
                match super::tls::connect(config, &name, stream).await {
                    Ok(stream) => self.converse(stream, target, &phase).await,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::InvalidData
                            || e.kind() == std::io::ErrorKind::InvalidInput =>
                    {
                        Outcome::down(
                            FailureReason::Tls,
                            format!("{}: TLS handshake: {e}", target.addr),
                        )
                    }
                    Err(e) => io_failure(target, "TLS handshake", &e),
                }
            }
            #[cfg(not(feature = "health-tls"))]
            Outcome::down(FailureReason::Config, "no TLS in this build")
        })
        .await
    }

    /// The request, the status and the body over a connected stream.
    async fn converse<S>(&self, mut stream: S, target: &Target, phase: &Phase) -> Outcome
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        phase.set("request sent");
        let request = self.request(target.addr);
        if let Err(e) = stream.write_all(request.as_bytes()).await {
            return io_failure(target, "send", &e);
        }
        phase.set("status and headers");
        let mut buf = Vec::new();
        let head_len = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() >= MAX_HEADER {
                return mismatch(target, &buf, "has no end of headers within the limit");
            }
            match read_some(&mut stream, &mut buf, MAX_HEADER).await {
                Ok(0) if buf.is_empty() => {
                    return Outcome::down(
                        FailureReason::Closed,
                        format!("{}: closed without a reply", target.addr),
                    );
                }
                Ok(0) => return mismatch(target, &buf, "ended before the end of headers"),
                Ok(_) => {}
                Err(e) => return io_failure(target, "read", &e),
            }
        };
        let Some(head) = Head::parse(&buf[..head_len]) else {
            return mismatch(target, &buf, "is not an HTTP/1 response");
        };
        if !self.status.iter().any(|r| r.contains(head.status)) {
            let ranges: Vec<String> = self.status.iter().map(ToString::to_string).collect();
            return Outcome::down(
                FailureReason::BadStatus,
                format!(
                    "{}: status {} not in {}",
                    target.addr,
                    head.status,
                    ranges.join(", ")
                ),
            );
        }
        let Some(source) = &self.body else {
            return Outcome::Up;
        };
        let regex = match self.cache.get(source) {
            Ok(regex) => regex,
            Err(e) => return Outcome::down(FailureReason::Config, e),
        };
        phase.set("body");
        let mut raw = buf.split_off(head_len);
        let limit = if head.chunked {
            MAX_BODY + MAX_BODY / 8
        } else {
            head.content_length.map_or(MAX_BODY, |n| n.min(MAX_BODY))
        };
        loop {
            let decoded;
            let (body, complete): (&[u8], bool) = if head.chunked {
                let (body, complete) = dechunk(&raw);
                decoded = body;
                (&decoded, complete)
            } else {
                (&raw, raw.len() >= limit)
            };
            if regex.is_match(body) {
                return Outcome::Up;
            }
            if complete || raw.len() >= limit {
                return mismatch(target, body, "body does not match the regex");
            }
            let read = read_some(&mut stream, &mut raw, limit).await;
            match read {
                Ok(0) => return mismatch(target, &raw, "body does not match the regex"),
                Ok(_) => {}
                Err(e) => return io_failure(target, "read", &e),
            }
        }
    }

    fn request(&self, addr: SocketAddr) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = match &self.host {
            Some(host) => host.clone(),
            None if addr.port() == default_port => match addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            },
            None => addr.to_string(),
        };
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ipvs-health/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            self.path,
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// Read once into `buf`, at most up to `limit` bytes in all.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let room = limit.saturating_sub(buf.len()).min(chunk.len());
    let n = match stream.read(&mut chunk[..room]).await {
        Ok(n) => n,
        // A TLS peer that closes without close_notify: the end, as in HTTP.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
        Err(e) => return Err(e),
    };
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the checks need from a response's head.
struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
}

impl Head {
    fn parse(head: &[u8]) -> Option<Head> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next()?;
        let mut parts = status_line.splitn(3, ' ');
        if !parts.next()?.starts_with("HTTP/1.") {
            return None;
        }
        let code = parts.next()?;
        if code.len() != 3 {
            return None;
        }
        let status = code.parse().ok()?;
        let mut content_length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        Some(Head {
            status,
            content_length,
            chunked,
        })
    }
}

/// The body of a chunked transfer so far, and whether its last chunk came
/// (a malformed chunk size ends it too).
fn dechunk(raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    let mut rest = raw;
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return (body, false);
        };
        let size_text = std::str::from_utf8(&rest[..eol]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, true);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, true);
        }
        body.extend_from_slice(&rest[..size.min(rest.len())]);
        if rest.len() < size + 2 {
            return (body, false);
        }
        rest = &rest[size + 2..];
    }
}

/// A range of HTTP statuses, `low..=high`. Serde form: `"200-299"`,
/// `"200"` or `200`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    /// The lowest status accepted.
    pub low: u16,
    /// The highest status accepted.
    pub high: u16,
}

impl StatusRange {
    /// The statuses `low..=high`.
    pub fn new(low: u16, high: u16) -> Self {
        StatusRange { low, high }
    }

    /// True if `status` is in the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }

    fn check(&self) -> Result<(), String> {
        if !(100..=999).contains(&self.low) || !(100..=999).contains(&self.high) {
            return Err(format!("{self}: statuses are 100..=999"));
        }
        if self.low > self.high {
            return Err(format!("{self}: the low end is above the high end"));
        }
        Ok(())
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl std::str::FromStr for StatusRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<u16>()
                .map_err(|_| format!("{s:?} is not a status or a range such as 200-299"))
        };
        match s.split_once('-') {
            Some((low, high)) => Ok(StatusRange::new(number(low)?, number(high)?)),
            None => {
                let status = number(s)?;
                Ok(StatusRange::new(status, status))
            }
        }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RangeVisitor;

        impl Visitor<'_> for RangeVisitor {
            type Value = StatusRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status (200) or a range (\"200-299\")")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusRange, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusRange, E> {
                let status =
                    u16::try_from(v).map_err(|_| E::custom(format!("{v} is not a status")))?;
                Ok(StatusRange::new(status, status))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusRange, E> {
                let status =
                    u16::try_from(v).map_err(|_| E::custom(format!("{v} is not a status")))?;
                Ok(StatusRange::new(status, status))
            }
        }

        deserializer.deserialize_any(RangeVisitor)
    }
}
