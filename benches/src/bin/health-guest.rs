//! Health checking at scale in a kernel with IPVS (the guest), side by side
//! with Debian's keepalived in the same boot: TARGETS real servers
//! (addresses of 198.18.0.0/15 on a dummy link of one namespace, four
//! ports each, a listener per address and port), in services of ten, all
//! checked by TCP connect every second by a whole process in the director's
//! namespace:
//!
//! - ours: `ipvsctl run FILE` (interval 1 s, timeout 1 s, fall 3);
//! - keepalived: `keepalived --check` (TCP_CHECK, delay_loop 1,
//!   connect_timeout 1, retry 2, delay_before_retry 1: down after the third
//!   failure in a row, as fall 3).
//!
//! For each: the time until the kernel's table holds every destination,
//! the checking process's CPU while every server is up, then KILLS real
//! servers killed one at a time (their listener closed: connections
//! refused) and, for each, the time from its death to its destination's
//! removal from the kernel's table (polled every 50 ms), as median, p99 and
//! max. Markdown on stdout.
//!
//! ```text
//! scripts/bench-health [TARGETS] [SECONDS] [KILLS] [PERIOD]   # default 10000 30 40 30s
//! ```
//! Runs as root in the guest (it makes namespaces); `ipvsctl` is looked for
//! next to this binary (or `$IPVSCTL`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipvs::ServiceKey;
use ipvs::client::Client;

const PORTS: [u16; 4] = [80, 443, 8080, 8443];
const PER_SERVICE: usize = 10;
const LB: &str = "hb-lb";
const RS: &str = "hb-rs";
const FALL: u32 = 3;

fn sh(cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Target `i`: its address and port.
fn target(i: usize) -> SocketAddr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    let addr = Ipv4Addr::from(base + (i / PORTS.len()) as u32);
    SocketAddr::new(addr.into(), PORTS[i % PORTS.len()])
}

/// The service of target `i`.
fn service(i: usize) -> ServiceKey {
    ServiceKey::tcp(SocketAddr::new(
        Ipv4Addr::new(203, 0, 113, 10).into(),
        1000 + (i / PER_SERVICE) as u16,
    ))
}

/// The server side: a listener per target, accepting and closing; on stdin
/// `kill I` closes target I's listener and `revive I` opens it again, each
/// acknowledged by a line on stdout.
fn serve(targets: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listen = |i: usize| {
            let l = std::net::TcpListener::bind(target(i))
                .unwrap_or_else(|e| panic!("bind {}: {e}", target(i)));
            l.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            tokio::spawn(async move {
                while let Ok((c, _)) = l.accept().await {
                    drop(c);
                }
            })
        };
        let mut tasks: HashMap<usize, tokio::task::JoinHandle<()>> =
            (0..targets).map(|i| (i, listen(i))).collect();
        println!("ready");
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let mut w = line.split_whitespace();
            let (cmd, i) = (w.next(), w.next().and_then(|i| i.parse::<usize>().ok()));
            match (cmd, i) {
                (Some("kill"), Some(i)) => {
                    if let Some(t) = tasks.remove(&i) {
                        t.abort();
                        // Done once the task is dropped, its listener closed.
                        let _ = t.await;
                    }
                }
                (Some("revive"), Some(i)) => {
                    tasks.entry(i).or_insert_with(|| listen(i));
                }
                _ => {}
            }
            println!("ok {line}");
        }
    });
}

