//! Requests written straight from the model into a byte buffer: the
//! payloads (generic-netlink header and attributes) of the changes a batch
//! sends, without an [`IpvsMessage`](super::IpvsMessage) per request.
//!
//! Each function appends exactly what the matching constructor of
//! [`request`](super::request) emits (the tests below compare them), so the
//! golden fixtures that pin those constructors pin these too.

use std::net::IpAddr;

use super::Command;
use super::constants::*;
use super::convert::addr_bytes;
use super::message::FAMILY_VERSION;
use crate::model::{
    AddressFamily, Destination, ForwardMethod, Netmask, Service, ServiceKey, Timeouts,
};

/// Where a request is written: the buffer of a batch, or a [`Frame`].
trait Out {
    fn put(&mut self, bytes: &[u8]);
    fn len(&self) -> usize;
    /// Overwrite the two bytes at `at` (a nest's length, once known).
    fn set_two(&mut self, at: usize, value: [u8; 2]);
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn set_two(&mut self, at: usize, value: [u8; 2]) {
        self[at..at + 2].copy_from_slice(&value);
    }
}

/// The longest destination request: the header, the service's identity
/// (4 + 48) and a tunnel destination's ten attributes (4 + 92).
const FRAME_MOST: usize = 148;

/// A request of at most [`FRAME_MOST`] bytes written on the stack and
/// appended to its batch in one copy, without a capacity check per
/// attribute: the destination requests, most of a large batch.
struct Frame {
    bytes: [u8; FRAME_MOST],
    len: usize,
}

impl Frame {
    fn new() -> Self {
        Frame {
            bytes: [0; FRAME_MOST],
            len: 0,
        }
    }

    /// Append what `write` wrote to `buf`.
    fn append(buf: &mut Vec<u8>, write: impl FnOnce(&mut Frame)) {
        let mut frame = Frame::new();
        write(&mut frame);
        buf.extend_from_slice(&frame.bytes[..frame.len]);
    }
}

impl Out for Frame {
    fn put(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
    fn len(&self) -> usize {
        self.len
    }
    fn set_two(&mut self, at: usize, value: [u8; 2]) {
        self.bytes[at..at + 2].copy_from_slice(&value);
    }
}

/// Append the generic-netlink header of `command`.
fn header(buf: &mut impl Out, command: Command) {
    buf.put(&[command.0, FAMILY_VERSION, 0, 0]);
}

/// The length field of an attribute of `len` bytes (header included);
/// saturated as [`emit_one`](super::nla) does.
fn nla_len(len: usize) -> [u8; 2] {
    u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes()
}

/// Append one attribute: header, value, padding to 4 bytes.
fn attr(buf: &mut impl Out, kind: u16, value: &[u8]) {
    buf.put(&nla_len(4 + value.len()));
    buf.put(&kind.to_ne_bytes());
    buf.put(value);
    pad(buf, value.len());
}

/// An attribute of `N` bytes of value (a multiple of 4 with its 4-byte
/// header, so without padding) in one write: [`attr`] for the fixed-size
/// values every request has.
fn fixed<const N: usize, const M: usize>(buf: &mut impl Out, kind: u16, value: [u8; N]) {
    const { assert!(M == 4 + N && M % 4 == 0) };
    let mut a = [0u8; M];
    a[..2].copy_from_slice(&(M as u16).to_ne_bytes());
    a[2..4].copy_from_slice(&kind.to_ne_bytes());
    a[4..].copy_from_slice(&value);
    buf.put(&a);
}

/// A 2-byte attribute and its padding, in one write.
fn two(buf: &mut impl Out, kind: u16, value: [u8; 2]) {
    let [k0, k1] = kind.to_ne_bytes();
    let [l0, l1] = 6u16.to_ne_bytes();
    buf.put(&[l0, l1, k0, k1, value[0], value[1], 0, 0]);
}

fn u32_attr(buf: &mut impl Out, kind: u16, v: u32) {
    fixed::<4, 8>(buf, kind, v.to_ne_bytes());
}

fn addr_attr(buf: &mut impl Out, kind: u16, a: &IpAddr) {
    fixed::<16, 20>(buf, kind, addr_bytes(a));
}

/// Append a string attribute: the bytes and a NUL.
fn string(buf: &mut impl Out, kind: u16, s: &str) {
    buf.put(&nla_len(4 + s.len() + 1));
    buf.put(&kind.to_ne_bytes());
    buf.put(s.as_bytes());
    buf.put(&[0]);
    pad(buf, s.len() + 1);
}

/// Zeros after a value of `len` bytes, up to netlink's 4-byte alignment.
fn pad(buf: &mut impl Out, len: usize) {
    buf.put(&[0; 3][..len.next_multiple_of(4) - len]);
}

/// Append a nest of `kind` holding what `inner` appends.
fn nest<B: Out>(buf: &mut B, kind: u16, inner: impl FnOnce(&mut B)) {
    let start = buf.len();
    let [k0, k1] = kind.to_ne_bytes();
    buf.put(&[0, 0, k0, k1]);
    inner(buf);
    let len = nla_len(buf.len() - start);
    buf.set_two(start, len);
}

/// The attributes of a service's identity (`service_key_attrs`).
fn service_key(buf: &mut impl Out, key: &ServiceKey) {
    match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            two(
                buf,
                IPVS_SVC_ATTR_AF,
                AddressFamily::of(address).to_raw().to_ne_bytes(),
            );
            two(buf, IPVS_SVC_ATTR_PROTOCOL, protocol.to_raw().to_ne_bytes());
            addr_attr(buf, IPVS_SVC_ATTR_ADDR, address);
            two(buf, IPVS_SVC_ATTR_PORT, port.to_be_bytes());
        }
        ServiceKey::Fwmark { fwmark, family } => {
            two(buf, IPVS_SVC_ATTR_AF, family.to_raw().to_ne_bytes());
            u32_attr(buf, IPVS_SVC_ATTR_FWMARK, *fwmark);
        }
    }
}

