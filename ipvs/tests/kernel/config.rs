//! Namespace-wide settings and operations: timeouts, info, zero, flush, and
//! the ways of opening a client.

use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipvs::client::{Client, Error, Netns, within};
use ipvs::{Destination, Scheduler, Service, ServiceKey, Stats, Timeouts};

use crate::assert_err;
use crate::common::{TestNs, sa};

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn timeouts_default_then_set_with_zero_leaving_unchanged() {
    let ns = TestNs::new();
    let c = &ns.client;
    assert_eq!(c.timeouts().unwrap(), Timeouts::KERNEL_DEFAULTS);
    let steps = [
        (
            Timeouts {
                tcp: 1000,
                ..Timeouts::UNCHANGED
            },
            Timeouts {
                tcp: 1000,
                tcp_fin: 120,
                udp: 300,
            },
        ),
        (
            Timeouts {
                tcp_fin: 30,
                ..Timeouts::UNCHANGED
            },
            Timeouts {
                tcp: 1000,
                tcp_fin: 30,
                udp: 300,
            },
        ),
        (
            Timeouts {
                udp: 10,
                ..Timeouts::UNCHANGED
            },
            Timeouts {
                tcp: 1000,
                tcp_fin: 30,
                udp: 10,
            },
        ),
        (
            Timeouts::UNCHANGED,
            Timeouts {
                tcp: 1000,
                tcp_fin: 30,
                udp: 10,
            },
        ),
        (
            Timeouts {
                tcp: 1,
                tcp_fin: 1,
                udp: 1,
            },
            Timeouts {
                tcp: 1,
                tcp_fin: 1,
                udp: 1,
            },
        ),
        (
            Timeouts {
                tcp: 86400,
                tcp_fin: 0,
                udp: 3600,
            },
            Timeouts {
                tcp: 86400,
                tcp_fin: 1,
                udp: 3600,
            },
        ),
        (Timeouts::KERNEL_DEFAULTS, Timeouts::KERNEL_DEFAULTS),
    ];
    for (set, expected) in steps {
        c.set_timeouts(&set).unwrap();
        assert_eq!(c.timeouts().unwrap(), expected, "after setting {set:?}");
    }
    c.set_timeouts(&Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    })
    .unwrap();
    // ipvsadm sees the same.
    let out = ns.ipvsadm(&["-L", "--timeout"]);
    assert_eq!(out.trim(), "Timeout (tcp tcpfin udp): 901 121 301");
    // Another namespace keeps its own.
    let other = TestNs::new();
    assert_eq!(other.client.timeouts().unwrap(), Timeouts::KERNEL_DEFAULTS);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn info_matches_ipvsadm() {
    let ns = TestNs::new();
    let info = ns.client.info().unwrap();
    assert!(
        info.version
            >= ipvs::Version {
                major: 1,
                minor: 2,
                patch: 0
            },
        "{info:?}"
    );
    assert!(info.connection_table_size.is_power_of_two(), "{info:?}");
    let header = ns.ipvsadm(&["-L", "-n"]);
    let first = header.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "IP Virtual Server version {} (size={})",
            info.version, info.connection_table_size
        )
    );
}

/// Send one UDP datagram from inside the namespace.
fn send_udp(ns: &TestNs, to: &str) {
    let file = File::open(format!("/run/netns/{}", ns.name)).unwrap();
    within(file.as_fd(), || {
        let sock = UdpSocket::bind("0.0.0.0:0")?;
        sock.send_to(b"ipvs kernel test", to)?;
        Ok(())
    })
    .unwrap();
}

