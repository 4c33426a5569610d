//! `ipvsctl run` in a kernel with IPVS, with real traffic, in one cluster:
//! a client, a director running `ipvsctl run --netns`, three real servers
//! (busybox httpd on NAT links; the third also runs a sorry server, a
//! second httpd for the HTTP checks, and TCP, UDP and DNS responders
//! written here). One run of one file covers what issue 11 asks to see:
//!
//! - the same three real servers in three services (slow start; quiesce;
//!   quorum with a sorry server): one probe per interval, counted at the
//!   server (its kernel's TCP passive opens);
//! - a real server's httpd killed under traffic: out of the table (weight 0
//!   where quiesced) within fall × interval + timeout, no later request
//!   reaches it; restarted: back after `rise` successes, its weight seen
//!   ramping up in successive snapshots;
//! - a destination deleted by hand: back within one reconcile period;
//! - every real server down: the sorry server answers; one back: it leaves;
//! - SIGHUP with a broken file: the old configuration keeps running; with
//!   one weight changed: one operation, logged;
//! - exec, file, TCP send/expect, HTTP (body regex, status), UDP and DNS
//!   checks each seen going down (for the reason expected) and up;
//! - SIGTERM: the run stops, the table stays.
//!
//! Measured times are printed (`--nocapture`). Ignored on a normal run; in
//! the guest (`scripts/test-kernel --suite health_e2e`). Only documentation
//! address ranges are used.
#![cfg(all(feature = "health", feature = "cli"))]

mod cluster_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cluster_common::*;
use ipvs::ServiceKey;
use ipvs::client::{Client, Netns, within_netns};
use ipvs::state::State;

const IPVSCTL: &str = env!("CARGO_BIN_EXE_ipvsctl");

/// The real servers' addresses (each on its own /30 to the director).
const RS: [&str; 3] = ["198.51.100.6", "198.51.100.10", "198.51.100.14"];
/// The shared check: TCP connect every second, down after 2 failures
/// (within fall × interval + timeout = 3 s), up after 2 successes.
const SHARED_CHECK: &str = "{type: tcp, interval: 1s, timeout: 1s, fall: 2, rise: 2, jitter: 0s}";
/// Bound of the shared check's detection: fall × interval + timeout.
const DETECT: Duration = Duration::from_secs(3);
/// The run's reconcile period.
const PERIOD: Duration = Duration::from_secs(2);
/// Slack on every bound for the emulated guest (a probe, a round and the
/// test's own polling all run on two emulated CPUs).
const SLACK: Duration = Duration::from_secs(4);

/// The run's file. `s2_rs3_weight` is what SIGHUP changes.
fn config(dir: &Path, s2_rs3_weight: u32) -> String {
    let dests = |weights: [u32; 3]| -> String {
        (0..3)
            .map(|i| {
                format!(
                    "      - {{address: {}, port: 80, forward: masquerade, weight: {}}}\n",
                    RS[i], weights[i]
                )
            })
            .collect()
    };
    // Down at the first failure, up at the first success; a program
    // (exec) gets 2 s to start under emulation.
    let fast = "interval: 1s, timeout: 1s, fall: 1, rise: 1, jitter: 0s";
    let slow = "interval: 2s, timeout: 2s, fall: 1, rise: 1, jitter: 0s";
    let one = |proto: &str, vip: &str, port: u16, dest: &str, dport: u16, check: &str| {
        let kind_check = if check.contains("exec") { slow } else { fast };
        format!(
            "  - protocol: {proto}
    address: {vip}
    port: {port}
    scheduler: rr
    health:
      check: {{{check}, {kind_check}}}
    destinations:
      - {{address: {dest}, port: {dport}, forward: masquerade, weight: 1}}
"
        )
    };
    let d = dir.display();
    let mut text = format!(
        "services:
  # The same three real servers in three services, one shared probe each.
  - protocol: tcp
    address: 203.0.113.10
    port: 80
    scheduler: wrr
    health:
      check: {SHARED_CHECK}
      slow_start: {{divisor: 8}}
    destinations:
{}  - protocol: tcp
    address: 203.0.113.11
    port: 80
    scheduler: rr
    health:
      check: {SHARED_CHECK}
      on_failure: quiesce
    destinations:
{}  - protocol: tcp
    address: 203.0.113.12
    port: 80
    scheduler: rr
    health:
      check: {SHARED_CHECK}
      quorum: {{weight: 1}}
      sorry_server: {{address: {}, port: 8080, forward: masquerade, weight: 1}}
    destinations:
{}  # One service per kind of check.
",
        dests([8, 8, 8]),
        dests([1, 1, s2_rs3_weight]),
        RS[2],
        dests([1, 1, 1]),
    );
    text += &one(
        "tcp",
        "203.0.113.20",
        80,
        RS[0],
        80,
        &format!("type: exec, program: /bin/sh, args: ['-c', 'read c < {d}/exec-code; exit $c']"),
    );
    text += &one(
        "tcp",
        "203.0.113.21",
        80,
        RS[0],
        80,
        &format!("type: file, path: {d}/file-state"),
    );
    text += &one(
        "tcp",
        "203.0.113.22",
        80,
        RS[2],
        7000,
        "type: tcp_send_expect, send: \"PING\\n\", expect: PONG",
    );
    text += &one(
        "tcp",
        "203.0.113.23",
        80,
        RS[2],
        8081,
        "type: http, path: /health.html, body: 'status: (ok|healthy)'",
    );
    text += &one(
        "tcp",
        "203.0.113.24",
        80,
        RS[2],
        8081,
        "type: http, path: /status.html, status: [200]",
    );
    text += &one(
        "udp",
        "203.0.113.25",
        7001,
        RS[2],
        7001,
        "type: udp, send: ping, expect: pong",
    );
    text += &one(
        "udp",
        "203.0.113.26",
        53,
        RS[2],
        5353,
        "type: dns, name: www.example.test",
    );
    text
}

