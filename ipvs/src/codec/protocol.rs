//! IPVS as a [`Protocol`] of the request engine: generic netlink, family
//! `IPVS`, and dumped entries told apart by their identity.

use netlink_packet_core::{DecodeError, Emitable};

use super::{
    Command, DaemonAttr, DestAttr, FAMILY_NAME, FAMILY_VERSION, IpvsAttr, IpvsMessage, ServiceAttr,
};
use crate::engine::{GENL_HDRLEN, Protocol, emit_genl_header};

/// The IPVS generic-netlink family.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ipvs;

/// The identity of a dumped IPVS entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    /// A service: family, protocol, address, port, firewall mark.
    Service(
        Option<u16>,
        Option<u16>,
        Option<[u8; 16]>,
        Option<u16>,
        Option<u32>,
    ),
    /// A destination: address, port, family.
    Destination(Option<[u8; 16]>, Option<u16>, Option<u16>),
    /// A sync daemon: its state.
    Daemon(Option<u32>),
}

impl Protocol for Ipvs {
    type Request = IpvsMessage;
    type Reply = IpvsMessage;
    type Key = EntryKey;

    fn family_name(&self) -> Option<&str> {
        Some(FAMILY_NAME)
    }

    fn message_type(&self, _: &IpvsMessage, family: u16) -> u16 {
        family
    }

    fn payload_len(&self, msg: &IpvsMessage) -> usize {
        GENL_HDRLEN + msg.buffer_len()
    }

    fn emit_payload(&self, msg: &IpvsMessage, buf: &mut [u8]) {
        emit_genl_header(buf, msg.command.0, FAMILY_VERSION);
        msg.emit(&mut buf[GENL_HDRLEN..]);
    }

    fn decode(
        &self,
        message_type: u16,
        family: u16,
        payload: &[u8],
    ) -> Result<Option<IpvsMessage>, DecodeError> {
        if message_type != family {
            return Ok(None);
        }
        if payload.len() < GENL_HDRLEN {
            return Err("generic netlink message shorter than its header".into());
        }
        IpvsMessage::parse(Command(payload[0]), &payload[GENL_HDRLEN..]).map(Some)
    }

    fn is_entry(&self, message_type: u16, family: u16) -> bool {
        message_type == family
    }

    fn dump_key(&self, msg: &IpvsMessage) -> Option<EntryKey> {
        // A destination reply names its service too: look for DEST first.
        let dest = msg.attrs.iter().find_map(|a| match a {
            IpvsAttr::Dest(d) => Some(d),
            _ => None,
        });
        if let Some(d) = dest {
            let (mut addr, mut port, mut af) = (None, None, None);
            for a in d {
                match a {
                    DestAttr::Addr(v) => addr = Some(*v),
                    DestAttr::Port(v) => port = Some(*v),
                    DestAttr::AddrFamily(v) => af = Some(*v),
                    _ => {}
                }
            }
            return Some(EntryKey::Destination(addr, port, af));
        }
        msg.attrs.iter().find_map(|a| match a {
            IpvsAttr::Service(s) => {
                let (mut af, mut proto, mut addr, mut port, mut mark) =
                    (None, None, None, None, None);
                for a in s {
                    match a {
                        ServiceAttr::Af(v) => af = Some(*v),
                        ServiceAttr::Protocol(v) => proto = Some(*v),
                        ServiceAttr::Addr(v) => addr = Some(*v),
                        ServiceAttr::Port(v) => port = Some(*v),
                        ServiceAttr::Fwmark(v) => mark = Some(*v),
                        _ => {}
                    }
                }
                Some(EntryKey::Service(af, proto, addr, port, mark))
            }
            IpvsAttr::Daemon(d) => Some(EntryKey::Daemon(d.iter().find_map(|a| match a {
                DaemonAttr::State(s) => Some(*s),
                _ => None,
            }))),
            _ => None,
        })
    }
}
