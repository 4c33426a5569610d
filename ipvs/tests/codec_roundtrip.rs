//! Property tests: the model survives model -> attributes -> bytes -> decode
//! -> model, arbitrary messages survive bytes -> decode -> bytes, and
//! validation names what is wrong with invalid values.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipvs::codec::attr::{
    DaemonAttr, DestAttr, FlagsMask, IpvsAttr, ServiceAttr, StatsAttr, StatsNest,
};
use ipvs::codec::convert::{dest_attrs, service_attrs, stats_nest};
use ipvs::codec::{Command, DecodeError, IpvsMessage, Reply, RequestKind, decode, encode_request};
use ipvs::{
    AddressFamily, Connections, DaemonState, Destination, ForwardMethod, Info, Netmask,
    Persistence, Protocol, Scheduler, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon,
    Timeouts, Tunnel, TunnelChecksum, ValidationError, Version,
};
use netlink_packet_core::DefaultNla;
use proptest::prelude::*;
use proptest::string::string_regex;

use common::FAMILY;

const MAX: u32 = i32::MAX as u32;

// ---------------------------------------------------------------- strategies

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Ipv4), Just(AddressFamily::Ipv6)]
}

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
}

fn ip_of(family: AddressFamily) -> BoxedStrategy<IpAddr> {
    match family {
        AddressFamily::Ipv4 => ipv4().boxed(),
        AddressFamily::Ipv6 => ipv6().boxed(),
    }
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

/// Ports, with 0 (every port) and the extremes well represented.
fn port() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(0u16), 1 => Just(u16::MAX), 8 => any::<u16>()]
}

fn u32_edges(max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0u32), 1 => Just(max), 1 => Just(1u32), 6 => 0..=max]
}

/// Every kind of key: TCP/UDP/SCTP on IPv4/IPv6, fwmark on IPv4/IPv6.
fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (protocol(), prop_oneof![ipv4(), ipv6()], port()).prop_map(|(protocol, address, port)| {
            ServiceKey::Address {
                protocol,
                address,
                port,
            }
        }),
        (u32_edges(u32::MAX).prop_map(|m| m.max(1)), family())
            .prop_map(|(fwmark, family)| ServiceKey::Fwmark { fwmark, family }),
    ]
}

fn named_schedulers() -> Vec<Scheduler> {
    let mut v: Vec<Scheduler> = Scheduler::kernel_schedulers().collect();
    v.push(Scheduler::None);
    v
}

/// Every named scheduler, and any other name a module can have (1..=15
/// ASCII letters, digits, `_`, `-`, not first: a leading `-` is refused;
/// never a known name: those decode as the named variant).
fn scheduler() -> impl Strategy<Value = Scheduler> {
    let named = named_schedulers();
    let other = string_regex("[A-Za-z0-9_][A-Za-z0-9_-]{0,14}")
        .unwrap()
        .prop_filter_map(
            "a known scheduler name",
            |name| match Scheduler::from_name(&name) {
                s @ Scheduler::Other(_) => Some(s),
                _ => None,
            },
        );
    prop_oneof![3 => proptest::sample::select(named), 1 => other]
}

/// A persistence engine's name: what a module name can have, 1..=15 bytes,
/// not starting with `-` (refused: ipvsadm's rules would read an option).
fn module_name() -> impl Strategy<Value = String> {
    string_regex("[A-Za-z0-9_][A-Za-z0-9_-]{0,14}").unwrap()
}

/// An interface name the kernel takes: 1..=15 bytes of any UTF-8 but NUL,
/// whitespace, `/` and `:` (`dev_valid_name`).
fn interface_name() -> impl Strategy<Value = String> {
    prop_oneof![
        string_regex("[a-z0-9_.-]{1,15}").unwrap(),
        string_regex("[^\\x00-\\x20\\x7f/:\\s]{1,15}")
            .unwrap()
            .prop_filter("at most 15 bytes, no whitespace", |s| {
                s.len() <= 15 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            }),
    ]
}

fn netmask(family: AddressFamily) -> BoxedStrategy<Netmask> {
    match family {
        AddressFamily::Ipv4 => prop_oneof![
            (0u32..=32).prop_map(|p| {
                Netmask::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0)))
            }),
            any::<[u8; 4]>().prop_map(|o| Netmask::V4(Ipv4Addr::from(o))),
        ]
        .boxed(),
        AddressFamily::Ipv6 => (1u8..=128).prop_map(Netmask::V6).boxed(),
    }
}

fn persistence(family: AddressFamily) -> impl Strategy<Value = Persistence> {
    (u32_edges(u32::MAX), netmask(family))
        .prop_map(|(timeout, netmask)| Persistence { timeout, netmask })
}

/// Every flag bit the model holds: all but PERSISTENT and HASHED (derived).
fn service_flags() -> impl Strategy<Value = ServiceFlags> {
    prop_oneof![Just(0u32), (0u32..0x40), any::<u32>(),]
        .prop_map(|b| ServiceFlags::from_bits_retain(b & !0x3))
}

