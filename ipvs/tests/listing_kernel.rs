//! The terminal view, the metrics and the status page against a real
//! kernel and the real tools: `ipvs::listing` and `ipvsctl show` byte for
//! byte against `ipvsadm -Ln` and its views on a table that uses every
//! feature (and `show --watch`); `ipvsctl run --listen` on a NAT cluster,
//! Debian's Prometheus scraping its `/metrics` during real traffic and
//! headless Chromium loading its status page with a real server down.
//!
//! Every test is ignored on a normal run (they need root, a kernel with
//! IPVS, ipvsadm, prometheus and chromium); `scripts/test-kernel --suite
//! listing_kernel` runs them in the guest. Only documentation address ranges.
#![cfg(all(
    feature = "status",
    feature = "config",
    feature = "cli",
    feature = "health"
))]

mod cluster_common;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster_common::*;
use ipvs::client::{Client, Netns};
use ipvs::listing::{self, ListOptions, View};
use ipvs::state::ServiceState;

/// The table with every feature the kernel and ipvsadm 1.31 know: every
/// scheduler the kernel has (with and without flags), TCP, UDP, SCTP, IPv4
/// and IPv6, firewall marks of both families (one above 2³¹), persistence
/// with netmasks, the SIP persistence engine, one-packet scheduling, every
/// forwarding method and tunnel type and checksum, thresholds, and
/// addresses and marks that ipvsadm's comparisons sort "backwards".
fn every_feature_rules() -> String {
    let mut rules = vec![
        "-A -t 192.0.2.10:80 -s wrr -p 600 -M 255.255.255.0".to_owned(),
        "-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 3 -x 100 -y 10".to_owned(),
        "-a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 0".to_owned(),
        "-a -t 192.0.2.10:80 -r 198.51.100.4:80 -i -w 2147483647".to_owned(),
        "-a -t 192.0.2.10:80 -r 192.0.2.1:80 -m -w 1".to_owned(),
        "-A -u 192.0.2.10:53 -s sh -b sh-fallback,sh-port -o".to_owned(),
        "-a -u 192.0.2.10:53 -r 198.51.100.5:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum"
            .to_owned(),
        "-a -u 192.0.2.10:53 -r 198.51.100.6:53 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum"
            .to_owned(),
        "-a -u 192.0.2.10:53 -r 198.51.100.7:53 -i -w 1 --tun-type gue --tun-port 6082 --tun-nocsum"
            .to_owned(),
        "-A --sctp-service 192.0.2.11:9999 -s lc -p 30 --pe sip".to_owned(),
        "-a --sctp-service 192.0.2.11:9999 -r 198.51.100.8:9999 -m -w 5 -x 7 -y 3".to_owned(),
        "-A -u 192.0.2.11:5060 -s rr -o --pe sip".to_owned(),
        "-A -t [2001:db8::10]:443 -s rr -p 60 -M 64".to_owned(),
        "-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3".to_owned(),
        "-a -t [2001:db8::10]:443 -r [2001:db8:0:1::22]:443 -g -w 1".to_owned(),
        "-A -t [2001:db8::]:80 -s rr".to_owned(),
        "-A -t [2001:db8::ffff:ffff:0:0]:80 -s rr".to_owned(),
        "-A -t [2001:db8::1.2.3.4]:80 -s rr".to_owned(),
        "-A -f 7 -s mh -b mh-fallback,mh-port".to_owned(),
        "-a -f 7 -r 198.51.100.9:0 -i -w 2 --tun-type gre --tun-csum".to_owned(),
        "-a -f 7 -r 198.51.100.10:0 -i -w 2 --tun-type gre --tun-nocsum".to_owned(),
        "-a -f 7 -r 198.51.100.11:0 -i -w 2 --tun-type ipip".to_owned(),
        "-A -f 7 -6 -s wlc -p 120 -M 48".to_owned(),
        "-a -f 7 -6 -r [2001:db8::23]:0 -g -w 4".to_owned(),
        "-A -f 3000000000 -s rr".to_owned(),
        "-A -f 1 -s rr -b flag-1,flag-2,flag-3".to_owned(),
        "-A -t 192.0.2.12:0 -s wlc -p 300".to_owned(),
        "-a -t 192.0.2.12:0 -r 198.51.100.12:0 -g -w 1".to_owned(),
    ];
    // Every other scheduler the kernel has, one service each.
    for (i, s) in [
        "lc", "wlc", "lblc", "lblcr", "dh", "sed", "nq", "fo", "ovf", "twos",
    ]
    .iter()
    .enumerate()
    {
        if !sh_ok(&format!("modinfo ip_vs_{s}")) {
            eprintln!("scheduler {s}: no module ip_vs_{s} in this kernel, left out");
            continue;
        }
        rules.push(format!("-A -t 192.0.2.20:{} -s {s}", 1000 + i));
        rules.push(format!(
            "-a -t 192.0.2.20:{} -r 198.51.100.{}:80 -m -w {}",
            1000 + i,
            20 + i,
            i + 1
        ));
    }
    rules.join("\n") + "\n"
}

