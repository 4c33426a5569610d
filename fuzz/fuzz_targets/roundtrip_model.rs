//! Structured input: a service, a destination, a sync daemon and timeouts
//! built from arbitrary fields. Encoding never panics, valid or not; what
//! `validate()` accepts comes back unchanged from encode-then-decode.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use ipvs::codec::{IpvsMessage, Reply, RequestKind, decode, encode_request};
use ipvs::{
    AddressFamily, DaemonState, Destination, ForwardMethod, Netmask, Persistence, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Addr {
    fn ip(&self) -> IpAddr {
        match *self {
            Addr::V4(o) => IpAddr::V4(Ipv4Addr::from(o)),
            Addr::V6(o) => IpAddr::V6(Ipv6Addr::from(o)),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Key {
    Address {
        protocol: u16,
        address: Addr,
        port: u16,
    },
    Fwmark {
        fwmark: u32,
        v6: bool,
    },
}

#[derive(Debug, Arbitrary)]
enum Mask {
    V4([u8; 4]),
    V6(u8),
}

#[derive(Debug, Arbitrary)]
enum Fwd {
    Masquerade,
    Local,
    Ipip,
    Gue { port: u16, checksum: u8 },
    Gre { checksum: u8 },
    DirectRoute,
    Bypass,
    Other(u32),
}

fn checksum(c: u8) -> TunnelChecksum {
    match c % 3 {
        0 => TunnelChecksum::None,
        1 => TunnelChecksum::Checksum,
        _ => TunnelChecksum::Remote,
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    key: Key,
    scheduler: String,
    persistence: Option<(u32, Mask)>,
    flags: u32,
    persistence_engine: Option<String>,
    dest_address: Addr,
    dest_port: u16,
    forward: Fwd,
    weight: u32,
    upper: u32,
    lower: u32,
    daemon_state: u32,
    interface: String,
    sync_id: u32,
    max_len: Option<u16>,
    group: Option<Addr>,
    mcast_port: Option<u16>,
    ttl: Option<u8>,
    timeouts: (u32, u32, u32),
}

/// Encode `msg`, decode the bytes: the one IPVS message they hold.
fn through_bytes(msg: &IpvsMessage) -> IpvsMessage {
    let mut buf = Vec::new();
    encode_request(msg, 0x25, 1, RequestKind::Ack, &mut buf);
    let mut frames = decode(&buf, Some(0x25));
    let frame = frames.next().expect("a message").expect("decodes");
    assert!(frames.next().is_none());
    match frame.reply {
        Reply::Ipvs(m) => m,
        other => panic!("not IPVS: {other:?}"),
    }
}

fuzz_target!(|input: Input| {
    let key = match input.key {
        Key::Address {
            protocol,
            address,
            port,
        } => ServiceKey::Address {
            protocol: Protocol::from_raw(protocol),
            address: address.ip(),
            port,
        },
        Key::Fwmark { fwmark, v6 } => ServiceKey::Fwmark {
            fwmark,
            family: if v6 {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            },
        },
    };
    let svc = Service {
        key,
        // Through from_name: `Other("rr")` is not a value the codec makes.
        scheduler: Scheduler::from_name(&input.scheduler),
        persistence: input.persistence.map(|(timeout, m)| Persistence {
            timeout,
            netmask: match m {
                Mask::V4(o) => Netmask::V4(Ipv4Addr::from(o)),
                Mask::V6(p) => Netmask::V6(p),
            },
        }),
        // PERSISTENT and HASHED are derived, not held by the model.
        flags: ServiceFlags::from_bits(input.flags)
            .without(ServiceFlags::PERSISTENT | ServiceFlags::HASHED),
        persistence_engine: input.persistence_engine,
        stats: None,
    };
    let dest = Destination {
        address: input.dest_address.ip(),
        port: input.dest_port,
        forward: match input.forward {
            Fwd::Masquerade => ForwardMethod::Masquerade,
            Fwd::Local => ForwardMethod::Local,
            Fwd::Ipip => ForwardMethod::Tunnel(Tunnel::Ipip),
            Fwd::Gue { port, checksum: c } => ForwardMethod::Tunnel(Tunnel::Gue {
                port,
                checksum: checksum(c),
            }),
            Fwd::Gre { checksum: c } => ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: checksum(c),
            }),
            Fwd::DirectRoute => ForwardMethod::DirectRoute,
            Fwd::Bypass => ForwardMethod::Bypass,
            Fwd::Other(n) => ForwardMethod::Other(n),
        },
        weight: input.weight,
        upper_threshold: input.upper,
        lower_threshold: input.lower,
        connections: None,
        stats: None,
    };
    let daemon = SyncDaemon {
        state: DaemonState::from_raw(input.daemon_state),
        interface: input.interface,
        sync_id: input.sync_id,
        max_len: input.max_len,
        group: input.group.map(|g| g.ip()),
        port: input.mcast_port,
        ttl: input.ttl,
    };
    let (tcp, tcp_fin, udp) = input.timeouts;
    let timeouts = Timeouts { tcp, tcp_fin, udp };

    // Encoding never panics, valid or not.
    let svc_msg = through_bytes(&IpvsMessage::new_service(&svc));
    let dest_msg = through_bytes(&IpvsMessage::new_dest(&svc.key, &dest));
    let daemon_msg = through_bytes(&IpvsMessage::new_daemon(&daemon));
    let _ = through_bytes(&IpvsMessage::del_dest(&svc.key, dest.address, dest.port));

    if svc.validate().is_ok() {
        assert_eq!(svc_msg.service().unwrap(), Some(svc.clone()));
    }
    if svc.key.validate().is_ok() {
        assert_eq!(dest_msg.service().unwrap().map(|s| s.key), Some(svc.key));
    }
    if dest.validate(&svc.key).is_ok() {
        assert_eq!(dest_msg.destination(svc.key.family()).unwrap(), Some(dest));
    }
    if daemon.validate().is_ok() {
        assert_eq!(daemon_msg.daemon().unwrap(), Some(daemon));
    }
    assert_eq!(
        through_bytes(&IpvsMessage::set_config(&timeouts)).timeouts(),
        timeouts
    );
});
