//! A minimal HTTP/1.1 server: `GET`/`HEAD` of `/` and `/metrics`, one
//! request per connection, every step bounded.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::board::StatusBoard;
use super::page::render_page;
use crate::metrics::{CONTENT_TYPE, Metrics, OPENMETRICS_CONTENT_TYPE};

/// Limits and looks of a [`StatusServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// The page's heading and title.
    pub title: String,
    /// How often the page reloads itself.
    pub refresh: Duration,
    /// The longest request head accepted (bytes); longer ones get 431.
    pub max_request_bytes: usize,
    /// Time allowed to read a request, and again to produce and send the answer.
    pub timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Say on standard error when bound to an address other than loopback
    /// (a program with a log of its own turns this off and logs
    /// [`not_loopback_warning`] its way).
    pub warn_not_loopback: bool,
}

/// The warning for a server bound to `addr`, if it is not loopback: the
/// page and metrics show the whole table to whoever can reach them.
pub fn not_loopback_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "warning: the status server listens on {addr} (not loopback): anyone who can reach \
             it sees the whole IPVS table and its metrics"
        )
    })
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            title: "IPVS director".to_owned(),
            refresh: Duration::from_secs(5),
            max_request_bytes: 8 * 1024,
            timeout: Duration::from_secs(10),
            max_connections: 32,
            warn_not_loopback: true,
        }
    }
}

/// The status server: `/metrics` and the status page, read-only.
#[derive(Debug)]
pub struct StatusServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    metrics: Arc<Metrics>,
    board: StatusBoard,
    options: ServerOptions,
}

/// A short answer.
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
    allow: bool,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
            allow: false,
        }
    }
}

impl StatusServer {
    /// Listen on `addr`. An address other than loopback is allowed and said
    /// on standard error: the page and metrics show the whole table to
    /// whoever can reach them.
    pub async fn bind(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        board: StatusBoard,
        options: ServerOptions,
    ) -> io::Result<StatusServer> {
        let listener = TcpListener::bind(addr).await?;
        if options.warn_not_loopback {
            if let Some(w) = not_loopback_warning(listener.local_addr()?) {
                eprintln!("{w}");
            }
        }
        Ok(StatusServer {
            listener,
            shared: Arc::new(Shared {
                metrics,
                board,
                options,
            }),
        })
    }

    /// The address it listens on (the port chosen, for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` completes; connections being served then are
    /// dropped.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let limit = Arc::new(Semaphore::new(self.shared.options.max_connections.max(1)));
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                p = limit.clone().acquire_owned() => p.map_err(io::Error::other)?,
            };
            let (stream, _) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: wait, go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let shared = self.shared.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let _ = handle(stream, &shared).await;
            });
            // Reap finished connections so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

async fn handle(mut stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let timeout = shared.options.timeout;
    let head = match tokio::time::timeout(
        timeout,
        read_head(&mut stream, shared.options.max_request_bytes),
    )
    .await
    {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            let r = Response::text("431 Request Header Fields Too Large", "request too large");
            return write_response(&mut stream, r, false, timeout).await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            let r = Response::text("408 Request Timeout", "request not received in time");
            return write_response(&mut stream, r, false, timeout).await;
        }
    };
    let (method, path, accept) = match parse_head(&head) {
        Some(p) => p,
        None => {
            let r = Response::text("400 Bad Request", "bad request");
            return write_response(&mut stream, r, false, timeout).await;
        }
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let mut r = Response::text("405 Method Not Allowed", "only GET and HEAD");
        r.allow = true;
        return write_response(&mut stream, r, false, timeout).await;
    }
    let shared2 = shared.clone();
    let path = path.split('?').next().unwrap_or("").to_owned();
    let work = tokio::task::spawn_blocking(move || route(&shared2, &path, &accept));
    let response = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Response::text("500 Internal Server Error", "internal error"),
        Err(_) => Response::text("503 Service Unavailable", "the table took too long to read"),
    };
    write_response(&mut stream, response, head_only, timeout).await
}

/// The request head (up to the blank line), or `None` when longer than `max`.
async fn read_head(stream: &mut TcpStream, max: usize) -> io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n")) {
            if end > max {
                return Ok(None);
            }
            buf.truncate(end);
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        if buf.len() > max {
            return Ok(None);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Method, target and Accept header of a request head.
fn parse_head(head: &str) -> Option<(String, String, String)> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Some((method.to_owned(), target.to_owned(), accept))
}

fn route(shared: &Shared, path: &str, accept: &str) -> Response {
    match path {
        "/metrics" => {
            let openmetrics = accept.contains("application/openmetrics-text");
            let (content_type, body) = if openmetrics {
                (
                    OPENMETRICS_CONTENT_TYPE,
                    shared.metrics.encode_openmetrics(),
                )
            } else {
                (CONTENT_TYPE, shared.metrics.encode())
            };
            Response {
                status: "200 OK",
                content_type,
                body,
                allow: false,
            }
        }
        "/" | "/index.html" => {
            let table = shared.metrics.read_table();
            let board = shared.board.snapshot();
            let body = render_page(
                &shared.options.title,
                table.as_deref().map_err(String::as_str),
                &board,
                shared.options.refresh,
                SystemTime::now(),
            );
            Response {
                status: "200 OK",
                content_type: "text/html; charset=utf-8",
                body,
                allow: false,
            }
        }
        _ => Response::text("404 Not Found", "not found: try / or /metrics"),
    }
}

async fn write_response(
    stream: &mut TcpStream,
    r: Response,
    head_only: bool,
    timeout: Duration,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n",
        r.status,
        r.content_type,
        r.body.len()
    );
    if r.allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let write = async {
        stream.write_all(out.as_bytes()).await?;
        if !head_only {
            stream.write_all(r.body.as_bytes()).await?;
        }
        stream.shutdown().await
    };
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_parse() {
        let (m, p, a) =
            parse_head("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nAccept: text/plain").unwrap();
        assert_eq!(
            (m.as_str(), p.as_str(), a.as_str()),
            ("GET", "/metrics?x=1", "text/plain")
        );
        assert!(parse_head("GET /").is_none());
        assert!(parse_head("GET / SPDY/3").is_none());
        assert!(parse_head("GET / HTTP/1.1 extra").is_none());
    }
}
