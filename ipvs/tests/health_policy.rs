//! The health policy and reconcile rounds on the host, without a kernel:
//! probe results fed to a Monitor, rounds against a MemoryTable.
#![cfg(feature = "health")]

use std::net::SocketAddr;

use ipvs::ServiceKey;
use ipvs::health::probe::{Failure, FailureReason, Outcome};
use ipvs::health::{Event, MemoryTable, Monitor, OnFailure, ProbeId, Reconcile, RunConfig};
use ipvs::state::State;

fn down() -> Outcome {
    Outcome::Down(Failure {
        reason: FailureReason::Refused,
        detail: "refused".into(),
    })
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn web() -> ServiceKey {
    ServiceKey::tcp(addr("192.0.2.10:80"))
}

/// A service with three checked real servers (fall 2, rise 2), `health`
/// being the rest of its health block.
fn config(health: &str, weights: [u32; 3]) -> RunConfig {
    RunConfig::from_yaml(&format!(
        "
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health: {{check: {{type: tcp, fall: 2, rise: 2}}{health}}}
    destinations:
      - {{address: 198.51.100.1, port: 80, weight: {}}}
      - {{address: 198.51.100.2, port: 80, weight: {}}}
      - {{address: 198.51.100.3, port: 80, weight: {}}}
",
        weights[0], weights[1], weights[2]
    ))
    .unwrap()
}

fn id(m: &Monitor, dest: &str) -> ProbeId {
    m.probe_of(&web(), addr(dest)).unwrap()
}

/// The desired weights of the web service's destinations (absent: None).
fn weights(m: &mut Monitor) -> Vec<Option<u32>> {
    let (state, _) = m.desired();
    let s = state.service(&web()).unwrap().clone();
    ["198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"]
        .iter()
        .map(|d| s.dest(addr(d)).map(|d| d.weight))
        .collect()
}

#[test]
fn fall_then_rise_removes_and_restores() {
    let mut m = Monitor::new(config("", [1, 2, 3]));
    let rs1 = id(&m, "198.51.100.1:80");
    assert_eq!(weights(&mut m), [Some(1), Some(2), Some(3)]);
    assert!(m.record(rs1, &down()).is_empty(), "fall is 2");
    assert_eq!(weights(&mut m), [Some(1), Some(2), Some(3)]);
    let events = m.record(rs1, &down());
    assert!(
        matches!(&events[..], [Event::DestDown { dest, action: OnFailure::Remove, reason, .. }]
            if *dest == addr("198.51.100.1:80") && reason.contains("refused")),
        "{events:?}"
    );
    assert_eq!(weights(&mut m), [None, Some(2), Some(3)]);
    assert!(m.record(rs1, &Outcome::Up).is_empty(), "rise is 2");
    assert_eq!(weights(&mut m), [None, Some(2), Some(3)]);
    let events = m.record(rs1, &Outcome::Up);
    assert!(
        matches!(&events[..], [Event::DestUp { weight: 1, .. }]),
        "{events:?}"
    );
    assert_eq!(weights(&mut m), [Some(1), Some(2), Some(3)]);
}

#[test]
fn quiesce_keeps_the_destination_at_weight_zero() {
    let mut m = Monitor::new(config(", on_failure: quiesce", [1, 2, 3]));
    let rs2 = id(&m, "198.51.100.2:80");
    m.record(rs2, &down());
    let events = m.record(rs2, &down());
    assert!(matches!(
        &events[..],
        [Event::DestDown {
            action: OnFailure::Quiesce,
            ..
        }]
    ));
    assert_eq!(weights(&mut m), [Some(1), Some(0), Some(3)]);
}

#[test]
fn slow_start_doubles_from_a_small_start() {
    let mut m = Monitor::new(config(", slow_start: {divisor: 8}", [1, 16, 3]));
    let rs2 = id(&m, "198.51.100.2:80");
    m.desired();
    m.record(rs2, &down());
    m.record(rs2, &down());
    assert_eq!(weights(&mut m)[1], None);
    m.record(rs2, &Outcome::Up);
    let events = m.record(rs2, &Outcome::Up);
    assert!(
        matches!(&events[..], [Event::DestUp { weight: 2, .. }]),
        "{events:?}"
    );
    let mut ramp = vec![weights(&mut m)[1].unwrap()];
    for _ in 0..4 {
        let (_, changed) = m.record_changed(rs2, &Outcome::Up);
        let (state, events) = m.desired();
        let w = state
            .service(&web())
            .unwrap()
            .dest(addr("198.51.100.2:80"))
            .unwrap()
            .weight;
        assert_eq!(changed, w != *ramp.last().unwrap());
        if changed {
            assert!(
                matches!(&events[..], [Event::DestWeight { from, to, .. }] if *from == *ramp.last().unwrap() && *to == w),
                "{events:?}"
            );
        }
        ramp.push(w);
    }
    assert_eq!(ramp, [2, 4, 8, 16, 16]);
    // The start of a run is not a recovery: no ramp.
    let mut fresh = Monitor::new(config(", slow_start: true", [1, 16, 3]));
    assert_eq!(weights(&mut fresh), [Some(1), Some(16), Some(3)]);
}

#[test]
fn quorum_with_hysteresis_and_sorry_server() {
    let mut m = Monitor::new(config(
        ", quorum: {weight: 3, hysteresis: 1}, sorry_server: {address: 203.0.113.9, port: 80, weight: 5}",
        [1, 1, 2],
    ));
    let sorry = addr("203.0.113.9:80");
    let (rs1, rs2, rs3) = (
        id(&m, "198.51.100.1:80"),
        id(&m, "198.51.100.2:80"),
        id(&m, "198.51.100.3:80"),
    );
    assert!(m.desired().1.is_empty());
    let fail = |m: &mut Monitor, id| {
        m.record(id, &down());
        m.record(id, &down());
    };
    let heal = |m: &mut Monitor, id| {
        m.record(id, &Outcome::Up);
        m.record(id, &Outcome::Up);
    };
    fail(&mut m, rs1); // live 3
    fail(&mut m, rs2); // live 2: still >= 3 - 1
    let (state, events) = m.desired();
    assert!(events.is_empty(), "{events:?}");
    assert!(state.service(&web()).unwrap().dest(sorry).is_none());
    fail(&mut m, rs3); // live 0
    let (state, events) = m.desired();
    assert!(
        matches!(&events[..], [Event::QuorumLost { live: 0, quorum: 3, .. }, Event::SorryServerIn { dest, .. }] if *dest == sorry),
        "{events:?}"
    );
    let s = state.service(&web()).unwrap();
    assert_eq!(s.destinations.len(), 1);
    assert_eq!(s.dest(sorry).unwrap().weight, 5);
    heal(&mut m, rs3); // live 2: not yet 3 + 1
    heal(&mut m, rs1); // live 3: not yet
    let (state, events) = m.desired();
    assert!(events.is_empty(), "{events:?}");
    let s = state.service(&web()).unwrap();
    assert_eq!(s.dest(sorry).unwrap().weight, 5);
    assert!(
        s.destinations
            .iter()
            .all(|d| d.socket_addr() == sorry || d.weight == 0),
        "while the sorry server serves, the live ones wait at weight 0"
    );
    heal(&mut m, rs2); // live 4
    let (state, events) = m.desired();
    assert!(
        matches!(
            &events[..],
            [
                Event::QuorumRegained { live: 4, .. },
                Event::SorryServerOut { .. }
            ]
        ),
        "{events:?}"
    );
    let s = state.service(&web()).unwrap();
    assert!(s.dest(sorry).is_none());
    assert_eq!(
        s.destinations.iter().map(|d| d.weight).collect::<Vec<_>>(),
        [1, 1, 2]
    );
}

#[test]
fn initial_down_waits_for_a_first_success() {
    let mut m = Monitor::new(config(", initial: down", [1, 2, 3]));
    assert_eq!(weights(&mut m), [None, None, None]);
    let events = m.record(id(&m, "198.51.100.3:80"), &Outcome::Up);
    assert!(matches!(&events[..], [Event::DestUp { weight: 3, .. }]));
    assert!(m.record(id(&m, "198.51.100.2:80"), &down()).is_empty());
    assert_eq!(weights(&mut m), [None, None, Some(3)]);
}

#[test]
fn a_weight_from_the_check_overrides_the_configured_one() {
    let mut m = Monitor::new(config("", [1, 2, 3]));
    m.desired();
    let rs1 = id(&m, "198.51.100.1:80");
    let (events, changed) = m.record_changed(rs1, &Outcome::UpWithWeight(7));
    assert!(events.is_empty() && changed);
    let (_, events) = m.desired();
    assert!(matches!(
        &events[..],
        [Event::DestWeight { from: 1, to: 7, .. }]
    ));
    assert_eq!(weights(&mut m), [Some(7), Some(2), Some(3)]);
    m.record(rs1, &Outcome::Up);
    assert_eq!(weights(&mut m), [Some(1), Some(2), Some(3)]);
}

#[test]
fn shared_real_servers_share_one_probe_and_its_counts() {
    let text = "
services:
  - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr, health: {check: {type: tcp, fall: 2}},
     destinations: [{address: 198.51.100.1, port: 80}, {address: 198.51.100.2, port: 80}]}
  - {protocol: tcp, address: 192.0.2.11, port: 80, scheduler: rr, health: {check: {type: tcp, fall: 2}},
     destinations: [{address: 198.51.100.1, port: 80}]}
  - {protocol: tcp, address: 192.0.2.12, port: 443, scheduler: rr,
     destinations: [{address: 198.51.100.1, port: 443, check: {type: tcp, fall: 2, connect_port: 80}}]}
";
    let mut m = Monitor::new(RunConfig::from_yaml(text).unwrap());
    assert_eq!(
        m.probes().count(),
        2,
        "198.51.100.1:80 (three services) and .2:80"
    );
    let shared = m.probe_of(&web(), addr("198.51.100.1:80")).unwrap();
    assert_eq!(m.probe(shared).unwrap().dests.len(), 3);
    m.record(shared, &down());
    let events = m.record(shared, &down());
    assert_eq!(events.len(), 3, "{events:?}");
    let (state, _) = m.desired();
    assert_eq!(state.dest_count(), 1);
}

