//! Cross-checks with ipvsadm, both ways.

use std::net::Ipv4Addr;

use ipvs::{
    Destination, ForwardMethod, Netmask, Scheduler, Service, ServiceFlags, ServiceKey, Tunnel,
    TunnelChecksum,
};

use crate::common::{TestNs, normalise, sa};

fn tunnel(t: Tunnel) -> ForwardMethod {
    ForwardMethod::Tunnel(t)
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn what_the_client_writes_ipvsadm_saves() {
    use ForwardMethod::*;
    use Scheduler::*;
    let ns = TestNs::new();
    let c = &ns.client;
    let d =
        |a: &str, f: ForwardMethod, w: u32| Destination::new(sa(a)).with_forward(f).with_weight(w);
    let table: Vec<(Service, Vec<Destination>, Vec<&str>)> = vec![
        (
            Service::new(ServiceKey::tcp(sa("192.0.2.90:80")), WeightedRoundRobin)
                .with_persistence(600),
            vec![
                d("198.51.100.1:8080", Masquerade, 5),
                d("198.51.100.2:80", DirectRoute, 0),
                d("[2001:db8::92]:80", tunnel(ipvs::Tunnel::Ipip), 1),
                d("198.51.100.3:80", Masquerade, 2).with_thresholds(100, 10),
            ],
            vec![
                "-A -t 192.0.2.90:80 -s wrr -p 600",
                "-a -t 192.0.2.90:80 -r 198.51.100.1:8080 -m -w 5",
                "-a -t 192.0.2.90:80 -r 198.51.100.2:80 -g -w 0",
                "-a -t 192.0.2.90:80 -r [2001:db8::92]:80 -i -w 1 --tun-type ipip",
                "-a -t 192.0.2.90:80 -r 198.51.100.3:80 -m -w 2",
            ],
        ),
        (
            Service::new(ServiceKey::tcp(sa("192.0.2.91:80")), RoundRobin)
                .with_persistence(300)
                .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))),
            vec![],
            vec!["-A -t 192.0.2.91:80 -s rr -p 300 -M 255.255.255.0"],
        ),
        (
            Service::new(ServiceKey::udp(sa("192.0.2.92:53")), SourceHashing).with_flags(
                ServiceFlags::ONE_PACKET | ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT,
            ),
            vec![d("198.51.100.4:53", tunnel(ipvs::Tunnel::Ipip), 1)],
            vec![
                "-A -u 192.0.2.92:53 -s sh -o -b sh-fallback,sh-port",
                "-a -u 192.0.2.92:53 -r 198.51.100.4:53 -i -w 1 --tun-type ipip",
            ],
        ),
        (
            Service::new(ServiceKey::sctp(sa("192.0.2.93:5060")), LeastConnection)
                .with_persistence(30)
                .with_persistence_engine("sip"),
            vec![],
            vec!["-A --sctp-service 192.0.2.93:5060 -s lc -p 30 --pe sip"],
        ),
        (
            Service::new(ServiceKey::tcp(sa("[2001:db8::90]:443")), RoundRobin)
                .with_persistence(60)
                .with_netmask(Netmask::V6(64)),
            vec![d("[2001:db8::91]:8443", Masquerade, 3)],
            vec![
                "-A -t [2001:db8::90]:443 -s rr -p 60 -M 64",
                "-a -t [2001:db8::90]:443 -r [2001:db8::91]:8443 -m -w 3",
            ],
        ),
        (
            Service::new(ServiceKey::fwmark(7), MaglevHashing)
                .with_flags(ServiceFlags::MH_FALLBACK),
            vec![
                d(
                    "198.51.100.5:0",
                    tunnel(ipvs::Tunnel::Gue {
                        port: 6080,
                        checksum: TunnelChecksum::Remote,
                    }),
                    2,
                ),
                d(
                    "198.51.100.6:0",
                    tunnel(ipvs::Tunnel::Gre {
                        checksum: TunnelChecksum::Checksum,
                    }),
                    1,
                ),
                d(
                    "198.51.100.7:0",
                    tunnel(ipvs::Tunnel::Gue {
                        port: 6081,
                        checksum: TunnelChecksum::Checksum,
                    }),
                    1,
                ),
            ],
            vec![
                "-A -f 7 -s mh -b mh-fallback",
                "-a -f 7 -r 198.51.100.5:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum",
                "-a -f 7 -r 198.51.100.6:0 -i -w 1 --tun-type gre --tun-csum",
                "-a -f 7 -r 198.51.100.7:0 -i -w 1 --tun-type gue --tun-port 6081 --tun-csum",
            ],
        ),
        (
            Service::new(ServiceKey::fwmark_v6(8), MaglevHashing)
                .with_flags(ServiceFlags::MH_PORT)
                .with_persistence(100)
                .with_netmask(Netmask::V6(48)),
            vec![d("[2001:db8::93]:0", DirectRoute, 4)],
            vec![
                "-A -f 8 -6 -s mh -p 100 -M 48 -b mh-port",
                "-a -f 8 -6 -r [2001:db8::93]:0 -g -w 4",
            ],
        ),
        (
            Service::new(ServiceKey::tcp(sa("192.0.2.94:0")), WeightedLeastConnection)
                .with_persistence(360),
            vec![],
            vec!["-A -t 192.0.2.94:0 -s wlc -p 360"],
        ),
    ];
    let mut expected = Vec::new();
    for (s, dests, lines) in &table {
        c.add_service(s).unwrap();
        for dest in dests {
            c.add_destination(&s.key, dest).unwrap();
        }
        expected.extend(lines.iter().map(|l| l.to_string()));
    }
    expected.sort();
    assert_eq!(ns.ipvsadm_save(), expected);
}

