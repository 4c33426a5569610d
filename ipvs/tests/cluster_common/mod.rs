//! Scaffolding for the cluster tests: namespaces, daemons, curl, and an
//! outside view (through `ip` and `/proc`) of what a host looks like.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A unique prefix for this test's namespaces.
pub fn tag(name: &str) -> String {
    format!("{name}{}", std::process::id() % 100_000)
}

/// Run a shell command; panic with its output when it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `ip` commands that link real server namespace `r` to the router
/// namespace `l` by a veth pair (`eth0` in `r`, `rs{i}` in `l`) on the /30
/// of 198.51.100.0/24 at `net`: the router is `.net+1`, the real server
/// `.net+2` with its default route through the router.
pub fn link_real_server(l: &str, r: &str, i: usize, net: usize) -> Vec<String> {
    vec![
        format!("ip -n {r} link add eth0 type veth peer name rs{i} netns {l}"),
        format!(
            "ip -n {r} addr add 198.51.100.{}/30 dev eth0; ip -n {r} link set eth0 up",
            net + 2
        ),
        format!("ip -n {r} route add default via 198.51.100.{}", net + 1),
        format!(
            "ip -n {l} addr add 198.51.100.{}/30 dev rs{i}; ip -n {l} link set rs{i} up",
            net + 1
        ),
    ]
}

/// Whether a shell command succeeds.
pub fn sh_ok(cmd: &str) -> bool {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace made with `ip netns add`, deleted on drop.
///
/// Commands run in it through `nsenter --net` (no new mount namespace, no
/// shell unless asked): under emulation every process costs.
#[derive(Debug)]
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new(name: &str) -> Ns {
        sh(&format!(
            "ip netns del {name} 2>/dev/null; ip netns add {name} && ip -n {name} link set lo up"
        ));
        Ns {
            name: name.to_owned(),
        }
    }

    /// `nsenter --net=/run/netns/NAME`, for a command line of your own.
    pub fn enter(&self) -> String {
        format!("nsenter --net=/run/netns/{}", self.name)
    }

    /// Run a shell command inside the namespace.
    pub fn run(&self, cmd: &str) -> String {
        sh(&format!("{} bash -c {}", self.enter(), quote(cmd)))
    }

    pub fn ok(&self, cmd: &str) -> bool {
        sh_ok(&format!("{} bash -c {}", self.enter(), quote(cmd)))
    }

    /// A sysctl's value inside the namespace, read by `cat`.
    pub fn sysctl(&self, path: &str) -> String {
        sh(&format!(
            "{} cat /proc/sys/{}",
            self.enter(),
            path.replace('.', "/")
        ))
        .trim()
        .to_owned()
    }

    pub fn set_sysctl(&self, path: &str, value: &str) {
        self.run(&format!(
            "echo {value} > /proc/sys/{}",
            path.replace('.', "/")
        ));
    }

    /// Start a long-running program inside the namespace.
    pub fn spawn(&self, argv: &[&str]) -> Daemon {
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.name))
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        Daemon(child)
    }

    /// Wait until something listens on `port` in the namespace.
    pub fn wait_listening(&self, port: u16) {
        let ns = ipvs::client::Netns::named(&self.name).unwrap();
        wait_for(|| {
            ipvs::client::within_netns(&ns, || {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_secs(1),
                )
            })
            .is_ok()
        });
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh_ok(&format!("ip netns del {}", self.name));
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A process this test started, killed on drop.
#[derive(Debug)]
pub struct Daemon(Child);

impl Daemon {
    /// Own a child started elsewhere (killed and reaped on drop).
    pub fn from_child(child: Child) -> Daemon {
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ipvs-cluster-{tag}"));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Poll until `f` holds (10 s at most).
pub fn wait_for(mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` sequential fetches of `url` by curl in `ns`, each on a new
/// connection (`Connection: close`); one body per line.
pub fn curl_raw(ns: &Ns, url: &str, n: usize, timeout_s: u32) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", ns.name))
        .args(["curl", "-s", "--connect-timeout", &timeout_s.to_string()])
        .args(["--max-time", &(timeout_s * 2).to_string()])
        .args(["-H", "Connection: close", "-w", "\\n"])
        .args(vec![url; n])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many of `n` fetches each body answered.
pub fn curl_count(ns: &Ns, url: &str, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in curl_raw(ns, url, n, 5).lines() {
        let line = line.trim();
        if !line.is_empty() {
            *counts.entry(line.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// The MAC address of an interface in `ns`.
pub fn mac_of(ns: &Ns, ifname: &str) -> String {
    let out = sh(&format!("ip -n {} -o link show {ifname}", ns.name));
    let mac = out
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    mac.expect("an ethernet address").to_owned()
}

/// What a setup could have changed on a host, seen from outside the
/// library: IPv4 addresses, routes of every table, links and their flags,
/// FOU ports, and the forwarding, ARP and rp_filter sysctls of every
/// interface.
pub fn host_state(ns: &Ns) -> String {
    host_states(&[ns]).remove(&ns.name).unwrap_or_default()
}

/// [`host_state`] of several namespaces, in one shell.
pub fn host_states(nss: &[&Ns]) -> BTreeMap<String, String> {
    // The qdisc is left out: the kernel gives a link one the first time it goes up.
    let mut script = String::new();
    for ns in nss {
        let n = &ns.name;
        script.push_str(&format!(
            "echo '@@ {n}'; echo '# addresses'; ip -n {n} -4 -o addr show | sed 's/\\\\.*//'; \
             echo '# routes'; ip -n {n} -4 route show table all; \
             echo '# links'; ip -n {n} -o link show | sed 's/ link\\/.*//; s/ qdisc [^ ]*//'; \
             echo '# fou'; ip -n {n} fou show 2>/dev/null; \
             echo '# sysctls'; nsenter --net=/run/netns/{n} grep -r . /proc/sys/net/ipv4/ip_forward \
                 /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce \
                 /proc/sys/net/ipv4/conf/*/rp_filter;\n"
        ));
    }
    let out = sh(&script);
    let mut map = BTreeMap::new();
    for chunk in out.split("@@ ").skip(1) {
        let (name, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
        map.insert(name.trim().to_owned(), rest.to_owned());
    }
    map
}

pub fn assert_snapshots_equal(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) {
    for (k, b) in before {
        let a = after.get(k).map(String::as_str).unwrap_or("");
        if a != b {
            let diff: Vec<String> = b
                .lines()
                .filter(|l| !a.lines().any(|x| x == *l))
                .map(|l| format!("- {l}"))
                .chain(
                    a.lines()
                        .filter(|l| !b.lines().any(|x| x == *l))
                        .map(|l| format!("+ {l}")),
                )
                .collect();
            panic!("{k} differs after teardown:\n{}", diff.join("\n"));
        }
    }
}

/// The journal files in `dir`.
pub fn journal_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}