fn stats() -> impl Strategy<Value = Stats> {
    let c = || {
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            0..=u64::from(u32::MAX),
            any::<u64>()
        ]
    };
    ((c(), c(), c(), c(), c()), (c(), c(), c(), c(), c())).prop_map(
        |(
            (connections, packets_in, packets_out, bytes_in, bytes_out),
            (cps, pps_in, pps_out, bps_in, bps_out),
        )| {
            Stats {
                connections,
                packets_in,
                packets_out,
                bytes_in,
                bytes_out,
                cps,
                pps_in,
                pps_out,
                bps_in,
                bps_out,
            }
        },
    )
}

/// A valid service without stats (as requests carry them).
fn service() -> impl Strategy<Value = Service> {
    service_key().prop_flat_map(|key| {
        let f = key.family();
        (
            Just(key),
            scheduler(),
            proptest::option::of(persistence(f)),
            persistence(f),
            service_flags(),
            proptest::option::of(module_name()),
        )
            .prop_map(|(key, scheduler, persistence, fallback, flags, pe)| {
                // Port 0 needs persistence.
                let persistence = match (key.port(), persistence) {
                    (Some(0), None) => Some(fallback),
                    (_, p) => p,
                };
                Service {
                    key,
                    scheduler,
                    persistence,
                    flags,
                    persistence_engine: pe,
                    stats: None,
                }
            })
    })
}

fn checksum() -> impl Strategy<Value = TunnelChecksum> {
    prop_oneof![
        Just(TunnelChecksum::None),
        Just(TunnelChecksum::Checksum),
        Just(TunnelChecksum::Remote),
    ]
}

/// Every tunnel: IPIP, GUE on a non-zero port with any checksum, GRE
/// without remote checksum offload.
fn tunnel() -> impl Strategy<Value = Tunnel> {
    prop_oneof![
        Just(Tunnel::Ipip),
        (1u16..=u16::MAX, checksum()).prop_map(|(port, checksum)| Tunnel::Gue { port, checksum }),
        prop_oneof![Just(TunnelChecksum::None), Just(TunnelChecksum::Checksum)]
            .prop_map(|checksum| Tunnel::Gre { checksum }),
    ]
}

fn forward() -> impl Strategy<Value = ForwardMethod> {
    prop_oneof![
        Just(ForwardMethod::Masquerade),
        Just(ForwardMethod::Local),
        Just(ForwardMethod::DirectRoute),
        Just(ForwardMethod::Bypass),
        tunnel().prop_map(ForwardMethod::Tunnel),
    ]
}

/// Upper and lower thresholds with lower <= upper, or no upper limit.
fn thresholds() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        u32_edges(MAX).prop_flat_map(|u| (Just(u), prop_oneof![Just(0), Just(u), 0..=u])),
        u32_edges(MAX).prop_map(|l| (0, l)),
    ]
}

/// A valid destination of a service of `family`, without connections or
/// stats: of the service's family, or of any family when tunnelled.
fn destination(family: AddressFamily) -> impl Strategy<Value = Destination> {
    (
        forward(),
        ip_of(family),
        prop_oneof![ipv4(), ipv6()],
        port(),
        u32_edges(MAX),
        thresholds(),
    )
        .prop_map(
            move |(forward, same, any_family, port, weight, (upper, lower))| {
                let address = match forward {
                    ForwardMethod::Tunnel(_) => any_family,
                    _ => same,
                };
                Destination {
                    address,
                    port,
                    forward,
                    weight,
                    upper_threshold: upper,
                    lower_threshold: lower,
                    connections: None,
                    stats: None,
                }
            },
        )
}

fn keyed_destination() -> impl Strategy<Value = (ServiceKey, Destination)> {
    service_key().prop_flat_map(|key| (Just(key), destination(key.family())))
}

fn connections() -> impl Strategy<Value = Connections> {
    any::<(u32, u32, u32)>().prop_map(|(active, inactive, persistent)| Connections {
        active,
        inactive,
        persistent,
    })
}

fn multicast() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (224u8..=239, any::<[u8; 3]>())
            .prop_map(|(a, [b, c, d])| IpAddr::V4(Ipv4Addr::new(a, b, c, d))),
        any::<[u8; 15]>().prop_map(|rest| {
            let mut o = [0xffu8; 16];
            o[1..].copy_from_slice(&rest);
            IpAddr::V6(Ipv6Addr::from(o))
        }),
    ]
}