/// The `SERVICE` nest of `NEW_SERVICE` and `SET_SERVICE` (`service_attrs`).
fn service_nest(buf: &mut Vec<u8>, svc: &Service) {
    nest(buf, IPVS_CMD_ATTR_SERVICE, |buf| {
        service_key(buf, &svc.key);
        string(buf, IPVS_SVC_ATTR_SCHED_NAME, svc.scheduler.name());
        if let Some(pe) = &svc.persistence_engine {
            string(buf, IPVS_SVC_ATTR_PE_NAME, pe);
        }
        let (timeout, netmask) = match &svc.persistence {
            Some(p) => (p.timeout, p.netmask),
            None => (0, Netmask::host(svc.key.family())),
        };
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&svc.kernel_flags().bits().to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        fixed::<8, 12>(buf, IPVS_SVC_ATTR_FLAGS, flags);
        u32_attr(buf, IPVS_SVC_ATTR_TIMEOUT, timeout);
        u32_attr(buf, IPVS_SVC_ATTR_NETMASK, netmask.to_raw());
    });
}

/// `NEW_SERVICE` or `SET_SERVICE` of `svc`.
pub(crate) fn service(buf: &mut Vec<u8>, command: Command, svc: &Service) {
    header(buf, command);
    service_nest(buf, svc);
}

/// `DEL_SERVICE` of `key`.
pub(crate) fn del_service(buf: &mut Vec<u8>, key: &ServiceKey) {
    header(buf, Command::DEL_SERVICE);
    nest(buf, IPVS_CMD_ATTR_SERVICE, |buf| service_key(buf, key));
}

/// `NEW_DEST` or `SET_DEST`: `dest` of the service `key` (`dest_attrs`).
pub(crate) fn dest(buf: &mut Vec<u8>, command: Command, key: &ServiceKey, d: &Destination) {
    Frame::append(buf, |buf| dest_frame(buf, command, key, d));
}