const RULES: &str = "\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
-a -t 192.0.2.10:80 -r 198.51.100.22:80 -m -w 0 -x 100 -y 10
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 192.0.2.23:53 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-a -f 7 -r 192.0.2.25:0 -i -w 1 --tun-type gre --tun-csum
-A -f 8 -6 -s sh -b sh-port -p 100 -M 48
-a -f 8 -6 -r [2001:db8::26]:0 -g -w 4
-A -t 192.0.2.11:0 -s dh -p 360 -M 255.255.255.0
-A -u 192.0.2.12:5060 -s rr -p 30 --pe sip -o
";

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn what_ipvsadm_restores_the_client_reads() {
    use ForwardMethod::*;
    use Scheduler::*;
    let ns = TestNs::new();
    ns.ipvsadm_restore(RULES);
    let d =
        |a: &str, f: ForwardMethod, w: u32| Destination::new(sa(a)).with_forward(f).with_weight(w);
    let expected = normalise(vec![
        (
            Service::new(ServiceKey::tcp(sa("192.0.2.10:80")), WeightedRoundRobin)
                .with_persistence(600),
            vec![
                d("192.0.2.21:80", DirectRoute, 9),
                d("198.51.100.22:80", Masquerade, 0).with_thresholds(100, 10),
            ],
        ),
        (
            Service::new(ServiceKey::udp(sa("192.0.2.10:53")), SourceHashing).with_flags(
                ServiceFlags::ONE_PACKET | ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT,
            ),
            vec![d("192.0.2.23:53", tunnel(ipvs::Tunnel::Ipip), 1)],
        ),
        (
            Service::new(ServiceKey::sctp(sa("192.0.2.10:9999")), LeastConnection)
                .with_persistence(30)
                .with_persistence_engine("sip"),
            vec![],
        ),
        (
            Service::new(ServiceKey::tcp(sa("[2001:db8::10]:443")), RoundRobin)
                .with_persistence(60)
                .with_netmask(Netmask::V6(64)),
            vec![d("[2001:db8::21]:8443", Masquerade, 3)],
        ),
        (
            Service::new(ServiceKey::fwmark(7), MaglevHashing)
                .with_flags(ServiceFlags::MH_FALLBACK),
            vec![
                d(
                    "192.0.2.24:0",
                    tunnel(ipvs::Tunnel::Gue {
                        port: 6080,
                        checksum: TunnelChecksum::Remote,
                    }),
                    2,
                ),
                d(
                    "192.0.2.25:0",
                    tunnel(ipvs::Tunnel::Gre {
                        checksum: TunnelChecksum::Checksum,
                    }),
                    1,
                ),
            ],
        ),
        (
            Service::new(ServiceKey::fwmark_v6(8), SourceHashing)
                .with_flags(ServiceFlags::SH_PORT)
                .with_persistence(100)
                .with_netmask(Netmask::V6(48)),
            vec![d("[2001:db8::26]:0", DirectRoute, 4)],
        ),
        (
            Service::new(ServiceKey::tcp(sa("192.0.2.11:0")), DestinationHashing)
                .with_persistence(360)
                .with_netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))),
            vec![],
        ),
        (
            Service::new(ServiceKey::udp(sa("192.0.2.12:5060")), RoundRobin)
                .with_persistence(30)
                .with_persistence_engine("sip")
                .with_flags(ServiceFlags::ONE_PACKET),
            vec![],
        ),
    ]);
    let got = ns.table();
    assert_eq!(got, expected);

    // Round trip: what the client read, written by the client into another
    // namespace, is what ipvsadm saves there too.
    let copy = TestNs::new();
    for (s, dests) in &got {
        copy.client.add_service(s).unwrap();
        for d in dests {
            copy.client.add_destination(&s.key, d).unwrap();
        }
    }
    assert_eq!(copy.ipvsadm_save(), ns.ipvsadm_save());
    assert_eq!(copy.table(), got);
}
