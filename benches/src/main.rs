//! Kernel benchmarks, run as root inside a kernel with IPVS (`scripts/bench`).
//!
//! For each table size, in fresh network namespaces of one run, side by side:
//! - apply from empty: our batched `Client::execute_batch` vs `ipvsadm -R` (and
//!   pyroute2 with `--pyroute2`);
//! - full snapshot: `Client::snapshot` vs `ipvsadm -Sn` (and a pyroute2 dump);
//! - a 1% change: our batch of the changed operations vs one request per
//!   changed operation.
//!
//! pyroute2 runs only for tables up to `--pyroute2-max` services (2,000).
//!
//! With `--ipvsctl PATH` (and `--before PATH`, repeatable: other builds to
//! compare with, named by their file names), `ipvsctl restore` and `ipvsctl save` run as whole processes under
//! `/usr/bin/time` next to `ipvsadm -R` and `ipvsadm -Sn`, each in a fresh
//! namespace, with peak memory (`--cli-only`: only these; `--rounds N`: N
//! rounds in turn, the median reported).
//!
//! Times are wall clock plus user and system CPU; on an emulated guest only
//! the ratios mean anything. Prints a markdown report on stdout.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs::client::{Client, Operation};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};

const DESTS: u16 = 4;

/// Wall, user and system time of a measured step.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

fn rusage(who: libc::c_int) -> (Duration, Duration) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the pointer it is given,
    // which points to zeroed memory of that type.
    let ru = unsafe {
        libc::getrusage(who, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Run `f`, counting our own CPU time (`children`: that of child processes).
fn measure<T>(children: bool, f: impl FnOnce() -> T) -> (T, Cost) {
    let who = if children {
        libc::RUSAGE_CHILDREN
    } else {
        libc::RUSAGE_SELF
    };
    let (u0, s0) = rusage(who);
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed();
    let (u1, s1) = rusage(who);
    (
        out,
        Cost {
            wall,
            user: u1 - u0,
            sys: s1 - s0,
        },
    )
}

/// Service `i` of the table: TCP on 198.18.0.0/15 addresses.
fn service_key(i: u32) -> ServiceKey {
    let a = 0xc612_0000u32 + i; // 198.18.0.0 + i
    ServiceKey::tcp(std::net::SocketAddr::new(
        std::net::Ipv4Addr::from(a).into(),
        80,
    ))
}

fn dest(i: u32, j: u16, weight: u32) -> Destination {
    let a = 0xc633_6400u32 + (i * 4 + u32::from(j)) % 250 + 1; // 198.51.100.1..250
    Destination::new(std::net::SocketAddr::new(
        std::net::Ipv4Addr::from(a).into(),
        8000 + j,
    ))
    .with_forward(ForwardMethod::Masquerade)
    .with_weight(weight)
}

fn table_ops(n: u32) -> Vec<Operation> {
    let mut ops = Vec::with_capacity(n as usize * (1 + DESTS as usize));
    for i in 0..n {
        let key = service_key(i);
        ops.push(Operation::AddService(Service::new(
            key,
            Scheduler::WeightedRoundRobin,
        )));
        for j in 0..DESTS {
            ops.push(Operation::AddDestination(key, dest(i, j, 1 + u32::from(j))));
        }
    }
    ops
}

fn rules(n: u32) -> String {
    let mut s = String::new();
    for i in 0..n {
        let key = service_key(i);
        let vip = match key {
            ServiceKey::Address { address, port, .. } => format!("{address}:{port}"),
            _ => unreachable!(),
        };
        writeln!(s, "-A -t {vip} -s wrr").unwrap();
        for j in 0..DESTS {
            let d = dest(i, j, 1 + u32::from(j));
            writeln!(s, "-a -t {vip} -r {} -m -w {}", d.socket_addr(), d.weight).unwrap();
        }
    }
    s
}

/// A network namespace with lo up, removed on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("bench-{tag}-{}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Ns(name)
    }
    fn client(&self) -> Client {
        Client::builder()
            .netns(ipvs::client::Netns::named(&self.0).unwrap())
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client")
    }
    fn ipvsadm(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "ipvsadm"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ipvsadm");
        let input = stdin.unwrap_or("").to_owned();
        let mut pipe = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("ipvsadm");
        writer.join().unwrap().unwrap();
        assert!(out.status.success(), "ipvsadm {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }
    fn python(&self, script: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "python3", script])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success());
    assert!(matches!(ok, Ok(true)), "{args:?} failed");
}