fn dest_frame(buf: &mut Frame, command: Command, key: &ServiceKey, d: &Destination) {
    header(buf, command);
    nest(buf, IPVS_CMD_ATTR_SERVICE, |buf| service_key(buf, key));
    nest(buf, IPVS_CMD_ATTR_DEST, |buf| {
        addr_attr(buf, IPVS_DEST_ATTR_ADDR, &d.address);
        two(buf, IPVS_DEST_ATTR_PORT, d.port.to_be_bytes());
        u32_attr(buf, IPVS_DEST_ATTR_FWD_METHOD, d.forward.to_raw());
        u32_attr(buf, IPVS_DEST_ATTR_WEIGHT, d.weight);
        if let ForwardMethod::Tunnel(t) = &d.forward {
            attr(buf, IPVS_DEST_ATTR_TUN_TYPE, &[t.type_raw()]);
            two(buf, IPVS_DEST_ATTR_TUN_PORT, t.port().to_be_bytes());
            two(
                buf,
                IPVS_DEST_ATTR_TUN_FLAGS,
                t.checksum().to_raw().to_ne_bytes(),
            );
        }
        u32_attr(buf, IPVS_DEST_ATTR_U_THRESH, d.upper_threshold);
        u32_attr(buf, IPVS_DEST_ATTR_L_THRESH, d.lower_threshold);
        two(
            buf,
            IPVS_DEST_ATTR_ADDR_FAMILY,
            AddressFamily::of(&d.address).to_raw().to_ne_bytes(),
        );
    });
}

/// `DEL_DEST`: the destination `address`:`port` of the service `key`.
pub(crate) fn del_dest(buf: &mut Vec<u8>, key: &ServiceKey, address: IpAddr, port: u16) {
    Frame::append(buf, |buf| del_dest_frame(buf, key, address, port));
}

fn del_dest_frame(buf: &mut Frame, key: &ServiceKey, address: IpAddr, port: u16) {
    header(buf, Command::DEL_DEST);
    nest(buf, IPVS_CMD_ATTR_SERVICE, |buf| service_key(buf, key));
    nest(buf, IPVS_CMD_ATTR_DEST, |buf| {
        addr_attr(buf, IPVS_DEST_ATTR_ADDR, &address);
        two(buf, IPVS_DEST_ATTR_PORT, port.to_be_bytes());
        two(
            buf,
            IPVS_DEST_ATTR_ADDR_FAMILY,
            AddressFamily::of(&address).to_raw().to_ne_bytes(),
        );
    });
}

/// `GET_DEST` (a dump): the destinations of the service `key`.
pub(crate) fn get_dests(buf: &mut Vec<u8>, key: &ServiceKey) {
    header(buf, Command::GET_DEST);
    nest(buf, IPVS_CMD_ATTR_SERVICE, |buf| service_key(buf, key));
}

