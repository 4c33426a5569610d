//! Namespaces are isolated; one client shared by many threads. (Large
//! dumps under concurrent changes: see `serial`.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

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
    assert_eq!(b.ipvsadm_save(), Vec::<String>::new());
    let saved = a.ipvsadm_save();
    assert_eq!(saved.len(), 2, "{saved:?}");
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

pub fn addr(base: [u8; 4], i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::from(base)) + i))
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
                let r = c.execute_batch(&batch).unwrap();
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
