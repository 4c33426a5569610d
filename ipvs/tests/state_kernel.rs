//! `ipvs::state` against a real kernel: reading the table, applying plans
//! (reports, stops, rollbacks, no empty window), the reconcile loop with
//! draining, round trips of the rules format through the real ipvsadm, and
//! a 10,000-service table changed by 1% (with timings next to the
//! per-service approach of kube-proxy).
//!
//! Every test is ignored on the host: run them in the guest
//! (`scripts/test-kernel`, or build with
//! `cargo test -p ipvs-netlink --all-features --test state_kernel --no-run`
//! and run the binary with `--ignored` as root in a kernel with IPVS).
//! Each works in a network namespace of its own.

use std::collections::HashSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use ipvs::client::{Client, Error, Netns, Operation, within_netns};
use ipvs::rules::{self, WriteOptions};
use ipvs::state::{
    ApplyOptions, Change, DiffOptions, OnError, Plan, Reconciler, RunOptions, ServiceState, State,
    diff,
};
use ipvs::{
    Destination, ForwardMethod, Netmask, Scheduler, Service, ServiceFlags, ServiceKey, Timeouts,
    Tunnel, TunnelChecksum,
};

// ---- a namespace per test

/// Large dumps are resumed by the kernel at an index into a table shared
/// by every namespace: the 10,000-service test runs alone (write lock),
/// the others side by side (read lock).
static IPVS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    IPVS.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    IPVS.write().unwrap_or_else(|e| e.into_inner())
}

static NEXT_NS: AtomicU32 = AtomicU32::new(0);

/// `ip netns add ipvs-st-<pid>-<n>`, lo up, a client in it; deleted on drop.
struct Ns {
    name: String,
    client: Client,
    /// Deletes the namespace when the test ends (or fails to open a client).
    _del: DelNs,
}

impl Ns {
    fn new() -> Ns {
        let name = format!(
            "ipvs-st-{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        run_ok("ip", &["netns", "add", &name]);
        let guard = DelNs(name.clone());
        run_ok("ip", &["-n", &name, "link", "set", "lo", "up"]);
        let client = Client::builder()
            .netns(Netns::named(&name).unwrap())
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap_or_else(|e| panic!("client in {name}: {e}"));
        Ns {
            name,
            client,
            _del: guard,
        }
    }

    fn other_client(&self) -> Client {
        Client::in_netns(&self.name).expect("second client")
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all);
    }

    /// `ipvsadm ARGS` in the namespace, fed `stdin`; must succeed.
    fn ipvsadm(&self, args: &[&str], stdin: &str) -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "ipvsadm"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ipvsadm");
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.to_owned();
        let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("ipvsadm");
        writer.join().unwrap().expect("feed ipvsadm");
        check(&format!("ipvsadm {}", args.join(" ")), &out);
        String::from_utf8(out.stdout).unwrap()
    }

    /// The kernel's table, settings only, sorted.
    fn table(&self) -> State {
        State::read(&self.client).expect("read").config()
    }

    /// Routes for the documentation ranges through a dummy interface, so
    /// that packets sent from inside the namespace reach IPVS.
    fn routes(&self) {
        self.ip(&["link", "add", "d0", "type", "dummy"]);
        self.ip(&["addr", "add", "203.0.113.1/24", "dev", "d0"]);
        self.ip(&["link", "set", "d0", "up"]);
        self.ip(&["route", "add", "192.0.2.0/24", "dev", "d0"]);
        self.ip(&["route", "add", "198.51.100.0/24", "dev", "d0"]);
    }

    /// A UDP datagram to `to` from inside the namespace: IPVS makes a
    /// connection entry of it.
    fn udp_to(&self, to: SocketAddr) {
        within_netns(&Netns::named(&self.name).unwrap(), || {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.send_to(b"ping", to)?;
            Ok(())
        })
        .expect("send UDP");
    }
}

struct DelNs(String);