/// A namespace with routes for the documentation ranges (the kernel refuses
/// destinations it has no route to) and 192.0.2.1 as a local address.
fn director(tag: &str) -> Ns {
    let ns = Ns::new(tag);
    ns.run(
        "ip link add dummy0 type dummy && ip link set dummy0 up && \
         ip addr add 192.0.2.1/24 dev dummy0 && ip addr add 198.51.100.1/24 dev dummy0 && \
         ip addr add 2001:db8::1/32 dev dummy0 nodad",
    );
    ns
}

fn ipvsadm(ns: &Ns, args: &str) -> String {
    ns.run(&format!("ipvsadm {args}"))
}

/// The kernel's table and version, read once through the library.
fn read(client: &Client) -> (ipvs::Info, Vec<ServiceState>) {
    let info = client.info().expect("info");
    let services = client
        .snapshot()
        .expect("snapshot")
        .into_iter()
        .map(ServiceState::from)
        .collect();
    (info, services)
}

/// ipvsadm's list options and the view they give.
const VIEWS: [(&str, View, bool); 14] = [
    ("", View::Connections, false),
    ("--exact", View::Connections, true),
    ("--stats", View::Stats, false),
    ("--stats --exact", View::Stats, true),
    ("--rate", View::Rate, false),
    ("--rate --exact", View::Rate, true),
    ("--thresholds", View::Thresholds, false),
    ("--persistent-conn", View::PersistentConn, false),
    ("--tun-info", View::TunInfo, false),
    ("--stats --rate", View::Stats, false),
    ("--rate --thresholds", View::Rate, false),
    (
        "--thresholds --persistent-conn --tun-info",
        View::Thresholds,
        false,
    ),
    ("--persistent-conn --tun-info", View::PersistentConn, false),
    ("--tun-info --exact", View::TunInfo, true),
];

/// Compare our listings with `ipvsadm -Ln ARGS` for every `(ARGS, options)`
/// of `views`, ipvsadm run once per view inside one shell (processes are
/// slow under emulation).
///
/// The library reads the table just before and just after the shell runs.
/// Counters do not move once traffic has stopped, but connections expire
/// and the kernel's rate estimator ticks every 2 s: ipvsadm's output must
/// equal, byte for byte, our listing of one of the two reads. Only for the
/// rate view, whose rates decay for a while after traffic (so the two reads
/// rarely agree), may it fall between them: every line the same words, and
/// each number between the two reads' (or equal to one of them).
fn assert_same_listings(ns: &Ns, client: &Client, views: &[(&str, ListOptions)]) {
    let script: String = views
        .iter()
        .map(|(args, _)| format!("ipvsadm -Ln {args}; echo '@@@'\n"))
        .collect();
    let mut failures = Vec::new();
    for attempt in 0..4 {
        let (info, before) = read(client);
        let out = ns.run(&script);
        let (_, after) = read(client);
        failures.clear();
        for ((args, opts), theirs) in views.iter().zip(out.split("@@@\n")) {
            let a = listing::listing(&info, &before, opts);
            let b = listing::listing(&info, &after, opts);
            let same =
                theirs == a || theirs == b || (opts.view == View::Rate && between(theirs, &a, &b));
            if !same {
                failures.push(format!(
                    "ipvsadm -Ln {args} differs from ipvs::listing (attempt {}):\n{}",
                    attempt + 1,
                    line_diff(theirs, &a)
                ));
            }
        }
        if failures.is_empty() {
            return;
        }
    }
    panic!("{}", failures.join("\n"));
}

