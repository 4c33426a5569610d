//! Every typed error, provoked for real, with its errno; and validation
//! errors, which must leave the kernel untouched.

use std::net::{IpAddr, Ipv4Addr};

use ipvs::client::{Client, Error, Operation};
use ipvs::codec::{DestAttr, IpvsAttr, IpvsMessage, ServiceAttr};
use ipvs::{
    DaemonState, Destination, ForwardMethod, Netmask, Protocol, Scheduler, Service, ServiceKey,
    SyncDaemon, Tunnel, TunnelChecksum, ValidationError,
};
use netlink_packet_core::DefaultNla;

use crate::assert_err;
use crate::common::{RawSocket, TestNs, sa};

/// Whether a validation error is the one expected.
type IsExpected = fn(&ValidationError) -> bool;

fn web() -> ServiceKey {
    ServiceKey::tcp(sa("192.0.2.60:80"))
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn service_exists() {
    let ns = TestNs::new();
    let c = &ns.client;
    for key in [
        web(),
        ServiceKey::udp(sa("[2001:db8::60]:53")),
        ServiceKey::fwmark(60),
        ServiceKey::fwmark_v6(60),
    ] {
        c.add_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        // Whatever the settings: the key is what counts.
        let again = Service::new(key, Scheduler::WeightedRoundRobin).with_persistence(60);
        assert_err!(
            c.add_service(&again),
            Error::ServiceExists { service } if *service == key,
            Some(libc::EEXIST)
        );
        assert_eq!(c.service(&key).unwrap().scheduler, Scheduler::RoundRobin);
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn service_not_found_for_every_operation_on_a_missing_service() {
    let ns = TestNs::new();
    let c = &ns.client;
    // Another service exists, so the table is not simply empty.
    c.add_service(&Service::new(
        ServiceKey::tcp(sa("192.0.2.61:80")),
        Scheduler::RoundRobin,
    ))
    .unwrap();
    for key in [
        web(),
        ServiceKey::sctp(sa("[2001:db8::61]:80")),
        ServiceKey::fwmark(61),
        ServiceKey::fwmark_v6(61),
    ] {
        let d = Destination::new(match key.family() {
            ipvs::AddressFamily::Ipv4 => sa("198.51.100.61:80"),
            ipvs::AddressFamily::Ipv6 => sa("[2001:db8::1:61]:80"),
        });
        let results = [
            (
                "update",
                c.update_service(&Service::new(key, Scheduler::RoundRobin)),
            ),
            ("delete", c.delete_service(&key)),
            ("get", c.service(&key).map(drop)),
            ("add destination", c.add_destination(&key, &d)),
            ("update destination", c.update_destination(&key, &d)),
            (
                "delete destination",
                c.delete_destination(&key, d.socket_addr()),
            ),
            ("zero", c.zero(Some(&key))),
        ];
        for (what, r) in results {
            let e = r.expect_err(what);
            assert!(
                matches!(&e, Error::ServiceNotFound { service } if *service == key),
                "{key}: {what}: {e:?}"
            );
            assert_eq!(e.errno(), Some(libc::ESRCH), "{what}");
        }
    }
    assert_eq!(c.services().unwrap().len(), 1);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn destination_exists_and_not_found() {
    let ns = TestNs::new();
    let c = &ns.client;
    let key = web();
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let d = Destination::new(sa("198.51.100.62:80"));
    c.add_destination(&key, &d).unwrap();
    // Same address and port with other settings: still the same destination.
    let same = d
        .clone()
        .with_forward(ForwardMethod::DirectRoute)
        .with_weight(5);
    assert_err!(
        c.add_destination(&key, &same),
        Error::DestinationExists { service, destination } if *service == key && *destination == d.socket_addr(),
        Some(libc::EEXIST)
    );
    // Another port of the same address is another destination.
    c.add_destination(&key, &Destination::new(sa("198.51.100.62:81")))
        .unwrap();

    for missing in [
        sa("198.51.100.63:80"),
        sa("198.51.100.62:82"),
        sa("[2001:db8::62]:80"),
    ] {
        let m = Destination::new(missing).with_forward(ForwardMethod::Tunnel(Tunnel::Ipip));
        assert_err!(
            c.update_destination(&key, &m),
            Error::DestinationNotFound { service, destination } if *service == key && *destination == missing,
            Some(libc::ENOENT)
        );
        assert_err!(
            c.delete_destination(&key, missing),
            Error::DestinationNotFound { service, destination } if *service == key && *destination == missing,
            Some(libc::ENOENT)
        );
    }
    assert_eq!(c.destinations(&key).unwrap().len(), 2);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn scheduler_and_persistence_engine_not_found() {
    let ns = TestNs::new();
    let c = &ns.client;
    let key = web();
    let nosuch = Service::new(key, Scheduler::Other("nosuch".into()));
    let e = assert_err!(
        c.add_service(&nosuch),
        Error::SchedulerNotFound { name } if name == "nosuch",
        Some(libc::ENOENT)
    );
    println!("{e}");
    let no_pe = Service::new(key, Scheduler::RoundRobin)
        .with_persistence(60)
        .with_persistence_engine("nosuch");
    // The kernel does not say whether the scheduler or the engine is
    // missing, so neither is blamed alone...
    let e = assert_err!(
        c.add_service(&no_pe),
        Error::SchedulerOrPersistenceEngineNotFound { scheduler, persistence_engine }
            if scheduler == "rr" && persistence_engine == "nosuch",
        Some(libc::ENOENT)
    );
    println!("{e}");
    // ... unless only the engine was looked up (the scheduler `none` is not).
    let e = assert_err!(
        c.add_service(&Service { scheduler: Scheduler::None, ..no_pe.clone() }),
        Error::PersistenceEngineNotFound { name } if name == "nosuch",
        Some(libc::ENOENT)
    );
    println!("{e}");
    assert!(c.services().unwrap().is_empty());

    // The same on updates, which leave the service as it was.
    let s = Service::new(key, Scheduler::RoundRobin).with_persistence(60);
    c.add_service(&s).unwrap();
    assert_err!(
        c.update_service(&Service { scheduler: Scheduler::Other("nosuch".into()), ..s.clone() }),
        Error::SchedulerNotFound { name } if name == "nosuch",
        Some(libc::ENOENT)
    );
    assert_err!(
        c.update_service(&s.clone().with_persistence_engine("nosuch")),
        Error::SchedulerOrPersistenceEngineNotFound { scheduler, persistence_engine }
            if scheduler == "rr" && persistence_engine == "nosuch",
        Some(libc::ENOENT)
    );
    assert_eq!(c.service(&key).unwrap().config(), s);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn daemon_exists_not_found_and_interface_not_found() {
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    let c = &ns.client;
    for state in [DaemonState::Master, DaemonState::Backup] {
        assert_err!(
            c.stop_daemon(state),
            Error::DaemonNotFound { state: s } if *s == state,
            Some(libc::ESRCH)
        );
        assert_err!(
            c.start_daemon(&SyncDaemon::new(state, "nosuch0", 1)),
            Error::InterfaceNotFound { name } if name == "nosuch0",
            Some(libc::ENODEV)
        );
        c.start_daemon(&SyncDaemon::new(state, "sync0", 1)).unwrap();
        // Another interface or sync id makes no difference: one per state.
        assert_err!(
            c.start_daemon(&SyncDaemon::new(state, "lo", 2)),
            Error::DaemonExists { state: s } if *s == state,
            Some(libc::EEXIST)
        );
    }
    assert_eq!(c.daemons().unwrap().len(), 2);
    for state in [DaemonState::Master, DaemonState::Backup] {
        c.stop_daemon(state).unwrap();
        assert_err!(
            c.stop_daemon(state),
            Error::DaemonNotFound { state: s } if *s == state,
            Some(libc::ESRCH)
        );
    }
    assert!(c.daemons().unwrap().is_empty());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn invalid_argument_from_the_kernel() {
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    let c = &ns.client;
    let key = web();
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();

    // A lower threshold with no upper one: validation lets it through (0
    // means "no limit"), the kernel compares the two as numbers.
    let d = Destination::new(sa("198.51.100.64:80")).with_thresholds(0, 5);
    let e = assert_err!(
        c.add_destination(&key, &d),
        Error::InvalidArgument { errno, .. } if *errno == libc::ERANGE,
        Some(libc::ERANGE)
    );
    println!("lower threshold without upper: {e}");

    // The sync protocol cannot carry mixed-family services: with a daemon
    // running, an IPv6 real server behind an IPv4 service is refused ...
    c.start_daemon(&SyncDaemon::new(DaemonState::Master, "sync0", 1))
        .unwrap();
    let v6 =
        Destination::new(sa("[2001:db8::64]:80")).with_forward(ForwardMethod::Tunnel(Tunnel::Ipip));
    let e = assert_err!(
        c.add_destination(&key, &v6),
        Error::InvalidArgument { errno, .. } if *errno == libc::EINVAL,
        Some(libc::EINVAL)
    );
    println!("mixed family with a sync daemon: {e}");
    // ... and with one in the table, a daemon cannot start.
    c.stop_daemon(DaemonState::Master).unwrap();
    c.add_destination(&key, &v6).unwrap();
    let e = assert_err!(
        c.start_daemon(&SyncDaemon::new(DaemonState::Backup, "sync0", 1)),
        Error::InvalidArgument { errno, .. } if *errno == libc::EINVAL,
        Some(libc::EINVAL)
    );
    println!("sync daemon with a mixed-family service: {e}");
    assert!(c.daemons().unwrap().is_empty());
    assert_eq!(c.destinations(&key).unwrap().len(), 1);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn invalid_argument_for_raw_requests_validation_would_stop() {
    let ns = TestNs::new();
    let c = &ns.client;
    let mut raw = RawSocket::open(&ns);
    let key = web();
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();

    let mut cases: Vec<(&str, IpvsMessage, i32)> = vec![
        (
            "weight above i32::MAX",
            IpvsMessage::new_dest(
                &key,
                &Destination::new(sa("198.51.100.65:80")).with_weight(1 << 31),
            ),
            libc::ERANGE,
        ),
        (
            "lower threshold above upper",
            IpvsMessage::new_dest(
                &key,
                &Destination::new(sa("198.51.100.65:80")).with_thresholds(10, 20),
            ),
            libc::ERANGE,
        ),
        (
            "GUE without a port",
            IpvsMessage::new_dest(
                &key,
                &Destination::new(sa("198.51.100.65:80")).with_forward(ForwardMethod::Tunnel(
                    Tunnel::Gue {
                        port: 0,
                        checksum: TunnelChecksum::None,
                    },
                )),
            ),
            libc::EINVAL,
        ),
        (
            "IPv6 real server, masquerading, behind an IPv4 service",
            IpvsMessage::new_dest(&key, &Destination::new(sa("[2001:db8::65]:80"))),
            libc::EINVAL,
        ),
        (
            "IPv6 prefix 0",
            IpvsMessage::new_service(
                &Service::new(
                    ServiceKey::tcp(sa("[2001:db8::65]:80")),
                    Scheduler::RoundRobin,
                )
                .with_persistence(60)
                .with_netmask(Netmask::V6(0)),
            ),
            libc::EINVAL,
        ),
    ];
    // NEW_SERVICE without its scheduler: the kernel needs every attribute.
    let mut no_sched = IpvsMessage::new_service(&Service::new(
        ServiceKey::tcp(sa("192.0.2.65:80")),
        Scheduler::RoundRobin,
    ));
    if let IpvsAttr::Service(attrs) = &mut no_sched.attrs[0] {
        attrs.retain(|a| !matches!(a, ServiceAttr::SchedName(_)));
    }
    cases.push(("service without a scheduler", no_sched, libc::EINVAL));
    // NEW_DEST without its weight.
    let mut no_weight = IpvsMessage::new_dest(&key, &Destination::new(sa("198.51.100.66:80")));
    if let IpvsAttr::Dest(attrs) = &mut no_weight.attrs[1] {
        attrs.retain(|a| !matches!(a, DestAttr::Weight(_)));
    }
    cases.push(("destination without a weight", no_weight, libc::EINVAL));

    for (what, msg, errno) in cases {
        let e = raw
            .request(&msg)
            .unwrap_or_else(|| panic!("{what}: accepted"));
        println!("{what}: errno {} {:?}", e.errno, e.message);
        assert_eq!(e.errno, errno, "{what}: {e:?}");
    }

    // An attribute of the wrong size: at the top level, the kernel's policy
    // check refuses it and says why in an extended ACK ...
    let short_timeout = IpvsMessage::new(
        ipvs::codec::Command::SET_CONFIG,
        vec![IpvsAttr::Other(DefaultNla::new(4, vec![1, 0]))],
    );
    let e = raw
        .request(&short_timeout)
        .expect("a 2-byte TIMEOUT_TCP is refused");
    println!(
        "2-byte TIMEOUT_TCP: errno {} {:?} at offset {:?}",
        e.errno, e.message, e.offset
    );
    assert!(matches!(e.errno, libc::EINVAL | libc::ERANGE), "{e:?}");
    assert!(e.message.is_some(), "no extended ACK message: {e:?}");
    // ... while IPVS parses the nests itself, without one.
    let mut short_mark = IpvsMessage::del_service(&ServiceKey::fwmark(65));
    if let IpvsAttr::Service(attrs) = &mut short_mark.attrs[0] {
        attrs.retain(|a| !matches!(a, ServiceAttr::Fwmark(_)));
        attrs.push(ServiceAttr::Other(DefaultNla::new(5, vec![65, 0])));
    }
    let e = raw
        .request(&short_mark)
        .expect("a 2-byte fwmark is refused");
    println!(
        "2-byte fwmark: errno {} {:?} at offset {:?}",
        e.errno, e.message, e.offset
    );
    assert_eq!(e.errno, libc::EINVAL, "{e:?}");
    assert_eq!(c.timeouts().unwrap(), ipvs::Timeouts::KERNEL_DEFAULTS);

    // Nothing of it reached the table; a valid raw request does.
    assert_eq!(c.services().unwrap().len(), 1);
    assert!(c.destinations(&key).unwrap().is_empty());
    let ok = IpvsMessage::new_dest(&key, &Destination::new(sa("198.51.100.67:80")));
    assert_eq!(raw.request(&ok), None);
    assert_eq!(c.destinations(&key).unwrap().len(), 1);
}

/// Drop CAP_NET_ADMIN from the calling thread only (capabilities are
/// per thread; threads it spawns inherit the reduced set).
fn drop_cap_net_admin_in_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write a header and two data structs
    // laid out as the kernel's; both live on this stack for the calls.
    unsafe {
        assert_eq!(
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut Header,
                data.as_mut_ptr()
            ),
            0
        );
        data[0].effective &= !(1 << CAP_NET_ADMIN);
        data[0].permitted &= !(1 << CAP_NET_ADMIN);
        data[0].inheritable &= !(1 << CAP_NET_ADMIN);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()),
            0
        );
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn permission_denied_without_cap_net_admin() {
    let ns = TestNs::new();
    let key = web();
    ns.client
        .add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let name = ns.name.clone();
    std::thread::spawn(move || {
        drop_cap_net_admin_in_this_thread();
        // Opening works: resolving the family needs no privilege.
        let c = Client::in_netns(&name).expect("open without CAP_NET_ADMIN");
        let errors: Vec<(&str, Error)> = vec![
            ("info", c.info().unwrap_err()),
            ("services", c.services().unwrap_err()),
            ("service", c.service(&key).unwrap_err()),
            ("timeouts", c.timeouts().unwrap_err()),
            ("daemons", c.daemons().unwrap_err()),
            (
                "add",
                c.add_service(&Service::new(web(), Scheduler::RoundRobin))
                    .unwrap_err(),
            ),
            ("delete", c.delete_service(&key).unwrap_err()),
            ("flush", c.flush().unwrap_err()),
        ];
        for (what, e) in errors {
            assert!(
                matches!(e, Error::PermissionDenied { errno: libc::EPERM }),
                "{what}: {e:?}"
            );
            assert_eq!(e.errno(), Some(libc::EPERM));
        }
        let batch = c
            .execute_batch(&[Operation::Flush, Operation::Zero(None)])
            .unwrap();
        assert_eq!(batch.succeeded(), 0);
        for (_, e) in batch.failures() {
            assert!(
                matches!(e, Error::PermissionDenied { errno: libc::EPERM }),
                "{e:?}"
            );
        }
    })
    .join()
    .unwrap();
    // Nothing changed.
    assert_eq!(ns.client.services().unwrap().len(), 1);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn validation_errors_send_nothing() {
    let ns = TestNs::new();
    ns.add_dummy("sync0");
    let c = &ns.client;
    let key = web();
    let v6 = ServiceKey::tcp(sa("[2001:db8::66]:80"));
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    c.add_service(&Service::new(v6, Scheduler::RoundRobin).with_persistence(60))
        .unwrap();
    c.add_destination(&key, &Destination::new(sa("198.51.100.68:80")))
        .unwrap();
    let before = ns.table();
    let timeouts = c.timeouts().unwrap();

    let svc = |k: ServiceKey, s: &str| Service::new(k, Scheduler::from_name(s));
    let dest = |a: &str| Destination::new(sa(a));
    let gue0 = ForwardMethod::Tunnel(Tunnel::Gue {
        port: 0,
        checksum: TunnelChecksum::None,
    });
    let gre_rem = ForwardMethod::Tunnel(Tunnel::Gre {
        checksum: TunnelChecksum::Remote,
    });
    let daemon = |st, ifn: &str, id| SyncDaemon::new(st, ifn, id);
    let bad: Vec<(Operation, IsExpected)> = vec![
        (
            Operation::AddService(svc(key, "a-very-long-scheduler")),
            |e| matches!(e, ValidationError::NameTooLong { .. }),
        ),
        (Operation::UpdateService(svc(key, "")), |e| {
            matches!(e, ValidationError::BadName { .. })
        }),
        (Operation::UpdateService(svc(key, "rr\0")), |e| {
            matches!(e, ValidationError::BadName { .. })
        }),
        (
            Operation::UpdateService(
                svc(key, "rr")
                    .with_persistence(1)
                    .with_persistence_engine("sixteen-bytes-pe"),
            ),
            |e| matches!(e, ValidationError::NameTooLong { .. }),
        ),
        (
            Operation::AddService(svc(
                ServiceKey::with_protocol(Protocol::Other(99), sa("192.0.2.66:80")),
                "rr",
            )),
            |e| matches!(e, ValidationError::UnsupportedProtocol(Protocol::Other(99))),
        ),
        (
            Operation::AddService(svc(ServiceKey::fwmark(0), "rr")),
            |e| matches!(e, ValidationError::ZeroFwmark),
        ),
        (Operation::DeleteService(ServiceKey::fwmark_v6(0)), |e| {
            matches!(e, ValidationError::ZeroFwmark)
        }),
        (
            Operation::AddService(svc(ServiceKey::tcp(sa("192.0.2.66:0")), "rr")),
            |e| matches!(e, ValidationError::ZeroPortWithoutPersistence),
        ),
        (
            Operation::UpdateService(
                svc(key, "rr")
                    .with_persistence(1)
                    .with_netmask(Netmask::V6(64)),
            ),
            |e| matches!(e, ValidationError::BadNetmask { .. }),
        ),
        (
            Operation::UpdateService(
                svc(v6, "rr")
                    .with_persistence(1)
                    .with_netmask(Netmask::V6(129)),
            ),
            |e| matches!(e, ValidationError::BadNetmask { .. }),
        ),
        (
            Operation::UpdateService(
                svc(v6, "rr")
                    .with_persistence(1)
                    .with_netmask(Netmask::V6(0)),
            ),
            |e| matches!(e, ValidationError::BadNetmask { .. }),
        ),
        (
            Operation::UpdateService(
                svc(v6, "rr")
                    .with_persistence(1)
                    .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))),
            ),
            |e| matches!(e, ValidationError::BadNetmask { .. }),
        ),
        (
            Operation::AddDestination(key, dest("198.51.100.69:80").with_weight(1 << 31)),
            |e| matches!(e, ValidationError::WeightOutOfRange(_)),
        ),
        (
            Operation::UpdateDestination(
                key,
                dest("198.51.100.68:80").with_thresholds(u32::MAX, 0),
            ),
            |e| matches!(e, ValidationError::ThresholdOutOfRange { .. }),
        ),
        (
            Operation::UpdateDestination(key, dest("198.51.100.68:80").with_thresholds(10, 20)),
            |e| {
                matches!(
                    e,
                    ValidationError::ThresholdOrder {
                        upper: 10,
                        lower: 20
                    }
                )
            },
        ),
        (
            Operation::AddDestination(
                key,
                dest("198.51.100.69:80").with_forward(ForwardMethod::Other(5)),
            ),
            |e| matches!(e, ValidationError::UnknownForwardMethod(5)),
        ),
        (
            Operation::AddDestination(key, dest("198.51.100.69:80").with_forward(gue0)),
            |e| matches!(e, ValidationError::GueWithoutPort),
        ),
        (
            Operation::AddDestination(key, dest("198.51.100.69:80").with_forward(gre_rem)),
            |e| matches!(e, ValidationError::RemoteChecksumOnGre),
        ),
        (
            Operation::AddDestination(
                key,
                dest("[2001:db8::69]:80").with_forward(ForwardMethod::DirectRoute),
            ),
            |e| matches!(e, ValidationError::MixedFamily { .. }),
        ),
        (
            Operation::AddDestination(v6, dest("198.51.100.69:80")),
            |e| matches!(e, ValidationError::MixedFamily { .. }),
        ),
        (
            Operation::AddDestination(ServiceKey::fwmark(0), dest("198.51.100.69:80")),
            |e| matches!(e, ValidationError::ZeroFwmark),
        ),
        (
            Operation::StartDaemon(daemon(DaemonState::Other(3), "sync0", 1)),
            |e| matches!(e, ValidationError::UnknownDaemonState(3)),
        ),
        (
            Operation::StartDaemon(daemon(DaemonState::Master, "sync0", 256)),
            |e| matches!(e, ValidationError::SyncIdOutOfRange(256)),
        ),
        (
            Operation::StartDaemon(daemon(DaemonState::Master, "an-interface-name", 1)),
            |e| matches!(e, ValidationError::NameTooLong { .. }),
        ),
        (
            Operation::StartDaemon(daemon(DaemonState::Backup, "", 1)),
            |e| matches!(e, ValidationError::BadName { .. }),
        ),
        (
            Operation::StartDaemon(SyncDaemon {
                group: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                ..daemon(DaemonState::Master, "sync0", 1)
            }),
            |e| matches!(e, ValidationError::NotMulticast(_)),
        ),
        (
            Operation::StartDaemon(SyncDaemon {
                group: Some("2001:db8::1".parse().unwrap()),
                ..daemon(DaemonState::Backup, "sync0", 1)
            }),
            |e| matches!(e, ValidationError::NotMulticast(_)),
        ),
    ];
    for (op, is_expected) in &bad {
        match c.execute(op) {
            Err(Error::Validation(v)) if is_expected(&v) => {
                assert_eq!(Error::Validation(v).errno(), None);
            }
            other => panic!("{op}: {other:?}"),
        }
    }
    // The reads validate their key too.
    assert!(matches!(
        c.service(&ServiceKey::fwmark(0)),
        Err(Error::Validation(ValidationError::ZeroFwmark))
    ));
    assert!(matches!(
        c.destinations(&ServiceKey::fwmark(0)),
        Err(Error::Validation(ValidationError::ZeroFwmark))
    ));

    // In a batch, one invalid operation means nothing is sent.
    for (i, (op, _)) in bad.iter().enumerate() {
        let batch = vec![
            Operation::AddService(svc(ServiceKey::udp(sa("192.0.2.67:53")), "rr")),
            Operation::SetTimeouts(ipvs::Timeouts {
                tcp: 1234,
                ..ipvs::Timeouts::UNCHANGED
            }),
            op.clone(),
            Operation::Flush,
        ];
        match c.execute_batch(&batch) {
            Err(Error::InvalidOperation { index: 2, .. }) => {}
            other => panic!("bad op {i} ({op}) in a batch: {other:?}"),
        }
    }
    assert_eq!(ns.table(), before);
    assert_eq!(c.timeouts().unwrap(), timeouts);
    assert!(c.daemons().unwrap().is_empty());
    // ipvsadm agrees nothing happened.
    assert_eq!(ns.ipvsadm_save().len(), 3);
}
