//! The serde forms the Python model writes and reads, pinned on the Rust
//! side: `tests/test_model.py` checks the Python side against the same text.

use super::*;
use ipvs::{Scheduler, ServiceFlags, TunnelChecksum};
use serde_json::{Value, json};

fn form<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn service_forms() {
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    let svc = Service::new(key, Scheduler::WeightedRoundRobin)
        .with_persistence(600)
        .with_flags(ServiceFlags::ONE_PACKET)
        .with_persistence_engine("sip");
    assert_eq!(
        form(&svc),
        json!({"protocol": "tcp", "address": "192.0.2.10", "port": 80, "scheduler": "wrr",
               "persistence": {"timeout": 600, "netmask": {"v4": "255.255.255.255"}},
               "flags": 4, "persistence_engine": "sip"})
    );
    let v6 =
        Service::new(ServiceKey::fwmark_v6(7), Scheduler::Other("my".into())).with_persistence(60);
    assert_eq!(
        form(&v6),
        json!({"fwmark": 7, "family": "ipv6", "scheduler": "my",
               "persistence": {"timeout": 60, "netmask": {"v6": 128}}})
    );
    let other = ServiceKey::Address {
        protocol: ipvs::Protocol::Other(99),
        address: "2001:db8::1".parse().unwrap(),
        port: 0,
    };
    assert_eq!(
        form(&other),
        json!({"protocol": {"other": 99}, "address": "2001:db8::1", "port": 0})
    );
    // Read back through the flattened, untagged key.
    let back: Service = serde_json::from_value(form(&svc)).unwrap();
    assert_eq!(back, svc);
}

#[test]
fn destination_forms() {
    let d = Destination::new("192.0.2.21:80".parse().unwrap());
    assert_eq!(
        form(&d),
        json!({"address": "192.0.2.21", "port": 80, "forward": "masquerade", "weight": 1})
    );
    let gue = Destination::new("[2001:db8::21]:8080".parse().unwrap())
        .with_forward(ForwardMethod::Tunnel(Tunnel::Gue {
            port: 6080,
            checksum: TunnelChecksum::Remote,
        }))
        .with_weight(3)
        .with_thresholds(10, 5);
    assert_eq!(
        form(&gue),
        json!({"address": "2001:db8::21", "port": 8080,
               "forward": {"tunnel": {"type": "gue", "port": 6080, "checksum": "remote"}},
               "weight": 3, "upper_threshold": 10, "lower_threshold": 5})
    );
    assert_eq!(
        form(&ForwardMethod::Tunnel(Tunnel::Ipip)),
        json!({"tunnel": {"type": "ipip"}})
    );
    assert_eq!(
        form(&ForwardMethod::Tunnel(Tunnel::Gre {
            checksum: TunnelChecksum::Checksum
        })),
        json!({"tunnel": {"type": "gre", "checksum": "checksum"}})
    );
    assert_eq!(form(&ForwardMethod::DirectRoute), json!("direct_route"));
    assert_eq!(form(&ForwardMethod::Other(6)), json!({"other": 6}));
    // Defaults on reading: forward masquerade, weight 1.
    let min: Destination =
        serde_json::from_value(json!({"address": "192.0.2.21", "port": 80})).unwrap();
    assert_eq!(min, d);
}

#[test]
fn other_forms() {
    assert_eq!(
        form(&Timeouts::KERNEL_DEFAULTS),
        json!({"tcp": 900, "tcp_fin": 120, "udp": 300})
    );
    assert_eq!(
        form(&Info {
            version: Version::from_raw(0x010201),
            connection_table_size: 4096
        }),
        json!({"version": {"major": 1, "minor": 2, "patch": 1}, "connection_table_size": 4096})
    );
    let mut daemon = SyncDaemon::new(DaemonState::Backup, "eth0", 5);
    assert_eq!(
        form(&daemon),
        json!({"state": "backup", "interface": "eth0", "sync_id": 5})
    );
    daemon.group = Some("ff02::81".parse().unwrap());
    daemon.port = Some(8848);
    daemon.ttl = Some(2);
    daemon.max_len = Some(1400);
    assert_eq!(
        form(&daemon),
        json!({"state": "backup", "interface": "eth0", "sync_id": 5, "max_len": 1400,
               "group": "ff02::81", "port": 8848, "ttl": 2})
    );
    assert_eq!(form(&DaemonState::Other(3)), json!({"other": 3}));
}

