//! The async client against a real kernel (run in the guest: scripts/test-kernel).
#![cfg(feature = "tokio")]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ipvs::client::{AsyncClient, Error, Netns, Operation};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey, Timeouts, Tunnel};

const IGNORE: &str = "needs a kernel with IPVS: run scripts/test-kernel";

/// A network namespace of its own, removed on drop.
struct Ns(String);

impl Ns {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ipvs-a-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip netns add {name}");
        // Without lo up a new namespace has no local routing table, and the
        // kernel refuses NAT destinations with EINVAL (inet_addr_type says
        // broadcast).
        let ok = Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "lo up in {name}");
        Ns(name)
    }
    async fn client(&self) -> AsyncClient {
        AsyncClient::with_netns(
            Netns::named(&self.0).unwrap(),
            Some(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn key(n: u16) -> ServiceKey {
    ServiceKey::tcp(format!("192.0.2.10:{n}").parse().unwrap())
}

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_client_round_trips_every_kind_of_change() {
    let _ = IGNORE;
    let ns = Ns::new();
    let c = ns.client().await;
    let svc = Service::new(key(80), Scheduler::WeightedRoundRobin).with_persistence(120);
    c.add_service(&svc).await.unwrap();
    assert_eq!(c.service(&svc.key).await.unwrap().config(), svc);

    let tun = Destination::new("198.51.100.7:80".parse().unwrap())
        .with_forward(ForwardMethod::Tunnel(Tunnel::Gre {
            checksum: Default::default(),
        }))
        .with_weight(4)
        .with_thresholds(100, 10);
    c.add_destination(&svc.key, &tun).await.unwrap();
    let read: Vec<_> = c
        .destinations(&svc.key)
        .await
        .unwrap()
        .iter()
        .map(|d| d.config())
        .collect();
    assert_eq!(read, vec![tun.clone()]);

    let heavier = tun.clone().with_weight(9);
    c.update_destination(&svc.key, &heavier).await.unwrap();
    assert_eq!(c.destinations(&svc.key).await.unwrap()[0].weight, 9);

    let changed = Service {
        scheduler: Scheduler::SourceHashing,
        persistence: None,
        ..svc.clone()
    };
    c.update_service(&changed).await.unwrap();
    assert_eq!(c.service(&svc.key).await.unwrap().config(), changed);

    c.set_timeouts(&Timeouts {
        tcp: 1000,
        tcp_fin: 0,
        udp: 30,
    })
    .await
    .unwrap();
    let t = c.timeouts().await.unwrap();
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (1000, 120, 30));
    assert_eq!(c.info().await.unwrap().version.to_string(), "1.2.1");

    let snap = c.snapshot().await.unwrap();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].destinations.len(), 1);

    c.delete_destination(&svc.key, heavier.socket_addr())
        .await
        .unwrap();
    c.delete_service(&svc.key).await.unwrap();
    assert!(c.services().await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_client_gives_the_same_typed_errors() {
    let ns = Ns::new();
    let c = ns.client().await;
    let svc = Service::new(key(81), Scheduler::RoundRobin);
    c.add_service(&svc).await.unwrap();
    assert!(matches!(
        c.add_service(&svc).await,
        Err(Error::ServiceExists { .. })
    ));
    assert!(matches!(
        c.delete_service(&key(82)).await,
        Err(Error::ServiceNotFound { .. })
    ));
    assert!(matches!(
        c.service(&key(82)).await,
        Err(Error::ServiceNotFound { .. })
    ));
    let bad = Service::new(key(83), Scheduler::Other("nosuch".into()));
    assert!(matches!(
        c.add_service(&bad).await,
        Err(Error::SchedulerNotFound { .. })
    ));
    let d = Destination::new("198.51.100.8:80".parse().unwrap());
    c.add_destination(&svc.key, &d).await.unwrap();
    let e = c.add_destination(&svc.key, &d).await.unwrap_err();
    assert!(matches!(e, Error::DestinationExists { .. }));
    assert_eq!(e.errno(), Some(libc::EEXIST));
    let gone = "198.51.100.9:80".parse().unwrap();
    assert!(matches!(
        c.delete_destination(&svc.key, gone).await,
        Err(Error::DestinationNotFound { .. })
    ));
    // Refused before sending: the table is unchanged.
    let invalid = Destination::new("198.51.100.10:80".parse().unwrap()).with_weight(u32::MAX);
    assert!(matches!(
        c.add_destination(&svc.key, &invalid).await,
        Err(Error::Validation(_))
    ));
    assert_eq!(c.destinations(&svc.key).await.unwrap().len(), 1);
}

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_batch_reports_each_operation() {
    let ns = Ns::new();
    let c = ns.client().await;
    let mut ops = Vec::new();
    for port in 1000..1500u16 {
        ops.push(Operation::AddService(Service::new(
            key(port),
            Scheduler::RoundRobin,
        )));
        ops.push(Operation::AddDestination(
            key(port),
            Destination::new("198.51.100.20:8080".parse().unwrap()),
        ));
    }
    // Two that fail: a duplicate service and a destination of a missing service.
    ops.push(Operation::AddService(Service::new(
        key(1000),
        Scheduler::RoundRobin,
    )));
    ops.push(Operation::AddDestination(
        key(2000),
        Destination::new("198.51.100.21:80".parse().unwrap()),
    ));
    let result = c.execute_batch(&ops).await.unwrap();
    let failures: Vec<usize> = result.failures().map(|(i, _)| i).collect();
    assert_eq!(failures, vec![1000, 1001]);
    assert!(matches!(
        result.results[1000],
        Err(Error::ServiceExists { .. })
    ));
    assert!(matches!(
        result.results[1001],
        Err(Error::ServiceNotFound { .. })
    ));
    let snap = c.snapshot().await.unwrap();
    assert_eq!(snap.len(), 500);
    assert!(snap.iter().all(|e| e.destinations.len() == 1));
}