#[test]
fn a_reload_keeps_unchanged_probes_and_their_state() {
    let mut m = Monitor::new(config("", [1, 2, 3]));
    let rs1 = id(&m, "198.51.100.1:80");
    m.record(rs1, &down());
    m.record(rs1, &down());
    m.record(rs1, &Outcome::Up);
    let text = "
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health: {check: {type: tcp, fall: 2, rise: 2}}
    destinations:
      - {address: 198.51.100.1, port: 80, weight: 1}
      - {address: 198.51.100.2, port: 80, weight: 5}
      - {address: 198.51.100.4, port: 80, weight: 1}
";
    let changes = m.reload(RunConfig::from_yaml(text).unwrap());
    assert_eq!(
        (
            changes.kept.len(),
            changes.started.len(),
            changes.stopped.len()
        ),
        (2, 1, 1)
    );
    assert!(changes.retimed.is_empty());
    assert_eq!(id(&m, "198.51.100.1:80"), rs1);
    let s = m.status(rs1).unwrap();
    assert!(!s.up && s.successes == 1, "kept with its counters: {s:?}");
    let events = m.record(rs1, &Outcome::Up);
    assert!(
        matches!(&events[..], [Event::DestUp { .. }]),
        "the second success of two"
    );
}

fn round(
    r: &mut Reconcile,
    table: &MemoryTable,
    desired: &State,
    read: bool,
) -> (usize, Vec<Event>) {
    let mut t = table.clone();
    let round = r.round(&mut t, desired, read).unwrap();
    assert!(round.report.is_ok(), "{}", round.report);
    (round.plan.len(), round.events)
}