fn best(a: Option<Cost>, b: Cost) -> Cost {
    match a {
        Some(a) if a.wall <= b.wall => a,
        _ => b,
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn row(report: &mut String, what: &str, ours: Cost, theirs: Cost, who: &str) {
    let ratio = theirs.wall.as_secs_f64() / ours.wall.as_secs_f64().max(1e-9);
    let user_share = ours.user.as_secs_f64() / (ours.user + ours.sys).as_secs_f64().max(1e-9);
    writeln!(
        report,
        "| {what} | {} ({} user, {} sys; user {:.0}%) | {who}: {} ({} user, {} sys) | {ratio:.1}x |",
        secs(ours.wall),
        secs(ours.user),
        secs(ours.sys),
        user_share * 100.0,
        secs(theirs.wall),
        secs(theirs.user),
        secs(theirs.sys),
    )
    .unwrap();
}

fn bench(n: u32, pyroute2: Option<&str>, pyroute2_max: u32, report: &mut String) {
    eprintln!("bench: {n} services x {DESTS} destinations");
    let ours_ns = Ns::new("ours");
    let theirs_ns = Ns::new("ipvsadm");
    let client = ours_ns.client();

    // Apply from empty.
    let ops = table_ops(n);
    let (result, ours_apply) = measure(false, || client.execute_batch(&ops).expect("apply"));
    assert!(result.is_ok(), "apply: {:?}", result.failures().next());
    let text = rules(n);
    let (_, ipvsadm_restore) = measure(true, || theirs_ns.ipvsadm(&["-R"], Some(&text)));
    writeln!(
        report,
        "\n### {n} services x {DESTS} destinations ({} operations)\n",
        ops.len()
    )
    .unwrap();
    writeln!(report, "| step | ours | other | other / ours |").unwrap();
    writeln!(report, "|---|---|---|---|").unwrap();
    row(
        report,
        "apply from empty",
        ours_apply,
        ipvsadm_restore,
        "`ipvsadm -R`",
    );

    // Full snapshot.
    let (snap, ours_snap) = measure(false, || client.snapshot().expect("snapshot"));
    assert_eq!(snap.len(), n as usize);
    assert!(snap.iter().all(|e| e.destinations.len() == DESTS as usize));
    let (saved, ipvsadm_save) = measure(true, || theirs_ns.ipvsadm(&["-Sn"], None));
    assert_eq!(saved.lines().count(), n as usize * (1 + DESTS as usize));
    row(
        report,
        "full snapshot",
        ours_snap,
        ipvsadm_save,
        "`ipvsadm -Sn`",
    );
    let (_, ipvsadm_list) = measure(true, || theirs_ns.ipvsadm(&["-Ln"], None));
    row(
        report,
        "full snapshot",
        ours_snap,
        ipvsadm_list,
        "`ipvsadm -Ln`",
    );

    // A 1% change: new weights on one destination of every hundredth
    // service, alternately batched and one request per change; best of three.
    let changes = |weight: u32| -> Vec<Operation> {
        (0..n)
            .step_by(100)
            .map(|i| Operation::UpdateDestination(service_key(i), dest(i, 0, weight)))
            .collect()
    };
    let (mut ours_batch, mut one_by_one) = (None::<Cost>, None::<Cost>);
    for round in 0..3 {
        let ops = changes(50 + round);
        let (result, cost) = measure(false, || client.execute_batch(&ops).expect("apply"));
        assert!(result.is_ok());
        ours_batch = Some(best(ours_batch, cost));
        let ops = changes(1 + round);
        let (_, cost) = measure(false, || {
            for op in &ops {
                client.execute(op).expect("execute");
            }
        });
        one_by_one = Some(best(one_by_one, cost));
    }
    row(
        report,
        "1% change",
        ours_batch.unwrap(),
        one_by_one.unwrap(),
        "one request per change",
    );

    if let Some(script) = pyroute2.filter(|_| n <= pyroute2_max) {
        let py_ns = Ns::new("pyroute2");
        let count = n.to_string();
        let (out, add) = measure(true, || py_ns.python(script, &["add", &count]));
        let (out2, dump) = measure(true, || py_ns.python(script, &["dump", &count]));
        if out.is_some() && out2.is_some() {
            row(report, "apply from empty", ours_apply, add, "pyroute2");
            row(report, "full snapshot", ours_snap, dump, "pyroute2");
        } else {
            writeln!(report, "| pyroute2 | failed to run {script} | | |").unwrap();
        }
    }
}

/// Wall, user, system time and peak memory of a whole process.
#[derive(Clone, Copy)]
struct Proc {
    wall: f64,
    user: f64,
    sys: f64,
    peak_kb: u64,
}

impl Proc {
    fn cell(&self) -> String {
        format!(
            "{:.2} s ({:.2} user, {:.2} sys; user {:.0}%), peak {:.1} MB",
            self.wall,
            self.user,
            self.sys,
            100.0 * self.user / (self.user + self.sys).max(1e-9),
            self.peak_kb as f64 / 1024.0
        )
    }
}

/// Run `cmd` in `ns` under `/usr/bin/time`, `stdin` on its standard
/// input; its standard output and cost.
fn timed(ns: &Ns, cmd: &[&str], stdin: &[u8]) -> (Vec<u8>, Proc) {
    let tfile = format!("/tmp/bench-time-{}", std::process::id());
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "/usr/bin/time",
            "-f",
            "%e %U %S %M",
            "-o",
            &tfile,
        ])
        .args(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("/usr/bin/time");
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    let t = std::fs::read_to_string(&tfile).expect("time's output");
    let f: Vec<&str> = t.lines().last().unwrap_or("").split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cost = Proc {
        wall: num(0),
        user: num(1),
        sys: num(2),
        peak_kb: num(3) as u64,
    };
    (out.stdout, cost)
}

/// `ipvsctl restore` and `ipvsctl save` (and those of `before`) as whole
/// processes next to `ipvsadm -R` and `ipvsadm -Sn`.
/// The median run by wall time, and every run's wall time and user share
/// with the user share of all runs together (one run's share moves with
/// the guest's noise).
fn median(runs: &[Proc]) -> (Proc, String) {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let share = |user: f64, sys: f64| 100.0 * user / (user + sys).max(1e-9);
    let walls: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.2} ({:.0}%)", r.wall, share(r.user, r.sys)))
        .collect();
    let (user, sys) = runs
        .iter()
        .fold((0.0, 0.0), |(u, s), r| (u + r.user, s + r.sys));
    let all = format!("{}; all: user {:.1}%", walls.join(" / "), share(user, sys));
    (sorted[sorted.len() / 2], all)
}

