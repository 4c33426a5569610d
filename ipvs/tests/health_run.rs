//! The run loop on the host: a Supervisor over a MemoryTable, probing
//! loopback TCP servers that the tests stop and start.
#![cfg(feature = "health")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipvs::ServiceKey;
use ipvs::health::{Event, Handle, MemoryTable, OnStop, RunConfig, Supervisor, SupervisorOptions};
use ipvs::state::State;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

/// A loopback TCP server that counts the connections it accepts.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = Server {
            addr,
            accepted: Arc::default(),
            task: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: TcpListener) {
        let accepted = self.accepted.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        }));
    }

    /// Stop listening: probes are refused.
    async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listen again on the same port.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

const CHECK: &str = "{type: tcp, interval: 100ms, timeout: 50ms, fall: 2, rise: 2, jitter: 20ms}";

fn web() -> ServiceKey {
    ServiceKey::tcp("192.0.2.10:80".parse().unwrap())
}

fn start(
    config: &str,
    table: &MemoryTable,
    options: SupervisorOptions,
) -> (Handle, JoinHandle<()>, broadcast::Receiver<Event>) {
    let config = RunConfig::from_yaml(config).unwrap();
    let (sup, handle) = Supervisor::new(config, table.clone(), options);
    let events = handle.subscribe();
    let run = tokio::spawn(async move { sup.run().await.unwrap() });
    (handle, run, events)
}

fn options() -> SupervisorOptions {
    SupervisorOptions {
        reconcile_period: Duration::from_millis(200),
        ..SupervisorOptions::default()
    }
}

