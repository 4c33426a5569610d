//! Services: every kind written reads back exactly; updates; deletes.

use std::net::Ipv4Addr;

use ipvs::client::Error;
use ipvs::{Netmask, Scheduler, Service, ServiceFlags, ServiceKey, Stats};

use crate::assert_err;
use crate::common::{Step, TestNs, kernel_has_module, sa};

/// One service of every kind the kernel takes.
pub fn every_kind() -> Vec<Service> {
    use Scheduler::*;
    vec![
        Service::new(ServiceKey::tcp(sa("192.0.2.10:80")), RoundRobin),
        Service::new(ServiceKey::udp(sa("192.0.2.10:53")), WeightedRoundRobin),
        Service::new(ServiceKey::sctp(sa("192.0.2.10:9999")), LeastConnection),
        Service::new(
            ServiceKey::tcp(sa("[2001:db8::10]:443")),
            WeightedLeastConnection,
        ),
        Service::new(
            ServiceKey::udp(sa("[2001:db8::10]:53")),
            ShortestExpectedDelay,
        ),
        Service::new(ServiceKey::sctp(sa("[2001:db8::10]:9999")), NeverQueue),
        Service::new(ServiceKey::fwmark(7), DestinationHashing),
        Service::new(ServiceKey::fwmark(u32::MAX), WeightedFailover),
        Service::new(ServiceKey::fwmark_v6(7), WeightedOverflow),
        // Persistence, host mask and network masks.
        Service::new(ServiceKey::tcp(sa("192.0.2.11:80")), WeightedRoundRobin)
            .with_persistence(600),
        Service::new(ServiceKey::tcp(sa("192.0.2.12:80")), RoundRobin)
            .with_persistence(300)
            .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))),
        Service::new(ServiceKey::tcp(sa("192.0.2.13:80")), RoundRobin)
            .with_persistence(1)
            .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 0, 0))),
        Service::new(ServiceKey::tcp(sa("[2001:db8::11]:443")), RoundRobin)
            .with_persistence(60)
            .with_netmask(Netmask::V6(64)),
        Service::new(ServiceKey::fwmark_v6(8), RoundRobin)
            .with_persistence(86400)
            .with_netmask(Netmask::V6(1)),
        // Every port: needs persistence.
        Service::new(
            ServiceKey::tcp(sa("192.0.2.14:0")),
            LocalityBasedLeastConnection,
        )
        .with_persistence(360),
        Service::new(
            ServiceKey::udp(sa("[2001:db8::14]:0")),
            LocalityBasedLeastConnectionReplication,
        )
        .with_persistence(360),
        // Persistence engine.
        Service::new(ServiceKey::udp(sa("192.0.2.15:5060")), RoundRobin)
            .with_persistence(30)
            .with_persistence_engine("sip"),
        Service::new(ServiceKey::sctp(sa("192.0.2.15:5060")), LeastConnection)
            .with_persistence(30)
            .with_persistence_engine("sip"),
        // One-packet scheduling.
        Service::new(ServiceKey::udp(sa("192.0.2.16:53")), RoundRobin)
            .with_flags(ServiceFlags::ONE_PACKET),
        Service::new(ServiceKey::udp(sa("[2001:db8::16]:53")), SourceHashing)
            .with_flags(ServiceFlags::ONE_PACKET | ServiceFlags::SH_PORT),
        // Scheduler flags.
        Service::new(ServiceKey::tcp(sa("192.0.2.17:80")), SourceHashing)
            .with_flags(ServiceFlags::SH_FALLBACK),
        Service::new(ServiceKey::tcp(sa("192.0.2.17:81")), SourceHashing)
            .with_flags(ServiceFlags::SH_PORT),
        Service::new(ServiceKey::tcp(sa("192.0.2.17:82")), SourceHashing)
            .with_flags(ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT),
        Service::new(ServiceKey::fwmark(17), MaglevHashing).with_flags(ServiceFlags::MH_FALLBACK),
        Service::new(ServiceKey::fwmark(18), MaglevHashing)
            .with_flags(ServiceFlags::MH_FALLBACK | ServiceFlags::MH_PORT),
        Service::new(ServiceKey::tcp(sa("192.0.2.18:80")), WeightedRoundRobin)
            .with_flags(ServiceFlags::SCHED3),
        // No scheduler at all.
        Service::new(ServiceKey::tcp(sa("192.0.2.19:80")), Scheduler::None),
        // Everything at once.
        Service::new(ServiceKey::udp(sa("198.51.100.1:65535")), MaglevHashing)
            .with_persistence(u32::MAX / 1000)
            .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 128)))
            .with_persistence_engine("sip")
            .with_flags(
                ServiceFlags::ONE_PACKET | ServiceFlags::MH_FALLBACK | ServiceFlags::MH_PORT,
            ),
    ]
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn every_kind_of_service_reads_back_as_written() {
    let ns = TestNs::new();
    let c = &ns.client;
    let services = every_kind();
    for s in &services {
        c.add_service(s)
            .unwrap_or_else(|e| panic!("add {}: {e}", s.key));
    }
    for s in &services {
        let got = c
            .service(&s.key)
            .unwrap_or_else(|e| panic!("get {}: {e}", s.key));
        assert_eq!(got.config(), *s, "service {}", s.key);
        // A fresh service has stats, all zero.
        assert_eq!(got.stats, Some(Stats::default()), "stats of {}", s.key);
    }
    let mut listed: Vec<Service> = c.services().unwrap().iter().map(Service::config).collect();
    let mut expected = services.clone();
    listed.sort_by_key(|s| s.key);
    expected.sort_by_key(|s| s.key);
    assert_eq!(listed, expected);
    // Snapshot agrees, with no destinations anywhere.
    let table = ns.table();
    assert_eq!(table.len(), services.len());
    assert!(table.iter().all(|(_, d)| d.is_empty()));
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn every_kernel_scheduler_is_accepted_and_read_back() {
    let ns = TestNs::new();
    let c = &ns.client;
    let mut missing = Vec::new();
    let moved = ServiceKey::tcp(sa("192.0.2.20:80"));
    c.add_service(&Service::new(moved, Scheduler::RoundRobin))
        .unwrap();
    for (i, sched) in Scheduler::kernel_schedulers().enumerate() {
        let key = ServiceKey::tcp(sa(&format!("192.0.2.21:{}", 1000 + i)));
        let svc = Service::new(key, sched.clone());
        let module = format!("ip_vs_{}", sched.name());
        match c.add_service(&svc) {
            Ok(()) => {
                assert_eq!(c.service(&key).unwrap().config(), svc);
                // The same scheduler through an update of another service.
                let updated = Service::new(moved, sched.clone());
                c.update_service(&updated).unwrap();
                assert_eq!(c.service(&moved).unwrap().config(), updated);
            }
            // Only a scheduler this kernel does not ship may be missing
            // (twos came with Linux 6.2).
            Err(Error::SchedulerNotFound { name }) if !kernel_has_module(&module) => {
                assert_eq!(name, sched.name());
                missing.push(name);
            }
            Err(e) => panic!("scheduler {sched}: {e}"),
        }
    }
    if !missing.is_empty() {
        println!("schedulers this kernel does not ship (not tested): {missing:?}");
    }
    assert!(missing.len() <= 1, "missing schedulers: {missing:?}");
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn update_service_changes_each_setting() {
    let ns = TestNs::new();
    let c = &ns.client;
    let key = ServiceKey::udp(sa("192.0.2.30:5060"));
    let mut s = Service::new(key, Scheduler::WeightedRoundRobin);
    c.add_service(&s).unwrap();
    let steps: Vec<Step<Service>> = vec![
        (
            "scheduler",
            Box::new(|s| s.scheduler = Scheduler::SourceHashing),
        ),
        (
            "sched flags",
            Box::new(|s| s.flags = ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT),
        ),
        (
            "a flag dropped",
            Box::new(|s| s.flags = ServiceFlags::SH_PORT),
        ),
        (
            "persistence",
            Box::new(|s| *s = s.clone().with_persistence(300)),
        ),
        (
            "netmask",
            Box::new(|s| {
                *s = s
                    .clone()
                    .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)))
            }),
        ),
        (
            "timeout",
            Box::new(|s| s.persistence.as_mut().unwrap().timeout = 7),
        ),
        (
            "engine",
            Box::new(|s| s.persistence_engine = Some("sip".into())),
        ),
        (
            "one-packet",
            Box::new(|s| s.flags |= ServiceFlags::ONE_PACKET),
        ),
        ("engine removed", Box::new(|s| s.persistence_engine = None)),
        (
            "flags cleared",
            Box::new(|s| s.flags = ServiceFlags::empty()),
        ),
        ("persistence removed", Box::new(|s| s.persistence = None)),
        ("no scheduler", Box::new(|s| s.scheduler = Scheduler::None)),
        (
            "back to a scheduler",
            Box::new(|s| s.scheduler = Scheduler::MaglevHashing),
        ),
    ];
    for (what, change) in steps {
        change(&mut s);
        c.update_service(&s)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            c.service(&key).unwrap().config(),
            s,
            "after changing {what}"
        );
    }
    assert_eq!(c.services().unwrap().len(), 1);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn update_service_v6_and_fwmark() {
    let ns = TestNs::new();
    let c = &ns.client;
    for key in [
        ServiceKey::tcp(sa("[2001:db8::30]:80")),
        ServiceKey::fwmark(30),
        ServiceKey::fwmark_v6(30),
    ] {
        let s = Service::new(key, Scheduler::RoundRobin);
        c.add_service(&s).unwrap();
        let changed = Service::new(key, Scheduler::LeastConnection)
            .with_persistence(120)
            .with_netmask(match key.family() {
                ipvs::AddressFamily::Ipv4 => Netmask::V4(Ipv4Addr::new(255, 255, 255, 240)),
                ipvs::AddressFamily::Ipv6 => Netmask::V6(48),
            });
        c.update_service(&changed).unwrap();
        assert_eq!(c.service(&key).unwrap().config(), changed);
    }
    // fwmark 30 exists once per family: two services, not one.
    assert_eq!(c.services().unwrap().len(), 3);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn delete_service_removes_it_and_its_destinations() {
    let ns = TestNs::new();
    let c = &ns.client;
    let services = every_kind();
    for s in &services {
        c.add_service(s).unwrap();
    }
    let web = services[0].key;
    c.add_destination(&web, &ipvs::Destination::new(sa("198.51.100.1:80")))
        .unwrap();
    for (i, s) in services.iter().enumerate() {
        c.delete_service(&s.key)
            .unwrap_or_else(|e| panic!("delete {}: {e}", s.key));
        assert_err!(
            c.service(&s.key),
            Error::ServiceNotFound { service } if *service == s.key,
            Some(libc::ESRCH)
        );
        assert_eq!(c.services().unwrap().len(), services.len() - i - 1);
    }
    assert!(c.destinations(&web).unwrap().is_empty());
    // Deleted means gone: it can be added again.
    c.add_service(&services[0]).unwrap();
    assert!(c.destinations(&web).unwrap().is_empty());
}