fn sync_daemon() -> impl Strategy<Value = SyncDaemon> {
    (
        prop_oneof![Just(DaemonState::Master), Just(DaemonState::Backup)],
        interface_name(),
        0u32..=255,
        proptest::option::of(any::<u16>()),
        proptest::option::of(multicast()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |(state, interface, sync_id, max_len, group, port, ttl)| SyncDaemon {
                state,
                interface,
                sync_id,
                max_len,
                group,
                port,
                ttl,
            },
        )
}

fn timeouts() -> impl Strategy<Value = Timeouts> {
    (
        u32_edges(u32::MAX),
        u32_edges(u32::MAX),
        u32_edges(u32::MAX),
    )
        .prop_map(|(tcp, tcp_fin, udp)| Timeouts { tcp, tcp_fin, udp })
}

fn info() -> impl Strategy<Value = Info> {
    (any::<(u8, u8, u8)>(), any::<u32>()).prop_map(|((major, minor, patch), size)| Info {
        version: Version {
            major,
            minor,
            patch,
        },
        connection_table_size: size,
    })
}

// ------------------------------------------------------------------- helpers

/// Encode `msg` as a request, decode it, check it is the only message and
/// byte-identical once re-encoded; return it.
fn through_bytes(msg: &IpvsMessage, kind: RequestKind) -> Result<IpvsMessage, TestCaseError> {
    let mut bytes = Vec::new();
    let n = encode_request(msg, FAMILY, 77, kind, &mut bytes);
    prop_assert_eq!(n, bytes.len());
    prop_assert_eq!(n % 4, 0);
    for family in [Some(FAMILY), None] {
        let frames: Vec<_> = decode(&bytes, family)
            .collect::<Result<_, DecodeError>>()
            .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(frames[0].header.sequence_number, 77);
        prop_assert_eq!(frames[0].header.message_type, FAMILY);
        prop_assert_eq!(frames[0].header.length as usize, n);
        let Reply::Ipvs(got) = &frames[0].reply else {
            return Err(TestCaseError::fail(format!(
                "not IPVS: {:?}",
                frames[0].reply
            )));
        };
        prop_assert_eq!(got, msg);
        let mut again = Vec::new();
        encode_request(got, FAMILY, 77, kind, &mut again);
        prop_assert_eq!(&again, &bytes);
    }
    let frame = decode(&bytes, Some(FAMILY)).next().unwrap().unwrap();
    match frame.reply {
        Reply::Ipvs(m) => Ok(m),
        _ => unreachable!(),
    }
}

/// What survives the legacy `STATS` nest: 32-bit counts and rates, 64-bit bytes.
fn legacy(s: &Stats) -> Stats {
    let t = |v: u64| v & u64::from(u32::MAX);
    Stats {
        connections: t(s.connections),
        packets_in: t(s.packets_in),
        packets_out: t(s.packets_out),
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        cps: t(s.cps),
        pps_in: t(s.pps_in),
        pps_out: t(s.pps_out),
        bps_in: t(s.bps_in),
        bps_out: t(s.bps_out),
    }
}

/// Which stats nests a reply carries.
#[derive(Debug, Clone, Copy)]
enum StatsKind {
    Wide,
    Legacy,
    Both,
}

fn stats_kind() -> impl Strategy<Value = StatsKind> {
    prop_oneof![
        Just(StatsKind::Wide),
        Just(StatsKind::Legacy),
        Just(StatsKind::Both)
    ]
}

impl StatsKind {
    fn expected(self, s: &Stats) -> Stats {
        match self {
            StatsKind::Legacy => legacy(s),
            StatsKind::Wide | StatsKind::Both => *s,
        }
    }
    /// The nests, in the kernel's order (STATS before STATS64).
    fn nests(self, s: &Stats) -> Vec<(bool, StatsNest)> {
        let mut v = Vec::new();
        if matches!(self, StatsKind::Legacy | StatsKind::Both) {
            v.push((false, stats_nest(s, false)));
        }
        if matches!(self, StatsKind::Wide | StatsKind::Both) {
            v.push((true, stats_nest(s, true)));
        }
        v
    }
}

// ------------------------------------------------------------ model -> model

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_models_are_valid(
        svc in service(),
        (key, dest) in keyed_destination(),
        daemon in sync_daemon(),
    ) {
        prop_assert_eq!(svc.validate(), Ok(()));
        prop_assert_eq!(key.validate(), Ok(()));
        prop_assert_eq!(dest.validate(&key), Ok(()));
        prop_assert_eq!(daemon.validate(), Ok(()));
    }

    #[test]
    fn service_requests_round_trip(svc in service()) {
        for (msg, cmd) in [
            (IpvsMessage::new_service(&svc), Command::NEW_SERVICE),
            (IpvsMessage::set_service(&svc), Command::SET_SERVICE),
        ] {
            prop_assert_eq!(msg.command, cmd);
            let got = through_bytes(&msg, RequestKind::Ack)?;
            prop_assert_eq!(got.service().unwrap(), Some(svc.clone()));
            prop_assert_eq!(got.destination(AddressFamily::Ipv4).unwrap(), None);
            prop_assert_eq!(got.daemon().unwrap(), None);
        }
        // Requests that carry only the key.
        for msg in [
            IpvsMessage::del_service(&svc.key),
            IpvsMessage::get_service(&svc.key),
            IpvsMessage::get_dests(&svc.key),
            IpvsMessage::zero(Some(&svc.key)),
        ] {
            let got = through_bytes(&msg, RequestKind::Ack)?;
            prop_assert_eq!(got.service().unwrap().map(|s| s.key), Some(svc.key));
        }
    }

    #[test]
    fn destination_requests_round_trip((key, dest) in keyed_destination()) {
        for msg in [IpvsMessage::new_dest(&key, &dest), IpvsMessage::set_dest(&key, &dest)] {
            let got = through_bytes(&msg, RequestKind::Ack)?;
            prop_assert_eq!(got.service().unwrap().map(|s| s.key), Some(key));
            // ADDR_FAMILY is always sent, so the service's family is not needed.
            for fallback in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
                prop_assert_eq!(got.destination(fallback).unwrap(), Some(dest.clone()));
            }
        }
        let del = IpvsMessage::del_dest(&key, dest.address, dest.port);
        let got = through_bytes(&del, RequestKind::Ack)?;
        let Some(IpvsAttr::Dest(attrs)) = got.attrs.get(1) else {
            return Err(TestCaseError::fail("DEL_DEST without DEST"));
        };
        prop_assert!(attrs.contains(&DestAttr::Addr(ipvs::codec::convert::addr_bytes(&dest.address))));
        prop_assert!(attrs.contains(&DestAttr::Port(dest.port)));
    }

    #[test]
    fn destination_without_addr_family_takes_the_services(
        (key, dest) in keyed_destination(),
    ) {
        // Kernels before 3.18 send no ADDR_FAMILY: the service's family stands in.
        prop_assume!(!matches!(dest.forward, ForwardMethod::Tunnel(_)));
        let attrs: Vec<_> = dest_attrs(&dest)
            .into_iter()
            .filter(|a| !matches!(a, DestAttr::AddrFamily(_)))
            .collect();
        let msg = IpvsMessage::new(Command::NEW_DEST, vec![IpvsAttr::Dest(attrs)]);
        let got = through_bytes(&msg, RequestKind::Ack)?;
        prop_assert_eq!(got.destination(key.family()).unwrap(), Some(dest));
    }

    #[test]
    fn daemon_requests_round_trip(daemon in sync_daemon()) {
        let got = through_bytes(&IpvsMessage::new_daemon(&daemon), RequestKind::Ack)?;
        prop_assert_eq!(got.daemon().unwrap(), Some(daemon.clone()));
        let del = through_bytes(&IpvsMessage::del_daemon(daemon.state), RequestKind::Ack)?;
        prop_assert_eq!(
            &del.attrs,
            &vec![IpvsAttr::Daemon(vec![DaemonAttr::State(daemon.state.to_raw())])]
        );
    }

    #[test]
    fn timeouts_round_trip(t in timeouts()) {
        let got = through_bytes(&IpvsMessage::set_config(&t), RequestKind::Ack)?;
        prop_assert_eq!(got.command, Command::SET_CONFIG);
        prop_assert_eq!(got.timeouts(), t);
        // Zero timeouts are not sent at all.
        let sent = [t.tcp, t.tcp_fin, t.udp].iter().filter(|v| **v != 0).count();
        prop_assert_eq!(got.attrs.len(), sent);
    }

    #[test]
    fn info_round_trips(i in info()) {
        prop_assert_eq!(Version::from_raw(i.version.to_raw()), i.version);
        let reply = IpvsMessage::new(
            Command::SET_INFO,
            vec![IpvsAttr::Version(i.version.to_raw()), IpvsAttr::ConnTabSize(i.connection_table_size)],
        );
        let got = through_bytes(&reply, RequestKind::Ack)?;
        prop_assert_eq!(got.info().unwrap(), i);
    }

    /// Replies carry what requests never do: stats (STATS64 and/or legacy
    /// STATS) and, for destinations, connection counts; and the kernel's
    /// HASHED bit, which the model drops.
    #[test]
    fn service_replies_round_trip(
        svc in service(),
        s in stats(),
        kind in stats_kind(),
    ) {
        let mut attrs = service_attrs(&svc);
        for a in &mut attrs {
            if let ServiceAttr::Flags(f) = a {
                *f = FlagsMask { flags: f.flags | 0x2, mask: u32::MAX };
            }
        }
        for (wide, nest) in kind.nests(&s) {
            attrs.push(if wide { ServiceAttr::Stats64(nest) } else { ServiceAttr::Stats(nest) });
        }
        let reply = IpvsMessage::new(Command::NEW_SERVICE, vec![IpvsAttr::Service(attrs)]);
        let got = through_bytes_lossy(&reply)?;
        let expected = Service { stats: Some(kind.expected(&s)), ..svc.clone() };
        prop_assert_eq!(got.service().unwrap(), Some(expected.clone()));
        prop_assert_eq!(expected.config(), svc);
    }

    #[test]
    fn destination_replies_round_trip(
        (key, dest) in keyed_destination(),
        conns in connections(),
        s in stats(),
        kind in stats_kind(),
    ) {
        let mut attrs = dest_attrs(&dest);
        attrs.push(DestAttr::ActiveConns(conns.active));
        attrs.push(DestAttr::InactConns(conns.inactive));
        attrs.push(DestAttr::PersistConns(conns.persistent));
        if !matches!(dest.forward, ForwardMethod::Tunnel(_)) {
            // The kernel sends the tunnel attributes, zeroed, for every destination.
            attrs.push(DestAttr::TunType(0));
            attrs.push(DestAttr::TunPort(0));
            attrs.push(DestAttr::TunFlags(0));
        }
        for (wide, nest) in kind.nests(&s) {
            attrs.push(if wide { DestAttr::Stats64(nest) } else { DestAttr::Stats(nest) });
        }
        let reply = IpvsMessage::new(Command::NEW_DEST, vec![IpvsAttr::Dest(attrs)]);
        let got = through_bytes_lossy(&reply)?;
        let expected = Destination {
            connections: Some(conns),
            stats: Some(kind.expected(&s)),
            ..dest.clone()
        };
        prop_assert_eq!(got.destination(key.family()).unwrap(), Some(expected.clone()));
        prop_assert_eq!(expected.config(), dest);
    }

    /// Several messages in one datagram come back in order.
    #[test]
    fn datagrams_of_many_messages(svcs in proptest::collection::vec(service(), 1..6)) {
        let mut bytes = Vec::new();
        for (seq, svc) in svcs.iter().enumerate() {
            encode_request(&IpvsMessage::new_service(svc), FAMILY, seq as u32, RequestKind::Dump, &mut bytes);
        }
        let frames: Vec<_> = decode(&bytes, Some(FAMILY)).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(frames.len(), svcs.len());
        for (seq, (frame, svc)) in frames.iter().zip(&svcs).enumerate() {
            prop_assert_eq!(frame.header.sequence_number, seq as u32);
            let Reply::Ipvs(m) = &frame.reply else { return Err(TestCaseError::fail("not IPVS")) };
            prop_assert_eq!(m.service().unwrap(), Some(svc.clone()));
        }
    }
}

