//! What every kernel test shares: a fresh network namespace with a client in
//! it, ipvsadm and ip inside that namespace, and table comparisons.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use ipvs::client::{Client, ServiceEntry};
use ipvs::{Destination, Service};

/// The reason every kernel test gives for being ignored.
pub const IGNORE: &str = "needs a kernel with IPVS: run scripts/test-kernel";

static NEXT_NS: AtomicU32 = AtomicU32::new(0);

/// A network namespace of its own (`ip netns add ipvs-t-<pid>-<n>`) with a
/// client in it; deleted on drop, which also stops its sync daemons and
/// drops its IPVS table.
#[derive(Debug)]
pub struct TestNs {
    pub name: String,
    pub client: Client,
}

impl TestNs {
    pub fn new() -> TestNs {
        let name = format!(
            "ipvs-t-{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        run_ok("ip", &["netns", "add", &name]);
        // From here on the namespace is deleted even if opening the client fails.
        let guard = NsGuard(name.clone());
        run_ok("ip", &["-n", &name, "link", "set", "lo", "up"]);
        let client =
            Client::in_netns(&name).unwrap_or_else(|e| panic!("Client::in_netns({name}): {e}"));
        std::mem::forget(guard);
        TestNs { name, client }
    }

    /// Another client (another socket) in this namespace.
    pub fn new_client(&self) -> Client {
        Client::in_netns(&self.name).expect("second client")
    }

    /// `ip -n NAME ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all);
    }

    /// A dummy interface, up, in this namespace.
    pub fn add_dummy(&self, ifname: &str) {
        self.ip(&["link", "add", ifname, "type", "dummy"]);
        self.ip(&["link", "set", ifname, "up"]);
    }

    /// `ip netns exec NAME PROGRAM ARGS...`, whatever its outcome.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {program}: {e}"))
    }

    /// `ipvsadm ARGS...` in this namespace, which must succeed; its stdout.
    pub fn ipvsadm(&self, args: &[&str]) -> String {
        let out = self.exec("ipvsadm", args);
        check(&format!("ipvsadm {}", args.join(" ")), &out);
        String::from_utf8(out.stdout).expect("ipvsadm output is UTF-8")
    }

    /// `ipvsadm -R` in this namespace, fed `rules`.
    pub fn ipvsadm_restore(&self, rules: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "ipvsadm", "-R"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ipvsadm -R");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .expect("feed ipvsadm -R");
        let out = child.wait_with_output().expect("ipvsadm -R");
        check("ipvsadm -R", &out);
    }

    /// `ipvsadm -Sn` as sorted lines.
    pub fn ipvsadm_save(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .ipvsadm(&["-S", "-n"])
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    /// The whole table, normalised (see [`normalise`]).
    pub fn table(&self) -> Vec<(Service, Vec<Destination>)> {
        table_of(&self.client)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .output();
    }
}

struct NsGuard(String);

impl Drop for NsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a program, which must succeed; its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    check(&format!("{program} {}", args.join(" ")), &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the running kernel ships module `name` (`modinfo` finds it).
pub fn kernel_has_module(name: &str) -> bool {
    Command::new("modinfo")
        .args(["-n", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A socket address literal.
pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A table in a canonical form: configuration only (no stats, no
/// connection counts), services sorted by key, destinations by address.
pub fn normalise(entries: Vec<(Service, Vec<Destination>)>) -> Vec<(Service, Vec<Destination>)> {
    let mut t: Vec<_> = entries
        .into_iter()
        .map(|(s, ds)| {
            let mut ds: Vec<_> = ds.iter().map(Destination::config).collect();
            ds.sort_by_key(Destination::socket_addr);
            (s.config(), ds)
        })
        .collect();
    t.sort_by_key(|(s, _)| s.key);
    t
}

/// A client's whole table, normalised.
pub fn table_of(client: &Client) -> Vec<(Service, Vec<Destination>)> {
    let snapshot: Vec<ServiceEntry> = client.snapshot().expect("snapshot");
    normalise(
        snapshot
            .into_iter()
            .map(|e| (e.service, e.destinations))
            .collect(),
    )
}

/// Assert that `result` is an error matching `pattern` whose errno is `errno`.
#[macro_export]
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?, $errno:expr) => {{
        match $result {
            Ok(v) => panic!("{}: expected an error, got Ok({v:?})", stringify!($result)),
            Err(e) => {
                assert!(
                    matches!(&e, $pattern $(if $guard)?),
                    "{}: expected {}, got {e:?} ({e})",
                    stringify!($result),
                    stringify!($pattern)
                );
                assert_eq!(e.errno(), $errno, "errno of {e:?}");
                e
            }
        }
    }};
}