/// How the guest's kernel accounts this process's CPU time: per kernel
/// entry and exit on a `nohz_full` CPU (precise), else by timer ticks.
fn accounting() -> String {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let full = cmdline
        .split_whitespace()
        .find_map(|o| o.strip_prefix("nohz_full="))
        .unwrap_or("");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    if !full.is_empty() && allowed == full {
        format!(
            "CPU time accounted at every kernel entry and exit (the tools pinned to CPU {allowed}, \
             booted `nohz_full={full}`)"
        )
    } else {
        format!("CPU time accounted by timer ticks (CPUs {allowed}; no `nohz_full` CPU pinned)")
    }
}

/// How an executable is linked, as `readelf` reads its headers: static or
/// with a dynamic loader (an `INTERP` program header), at a fixed address
/// (type `EXEC`) or position-independent. What a process pays before
/// `main`: the loader, and relocations if position-independent.
fn linkage(path: &str) -> String {
    let out = match Command::new("readelf").args(["-hlW", path]).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => return "unknown (readelf failed)".into(),
    };
    let fixed = out
        .lines()
        .any(|l| l.trim_start().starts_with("Type:") && l.contains("EXEC"));
    format!(
        "{}, {}",
        if out.contains("INTERP") {
            "dynamic"
        } else {
            "static"
        },
        if fixed {
            "position-dependent"
        } else {
            "position-independent"
        }
    )
}

/// Where `PATH` finds `tool`.
fn which(tool: &str) -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| format!("{dir}/{tool}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| panic!("{tool} is not on PATH"))
}