/// The next event that `pick` accepts, within `limit`.
async fn wait_for(
    events: &mut broadcast::Receiver<Event>,
    limit: Duration,
    pick: impl Fn(&Event) -> bool,
) -> Event {
    timeout(limit, async {
        loop {
            let e = events.recv().await.unwrap();
            if pick(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event did not come in time")
}

/// Poll `cond` every 5 ms for at most `limit`.
async fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        sleep(Duration::from_millis(5)).await;
    }
    cond()
}

fn weight(table: &MemoryTable, service: &ServiceKey, dest: SocketAddr) -> Option<u32> {
    table
        .snapshot()
        .service(service)?
        .dest(dest)
        .map(|d| d.weight)
}

#[tokio::test]
async fn a_dead_server_leaves_and_comes_back() {
    let mut a = Server::start().await;
    let b = Server::start().await;
    let table = MemoryTable::new(State::new());
    let config = format!(
        "services:
  - {{protocol: tcp, address: 192.0.2.10, port: 80, scheduler: wrr, health: {{check: {CHECK}}},
     destinations: [{{address: 127.0.0.1, port: {}, weight: 2}}, {{address: 127.0.0.1, port: {}, weight: 3}}]}}
",
        a.addr.port(),
        b.addr.port()
    );
    // A long period: what the checks change is applied at once, not at the
    // next period (told apart below, with room for a loaded machine).
    let options = SupervisorOptions {
        reconcile_period: Duration::from_secs(5),
        ..options()
    };
    let (handle, run, mut events) = start(&config, &table, options);
    // The first reconcile puts both in.
    assert!(
        eventually(Duration::from_secs(1), || table.snapshot().dest_count()
            == 2)
        .await
    );
    assert_eq!(weight(&table, &web(), a.addr), Some(2));
    assert_eq!(weight(&table, &web(), b.addr), Some(3));

    a.kill().await;
    let t0 = Instant::now();
    let e = wait_for(&mut events, Duration::from_secs(3), |e| {
        matches!(e, Event::DestDown { .. })
    })
    .await;
    // fall × interval + timeout, with slack for a loaded machine.
    assert!(
        t0.elapsed() < Duration::from_millis(2 * 100 + 50 + 1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(matches!(e, Event::DestDown { dest, .. } if dest == a.addr));
    assert!(
        eventually(Duration::from_secs(2), || weight(&table, &web(), a.addr)
            .is_none())
        .await,
        "removed at once, not at the next period (5 s)"
    );
    assert_eq!(weight(&table, &web(), b.addr), Some(3));

    a.restart().await;
    let e = wait_for(&mut events, Duration::from_secs(3), |e| {
        matches!(e, Event::DestUp { .. })
    })
    .await;
    assert!(matches!(e, Event::DestUp { dest, weight: 2, .. } if dest == a.addr));
    assert!(
        eventually(Duration::from_secs(2), || weight(&table, &web(), a.addr)
            == Some(2))
        .await,
        "back at once, not at the next period (5 s)"
    );

    handle.stop().await;
    run.await.unwrap();
    assert_eq!(
        table.snapshot().dest_count(),
        2,
        "on_stop leave: the table stays"
    );
}

#[tokio::test]
async fn one_probe_per_shared_real_server() {
    let shared = Server::start().await;
    let table = MemoryTable::new(State::new());
    let p = shared.addr.port();
    let config = format!(
        "services:
  - {{protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr, health: {{check: {CHECK}}}, destinations: [{{address: 127.0.0.1, port: {p}}}]}}
  - {{protocol: tcp, address: 192.0.2.11, port: 80, scheduler: rr, health: {{check: {CHECK}}}, destinations: [{{address: 127.0.0.1, port: {p}}}]}}
  - {{protocol: udp, address: 192.0.2.12, port: 80, scheduler: rr, health: {{check: {CHECK}}}, destinations: [{{address: 127.0.0.1, port: {p}}}]}}
"
    );
    let (handle, run, _events) = start(&config, &table, options());
    sleep(Duration::from_millis(1000)).await;
    let n = shared.accepted();
    handle.stop().await;
    run.await.unwrap();
    // One probe every 100 ms for 1 s: about 10 connections, not 30.
    assert!((5..=13).contains(&n), "{n} connections in 1 s");
}

#[tokio::test]
async fn drift_is_repaired_within_a_period() {
    let a = Server::start().await;
    let table = MemoryTable::new(State::new());
    let config = format!(
        "services:
  - {{protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr, health: {{check: {CHECK}}}, destinations: [{{address: 127.0.0.1, port: {}}}]}}
",
        a.addr.port()
    );
    let (handle, run, mut events) = start(&config, &table, options());
    sleep(Duration::from_millis(50)).await;
    table.edit(|s| s.service_mut(&web()).unwrap().destinations.clear());
    // At the next period (200 ms): nothing else looks at the table.
    let e = wait_for(&mut events, Duration::from_secs(2), |e| {
        matches!(e, Event::DriftRepaired { .. })
    })
    .await;
    assert!(
        matches!(e, Event::DriftRepaired { dest: Some(d), .. } if d == a.addr),
        "{e}"
    );
    assert_eq!(weight(&table, &web(), a.addr), Some(1));
    handle.stop().await;
    run.await.unwrap();
}

#[tokio::test]
async fn a_reload_keeps_probe_state_and_changes_only_the_difference() {
    let mut a = Server::start().await;
    let b = Server::start().await;
    let table = MemoryTable::new(State::new());
    let (pa, pb) = (a.addr.port(), b.addr.port());
    let config = |wb: u32| {
        format!(
            "services:
  - {{protocol: tcp, address: 192.0.2.10, port: 80, scheduler: wrr, health: {{check: {CHECK}}},
     destinations: [{{address: 127.0.0.1, port: {pa}, weight: 1}}, {{address: 127.0.0.1, port: {pb}, weight: {wb}}}]}}
  - {{protocol: tcp, address: 192.0.2.20, port: 80, scheduler: rr}}
"
        )
    };
    let (handle, run, mut events) = start(&config(1), &table, options());
    a.kill().await;
    wait_for(&mut events, Duration::from_secs(3), |e| {
        matches!(e, Event::DestDown { .. })
    })
    .await;

    // A file that does not load: the running configuration stays.
    let dir = std::env::temp_dir().join(format!("ipvs-health-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("run.yaml");
    std::fs::write(&file, config(4).replace("interval: 100ms", "interval: 0s")).unwrap();
    let refused = handle.reload_file(file.clone()).await.unwrap().unwrap_err();
    assert!(
        refused.to_string().contains("health.check.interval"),
        "{refused}"
    );
    wait_for(&mut events, Duration::from_secs(1), |e| {
        matches!(e, Event::ReloadFailed { .. })
    })
    .await;

    // A changed weight: only that destination changes; the dead one stays out.
    std::fs::write(&file, config(4)).unwrap();
    let summary = handle.reload_file(file).await.unwrap().unwrap();
    assert_eq!(
        (summary.kept, summary.started, summary.stopped, summary.ops),
        (2, 0, 0, 1),
        "{summary:?}"
    );
    assert_eq!(weight(&table, &web(), b.addr), Some(4));
    assert_eq!(
        weight(&table, &web(), a.addr),
        None,
        "its probe kept its state: still down"
    );
    std::fs::remove_dir_all(&dir).ok();

    handle.stop().await;
    run.await.unwrap();
}

#[tokio::test]
async fn stop_can_remove_what_the_run_made() {
    let table = MemoryTable::new(State::from_rules_text("-A -u 192.0.2.99:53 -s rr\n").unwrap());
    let config = "services:
  - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr, destinations: [{address: 198.51.100.1, port: 80}]}
";
    let options = SupervisorOptions {
        on_stop: OnStop::Remove,
        ..options()
    };
    let (handle, run, _events) = start(config, &table, options);
    sleep(Duration::from_millis(50)).await;
    assert_eq!(table.snapshot().services.len(), 2);
    handle.stop().await;
    run.await.unwrap();
    let left = table.snapshot();
    assert_eq!(left.services.len(), 1);
    assert!(left.service(&web()).is_none());
}

/// A table that cannot be read (no IPVS).
struct NoIpvs;

impl ipvs::health::Table for NoIpvs {
    fn read(&mut self) -> Result<State, ipvs::client::Error> {
        Err(ipvs::client::Error::IpvsNotAvailable)
    }
    fn apply(&mut self, _: &ipvs::state::Plan, _: &State) -> ipvs::state::ApplyReport {
        unreachable!("never applied: the table cannot be read")
    }
}

#[tokio::test]
async fn a_table_that_cannot_be_read_stops_the_start() {
    let config = RunConfig::from_yaml("services: []").unwrap();
    let (sup, handle) = Supervisor::new(config, NoIpvs, options());
    let mut events = handle.subscribe();
    let e = sup.run().await.unwrap_err();
    assert!(matches!(e, ipvs::health::RunError::Start(_)), "{e}");
    assert!(
        matches!(events.recv().await.unwrap(), Event::ReconcileFailed { error } if error.contains("IPVS is not available"))
    );
}