/// Like [`through_bytes`], for messages that may hold counters a legacy
/// STATS nest cannot carry: the decoded message need not equal the input,
/// but must be a fixed point (decode . encode of it is itself).
fn through_bytes_lossy(msg: &IpvsMessage) -> Result<IpvsMessage, TestCaseError> {
    let mut bytes = Vec::new();
    encode_request(msg, FAMILY, 1, RequestKind::Ack, &mut bytes);
    let frame = decode(&bytes, Some(FAMILY))
        .next()
        .unwrap()
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    let Reply::Ipvs(got) = frame.reply else {
        return Err(TestCaseError::fail("not IPVS"));
    };
    prop_assert_eq!(&through_bytes(&got, RequestKind::Ack)?, &got);
    Ok(got)
}

/// Emitting a single attribute into a buffer (test-only helper).
trait EmitInto {
    fn emit_into(&self, buf: &mut [u8]);
}

impl<T: netlink_packet_core::Emitable> EmitInto for T {
    fn emit_into(&self, buf: &mut [u8]) {
        self.emit(&mut buf[..self.buffer_len()]);
    }
}

// -------------------------------------------- arbitrary messages -> bytes

/// Flag bits an attribute type may carry (NESTED, NET_BYTEORDER).
fn nla_flags() -> impl Strategy<Value = u16> {
    prop_oneof![4 => Just(0u16), 1 => Just(0x8000u16), 1 => Just(0x4000u16), 1 => Just(0xc000u16)]
}

