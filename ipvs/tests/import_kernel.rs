//! The strongest check of the keepalived.conf loader: Debian's keepalived
//! itself (`keepalived --check --dont-fork`, checkers only) runs each file
//! of `tests/data/import/keepalived/guest/` in a director namespace, with
//! busybox httpd answering its checks from a real-server namespace; once
//! the table settles, `ipvsadm -Sn` must be exactly the rules our loader
//! gives for the same file, and the table read back through the library
//! must hold the same settings (thresholds, tunnels and timeouts included,
//! which `-Sn` omits).
//!
//! The same for Piranha's test files (`tests/data/import/piranha/`), through
//! the keepalived.conf our writer makes of them: keepalived must make the
//! table the lvs.cf loader reads.
//!
//! Every test is ignored on the host: run them in the guest
//! (`scripts/test-kernel --suite import_kernel`). Documentation addresses
//! only, all inside the guest's namespaces.
#![cfg(feature = "import")]

mod cluster_common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster_common::{Daemon, Ns, TempDir};
use ipvs::Timeouts;
use ipvs::client::Client;
use ipvs::import::{self, Format};
use ipvs::rules::{self, Rule};
use ipvs::state::State;

/// How long keepalived gets to make the tables: eight keepalived starting
/// at once under emulation took 13 to 30 s to settle.
const SETTLE: Duration = Duration::from_secs(90);

fn guest_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import/keepalived/guest")
        .join(name)
}

/// keepalived, killed (its whole process group) when dropped.
struct Keepalived {
    child: Child,
    log: PathBuf,
}

impl Keepalived {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        // The whole group (keepalived and its checker child) at once: the
        // namespaces, and with them the tables, are deleted next.
        // SAFETY: kill(2) on the process group this test created (it may
        // already be gone: ESRCH).
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The rules `ipvsadm -Sn` prints for `state` (no timeouts, no thresholds).
fn ipvsadm_rules(state: &State) -> String {
    let rules: Vec<Rule> = state
        .to_rules()
        .into_iter()
        .filter(|r| !matches!(r, Rule::SetTimeouts { .. }))
        .collect();
    rules::write(&rules)
}

/// One file under test: its namespaces, its keepalived, what we expect.
/// Fields drop in order: keepalived and httpd first.
struct Case {
    keepalived: Option<Keepalived>,
    httpd: Option<Daemon>,
    tmp: TempDir,
    file: PathBuf,
    name: String,
    /// The director's namespace (keepalived, the table).
    dir: String,
    /// The real servers' namespace, for files whose checkers need answers.
    srv: Option<String>,
    expected_rules: String,
    loaded: State,
    settled: Option<Duration>,
}

/// Whether keepalived checks the real servers over the network
/// (TCP_CHECK, HTTP_GET): then busybox httpd answers on port 80 of every
/// real-server address; otherwise a dummy link gives the routes the
/// kernel needs for destinations.
fn needs_servers(text: &str) -> bool {
    text.contains("TCP_CHECK") || text.contains("HTTP_GET")
}

/// `ip [-n NS] -batch -` fed `lines`: one process for many commands
/// (under emulation every process costs).
fn ip_batch(netns: Option<&str>, lines: &[String]) {
    use std::io::Write;
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ip");
    let input = lines.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ip -batch failed:\n{input}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces when the test ends, however it ends.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let lines: Vec<String> = self.0.iter().map(|n| format!("netns del {n}")).collect();
        let _ = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all((lines.join("\n") + "\n").as_bytes())?;
                c.wait()
            });
    }
}

fn prepare(file: &Path, n: usize) -> Case {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let loaded = import::load(file, Format::Keepalived)
        .unwrap_or_else(|e| panic!("{name}: our loader: {e}"))
        .state;
    assert!(
        !loaded.services.is_empty(),
        "{name}: an empty table proves nothing"
    );
    let text = std::fs::read_to_string(file).unwrap();
    let tag = format!("{n}x{}", std::process::id() % 100_000);
    Case {
        keepalived: None,
        httpd: None,
        tmp: TempDir::new(&format!("ka-{tag}")),
        file: file.to_owned(),
        name,
        dir: format!("kd{tag}"),
        srv: needs_servers(&text).then(|| format!("ks{tag}")),
        expected_rules: ipvsadm_rules(&loaded),
        loaded,
        settled: None,
    }
}