/// `SET_CONFIG`: the timeouts that are not 0.
pub(crate) fn set_config(buf: &mut Vec<u8>, t: &Timeouts) {
    header(buf, Command::SET_CONFIG);
    for (kind, v) in [
        (IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp),
        (IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcp_fin),
        (IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp),
    ] {
        if v != 0 {
            u32_attr(buf, kind, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Ipvs, IpvsMessage};
    use crate::engine::Protocol;
    use crate::model::{
        Persistence, Protocol as Proto, Scheduler, ServiceFlags, Tunnel, TunnelChecksum,
    };

    /// What the engine writes for `msg` (the payload after the netlink header).
    fn bytes_of(msg: &IpvsMessage) -> Vec<u8> {
        let mut buf = vec![0; Ipvs.payload_len(msg)];
        Ipvs.emit_payload(msg, &mut buf);
        buf
    }

    fn encoded(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut buf = vec![9, 9, 9];
        f(&mut buf);
        assert_eq!(&buf[..3], &[9, 9, 9], "appends only");
        buf.split_off(3)
    }

    fn keys() -> Vec<ServiceKey> {
        vec![
            ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
            ServiceKey::Address {
                protocol: Proto::Udp,
                address: "2001:db8::10".parse().unwrap(),
                port: 53,
            },
            ServiceKey::Address {
                protocol: Proto::Sctp,
                address: "198.51.100.1".parse().unwrap(),
                port: 0,
            },
            ServiceKey::fwmark(7),
            ServiceKey::Fwmark {
                fwmark: u32::MAX,
                family: AddressFamily::Ipv6,
            },
        ]
    }

    fn services() -> Vec<Service> {
        let mut out = Vec::new();
        for key in keys() {
            out.push(Service::new(key, Scheduler::RoundRobin));
            let mut s = Service::new(key, Scheduler::Other("abcdefghijklmno".into()));
            s.persistence = Some(Persistence {
                timeout: 300,
                netmask: Netmask::host(key.family()),
            });
            s.persistence_engine = Some("sip".into());
            s.flags = ServiceFlags::ONE_PACKET;
            out.push(s);
            let mut s = Service::new(key, Scheduler::SourceHashing);
            s.persistence_engine = Some("x".into());
            s.flags = ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::SCHED3;
            out.push(s);
            out.push(Service::new(key, Scheduler::None));
        }
        out
    }

    fn dests() -> Vec<Destination> {
        let mut out = Vec::new();
        for addr in ["198.51.100.2:8080", "[2001:db8::21]:443", "203.0.113.9:0"] {
            let d = Destination::new(addr.parse().unwrap());
            out.push(d.clone());
            for forward in [
                ForwardMethod::Local,
                ForwardMethod::DirectRoute,
                ForwardMethod::Bypass,
                ForwardMethod::Tunnel(Tunnel::Ipip),
                ForwardMethod::Tunnel(Tunnel::Gue {
                    port: 6080,
                    checksum: TunnelChecksum::Remote,
                }),
                ForwardMethod::Tunnel(Tunnel::Gre {
                    checksum: TunnelChecksum::Checksum,
                }),
            ] {
                let mut d = d.clone().with_weight(7);
                d.forward = forward;
                d.upper_threshold = 100;
                d.lower_threshold = 10;
                out.push(d);
            }
        }
        out
    }

    #[test]
    fn services_encode_as_their_messages() {
        for s in services() {
            assert_eq!(
                encoded(|b| service(b, Command::NEW_SERVICE, &s)),
                bytes_of(&IpvsMessage::new_service(&s)),
                "{s:?}"
            );
            assert_eq!(
                encoded(|b| service(b, Command::SET_SERVICE, &s)),
                bytes_of(&IpvsMessage::set_service(&s)),
                "{s:?}"
            );
            assert_eq!(
                encoded(|b| del_service(b, &s.key)),
                bytes_of(&IpvsMessage::del_service(&s.key)),
                "{s:?}"
            );
        }
    }

    #[test]
    fn destinations_encode_as_their_messages() {
        let mut longest = 0;
        for key in keys() {
            assert_eq!(
                encoded(|b| get_dests(b, &key)),
                bytes_of(&IpvsMessage::get_dests(&key)),
                "{key}"
            );
            for d in dests() {
                assert_eq!(
                    encoded(|b| dest(b, Command::NEW_DEST, &key, &d)),
                    bytes_of(&IpvsMessage::new_dest(&key, &d)),
                    "{key} {d:?}"
                );
                assert_eq!(
                    encoded(|b| dest(b, Command::SET_DEST, &key, &d)),
                    bytes_of(&IpvsMessage::set_dest(&key, &d)),
                    "{key} {d:?}"
                );
                assert_eq!(
                    encoded(|b| del_dest(b, &key, d.address, d.port)),
                    bytes_of(&IpvsMessage::del_dest(&key, d.address, d.port)),
                    "{key} {d:?}"
                );
                longest = longest.max(bytes_of(&IpvsMessage::new_dest(&key, &d)).len());
            }
        }
        assert_eq!(longest, FRAME_MOST, "a frame holds the longest, exactly");
    }

    #[test]
    fn timeouts_encode_as_their_message() {
        for (tcp, tcp_fin, udp) in [(0, 0, 0), (900, 0, 300), (1, 2, 3), (0, 120, 0)] {
            let t = Timeouts { tcp, tcp_fin, udp };
            assert_eq!(
                encoded(|b| set_config(b, &t)),
                bytes_of(&IpvsMessage::set_config(&t)),
                "{t:?}"
            );
        }
    }

    #[test]
    fn an_oversized_name_saturates_as_the_message_does() {
        let s = Service::new(ServiceKey::fwmark(1), Scheduler::Other("x".repeat(70_000)));
        assert!(
            encoded(|b| service(b, Command::NEW_SERVICE, &s))
                == bytes_of(&IpvsMessage::new_service(&s))
        );
    }
}
