//! End-to-end tests of `ipvs::cluster` in a kernel with IPVS: a client, a
//! director and three real servers in network namespaces, busybox httpd on
//! the real servers, curl on the client, for NAT, DR, and TUN (IPIP, GUE).
//!
//! Every test is ignored on a normal run; in the guest:
//! ```text
//! cargo test -p ipvs-netlink --features cluster --test cluster_e2e --no-run
//! scripts/guest run -- target/debug/deps/cluster_e2e-<hash> --ignored --test-threads=1
//! ```
//! The tests build their topology with `ip` (that is scaffolding, and an
//! independent view for the checks); everything under test goes through
//! the library. Only documentation address ranges are used.
#![cfg(feature = "cluster")]

mod cluster_common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use cluster_common::*;
use ipvs::client::{Client, Netns};
use ipvs::cluster::{BalanceReport, DirectorSetup, RealServerSetup, Reason, TunnelMode};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey, Tunnel, TunnelChecksum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Nat,
    Dr,
    Ipip,
    Gue,
}

const GUE_PORT: u16 = 6080;

impl Mode {
    fn forward(self) -> ForwardMethod {
        match self {
            Mode::Nat => ForwardMethod::Masquerade,
            Mode::Dr => ForwardMethod::DirectRoute,
            Mode::Ipip => ForwardMethod::Tunnel(Tunnel::Ipip),
            Mode::Gue => ForwardMethod::Tunnel(Tunnel::Gue {
                port: GUE_PORT,
                checksum: TunnelChecksum::None,
            }),
        }
    }
}

/// Client, director, three real servers (and, for DR and TUN, a switch).
struct Cluster {
    mode: Mode,
    cl: Ns,
    lb: Ns,
    rs: Vec<Ns>,
    _sw: Option<Ns>,
    vip: IpAddr,
    lb_if: &'static str,
    rs_addrs: Vec<IpAddr>,
    _httpd: Vec<Daemon>,
    dir: TempDir,
}