#[test]
fn drift_is_repaired_and_other_services_are_left_alone() {
    let foreign = "-A -u 192.0.2.99:53 -s rr\n-a -u 192.0.2.99:53 -r 198.51.100.9:53 -m -w 1\n";
    let table = MemoryTable::new(State::from_rules_text(foreign).unwrap());
    let mut m = Monitor::new(config("", [1, 2, 3]));
    let mut r = Reconcile::new(None);
    let (desired, _) = m.desired();
    assert_eq!(round(&mut r, &table, &desired, true).0, 4);
    assert_eq!(round(&mut r, &table, &desired, true), (0, vec![]));

    // ipvsadm -d of a healthy destination, and a weight changed by hand.
    table.edit(|s| {
        let svc = s.service_mut(&web()).unwrap();
        svc.destinations
            .retain(|d| d.socket_addr() != addr("198.51.100.2:80"));
        svc.destinations[1].weight = 9;
    });
    // A quick round trusts the last one; a reading round repairs.
    assert_eq!(round(&mut r, &table, &desired, false).0, 0);
    let (ops, events) = round(&mut r, &table, &desired, true);
    assert_eq!(ops, 2);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().any(|e| matches!(e,
        Event::DriftRepaired { dest: Some(d), repair, .. }
            if *d == addr("198.51.100.2:80") && repair.starts_with("-a -t 192.0.2.10:80 -r 198.51.100.2:80"))));
    assert!(table.snapshot().config_eq(&{
        let mut want = desired.clone();
        want.services
            .extend(State::from_rules_text(foreign).unwrap().services);
        want
    }));

    // A whole service deleted by hand comes back.
    table.edit(|s| s.services.retain(|x| x.service.key != web()));
    let (ops, events) = round(&mut r, &table, &desired, true);
    assert_eq!(ops, 4);
    assert!(
        matches!(&events[..], [Event::DriftRepaired { dest: None, .. }]),
        "{events:?}"
    );
}