/// Whether `theirs` has the words of `a` and `b`, with each number between
/// theirs (shortened numbers such as `123K` compared by their digits).
fn between(theirs: &str, a: &str, b: &str) -> bool {
    let (t, a, b): (Vec<&str>, Vec<&str>, Vec<&str>) = (
        theirs.lines().collect(),
        a.lines().collect(),
        b.lines().collect(),
    );
    if t.len() != a.len() || a.len() != b.len() {
        return false;
    }
    let num = |w: &str| w.trim_end_matches(['K', 'M', 'G', 'T']).parse::<u64>().ok();
    t.iter().zip(a.iter().zip(&b)).all(|(t, (a, b))| {
        let (tw, aw, bw): (Vec<&str>, Vec<&str>, Vec<&str>) = (
            t.split_whitespace().collect(),
            a.split_whitespace().collect(),
            b.split_whitespace().collect(),
        );
        tw.len() == aw.len()
            && aw.len() == bw.len()
            && tw
                .iter()
                .zip(aw.iter().zip(&bw))
                .all(|(t, (a, b))| match (num(t), num(a), num(b)) {
                    (Some(t), Some(a), Some(b)) => a.min(b) <= t && t <= a.max(b),
                    _ => t == a && a == b,
                })
    })
}

fn all_views() -> Vec<(&'static str, ListOptions)> {
    VIEWS
        .iter()
        .map(|(args, view, exact)| {
            (
                *args,
                ListOptions {
                    view: *view,
                    exact: *exact,
                },
            )
        })
        .collect()
}

fn line_diff(theirs: &str, ours: &str) -> String {
    let mut out = String::new();
    let (a, b): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x != y {
            out.push_str(&format!(
                "line {}:\n  ipvsadm: {x:?}\n  ours:    {y:?}\n",
                i + 1
            ));
        }
    }
    out
}

