//! Health probes against servers started here, on loopback only: each kind
//! seen up and down (refused, hanging, trickling, wrong reply), the exec
//! check's killing and reaping, the file check's re-reads, validation and
//! the serde forms.
#![cfg(feature = "health")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipvs::health::probe::{
    Dns, Exec, FailureReason, File, Http, Outcome, Payload, Probe, ProbeErrorKind, StatusRange,
    Target, TcpSendExpect, Udp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The YAML crate the `config` feature uses (the one name to change if it
/// changes).
#[cfg(feature = "config")]
use serde_norway as yaml;

const TIMEOUT: Duration = Duration::from_millis(200);
/// How late a timed-out probe may return (2 shared cores, debug build).
const MARGIN: Duration = Duration::from_millis(400);

fn target(addr: SocketAddr) -> Target {
    Target::new(addr)
}

/// Run the probe with [`TIMEOUT`]; the outcome and how long it took.
async fn run(probe: &Probe, addr: SocketAddr) -> (Outcome, Duration) {
    probe.validate().expect("a valid probe");
    let start = Instant::now();
    let outcome = probe.run(&target(addr), TIMEOUT).await;
    (outcome, start.elapsed())
}

#[track_caller]
fn assert_down(outcome: &Outcome, reason: FailureReason) {
    match outcome {
        Outcome::Down(failure) => assert_eq!(failure.reason, reason, "{failure}"),
        other => panic!("expected down ({reason}), got {other:?}"),
    }
}

/// Down with a timeout, neither early nor later than the margin.
#[track_caller]
fn assert_timed_out(outcome: &Outcome, took: Duration) {
    assert_down(outcome, FailureReason::Timeout);
    assert!(
        took >= TIMEOUT - Duration::from_millis(20),
        "too early: {took:?}"
    );
    assert!(took <= TIMEOUT + MARGIN, "too late: {took:?}");
}

/// A loopback port where nothing listens.
async fn closed_tcp_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A server that accepts and then neither reads nor writes nor closes.
async fn hanging_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// A server that reads what comes (until `\r\n\r\n` or a line, whichever
/// first), then writes `reply` and, if `close`, closes.
async fn reply_server(reply: Vec<u8>, close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let _ = read_request(&mut stream).await;
                let _ = stream.write_all(&reply).await;
                if close {
                    let _ = stream.shutdown().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    addr
}

/// Read a request: up to a blank line (HTTP) or one line, 16 KiB at most.
async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while request.len() < 16384 {
        match stream.read(&mut byte).await {
            Ok(1) => request.push(byte[0]),
            _ => break,
        }
        if request.ends_with(b"\r\n\r\n")
            || (request.ends_with(b"\n") && !request.starts_with(b"GET"))
        {
            break;
        }
    }
    request
}

/// A server that sends one byte every 20 ms, forever.
async fn trickle_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                while stream.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    addr
}

/// A server that writes `prefix` then endless filler, as fast as it can.
async fn flood_server(prefix: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if stream.write_all(prefix).await.is_err() {
                    return;
                }
                let filler = vec![b'a'; 65536];
                while stream.write_all(&filler).await.is_ok() {}
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- tcp

#[tokio::test]
async fn tcp_connect_up_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (up, _) = run(&Probe::Tcp, listener.local_addr().unwrap()).await;
    assert_eq!(up, Outcome::Up);
    // The probe closes with a reset, leaving no TIME_WAIT behind.
    let (mut accepted, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 1];
    let read = accepted.read(&mut buf).await;
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    let (down, took) = run(&Probe::Tcp, closed_tcp_port().await).await;
    assert_down(&down, FailureReason::Refused);
    assert!(took < TIMEOUT, "a refusal is immediate: {took:?}");
}

#[tokio::test]
async fn tcp_connect_over_ipv6_and_from_a_source_address() {
    if let Ok(listener) = TcpListener::bind("[::1]:0").await {
        let (up, _) = run(&Probe::Tcp, listener.local_addr().unwrap()).await;
        assert_eq!(up, Outcome::Up);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut from = target(listener.local_addr().unwrap());
    from.source = Some("127.0.0.2".parse().unwrap());
    let probe = tokio::spawn(async move { Probe::Tcp.run(&from, TIMEOUT).await });
    let (_, peer) = listener.accept().await.unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
    assert_eq!(probe.await.unwrap(), Outcome::Up);
}

#[tokio::test]
async fn probe_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let t = target("127.0.0.1:9".parse().unwrap());
    for probe in every_kind() {
        assert_send(&probe.run(&t, TIMEOUT));
    }
}

// ---------------------------------------------------- tcp send/expect

fn send_expect(send: &str, expect: &str, regex: bool) -> Probe {
    Probe::TcpSendExpect(TcpSendExpect::new(expect).with_send(send).regex(regex))
}

