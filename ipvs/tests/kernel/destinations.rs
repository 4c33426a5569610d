//! Destinations: every forwarding method and tunnel, thresholds, mixed
//! families; updates and deletes.

use ipvs::client::Error;
use ipvs::{
    Destination, ForwardMethod, Scheduler, Service, ServiceKey, Stats, Tunnel, TunnelChecksum,
};

use crate::assert_err;
use crate::common::{Step, TestNs, normalise, sa};

fn gue(port: u16, checksum: TunnelChecksum) -> ForwardMethod {
    ForwardMethod::Tunnel(Tunnel::Gue { port, checksum })
}

fn gre(checksum: TunnelChecksum) -> ForwardMethod {
    ForwardMethod::Tunnel(Tunnel::Gre { checksum })
}

const IPIP: ForwardMethod = ForwardMethod::Tunnel(Tunnel::Ipip);

/// Services of each family and kind, each with destinations of every
/// forwarding method and tunnel the kernel takes.
fn table() -> Vec<(Service, Vec<Destination>)> {
    use ForwardMethod::*;
    use TunnelChecksum as Ck;
    let d = |a: &str, f: ForwardMethod| Destination::new(sa(a)).with_forward(f);
    vec![
        (
            Service::new(
                ServiceKey::tcp(sa("192.0.2.40:80")),
                Scheduler::WeightedRoundRobin,
            ),
            vec![
                d("198.51.100.1:8080", Masquerade).with_weight(5),
                d("198.51.100.2:80", Local),
                d("198.51.100.3:80", DirectRoute).with_weight(0),
                d("198.51.100.4:80", Bypass),
                d("198.51.100.5:80", IPIP).with_weight(i32::MAX as u32),
                d("198.51.100.6:80", gue(6080, Ck::None)),
                d("198.51.100.7:80", gue(6081, Ck::Checksum)),
                d("198.51.100.8:80", gue(u16::MAX, Ck::Remote)),
                d("198.51.100.9:80", gre(Ck::None)),
                d("198.51.100.10:80", gre(Ck::Checksum)),
                d("198.51.100.11:80", Masquerade).with_thresholds(100, 10),
                d("198.51.100.12:80", DirectRoute).with_thresholds(i32::MAX as u32, 0),
                d("198.51.100.13:80", Masquerade).with_thresholds(1, 1),
                // Direct routing to another port: stored as given.
                d("198.51.100.14:8080", DirectRoute),
                // IPv6 real servers behind an IPv4 service: tunnels only.
                d("[2001:db8::41]:80", IPIP),
                d("[2001:db8::42]:80", gue(6080, Ck::Remote)).with_weight(3),
                d("[2001:db8::43]:80", gre(Ck::Checksum)).with_thresholds(50, 5),
            ],
        ),
        (
            Service::new(
                ServiceKey::udp(sa("[2001:db8::40]:53")),
                Scheduler::SourceHashing,
            ),
            vec![
                d("[2001:db8::51]:5353", Masquerade).with_weight(2),
                d("[2001:db8::52]:53", DirectRoute),
                d("[2001:db8::53]:53", IPIP),
                d("[2001:db8::54]:53", gue(6080, Ck::Checksum)),
                d("[2001:db8::55]:53", gre(Ck::None)),
                d("[2001:db8::56]:53", Local),
                d("[2001:db8::57]:53", Bypass),
                // IPv4 real servers behind an IPv6 service.
                d("203.0.113.51:53", IPIP),
                d("203.0.113.52:53", gre(Ck::None)),
            ],
        ),
        (
            Service::new(
                ServiceKey::sctp(sa("192.0.2.40:9999")),
                Scheduler::RoundRobin,
            ),
            vec![
                d("203.0.113.61:9999", Masquerade),
                d("203.0.113.62:9999", DirectRoute),
            ],
        ),
        (
            Service::new(ServiceKey::fwmark(40), Scheduler::MaglevHashing),
            vec![
                d("198.51.100.71:0", DirectRoute),
                d("198.51.100.72:0", gue(6080, Ck::Remote)),
                d("198.51.100.73:443", Masquerade),
                d("[2001:db8::74]:0", IPIP),
            ],
        ),
        (
            Service::new(
                ServiceKey::fwmark_v6(40),
                Scheduler::WeightedLeastConnection,
            )
            .with_persistence(60),
            vec![
                d("[2001:db8::81]:0", DirectRoute).with_weight(7),
                d("[2001:db8::82]:0", gre(Ck::Checksum)),
                d("198.51.100.83:0", gue(1, Ck::None)),
            ],
        ),
    ]
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn every_forward_method_and_tunnel_reads_back_as_written() {
    let ns = TestNs::new();
    let c = &ns.client;
    let expected = normalise(table());
    for (s, dests) in &expected {
        c.add_service(s).unwrap();
        for d in dests {
            c.add_destination(&s.key, d)
                .unwrap_or_else(|e| panic!("add {} to {}: {e}", d.socket_addr(), s.key));
        }
    }
    assert_eq!(ns.table(), expected);
    // Read back one by one too, with kernel-only fields present and zero.
    for (s, _) in &expected {
        for d in c.destinations(&s.key).unwrap() {
            assert_eq!(d.stats, Some(Stats::default()), "{}", d.socket_addr());
            let conns = d.connections.expect("connection counts");
            assert_eq!((conns.active, conns.inactive, conns.persistent), (0, 0, 0));
        }
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn update_destination_changes_each_setting() {
    let ns = TestNs::new();
    let c = &ns.client;
    use ForwardMethod::*;
    use TunnelChecksum as Ck;
    for (key, addr) in [
        (ServiceKey::tcp(sa("192.0.2.41:80")), "198.51.100.90:80"),
        (
            ServiceKey::tcp(sa("[2001:db8::41]:80")),
            "[2001:db8::90]:80",
        ),
        (ServiceKey::fwmark(41), "198.51.100.90:0"),
    ] {
        c.add_service(&Service::new(key, Scheduler::WeightedLeastConnection))
            .unwrap();
        let mut d = Destination::new(sa(addr));
        c.add_destination(&key, &d).unwrap();
        let steps: Vec<Step<Destination>> = vec![
            ("weight", Box::new(|d| d.weight = 100)),
            ("weight 0", Box::new(|d| d.weight = 0)),
            (
                "thresholds",
                Box::new(|d| *d = d.clone().with_thresholds(1000, 800)),
            ),
            ("lower threshold 0", Box::new(|d| d.lower_threshold = 0)),
            ("direct routing", Box::new(|d| d.forward = DirectRoute)),
            ("ipip", Box::new(|d| d.forward = IPIP)),
            ("gue", Box::new(|d| d.forward = gue(6080, Ck::None))),
            ("gue port", Box::new(|d| d.forward = gue(6081, Ck::None))),
            (
                "gue csum",
                Box::new(|d| d.forward = gue(6081, Ck::Checksum)),
            ),
            (
                "gue remcsum",
                Box::new(|d| d.forward = gue(6081, Ck::Remote)),
            ),
            ("gre", Box::new(|d| d.forward = gre(Ck::None))),
            ("gre csum", Box::new(|d| d.forward = gre(Ck::Checksum))),
            ("local", Box::new(|d| d.forward = Local)),
            ("bypass", Box::new(|d| d.forward = Bypass)),
            ("masquerade", Box::new(|d| d.forward = Masquerade)),
            (
                "thresholds cleared",
                Box::new(|d| *d = d.clone().with_thresholds(0, 0)),
            ),
            (
                "everything",
                Box::new(|d| {
                    *d = d
                        .clone()
                        .with_forward(gue(7000, Ck::Checksum))
                        .with_weight(9)
                        .with_thresholds(5, 4)
                }),
            ),
        ];
        for (what, change) in steps {
            change(&mut d);
            c.update_destination(&key, &d)
                .unwrap_or_else(|e| panic!("{key}: {what}: {e}"));
            let got: Vec<_> = c
                .destinations(&key)
                .unwrap()
                .iter()
                .map(Destination::config)
                .collect();
            assert_eq!(got, vec![d.clone()], "{key}: after changing {what}");
        }
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn update_mixed_family_destination_between_tunnels() {
    let ns = TestNs::new();
    let c = &ns.client;
    let key = ServiceKey::tcp(sa("192.0.2.42:80"));
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let mut d = Destination::new(sa("[2001:db8::42]:80")).with_forward(IPIP);
    c.add_destination(&key, &d).unwrap();
    for f in [
        gue(6080, TunnelChecksum::Remote),
        gre(TunnelChecksum::Checksum),
        IPIP,
    ] {
        d.forward = f;
        c.update_destination(&key, &d).unwrap();
        assert_eq!(c.destinations(&key).unwrap()[0].config(), d);
    }
    // Leaving the tunnel is refused by the kernel (validation stops it first).
    let masq = d.clone().with_forward(ForwardMethod::Masquerade);
    assert_err!(
        c.update_destination(&key, &masq),
        Error::Validation(ipvs::ValidationError::MixedFamily { .. }),
        None
    );
    assert_eq!(c.destinations(&key).unwrap()[0].config(), d);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn delete_destination_removes_only_it() {
    let ns = TestNs::new();
    let c = &ns.client;
    let expected = normalise(table());
    for (s, dests) in &expected {
        c.add_service(s).unwrap();
        for d in dests {
            c.add_destination(&s.key, d).unwrap();
        }
    }
    for (s, dests) in &expected {
        let mut left = dests.clone();
        while let Some(d) = left.pop() {
            c.delete_destination(&s.key, d.socket_addr())
                .unwrap_or_else(|e| panic!("delete {} of {}: {e}", d.socket_addr(), s.key));
            let got = normalise(vec![(s.clone(), c.destinations(&s.key).unwrap())]);
            assert_eq!(
                got[0].1,
                left,
                "{} after deleting {}",
                s.key,
                d.socket_addr()
            );
        }
    }
    // The services stay.
    assert_eq!(c.services().unwrap().len(), expected.len());
    // A deleted destination can be added again (the kernel may bring it back
    // from its trash, with its old stats, which are zero here).
    let (s, dests) = &expected[0];
    c.add_destination(&s.key, &dests[0]).unwrap();
    assert_eq!(c.destinations(&s.key).unwrap()[0].config(), dests[0]);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn destinations_of_a_missing_service_are_an_empty_list() {
    let ns = TestNs::new();
    let c = &ns.client;
    for key in [
        ServiceKey::tcp(sa("192.0.2.43:80")),
        ServiceKey::udp(sa("[2001:db8::43]:53")),
        ServiceKey::fwmark(43),
    ] {
        assert_eq!(c.destinations(&key).unwrap(), vec![]);
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn destination_on_an_address_of_the_director() {
    // A real server whose address is one of the namespace's own.
    let ns = TestNs::new();
    ns.add_dummy("lb0");
    ns.ip(&["addr", "add", "192.0.2.44/24", "dev", "lb0"]);
    let c = &ns.client;
    let key = ServiceKey::tcp(sa("192.0.2.44:80"));
    c.add_service(&Service::new(key, Scheduler::RoundRobin))
        .unwrap();
    let d = Destination::new(sa("192.0.2.44:8080"));
    c.add_destination(&key, &d).unwrap();
    let got = c.destinations(&key).unwrap()[0].config();
    println!(
        "masquerading to a local address reads back as {:?}",
        got.forward
    );
    assert_eq!(got, d);
}