impl Cluster {
    fn build(tag: &str, mode: Mode) -> Cluster {
        let t0 = std::time::Instant::now();
        let dir = TempDir::new(tag);
        let cl = Ns::new(&format!("{tag}-cl"));
        let lb = Ns::new(&format!("{tag}-lb"));
        let rs: Vec<Ns> = (1..=3).map(|i| Ns::new(&format!("{tag}-rs{i}"))).collect();
        let mut rs_addrs = Vec::new();
        // The cables, in one shell: under emulation every process counts.
        let mut script = vec!["set -e".to_owned()];
        let (c, l) = (&cl.name, &lb.name);
        // Direct routing and tunnels: the director sees only the client's
        // half, so a finished connection stays in FIN_WAIT for two minutes;
        // a client port used again meanwhile would ride that old entry (to
        // its old server, not counted as a new connection). Bit 2 of
        // conn_reuse_mode schedules such a SYN anew, as a production
        // director of this kind should.
        script.push(format!(
            "ip netns exec {l} sysctl -qw net.ipv4.vs.conn_reuse_mode=3"
        ));
        let (sw, vip, lb_if) = match mode {
            Mode::Nat => {
                // Client and VIP on 203.0.113.0/24; each real server on a
                // /30 of its own behind the director, routing back through it.
                script.push(format!(
                    "ip -n {c} link add eth0 type veth peer name cl0 netns {l}"
                ));
                script.push(format!(
                    "ip -n {c} addr add 203.0.113.2/24 dev eth0; ip -n {c} link set eth0 up"
                ));
                script.push(format!(
                    "ip -n {l} addr add 203.0.113.1/24 dev cl0; ip -n {l} link set cl0 up"
                ));
                for (i, r) in rs.iter().enumerate() {
                    let (r, net) = (&r.name, 4 * (i + 1));
                    script.extend(link_real_server(l, r, i, net));
                    rs_addrs.push(format!("198.51.100.{}", net + 2).parse().unwrap());
                }
                (None, "203.0.113.10".parse().unwrap(), "cl0")
            }
            _ => {
                // One bridge; the VIP inside the hosts' subnet, so the client
                // ARPs for it and only the director may answer.
                let sw = Ns::new(&format!("{tag}-sw"));
                let w = &sw.name;
                script.push(format!(
                    "ip -n {w} link add br0 type bridge; ip -n {w} link set br0 up"
                ));
                let hosts: Vec<(&Ns, u8)> = [(&cl, 2u8), (&lb, 1)]
                    .into_iter()
                    .chain(rs.iter().zip([11u8, 12, 13]))
                    .collect();
                for (n, (host, last)) in hosts.into_iter().enumerate() {
                    let h = &host.name;
                    script.push(format!(
                        "ip -n {h} link add eth0 type veth peer name p{n} netns {w}"
                    ));
                    script.push(format!(
                        "ip -n {w} link set p{n} master br0; ip -n {w} link set p{n} up"
                    ));
                    script.push(format!(
                        "ip -n {h} addr add 198.51.100.{last}/24 dev eth0; ip -n {h} link set eth0 up"
                    ));
                    if last > 10 {
                        rs_addrs.push(format!("198.51.100.{last}").parse().unwrap());
                    }
                }
                (Some(sw), "198.51.100.100".parse().unwrap(), "eth0")
            }
        };
        // Values that differ from the kernel's defaults, so a teardown that
        // writes 0 instead of restoring them would show.
        for r in &rs {
            script.push(format!(
                "{} sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_announce; \
                 echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore'",
                r.enter()
            ));
        }
        script.push(format!(
            "{} sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'",
            lb.enter()
        ));
        sh(&script.join("\n"));
        let mut httpd = Vec::new();
        for (i, r) in rs.iter().enumerate() {
            let www = dir.path().join(format!("www{}", i + 1));
            std::fs::create_dir_all(&www).unwrap();
            std::fs::write(www.join("index.html"), format!("rs{}", i + 1)).unwrap();
            httpd.push(r.spawn(&[
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                www.to_str().unwrap(),
            ]));
        }
        for r in &rs {
            r.wait_listening(80);
        }
        eprintln!(
            "{mode:?}: topology built in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        Cluster {
            mode,
            cl,
            lb,
            rs,
            _sw: sw,
            vip,
            lb_if,
            rs_addrs,
            _httpd: httpd,
            dir,
        }
    }

    fn key(&self) -> ServiceKey {
        ServiceKey::tcp(SocketAddr::new(self.vip, 80))
    }

    fn dest_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.rs_addrs[i], 80)
    }

    fn journal(&self) -> std::path::PathBuf {
        self.dir.path().join("journal")
    }

    fn director(&self, weights: [u32; 3]) -> DirectorSetup {
        let mut d = DirectorSetup::new(self.vip, self.lb_if)
            .netns(Netns::named(&self.lb.name).unwrap())
            .journal_dir(self.journal())
            .service(
                Service::new(self.key(), Scheduler::WeightedRoundRobin),
                (0..3).map(|i| {
                    Destination::new(self.dest_addr(i))
                        .with_forward(self.mode.forward())
                        .with_weight(weights[i])
                }),
            );
        if self.mode == Mode::Nat {
            d = d.nat();
        }
        d
    }

    fn real_servers(&self) -> Vec<RealServerSetup> {
        let tunnel = match self.mode {
            Mode::Nat => return Vec::new(),
            Mode::Dr => None,
            Mode::Ipip => Some(TunnelMode::Ipip),
            Mode::Gue => Some(TunnelMode::Gue { port: GUE_PORT }),
        };
        self.rs
            .iter()
            .map(|r| {
                let s = match tunnel {
                    None => RealServerSetup::dr(self.vip),
                    Some(t) => RealServerSetup::tun(self.vip, t),
                };
                s.netns(Netns::named(&r.name).unwrap())
                    .journal_dir(self.journal())
            })
            .collect()
    }

    fn client(&self) -> Client {
        Client::in_netns(&self.lb.name).expect("IPVS client in the director's namespace")
    }

    /// `n` HTTP requests, each on a new connection; which server answered how often.
    fn fetch(&self, n: usize) -> BTreeMap<String, usize> {
        let counts = curl_count(&self.cl, &format!("http://{}/", self.vip), n);
        let total: usize = counts.values().sum();
        assert_eq!(total, n, "every request answered: {counts:?}");
        counts
    }

    /// The same host's view from outside the library: addresses, routes,
    /// links, fou ports and the sysctls any setup touches.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let all: Vec<&Ns> = [&self.cl, &self.lb]
            .into_iter()
            .chain(self.rs.iter())
            .collect();
        host_states(&all)
    }

    fn served(&self, counts: &BTreeMap<String, usize>, i: usize) -> usize {
        counts.get(&format!("rs{}", i + 1)).copied().unwrap_or(0)
    }
}

