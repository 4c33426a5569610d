//! `ipvsctl run` in a kernel with IPVS, with real traffic: a client, a
//! director running `ipvsctl run --netns`, three real servers (busybox
//! httpd) on NAT links. A real server's httpd is killed under traffic and
//! restarted; a destination is deleted by hand; a broken file is sent with
//! SIGHUP; SIGTERM stops the run.
//!
//! Ignored on a normal run; in the guest (`scripts/test-kernel --suite
//! health_e2e`). Only documentation address ranges are used.
#![cfg(all(feature = "health", feature = "cli"))]

mod cluster_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster_common::*;
use ipvs::ServiceKey;
use ipvs::client::Client;
use ipvs::state::State;

const IPVSCTL: &str = env!("CARGO_BIN_EXE_ipvsctl");

/// The run's file: one NAT service over three real servers, checked by
/// TCP connect every second (down after 2 failures, up after 2 successes;
/// HTTP checks flap under the emulated guest's slowness, where busybox
/// httpd can take over a second to answer).
fn config(weights: [u32; 3]) -> String {
    let dests: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "      - {{address: 198.51.100.{}, port: 80, forward: masquerade, weight: {}}}",
                4 * (i + 1) + 2,
                weights[i]
            )
        })
        .collect();
    format!(
        "services:
  - protocol: tcp
    address: 203.0.113.10
    port: 80
    scheduler: rr
    health:
      check: {{type: tcp, interval: 1s, timeout: 1s, fall: 2, rise: 2, jitter: 0s}}
    destinations:
{}
",
        dests.join("\n")
    )
}

struct Run {
    child: Child,
    log: std::path::PathBuf,
}

impl Run {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

/// Poll `f` every 100 ms for at most `limit`; how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

#[test]
#[ignore = "needs root and a kernel with IPVS (scripts/test-kernel --suite health_e2e)"]
fn a_dead_real_server_is_taken_out_and_put_back() {
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
        format!("ip -n {l} addr add 203.0.113.10/32 dev cl0"),
        format!("ip -n {l} link set lo up"),
        format!(
            "{} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
            lb.enter()
        ),
    ];
    let mut addrs = Vec::new();
    for (i, r) in rs.iter().enumerate() {
        let (r, net) = (&r.name, 4 * (i + 1));
        script.push(format!(
            "ip -n {r} link add eth0 type veth peer name rs{i} netns {l}"
        ));
        script.push(format!(
            "ip -n {r} addr add 198.51.100.{}/30 dev eth0; ip -n {r} link set eth0 up; ip -n {r} link set lo up",
            net + 2
        ));
        script.push(format!(
            "ip -n {r} route add default via 198.51.100.{}",
            net + 1
        ));
        script.push(format!(
            "ip -n {l} addr add 198.51.100.{}/30 dev rs{i}; ip -n {l} link set rs{i} up",
            net + 1
        ));
        addrs.push(SocketAddr::from(([198, 51, 100, net as u8 + 2], 80)));
    }
    sh(&script.join("\n"));
    let mut httpd: Vec<Option<Daemon>> = Vec::new();
    let start_httpd = |i: usize| {
        let www = dir.path().join(format!("www{}", i + 1));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), format!("rs{}", i + 1)).unwrap();
        let d = rs[i].spawn(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            www.to_str().unwrap(),
        ]);
        rs[i].wait_listening(80);
        d
    };
    for i in 0..3 {
        httpd.push(Some(start_httpd(i)));
    }

    let file = dir.path().join("run.yaml");
    std::fs::write(&file, config([1, 1, 1])).unwrap();
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
    let key = ServiceKey::tcp("203.0.113.10:80".parse().unwrap());
    within(Duration::from_secs(20), || weights(&lb, &key).len() == 3);
    let vip = "http://203.0.113.10/index.html";
    let counts = curl_count(&cl, vip, 9);
    assert_eq!(counts.len(), 3, "every real server answers: {counts:?}");

    // rs2's httpd dies: out within fall × interval + timeout (3 s), with
    // slack for the emulated guest.
    httpd[1] = None;
    let took = within(Duration::from_secs(15), || {
        !weights(&lb, &key).contains_key(&addrs[1])
    });
    eprintln!("rs2 out of the table {took:?} after its httpd was killed");
    let counts = curl_count(&cl, vip, 9);
    assert_eq!(counts.get("rs2"), None, "{counts:?}");
    assert_eq!(
        counts.values().sum::<usize>(),
        9,
        "no request failed: {counts:?}"
    );

    // Back after rise (2) successes.
    httpd[1] = Some(start_httpd(1));
    let took = within(Duration::from_secs(15), || {
        weights(&lb, &key).get(&addrs[1]) == Some(&1)
    });
    eprintln!("rs2 back in the table {took:?} after its httpd restarted");
    assert!(curl_count(&cl, vip, 9).contains_key("rs2"));

    // Deleted by hand: put back within a period (2 s), with slack.
    within(Duration::from_secs(15), || weights(&lb, &key).len() == 3);
    lb.run("ipvsadm -d -t 203.0.113.10:80 -r 198.51.100.6:80");
    assert!(!weights(&lb, &key).contains_key(&addrs[0]));
    let took = within(Duration::from_secs(10), || {
        weights(&lb, &key).contains_key(&addrs[0])
    });
    eprintln!("rs1 deleted by hand, back after {took:?}");

    // A broken file on SIGHUP keeps the running configuration; a changed
    // weight applies only that change.
    std::fs::write(
        &file,
        config([1, 1, 1]).replace("interval: 1s", "interval: 0s"),
    )
    .unwrap();
    run.signal("HUP");
    within(Duration::from_secs(10), || {
        run.log().contains("reload-failed")
    });
    assert_eq!(weights(&lb, &key).len(), 3);
    std::fs::write(&file, config([1, 1, 5])).unwrap();
    run.signal("HUP");
    within(Duration::from_secs(10), || {
        weights(&lb, &key).get(&addrs[2]) == Some(&5)
    });

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
    eprintln!("{text}");
    assert!(status.success(), "{status}");
    assert_eq!(weights(&lb, &key).len(), 3, "on-stop leave");
    for word in [
        "dest-down",
        "dest-up",
        "drift-repaired",
        "reload-failed",
        "config-reloaded",
        "run: stopped",
    ] {
        assert!(text.contains(word), "the log has no {word}:\n{text}");
    }
    drop(httpd);
}