/// `ipvsctl run`, its stderr in a file.
struct Run {
    child: Child,
    log: std::path::PathBuf,
}

impl Run {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Where the log ends now (for [`Run::logged_since`]).
    fn mark(&self) -> usize {
        self.log().len()
    }
    /// Whether a line after `mark` has every one of `words`.
    fn logged_since(&self, mark: usize, words: &[&str]) -> bool {
        let log = self.log();
        log.get(mark..)
            .unwrap_or("")
            .lines()
            .any(|l| words.iter().all(|w| l.contains(w)))
    }
    fn signal(&self, sig: &str) {
        sh(&format!("kill -{sig} {}", self.child.id()));
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "ipvsctl run (exit: {:?}) logged:\n{}",
                self.child.try_wait(),
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TCP send/expect, UDP and DNS responders of a real server: threads
/// of this process on sockets made in its namespace. Healthy, they answer
/// `PONG`, `pong` and DNS RCODE 0; sick, `FAIL`, nothing and SERVFAIL.
struct Responders {
    healthy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Responders {
    fn start(ns: &Ns) -> Responders {
        let netns = Netns::named(&ns.name).unwrap();
        let (tcp, udp, dns) = within_netns(&netns, || {
            Ok((
                TcpListener::bind("0.0.0.0:7000")?,
                UdpSocket::bind("0.0.0.0:7001")?,
                UdpSocket::bind("0.0.0.0:5353")?,
            ))
        })
        .unwrap();
        let healthy = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        tcp.set_nonblocking(true).unwrap();
        let (h, s) = (healthy.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                        let _ = c.read(&mut [0u8; 64]);
                        let reply: &[u8] = if h.load(Ordering::Relaxed) {
                            b"PONG\n"
                        } else {
                            b"FAIL\n"
                        };
                        let _ = c.write_all(reply);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }));
        for (sock, dns) in [(udp, false), (dns, true)] {
            let (h, s) = (healthy.clone(), stop.clone());
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !s.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let up = h.load(Ordering::Relaxed);
                    if dns && n >= 12 {
                        // The query back as the answer: QR set, no
                        // records, RCODE 0 (NOERROR) or 2 (SERVFAIL).
                        let mut answer = buf[..n].to_vec();
                        answer[2] |= 0x80;
                        answer[3] = (answer[3] & 0xf0) | if up { 0 } else { 2 };
                        let _ = sock.send_to(&answer, from);
                    } else if !dns && up {
                        let _ = sock.send_to(b"pong", from);
                    }
                }
            }));
        }
        Responders {
            healthy,
            stop,
            threads,
        }
    }

    fn set_healthy(&self, up: bool) {
        self.healthy.store(up, Ordering::Relaxed);
    }
}

impl Drop for Responders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn table(lb: &Ns) -> State {
    State::read(&Client::in_netns(&lb.name).unwrap()).unwrap()
}