#[tokio::test]
async fn tcp_send_expect_up() {
    let addr = reply_server(b"+PONG\r\n".to_vec(), true).await;
    for probe in [
        send_expect("PING\r\n", "+PONG", false),
        send_expect("PING\r\n", "*", false),
        send_expect("PING\r\n", r"^\+PO+NG\r\n$", true),
        send_expect("PING\r\n", "*", true),
        Probe::TcpSendExpect(
            TcpSendExpect::new(Payload::from_hex("2b 50 4f").unwrap()).with_send("PING\n"),
        ),
    ] {
        let (outcome, _) = run(&probe, addr).await;
        assert_eq!(outcome, Outcome::Up, "{probe:?}");
    }
    // Up as soon as the reply matches, even if the server keeps the
    // connection open.
    let open = reply_server(b"+PONG\r\n".to_vec(), false).await;
    let (outcome, took) = run(&send_expect("PING\r\n", "+PONG", false), open).await;
    assert_eq!(outcome, Outcome::Up);
    assert!(took < TIMEOUT, "{took:?}");
    let (outcome, took) = run(&send_expect("PING\r\n", "PONG", true), open).await;
    assert_eq!(outcome, Outcome::Up);
    assert!(took < TIMEOUT, "{took:?}");
}

#[tokio::test]
async fn tcp_send_expect_down() {
    let addr = reply_server(b"-ERR unknown\r\n".to_vec(), true).await;
    let (outcome, took) = run(&send_expect("PING\r\n", "+PONG", false), addr).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    assert!(
        took < TIMEOUT,
        "a mismatch is known at the first byte: {took:?}"
    );
    let (outcome, _) = run(&send_expect("PING\r\n", "PONG", true), addr).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);

    let closes = reply_server(Vec::new(), true).await;
    let (outcome, _) = run(&send_expect("PING\r\n", "*", false), closes).await;
    assert_down(&outcome, FailureReason::Closed);

    let (outcome, _) = run(
        &send_expect("PING\r\n", "*", false),
        closed_tcp_port().await,
    )
    .await;
    assert_down(&outcome, FailureReason::Refused);

    let (outcome, took) = run(&send_expect("PING\r\n", "*", false), hanging_server().await).await;
    assert_timed_out(&outcome, took);
    let failure = outcome.failure().unwrap();
    assert!(failure.detail.contains("no matching reply"), "{failure}");

    // Bytes keep coming, never the match: bounded by the timeout.
    let (outcome, took) = run(&send_expect("", "never", true), trickle_server().await).await;
    assert_timed_out(&outcome, took);

    // An endless reply stops at the read limit.
    let (outcome, took) = run(&send_expect("", "never", true), flood_server(b"").await).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    assert!(took < TIMEOUT + MARGIN, "{took:?}");
}

// ---------------------------------------------------------------- http

fn http_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An HTTP server that answers `reply` and passes each request on.
async fn recording_http_server(
    reply: Vec<u8>,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let request = read_request(&mut stream).await;
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
            let _ = stream.write_all(&reply).await;
            let _ = stream.shutdown().await;
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn http_up_with_path_host_status_and_body() {
    let (addr, mut requests) =
        recording_http_server(http_response("200 OK", "status: ready\n")).await;
    let probe = Probe::Http(
        Http::new()
            .with_path("/health?full=1")
            .with_host("example.test")
            .with_body("ok|ready"),
    );
    let (outcome, _) = run(&probe, addr).await;
    assert_eq!(outcome, Outcome::Up);
    let request = requests.recv().await.unwrap();
    assert!(
        request.starts_with("GET /health?full=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nHost: example.test\r\n"), "{request}");
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

    // The default Host is the target's address and port.
    let (outcome, _) = run(&Probe::Http(Http::new()), addr).await;
    assert_eq!(outcome, Outcome::Up);
    let request = requests.recv().await.unwrap();
    assert!(request.starts_with("GET / HTTP/1.1\r\n"), "{request}");
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );
}

#[tokio::test]
async fn http_status_ranges() {
    let unavailable = reply_server(http_response("503 Service Unavailable", "busy"), true).await;
    let (outcome, _) = run(&Probe::Http(Http::new()), unavailable).await;
    assert_down(&outcome, FailureReason::BadStatus);
    assert!(
        outcome
            .failure()
            .unwrap()
            .detail
            .contains("status 503 not in 200-299")
    );
    let accepts_5xx =
        Http::new().with_status(vec![StatusRange::new(204, 204), "500-599".parse().unwrap()]);
    let (outcome, _) = run(&Probe::Http(accepts_5xx), unavailable).await;
    assert_eq!(outcome, Outcome::Up);

    let redirect = reply_server(http_response("301 Moved", ""), true).await;
    let (outcome, _) = run(&Probe::Http(Http::new()), redirect).await;
    assert_down(&outcome, FailureReason::BadStatus);
}