impl Drop for DelNs {
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

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    check(&format!("{program} {}", args.join(" ")), &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rules_state(text: &str) -> State {
    State::from_rules_text(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Apply `desired` to the empty namespace; it must all apply.
fn load(ns: &Ns, desired: &State) -> State {
    let actual = State::read(&ns.client).unwrap();
    let plan = diff(&actual, desired, &DiffOptions::default());
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default());
    assert!(report.is_ok(), "{report}");
    State::read(&ns.client).unwrap()
}

/// `state` as a simulation says `ops` leave it.
fn simulate(state: &State, ops: &[Change]) -> State {
    let mut s = state.clone();
    for op in ops {
        s.replay(op).unwrap_or_else(|e| panic!("{op}: {e}"));
    }
    s
}

const TABLE_A: &str = "\
--set 900 120 300
-A -t 192.0.2.10:80 -s wrr -p 600 -M 255.255.255.0
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 3 -x 100 -y 10
-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1
-a -t 192.0.2.10:80 -r 198.51.100.3:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 198.51.100.4:53 -i -w 1 --tun-type ipip
-a -u 192.0.2.10:53 -r 198.51.100.5:53 -m -w 1
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 198.51.100.6:0 -g -w 2
-A -t 192.0.2.11:8080 -s lc
-a -t 192.0.2.11:8080 -r 198.51.100.7:8080 -m -w 1
";

/// Every kind of change from TABLE_A: timeouts, a scheduler, weights,
/// forwarding, thresholds, destinations in and out, services in and out.
const TABLE_B: &str = "\
--set 600 60 120
-A -t 192.0.2.10:80 -s wlc -p 600 -M 255.255.255.0
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 5
-a -t 192.0.2.10:80 -r 198.51.100.3:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-a -t 192.0.2.10:80 -r 198.51.100.8:80 -g -w 1
-A -u 192.0.2.10:53 -s sh -b sh-port
-a -u 192.0.2.10:53 -r 198.51.100.4:53 -m -w 1
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3 -x 50 -y 5
-a -t [2001:db8::10]:443 -r [2001:db8::22]:8443 -m -w 1
-A -f 7 -s mh -b mh-fallback
-A -t 192.0.2.12:25 -s rr
-a -t 192.0.2.12:25 -r 198.51.100.9:25 -m -w 1
";

// ---- reading and applying

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_state_applied_to_an_empty_table_reads_back_the_same() {
    let _g = shared();
    let ns = Ns::new();
    let empty = State::read(&ns.client).unwrap();
    assert!(empty.services.is_empty());
    assert!(empty.timeouts.is_some(), "read gives the timeouts");
    let desired = rules_state(TABLE_A);
    let plan = diff(&empty, &desired, &DiffOptions::default());
    // TABLE_A's timeouts are the kernel's defaults (900 120 300): no
    // SET_CONFIG, just the services and their destinations.
    assert_eq!(empty.timeouts, desired.timeouts);
    assert_eq!(plan.len(), 5 + desired.dest_count(), "{plan}");
    let report = plan.apply(&ns.client, &empty, &ApplyOptions::default());
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.applied, plan.ops);
    let read = State::read(&ns.client).unwrap();
    assert!(read.config_eq(&desired), "{}", read.to_rules_text());
    // Connection counts and stats come with the table.
    assert!(read.services.iter().all(|s| s.service.stats.is_some()));
    assert!(read.services[0].destinations[0].connections.is_some());
    assert!(diff(&read, &desired, &DiffOptions::default()).is_empty());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn every_kind_of_change_applies_as_the_simulator_says() {
    let _g = shared();
    let ns = Ns::new();
    let actual = load(&ns, &rules_state(TABLE_A));
    let desired = rules_state(TABLE_B);
    let plan = diff(&actual, &desired, &DiffOptions::default());
    let s = plan.summary();
    assert_eq!(
        (
            s.set_timeouts,
            s.add_services,
            s.update_services,
            s.delete_services,
            s.add_destinations,
            s.update_destinations,
            s.delete_destinations
        ),
        (1, 1, 2, 1, 3, 3, 3),
        "{plan}"
    );
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default());
    assert!(report.is_ok(), "{report}");
    let read = State::read(&ns.client).unwrap();
    let mut expected = actual.clone();
    plan.replay(&mut expected).unwrap();
    assert!(read.config_eq(&expected), "{}", read.to_rules_text());
    assert!(read.config_eq(&desired));
    assert!(diff(&read, &desired, &DiffOptions::default()).is_empty());
}

/// The plan from TABLE_A to TABLE_B with an extra service the kernel
/// refuses (no scheduler module "nosuchsched") at `at` in desired order.
fn failing_plan(actual: &State) -> (Plan, usize) {
    let mut desired = rules_state(TABLE_B);
    let bad = Service::new(
        ServiceKey::tcp(sa("192.0.2.13:80")),
        Scheduler::Other("nosuchsched".into()),
    );
    desired.services.insert(
        2,
        ServiceState::new(bad).with_dest(Destination::new(sa("198.51.100.10:80"))),
    );
    let plan = diff(actual, &desired, &DiffOptions::default());
    let at = plan
        .ops
        .iter()
        .position(|op| matches!(op, Change::AddService { service } if service.scheduler.name() == "nosuchsched"))
        .unwrap();
    assert!(at > 3 && at + 3 < plan.len(), "{plan}");
    (plan, at)
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_refused_operation_stops_the_plan_and_the_report_says_exactly_what_was_applied() {
    let _g = shared();
    let ns = Ns::new();
    let actual = load(&ns, &rules_state(TABLE_A));
    let (plan, at) = failing_plan(&actual);

    // One operation per write: exactly the ones before the refusal apply.
    let opts = ApplyOptions::default().with_chunk(1);
    let report = plan.apply(&ns.client, &actual, &opts);
    assert_eq!(report.applied, plan.ops[..at]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].index, at);
    assert!(
        matches!(&report.failed[0].error, Error::SchedulerNotFound { name } if name == "nosuchsched"),
        "{}",
        report.failed[0].error
    );
    assert_eq!(report.not_attempted, plan.ops[at + 1..]);
    assert!(report.in_doubt.is_empty() && report.rollback.is_none());
    assert!(ns.table().config_eq(&simulate(&actual, &report.applied)));
    assert!(!report.is_ok() && !report.is_unchanged());
    let text = report.to_string();
    assert!(
        text.contains(&format!("failed: operation {}", at + 1)),
        "{text}"
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn in_one_write_the_operations_after_a_refusal_are_reported_as_they_went() {
    let _g = shared();
    let ns = Ns::new();
    let actual = load(&ns, &rules_state(TABLE_A));
    let (plan, at) = failing_plan(&actual);
    // The whole plan in one write: the refused service's destination
    // fails too (no such service), everything else applies.
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default());
    let failed: Vec<usize> = report.failed.iter().map(|f| f.index).collect();
    assert_eq!(failed, vec![at, at + 1], "{report}");
    assert!(matches!(
        report.failed[1].error,
        Error::ServiceNotFound { .. }
    ));
    assert!(report.not_attempted.is_empty());
    assert_eq!(report.applied.len(), plan.len() - 2);
    assert!(ns.table().config_eq(&simulate(&actual, &report.applied)));

    // OnError::Continue with small writes: the same outcome.
    let ns2 = Ns::new();
    let actual2 = load(&ns2, &rules_state(TABLE_A));
    let opts = ApplyOptions::default()
        .on_error(OnError::Continue)
        .with_chunk(1);
    let report2 = plan.apply(&ns2.client, &actual2, &opts);
    assert_eq!(report2.applied, report.applied);
    assert_eq!(
        report2.failed.iter().map(|f| f.index).collect::<Vec<_>>(),
        failed
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_rollback_restores_the_table_as_it_was() {
    let _g = shared();
    for (chunk, on_error) in [
        (1, OnError::Stop),
        (256, OnError::Stop),
        (1, OnError::Continue),
    ] {
        let ns = Ns::new();
        let actual = load(&ns, &rules_state(TABLE_A));
        let before = ns.table();
        let (plan, at) = failing_plan(&actual);
        let opts = ApplyOptions::default()
            .with_rollback()
            .with_chunk(chunk)
            .on_error(on_error);
        let report = plan.apply(&ns.client, &actual, &opts);
        assert_eq!(report.failed[0].index, at);
        let rb = report.rollback.as_ref().expect("rolled back");
        assert!(rb.is_complete(), "{report}");
        assert_eq!(rb.applied, rb.ops);
        assert!(report.is_unchanged());
        let after = ns.table();
        assert!(
            after.config_eq(&before),
            "chunk {chunk} {on_error:?}:\n{}\nwas\n{}",
            after.to_rules_text(),
            before.to_rules_text()
        );
        assert_eq!(after.timeouts, before.timeouts);
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_plan_applied_owned_reports_as_one_applied_borrowed() {
    let _g = shared();
    let invalid = |actual: &State| {
        let mut plan = diff(actual, &rules_state(TABLE_B), &DiffOptions::default());
        plan.ops.push(Change::AddDestination {
            service: ServiceKey::tcp(sa("192.0.2.10:80")),
            dest: Destination::new(sa("198.51.100.99:80")).with_weight(u32::MAX),
        });
        plan
    };
    let whole = |actual: &State| diff(actual, &rules_state(TABLE_B), &DiffOptions::default());
    let refused = |actual: &State| failing_plan(actual).0;
    type MakePlan<'a> = &'a dyn Fn(&State) -> Plan;
    let cases: [(&str, MakePlan<'_>, ApplyOptions); 4] = [
        ("applied whole", &whole, ApplyOptions::default()),
        (
            "refused, stopped",
            &refused,
            ApplyOptions::default().with_chunk(1),
        ),
        (
            "refused, rolled back",
            &refused,
            ApplyOptions::default().with_rollback(),
        ),
        ("invalid", &invalid, ApplyOptions::default()),
    ];
    for (what, plan, opts) in cases {
        let (borrowed_ns, owned_ns) = (Ns::new(), Ns::new());
        let actual = load(&borrowed_ns, &rules_state(TABLE_A));
        load(&owned_ns, &rules_state(TABLE_A));
        let plan = plan(&actual);
        let borrowed = plan.apply(&borrowed_ns.client, &actual, &opts);
        let ops = plan.ops.clone();
        let owned = plan.apply_owned(&owned_ns.client, &actual, &opts);
        assert_eq!(owned.to_json(), borrowed.to_json(), "{what}");
        assert_eq!(
            owned.applied.len()
                + owned.failed.len()
                + owned.not_attempted.len()
                + owned.in_doubt.len(),
            ops.len(),
            "{what}"
        );
        assert!(owned_ns.table().config_eq(&borrowed_ns.table()), "{what}");
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn an_invalid_operation_sends_nothing() {
    let _g = shared();
    let ns = Ns::new();
    let actual = load(&ns, &rules_state(TABLE_A));
    let mut plan = diff(&actual, &rules_state(TABLE_B), &DiffOptions::default());
    let n = plan.len();
    plan.ops.push(Change::AddDestination {
        service: ServiceKey::tcp(sa("192.0.2.10:80")),
        dest: Destination::new(sa("198.51.100.99:80")).with_weight(u32::MAX),
    });
    let report = plan.apply(
        &ns.client,
        &actual,
        &ApplyOptions::default().with_rollback(),
    );
    assert!(report.applied.is_empty());
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].index, n);
    assert!(matches!(
        report.failed[0].error,
        Error::InvalidOperation { index, .. } if index == n
    ));
    assert_eq!(report.not_attempted.len(), n);
    assert!(report.is_unchanged());
    assert!(ns.table().config_eq(&actual));
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn replacing_a_whole_table_never_leaves_it_or_a_kept_service_empty() {
    let _g = shared();
    let ns = Ns::new();
    // 40 services of 3 destinations; the new table keeps 30 of them with
    // entirely new destinations and other schedulers, and swaps 10 for others.
    let svc = |i: u32| ServiceKey::tcp(SocketAddr::new(ip4([192, 0, 2, 0], 100 + i), 80));
    let dest = |i: u32, j: u32, round: u32| {
        Destination::new(SocketAddr::new(
            ip4([198, 51, 100, 0], 1 + (i * 7 + j * 3 + round * 50) % 250),
            8000 + j as u16 + round as u16 * 10,
        ))
    };
    let old = State {
        timeouts: None,
        services: (0..40)
            .map(|i| ServiceState {
                service: Service::new(svc(i), Scheduler::RoundRobin),
                destinations: (0..3).map(|j| dest(i, j, 0)).collect(),
            })
            .collect(),
    };
    let new = State {
        timeouts: None,
        services: (0..30)
            .chain(50..60)
            .map(|i| ServiceState {
                service: Service::new(svc(i), Scheduler::WeightedLeastConnection),
                destinations: (0..2).map(|j| dest(i, j, 1)).collect(),
            })
            .collect(),
    };
    let actual = load(&ns, &old);
    let plan = diff(&actual, &new, &DiffOptions::default());
    let kept: HashSet<ServiceKey> = (0..30).map(svc).collect();

    // A reader snapshots the table all along, on a socket of its own.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, client, kept) = (stop.clone(), ns.other_client(), kept.clone());
        std::thread::spawn(move || {
            let mut snapshots = 0;
            let mut worst = usize::MAX;
            while !stop.load(Ordering::Relaxed) || snapshots == 0 {
                let snap = client.snapshot().expect("snapshot");
                worst = worst.min(snap.len());
                for e in &snap {
                    assert!(
                        !kept.contains(&e.service.key) || !e.destinations.is_empty(),
                        "{} had no destination at snapshot {snapshots}",
                        e.service.key
                    );
                }
                snapshots += 1;
            }
            (snapshots, worst)
        })
    };
    // One operation per write, to give the reader every chance.
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default().with_chunk(1));
    stop.store(true, Ordering::Relaxed);
    let (snapshots, worst) = reader.join().expect("reader");
    assert!(report.is_ok(), "{report}");
    assert!(ns.table().config_eq(&new));
    assert!(worst >= 30, "a snapshot had only {worst} services");
    println!("{snapshots} snapshots during the replacement, the smallest had {worst} services");
}

// ---- draining

fn ip4(base: [u8; 4], i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::from(base)) + i))
}

fn drain_setup(ns: &Ns, udp_timeout: u32) -> (ServiceKey, SocketAddr, SocketAddr) {
    ns.routes();
    ns.client
        .set_timeouts(&Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp: udp_timeout,
        })
        .unwrap();
    let key = ServiceKey::udp(sa("192.0.2.20:53"));
    let (a, b) = (sa("198.51.100.31:53"), sa("198.51.100.32:53"));
    load(
        ns,
        &State::new().with_service(
            ServiceState::new(Service::new(key, Scheduler::RoundRobin))
                .with_dest(Destination::new(a)),
        ),
    );
    // A connection to the only destination.
    ns.udp_to(sa("192.0.2.20:53"));
    let have = ns.client.destinations(&key).unwrap();
    let c = have[0].connections.unwrap();
    assert_eq!(
        c.active + c.inactive,
        1,
        "the datagram made a connection: {c:?}"
    );
    (key, a, b)
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_removed_destination_drains_until_its_connections_end() {
    let _g = shared();
    let ns = Ns::new();
    let (key, a, b) = drain_setup(&ns, 3);
    let desired = State::new().with_service(
        ServiceState::new(Service::new(key, Scheduler::RoundRobin)).with_dest(Destination::new(b)),
    );
    let mut r = Reconciler::with_drain(Duration::from_secs(120));
    let opts = ApplyOptions::default();

    // First round: B is added, A goes to weight 0 and is listed as draining.
    let step = r.step(&ns.client, &desired, &opts).unwrap();
    assert!(step.report.is_ok(), "{}", step.report);
    assert_eq!(
        step.plan.to_string(),
        format!("-a -u 192.0.2.20:53 -r {b} -m -w 1\n-e -u 192.0.2.20:53 -r {a} -m -w 0\n")
    );
    let d = step.draining();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].service, d[0].dest), (key, a));
    assert_eq!(d[0].active + d[0].inactive, 1);
    let since = d[0].since;
    let dests = ns.client.destinations(&key).unwrap();
    assert_eq!(
        dests.iter().find(|x| x.socket_addr() == a).unwrap().weight,
        0
    );

    // While the connection lasts: nothing to do, still draining, same start.
    let step = r.step(&ns.client, &desired, &opts).unwrap();
    assert!(step.plan.is_empty(), "{}", step.plan);
    assert_eq!(step.draining().len(), 1);
    assert_eq!(step.draining()[0].since, since);
    assert!(!step.settled());

    // The connection expires (UDP timeout 3 s): A is deleted.
    let t0 = Instant::now();
    let mut rounds = Vec::new();
    let last = r
        .run(
            &ns.client,
            &desired,
            &RunOptions {
                poll: Duration::from_millis(500),
                timeout: Some(Duration::from_secs(60)),
                apply: opts.clone(),
            },
            |s| rounds.push((s.plan.len(), s.draining().len())),
        )
        .unwrap();
    assert!(last.settled(), "still draining after {:?}", t0.elapsed());
    assert_eq!(
        last.plan.to_string(),
        format!("-d -u 192.0.2.20:53 -r {a}\n")
    );
    assert!(r.tracker().is_empty());
    let table = ns.table();
    assert!(table.config_eq(&desired));
    println!(
        "drained in {:?} over {} rounds: {rounds:?}",
        t0.elapsed(),
        rounds.len()
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_removed_service_drains_until_its_deadline() {
    let _g = shared();
    let ns = Ns::new();
    // Connections last 300 s; the drain deadline is 2 s.
    let (key, a, _) = drain_setup(&ns, 300);
    let mut r = Reconciler::with_drain(Duration::from_secs(2));
    let mut seen = Vec::new();
    let t0 = Instant::now();
    let last = r
        .run(
            &ns.client,
            &State::new(),
            &RunOptions {
                poll: Duration::from_millis(500),
                timeout: Some(Duration::from_secs(30)),
                apply: ApplyOptions::default(),
            },
            |s| seen.push((s.plan.to_string(), s.draining().to_vec())),
        )
        .unwrap();
    let waited = t0.elapsed();
    assert!(last.settled());
    assert!(waited >= Duration::from_secs(2), "deleted after {waited:?}");
    // Round one drains A, the service staying; the last deletes the service.
    assert_eq!(seen[0].0, format!("-e -u 192.0.2.20:53 -r {a} -m -w 0\n"));
    assert!(seen[0].1[0].service_removed);
    assert_eq!(
        seen[0].1[0].deadline,
        seen[0].1[0].since + Duration::from_secs(2)
    );
    assert!(
        seen[1..seen.len() - 1]
            .iter()
            .all(|(p, d)| p.is_empty() && d.len() == 1)
    );
    assert_eq!(last.plan.to_string(), "-D -u 192.0.2.20:53\n");
    assert!(ns.table().services.is_empty());
    // The connection was still there when the deadline struck.
    assert!(seen[seen.len() - 2].1[0].inactive + seen[seen.len() - 2].1[0].active >= 1);
    let _ = key;
}

// ---- the rules format through the real ipvsadm

/// ipvsadm 1.31's `-S -n` output for a table with every option it saves
/// (the notes' example), sorted as ipvsadm sorts.
const IPVSADM_RULES: &str = "\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
-A -t 192.0.2.11:80 -s rr -p 300 -M 255.255.255.0
-a -t 192.0.2.11:80 -r 198.51.100.1:8080 -m -w 5
-a -t 192.0.2.11:80 -r [2001:db8::92]:80 -i -w 1 --tun-type ipip
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 192.0.2.23:53 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-A -f 8 -s rr
-a -f 8 -r 192.0.2.25:0 -i -w 1 --tun-type gre --tun-csum
";

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn ipvsadm_save_parsed_and_written_back_is_identical() {
    let _g = shared();
    let ns = Ns::new();
    ns.ipvsadm(&["-R"], IPVSADM_RULES);
    let saved = ns.ipvsadm(&["-S", "-n"], "");
    assert!(saved.lines().count() >= 14, "{saved}");
    // Parsed and written back: byte for byte.
    let parsed = rules::parse(&saved).unwrap();
    assert_eq!(rules::write(&parsed), saved);
    // Through a State too, and as read from the kernel by the library.
    let via_state = rules_state(&saved);
    let mut read = State::read(&ns.client).unwrap();
    read.timeouts = None;
    assert!(read.config_eq(&via_state));
    assert_eq!(rules::write(&read.to_rules()), saved);
    assert_eq!(rules::write(&via_state.to_rules()), saved);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn streamed_save_is_ipvsadm_save_byte_for_byte() {
    let _g = shared();
    let ns = Ns::new();
    ns.ipvsadm(&["-R"], IPVSADM_RULES);
    // More services than one piece of work, so that the pieces of several
    // sockets are put back in order.
    let mut more = String::new();
    for i in 0..150 {
        more.push_str(&format!(
            "-A -t 198.18.{}.{}:80 -s wrr\n-a -t 198.18.{0}.{1}:80 -r 198.51.100.{}:8000 -m -w 2\n-a -t 198.18.{0}.{1}:80 -r 198.51.100.{}:8000 -m -w 1\n",
            i / 100,
            i % 100 + 1,
            200 - i % 100,
            i % 100 + 1,
        ));
    }
    // A service whose destinations take several 4 KiB datagrams.
    more.push_str("-A -t 198.18.9.1:80 -s rr\n");
    for i in 1..=40 {
        more.push_str(&format!(
            "-a -t 198.18.9.1:80 -r 198.51.100.{i}:8080 -m -w {i} -x {}\n",
            1000 + i
        ));
    }
    ns.ipvsadm(&["-R"], &more);
    let saved = ns.ipvsadm(&["-S", "-n"], "");
    assert_eq!(saved.lines().count(), 14 + 450 + 41, "{saved}");
    // The destinations' dumps go on the client's second socket, which reads
    // 4 KiB at a time (the 40 destinations take more than one datagram).
    let client = ns.other_client();
    let mut out = Vec::new();
    ipvs::state::save_rules(&client, &mut out, &WriteOptions::IPVSADM, false).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), saved);
    // A client built with small datagrams for everything: the same.
    let small = Client::builder()
        .netns(Netns::named(&ns.name).unwrap())
        .receive_size(4096)
        .build()
        .unwrap();
    let mut out = Vec::new();
    ipvs::state::save_rules(&small, &mut out, &WriteOptions::IPVSADM, false).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), saved);
    // With the timeouts and thresholds: as the whole state written.
    ns.ipvsadm(&["--set", "900", "120", "300"], "");
    ns.ipvsadm(
        &[
            "-e",
            "-t",
            "192.0.2.10:80",
            "-r",
            "192.0.2.21:80",
            "-g",
            "-w",
            "9",
            "-x",
            "50",
        ],
        "",
    );
    let mut out = Vec::new();
    ipvs::state::save_rules(&client, &mut out, &WriteOptions::COMPLETE, true).unwrap();
    let whole = rules::write_with(
        &State::read(&ns.client).unwrap().to_rules(),
        &WriteOptions::COMPLETE,
    );
    assert!(
        whole.starts_with("--set 900 120 300\n") && whole.contains(" -x 50"),
        "{whole}"
    );
    assert_eq!(String::from_utf8(out).unwrap(), whole);
    // An empty table: nothing written.
    let empty = Ns::new();
    let mut out = Vec::new();
    let client = empty.other_client();
    ipvs::state::save_rules(&client, &mut out, &WriteOptions::IPVSADM, false).unwrap();
    assert!(out.is_empty());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn our_rules_restored_by_ipvsadm_give_the_same_table() {
    let _g = shared();
    let ours = Ns::new();
    let theirs = Ns::new();
    let gue = ForwardMethod::Tunnel(Tunnel::Gue {
        port: 6080,
        checksum: TunnelChecksum::Remote,
    });
    let mut state = rules_state(TABLE_A);
    state.services.push(
        ServiceState::new(
            Service::new(
                ServiceKey::tcp(sa("192.0.2.14:80")),
                Scheduler::SourceHashing,
            )
            .with_persistence(120)
            .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 0, 0)))
            .with_flags(ServiceFlags::SH_PORT),
        )
        .with_dest(
            Destination::new(sa("198.51.100.40:80"))
                .with_forward(gue)
                .with_weight(4)
                .with_thresholds(1000, 900),
        ),
    );
    load(&ours, &state);
    let read = State::read(&ours.client).unwrap();

    // Complete rules (timeouts, thresholds): ipvsadm restores all of it.
    let text = read.to_rules_text();
    assert!(text.starts_with("--set 900 120 300\n") && text.contains(" -x 1000 -y 900"));
    theirs.ipvsadm(&["-R"], &text);
    let restored = State::read(&theirs.client).unwrap();
    assert!(restored.config_eq(&read), "{}", restored.to_rules_text());
    assert_eq!(restored.timeouts, read.timeouts);

    // ipvsadm's own format, as ipvsadm would save it: identical.
    let plain = rules::write_with(&read.to_rules()[1..], &WriteOptions::IPVSADM);
    assert_eq!(theirs.ipvsadm(&["-S", "-n"], ""), plain);
}