struct Servers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Servers {
    fn start(targets: usize) -> Servers {
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{RS}"))
            .arg(std::env::current_exe().unwrap())
            .args(["serve", &targets.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the servers did not start");
        Servers {
            child,
            stdin,
            stdout,
        }
    }

    /// Send a command; return once it is done.
    fn command(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("ok {cmd}"));
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU of every process in process group `pgid`.
fn cpu_of_group(pgid: u32) -> Duration {
    let (user, system) = cpu_split(pgid);
    user + system
}

/// User and system CPU, apart, of every process in process group `pgid`.
fn cpu_split(pgid: u32) -> (Duration, Duration) {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let (mut user, mut system) = (0u64, 0u64);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, ppid, pgrp, ...
        let Some(rest) = stat.rsplit_once(')').map(|r| r.1) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 12 && f[2] == pgid.to_string() {
            user += f[11].parse::<u64>().unwrap_or(0);
            system += f[12].parse::<u64>().unwrap_or(0);
        }
    }
    let d = |ticks: u64| Duration::from_millis(ticks * 1000 / hz);
    (d(user), d(system))
}

/// `2026-12-02T11:27:02.078Z` (the timestamps of `ipvsctl run`'s log).
fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss, ms) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    // Days from 1970-01-01 to the civil date (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis = ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000 + ms) as u64;
    Some(UNIX_EPOCH + Duration::from_millis(millis))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One checker's figures.
#[derive(Default)]
struct Figures {
    start: Duration,
    steady_cpu: f64,
    steady_user: f64,
    steady_secs: f64,
    targets: usize,
    false_downs: usize,
    detected: Vec<Duration>,
    /// Ours: death → the dest-down line of its log.
    decided: Vec<Duration>,
    kills: usize,
    storm_cpu: f64,
}

/// What runs the checks.
enum Checker {
    Ours { period: String },
    Keepalived,
}

fn yaml(targets: usize) -> String {
    let mut s = String::from("services:\n");
    for first in (0..targets).step_by(PER_SERVICE) {
        let key = service(first);
        let ServiceKey::Address { address, port, .. } = key else {
            unreachable!()
        };
        s += &format!(
            "  - protocol: tcp\n    address: {address}\n    port: {port}\n    scheduler: wrr\n    health:\n      check: {{type: tcp, interval: 1s, timeout: 1s, fall: {FALL}, rise: 2}}\n    destinations:\n"
        );
        for i in first..(first + PER_SERVICE).min(targets) {
            let t = target(i);
            s += &format!(
                "      - {{address: {}, port: {}, forward: masquerade, weight: 1}}\n",
                t.ip(),
                t.port()
            );
        }
    }
    s
}

fn keepalived_conf(targets: usize) -> String {
    let mut s = String::from("global_defs {\n    router_id health_bench\n}\n");
    for first in (0..targets).step_by(PER_SERVICE) {
        let ServiceKey::Address { address, port, .. } = service(first) else {
            unreachable!()
        };
        s += &format!(
            "virtual_server {address} {port} {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n"
        );
        for i in first..(first + PER_SERVICE).min(targets) {
            let t = target(i);
            s += &format!(
                "    real_server {} {} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n            retry {}\n            delay_before_retry 1\n        }}\n    }}\n",
                t.ip(),
                t.port(),
                FALL - 1
            );
        }
        s += "}\n";
    }
    s
}

/// Destinations in the table for the services of `targets` targets,
/// counted from the first and last services (the cheap check) or all.
fn table_complete(client: &Client, targets: usize) -> bool {
    let last = targets - 1;
    [0, last / 2, last].iter().all(|&i| {
        let want = (i / PER_SERVICE * PER_SERVICE..(i / PER_SERVICE + 1) * PER_SERVICE)
            .filter(|&j| j < targets)
            .count();
        client
            .destinations(&service(i))
            .is_ok_and(|d| d.len() == want)
    })
}

fn run_one(
    checker: &Checker,
    servers: &mut Servers,
    targets: usize,
    seconds: u64,
    kills: usize,
    dir: &Path,
) -> Figures {
    let mut f = Figures {
        kills,
        targets,
        ..Figures::default()
    };
    let client = Client::in_netns(LB).unwrap();
    sh(&format!("ip netns exec {LB} ipvsadm -C"));
    let log = dir.join(match checker {
        Checker::Ours { .. } => "ipvsctl.log",
        Checker::Keepalived => "keepalived.log",
    });
    let logfile = std::fs::File::create(&log).unwrap();
    let t0 = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt;
        let mut cmd = match checker {
            Checker::Ours { period } => {
                let file = dir.join("run.yaml");
                std::fs::write(&file, yaml(targets)).unwrap();
                let exe = std::env::var_os("IPVSCTL")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("ipvsctl"));
                let mut c = Command::new(exe);
                c.args(["--netns", LB, "run"])
                    .arg(&file)
                    .args(["--period", period]);
                c
            }
            Checker::Keepalived => {
                let file = dir.join("keepalived.conf");
                std::fs::write(&file, keepalived_conf(targets)).unwrap();
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{LB}"))
                    .arg("keepalived")
                    .args(["--check", "--dont-fork", "--log-console"])
                    .arg("--use-file")
                    .arg(&file)
                    .arg(format!("--pid={}", dir.join("k.pid").display()))
                    .arg(format!("--checkers_pid={}", dir.join("c.pid").display()))
                    .arg(format!("--vrrp_pid={}", dir.join("v.pid").display()));
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .process_group(0)
            .spawn()
            .expect("start the checker")
    };
    let pgid = child.id();
    let limit = Duration::from_secs(600);
    while !table_complete(&client, targets) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the checker exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(t0.elapsed() < limit, "the table was not made in {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    f.start = t0.elapsed();
    eprintln!("health-guest: table complete after {:?}", f.start);
    // Past the start-up jitter, and every check once.
    std::thread::sleep(Duration::from_secs(5));
    let downs = |log: &Path| -> usize {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("dest-down") || l.contains("Removing service"))
            .count()
    };
    let downs0 = downs(&log);
    let ((u0, s0), w0) = (cpu_split(pgid), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let ((u1, s1), w1) = (cpu_split(pgid), w0.elapsed());
    f.steady_cpu = 100.0 * ((u1 + s1) - (u0 + s0)).as_secs_f64() / w1.as_secs_f64();
    f.steady_user = 100.0 * (u1 - u0).as_secs_f64() / w1.as_secs_f64();
    f.steady_secs = w1.as_secs_f64();
    f.false_downs = downs(&log) - downs0;
    eprintln!(
        "health-guest: {:.1}% CPU over {:.0} s, {} downs",
        f.steady_cpu, f.steady_secs, f.false_downs
    );

    // Kill servers one at a time; a poller notes when each leaves the table.
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let poller = std::thread::spawn(move || {
        let client = Client::in_netns(LB).unwrap();
        let mut pending: Vec<(usize, Instant)> = Vec::new();
        let mut found = Vec::new();
        let mut last_kill = Instant::now();
        let mut closed = false;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(k) => {
                        last_kill = k.1;
                        pending.push(k);
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            pending.retain(|(i, at)| {
                let gone = client
                    .destinations(&service(*i))
                    .is_ok_and(|d| d.iter().all(|d| d.socket_addr() != target(*i)));
                if gone {
                    found.push(at.elapsed());
                }
                !gone
            });
            if closed && (pending.is_empty() || last_kill.elapsed() > Duration::from_secs(30)) {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (c2, w2) = (cpu_of_group(pgid), Instant::now());
    let mut killed = Vec::new();
    let mut killed_at: HashMap<SocketAddr, SystemTime> = HashMap::new();
    for k in 0..kills {
        let i = (k * targets / kills + 7 * k) % targets;
        servers.command(&format!("kill {i}"));
        tx.send((i, Instant::now())).unwrap();
        killed_at.insert(target(i), SystemTime::now());
        killed.push(i);
        // 100..=700 ms apart, so that deaths fall anywhere in the interval.
        std::thread::sleep(Duration::from_millis(100 + (k as u64 * 379) % 600));
    }
    drop(tx);
    let mut found = poller.join().unwrap();
    f.storm_cpu = 100.0 * (cpu_of_group(pgid) - c2).as_secs_f64() / w2.elapsed().as_secs_f64();
    found.sort();
    f.detected = found;
    // Stop, and put the servers back.
    // SAFETY: kill(2) of the process group this run started.
    unsafe { libc::kill(-(pgid as i32), libc::SIGTERM) };
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            // SAFETY: as above.
            unsafe { libc::kill(-(pgid as i32), libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.wait();
    // When the checker decided, from its log's timestamps (ours only).
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for line in text.lines().filter(|l| l.contains(" dest-down ")) {
        let at = line.split_whitespace().next().and_then(parse_timestamp);
        let dest = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("dest="))
            .and_then(|d| d.parse::<SocketAddr>().ok());
        if let (Some(at), Some(k)) = (at, dest.and_then(|d| killed_at.remove(&d))) {
            f.decided.push(at.duration_since(k).unwrap_or_default());
        }
    }
    f.decided.sort();
    if let Ok(keep) = std::env::var("HEALTH_GUEST_LOGS") {
        let _ = std::fs::create_dir_all(&keep);
        let name = format!("{targets}-{}", log.file_name().unwrap().to_string_lossy());
        let _ = std::fs::copy(&log, Path::new(&keep).join(name));
    }

    for i in killed {
        servers.command(&format!("revive {i}"));
    }
    sh(&format!("ip netns exec {LB} ipvsadm -C"));
    f
}

fn setup(targets: usize) {
    let addrs = targets.div_ceil(PORTS.len());
    for ns in [LB, RS] {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
    sh(&format!(
        "set -e
ip netns add {LB}; ip netns add {RS}
ip -n {LB} link set lo up; ip -n {RS} link set lo up
ip -n {LB} link add lb0 type veth peer name rs0 netns {RS}
ip -n {LB} addr add 192.0.2.1/24 dev lb0; ip -n {LB} link set lb0 up
ip -n {RS} addr add 192.0.2.2/24 dev rs0; ip -n {RS} link set rs0 up
ip -n {LB} route add 198.18.0.0/15 via 192.0.2.2
ip -n {RS} link add dummy0 type dummy; ip -n {RS} link set dummy0 up"
    ));
    let batch: String = (0..addrs)
        .map(|a| format!("addr add {}/32 dev dummy0\n", target(a * PORTS.len()).ip()))
        .collect();
    let file = std::env::temp_dir().join("health-guest-addrs");
    std::fs::write(&file, batch).unwrap();
    sh(&format!("ip -n {RS} -batch {}", file.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args[2].parse().unwrap());
        return;
    }
    let targets: usize = args.get(1).map_or(10_000, |a| a.parse().unwrap());
    let seconds: u64 = args.get(2).map_or(30, |a| a.parse().unwrap());
    let kills: usize = args.get(3).map_or(40, |a| a.parse().unwrap());
    let period = args.get(4).cloned().unwrap_or_else(|| "30s".into());
    let dir = std::env::temp_dir().join("health-guest");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let t = Instant::now();
    setup(targets);
    let mut servers = Servers::start(targets);
    eprintln!("health-guest: {targets} servers up in {:?}", t.elapsed());
    let ours = run_one(
        &Checker::Ours {
            period: period.clone(),
        },
        &mut servers,
        targets,
        seconds,
        kills,
        &dir,
    );
    let keepalived = Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let theirs = keepalived.then(|| {
        run_one(
            &Checker::Keepalived,
            &mut servers,
            targets,
            seconds,
            kills,
            &dir,
        )
    });
    drop(servers);
    let _ = Command::new("ip").args(["netns", "del", LB]).status();
    let _ = Command::new("ip").args(["netns", "del", RS]).status();

    let kernel = sh("uname -r");
    let nofile = sh("ulimit -n");
    println!("### {targets} real servers\n");
    println!(
        "Kernel {}, 2 emulated CPUs (TCG: only ratios mean much). {targets} real servers ({} addresses of 198.18.0.0/15 × {} ports, each its own listener, in one namespace behind a veth) in {} NAT services of {PER_SERVICE}; every one checked by TCP connect every second from the director's namespace, down after {FALL} failures in a row (timeout 1 s). Ours: `ipvsctl run --period {period}` (a reconcile that reads the whole table every {period}); keepalived 2.2 `--check`: `delay_loop 1`, `TCP_CHECK {{ connect_timeout 1; retry {}; delay_before_retry 1 }}`. CPU: user + system of the checking process(es), in % of one core. Detection: from a server's death (its listener closed, connections refused) to its destination's removal from the kernel's table, polled every 50 ms; {kills} servers killed one at a time, 100-700 ms apart. File descriptors: `ulimit -n` {}.\n",
        kernel.trim(),
        targets.div_ceil(PORTS.len()),
        PORTS.len(),
        targets.div_ceil(PER_SERVICE),
        FALL - 1,
        nofile.trim()
    );
    let row = |f: &Figures| -> Vec<String> {
        let p = |q: f64| format!("{:.2} s", percentile(&f.detected, q).as_secs_f64());
        vec![
            format!("{:.1} s", f.start.as_secs_f64()),
            format!(
                "{:.1}% ({:.1}% user; {:.0} µs a probe)",
                f.steady_cpu,
                f.steady_user,
                f.steady_cpu * 1e4 / f.targets as f64
            ),
            f.false_downs.to_string(),
            format!("{:.1}%", f.storm_cpu),
            format!("{} of {}", f.detected.len(), f.kills),
            p(0.5),
            p(0.99),
            format!(
                "{:.2} s",
                f.detected.last().copied().unwrap_or_default().as_secs_f64()
            ),
            if f.decided.is_empty() {
                "-".into()
            } else {
                format!(
                    "{:.2} s / {:.2} s ({} seen)",
                    percentile(&f.decided, 0.5).as_secs_f64(),
                    percentile(&f.decided, 0.99).as_secs_f64(),
                    f.decided.len()
                )
            },
        ]
    };
    let names = [
        "start → every destination in the table",
        "CPU, every server up (user part; per probe)",
        "downs while every server was up",
        "CPU while servers die",
        "deaths seen in the table (within 30 s)",
        "death → out of the table: median",
        "death → out of the table: p99",
        "death → out of the table: max",
        "death → dest-down in the log: median / p99",
    ];
    let ours_row = row(&ours);
    match &theirs {
        Some(k) => {
            let k_row = row(k);
            let ratio = |a: f64, b: f64| {
                if a > 0.0 {
                    format!("{:.1}x", b / a)
                } else {
                    "-".into()
                }
            };
            let ratios = [
                ratio(ours.start.as_secs_f64(), k.start.as_secs_f64()),
                format!(
                    "{} ({} user)",
                    ratio(ours.steady_cpu, k.steady_cpu),
                    ratio(ours.steady_user, k.steady_user)
                ),
                String::new(),
                ratio(ours.storm_cpu, k.storm_cpu),
                String::new(),
                ratio(
                    percentile(&ours.detected, 0.5).as_secs_f64(),
                    percentile(&k.detected, 0.5).as_secs_f64(),
                ),
                ratio(
                    percentile(&ours.detected, 0.99).as_secs_f64(),
                    percentile(&k.detected, 0.99).as_secs_f64(),
                ),
                String::new(),
                String::new(),
            ];
            println!("| | `ipvsctl run` | keepalived | keepalived / ours |\n|---|---|---|---|");
            for i in 0..names.len() {
                println!(
                    "| {} | {} | {} | {} |",
                    names[i], ours_row[i], k_row[i], ratios[i]
                );
            }
        }
        None => {
            println!("| | `ipvsctl run` |\n|---|---|");
            for i in 0..names.len() {
                println!("| {} | {} |", names[i], ours_row[i]);
            }
            println!("\nkeepalived: not installed in this guest, not compared.");
        }
    }
    let goal = Duration::from_secs(u64::from(FALL) + 1);
    println!(
        "\nGoal: p99 ≤ fall × interval + 1 s = {} s: {} (ours, p99 {:.2} s); well under one core: {:.1}% of one.",
        goal.as_secs(),
        if percentile(&ours.detected, 0.99) <= goal && ours.detected.len() == kills {
            "met"
        } else {
            "NOT met"
        },
        percentile(&ours.detected, 0.99).as_secs_f64(),
        ours.steady_cpu
    );
}