/// An attribute this crate does not know, in a nest whose known types are `1..=known`.
fn unknown_nla(known: u16) -> impl Strategy<Value = DefaultNla> {
    (
        prop_oneof![Just(0u16), (known + 1)..=0x3fff],
        nla_flags(),
        proptest::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(kind, flags, value)| DefaultNla::new(kind | flags, value))
}

/// A name as a string attribute carries it: any UTF-8 without NUL.
fn attr_string() -> impl Strategy<Value = String> {
    string_regex("[^\\x00]{0,20}").unwrap()
}

fn stats_attr(wide: bool) -> impl Strategy<Value = StatsAttr> {
    let narrow = if wide { u64::MAX } else { u64::from(u32::MAX) };
    prop_oneof![
        (0..=narrow).prop_map(StatsAttr::Conns),
        (0..=narrow).prop_map(StatsAttr::InPkts),
        (0..=narrow).prop_map(StatsAttr::OutPkts),
        any::<u64>().prop_map(StatsAttr::InBytes),
        any::<u64>().prop_map(StatsAttr::OutBytes),
        (0..=narrow).prop_map(StatsAttr::Cps),
        (0..=narrow).prop_map(StatsAttr::InPps),
        (0..=narrow).prop_map(StatsAttr::OutPps),
        (0..=narrow).prop_map(StatsAttr::InBps),
        (0..=narrow).prop_map(StatsAttr::OutBps),
        unknown_nla(10).prop_map(StatsAttr::Other),
    ]
}

fn stats_nest_any(wide: bool) -> impl Strategy<Value = StatsNest> {
    proptest::collection::vec(stats_attr(wide), 0..12)
        .prop_map(move |attrs| StatsNest { wide, attrs })
}

fn service_attr() -> impl Strategy<Value = ServiceAttr> {
    prop_oneof![
        any::<u16>().prop_map(ServiceAttr::Af),
        any::<u16>().prop_map(ServiceAttr::Protocol),
        any::<[u8; 16]>().prop_map(ServiceAttr::Addr),
        any::<u16>().prop_map(ServiceAttr::Port),
        any::<u32>().prop_map(ServiceAttr::Fwmark),
        attr_string().prop_map(ServiceAttr::SchedName),
        any::<(u32, u32)>().prop_map(|(flags, mask)| ServiceAttr::Flags(FlagsMask { flags, mask })),
        any::<u32>().prop_map(ServiceAttr::Timeout),
        any::<u32>().prop_map(ServiceAttr::Netmask),
        stats_nest_any(false).prop_map(ServiceAttr::Stats),
        attr_string().prop_map(ServiceAttr::PeName),
        stats_nest_any(true).prop_map(ServiceAttr::Stats64),
        unknown_nla(12).prop_map(ServiceAttr::Other),
    ]
}

