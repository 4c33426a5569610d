//! What the engine needs to know about a netlink protocol: how its
//! requests are written and its replies read, which generic-netlink family
//! it speaks (if any), and how dumped entries are told apart.

use std::hash::Hash;

use netlink_packet_core::DecodeError;

use super::wire::NLMSG_HDRLEN;

/// Length of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// The id of nlctrl, the generic-netlink family that names the others.
pub const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// A netlink protocol as the [`Engine`](super::Engine) drives it.
///
/// The engine owns the framing (headers, sequence numbers, flags); a
/// protocol only writes and reads payloads: for generic netlink, the
/// `genlmsghdr` and the attributes.
pub trait Protocol {
    /// A request's payload.
    type Request;
    /// A reply's payload.
    type Reply;
    /// The identity of a dumped entry: an entry whose identity was already
    /// dumped is dropped and counted ([`Answer::duplicates`](super::Answer::duplicates)).
    type Key: Eq + Hash;

    /// The generic-netlink family to resolve through nlctrl before the
    /// first request (and again when the kernel no longer knows its id);
    /// `None` for protocols with fixed message types, such as rtnetlink.
    fn family_name(&self) -> Option<&str>;

    /// The netlink message type of `request`, given the resolved family id
    /// (0 for protocols without a family).
    fn message_type(&self, request: &Self::Request, family: u16) -> u16;

    /// Flags beyond `NLM_F_REQUEST`, `NLM_F_ACK` and `NLM_F_DUMP`, which the
    /// engine sets (rtnetlink's `NLM_F_CREATE | NLM_F_EXCL`, say).
    fn extra_flags(&self, _request: &Self::Request) -> u16 {
        0
    }

    /// Length of `request`'s payload (after the netlink header).
    fn payload_len(&self, request: &Self::Request) -> usize;

    /// Write `request`'s payload into `buf` (exactly `payload_len` bytes, zeroed).
    fn emit_payload(&self, request: &Self::Request, buf: &mut [u8]);

    /// Read a reply that is neither an acknowledgement, an error nor the
    /// end of a dump; `Ok(None)` for messages that are not this protocol's.
    fn decode(
        &self,
        message_type: u16,
        family: u16,
        payload: &[u8],
    ) -> Result<Option<Self::Reply>, DecodeError>;

    /// Whether a message of `message_type` is one of this protocol's
    /// replies (what [`decode`](Self::decode) would not answer `None` to):
    /// the entries a [`Job::Stream`](super::Job::Stream) hands out. All, by
    /// default.
    fn is_entry(&self, _message_type: u16, _family: u16) -> bool {
        true
    }

    /// The identity of a dumped entry; `None` keeps every entry.
    fn dump_key(&self, _reply: &Self::Reply) -> Option<Self::Key> {
        None
    }

    /// Bytes `request` takes in a datagram, header included.
    fn wire_len(&self, request: &Self::Request) -> usize {
        super::wire::align4(NLMSG_HDRLEN + self.payload_len(request))
    }
}

/// Write a `genlmsghdr` (command, version) at the start of `buf`.
pub fn emit_genl_header(buf: &mut [u8], command: u8, version: u8) {
    buf[0] = command;
    buf[1] = version;
}

/// The nlctrl request `CTRL_CMD_GETFAMILY` for `name`: its payload.
pub(crate) fn get_family_payload(name: &str) -> Vec<u8> {
    let value_len = name.len() + 1;
    let attr_len = 4 + value_len;
    let mut p = vec![0u8; GENL_HDRLEN + super::wire::align4(attr_len)];
    emit_genl_header(&mut p, CTRL_CMD_GETFAMILY, 1);
    p[4..6].copy_from_slice(&(attr_len as u16).to_ne_bytes());
    p[6..8].copy_from_slice(&CTRL_ATTR_FAMILY_NAME.to_ne_bytes());
    p[8..8 + name.len()].copy_from_slice(name.as_bytes());
    p
}

/// The family id in nlctrl's answer to `CTRL_CMD_GETFAMILY`.
pub(crate) fn family_id_of(payload: &[u8]) -> Result<u16, DecodeError> {
    let attrs = payload
        .get(GENL_HDRLEN..)
        .ok_or("nlctrl reply shorter than its generic header")?;
    for nla in netlink_packet_core::NlasIterator::new(attrs) {
        let nla = nla?;
        if nla.kind() == CTRL_ATTR_FAMILY_ID {
            if let Some(id) = nla.value().get(..2) {
                return Ok(u16::from_ne_bytes(id.try_into().unwrap()));
            }
        }
    }
    Err("nlctrl reply without a family id".into())
}