#[tokio::test]
async fn http_body_regex() {
    let addr = reply_server(http_response("200 OK", "starting up"), true).await;
    let (outcome, _) = run(&Probe::Http(Http::new().with_body("ok|ready")), addr).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    let (outcome, _) = run(&Probe::Http(Http::new().with_body("^start")), addr).await;
    assert_eq!(outcome, Outcome::Up);

    // A chunked body, matched across chunks.
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n"
            .to_vec();
    let addr = reply_server(chunked, false).await;
    let (outcome, took) = run(&Probe::Http(Http::new().with_body("ready")), addr).await;
    assert_eq!(outcome, Outcome::Up);
    assert!(took < TIMEOUT, "{took:?}");
    let (outcome, took) = run(&Probe::Http(Http::new().with_body("^ready$")), addr).await;
    assert_eq!(outcome, Outcome::Up, "chunk sizes are not part of the body");
    assert!(took < TIMEOUT, "{took:?}");

    // A complete Content-Length body that does not match, on a connection
    // left open: known without waiting for the timeout.
    let open = reply_server(http_response("200 OK", "nope"), false).await;
    let (outcome, took) = run(&Probe::Http(Http::new().with_body("ready")), open).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    assert!(took < TIMEOUT, "{took:?}");
    // Without a body regex the body is not waited for.
    let (outcome, took) = run(&Probe::Http(Http::new()), open).await;
    assert_eq!(outcome, Outcome::Up);
    assert!(took < TIMEOUT, "{took:?}");
}

#[tokio::test]
async fn http_down_refused_hanging_trickling_flooding_garbage() {
    let probe = Probe::Http(Http::new());
    let (outcome, _) = run(&probe, closed_tcp_port().await).await;
    assert_down(&outcome, FailureReason::Refused);

    let (outcome, took) = run(&probe, hanging_server().await).await;
    assert_timed_out(&outcome, took);
    assert!(
        outcome
            .failure()
            .unwrap()
            .detail
            .contains("no status and headers")
    );

    let (outcome, took) = run(&probe, trickle_server().await).await;
    assert_timed_out(&outcome, took);

    // Headers that never end: stopped at the header limit.
    let (outcome, took) = run(&probe, flood_server(b"HTTP/1.1 200 OK\r\nX: ").await).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    assert!(took < TIMEOUT + MARGIN, "{took:?}");
    // An endless body: matched within the body limit, then down.
    let flood = flood_server(b"HTTP/1.1 200 OK\r\n\r\n").await;
    let (outcome, took) = run(&Probe::Http(Http::new().with_body("ready")), flood).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);
    assert!(took < TIMEOUT + MARGIN, "{took:?}");

    let garbage = reply_server(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec(), true).await;
    let (outcome, _) = run(&probe, garbage).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);

    let closes = reply_server(Vec::new(), true).await;
    let (outcome, _) = run(&probe, closes).await;
    assert_down(&outcome, FailureReason::Closed);
}

// ----------------------------------------------------------------- udp