fn dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(DestAttr::Addr),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UThresh),
        any::<u32>().prop_map(DestAttr::LThresh),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        stats_nest_any(false).prop_map(DestAttr::Stats),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        stats_nest_any(true).prop_map(DestAttr::Stats64),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        unknown_nla(15).prop_map(DestAttr::Other),
    ]
}

fn daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        attr_string().prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxLen),
        any::<[u8; 4]>().prop_map(DaemonAttr::McastGroup),
        any::<[u8; 16]>().prop_map(DaemonAttr::McastGroup6),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        unknown_nla(8).prop_map(DaemonAttr::Other),
    ]
}

fn command_attr() -> impl Strategy<Value = IpvsAttr> {
    prop_oneof![
        proptest::collection::vec(service_attr(), 0..8).prop_map(IpvsAttr::Service),
        proptest::collection::vec(dest_attr(), 0..8).prop_map(IpvsAttr::Dest),
        proptest::collection::vec(daemon_attr(), 0..8).prop_map(IpvsAttr::Daemon),
        any::<u32>().prop_map(IpvsAttr::TimeoutTcp),
        any::<u32>().prop_map(IpvsAttr::TimeoutTcpFin),
        any::<u32>().prop_map(IpvsAttr::TimeoutUdp),
        unknown_nla(6).prop_map(IpvsAttr::Other),
    ]
}

fn info_attr() -> impl Strategy<Value = IpvsAttr> {
    prop_oneof![
        any::<u32>().prop_map(IpvsAttr::Version),
        any::<u32>().prop_map(IpvsAttr::ConnTabSize),
        unknown_nla(2).prop_map(IpvsAttr::Other),
    ]
}

/// Any command (known or not) with any attributes its numbering allows.
fn any_message() -> impl Strategy<Value = IpvsMessage> {
    any::<u8>().prop_flat_map(|cmd| {
        let command = Command(cmd);
        let attrs = if command.carries_info() {
            proptest::collection::vec(info_attr(), 0..5).boxed()
        } else {
            proptest::collection::vec(command_attr(), 0..5).boxed()
        };
        attrs.prop_map(move |attrs| IpvsMessage::new(command, attrs))
    })
}

/// Raw attribute bytes of unknown types (with any flag bits), nested or
/// not, padded with zeros as the kernel pads them.
fn raw_unknown_attrs(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let leaf = (unknown_nla(6), Just(()))
        .prop_map(|(nla, ())| {
            let mut b = vec![0u8; netlink_packet_core::Emitable::buffer_len(&nla)];
            nla.emit_into(&mut b);
            // Keep both flag bits as given: write the type field ourselves.
            b[2..4].copy_from_slice(&netlink_packet_core::Nla::kind(&nla).to_ne_bytes());
            b
        })
        .boxed();
    let one = if depth == 0 {
        leaf
    } else {
        prop_oneof![
            3 => leaf,
            1 => ((7u16..=0x3fff), raw_unknown_attrs(depth - 1)).prop_map(|(kind, inner)| {
                common::nla(kind | 0x8000, &inner)
            }),
        ]
        .boxed()
    };
    proptest::collection::vec(one, 0..5)
        .prop_map(|v| v.concat())
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any message survives encode -> decode -> encode, byte for byte.
    #[test]
    fn any_message_round_trips(msg in any_message()) {
        through_bytes(&msg, RequestKind::Ack)?;
        through_bytes(&msg, RequestKind::Dump)?;
        // The accessors never panic on whatever it holds.
        let _ = msg.service();
        let _ = msg.destination(AddressFamily::Ipv4);
        let _ = msg.daemon();
        let _ = msg.info();
        let _ = msg.timeouts();
    }

    /// Datagrams made of unknown attributes (any number, any flags, nested
    /// or not) and unknown commands decode and re-encode byte-identically.
    #[test]
    fn unknown_attributes_survive_bytes(
        cmd in any::<u8>(),
        raw in raw_unknown_attrs(2),
        seq in any::<u32>(),
    ) {
        // Unknown types are unknown under every numbering (> 6 top level).
        let bytes = common::nlmsg(FAMILY, 0x5, seq, &common::genl(cmd, &raw));
        let frames: Vec<_> = decode(&bytes, None).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(frames.len(), 1);
        let Reply::Ipvs(msg) = &frames[0].reply else { return Err(TestCaseError::fail("not IPVS")) };
        prop_assert_eq!(msg.command, Command(cmd));
        prop_assert!(msg.attrs.iter().all(|a| matches!(a, IpvsAttr::Other(_))));
        let mut again = Vec::new();
        encode_request(msg, FAMILY, seq, RequestKind::Ack, &mut again);
        // encode_request writes port 0; the capture had 4242.
        again[12..16].copy_from_slice(&4242u32.to_ne_bytes());
        prop_assert_eq!(again, bytes);
    }
}

// ---------------------------------------------------------------- validation

