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