/// Wait for the kernel's estimator to publish non-zero counters.
fn wait_for_stats(c: &Client, key: &ServiceKey) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = c.service(key).unwrap().stats.unwrap();
        if stats.connections > 0 || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn zero_one_and_all_counters() {
    let ns = TestNs::new();
    ns.add_dummy("lb0");
    ns.ip(&["addr", "add", "192.0.2.50/24", "dev", "lb0"]);
    ns.ip(&["route", "add", "198.51.100.0/24", "dev", "lb0"]);
    let c = &ns.client;
    let a = ServiceKey::udp(sa("192.0.2.50:53"));
    let b = ServiceKey::udp(sa("192.0.2.50:54"));
    for key in [a, b] {
        c.add_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        c.add_destination(&key, &Destination::new(sa("198.51.100.50:53")))
            .unwrap();
    }
    // Traffic from inside the namespace to both virtual services: IPVS
    // schedules locally sent packets too.
    send_udp(&ns, "192.0.2.50:53");
    send_udp(&ns, "192.0.2.50:54");
    let (sa_, sb) = (wait_for_stats(c, &a), wait_for_stats(c, &b));
    assert_eq!((sa_.connections, sa_.packets_in), (1, 1), "{sa_:?}");
    assert_eq!((sb.connections, sb.packets_in), (1, 1), "{sb:?}");
    assert!(sa_.bytes_in > 0, "{sa_:?}");
    let dest = &c.destinations(&a).unwrap()[0];
    assert_eq!(dest.stats.unwrap().connections, 1);

    // Zero one service: its counters (and its destinations') go, the other's stay.
    c.zero(Some(&a)).unwrap();
    let after = c.service(&a).unwrap().stats.unwrap();
    assert_eq!(
        (after.connections, after.packets_in, after.bytes_in),
        (0, 0, 0),
        "{after:?}"
    );
    assert_eq!(c.destinations(&a).unwrap()[0].stats.unwrap().connections, 0);
    assert_eq!(c.service(&b).unwrap().stats.unwrap().connections, 1);

    // Zero everything.
    c.zero(None).unwrap();
    for key in [a, b] {
        let s = c.service(&key).unwrap().stats.unwrap();
        assert_eq!(
            (s.connections, s.packets_in, s.bytes_in),
            (0, 0, 0),
            "{key}: {s:?}"
        );
    }

    // Zero of a service that does not exist.
    for missing in [ServiceKey::udp(sa("192.0.2.50:55")), ServiceKey::fwmark(50)] {
        assert_err!(
            c.zero(Some(&missing)),
            Error::ServiceNotFound { service } if *service == missing,
            Some(libc::ESRCH)
        );
    }
    // Zero all on an empty table is fine.
    let empty = TestNs::new();
    empty.client.zero(None).unwrap();
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn flush_removes_every_service_of_the_namespace_only() {
    let ns = TestNs::new();
    let other = TestNs::new();
    let c = &ns.client;
    for s in crate::services::every_kind() {
        c.add_service(&s).unwrap();
        other.client.add_service(&s).unwrap();
    }
    let key = ServiceKey::tcp(sa("192.0.2.10:80"));
    c.add_destination(&key, &Destination::new(sa("198.51.100.60:80")))
        .unwrap();
    c.flush().unwrap();
    assert_eq!(c.services().unwrap(), vec![]);
    assert!(ns.ipvsadm_save().is_empty());
    assert!(c.destinations(&key).unwrap().is_empty());
    // Flushing an empty table succeeds.
    c.flush().unwrap();
    // The other namespace keeps all of its services.
    assert_eq!(
        other.client.services().unwrap().len(),
        crate::services::every_kind().len()
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn clients_opened_every_way_see_the_same_table() {
    let ns = TestNs::new();
    let key = ServiceKey::tcp(sa("192.0.2.51:80"));
    ns.client
        .add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let path = format!("/run/netns/{}", ns.name);
    let file = File::open(&path).unwrap();
    let clients = [
        Client::builder()
            .netns(Netns::named(&ns.name).unwrap())
            .timeout(Duration::from_secs(5))
            .dump_attempts(1)
            .build()
            .unwrap(),
        Client::builder()
            .netns(Netns::Path(path.into()))
            .timeout(None)
            .build()
            .unwrap(),
        Client::builder()
            .netns_fd(file.as_fd())
            .unwrap()
            .build()
            .unwrap(),
        ns.new_client(),
    ];
    for c in &clients {
        assert_eq!(c.family_id(), ns.client.family_id());
        let keys: Vec<_> = c.services().unwrap().iter().map(|s| s.key).collect();
        assert_eq!(keys, vec![key]);
    }
    // A namespace that does not exist.
    let err = Client::in_netns("ipvs-t-no-such-namespace").unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn tiny_timeouts_still_get_their_replies() {
    // The kernel answers a generic-netlink request inside sendmsg, so the
    // reply is queued before the client waits: even a 1 µs (or 1 ns)
    // receive timeout never fires on a live kernel.
    let ns = TestNs::new();
    for timeout in [
        Duration::from_micros(1),
        Duration::from_nanos(1),
        Duration::ZERO,
    ] {
        let c = Client::builder()
            .netns(Netns::named(&ns.name).unwrap())
            .timeout(timeout)
            .build()
            .unwrap();
        let key = ServiceKey::tcp(sa("192.0.2.52:80"));
        c.add_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        assert_eq!(c.services().unwrap().len(), 1);
        c.delete_service(&key).unwrap();
        c.info().unwrap();
    }
}