fn weights(lb: &Ns, key: &ServiceKey) -> BTreeMap<SocketAddr, u32> {
    table(lb)
        .service(key)
        .map(|s| {
            s.destinations
                .iter()
                .map(|d| (d.socket_addr(), d.weight))
                .collect()
        })
        .unwrap_or_default()
}

/// Every destination's weight, by service and address.
fn all_weights(lb: &Ns) -> BTreeMap<(String, SocketAddr), u32> {
    table(lb)
        .services
        .iter()
        .flat_map(|s| {
            let k = s.service.key.to_string();
            s.destinations
                .iter()
                .map(move |d| ((k.clone(), d.socket_addr()), d.weight))
        })
        .collect()
}

/// Poll `f` every 100 ms for at most `limit`; how long it took.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

/// Write `text` into `path` at once (a new file renamed over the old).
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// GET /index.html from `addr`: the body, or "" if the request failed.
fn http_get(addr: SocketAddr) -> String {
    let get = || -> std::io::Result<String> {
        // Generous: busybox httpd can take over a second to answer under
        // emulation, and a request that times out is counted as failed.
        let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
        let mut reply = String::new();
        c.read_to_string(&mut reply)?;
        Ok(reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim().to_owned())
            .unwrap_or_default())
    };
    get().unwrap_or_default()
}

/// How many of `n` requests from `ns` to `vip` each body answered ("" for
/// the failed ones).
fn answers(ns: &Ns, vip: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    within_netns(&Netns::named(&ns.name).unwrap(), || {
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(http_get(vip)).or_insert(0) += 1;
        }
        Ok(counts)
    })
    .unwrap()
}

/// TCP connections the namespace's kernel accepted (`PassiveOpens` of
/// /proc/net/snmp).
fn passive_opens(ns: &Ns) -> u64 {
    let snmp = ns.run("cat /proc/net/snmp");
    let tcp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let names: Vec<&str> = tcp[0].split_whitespace().collect();
    let values: Vec<&str> = tcp[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "PassiveOpens").unwrap();
    values[i].parse().unwrap()
}