#[test]
#[ignore = "needs root, a kernel with IPVS and ipvsadm (scripts/test-kernel)"]
fn listing_matches_ipvsadm_on_a_table_with_every_feature() {
    let t0 = Instant::now();
    let ns = director(&tag("lsall"));
    let rules = every_feature_rules();
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", ns.name))
        .args(["bash", "-c", "ipvsadm -R"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(rules.as_bytes())?;
            child.wait_with_output()
        })
        .expect("ipvsadm -R");
    assert!(
        out.status.success(),
        "ipvsadm -R refused the rules: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = Client::builder()
        .netns(Netns::named(&ns.name).unwrap())
        .build()
        .unwrap();
    let (_, services) = read(&client);
    assert!(services.len() >= 20, "{} services", services.len());
    // Each feature shows in ipvsadm's own listing, so the comparison below
    // covers it.
    let plain = ipvsadm(&ns, "-Ln");
    for needle in [
        "UDP  192.0.2.10:53 sh (sh-fallback,sh-port) ops",
        "FWM  7 mh (mh-fallback,mh-port)",
        "SCTP 192.0.2.11:9999 lc persistent 30 pe sip",
        "FWM  -1294967296 rr",
        "FWM  7 IPv6 wlc persistent 120 mask 48",
        "TCP  192.0.2.10:80 wrr persistent 600 mask 255.255.255.0",
        "FWM  1 rr (flag-1,flag-2,flag-3)",
        "Local",
        "Route",
        "Tunnel",
        "[2001:db8::102:304]:80",
    ] {
        assert!(
            plain.contains(needle),
            "ipvsadm -Ln lacks {needle:?}:\n{plain}"
        );
    }
    let tun = ipvsadm(&ns, "-Ln --tun-info");
    for needle in [
        "gue:6080:+c",
        "gue:6081:r+c",
        "gue:6082:-c",
        "gre:+c",
        "gre:-c",
        "ipip",
        "n/a",
    ] {
        assert!(
            tun.contains(needle),
            "ipvsadm -Ln --tun-info lacks {needle}:\n{tun}"
        );
    }
    assert_same_listings(&ns, &client, &all_views());
    // One service, as `ipvsadm -Ln -t` and `-f` list it.
    let (_, services) = read(&client);
    let singles: Vec<(&str, ipvs::ServiceKey, &str, ListOptions)> = [
        (
            "-t 192.0.2.10:80",
            ipvs::ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
        ),
        ("-f 7", ipvs::ServiceKey::fwmark(7)),
        (
            "--sctp-service 192.0.2.11:9999",
            ipvs::ServiceKey::sctp("192.0.2.11:9999".parse().unwrap()),
        ),
    ]
    .into_iter()
    .flat_map(|(args, key)| {
        [
            ("", View::Connections),
            ("--stats", View::Stats),
            ("--tun-info", View::TunInfo),
        ]
        .into_iter()
        .map(move |(v, view)| (args, key, v, ListOptions { view, exact: false }))
    })
    .collect();
    let script: String = singles
        .iter()
        .map(|(args, _, v, _)| format!("ipvsadm -Ln {args} {v}; echo '@@@'\n"))
        .collect();
    let out = ns.run(&script);
    for ((args, key, v, opts), theirs) in singles.iter().zip(out.split("@@@\n")) {
        let s = services.iter().find(|s| s.service.key == *key).unwrap();
        let ours = listing::service_listing(s, opts);
        assert_eq!(
            theirs,
            ours,
            "ipvsadm -Ln {args} {v}:\n{}",
            line_diff(theirs, &ours)
        );
    }
    // ipvsctl show, a whole process, with ipvsadm's flags: the same bytes
    // as ipvsadm -Ln with them (no traffic: nothing moves between the two).
    let ipvsctl = env!("CARGO_BIN_EXE_ipvsctl");
    let script: String = VIEWS
        .iter()
        .map(|(args, ..)| {
            format!("ipvsadm -Ln {args}; echo '@@@'; {ipvsctl} show {args}; echo '@@@'\n")
        })
        .collect();
    let out = ns.run(&script);
    let parts: Vec<&str> = out.split("@@@\n").collect();
    for (i, (args, ..)) in VIEWS.iter().enumerate() {
        let (theirs, ours) = (parts[2 * i], parts[2 * i + 1]);
        assert!(theirs.starts_with("IP Virtual Server"), "{theirs}");
        assert_eq!(
            ours,
            theirs,
            "ipvsctl show {args}:\n{}",
            line_diff(theirs, ours)
        );
    }
    // --watch on a pipe: listings one after another, a blank line between.
    let stats = parts[4];
    let watched = ns.run(&format!("{ipvsctl} show --stats --watch 100ms --count 2"));
    assert_eq!(watched, format!("{stats}\n{stats}"));
    // --watch until Ctrl-C: a clean end (status 0), whole listings.
    let dir = TempDir::new(&format!("{}-watch", ns.name));
    let out_file = dir.path().join("watch.out");
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", ns.name))
        .args([ipvsctl, "show", "--watch", "200ms"])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&out_file)
        .unwrap_or_default()
        .matches("IP Virtual Server")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no two frames in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // (nsenter execs ipvsctl: the signal goes to it.)
    sh(&format!("kill -INT {}", child.id()));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(70),
            "show --watch still running after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "show --watch ended with {status}");
    let frames = std::fs::read_to_string(&out_file).unwrap();
    assert!(frames.starts_with(&plain), "{frames}");
    assert!(frames.ends_with(&plain), "{frames}");
    for frame in frames.split("\nIP Virtual Server").skip(1) {
        assert_eq!(format!("IP Virtual Server{frame}"), plain);
    }
    eprintln!(
        "{} services: every view equal to ipvsadm's ({:.1} s)",
        services.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// A NAT cluster: a client (203.0.113.2), a director (VIP 203.0.113.10)
/// and three busybox httpd real servers on /30 links of their own
/// (198.51.100.2, .6, .10), weights 1, 2, 3.
struct NatCluster {
    cl: Ns,
    lb: Ns,
    rs: Vec<Ns>,
    httpd: Vec<Option<Daemon>>,
    _dir: TempDir,
}

const VIP: &str = "203.0.113.10";

impl NatCluster {
    fn build(tag: &str) -> NatCluster {
        let dir = TempDir::new(tag);
        let cl = Ns::new(&format!("{tag}-cl"));
        let lb = Ns::new(&format!("{tag}-lb"));
        let rs: Vec<Ns> = (1..=3).map(|i| Ns::new(&format!("{tag}-rs{i}"))).collect();
        let (c, l) = (&cl.name, &lb.name);
        let mut script = vec![
            "set -e".to_owned(),
            format!("ip -n {c} link add eth0 type veth peer name cl0 netns {l}"),
            format!("ip -n {c} addr add 203.0.113.2/24 dev eth0; ip -n {c} link set eth0 up"),
            format!(
                "ip -n {l} addr add 203.0.113.1/24 dev cl0; ip -n {l} addr add {VIP}/32 dev cl0"
            ),
            format!("ip -n {l} link set cl0 up"),
            format!(
                "{} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
                lb.enter()
            ),
        ];
        for (i, r) in rs.iter().enumerate() {
            let (r, net) = (&r.name, 4 * i);
            script.extend(link_real_server(l, r, i, net));
        }
        sh(&script.join("\n"));
        let mut httpd = Vec::new();
        for (i, r) in rs.iter().enumerate() {
            let www = dir.path().join(format!("www{}", i + 1));
            std::fs::create_dir_all(&www).unwrap();
            std::fs::write(www.join("index.html"), format!("rs{}", i + 1)).unwrap();
            httpd.push(Some(r.spawn(&[
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                www.to_str().unwrap(),
            ])));
        }
        for r in &rs {
            r.wait_listening(80);
        }
        lb.run(&format!(
            "ipvsadm -A -t {VIP}:80 -s wrr && \
             ipvsadm -a -t {VIP}:80 -r 198.51.100.2:80 -m -w 1 && \
             ipvsadm -a -t {VIP}:80 -r 198.51.100.6:80 -m -w 2 && \
             ipvsadm -a -t {VIP}:80 -r 198.51.100.10:80 -m -w 3"
        ));
        NatCluster {
            cl,
            lb,
            rs,
            httpd,
            _dir: dir,
        }
    }

    fn server(i: usize) -> std::net::SocketAddr {
        format!("198.51.100.{}:80", 4 * i + 2).parse().unwrap()
    }
}

/// `ipvsctl --netns LB run FILE --listen 127.0.0.1:PORT`: the director's
/// run, health-checking the three real servers by TCP connect, serving
/// `/metrics` and the status page on loopback of the director's namespace.
/// Killed on drop (its log printed if the test failed).
struct IpvsctlRun {
    child: std::process::Child,
    log: std::path::PathBuf,
    addr: std::net::SocketAddr,
    _dir: TempDir,
}

impl IpvsctlRun {
    fn start(tag: &str, lb: &Ns) -> IpvsctlRun {
        let dir = TempDir::new(&format!("{tag}-run"));
        let dests: Vec<String> = (0..3)
            .map(|i| {
                let d = NatCluster::server(i);
                format!(
                    "      - {{address: {}, port: {}, forward: masquerade, weight: {}}}",
                    d.ip(),
                    d.port(),
                    i + 1
                )
            })
            .collect();
        // TCP connects every second; down after 2 failures (the emulated
        // guest is too slow for tighter timing to be steady).
        let file = dir.path().join("lb.yaml");
        std::fs::write(
            &file,
            format!(
                "services:\n  - protocol: tcp\n    address: {VIP}\n    port: 80\n    scheduler: wrr\n    \
                 health:\n      check: {{type: tcp, interval: 1s, timeout: 1s, fall: 2, rise: 1, jitter: 0s}}\n    \
                 destinations:\n{}\n",
                dests.join("\n")
            ),
        )
        .unwrap();
        // A free port on the director's loopback, chosen by its kernel.
        let port = ipvs::client::within_netns(&Netns::named(&lb.name).unwrap(), || {
            std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().unwrap().port())
        })
        .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.path().join("run.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ipvsctl"))
            .args(["--netns", &lb.name, "run"])
            .arg(&file)
            .args([
                "--period",
                "1s",
                "--listen",
                &addr.to_string(),
                "--node-exporter",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ipvsctl run");
        let run = IpvsctlRun {
            child,
            log,
            addr,
            _dir: dir,
        };
        // Serving, and every server checked up once.
        let started = Instant::now();
        loop {
            // (Nothing yet while the run starts.)
            let text = lb.run(&format!(
                "curl -s --max-time 5 http://{addr}/metrics || true"
            ));
            if (0..3).all(|i| {
                text.contains(&format!(
                    "ipvs_health_up{{server=\"{}\",check=\"tcp\"}} 1\n",
                    NatCluster::server(i)
                ))
            }) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ipvsctl run --listen: no metrics with every server up in 60 s:\n{text}\nlog:\n{}",
                run.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let log = run.log();
        assert!(
            log.contains(&format!(
                "listen: /metrics and the status page on http://{addr}/"
            )),
            "{log}"
        );
        assert!(!log.contains("warning"), "loopback: no warning:\n{log}");
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for IpvsctlRun {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("ipvsctl run logged:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl -s ARGS` inside `ns`, bounded.
fn curl(ns: &Ns, args: &str) -> String {
    ns.run(&format!("curl -s --max-time 20 {args}"))
}

/// Where the guest may keep files for the lead to see.
fn results_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("GUEST_RESULTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Per destination, the Conns column of `ipvsadm -Ln --stats --exact`.
fn ipvsadm_conns(lb: &Ns) -> std::collections::BTreeMap<String, u64> {
    let out = lb.run("ipvsadm -Ln --stats --exact");
    out.lines()
        .filter_map(|l| l.strip_prefix("  -> "))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = f.next()?.to_owned();
            Some((addr, f.next()?.parse().ok()?))
        })
        .collect()
}

/// A Prometheus server in `ns` scraping `target` every second, with a
/// scratch directory of its own; killed on drop.
struct Prometheus<'a> {
    ns: &'a Ns,
    port: u16,
    _daemon: Daemon,
    _dir: TempDir,
}

impl<'a> Prometheus<'a> {
    fn start(tag: &str, ns: &'a Ns, target: std::net::SocketAddr) -> Prometheus<'a> {
        let dir = TempDir::new(&format!("{tag}-prom"));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: ipvs\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // A free port on the namespace's loopback, chosen by the kernel.
        let port = ipvs::client::within_netns(&Netns::named(&ns.name).unwrap(), || {
            std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().unwrap().port())
        })
        .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", ns.name))
            .arg("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (Debian's package; scripts/guest setup installs it)");
        let p = Prometheus {
            ns,
            port,
            _daemon: Daemon::from_child(child),
            _dir: dir,
        };
        let started = Instant::now();
        while !ns.ok(&format!(
            "curl -sf --max-time 2 http://127.0.0.1:{port}/-/ready"
        )) {
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "prometheus not ready after 180 s; its log:\n{}",
                std::fs::read_to_string(p._dir.path().join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!(
            "prometheus ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        p
    }

    /// An instant query's result vector: (labels, value).
    fn query(&self, q: &str) -> Vec<(serde_json::Value, String)> {
        let text = curl(
            self.ns,
            &format!(
                "-G http://127.0.0.1:{}/api/v1/query --data-urlencode 'query={q}'",
                self.port
            ),
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("prometheus answer");
        assert_eq!(v["status"], "success", "{text}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].clone(),
                    r["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// Headless Chromium in `ns`: `--dump-dom` of `url` and a screenshot into
/// `png`, in one run (a browser start is slow under emulation): one
/// process, no zygote, no extensions or background work.
fn chromium(ns: &Ns, url: &str, png: &std::path::Path, profile: &std::path::Path) -> String {
    let exe = if std::path::Path::new("/usr/lib/chromium/chromium").exists() {
        "/usr/lib/chromium/chromium"
    } else {
        "chromium"
    };
    // Seconds allowed (a browser under software emulation on a busy machine
    // is slow to start): IPVS_CHROMIUM_TIMEOUT, 900 by default.
    let limit: u64 = std::env::var("IPVS_CHROMIUM_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(900);
    let started = Instant::now();
    let dom = sh(&format!(
        "HOME={p} timeout {limit} {enter} {exe} --headless --no-sandbox --disable-gpu \
         --disable-dev-shm-usage --single-process --no-zygote --disable-extensions \
         --disable-background-networking --disable-component-update --disable-sync \
         --no-first-run --user-data-dir={p} --window-size=1400,1000 --screenshot={png} \
         --dump-dom {url} 2>/dev/null",
        enter = ns.enter(),
        p = profile.display(),
        png = png.display()
    ));
    eprintln!("chromium: {:.1} s", started.elapsed().as_secs_f64());
    dom
}

/// The value of one series of a text exposition.
fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
#[ignore = "needs root, a kernel with IPVS, prometheus, chromium, busybox and curl (scripts/test-kernel)"]
fn prometheus_and_chromium_see_ipvsctl_run_under_traffic() {
    let t0 = Instant::now();
    let tag = tag("lsnat");
    let mut cluster = NatCluster::build(&tag);
    eprintln!("NAT cluster built: {:.1} s", t0.elapsed().as_secs_f64());
    let lb = &cluster.lb;
    let run = IpvsctlRun::start(&tag, lb);
    eprintln!(
        "ipvsctl run --listen serving, every server up: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let prometheus = Prometheus::start(&tag, lb, run.addr);
    // Traffic, while Prometheus scrapes every second.
    let url = format!("http://{VIP}/");
    let mut answered = 0;
    for _ in 0..3 {
        answered += curl_count(&cluster.cl, &url, 30).values().sum::<usize>();
    }
    assert_eq!(answered, 90, "every request answered");
    eprintln!("90 requests answered: {:.1} s", t0.elapsed().as_secs_f64());
    // Traffic stopped: wait until Prometheus has scraped twice since, then
    // its counters are the kernel's.
    let stopped = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = Instant::now();
    loop {
        let stamps = prometheus.query("timestamp(ipvs_destination_connections_total)");
        let newest_ok = stamps.len() == 3
            && stamps
                .iter()
                .all(|(_, v)| v.parse::<f64>().unwrap() > stopped + 1.0);
        if newest_ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no two scrapes after the traffic in 60 s: {stamps:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let kernel = ipvsadm_conns(lb);
    let scraped: std::collections::BTreeMap<String, u64> = prometheus
        .query("ipvs_destination_connections_total")
        .into_iter()
        .map(|(m, v)| {
            (
                format!(
                    "{}:{}",
                    m["server_address"].as_str().unwrap(),
                    m["server_port"].as_str().unwrap()
                ),
                v.parse().unwrap(),
            )
        })
        .collect();
    eprintln!("ipvsadm --stats --exact: {kernel:?}; prometheus: {scraped:?}");
    assert_eq!(scraped, kernel, "Prometheus's counters are ipvsadm's");
    assert_eq!(kernel.values().sum::<u64>(), 90);
    let node: u64 = prometheus.query("sum(node_ipvs_backend_weight)")[0]
        .1
        .parse()
        .unwrap();
    assert_eq!(node, 6, "node_exporter's names, same weights");
    // The run's own figures, scraped too: checks and reconcile rounds.
    let checks: f64 = prometheus
        .query("sum(ipvs_health_check_duration_seconds_count)")
        .first()
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0.0);
    assert!(checks >= 3.0, "{checks} checks scraped");
    let rounds: f64 = prometheus.query("ipvs_reconcile_runs_total")[0]
        .1
        .parse()
        .unwrap();
    assert!(rounds >= 1.0, "{rounds} reconcile rounds scraped");
    // The listing of this table, counters non-zero, against ipvsadm.
    let client = Client::builder()
        .netns(Netns::named(&lb.name).unwrap())
        .build()
        .unwrap();
    assert_same_listings(lb, &client, &all_views());
    eprintln!(
        "listings equal to ipvsadm's: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // promtool reads the run's exposition too.
    let exposition = curl(lb, &format!("http://{}/metrics", run.addr));
    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(exposition.as_bytes())?;
            c.wait_with_output()
        })
        .expect("promtool");
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    // Kill the second real server's httpd: its check fails, the run takes
    // it out, the metrics and the page say it is down.
    let killed = NatCluster::server(1);
    cluster.httpd[1] = None;
    let started = Instant::now();
    let down = format!("ipvs_health_up{{server=\"{killed}\",check=\"tcp\"}}");
    loop {
        let text = curl(lb, &format!("http://{}/metrics", run.addr));
        if series_value(&text, &down) == Some(0.0) {
            assert!(
                series_value(
                    &text,
                    &format!(
                        "ipvs_health_transitions_total{{server=\"{killed}\",check=\"tcp\",to=\"down\"}}"
                    )
                ) == Some(1.0),
                "{text}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{killed} not down in 30 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!(
        "{killed} down {:.1} s after its httpd was killed",
        started.elapsed().as_secs_f64()
    );
    let results = results_dir();
    let png = results.join("status-page.png");
    let profile = TempDir::new(&format!("{tag}-chromium"));
    let dom = chromium(lb, &format!("http://{}/", run.addr), &png, profile.path());
    std::fs::write(results.join("status-page.html"), &dom).unwrap();
    assert!(
        dom.contains("TCP  203.0.113.10:80 wrr"),
        "service missing:\n{dom}"
    );
    let row = |d: std::net::SocketAddr| {
        let rows: Vec<&str> = dom
            .split("<tr ")
            .filter(|r| r.contains(&format!("data-destination=\"{d}\"")))
            .collect();
        assert_eq!(rows.len(), 1, "{d}: {} rows:\n{dom}", rows.len());
        rows[0].to_owned()
    };
    let r = row(killed);
    assert!(
        r.contains("data-health=\"down\""),
        "the killed server is not down:\n{r}"
    );
    assert!(
        r.contains("tcp: refused") || r.contains("tcp: timeout"),
        "{r}"
    );
    for i in [0, 2] {
        let d = NatCluster::server(i);
        let r = row(d);
        assert!(r.contains("data-health=\"up\""), "{d} not up:\n{r}");
        assert!(r.contains("tcp: ok"), "{r}");
    }
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        png.display()
    );
    drop(prometheus);
    drop(run);
    let _ = &cluster.rs;
    eprintln!(
        "ipvsctl run --listen, Prometheus, Chromium: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