/// A UDP server answering `reply` to every datagram, if any.
async fn udp_server(reply: Option<&'static [u8]>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((_, peer)) = socket.recv_from(&mut buf).await {
            if let Some(reply) = reply {
                let _ = socket.send_to(reply, peer).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn udp_up_and_down() {
    let pong = udp_server(Some(b"pong\x00\x01")).await;
    for probe in [
        Udp::new("ping").with_expect("pong"),
        Udp::new("ping").with_expect(Payload::bytes(b"pong\x00\x01".to_vec())),
        Udp::new(Payload::from_hex("00ff").unwrap()),
    ] {
        let (outcome, _) = run(&Probe::Udp(probe.clone()), pong).await;
        assert_eq!(outcome, Outcome::Up, "{probe:?}");
    }
    let (outcome, _) = run(&Probe::Udp(Udp::new("ping").with_expect("PONG")), pong).await;
    assert_down(&outcome, FailureReason::UnexpectedReply);

    let silent = udp_server(None).await;
    let (outcome, took) = run(&Probe::Udp(Udp::new("ping")), silent).await;
    assert_timed_out(&outcome, took);

    // Nothing listens: the port unreachable comes back as a refusal.
    let closed = {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.local_addr().unwrap()
    };
    let (outcome, took) = run(&Probe::Udp(Udp::new("ping")), closed).await;
    assert_down(&outcome, FailureReason::Refused);
    assert!(took < TIMEOUT, "{took:?}");
}

// ----------------------------------------------------------------- dns

/// A DNS server: NOERROR for `www.example.test`, NXDOMAIN otherwise;
/// first sends a datagram with another ID (which the probe must skip). It
/// passes each query's type on.
async fn dns_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<u16>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let query = &buf[..n];
            // Header, then the name's labels, then QTYPE and QCLASS.
            let mut labels = Vec::new();
            let mut i = 12;
            while query[i] != 0 {
                let len = query[i] as usize;
                labels.push(String::from_utf8_lossy(&query[i + 1..i + 1 + len]).into_owned());
                i += 1 + len;
            }
            let qtype = u16::from_be_bytes([query[i + 1], query[i + 2]]);
            let _ = tx.send(qtype);
            let question = &query[12..i + 5];
            let rcode = if labels.join(".") == "www.example.test" {
                0
            } else {
                3
            };
            let mut answer = Vec::new();
            answer.extend_from_slice(&[query[0] ^ 0xff, query[1], 0x81, 0x80 | rcode]);
            answer.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            answer.extend_from_slice(question);
            let _ = socket.send_to(&answer, peer).await; // another ID
            answer[0] = query[0];
            let _ = socket.send_to(&answer, peer).await;
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn dns_noerror_nxdomain_silent_refused() {
    let (addr, mut qtypes) = dns_server().await;
    let (outcome, _) = run(&Probe::Dns(Dns::new("www.example.test")), addr).await;
    assert_eq!(outcome, Outcome::Up);
    assert_eq!(qtypes.recv().await, Some(1));
    let (outcome, _) = run(
        &Probe::Dns(Dns::new("www.example.test.").with_query_type("aaaa")),
        addr,
    )
    .await;
    assert_eq!(outcome, Outcome::Up);
    assert_eq!(qtypes.recv().await, Some(28));
    let (outcome, _) = run(
        &Probe::Dns(Dns::new("www.example.test").with_query_type("TYPE65280")),
        addr,
    )
    .await;
    assert_eq!(outcome, Outcome::Up);
    assert_eq!(qtypes.recv().await, Some(65280));

    let (outcome, _) = run(&Probe::Dns(Dns::new("nowhere.example.test")), addr).await;
    assert_down(&outcome, FailureReason::BadStatus);
    assert!(outcome.failure().unwrap().detail.contains("NXDOMAIN"));

    let (outcome, took) = run(
        &Probe::Dns(Dns::new("www.example.test")),
        udp_server(None).await,
    )
    .await;
    assert_timed_out(&outcome, took);
    // A reply that is not an answer to the query is skipped, not believed.
    let (outcome, took) = run(
        &Probe::Dns(Dns::new("www.example.test")),
        udp_server(Some(b"junk")).await,
    )
    .await;
    assert_timed_out(&outcome, took);

    let closed = {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.local_addr().unwrap()
    };
    let (outcome, _) = run(&Probe::Dns(Dns::new("www.example.test")), closed).await;
    assert_down(&outcome, FailureReason::Refused);
}

// ---------------------------------------------------------------- exec

fn sh(script: &str) -> Probe {
    Probe::Exec(Exec::new("/bin/sh").with_args(["-c", script, "check", "%h", "%p"]))
}

#[tokio::test]
async fn exec_exit_codes() {
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let (outcome, _) = run(&sh("exit 0"), addr).await;
    assert_eq!(outcome, Outcome::Up);
    let (outcome, _) = run(&sh("exit 1"), addr).await;
    assert_down(&outcome, FailureReason::ExitCode);
    let (outcome, _) = run(&sh("exit 2"), addr).await;
    assert_eq!(outcome, Outcome::UpWithWeight(0));
    let (outcome, _) = run(&sh("exit 7"), addr).await;
    assert_eq!(outcome, Outcome::UpWithWeight(5));
    let (outcome, _) = run(&sh("exit 255"), addr).await;
    assert_eq!(outcome, Outcome::UpWithWeight(253));
    let (outcome, _) = run(&sh("kill -KILL $$"), addr).await;
    assert_down(&outcome, FailureReason::Killed);

    // %h and %p are the target's host and port.
    let (outcome, _) = run(&sh(r#"test "$1" = 127.0.0.1 && test "$2" = 8080"#), addr).await;
    assert_eq!(outcome, Outcome::Up);
    let v6: SocketAddr = "[::1]:53".parse().unwrap();
    let (outcome, _) = run(&sh(r#"test "$1" = ::1 && test "$2" = 53"#), v6).await;
    assert_eq!(outcome, Outcome::Up);

    // Output is discarded, however much there is.
    let (outcome, _) = run(&sh("head -c 10000000 /dev/zero; exit 3"), addr).await;
    assert_eq!(outcome, Outcome::UpWithWeight(1));
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ipvs-health-probe-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The state letter of a process (`R`, `S`, `Z`...), or None if it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.chars().next()
}

/// Wait (bounded) until `pid` no longer runs: gone or a zombie (then not
/// ours: its parent died and init reaps it).
async fn wait_not_running(pid: u32) -> Option<char> {
    for _ in 0..50 {
        match process_state(pid) {
            None | Some('Z') | Some('X') => return process_state(pid),
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    process_state(pid)
}

/// A program that ignores SIGTERM and starts a child that sleeps, both
/// pids written to `pids`.
fn stubborn(pids: &std::path::Path) -> Probe {
    let script = format!(
        "trap '' TERM; sleep 30 & echo $$ $! > {}; wait; wait",
        pids.display()
    );
    Probe::Exec(Exec::new("/bin/sh").with_args(["-c", &script]))
}

async fn read_pids(pids: &std::path::Path) -> (u32, u32) {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(pids) {
            let numbers: Vec<u32> = text
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            if let [program, child] = numbers[..] {
                return (program, child);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} not written", pids.display());
}

#[tokio::test]
async fn exec_timeout_kills_the_group_and_reaps() {
    let pids = scratch("pids");
    let addr = "127.0.0.1:1".parse().unwrap();
    let (outcome, took) = run(&stubborn(&pids), addr).await;
    assert_timed_out(&outcome, took);
    let (program, child) = read_pids(&pids).await;
    // The program was reaped by the probe before it returned: no zombie.
    assert_eq!(
        process_state(program),
        None,
        "program {program} left behind"
    );
    // Its child (same process group) was killed too.
    let state = wait_not_running(child).await;
    assert!(
        matches!(state, None | Some('Z') | Some('X')),
        "child {child} still {state:?}"
    );
}

#[tokio::test]
async fn exec_dropped_probe_kills_the_group() {
    let pids = scratch("pids");
    let probe = stubborn(&pids);
    let t = target("127.0.0.1:1".parse().unwrap());
    // The caller gives up before the probe's own (long) timeout.
    let cut = tokio::time::timeout(TIMEOUT, probe.run(&t, Duration::from_secs(60))).await;
    assert!(cut.is_err());
    let (program, child) = read_pids(&pids).await;
    for pid in [program, child] {
        let state = wait_not_running(pid).await;
        assert!(
            matches!(state, None | Some('Z') | Some('X')),
            "{pid} still {state:?}"
        );
    }
}

#[tokio::test]
async fn exec_program_gone_at_run_time() {
    let probe = Probe::Exec(Exec::new("/nonexistent/check"));
    let outcome = probe
        .run(&target("127.0.0.1:1".parse().unwrap()), TIMEOUT)
        .await;
    assert_down(&outcome, FailureReason::Io);
}

// ---------------------------------------------------------------- file

#[tokio::test]
async fn file_up_down_weight_changed_missing() {
    let path = scratch("weight");
    let probe = Probe::File(File::new(&path));
    let addr = "127.0.0.1:80".parse().unwrap();

    let (outcome, _) = run(&probe, addr).await;
    assert_down(&outcome, FailureReason::File);
    assert!(outcome.failure().unwrap().detail.contains("No such file"));

    std::fs::write(&path, "up\n").unwrap();
    assert_eq!(run(&probe, addr).await.0, Outcome::Up);
    std::fs::write(&path, " DOWN ").unwrap();
    assert_down(&run(&probe, addr).await.0, FailureReason::MarkedDown);
    std::fs::write(&path, "5").unwrap();
    assert_eq!(run(&probe, addr).await.0, Outcome::UpWithWeight(5));
    // Same length, new content: re-read.
    std::fs::write(&path, "7").unwrap();
    assert_eq!(run(&probe, addr).await.0, Outcome::UpWithWeight(7));
    // Unchanged (same length, time and inode): not read again, so content
    // changed behind a restored modification time goes unseen...
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "8").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(run(&probe, addr).await.0, Outcome::UpWithWeight(7));
    // ...until the time moves.
    let later = modified + Duration::from_secs(1);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(run(&probe, addr).await.0, Outcome::UpWithWeight(8));
    std::fs::write(&path, "heavy").unwrap();
    assert_down(&run(&probe, addr).await.0, FailureReason::File);
    std::fs::write(&path, "-3").unwrap();
    assert_down(&run(&probe, addr).await.0, FailureReason::File);
    std::fs::remove_file(&path).unwrap();
    assert_down(&run(&probe, addr).await.0, FailureReason::File);

    // A directory is unreadable as a file.
    let dir = Probe::File(File::new(path.parent().unwrap()));
    assert_down(&run(&dir, addr).await.0, FailureReason::File);
}

#[tokio::test]
async fn file_per_target_path() {
    let path = scratch("x");
    let dir = path.parent().unwrap();
    std::fs::write(dir.join("127.0.0.1_80"), "up").unwrap();
    std::fs::write(dir.join("127.0.0.1_81"), "3").unwrap();
    let probe = Probe::File(File::new(dir.join("%h_%p")));
    assert_eq!(
        run(&probe, "127.0.0.1:80".parse().unwrap()).await.0,
        Outcome::Up
    );
    assert_eq!(
        run(&probe, "127.0.0.1:81".parse().unwrap()).await.0,
        Outcome::UpWithWeight(3)
    );
    assert_down(
        &run(&probe, "127.0.0.1:82".parse().unwrap()).await.0,
        FailureReason::File,
    );
}

#[test]
fn http_server_name_for_tls() {
    let addr: SocketAddr = "192.0.2.1:443".parse().unwrap();
    let name = |host: Option<&str>| {
        let http = match host {
            Some(host) => Http::new().with_host(host),
            None => Http::new(),
        };
        http.server_name(addr)
    };
    assert_eq!(name(None), "192.0.2.1");
    assert_eq!(name(Some("example.test")), "example.test");
    assert_eq!(name(Some("example.test:8443")), "example.test");
    assert_eq!(name(Some("[2001:db8::1]:443")), "2001:db8::1");
    assert_eq!(name(Some("2001:db8::1")), "2001:db8::1");
}

// ---------------------------------------------------------- validation

#[test]
fn validation_names_the_field() {
    let cases: Vec<(Probe, &str, ProbeErrorKind)> = vec![
        (send_expect("", "(", true), "expect", ProbeErrorKind::Regex),
        (send_expect("", "", false), "expect", ProbeErrorKind::Empty),
        (
            Probe::TcpSendExpect(TcpSendExpect::new(Payload::bytes(b"ab".to_vec())).regex(true)),
            "expect",
            ProbeErrorKind::Conflict,
        ),
        (
            Probe::Http(Http::new().with_body("a[")),
            "body",
            ProbeErrorKind::Regex,
        ),
        (
            Probe::Http(Http::new().with_path("health")),
            "path",
            ProbeErrorKind::Path,
        ),
        (
            Probe::Http(Http::new().with_path("/a b")),
            "path",
            ProbeErrorKind::Path,
        ),
        (
            Probe::Http(Http::new().with_host("a\r\nX: y")),
            "host",
            ProbeErrorKind::Host,
        ),
        (
            Probe::Http(Http::new().with_status(vec![StatusRange::new(299, 200)])),
            "status",
            ProbeErrorKind::StatusRange,
        ),
        (
            Probe::Http(Http::new().with_status(vec![StatusRange::new(20, 99)])),
            "status",
            ProbeErrorKind::StatusRange,
        ),
        (
            Probe::Http(Http::new().with_status(vec![])),
            "status",
            ProbeErrorKind::Empty,
        ),
        (Probe::Dns(Dns::new("")), "name", ProbeErrorKind::Empty),
        (
            Probe::Dns(Dns::new("a..b")),
            "name",
            ProbeErrorKind::DnsName,
        ),
        (
            Probe::Dns(Dns::new("a".repeat(64))),
            "name",
            ProbeErrorKind::DnsName,
        ),
        (Probe::Dns(Dns::new("a b")), "name", ProbeErrorKind::DnsName),
        (
            Probe::Dns(Dns::new("x.test").with_query_type("BOGUS")),
            "query_type",
            ProbeErrorKind::QueryType,
        ),
        (
            Probe::Exec(Exec::new("/nonexistent/check")),
            "program",
            ProbeErrorKind::Program,
        ),
        (
            Probe::Exec(Exec::new("no-such-program-anywhere")),
            "program",
            ProbeErrorKind::Program,
        ),
        (
            Probe::Exec(Exec::new("/etc/passwd")),
            "program",
            ProbeErrorKind::Program,
        ),
        (
            Probe::Exec(Exec::new("/")),
            "program",
            ProbeErrorKind::Program,
        ),
        (Probe::Exec(Exec::new("")), "program", ProbeErrorKind::Empty),
        (Probe::File(File::new("")), "path", ProbeErrorKind::Empty),
    ];
    for (probe, field, kind) in cases {
        let err = probe
            .validate()
            .expect_err(&format!("{probe:?} is invalid"));
        assert_eq!(
            (err.probe, err.field, err.kind),
            (probe.kind(), field, kind),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{} probe: {field}: ", probe.kind())),
            "{err}"
        );
    }
    for probe in every_kind() {
        probe
            .validate()
            .unwrap_or_else(|e| panic!("{probe:?}: {e}"));
    }
    // A program found in PATH is fine.
    Probe::Exec(Exec::new("sh")).validate().unwrap();
    // A run of an invalid probe is down with `config`, never a panic.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(
        Probe::Http(Http::new().with_body("("))
            .run(&target("127.0.0.1:9".parse().unwrap()), TIMEOUT),
    );
    assert_down(&outcome, FailureReason::Config);
}

#[test]
fn unknown_type_and_fields_are_serde_errors() {
    let err = serde_json::from_str::<Probe>(r#"{"type": "ping"}"#)
        .unwrap_err()
        .to_string();
    for kind in [
        "tcp",
        "tcp_send_expect",
        "http",
        "udp",
        "dns",
        "exec",
        "file",
    ] {
        assert!(err.contains(&format!("`{kind}`")), "{err}");
    }
    let err = serde_json::from_str::<Probe>(r#"{"type": "http", "paht": "/"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("paht"), "{err}");
    let err = serde_json::from_str::<Probe>(r#"{"type": "tcp", "port": 80}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("port"), "{err}");
    let err = serde_json::from_str::<Probe>(r#"{"type": "tcp", "expect": "*"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tcp_send_expect"), "{err}");
    let err = serde_json::from_str::<Probe>(r#"{"type": "udp", "send": {"hex": "abc"}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("odd number of hex digits"), "{err}");
    let err = serde_json::from_str::<Probe>(r#"{"type": "http", "status": ["2xx"]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2xx"), "{err}");
    let err = serde_json::from_str::<Probe>(r#"{"type": "dns"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("name"), "{err}");
}

// --------------------------------------------------------------- serde

fn every_kind() -> Vec<Probe> {
    vec![
        Probe::Tcp,
        send_expect("PING\r\n", "+PONG", false),
        send_expect("PING\r\n", r"^\+PONG", true),
        Probe::TcpSendExpect(TcpSendExpect::new(Payload::bytes(vec![0, 0xff]))),
        Probe::Http(Http::new()),
        Probe::Http(
            Http::new()
                .with_path("/health")
                .with_host("example.test")
                .with_status(vec![StatusRange::new(200, 299), StatusRange::new(301, 301)])
                .with_body("ok|ready"),
        ),
        Probe::Udp(Udp::new("ping")),
        Probe::Udp(Udp::new(Payload::bytes(vec![0, 1, 0xfe])).with_expect("pong")),
        Probe::Dns(Dns::new("www.example.test")),
        Probe::Dns(Dns::new(".").with_query_type("SOA")),
        Probe::Exec(Exec::new("/bin/sh").with_args(["-c", "exit 0", "%h", "%p"])),
        Probe::File(File::new("/run/lb/%h_%p")),
    ]
}

/// Every kind, and the TLS fields (not valid everywhere: a CA file).
fn every_form() -> Vec<Probe> {
    let mut forms = every_kind();
    forms.push(Probe::Http(Http::new().with_tls(false)));
    forms.push(Probe::Http(
        Http::new()
            .with_tls(true)
            .with_tls_ca("/etc/ipvs/ca.pem")
            .with_host("example.test"),
    ));
    forms
}

#[test]
fn serde_json_round_trip() {
    for probe in every_form() {
        let json = serde_json::to_string(&probe).unwrap();
        let back: Probe = serde_json::from_str(&json).unwrap();
        assert_eq!(back, probe, "{json}");
    }
}

#[cfg(feature = "config")]
#[test]
fn serde_yaml_round_trip_and_written_forms() {
    for probe in every_form() {
        let yaml = yaml::to_string(&probe).unwrap();
        let back: Probe = yaml::from_str(&yaml).unwrap();
        assert_eq!(back, probe, "{yaml}");
    }
    let written = [
        ("{type: tcp}", Probe::Tcp),
        (
            "{type: http, path: /health, host: example.test, status: [\"200-299\"], body: \"ok|ready\"}",
            Probe::Http(
                Http::new()
                    .with_path("/health")
                    .with_host("example.test")
                    .with_body("ok|ready"),
            ),
        ),
        (
            "{type: http, status: [200, 204]}",
            Probe::Http(
                Http::new()
                    .with_status(vec![StatusRange::new(200, 200), StatusRange::new(204, 204)]),
            ),
        ),
        (
            "{type: tcp_send_expect, send: \"PING\\r\\n\", expect: \"+PONG\"}",
            send_expect("PING\r\n", "+PONG", false),
        ),
        (
            "{type: udp, send: {hex: \"de ad be ef\"}, expect: {hex: \"00\"}}",
            Probe::Udp(
                Udp::new(Payload::bytes(vec![0xde, 0xad, 0xbe, 0xef]))
                    .with_expect(Payload::bytes(vec![0])),
            ),
        ),
        (
            "{type: dns, name: example.test, query_type: MX}",
            Probe::Dns(Dns::new("example.test").with_query_type("MX")),
        ),
        (
            "{type: exec, program: /usr/bin/check, args: [\"%h\", \"%p\"]}",
            Probe::Exec(Exec::new("/usr/bin/check").with_args(["%h", "%p"])),
        ),
        (
            "{type: file, path: /run/weight}",
            Probe::File(File::new("/run/weight")),
        ),
    ];
    for (yaml, probe) in written {
        let parsed: Probe = yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert_eq!(parsed, probe, "{yaml}");
    }
}

/// A check's own fields next to its probe's, as a config file writes them.
#[cfg(feature = "config")]
#[test]
fn serde_flattened_next_to_other_fields() {
    // No deny_unknown_fields here (serde does not allow it with flatten):
    // the probe rejects what neither knows.
    #[derive(Debug, serde::Deserialize)]
    struct Check {
        interval: u64,
        #[serde(flatten)]
        probe: Probe,
    }
    let check: Check = yaml::from_str("{type: http, interval: 2, path: /health}").unwrap();
    assert_eq!(check.interval, 2);
    assert_eq!(check.probe, Probe::Http(Http::new().with_path("/health")));
    let check: Check = yaml::from_str("{type: tcp, interval: 2}").unwrap();
    assert_eq!(check.probe, Probe::Tcp);
    let err = yaml::from_str::<Check>("{type: http, interval: 2, paht: /health}").unwrap_err();
    assert!(err.to_string().contains("paht"), "{err}");
    let err = yaml::from_str::<Check>("{type: tcp, interval: 2, send: x}").unwrap_err();
    assert!(err.to_string().contains("send"), "{err}");
}

#[cfg(feature = "config")]
#[test]
fn serde_toml_reads_a_probe() {
    #[derive(serde::Deserialize)]
    struct Doc {
        check: Probe,
    }
    let doc: Doc =
        toml::from_str("[check]\ntype = \"http\"\npath = \"/health\"\nstatus = [\"200-204\"]\n")
            .unwrap();
    assert_eq!(
        doc.check,
        Probe::Http(
            Http::new()
                .with_path("/health")
                .with_status(vec![StatusRange::new(200, 204)])
        )
    );
}

#[test]
fn failure_reasons_have_stable_distinct_names() {
    let names: Vec<&str> = FailureReason::ALL
        .iter()
        .map(FailureReason::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "timeout",
            "refused",
            "reset",
            "unreachable",
            "closed",
            "unexpected_reply",
            "bad_status",
            "exit_code",
            "killed",
            "file",
            "marked_down",
            "config",
            "tls",
            "io"
        ]
    );
}

// ----------------------------------------------------------------- tls

#[cfg(feature = "health-tls")]
mod tls {
    use super::*;
    use std::sync::Arc;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    fn material(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/health_tls")
            .join(name)
    }

    /// An HTTPS server for example.test and 127.0.0.1 answering `reply`.
    async fn https_server(reply: Vec<u8>) -> SocketAddr {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(material("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(material("server.key")).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1];
                    while !request.ends_with(b"\r\n\r\n") && request.len() < 16384 {
                        match stream.read(&mut byte).await {
                            Ok(1) => request.push(byte[0]),
                            _ => return,
                        }
                    }
                    let _ = stream.write_all(&reply).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_without_and_with_verification() {
        let addr = https_server(http_response("200 OK", "ready")).await;
        let unverified = Http::new().with_tls(false).with_body("ready");
        assert_eq!(run(&Probe::Http(unverified), addr).await.0, Outcome::Up);

        let verified = Http::new().with_tls(true).with_tls_ca(material("ca.pem"));
        let by_name = verified.clone().with_host("example.test");
        assert_eq!(run(&Probe::Http(by_name), addr).await.0, Outcome::Up);
        // Without a host, the address is the name (127.0.0.1 is in the
        // certificate).
        assert_eq!(
            run(&Probe::Http(verified.clone()), addr).await.0,
            Outcome::Up
        );

        let wrong_name = verified.with_host("other.test:443");
        let (outcome, _) = run(&Probe::Http(wrong_name), addr).await;
        assert_down(&outcome, FailureReason::Tls);
        // The system's roots do not know the test CA.
        // (A machine without system roots: down as a configuration problem.)
        let (outcome, _) = run(&Probe::Http(Http::new().with_tls(true)), addr).await;
        let reason = outcome.failure().map(|f| f.reason);
        assert!(
            matches!(reason, Some(FailureReason::Tls | FailureReason::Config)),
            "{outcome:?}"
        );

        let unavailable = https_server(http_response("503 Busy", "")).await;
        let (outcome, _) = run(&Probe::Http(Http::new().with_tls(false)), unavailable).await;
        assert_down(&outcome, FailureReason::BadStatus);
    }

    #[tokio::test]
    async fn https_to_a_plain_or_silent_server() {
        let plain = flood_server(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let probe = Probe::Http(Http::new().with_tls(false));
        let (outcome, _) = run(&probe, plain).await;
        assert_down(&outcome, FailureReason::Tls);
        let (outcome, took) = run(&probe, hanging_server().await).await;
        assert_timed_out(&outcome, took);
        assert!(
            outcome
                .failure()
                .unwrap()
                .detail
                .contains("no TLS handshake")
        );
    }

    fn verify_without_tls() -> Http {
        let mut http = Http::new();
        http.tls_verify = true;
        http
    }

    #[test]
    fn tls_validation() {
        let cases = [
            (
                Http::new()
                    .with_tls(true)
                    .with_tls_ca("/nonexistent/ca.pem"),
                "tls_ca",
                ProbeErrorKind::Certificate,
            ),
            (
                Http::new()
                    .with_tls(true)
                    .with_tls_ca(material("README.md")),
                "tls_ca",
                ProbeErrorKind::Certificate,
            ),
            (
                Http::new().with_tls(false).with_tls_ca(material("ca.pem")),
                "tls_ca",
                ProbeErrorKind::Conflict,
            ),
            (verify_without_tls(), "tls_verify", ProbeErrorKind::Conflict),
        ];
        for (http, field, kind) in cases {
            let err = Probe::Http(http).validate().unwrap_err();
            assert_eq!((err.field, err.kind), (field, kind), "{err}");
        }
    }
}

#[cfg(not(feature = "health-tls"))]
#[test]
fn tls_needs_the_feature() {
    let err = Probe::Http(Http::new().with_tls(false))
        .validate()
        .unwrap_err();
    assert_eq!(
        (err.field, err.kind),
        ("tls", ProbeErrorKind::Conflict),
        "{err}"
    );
}
