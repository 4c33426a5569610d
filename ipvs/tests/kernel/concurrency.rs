//! Namespaces, large dumps under concurrent changes, one client shared by
//! many threads.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use ipvs::client::{Client, Operation};
use ipvs::{DaemonState, Destination, Scheduler, Service, ServiceKey, SyncDaemon, Timeouts};

use crate::common::{TestNs, normalise, sa};

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn namespaces_are_isolated() {
    let a = TestNs::new();
    let b = TestNs::new();
    let key = ServiceKey::tcp(sa("192.0.2.100:80"));
    let svc = Service::new(key, Scheduler::RoundRobin);
    a.client.add_service(&svc).unwrap();
    a.client
        .add_destination(&key, &Destination::new(sa("198.51.100.100:80")))
        .unwrap();
    // b sees nothing of it, through the library or ipvsadm.
    assert!(b.client.services().unwrap().is_empty());
    assert!(b.client.destinations(&key).unwrap().is_empty());
    assert!(b.ipvsadm_save().is_empty());
    assert_eq!(a.ipvsadm_save().len(), 2);
    // The same service can exist in both, with other settings.
    let other = Service::new(key, Scheduler::WeightedLeastConnection).with_persistence(10);
    b.client.add_service(&other).unwrap();
    assert_eq!(a.client.service(&key).unwrap().config(), svc);
    assert_eq!(b.client.service(&key).unwrap().config(), other);
    // Timeouts, daemons, flush and zero stay in their namespace.
    b.client
        .set_timeouts(&Timeouts {
            tcp: 5,
            tcp_fin: 6,
            udp: 7,
        })
        .unwrap();
    assert_eq!(a.client.timeouts().unwrap(), Timeouts::KERNEL_DEFAULTS);
    b.add_dummy("sync0");
    b.client
        .start_daemon(&SyncDaemon::new(DaemonState::Master, "sync0", 1))
        .unwrap();
    assert!(a.client.daemons().unwrap().is_empty());
    b.client.flush().unwrap();
    assert_eq!(a.client.services().unwrap().len(), 1);
    assert_eq!(a.client.destinations(&key).unwrap().len(), 1);
    // A daemon per namespace: a can start its own master.
    a.add_dummy("sync0");
    a.client
        .start_daemon(&SyncDaemon::new(DaemonState::Master, "sync0", 2))
        .unwrap();
    assert_eq!(b.client.daemons().unwrap()[0].sync_id, 1);
    assert_eq!(a.client.daemons().unwrap()[0].sync_id, 2);
}

fn addr(base: [u8; 4], i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::from(base)) + i))
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_dump_of_10000_services_under_concurrent_changes() {
    const N: u32 = 10_000;
    let ns = TestNs::new();
    let c = &ns.client;
    // The services that stay: 198.18.0.0 and up, port 80.
    let keys: Vec<ServiceKey> = (0..N)
        .map(|i| ServiceKey::tcp(SocketAddr::new(addr([198, 18, 0, 0], i), 80)))
        .collect();
    let ops: Vec<Operation> = keys
        .iter()
        .map(|k| Operation::AddService(Service::new(*k, Scheduler::RoundRobin)))
        .collect();
    let t0 = Instant::now();
    let result = c.apply(&ops).unwrap();
    assert!(result.is_ok(), "{:?}", result.failures().next());
    println!("added {N} services in one batch in {:?}", t0.elapsed());
    let t0 = Instant::now();
    assert_eq!(c.services().unwrap().len(), N as usize);
    println!("dumped {N} services, quiet table, in {:?}", t0.elapsed());

    // Another client, on its own socket and thread, adds and deletes other
    // services (on 198.19.0.0 and up) for as long as the dumps run.
    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let churn = {
        let (stop, changes) = (stop.clone(), changes.clone());
        let other = ns.new_client();
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let key = ServiceKey::tcp(SocketAddr::new(addr([198, 19, 0, 0], i % 4096), 80));
                if i / 4096 % 2 == 0 {
                    other
                        .add_service(&Service::new(key, Scheduler::RoundRobin))
                        .unwrap();
                } else {
                    other.delete_service(&key).unwrap();
                }
                changes.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for round in 0..3 {
        let before = changes.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let services = c.services().unwrap();
        let elapsed = t0.elapsed();
        let during = changes.load(Ordering::Relaxed) - before;
        let mut seen: HashMap<ServiceKey, u32> = HashMap::new();
        for s in &services {
            *seen.entry(s.key).or_default() += 1;
        }
        let missing = keys.iter().filter(|k| !seen.contains_key(k)).count();
        let twice = keys
            .iter()
            .filter(|k| seen.get(k).is_some_and(|n| *n > 1))
            .count();
        let churned = services.len() + missing - keys.len();
        report.push(format!(
            "round {round}: {} services in {elapsed:?} while {during} changes ran; \
             {missing} of the {N} missing, {twice} listed more than once, {churned} others",
            services.len()
        ));
        if missing > 0 || twice > 0 {
            failures.push(round);
        }
        if during == 0 {
            failures.push(round);
            report.push(format!("round {round}: no change overlapped the dump"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", report.join("\n"));
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn one_client_shared_by_eight_threads() {
    const THREADS: u32 = 8;
    const DESTS: u32 = 24;
    let ns = TestNs::new();
    let client: Arc<Client> = Arc::new(ns.new_client());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = client.clone();
            std::thread::spawn(move || {
                let key = ServiceKey::tcp(SocketAddr::new(addr([203, 0, 113, 0], t + 1), 80));
                let mut svc = Service::new(key, Scheduler::WeightedRoundRobin);
                c.add_service(&svc).unwrap();
                let dest = |j: u32| {
                    Destination::new(SocketAddr::new(
                        addr([198, 51, 100, 0], j + 1),
                        8000 + t as u16,
                    ))
                };
                for j in 0..DESTS {
                    c.add_destination(&key, &dest(j).with_weight(j)).unwrap();
                    if j % 4 == 0 {
                        // Reads interleave with other threads' writes.
                        assert!(c.services().unwrap().iter().any(|s| s.key == key));
                        c.info().unwrap();
                        c.timeouts().unwrap();
                    }
                }
                for j in (0..DESTS).step_by(2) {
                    c.update_destination(&key, &dest(j).with_weight(1000 + j))
                        .unwrap();
                }
                for j in (1..DESTS).step_by(4) {
                    c.delete_destination(&key, dest(j).socket_addr()).unwrap();
                }
                svc = svc.with_persistence(100 + t);
                c.update_service(&svc).unwrap();
                let batch: Vec<Operation> = (0..DESTS)
                    .map(|j| Operation::UpdateDestination(key, dest(j).with_weight(2000 + j)))
                    .collect();
                let r = c.apply(&batch).unwrap();
                // The deleted ones fail, the others succeed.
                for (j, res) in r.results.iter().enumerate() {
                    assert_eq!(
                        res.is_ok(),
                        j % 4 != 1,
                        "thread {t}, destination {j}: {res:?}"
                    );
                }
                assert_eq!(c.service(&key).unwrap().config(), svc);
                let expected: Vec<Destination> = (0..DESTS)
                    .filter(|j| j % 4 != 1)
                    .map(|j| dest(j).with_weight(2000 + j))
                    .collect();
                (svc, expected)
            })
        })
        .collect();
    let expected: Vec<(Service, Vec<Destination>)> = workers
        .into_iter()
        .map(|w| w.join().expect("worker thread"))
        .collect();
    assert_eq!(ns.table(), normalise(expected));
    // The shared client and the namespace's own one agree.
    assert_eq!(crate::common::table_of(&client), ns.table());
}
