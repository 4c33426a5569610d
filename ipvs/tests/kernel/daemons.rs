//! Connection-sync daemons on a dummy interface of the test's namespace.

use std::net::IpAddr;
use std::time::Duration;

use ipvs::client::{Client, Netns, Operation};
use ipvs::codec::{IpvsMessage, Reply, RequestKind};
use ipvs::{DaemonState, SyncDaemon};

use crate::common::{RawSocket, TestNs};

fn sorted(mut v: Vec<SyncDaemon>) -> Vec<SyncDaemon> {
    v.sort_by_key(|d| d.state.to_raw());
    v
}

/// A daemon as the kernel lists it: every option filled in.
fn listed(
    state: DaemonState,
    ifn: &str,
    id: u32,
    max_len: u16,
    group: &str,
    port: u16,
    ttl: u8,
) -> SyncDaemon {
    SyncDaemon {
        max_len: Some(max_len),
        group: Some(group.parse::<IpAddr>().unwrap()),
        port: Some(port),
        ttl: Some(ttl),
        ..SyncDaemon::new(state, ifn, id)
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn master_and_backup_with_defaults_list_and_stop() {
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    let c = &ns.client;
    assert!(c.daemons().unwrap().is_empty());
    c.start_daemon(&SyncDaemon::new(DaemonState::Master, "sync0", 0))
        .unwrap();
    c.start_daemon(&SyncDaemon::new(DaemonState::Backup, "sync0", 255))
        .unwrap();
    // The kernel's defaults: group 224.0.0.81, port 8848, TTL 1, and the
    // largest message a 1500-byte MTU carries over IPv4/UDP.
    assert_eq!(
        sorted(c.daemons().unwrap()),
        vec![
            listed(DaemonState::Master, "sync0", 0, 1472, "224.0.0.81", 8848, 1),
            listed(
                DaemonState::Backup,
                "sync0",
                255,
                1472,
                "224.0.0.81",
                8848,
                1
            ),
        ]
    );
    let shown = ns.ipvsadm(&["-L", "--daemon"]);
    assert!(
        shown.contains("master sync daemon (mcast=sync0, syncid=0"),
        "{shown}"
    );
    assert!(
        shown.contains("backup sync daemon (mcast=sync0, syncid=255"),
        "{shown}"
    );

    c.stop_daemon(DaemonState::Master).unwrap();
    assert_eq!(
        c.daemons().unwrap(),
        vec![listed(
            DaemonState::Backup,
            "sync0",
            255,
            1472,
            "224.0.0.81",
            8848,
            1
        )]
    );
    c.stop_daemon(DaemonState::Backup).unwrap();
    assert!(c.daemons().unwrap().is_empty());
    assert_eq!(ns.ipvsadm(&["-L", "--daemon"]), "");
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn daemons_with_every_option_read_back() {
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    ns.ip(&["addr", "add", "192.0.2.70/24", "dev", "sync0"]);
    ns.add_dummy("sync1");
    ns.ip(&["link", "set", "sync1", "mtu", "9000"]);
    let c = &ns.client;
    // 233.252.0.0/24 is MCAST-TEST-NET (RFC 5771); ff3e:20:2001:db8::/64 the
    // unicast-prefix-based multicast of 2001:db8::/32.
    let cases = [
        (
            SyncDaemon {
                max_len: Some(1000),
                group: Some("233.252.0.1".parse().unwrap()),
                port: Some(9000),
                ttl: Some(3),
                ..SyncDaemon::new(DaemonState::Master, "sync0", 5)
            },
            listed(
                DaemonState::Master,
                "sync0",
                5,
                1000,
                "233.252.0.1",
                9000,
                3,
            ),
        ),
        (
            SyncDaemon {
                group: Some("ff3e:20:2001:db8::1".parse().unwrap()),
                port: Some(65535),
                ttl: Some(255),
                ..SyncDaemon::new(DaemonState::Backup, "sync1", 6)
            },
            // A backup sizes its buffer from the interface MTU; IPv6 headers
            // take 48 bytes.
            listed(
                DaemonState::Backup,
                "sync1",
                6,
                9000 - 48,
                "ff3e:20:2001:db8::1",
                65535,
                255,
            ),
        ),
    ];
    for (start, _) in &cases {
        c.start_daemon(start)
            .unwrap_or_else(|e| panic!("{start:?}: {e}"));
    }
    assert_eq!(
        sorted(c.daemons().unwrap()),
        cases.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>()
    );
    c.stop_daemon(DaemonState::Master).unwrap();
    c.stop_daemon(DaemonState::Backup).unwrap();

    // The kernel clamps the maximum length: at least 1024 for a backup, at
    // most 65535 less the headers for either.
    let clamps = [
        (DaemonState::Backup, 1000, "224.0.0.81", 1024),
        (DaemonState::Master, 1, "224.0.0.81", 1),
        (DaemonState::Master, 65535, "224.0.0.81", 65535 - 28),
        (
            DaemonState::Backup,
            65535,
            "ff3e:20:2001:db8::2",
            65535 - 48,
        ),
    ];
    for (state, asked, group, got) in clamps {
        c.start_daemon(&SyncDaemon {
            max_len: Some(asked),
            group: Some(group.parse().unwrap()),
            ..SyncDaemon::new(state, "sync1", 7)
        })
        .unwrap();
        let daemons = c.daemons().unwrap();
        assert_eq!(daemons.len(), 1);
        assert_eq!(daemons[0].max_len, Some(got), "{state:?} asked for {asked}");
        c.stop_daemon(state).unwrap();
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn stop_right_after_start() {
    // A sync thread stopped before it ever ran makes kthread_stop() return
    // EINTR, which DEL_DAEMON passes on, and netlink sends no ACK at all for
    // a handler returning EINTR (the daemon is stopped nonetheless). Under
    // emulation that happens often; the client must answer anyway.
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    let c = Client::builder()
        .netns(Netns::named(&ns.name).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for round in 0..10 {
        for state in [DaemonState::Master, DaemonState::Backup] {
            c.start_daemon(&SyncDaemon::new(state, "sync0", round))
                .unwrap();
            c.stop_daemon(state)
                .unwrap_or_else(|e| panic!("round {round}: stop {state:?}: {e}"));
            assert!(c.daemons().unwrap().is_empty());
        }
        // And in a batch, last or not.
        let start = |s| Operation::StartDaemon(SyncDaemon::new(s, "sync0", round));
        let batch = [
            start(DaemonState::Master),
            start(DaemonState::Backup),
            Operation::StopDaemon(DaemonState::Master),
            Operation::StopDaemon(DaemonState::Backup),
        ];
        assert!(c.execute_batch(&batch).unwrap().is_ok(), "round {round}");
        assert!(c.daemons().unwrap().is_empty());
    }

    // What the kernel does, seen through a socket of our own.
    let mut raw = RawSocket::open(&ns);
    let (mut acked, mut silent) = (0, 0);
    for round in 0..10 {
        let d = SyncDaemon::new(DaemonState::Master, "sync0", round);
        assert_eq!(raw.request(&IpvsMessage::new_daemon(&d)), None);
        let stop = IpvsMessage::del_daemon(DaemonState::Master);
        match raw.exchange(&[(&stop, RequestKind::Ack)]).as_slice() {
            [] => silent += 1,
            [(0, Reply::Ack)] => acked += 1,
            other => panic!("DEL_DAEMON answered {other:?}"),
        }
        assert!(c.daemons().unwrap().is_empty());
    }
    println!(
        "DEL_DAEMON right after NEW_DAEMON: {acked} acknowledged, {silent} not answered at all"
    );
}