// ---- 10,000 services changed by 1%

const N: u32 = 10_000;
const DESTS: u32 = 4;

fn big_key(i: u32) -> ServiceKey {
    ServiceKey::tcp(SocketAddr::new(ip4([198, 18, 0, 0], i), 80))
}

fn big_dest(i: u32, j: u32, weight: u32) -> Destination {
    Destination::new(SocketAddr::new(
        ip4([198, 51, 100, 0], 1 + (i * 4 + j) % 250),
        8000 + j as u16,
    ))
    .with_weight(weight)
}

fn big_table() -> State {
    State {
        timeouts: None,
        services: (0..N)
            .map(|i| ServiceState {
                service: Service::new(big_key(i), Scheduler::WeightedRoundRobin),
                destinations: (0..DESTS).map(|j| big_dest(i, j, 1 + j)).collect(),
            })
            .collect(),
    }
}

/// One service in a hundred changed, in four ways; the ops that does.
fn one_percent(table: &State) -> (State, Vec<Change>) {
    let mut t = table.clone();
    let mut expected = Vec::new();
    for i in (0..N).step_by(100) {
        let key = big_key(i);
        let s = &mut t.services[i as usize];
        match (i / 100) % 4 {
            0 => {
                s.destinations[0].weight = 50;
                expected.push(Change::UpdateDestination {
                    service: key,
                    dest: s.destinations[0].clone(),
                });
            }
            1 => {
                let d = big_dest(i, DESTS, 1);
                s.destinations.push(d.clone());
                expected.push(Change::AddDestination {
                    service: key,
                    dest: d,
                });
            }
            2 => {
                let d = s.destinations.pop().unwrap();
                expected.push(Change::DeleteDestination {
                    service: key,
                    dest: d,
                });
            }
            _ => {
                s.service.scheduler = Scheduler::LeastConnection;
                expected.push(Change::UpdateService {
                    service: s.service.clone(),
                });
            }
        }
    }
    (t, expected)
}