fn valid_key_dest() -> impl Strategy<Value = (ServiceKey, Destination)> {
    keyed_destination()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lower_above_upper_is_rejected(
        (key, dest) in valid_key_dest(),
        (upper, lower) in (1..MAX).prop_flat_map(|u| (Just(u), (u + 1)..=MAX)),
    ) {
        let d = dest.with_thresholds(upper, lower);
        prop_assert_eq!(d.validate(&key), Err(ValidationError::ThresholdOrder { upper, lower }));
    }

    #[test]
    fn weight_above_i32_max_is_rejected((key, dest) in valid_key_dest(), w in (MAX + 1)..=u32::MAX) {
        prop_assert_eq!(dest.with_weight(w).validate(&key), Err(ValidationError::WeightOutOfRange(w)));
    }

    #[test]
    fn thresholds_above_i32_max_are_rejected(
        (key, dest) in valid_key_dest(),
        v in (MAX + 1)..=u32::MAX,
        upper in any::<bool>(),
    ) {
        let (d, field) = if upper {
            (Destination { upper_threshold: v, lower_threshold: 0, ..dest }, "upper_threshold")
        } else {
            (Destination { upper_threshold: 0, lower_threshold: v, ..dest }, "lower_threshold")
        };
        prop_assert_eq!(d.validate(&key), Err(ValidationError::ThresholdOutOfRange { field, value: v }));
    }

    #[test]
    fn gue_without_port_is_rejected((key, dest) in valid_key_dest(), c in checksum()) {
        let d = dest.with_forward(ForwardMethod::Tunnel(Tunnel::Gue { port: 0, checksum: c }));
        prop_assert_eq!(d.validate(&key), Err(ValidationError::GueWithoutPort));
    }

    #[test]
    fn remote_checksum_on_gre_is_rejected((key, dest) in valid_key_dest()) {
        let d = dest.with_forward(ForwardMethod::Tunnel(Tunnel::Gre { checksum: TunnelChecksum::Remote }));
        prop_assert_eq!(d.validate(&key), Err(ValidationError::RemoteChecksumOnGre));
    }

    #[test]
    fn unknown_forward_is_rejected((key, dest) in valid_key_dest(), n in prop_oneof![5u32..=7, 8..=u32::MAX]) {
        let d = dest.with_forward(ForwardMethod::Other(n));
        prop_assert_eq!(d.validate(&key), Err(ValidationError::UnknownForwardMethod(n)));
    }

    #[test]
    fn mixed_family_without_tunnel_is_rejected(
        (key, dest) in valid_key_dest(),
        fwd in prop_oneof![
            Just(ForwardMethod::Masquerade),
            Just(ForwardMethod::Local),
            Just(ForwardMethod::DirectRoute),
            Just(ForwardMethod::Bypass),
        ],
        v4 in ipv4(),
        v6 in ipv6(),
    ) {
        let address = match key.family() {
            AddressFamily::Ipv4 => v6,
            AddressFamily::Ipv6 => v4,
        };
        let d = Destination { address, forward: fwd, ..dest };
        prop_assert_eq!(
            d.validate(&key),
            Err(ValidationError::MixedFamily {
                address,
                dest: AddressFamily::of(&address),
                service: key.family(),
            })
        );
        // ... and accepted once tunnelled.
        let t = Destination { forward: ForwardMethod::Tunnel(Tunnel::Ipip), ..d };
        prop_assert_eq!(t.validate(&key), Ok(()));
    }

    #[test]
    fn long_names_are_rejected(svc in service(), name in "[a-z]{16,40}", which in 0..3u8) {
        let len = name.len();
        let (s, field) = match which {
            0 => (Service { scheduler: Scheduler::Other(name.clone()), ..svc }, "scheduler"),
            _ => (Service { persistence_engine: Some(name.clone()), ..svc }, "persistence_engine"),
        };
        prop_assert_eq!(s.validate(), Err(ValidationError::NameTooLong { field, name, len }));
    }

    #[test]
    fn names_with_nul_or_empty_are_rejected(
        svc in service(),
        daemon in sync_daemon(),
        (a, b) in ("[a-z]{0,8}", "[a-z]{0,8}"),
        empty in any::<bool>(),
        which in 0..3u8,
    ) {
        let name = if empty { String::new() } else { format!("{a}\0{b}") };
        let got = match which {
            0 => Service { scheduler: Scheduler::Other(name.clone()), ..svc }.validate(),
            1 => Service { persistence_engine: Some(name.clone()), ..svc }.validate(),
            _ => SyncDaemon { interface: name.clone(), ..daemon }.validate(),
        };
        let field = ["scheduler", "persistence_engine", "interface"][which as usize];
        prop_assert_eq!(got, Err(ValidationError::BadName { field, name }));
    }

    #[test]
    fn port_zero_without_persistence_is_rejected(svc in service()) {
        let ServiceKey::Address { protocol, address, .. } = svc.key else {
            return Ok(());
        };
        let s = Service {
            key: ServiceKey::Address { protocol, address, port: 0 },
            persistence: None,
            ..svc
        };
        prop_assert_eq!(s.validate(), Err(ValidationError::ZeroPortWithoutPersistence));
    }

    #[test]
    fn fwmark_zero_is_rejected(svc in service(), family in family()) {
        let s = Service { key: ServiceKey::Fwmark { fwmark: 0, family }, ..svc };
        prop_assert_eq!(s.validate(), Err(ValidationError::ZeroFwmark));
        prop_assert_eq!(s.key.validate(), Err(ValidationError::ZeroFwmark));
    }

    #[test]
    fn unsupported_protocol_is_rejected(svc in service(), p in any::<u16>()) {
        let protocol = Protocol::from_raw(p);
        prop_assume!(matches!(protocol, Protocol::Other(_)));
        let ServiceKey::Address { address, port, .. } = svc.key else { return Ok(()) };
        let s = Service { key: ServiceKey::Address { protocol, address, port }, ..svc };
        prop_assert_eq!(s.validate(), Err(ValidationError::UnsupportedProtocol(protocol)));
    }

    #[test]
    fn netmask_of_the_wrong_family_or_range_is_rejected(
        svc in service(),
        timeout in any::<u32>(),
        prefix in prop_oneof![Just(0u8), 129u8..=255],
        v4 in any::<[u8; 4]>(),
    ) {
        let family = svc.key.family();
        let netmask = match family {
            // An IPv4 mask on an IPv6 service, or a prefix out of 1..=128.
            AddressFamily::Ipv6 if v4[0] % 2 == 0 => Netmask::V4(Ipv4Addr::from(v4)),
            AddressFamily::Ipv6 => Netmask::V6(prefix),
            // Any prefix at all on an IPv4 service.
            AddressFamily::Ipv4 => Netmask::V6(prefix.max(1)),
        };
        let s = Service { persistence: Some(Persistence { timeout, netmask }), ..svc };
        prop_assert_eq!(s.validate(), Err(ValidationError::BadNetmask { netmask, family }));
    }

    #[test]
    fn bad_daemons_are_rejected(daemon in sync_daemon(), n in any::<u32>(), id in 256u32.., v4 in ipv4(), v6 in ipv6()) {
        let state = DaemonState::from_raw(n);
        if let DaemonState::Other(n) = state {
            let d = SyncDaemon { state, ..daemon.clone() };
            prop_assert_eq!(d.validate(), Err(ValidationError::UnknownDaemonState(n)));
        }
        let d = SyncDaemon { sync_id: id, ..daemon.clone() };
        prop_assert_eq!(d.validate(), Err(ValidationError::SyncIdOutOfRange(id)));
        for group in [v4, v6] {
            if !group.is_multicast() {
                let d = SyncDaemon { group: Some(group), ..daemon.clone() };
                prop_assert_eq!(d.validate(), Err(ValidationError::NotMulticast(group)));
            }
        }
    }
}