#[test]
fn an_operators_drain_is_kept_until_the_operator_ends_it() {
    let table = MemoryTable::new(State::new());
    let mut m = Monitor::new(config("", [1, 2, 3]));
    let mut r = Reconcile::new(None);
    let (desired, _) = m.desired();
    round(&mut r, &table, &desired, true);
    let set_weight = |w: u32| {
        table.edit(|s| {
            let svc = s.service_mut(&web()).unwrap();
            svc.destinations
                .iter_mut()
                .find(|d| d.socket_addr() == addr("198.51.100.3:80"))
                .unwrap()
                .weight = w;
        })
    };
    set_weight(0);
    let (ops, events) = round(&mut r, &table, &desired, true);
    assert_eq!(ops, 0);
    assert!(
        matches!(&events[..], [Event::OperatorDrain { .. }]),
        "{events:?}"
    );
    // Health changes elsewhere still apply; the drain holds through them.
    let rs1 = id(&m, "198.51.100.1:80");
    m.record(rs1, &down());
    m.record(rs1, &down());
    let (desired, _) = m.desired();
    let (ops, events) = round(&mut r, &table, &desired, false);
    assert_eq!((ops, events.len()), (1, 0));
    assert_eq!(round(&mut r, &table, &desired, true), (0, vec![]));
    let w = |t: &MemoryTable, d: &str| {
        t.snapshot()
            .service(&web())
            .unwrap()
            .dest(addr(d))
            .map(|d| d.weight)
    };
    assert_eq!(w(&table, "198.51.100.3:80"), Some(0));
    // The operator gives it a weight again: the run manages it again.
    set_weight(1);
    let (ops, events) = round(&mut r, &table, &desired, true);
    assert_eq!(ops, 1);
    assert!(
        matches!(&events[..], [Event::OperatorDrainEnded { .. }]),
        "{events:?}"
    );
    assert_eq!(w(&table, "198.51.100.3:80"), Some(3));
}

#[test]
fn a_changed_weight_is_one_operation_and_stop_removes_only_ours() {
    let foreign = "-A -u 192.0.2.99:53 -s rr\n";
    let table = MemoryTable::new(State::from_rules_text(foreign).unwrap());
    let mut m = Monitor::new(config("", [1, 2, 3]));
    let mut r = Reconcile::new(None);
    round(&mut r, &table, &m.desired().0, true);
    m.reload(config("", [1, 5, 3]));
    let mut t = table.clone();
    let done = r.round(&mut t, &m.desired().0, true).unwrap();
    assert_eq!(
        done.plan.to_string(),
        "-e -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 5\n"
    );
    let gone = r.remove_ours(&mut t).unwrap();
    assert!(gone.report.is_ok());
    assert!(
        table
            .snapshot()
            .config_eq(&State::from_rules_text(foreign).unwrap())
    );
}