fn cli_bench(n: u32, ipvsctl: &str, before: &[String], rounds: usize, report: &mut String) {
    eprintln!("cli bench: {n} services x {DESTS} destinations, {rounds} round(s)");
    let text = rules(n);
    // Every tool runs from a copy on the guest's tmpfs, as from a local
    // disk: the guest's root is a 9p mount that keeps no page cache across
    // opens, so each run of a binary read there re-reads the pages it
    // touches (0.4 s of system time per run of a 58 MB `ipvsctl`).
    let local = |path: &str, name: &str| {
        let copy = format!("/tmp/bench-bin-{}-{name}", std::process::id());
        std::fs::copy(path, &copy).expect("copy the tool to /tmp");
        copy
    };
    let ipvsadm = local(&which("ipvsadm"), "ipvsadm");
    let mut tools = vec![("`ipvsadm`".to_owned(), None)];
    tools.push(("`ipvsctl`".to_owned(), Some(local(ipvsctl, "ipvsctl"))));
    for (i, b) in before.iter().enumerate() {
        let name = std::path::Path::new(b)
            .file_name()
            .map_or(b.clone(), |f| f.to_string_lossy().into_owned());
        tools.push((format!("`{name}`"), Some(local(b, &format!("before{i}")))));
    }
    // Per tool, per round: restore then save, each tool in a fresh
    // namespace, the tools in turn within a round.
    let mut restores: Vec<Vec<Proc>> = vec![vec![]; tools.len()];
    let mut saves: Vec<Vec<Proc>> = vec![vec![]; tools.len()];
    let mut same = vec![true; tools.len()];
    for _ in 0..rounds {
        let mut outputs = vec![];
        for (i, (_, bin)) in tools.iter().enumerate() {
            let ns = Ns::new(&format!("cli{i}"));
            let (restore, save): (&[&str], &[&str]) = match bin {
                None => (&[&ipvsadm, "-R"], &[&ipvsadm, "-Sn"]),
                Some(b) => (&[b.as_str(), "restore"], &[b.as_str(), "save"]),
            };
            restores[i].push(timed(&ns, restore, text.as_bytes()).1);
            let (saved, cost) = timed(&ns, save, b"");
            saves[i].push(cost);
            outputs.push(saved);
        }
        assert_eq!(
            outputs[0].iter().filter(|&&b| b == b'\n').count(),
            n as usize * (1 + DESTS as usize)
        );
        for (i, out) in outputs.iter().enumerate() {
            same[i] &= *out == outputs[0];
        }
    }
    writeln!(
        report,
        "\n### `ipvsctl` as whole processes, {n} services x {DESTS} destinations\n"
    )
    .unwrap();
    writeln!(
        report,
        "Median of {rounds} round(s) by wall time; in the last column each round's wall time \
         (user share of CPU) and the user share of all rounds together. {}.",
        accounting()
    )
    .unwrap();
    let builds: Vec<String> = tools
        .iter()
        .map(|(name, bin)| {
            let path = bin.clone().unwrap_or_else(|| ipvsadm.clone());
            format!("{}: {}", name.trim_matches('`'), linkage(&path))
        })
        .collect();
    writeln!(report, "Executables: {}.", builds.join("; ")).unwrap();
    writeln!(
        report,
        "\n| step | tool | time (CPU), peak memory | ipvsadm / this | rounds (s) |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for (step, runs) in [("restore from empty", &restores), ("save", &saves)] {
        let (theirs, _) = median(&runs[0]);
        for (i, (name, bin)) in tools.iter().enumerate() {
            let (m, walls) = median(&runs[i]);
            let what = match (bin, step) {
                (None, "save") => "`ipvsadm -Sn`".to_owned(),
                (None, _) => "`ipvsadm -R`".to_owned(),
                (Some(_), "save") if same[i] => format!("{name} `save` (same bytes)"),
                (Some(_), "save") => format!("{name} `save` (DIFFERENT bytes)"),
                (Some(_), _) => format!("{name} `restore`"),
            };
            writeln!(
                report,
                "| {step} | {what} | {} | {:.2} | {walls} |",
                m.cell(),
                theirs.wall / m.wall.max(1e-9)
            )
            .unwrap();
        }
    }
}

fn main() {
    let mut sizes = vec![];
    let mut pyroute2 = None;
    let mut ipvsctl = None;
    let mut before = vec![];
    let mut cli_only = false;
    let mut rounds = 1;
    // pyroute2 needs minutes per thousand services under emulation.
    let mut pyroute2_max = 2_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pyroute2" => pyroute2 = args.next(),
            "--ipvsctl" => ipvsctl = args.next(),
            "--before" => before.extend(args.next()),
            "--cli-only" => cli_only = true,
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .expect("--rounds N (N > 0)")
            }
            "--pyroute2-max" => {
                pyroute2_max = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--pyroute2-max N")
            }
            n => sizes.push(n.parse::<u32>().expect("sizes are numbers")),
        }
    }
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000, 30_000];
    }
    let client = Client::new().expect("IPVS must be available (run in the guest)");
    let info = client.info().expect("info");
    let mut report = String::new();
    writeln!(report, "## Kernel benchmarks\n").unwrap();
    writeln!(
        report,
        "Kernel {}, IPVS {}; one run, fresh network namespaces; wall time in seconds \
         (user and system CPU of the measured process). Ratios > 1: ours is faster.",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        info.version
    )
    .unwrap();
    writeln!(
        report,
        "\nHealth checking at scale, next to keepalived in the same guest: \
         [HEALTH.md](HEALTH.md) (`scripts/bench-health`)."
    )
    .unwrap();
    for n in sizes {
        if !cli_only {
            bench(n, pyroute2.as_deref(), pyroute2_max, &mut report);
        }
        if let Some(bin) = &ipvsctl {
            cli_bench(n, bin, &before, rounds, &mut report);
        }
    }
    println!("{report}");
}