// ------------------------------------------------------------ fixed examples

#[test]
fn every_scheduler_and_tunnel_round_trips() {
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    for sched in named_schedulers()
        .into_iter()
        .chain([Scheduler::Other("x".repeat(15))])
    {
        let svc = Service::new(key, sched);
        assert_eq!(svc.validate(), Ok(()));
        let mut b = Vec::new();
        encode_request(
            &IpvsMessage::new_service(&svc),
            FAMILY,
            1,
            RequestKind::Ack,
            &mut b,
        );
        let Reply::Ipvs(m) = decode(&b, None).next().unwrap().unwrap().reply else {
            panic!()
        };
        assert_eq!(m.service().unwrap(), Some(svc));
    }
    let tunnels = [
        Tunnel::Ipip,
        Tunnel::Gue {
            port: 6080,
            checksum: TunnelChecksum::None,
        },
        Tunnel::Gue {
            port: 1,
            checksum: TunnelChecksum::Checksum,
        },
        Tunnel::Gue {
            port: 65535,
            checksum: TunnelChecksum::Remote,
        },
        Tunnel::Gre {
            checksum: TunnelChecksum::None,
        },
        Tunnel::Gre {
            checksum: TunnelChecksum::Checksum,
        },
    ];
    for t in tunnels {
        for addr in ["192.0.2.21:0", "[2001:db8::21]:8443"] {
            let d = Destination::new(addr.parse().unwrap()).with_forward(ForwardMethod::Tunnel(t));
            assert_eq!(d.validate(&key), Ok(()));
            let mut b = Vec::new();
            encode_request(
                &IpvsMessage::new_dest(&key, &d),
                FAMILY,
                1,
                RequestKind::Ack,
                &mut b,
            );
            let Reply::Ipvs(m) = decode(&b, None).next().unwrap().unwrap().reply else {
                panic!()
            };
            assert_eq!(m.destination(AddressFamily::Ipv4).unwrap(), Some(d));
        }
    }
}

#[test]
fn legacy_stats_keep_64_bit_bytes_only() {
    let s = Stats {
        connections: (1 << 32) + 5,
        bytes_in: (1 << 40) + 1,
        bytes_out: u64::MAX,
        ..Stats::default()
    };
    let nest = stats_nest(&s, false);
    let svc = Service::new(ServiceKey::fwmark(1), Scheduler::RoundRobin);
    let mut attrs = service_attrs(&svc);
    attrs.push(ServiceAttr::Stats(nest));
    let msg = IpvsMessage::new(Command::NEW_SERVICE, vec![IpvsAttr::Service(attrs)]);
    let mut b = Vec::new();
    encode_request(&msg, FAMILY, 1, RequestKind::Ack, &mut b);
    let Reply::Ipvs(m) = decode(&b, None).next().unwrap().unwrap().reply else {
        panic!()
    };
    let got = m.service().unwrap().unwrap().stats.unwrap();
    assert_eq!(got, legacy(&s));
    assert_eq!(got.bytes_in, (1 << 40) + 1);
    assert_eq!(got.bytes_out, u64::MAX);
}