/// The links and addresses of every case, in three kinds of batches.
fn build_network(cases: &[Case]) {
    let mut root = Vec::new();
    for c in cases {
        root.push(format!("netns add {}", c.dir));
        match &c.srv {
            Some(srv) => {
                root.push(format!("netns add {srv}"));
                root.push(format!(
                    "link add d0 netns {} type veth peer name s0 netns {srv}",
                    c.dir
                ));
            }
            None => root.push(format!("link add d0 netns {} type dummy", c.dir)),
        }
    }
    ip_batch(None, &root);
    for c in cases {
        ip_batch(
            Some(&c.dir),
            &[
                "link set lo up".into(),
                "addr add 203.0.113.254/24 dev d0".into(),
                "addr add 2001:db8:ffff::1/64 dev d0 nodad".into(),
                "link set d0 up".into(),
                "route add 198.51.100.0/24 dev d0".into(),
                "route add 2001:db8:1::/64 dev d0".into(),
            ],
        );
        if let Some(srv) = &c.srv {
            let mut lines: Vec<String> = vec![
                "link set lo up".into(),
                "addr add 203.0.113.253/24 dev s0".into(),
                "link set s0 up".into(),
                "route add default via 203.0.113.254".into(),
            ];
            let addrs: BTreeSet<IpAddr> = c
                .loaded
                .services
                .iter()
                .flat_map(|s| s.destinations.iter().map(|d| d.address))
                .collect();
            for a in addrs {
                let plen = if a.is_ipv4() { 32 } else { 128 };
                lines.push(format!("addr add {a}/{plen} dev s0 nodad"));
            }
            ip_batch(Some(srv), &lines);
        }
    }
}