fn key(text: &str) -> ServiceKey {
    if let Some(udp) = text.strip_prefix("udp:") {
        ServiceKey::udp(udp.parse().unwrap())
    } else {
        ServiceKey::tcp(text.parse().unwrap())
    }
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[test]
#[ignore = "needs root and a kernel with IPVS (scripts/test-kernel --suite health_e2e)"]
fn ipvsctl_run_checks_and_drives_the_table() {
    let started = Instant::now();
    let tag = tag("hl");
    let dir = TempDir::new(&tag);
    let cl = Ns::new(&format!("{tag}-cl"));
    let lb = Ns::new(&format!("{tag}-lb"));
    let rs: Vec<Ns> = (1..=3).map(|i| Ns::new(&format!("{tag}-rs{i}"))).collect();
    let (c, l) = (&cl.name, &lb.name);
    let mut script = vec![
        "set -e".to_owned(),
        format!("ip -n {c} link add eth0 type veth peer name cl0 netns {l}"),
        format!("ip -n {c} addr add 203.0.113.2/24 dev eth0; ip -n {c} link set eth0 up"),
        format!("ip -n {l} addr add 203.0.113.1/24 dev cl0; ip -n {l} link set cl0 up"),
        format!(
            "for v in 10 11 12; do ip -n {l} addr add 203.0.113.$v/32 dev cl0; done; ip -n {l} link set lo up"
        ),
        format!(
            "{} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
            lb.enter()
        ),
    ];
    for (i, r) in rs.iter().enumerate() {
        let (r, net) = (&r.name, 4 * (i + 1));
        script.extend(link_real_server(l, r, i, net));
    }
    sh(&script.join("\n"));
    let httpd = |ns: &Ns, port: u16, name: &str, files: &[(&str, &str)]| -> Daemon {
        let www = dir.path().join(name);
        std::fs::create_dir_all(&www).unwrap();
        for (f, text) in files {
            std::fs::write(www.join(f), text).unwrap();
        }
        let d = ns.spawn(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            &port.to_string(),
            "-h",
            www.to_str().unwrap(),
        ]);
        ns.wait_listening(port);
        d
    };
    let start_httpd = |i: usize| {
        httpd(
            &rs[i],
            80,
            &format!("www{}", i + 1),
            &[("index.html", &format!("rs{}", i + 1))],
        )
    };
    let mut web: Vec<Option<Daemon>> = (0..3).map(|i| Some(start_httpd(i))).collect();
    let _sorry = httpd(&rs[2], 8080, "sorry", &[("index.html", "sorry")]);
    let health_dir = dir.path().join("health");
    let _health = httpd(
        &rs[2],
        8081,
        "health",
        &[
            ("health.html", "status: healthy"),
            ("status.html", "status: ok"),
        ],
    );
    let responders = Responders::start(&rs[2]);
    let (exec_code, file_state) = (dir.path().join("exec-code"), dir.path().join("file-state"));
    put(&exec_code, "0");
    put(&file_state, "up");

    let file = dir.path().join("run.yaml");
    std::fs::write(&file, config(dir.path(), 1)).unwrap();
    let log = dir.path().join("run.log");
    let child = Command::new(IPVSCTL)
        .args([
            "--netns",
            l,
            "run",
            file.to_str().unwrap(),
            "--period",
            "2s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut run = Run { child, log };
    let (s1, s2, s3) = (
        key("203.0.113.10:80"),
        key("203.0.113.11:80"),
        key("203.0.113.12:80"),
    );
    let rs_addr: Vec<SocketAddr> = RS.iter().map(|a| sock(a, 80)).collect();
    within(Duration::from_secs(30), "the table made", || {
        let t = table(&lb);
        t.services.len() == 10 && t.dest_count() == 3 * 3 + 7
    });
    eprintln!("setup and table: {:?}", started.elapsed());
    let (vip1, vip2, vip3) = (
        sock("203.0.113.10", 80),
        sock("203.0.113.11", 80),
        sock("203.0.113.12", 80),
    );
    let counts = answers(&cl, vip1, 6);
    assert_eq!(counts.len(), 3, "every real server answers: {counts:?}");

    // One probe per interval at rs1, though three services check it: its
    // kernel's accepted connections over a quiet window (no client).
    let window = Duration::from_secs(6);
    let (n0, t0) = (passive_opens(&rs[0]), Instant::now());
    std::thread::sleep(window);
    let (n1, took) = (passive_opens(&rs[0]), t0.elapsed());
    let probes = n1 - n0;
    eprintln!(
        "rs1 (in 3 services) accepted {probes} connections in {:.1} s: {:.2} probes per 1 s interval",
        took.as_secs_f64(),
        probes as f64 / took.as_secs_f64()
    );
    let secs = took.as_secs();
    assert!(
        probes * 2 >= secs && probes <= secs + 2,
        "one probe a second expected, not one per service: {probes} in {took:?}"
    );

    // rs2's httpd dies while the client sends requests.
    let mark = run.mark();
    let stop = AtomicBool::new(false);
    let (removed, requests) = std::thread::scope(|scope| {
        let traffic = scope.spawn(|| {
            // One request after another from the client's namespace, each
            // on a new connection.
            within_netns(&Netns::named(&cl.name).unwrap(), || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    seen.push((t, http_get(vip1)));
                }
                Ok(seen)
            })
            .unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        let killed = Instant::now();
        web[1] = None;
        let out = within(DETECT + SLACK, "rs2 out of service 1", || {
            !weights(&lb, &s1).contains_key(&rs_addr[1])
        });
        let removed = Instant::now();
        let quiesced = within(DETECT + SLACK, "rs2 at weight 0 in service 2", || {
            weights(&lb, &s2).get(&rs_addr[1]) == Some(&0)
        }) + out;
        eprintln!(
            "rs2 killed: out of service 1 after {out:?}, weight 0 in service 2 after {quiesced:?} (fall × interval + timeout = {DETECT:?})"
        );
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        let seen = traffic.join().unwrap();
        ((killed, removed), seen)
    });
    let (killed, removed) = removed;
    let before: Vec<&String> = requests
        .iter()
        .filter(|(t, _)| *t >= killed && *t < removed)
        .map(|(_, b)| b)
        .collect();
    let after: Vec<&String> = requests
        .iter()
        .filter(|(t, _)| *t >= removed)
        .map(|(_, b)| b)
        .collect();
    eprintln!(
        "requests between kill and removal: {} ({} failed); after removal: {:?}",
        before.len(),
        before.iter().filter(|b| b.is_empty()).count(),
        after
    );
    assert!(!after.is_empty(), "requests were sent after the removal");
    assert!(
        after
            .iter()
            .all(|b| b.as_str() == "rs1" || b.as_str() == "rs3"),
        "a request after the removal reached rs2 or failed: {after:?}"
    );
    assert!(run.logged_since(mark, &["dest-down", "203.0.113.10:80", RS[1], "refused"]));
    let counts = answers(&cl, vip2, 6);
    assert_eq!(counts.get("rs2"), None, "quiesced: {counts:?}");
    assert_eq!(counts.get(""), None, "no request failed: {counts:?}");

    // Restarted: back after rise (2) successes, ramping up in service 1
    // (8/8, 8/4, 8/2, 8), at once in service 2.
    let restarted = Instant::now();
    web[1] = Some(start_httpd(1));
    let mut ramp: Vec<(Duration, u32)> = Vec::new();
    within(
        Duration::from_secs(2) * 2 + Duration::from_secs(4) + SLACK * 2,
        "rs2 back at its full weight in service 1",
        || {
            let w = weights(&lb, &s1).get(&rs_addr[1]).copied();
            if let Some(w) = w {
                if ramp.last().map(|r| r.1) != Some(w) {
                    ramp.push((restarted.elapsed(), w));
                }
            }
            w == Some(8)
        },
    );
    eprintln!("rs2 restarted: back in service 1 with its weight ramping up: {ramp:?}");
    let steps: Vec<u32> = ramp.iter().map(|r| r.1).collect();
    assert!(steps[0] < 8 && steps.len() >= 3, "a ramp: {steps:?}");
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "rising: {steps:?}");
    assert!(
        ramp[0].0 >= Duration::from_secs(1),
        "up only after rise (2) successes: {ramp:?}"
    );
    within(Duration::from_secs(5), "rs2 back in service 2", || {
        weights(&lb, &s2).get(&rs_addr[1]) == Some(&1)
    });
    assert!(answers(&cl, vip1, 9).contains_key("rs2"));

    // Deleted by hand: put back within a reconcile period.
    let mark = run.mark();
    lb.run("ipvsadm -d -t 203.0.113.10:80 -r 198.51.100.6:80");
    assert!(!weights(&lb, &s1).contains_key(&rs_addr[0]));
    let took = within(PERIOD + SLACK, "rs1 deleted by hand put back", || {
        weights(&lb, &s1).get(&rs_addr[0]) == Some(&8)
    });
    eprintln!("rs1 deleted by hand: back after {took:?} (reconcile period {PERIOD:?})");
    within(Duration::from_secs(5), "drift-repaired logged", || {
        run.logged_since(mark, &["drift-repaired", "203.0.113.10:80", RS[0]])
    });

    // Every real server down: the sorry server takes service 3; one back:
    // it leaves.
    let mark = run.mark();
    for w in web.iter_mut() {
        *w = None;
    }
    let sorry = sock(RS[2], 8080);
    let took = within(DETECT + SLACK, "the sorry server in", || {
        weights(&lb, &s3) == BTreeMap::from([(sorry, 1)])
    });
    eprintln!("every real server killed: the sorry server alone in service 3 after {took:?}");
    assert_eq!(answers(&cl, vip3, 3), BTreeMap::from([("sorry".into(), 3)]));
    assert!(run.logged_since(mark, &["quorum-lost", "203.0.113.12:80"]));
    assert!(run.logged_since(mark, &["sorry-server-in", "203.0.113.12:80"]));
    assert!(weights(&lb, &s1).is_empty());
    assert!(weights(&lb, &s2).values().all(|w| *w == 0));
    web[0] = Some(start_httpd(0));
    let took = within(
        Duration::from_secs(2) + SLACK * 2,
        "the sorry server out",
        || weights(&lb, &s3) == BTreeMap::from([(rs_addr[0], 1)]),
    );
    eprintln!("rs1 restarted: the sorry server out of service 3 after {took:?}");
    assert_eq!(answers(&cl, vip3, 3), BTreeMap::from([("rs1".into(), 3)]));
    assert!(run.logged_since(mark, &["quorum-regained", "203.0.113.12:80"]));
    assert!(run.logged_since(mark, &["sorry-server-out", "203.0.113.12:80"]));
    web[1] = Some(start_httpd(1));
    web[2] = Some(start_httpd(2));
    within(Duration::from_secs(20), "every real server back", || {
        weights(&lb, &s1).values().filter(|w| **w == 8).count() == 3
            && weights(&lb, &s2).values().filter(|w| **w == 1).count() == 3
    });

    // SIGHUP with a broken file: the running configuration stays. With a
    // changed weight: only that destination changes, in one operation.
    let mark = run.mark();
    let before = all_weights(&lb);
    std::fs::write(
        &file,
        config(dir.path(), 1).replacen("interval: 1s", "interval: 0s", 1),
    )
    .unwrap();
    run.signal("HUP");
    within(Duration::from_secs(10), "reload-failed logged", || {
        run.logged_since(mark, &["reload-failed", "interval"])
    });
    assert_eq!(all_weights(&lb), before, "a broken file changes nothing");
    let mark = run.mark();
    std::fs::write(&file, config(dir.path(), 5)).unwrap();
    run.signal("HUP");
    within(Duration::from_secs(10), "the reload logged", || {
        run.logged_since(mark, &["run: reloaded:"])
    });
    let text = run.log();
    let line = text[mark..]
        .lines()
        .find(|l| l.contains("run: reloaded:"))
        .unwrap();
    eprintln!("SIGHUP with one weight changed: {line}");
    assert!(
        line.contains("0 probes started, 0 stopped")
            && line.contains("; 1 operation: -e -t 203.0.113.11:80 -r 198.51.100.14:80")
            && line.contains("-w 5"),
        "{line}"
    );
    let mut expected = before.clone();
    expected.insert((s2.to_string(), rs_addr[2]), 5);
    assert_eq!(all_weights(&lb), expected, "only that weight changed");

    // Every kind of check goes down for its reason, then up.
    let kinds: [(&str, SocketAddr, &str, u32); 7] = [
        ("203.0.113.20:80", sock(RS[0], 80), "exit_code", 5),
        ("203.0.113.21:80", sock(RS[0], 80), "marked_down", 3),
        ("203.0.113.22:80", sock(RS[2], 7000), "unexpected_reply", 1),
        ("203.0.113.23:80", sock(RS[2], 8081), "unexpected_reply", 1),
        ("203.0.113.24:80", sock(RS[2], 8081), "bad_status", 1),
        ("udp:203.0.113.25:7001", sock(RS[2], 7001), "timeout", 1),
        ("udp:203.0.113.26:53", sock(RS[2], 5353), "bad_status", 1),
    ];
    let mark = run.mark();
    let t = Instant::now();
    put(&exec_code, "1");
    put(&file_state, "down");
    responders.set_healthy(false);
    put(&health_dir.join("health.html"), "status: sick");
    std::fs::remove_file(health_dir.join("status.html")).unwrap();
    let mut down_at = Vec::new();
    for (svc, dest, reason, _) in kinds {
        let k = key(svc);
        let service = k.to_string();
        within(Duration::from_secs(4) + SLACK, svc, || {
            !weights(&lb, &k).contains_key(&dest)
                && run.logged_since(
                    mark,
                    &[
                        "dest-down",
                        &service,
                        &dest.to_string(),
                        &format!("reason=\"{reason}"),
                    ],
                )
        });
        down_at.push((svc, reason, t.elapsed()));
    }
    eprintln!("checks made to fail, out of the table by: {down_at:?}");
    let t = Instant::now();
    put(&exec_code, "7");
    put(&file_state, "3");
    responders.set_healthy(true);
    put(&health_dir.join("health.html"), "status: healthy");
    put(&health_dir.join("status.html"), "status: ok");
    let mut up_at = Vec::new();
    for (svc, dest, _, weight) in kinds {
        let k = key(svc);
        within(Duration::from_secs(4) + SLACK, svc, || {
            weights(&lb, &k).get(&dest) == Some(&weight)
        });
        up_at.push((svc, weight, t.elapsed()));
    }
    eprintln!("checks made to pass, back (at weight) by: {up_at:?}");

    // SIGTERM: the run stops (leaving the table), exit 0.
    run.signal("TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = run.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = run.log();
    assert!(status.success(), "{status}\n{text}");
    assert_eq!(table(&lb).services.len(), 10, "on-stop leave");
    for word in [
        "dest-down",
        "dest-up",
        "dest-weight",
        "drift-repaired",
        "reload-failed",
        "config-reloaded",
        "run: stopped",
    ] {
        assert!(text.contains(word), "the log has no {word}:\n{text}");
    }
    eprintln!("the whole scenario: {:?}", started.elapsed());
    drop(responders);
    drop(web);
}