#[test]
fn operation_forms() {
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    let v6 = ServiceKey::tcp("[2001:db8::10]:443".parse().unwrap());
    let ops = vec![
        Operation::DeleteService(key),
        Operation::AddDestination(key, Destination::new("192.0.2.21:80".parse().unwrap())),
        Operation::DeleteDestination(key, "192.0.2.21:80".parse().unwrap()),
        Operation::DeleteDestination(v6, "[2001:db8::21]:8443".parse().unwrap()),
        Operation::Zero(None),
        Operation::Zero(Some(key)),
        Operation::Flush,
        Operation::StopDaemon(DaemonState::Master),
        Operation::SetTimeouts(Timeouts {
            tcp: 1,
            ..Timeouts::UNCHANGED
        }),
    ];
    let k = json!({"protocol": "tcp", "address": "192.0.2.10", "port": 80});
    assert_eq!(
        form(&ops),
        json!([
            {"delete_service": k},
            {"add_destination": [k, {"address": "192.0.2.21", "port": 80, "forward": "masquerade", "weight": 1}]},
            {"delete_destination": [k, "192.0.2.21:80"]},
            {"delete_destination": [{"protocol": "tcp", "address": "2001:db8::10", "port": 443}, "[2001:db8::21]:8443"]},
            {"zero": null},
            {"zero": k},
            "flush",
            {"stop_daemon": "master"},
            {"set_timeouts": {"tcp": 1, "tcp_fin": 0, "udp": 0}},
        ])
    );
    let back: Vec<Operation> = serde_json::from_value(form(&ops)).unwrap();
    assert_eq!(back, ops);
}

/// The words Python prints (`str()` of its operations and values calls these
/// `Display`s): `tests/test_rust_agreement.py` pins the same text.
#[test]
fn display_words() {
    use ipvs::client::Error;
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    let dest = Destination::new("192.0.2.21:80".parse().unwrap());
    let words = [
        (
            Operation::AddService(Service::new(key, Scheduler::RoundRobin)).to_string(),
            "add service TCP 192.0.2.10:80",
        ),
        (
            Operation::AddDestination(key, dest.clone()).to_string(),
            "add destination 192.0.2.21:80 to TCP 192.0.2.10:80",
        ),
        (
            Operation::UpdateDestination(key, dest).to_string(),
            "update destination 192.0.2.21:80 of TCP 192.0.2.10:80",
        ),
        (
            Operation::DeleteDestination(key, "[2001:db8::21]:8443".parse().unwrap()).to_string(),
            "delete destination [2001:db8::21]:8443 of TCP 192.0.2.10:80",
        ),
        (
            Operation::SetTimeouts(Timeouts {
                tcp: 1,
                tcp_fin: 2,
                udp: 3,
            })
            .to_string(),
            "set timeouts tcp 1 tcpfin 2 udp 3",
        ),
        (Operation::Zero(None).to_string(), "zero all counters"),
        (
            Operation::StartDaemon(SyncDaemon::new(DaemonState::Master, "eth0", 5)).to_string(),
            "start master sync daemon on eth0",
        ),
        (
            Operation::StopDaemon(DaemonState::Backup).to_string(),
            "stop backup sync daemon",
        ),
        (
            Error::DaemonExists {
                state: DaemonState::Master,
            }
            .to_string(),
            "a master sync daemon is already running",
        ),
        (ServiceKey::fwmark_v6(7).to_string(), "FWM 7 IPv6"),
    ];
    for (got, want) in words {
        assert_eq!(got, want);
    }
}

/// The drain-state file: what `ipvsctl --drain-state` writes and
/// `ipvs.DrainTracker.to_json()` returns (`tracker_dumps`), and reads back.
#[test]
fn drain_state_file() {
    use std::time::{Duration, UNIX_EPOCH};
    let mut t = ipvs::state::DrainTracker::default();
    t.insert(
        ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
        "192.0.2.21:80".parse().unwrap(),
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
    );
    let text = serde_json::to_string_pretty(&t).unwrap() + "\n";
    assert_eq!(
        text,
        r#"[
  {
    "service": {
      "protocol": "tcp",
      "address": "192.0.2.10",
      "port": 80
    },
    "dest": "192.0.2.21:80",
    "since": {
      "secs_since_epoch": 1700000000,
      "nanos_since_epoch": 500000000
    }
  }
]
"#
    );
    let back: ipvs::state::DrainTracker = serde_json::from_str(&text).unwrap();
    assert_eq!(back.len(), 1);
}

/// A plan's summary as `ipvsctl` and `str(ipvs.PlanSummary)` print it.
#[test]
fn summary_words() {
    use ipvs::state::PlanSummary;
    assert_eq!(PlanSummary::default().to_string(), "no changes");
    let s = PlanSummary {
        add_services: 1,
        add_destinations: 2,
        ..PlanSummary::default()
    };
    assert_eq!(
        s.to_string(),
        "3 operations: 1 services added, 2 destinations added"
    );
}