/// busybox httpd for the checks, and keepalived on the file.
fn start(c: &mut Case) {
    if let Some(srv) = &c.srv {
        let www = c.tmp.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), "ok\n").unwrap();
        let ns = Ns { name: srv.clone() };
        c.httpd = Some(ns.spawn(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            www.to_str().unwrap(),
        ]));
        ns.wait_listening(80);
        // Not ours to delete: `Namespaces` does.
        std::mem::forget(ns);
    }
    let log = c.tmp.path().join("keepalived.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let child = {
        use std::os::unix::process::CommandExt;
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", c.dir))
            .arg("keepalived")
            .args(["--check", "--dont-fork", "--log-console", "--log-detail"])
            .arg("--use-file")
            .arg(&c.file)
            .arg(format!("--pid={}", c.tmp.path().join("k.pid").display()))
            .arg(format!(
                "--checkers_pid={}",
                c.tmp.path().join("c.pid").display()
            ))
            .arg(format!(
                "--vrrp_pid={}",
                c.tmp.path().join("v.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .process_group(0)
            .spawn()
            .expect("start keepalived (scripts/guest setup installs it)")
    };
    c.keepalived = Some(Keepalived { child, log });
}

/// Every keepalived.conf of the guest directory, each run by keepalived in
/// namespaces of its own, all at once; each table must settle on ours.
#[test]
#[ignore = "needs root, a kernel with IPVS, keepalived and busybox: scripts/test-kernel --suite import_kernel"]
fn keepalived_makes_the_tables_our_loader_reads() {
    let t0 = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(guest_file(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{} files", files.len());
    // Piranha's files too, as the keepalived.conf our writer makes of them:
    // keepalived must make the table the lvs.cf loader reads.
    let written = TempDir::new(&format!("ka-written-{}", std::process::id()));
    let piranha = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/piranha");
    let mut lvs_cf: Vec<PathBuf> = std::fs::read_dir(&piranha)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cf"))
        .collect();
    lvs_cf.sort();
    for cf in lvs_cf {
        let state = import::load(&cf, Format::Piranha).unwrap().state;
        let out = written.path().join(format!(
            "piranha-{}.keepalived.conf",
            cf.file_stem().unwrap().to_string_lossy()
        ));
        std::fs::write(&out, import::keepalived::write(&state).unwrap()).unwrap();
        assert_eq!(
            import::load(&out, Format::Keepalived)
                .unwrap()
                .state
                .config(),
            state.config()
        );
        files.push(out);
    }
    let mut cases: Vec<Case> = files
        .iter()
        .enumerate()
        .map(|(i, f)| prepare(f, i))
        .collect();
    let _namespaces = Namespaces(
        cases
            .iter()
            .flat_map(|c| std::iter::once(c.dir.clone()).chain(c.srv.clone()))
            .collect(),
    );
    build_network(&cases);
    for c in &mut cases {
        start(c);
    }
    let clients: Vec<Client> = cases
        .iter()
        .map(|c| Client::in_netns(&c.dir).unwrap())
        .collect();
    eprintln!(
        "import_kernel: {} namespaces set up and keepalived started in {:.1} s",
        cases.len(),
        t0.elapsed().as_secs_f64()
    );

    // Poll every table through the library (no process to start) until
    // each holds our settings, or time runs out.
    let start_wait = Instant::now();
    while start_wait.elapsed() < SETTLE && cases.iter().any(|c| c.settled.is_none()) {
        for (c, client) in cases.iter_mut().zip(&clients) {
            if c.settled.is_some() {
                continue;
            }
            let k = c.keepalived.as_mut().unwrap();
            if let Ok(Some(status)) = k.child.try_wait() {
                panic!("{}: keepalived exited ({status}):\n{}", c.name, k.log());
            }
            if State::read(client).is_ok_and(|k| k.config_eq(&c.loaded)) {
                c.settled = Some(start_wait.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // It stays so (no transient match while keepalived is still adding).
    std::thread::sleep(Duration::from_secs(2));

    let mut failures = Vec::new();
    for (c, client) in cases.iter().zip(&clients) {
        // What ipvsadm itself prints, byte for byte (nsenter execs it: one
        // process).
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", c.dir))
            .args(["ipvsadm", "-Sn"])
            .output()
            .expect("run ipvsadm");
        assert!(out.status.success(), "{}: ipvsadm -Sn failed", c.name);
        let actual = String::from_utf8_lossy(&out.stdout).into_owned();
        let kernel = State::read(client).unwrap();
        if actual != c.expected_rules || !kernel.config_eq(&c.loaded) {
            failures.push(format!(
                "{}: the kernel's table (made by keepalived) is not our loader's.\n\
                 --- ours\n{}--- keepalived (ipvsadm -Sn)\n{}--- ours, complete\n{}--- kernel, complete\n{}\
                 --- keepalived's log\n{}",
                c.name,
                c.expected_rules,
                actual,
                c.loaded.to_rules_text(),
                kernel.config().to_rules_text(),
                c.keepalived.as_ref().unwrap().log()
            ));
            continue;
        }
        // The file's timeouts, or the kernel's defaults where it sets none.
        let t = c.loaded.timeouts.unwrap_or(Timeouts::UNCHANGED);
        let pick = |v: u32, d: u32| if v == 0 { d } else { v };
        let want = Timeouts {
            tcp: pick(t.tcp, 900),
            tcp_fin: pick(t.tcp_fin, 120),
            udp: pick(t.udp, 300),
        };
        if kernel.timeouts != Some(want) {
            failures.push(format!(
                "{}: timeouts {:?}, expected {want:?}",
                c.name, kernel.timeouts
            ));
            continue;
        }
        eprintln!(
            "import_kernel: {}: equal ({} services, {} destinations; settled {:.1} s after start)",
            c.name,
            c.loaded.services.len(),
            c.loaded.dest_count(),
            c.settled.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN)
        );
    }
    let n = cases.len();
    drop(clients);
    drop(cases);
    eprintln!(
        "import_kernel: {} of {n} files equal; {:.1} s in all",
        n - failures.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
