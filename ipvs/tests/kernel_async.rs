//! The async client against a real kernel (run in the guest: scripts/test-kernel).
#![cfg(all(feature = "tokio", feature = "smol"))]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ipvs::client::{AsyncClient, Client, Error, Netns, Operation, SmolClient, TokioClient};
use ipvs::state::{ApplyOptions, DiffOptions, Reconciler, RunOptions, State, diff};
use ipvs::{
    DaemonState, Destination, ForwardMethod, Scheduler, Service, ServiceKey, SyncDaemon, Timeouts,
    Tunnel,
};

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

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_stop_right_after_start() {
    // DEL_DAEMON right after NEW_DAEMON often answers EINTR, and netlink
    // then sends no ACK at all (see the blocking suite's test of the same
    // name): the async client must not hang either.
    let ns = Ns::new();
    for args in [
        ["link", "add", "sync0", "type", "dummy"].as_slice(),
        &["link", "set", "sync0", "up"],
    ] {
        let ok = Command::new("ip")
            .args(["-n", &ns.0])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip {args:?} in {}", ns.0);
    }
    let c = TokioClient::with_netns(
        Netns::named(&ns.0).unwrap(),
        Some(std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();
    for round in 0..10 {
        for state in [DaemonState::Master, DaemonState::Backup] {
            c.start_daemon(&SyncDaemon::new(state, "sync0", round))
                .await
                .unwrap();
            c.stop_daemon(state)
                .await
                .unwrap_or_else(|e| panic!("round {round}: stop {state:?}: {e}"));
            assert!(c.daemons().await.unwrap().is_empty());
        }
        let start = |s| Operation::StartDaemon(SyncDaemon::new(s, "sync0", round));
        let batch = [
            start(DaemonState::Master),
            start(DaemonState::Backup),
            Operation::StopDaemon(DaemonState::Master),
            Operation::StopDaemon(DaemonState::Backup),
        ];
        assert!(
            c.execute_batch(&batch).await.unwrap().is_ok(),
            "round {round}"
        );
        assert!(c.daemons().await.unwrap().is_empty());
    }
}

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_batches_go_many_per_write_and_clones_share_the_socket() {
    let ns = Ns::new();
    let c = ns.client().await;
    let ops: Vec<_> = (3000..4000u16)
        .map(|p| Operation::AddService(Service::new(key(p), Scheduler::RoundRobin)))
        .collect();
    let before = c.io_counters();
    assert!(c.execute_batch(&ops).await.unwrap().is_ok());
    let io = c.io_counters();
    let sends = io.sends - before.sends;
    assert!(sends <= 10, "{sends} writes for 1,000 operations");
    // Clones take turns on one socket; the counters are shared.
    let (a, b) = (c.clone(), c.clone());
    let (x, y) = tokio::join!(a.services(), b.snapshot());
    assert_eq!(x.unwrap().len(), 1000);
    assert_eq!(y.unwrap().len(), 1000);
    assert!(c.io_counters().sends >= io.sends + 1 + 1 + 1000);
    // No assertion on `duplicates_dropped`: a multi-datagram dump resumes at
    // an index into the kernel's table of every namespace, so services
    // added or deleted by tests running beside this one can make it list
    // entries twice (IPVS-NOTES; seen: 199). The lengths above show they were
    // dropped.
}

#[tokio::test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
async fn async_state_reads_applies_and_reconciles() {
    let ns = Ns::new();
    let c = ns.client().await;
    let desired = State::from_rules_text(
        "-A -t 192.0.2.30:80 -s wrr\n-a -t 192.0.2.30:80 -r 198.51.100.31:80 -m -w 2\n",
    )
    .unwrap();
    let actual = State::read_async(&c).await.unwrap();
    assert!(actual.services.is_empty());
    let plan = diff(&actual, &desired, &DiffOptions::default());
    let report = plan
        .apply_async(&c, &actual, &ApplyOptions::default())
        .await;
    assert!(report.is_ok(), "{report}");
    assert!(State::read_async(&c).await.unwrap().config_eq(&desired));
    // The reconciler brings back what someone removed.
    c.flush().await.unwrap();
    let mut r = Reconciler::with_drain(std::time::Duration::from_secs(5));
    let opts = RunOptions {
        poll: std::time::Duration::from_millis(200),
        timeout: Some(std::time::Duration::from_secs(30)),
        apply: ApplyOptions::default(),
    };
    let last = r.run_async(&c, &desired, &opts, |_| {}).await.unwrap();
    assert!(last.settled());
    assert!(State::read_async(&c).await.unwrap().config_eq(&desired));
    let step = r
        .step_async(&c, &desired, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(step.plan.is_empty());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn the_async_client_runs_on_smol() {
    let ns = Ns::new();
    smol::block_on(async {
        let c: SmolClient = Client::builder()
            .netns(Netns::named(&ns.0).unwrap())
            .timeout(std::time::Duration::from_secs(60))
            .dump_attempts(3)
            .build_async()
            .await
            .unwrap();
        let svc = Service::new(key(90), Scheduler::RoundRobin);
        let d = Destination::new("198.51.100.40:80".parse().unwrap()).with_weight(3);
        let result = c
            .execute_batch(&[
                Operation::AddService(svc.clone()),
                Operation::AddDestination(svc.key, d.clone()),
                Operation::AddService(svc.clone()),
            ])
            .await
            .unwrap();
        assert_eq!(result.failures().map(|(i, _)| i).collect::<Vec<_>>(), [2]);
        assert!(matches!(
            result.results[2],
            Err(Error::ServiceExists { .. })
        ));
        let snap = c.snapshot().await.unwrap();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].destinations[0].config(), d);
        let table = State::read_async(&c).await.unwrap();
        let plan = diff(&table, &State::new(), &DiffOptions::default());
        assert!(
            plan.apply_async(&c, &table, &ApplyOptions::default())
                .await
                .is_ok()
        );
        assert!(c.services().await.unwrap().is_empty());
        assert_eq!(c.info().await.unwrap().version.to_string(), "1.2.1");
    });
}

/// Tests that run alone (scripts/test-kernel runs `serial::` tests one at a
/// time with IPVS_TEST_SERIAL=1).
mod serial {
    use super::*;

    fn loaded_ipvs_modules() -> Vec<String> {
        std::fs::read_to_string("/proc/modules")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|m| m.starts_with("ip_vs"))
            .map(str::to_owned)
            .collect()
    }

    fn modprobe(args: &[&str]) {
        let ok = Command::new("modprobe")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "modprobe {args:?}");
    }

    #[tokio::test]
    #[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
    async fn the_async_client_follows_ip_vs_being_reloaded() {
        if std::env::var_os("IPVS_TEST_SERIAL").is_none_or(|v| v != "1") {
            println!("not run: it unloads ip_vs; scripts/test-kernel runs it alone");
            return;
        }
        let ns = Ns::new();
        let c = ns.client().await;
        let before = c.family_id();
        let loaded = loaded_ipvs_modules();
        for m in loaded.iter().filter(|m| *m != "ip_vs") {
            modprobe(&["-r", m]);
        }
        modprobe(&["-r", "ip_vs"]);
        // The family id the client holds is gone: its next request is
        // refused with ENOENT, the client looks the family up again (which
        // loads ip_vs back) and resends.
        let info = c.info().await.expect("info after ip_vs was reloaded");
        println!(
            "IPVS {} after reload: family id {before} then {}",
            info.version,
            c.family_id()
        );
        c.add_service(&Service::new(key(7), Scheduler::RoundRobin))
            .await
            .unwrap();
        assert_eq!(c.services().await.unwrap().len(), 1);
        c.flush().await.unwrap();
        for m in &loaded {
            modprobe(&[m]);
        }
    }
}