fn weights_split(c: &Cluster, counts: &BTreeMap<String, usize>) -> [usize; 3] {
    [
        c.served(counts, 0),
        c.served(counts, 1),
        c.served(counts, 2),
    ]
}

/// The destinations once the kernel's counters show `n` more connections
/// than `before`: it sums its per-CPU counters every 2 s (the estimator),
/// so a dump right after the traffic can be short. `lb` names the
/// director's namespace, for the diagnostics.
fn settled(
    ipvs: &Client,
    lb: &str,
    key: &ServiceKey,
    before: &[Destination],
    n: u64,
) -> Vec<Destination> {
    let svc = ipvs.service(key).unwrap();
    let start = std::time::Instant::now();
    loop {
        let now = ipvs.destinations(key).unwrap();
        let seen = BalanceReport::between(&svc, before, &now).total_connections;
        if seen >= n || start.elapsed() > std::time::Duration::from_secs(30) {
            if seen != n {
                eprintln!(
                    "kernel counted {seen} of {n} connections after {:?}:\n{}\n{}",
                    start.elapsed(),
                    sh(&format!(
                        "nsenter --net=/run/netns/{lb} ipvsadm -Ln --stats"
                    )),
                    sh(&format!("nsenter --net=/run/netns/{lb} ipvsadm -Lnc"))
                );
            }
            assert_eq!(seen, n, "connections counted by the kernel");
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The whole story for one forwarding method; prints what it saw.
fn scenario(tag: &str, mode: Mode) {
    let t0 = std::time::Instant::now();
    let c = Cluster::build(tag, mode);
    let before = c.snapshot();

    // Real servers first (their ARP settings before anybody has the VIP),
    // then the director with its services.
    for rs in c.real_servers() {
        let done = rs.apply().expect("real server apply");
        eprintln!("{done}");
        assert!(
            rs.status().unwrap().is_complete(),
            "{}",
            rs.status().unwrap()
        );
        assert!(
            rs.apply().unwrap().is_noop(),
            "a second apply changes nothing"
        );
    }
    let director = c.director([1, 2, 3]);
    eprintln!("{}", director.apply().expect("director apply"));
    let status = director.status().unwrap();
    eprintln!("{status}");
    assert!(status.is_complete(), "{status}");
    assert!(
        director.apply().unwrap().is_noop(),
        "a second director apply changes nothing"
    );

    let ipvs = c.client();
    let key = c.key();
    let svc = || ipvs.service(&key).unwrap();
    let mut d0 = ipvs.destinations(&key).unwrap();
    let mut round = |what: &str, n: usize, expect: [usize; 3]| -> BalanceReport {
        let counts = c.fetch(n);
        let split = weights_split(&c, &counts);
        eprintln!(
            "{mode:?} {what}, {n} requests: rs1 {} rs2 {} rs3 {}",
            split[0], split[1], split[2]
        );
        assert_eq!(split, expect, "{what}");
        let d1 = settled(&ipvs, &c.lb.name, &key, &d0, n as u64);
        let report = BalanceReport::between(&svc(), &d0, &d1);
        eprintln!("{report}");
        d0 = d1;
        report
    };

    // 1. wrr 1:2:3: exactly 10:20:30, and the kernel's counters agree.
    let report = round("wrr 1:2:3", 60, [10, 20, 30]);
    assert!(report.balanced, "{report}");
    let per_dest: Vec<u64> = (0..3)
        .map(|i| report.destination(c.dest_addr(i)).unwrap().connections)
        .collect();
    assert_eq!(
        per_dest,
        [10, 20, 30],
        "the kernel's counters agree with the HTTP answers"
    );
    if mode != Mode::Nat {
        // Only the director answered ARP for the VIP.
        let lb_mac = mac_of(&c.lb, "eth0");
        let neigh = sh(&format!("ip -n {} neigh show {}", c.cl.name, c.vip));
        eprintln!("client's neighbour entry for the VIP: {}", neigh.trim());
        assert!(
            neigh.contains(&lb_mac),
            "the VIP resolves to the director ({lb_mac}): {neigh}"
        );
    }

    // 2. rr, same weights: an even split, and the report says rr ignores weights.
    ipvs.update_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let report = round("rr (weights 1:2:3)", 30, [10, 10, 10]);
    assert!(report.balanced, "{report}");
    assert!(
        report.has_reason(|r| matches!(r, Reason::SchedulerIgnoresWeights { .. })),
        "{report}"
    );
    ipvs.update_service(&Service::new(key, Scheduler::WeightedRoundRobin))
        .unwrap();

    // 3. Weight 0 on rs2: no new connections for it.
    let rs2 = Destination::new(c.dest_addr(1))
        .with_forward(mode.forward())
        .with_weight(0);
    ipvs.update_destination(&key, &rs2).unwrap();
    let report = round("wrr 1:0:3", 20, [5, 0, 15]);
    assert!(report.balanced, "{report}");
    assert_eq!(report.destination(c.dest_addr(1)).unwrap().connections, 0);
    ipvs.update_destination(&key, &rs2.clone().with_weight(2))
        .unwrap();

    // 4. rs3 deleted: it stops getting traffic.
    ipvs.delete_destination(&key, c.dest_addr(2)).unwrap();
    let report = round("wrr 1:2 after deleting rs3", 15, [5, 10, 0]);
    assert!(report.destination(c.dest_addr(2)).is_none());
    let rs3 = Destination::new(c.dest_addr(2))
        .with_forward(mode.forward())
        .with_weight(3);
    ipvs.add_destination(&key, &rs3).unwrap();
    // Re-added within two minutes, it comes back from the kernel's trash with its counters.
    let mut d0 = ipvs.destinations(&key).unwrap();

    // 5. Persistence: one client stays on one server, and the report says why.
    ipvs.update_service(&Service::new(key, Scheduler::WeightedRoundRobin).with_persistence(300))
        .unwrap();
    let counts = c.fetch(20);
    eprintln!("{mode:?} wrr 1:2:3 persistent 300 s, 20 requests from one client: {counts:?}");
    assert_eq!(
        counts.len(),
        1,
        "one server answered everything: {counts:?}"
    );
    let d1 = settled(&ipvs, &c.lb.name, &key, &d0, 20);
    let report = BalanceReport::between(&svc(), &d0, &d1);
    eprintln!("{report}");
    d0 = d1;
    let _ = &d0;
    assert!(!report.balanced, "{report}");
    let pinned = report
        .destinations
        .iter()
        .find(|d| d.connections == 20)
        .expect("one destination took all");
    assert_eq!(pinned.templates, 1, "one persistence template: {report}");
    assert!(
        pinned.reasons.iter().any(|r| matches!(
            r,
            Reason::Persistence {
                timeout: 300,
                templates: 1
            }
        )),
        "{report}"
    );
    // Put the service back as the setup had it.
    ipvs.update_service(&Service::new(key, Scheduler::WeightedRoundRobin))
        .unwrap();
    drop(ipvs);

    // 6. Teardown: the director first (the VIP goes, so clients cannot
    // reach it), then the real servers; nothing is left anywhere.
    let down = director.teardown().expect("director teardown");
    eprintln!("{down}");
    assert!(
        !sh(&format!("ip -n {} -o addr show", c.lb.name)).contains(&c.vip.to_string()),
        "VIP released"
    );
    assert!(
        c.client().services().unwrap().is_empty(),
        "IPVS service removed"
    );
    sh(&format!("ip -n {} neigh flush all", c.cl.name));
    let fail = curl_raw(&c.cl, &format!("http://{}/", c.vip), 1, 2);
    assert!(
        fail.trim().is_empty(),
        "nothing answers on the VIP after teardown: {fail:?}"
    );
    for rs in c.real_servers() {
        eprintln!("{}", rs.teardown().expect("real server teardown"));
        let st = rs.status().unwrap();
        assert!(st.nothing_recorded(), "{st}");
    }
    let after = c.snapshot();
    assert_snapshots_equal(&before, &after);
    assert!(
        journal_files(&c.journal()).is_empty(),
        "journals emptied: {:?}",
        journal_files(&c.journal())
    );
    eprintln!(
        "{mode:?}: scenario done in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn nat_cluster() {
    scenario(&tag("nat"), Mode::Nat);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn dr_cluster() {
    scenario(&tag("dr"), Mode::Dr);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn tun_ipip_cluster() {
    scenario(&tag("ipip"), Mode::Ipip);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn tun_gue_cluster() {
    if !std::path::Path::new("/sys/module/fou").exists() && !sh_ok("modprobe fou") {
        eprintln!("SKIP: no fou module for GUE in this kernel");
        return;
    }
    scenario(&tag("gue"), Mode::Gue);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn director_teardown_releases_the_vip_without_services() {
    // The piranha case: stop the balancer, the VIP must go with it.
    let t = tag("vip");
    let dir = TempDir::new(&t);
    let cl = Ns::new(&format!("{t}-cl"));
    let lb = Ns::new(&format!("{t}-lb"));
    let (c, l) = (&cl.name, &lb.name);
    sh(&format!(
        "set -e; ip -n {c} link add eth0 type veth peer name eth0 netns {l}
         ip -n {c} addr add 203.0.113.2/24 dev eth0; ip -n {c} link set eth0 up
         ip -n {l} addr add 203.0.113.1/24 dev eth0; ip -n {l} link set eth0 up"
    ));
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "director").unwrap();
    let _httpd = lb.spawn(&[
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        www.to_str().unwrap(),
    ]);
    lb.wait_listening(80);
    let before = host_state(&lb);
    let setup = DirectorSetup::new("203.0.113.10".parse().unwrap(), "eth0")
        .netns(Netns::named(&lb.name).unwrap())
        .journal_dir(dir.path().join("journal"));
    setup.apply().unwrap();
    assert_eq!(
        curl_count(&cl, "http://203.0.113.10/", 3).get("director"),
        Some(&3)
    );
    setup.teardown().unwrap();
    assert!(!sh(&format!("ip -n {l} -o addr show")).contains("203.0.113.10"));
    // The client's ARP entry for the VIP may live on; flush it as a client would after its timeout.
    sh(&format!("ip -n {c} neigh flush all"));
    assert!(
        curl_raw(&cl, "http://203.0.113.10/", 1, 2)
            .trim()
            .is_empty(),
        "VIP unreachable"
    );
    assert_snapshots_equal(
        &BTreeMap::from([("lb".to_string(), before)]),
        &BTreeMap::from([("lb".to_string(), host_state(&lb))]),
    );
}

// ---------------------------------------------------------------------------
// The real-server setup on its own: namespaces, idempotence, restoring prior
// values, crash recovery, shared settings, and the tunnel module.

const VIP: &str = "192.0.2.10";

fn rs_setup(ns: &Ns, dir: &TempDir, vip: &str) -> RealServerSetup {
    RealServerSetup::dr(vip.parse().unwrap())
        .netns(Netns::named(&ns.name).unwrap())
        .journal_dir(dir.path())
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn sysctls_are_written_in_the_setups_namespace() {
    let t = tag("sys");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    ns.set_sysctl("net.ipv4.conf.all.arp_ignore", "0");
    let here = std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/arp_ignore").unwrap();
    let here_addrs = sh("ip -o addr show");
    let setup = rs_setup(&ns, &dir, VIP);
    setup.apply().unwrap();
    assert_eq!(
        ns.sysctl("net.ipv4.conf.all.arp_ignore"),
        "1",
        "written in the namespace"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/arp_ignore").unwrap(),
        here,
        "not here"
    );
    assert!(ns.run("ip -o addr show dev lo").contains("192.0.2.10/32"));
    assert_eq!(sh("ip -o addr show"), here_addrs, "no address added here");
    setup.teardown().unwrap();
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "0");
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn real_server_apply_is_idempotent_status_tells_and_teardown_restores_prior_values() {
    let t = tag("idem");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    // Prior values that are not the defaults; lo's arp_ignore is already
    // what the setup wants (set by the operator, not by the setup).
    ns.set_sysctl("net.ipv4.conf.all.arp_ignore", "0");
    ns.set_sysctl("net.ipv4.conf.all.arp_announce", "1");
    ns.set_sysctl("net.ipv4.conf.lo.arp_ignore", "1");
    let before = host_state(&ns);
    let setup = rs_setup(&ns, &dir, VIP);

    let st = setup.status().unwrap();
    assert!(!st.is_complete() && st.nothing_recorded(), "{st}");

    let first = setup.apply().unwrap();
    eprintln!("{first}");
    assert_eq!(first.changed.len(), 4, "{first}"); // all.arp_ignore, all.arp_announce, lo.arp_announce, VIP
    assert!(
        first
            .changed
            .iter()
            .any(|c| c.contains("net.ipv4.conf.all.arp_announce 1 -> 2")),
        "{first}"
    );
    assert!(
        first
            .unchanged
            .iter()
            .any(|c| c.contains("lo.arp_ignore") && c.contains("not ours")),
        "{first}"
    );
    let journal = journal_files(dir.path());
    assert_eq!(journal.len(), 1, "{journal:?}");
    let recorded = std::fs::read_to_string(&journal[0]).unwrap();
    eprintln!("journal {}:\n{recorded}", journal[0].display());
    assert!(
        recorded.contains("\"prior\": \"1\""),
        "the prior value is on disk: {recorded}"
    );

    let second = setup.apply().unwrap();
    assert!(second.is_noop(), "{second}");
    assert_eq!(
        std::fs::read_to_string(&journal[0]).unwrap(),
        recorded,
        "journal untouched"
    );
    let st = setup.status().unwrap();
    assert!(st.is_complete(), "{st}");
    eprintln!("{st}");

    // Someone removes the VIP: status says exactly that, apply puts it back.
    ns.run("ip addr del 192.0.2.10/32 dev lo");
    let st = setup.status().unwrap();
    let missing: Vec<_> = st.missing().map(|c| c.item.clone()).collect();
    assert_eq!(missing, ["address 192.0.2.10/32 on lo"], "{st}");
    let again = setup.apply().unwrap();
    assert_eq!(
        again.changed,
        ["added address 192.0.2.10/32 on lo"],
        "{again}"
    );

    let down = setup.teardown().unwrap();
    eprintln!("{down}");
    assert_eq!(
        ns.sysctl("net.ipv4.conf.all.arp_announce"),
        "1",
        "restored to 1, not 0"
    );
    assert_eq!(
        ns.sysctl("net.ipv4.conf.lo.arp_ignore"),
        "1",
        "the operator's value stays"
    );
    assert_eq!(host_state(&ns), before);
    assert!(journal_files(dir.path()).is_empty());
    assert!(
        setup.teardown().unwrap().is_noop(),
        "a second teardown changes nothing"
    );
}

/// Not a test on its own: the child of `teardown_after_the_setup_process_crashed`.
#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn crash_helper() {
    let Ok(spec) = std::env::var("IPVS_CLUSTER_CRASH") else {
        return;
    };
    let mut it = spec.split('|');
    let (ns, vip, dir) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let setup = RealServerSetup::tun(vip.parse().unwrap(), TunnelMode::Ipip)
        .netns(Netns::named(ns).unwrap())
        .journal_dir(dir);
    setup.apply().unwrap();
    std::process::abort();
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn teardown_after_the_setup_process_crashed() {
    let t = tag("crash");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    ns.set_sysctl("net.ipv4.conf.all.rp_filter", "1");
    ns.set_sysctl("net.ipv4.conf.all.arp_announce", "1");
    let before = host_state(&ns);
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_helper",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(
            "IPVS_CLUSTER_CRASH",
            format!("{}|{VIP}|{}", ns.name, dir.path().display()),
        )
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the helper aborted after apply: {status}"
    );
    // A new setup object, in this process, knows only the VIP and the namespace.
    let setup = RealServerSetup::tun(VIP.parse().unwrap(), TunnelMode::Ipip)
        .netns(Netns::named(&ns.name).unwrap())
        .journal_dir(dir.path());
    let st = setup.status().unwrap();
    eprintln!("{st}");
    assert!(
        st.is_complete(),
        "the crashed process had finished its apply: {st}"
    );
    assert_eq!(ns.sysctl("net.ipv4.conf.all.rp_filter"), "0");
    let down = setup.teardown().unwrap();
    eprintln!("{down}");
    assert_eq!(
        ns.sysctl("net.ipv4.conf.all.rp_filter"),
        "1",
        "restored from the journal"
    );
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_announce"), "1");
    assert_eq!(host_state(&ns), before);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn two_vips_share_the_arp_settings_until_the_last_goes() {
    let t = tag("two");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    ns.set_sysctl("net.ipv4.conf.all.arp_ignore", "0");
    let before = host_state(&ns);
    let a = rs_setup(&ns, &dir, "192.0.2.10");
    let b = rs_setup(&ns, &dir, "192.0.2.11");
    a.apply().unwrap();
    let second = b.apply().unwrap();
    assert_eq!(
        second.changed,
        ["added address 192.0.2.11/32 on lo"],
        "{second}"
    );
    a.teardown().unwrap();
    assert_eq!(
        ns.sysctl("net.ipv4.conf.all.arp_ignore"),
        "1",
        "still needed by 192.0.2.11"
    );
    let addrs = ns.run("ip -o addr show dev lo");
    assert!(
        !addrs.contains("192.0.2.10/32") && addrs.contains("192.0.2.11/32"),
        "{addrs}"
    );
    assert!(b.status().unwrap().is_complete());
    b.teardown().unwrap();
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "0");
    assert_eq!(host_state(&ns), before);
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn a_value_the_operator_changed_after_apply_is_left_alone() {
    let t = tag("oper");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    ns.set_sysctl("net.ipv4.conf.all.arp_announce", "0");
    let setup = rs_setup(&ns, &dir, VIP);
    setup.apply().unwrap();
    ns.set_sysctl("net.ipv4.conf.all.arp_announce", "1");
    let down = setup.teardown().unwrap();
    assert!(
        down.unchanged
            .iter()
            .any(|u| u.contains("changed by someone else")),
        "{down}"
    );
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_announce"), "1");
}

#[test]
#[ignore = "needs a kernel with IPVS: run in the guest (scripts/guest)"]
fn the_ipip_module_is_loaded_on_demand_through_rtnetlink() {
    if !sh_ok("modprobe -r ipip") {
        eprintln!("SKIP: ipip cannot be unloaded here (built in or in use)");
        return;
    }
    assert!(!std::path::Path::new("/sys/module/ipip").exists());
    let t = tag("mod");
    let dir = TempDir::new(&t);
    let ns = Ns::new(&format!("{t}-a"));
    let setup = RealServerSetup::tun(VIP.parse().unwrap(), TunnelMode::Ipip)
        .netns(Netns::named(&ns.name).unwrap())
        .journal_dir(dir.path());
    let done = setup.apply().unwrap();
    eprintln!("{done}");
    assert!(
        std::path::Path::new("/sys/module/ipip").exists(),
        "ipip loaded"
    );
    assert!(
        done.changed
            .iter()
            .any(|c| c.contains("loaded module ipip")),
        "{done}"
    );
    assert!(
        ns.run("ip -o addr show dev tunl0")
            .contains("192.0.2.10/32")
    );
    let down = setup.teardown().unwrap();
    eprintln!("{down}");
    assert!(!ns.run("ip -o addr show").contains("192.0.2.10"));
    assert!(journal_files(dir.path()).is_empty());
}