/// kube-proxy's way: per desired service, read it (GET_SERVICE) and its
/// destinations (GET_DEST), then one request per difference. Returns the
/// requests sent (reads and changes).
fn per_service_sync(client: &Client, desired: &State) -> (usize, usize) {
    let (mut reads, mut changes) = (0, 0);
    let mut exec = |op: Operation| {
        client.execute(&op).unwrap_or_else(|e| panic!("{op}: {e}"));
        changes += 1;
    };
    for want in &desired.services {
        let key = want.service.key;
        reads += 1;
        match client.service(&key) {
            Ok(have) => {
                let w = &want.service;
                let same = have.scheduler == w.scheduler
                    && have.persistence == w.persistence
                    && have.kernel_flags() == w.kernel_flags()
                    && have.persistence_engine == w.persistence_engine;
                if !same {
                    exec(Operation::UpdateService(want.service.clone()));
                }
            }
            Err(Error::ServiceNotFound { .. }) => exec(Operation::AddService(want.service.clone())),
            Err(e) => panic!("{e}"),
        }
        reads += 1;
        let have = client.destinations(&key).unwrap();
        for d in &want.destinations {
            match have.iter().find(|h| h.socket_addr() == d.socket_addr()) {
                None => exec(Operation::AddDestination(key, d.clone())),
                Some(h) if h.config() != d.config() => {
                    exec(Operation::UpdateDestination(key, d.clone()))
                }
                Some(_) => {}
            }
        }
        for h in &have {
            if !want
                .destinations
                .iter()
                .any(|d| d.socket_addr() == h.socket_addr())
            {
                exec(Operation::DeleteDestination(key, h.socket_addr()));
            }
        }
    }
    (reads, changes)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn ten_thousand_services_changed_by_one_percent() {
    let _g = alone();
    let ns = Ns::new();
    let table = big_table();

    let t = Instant::now();
    let empty = State::read(&ns.client).unwrap();
    let plan = diff(&empty, &table, &DiffOptions::default());
    assert_eq!(plan.len(), (N * (1 + DESTS)) as usize);
    let report = plan.apply(&ns.client, &empty, &ApplyOptions::default());
    assert!(report.is_ok(), "{report}");
    let load_time = t.elapsed();

    // Snapshot + diff + apply of the 1% change.
    let (changed, expected) = one_percent(&table);
    let t = Instant::now();
    let actual = State::read(&ns.client).unwrap();
    let t_read = t.elapsed();
    assert_eq!(actual.services.len(), N as usize);
    let plan = diff(&actual, &changed, &DiffOptions::default());
    let t_diff = t.elapsed() - t_read;
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default());
    let t_total = t.elapsed();
    let t_apply = t_total - t_read - t_diff;
    // Exactly the changed operations, in order.
    assert_eq!(plan.ops, expected);
    assert_eq!(plan.len(), (N / 100) as usize);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.applied, expected);

    let check = State::read(&ns.client).unwrap();
    assert!(diff(&check, &changed, &DiffOptions::default()).is_empty());

    // The same change back, kube-proxy's way.
    let t = Instant::now();
    let (reads, changes) = per_service_sync(&ns.client, &table);
    let t_per_service = t.elapsed();
    assert_eq!(changes, (N / 100) as usize);
    let check = State::read(&ns.client).unwrap();
    assert!(diff(&check, &table, &DiffOptions::default()).is_empty());

    // And forward again, our way, to time it twice.
    let t = Instant::now();
    let actual = State::read(&ns.client).unwrap();
    let plan = diff(&actual, &changed, &DiffOptions::default());
    let report = plan.apply(&ns.client, &actual, &ApplyOptions::default());
    let t_total2 = t.elapsed();
    assert!(report.is_ok() && plan.len() == (N / 100) as usize);

    let lines = [
        format!(
            "{N} services x {DESTS} destinations loaded by diff + apply of {} operations in {}",
            N * (1 + DESTS),
            secs(load_time)
        ),
        format!(
            "1% change ({} operations): snapshot {} + diff {} + apply {} = {} (again: {})",
            expected.len(),
            secs(t_read),
            secs(t_diff),
            secs(t_apply),
            secs(t_total),
            secs(t_total2)
        ),
        format!(
            "1% change per service (kube-proxy): {reads} reads + {changes} changes, one request each: {}",
            secs(t_per_service)
        ),
        format!(
            "per service / snapshot+diff+apply: {:.1}x",
            t_per_service.as_secs_f64() / t_total.min(t_total2).as_secs_f64()
        ),
    ];
    for l in &lines {
        println!("timing: {l}");
    }
    if let Some(path) = std::env::var_os("IPVS_TIMINGS") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for l in &lines {
            writeln!(f, "{l}").unwrap();
        }
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_client_built_in_a_namespace_reads_it_after_the_thread_leaves() {
    let _g = shared();
    let ns = Ns::new();
    ns.ipvsadm(
        &["-R"],
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 1\n",
    );
    // Built by a thread in the namespace (Netns::Current there); used from
    // this thread, in another namespace: the socket of small dumps, opened
    // at the first of them, must be in the client's namespace too.
    let client = within_netns(&Netns::named(&ns.name).unwrap(), || {
        Client::new().map_err(std::io::Error::other)
    })
    .unwrap();
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    let dests = client.destinations(&key).unwrap();
    assert_eq!(dests.len(), 1, "{dests:?}");
    assert_eq!(client.snapshot().unwrap().len(), 1);
}
