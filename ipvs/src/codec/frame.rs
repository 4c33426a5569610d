//! Netlink framing: requests to bytes, datagrams to replies.
//!
//! Sans-IO: nothing here touches a socket. A client appends requests to a
//! buffer with [`encode_request`] and feeds every datagram it receives to
//! [`decode`].

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART, NLM_F_REQUEST,
    NLMSG_NOOP, NLMSG_OVERRUN, NetlinkHeader,
};

use super::IpvsMessage;
use crate::engine::Protocol;
use crate::engine::wire::{self, Control};

pub use crate::engine::GENL_HDRLEN;
pub use crate::engine::wire::{KernelError, NLMSG_HDRLEN, parse_error};

/// How a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// One operation: answered by its reply (if any), then an ACK or an error.
    Ack,
    /// A dump: answered by any number of messages, then `NLMSG_DONE`.
    Dump,
    /// One operation of a batch: answered only if it fails.
    ErrorsOnly,
}

/// Append the netlink bytes of `msg` to `buf` and return their length.
///
/// ```
/// use ipvs::codec::{encode_request, IpvsMessage, RequestKind};
/// let mut buf = Vec::new();
/// let n = encode_request(&IpvsMessage::get_info(), 0x25, 1, RequestKind::Ack, &mut buf);
/// assert_eq!(n, 20);
/// assert_eq!(&buf[4..6], &0x25u16.to_ne_bytes()); // message type: the family id
/// assert_eq!(buf[16], 15);                         // GET_INFO
/// ```
pub fn encode_request(
    msg: &IpvsMessage,
    family_id: u16,
    seq: u32,
    kind: RequestKind,
    buf: &mut Vec<u8>,
) -> usize {
    let flags = NLM_F_REQUEST
        | match kind {
            RequestKind::Ack => NLM_F_ACK,
            RequestKind::Dump => NLM_F_DUMP,
            RequestKind::ErrorsOnly => 0,
        };
    let ipvs = super::protocol::Ipvs;
    wire::push_message(buf, family_id, flags, seq, ipvs.payload_len(msg), |p| {
        ipvs.emit_payload(msg, p)
    })
}

/// One message of a reply datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// An IPVS message (one service, destination, daemon, config or info).
    Ipvs(IpvsMessage),
    /// The end of a dump.
    Done,
    /// A successful acknowledgement.
    Ack,
    /// A refusal, or an error ending a dump.
    Error(KernelError),
    /// `NLMSG_NOOP`, `NLMSG_OVERRUN`, or a message of another family.
    Other {
        /// The netlink message type.
        message_type: u16,
        /// The payload after the netlink header.
        payload: Vec<u8>,
    },
}

/// A netlink header and the reply it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The netlink header (type, flags, sequence number, port).
    pub header: NetlinkHeader,
    /// The decoded payload.
    pub reply: Reply,
}

impl Frame {
    /// Whether the kernel marked this message as part of a dump whose table
    /// changed under it (`NLM_F_DUMP_INTR`).
    pub fn interrupted(&self) -> bool {
        self.header.flags & NLM_F_DUMP_INTR != 0
    }
    /// Whether it is part of a multi-part reply.
    pub fn multipart(&self) -> bool {
        self.header.flags & NLM_F_MULTIPART != 0
    }
}

/// Decode every netlink message of a datagram.
///
/// With `family` set, messages of other generic-netlink families decode as
/// [`Reply::Other`]; with `None` every non-control message is read as IPVS
/// (for captures whose family id is not known). The iterator stops after
/// the first error: a malformed message leaves no way to find the next.
///
/// ```
/// use ipvs::codec::{decode, encode_request, IpvsMessage, Reply, RequestKind};
/// let mut buf = Vec::new();
/// encode_request(&IpvsMessage::flush(), 0x25, 7, RequestKind::Ack, &mut buf);
/// let frames: Vec<_> = decode(&buf, Some(0x25)).collect::<Result<_, _>>().unwrap();
/// assert_eq!(frames[0].header.sequence_number, 7);
/// assert!(matches!(&frames[0].reply, Reply::Ipvs(m) if *m == IpvsMessage::flush()));
/// ```
pub fn decode(datagram: &[u8], family: Option<u16>) -> Frames<'_> {
    Frames {
        messages: wire::messages(datagram),
        family,
    }
}

/// The iterator of [`decode`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    messages: wire::Messages<'a>,
    family: Option<u16>,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (header, payload) = match self.messages.next()? {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        let reply = decode_one(&header, payload, self.family);
        if reply.is_err() {
            self.messages = wire::messages(&[]);
        }
        Some(reply.map(|reply| Frame { header, reply }))
    }
}

fn decode_one(
    header: &NetlinkHeader,
    payload: &[u8],
    family: Option<u16>,
) -> Result<Reply, DecodeError> {
    Ok(match wire::control(header, payload)? {
        Some(Control::Ack) => Reply::Ack,
        Some(Control::Done) => Reply::Done,
        Some(Control::Error(e)) => Reply::Error(e),
        None => match header.message_type {
            t if t == NLMSG_NOOP || t == NLMSG_OVERRUN || t < 16 => Reply::Other {
                message_type: t,
                payload: payload.to_vec(),
            },
            t if family.is_some_and(|f| f != t) => Reply::Other {
                message_type: t,
                payload: payload.to_vec(),
            },
            t => match super::protocol::Ipvs.decode(t, t, payload)? {
                Some(msg) => Reply::Ipvs(msg),
                None => unreachable!("IPVS decodes every message of its own type"),
            },
        },
    })
}
