//! Netlink framing: requests to bytes, datagrams to replies.
//!
//! Sans-IO: nothing here touches a socket. A client appends requests to a
//! buffer with [`encode_request`] and feeds every datagram it receives to
//! [`decode`].

use netlink_packet_core::NetlinkBuffer;
use netlink_packet_core::{
    DecodeError, Emitable, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_MULTIPART, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN,
    NetlinkHeader, NlasIterator, Parseable,
};

use super::{Command, IpvsMessage};

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Length of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

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
    let len = NLMSG_HDRLEN + GENL_HDRLEN + msg.buffer_len();
    let start = buf.len();
    buf.resize(start + len, 0);
    let out = &mut buf[start..];
    out[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    out[4..6].copy_from_slice(&family_id.to_ne_bytes());
    out[6..8].copy_from_slice(&flags.to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port.
    out[16] = msg.command.0;
    out[17] = super::FAMILY_VERSION;
    msg.emit(&mut out[NLMSG_HDRLEN + GENL_HDRLEN..]);
    len
}

/// What the kernel said when it refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The errno (positive).
    pub errno: i32,
    /// The extended ACK message, if the kernel gave one.
    pub message: Option<String>,
    /// The offset in the request of the attribute the kernel blamed.
    pub offset: Option<u32>,
    /// The attribute type the kernel found missing.
    pub missing_type: Option<u16>,
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
        rest: datagram,
        family,
    }
}

/// The iterator of [`decode`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    family: Option<u16>,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = decode_one(self.rest, self.family);
        match &result {
            Ok((_, used)) => self.rest = &self.rest[(*used).min(self.rest.len())..],
            Err(_) => self.rest = &[],
        }
        Some(result.map(|(frame, _)| frame))
    }
}

fn decode_one(buf: &[u8], family: Option<u16>) -> Result<(Frame, usize), DecodeError> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(format!("{} trailing bytes are not a netlink message", buf.len()).into());
    }
    let len = u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(format!(
            "netlink message length {len} does not fit the {} bytes left",
            buf.len()
        )
        .into());
    }
    let nl = NetlinkBuffer::new(&buf[..len]);
    let header = NetlinkHeader::parse(&nl)?;
    let payload = &buf[NLMSG_HDRLEN..len];
    let reply = match header.message_type {
        NLMSG_ERROR => match parse_error(header.flags, payload)? {
            None => Reply::Ack,
            Some(e) => Reply::Error(e),
        },
        NLMSG_DONE => match payload.get(..4) {
            Some(code) if i32::from_ne_bytes(code.try_into().unwrap()) != 0 => {
                let code = i32::from_ne_bytes(code.try_into().unwrap());
                let mut e = parse_ext_ack(&payload[4..]);
                e.errno = code.saturating_abs();
                Reply::Error(e)
            }
            _ => Reply::Done,
        },
        t if t == NLMSG_NOOP || t == NLMSG_OVERRUN || t < 16 => Reply::Other {
            message_type: t,
            payload: payload.to_vec(),
        },
        t if family.is_some_and(|f| f != t) => Reply::Other {
            message_type: t,
            payload: payload.to_vec(),
        },
        _ => {
            if payload.len() < GENL_HDRLEN {
                return Err("generic netlink message shorter than its header".into());
            }
            Reply::Ipvs(IpvsMessage::parse(
                Command(payload[0]),
                &payload[GENL_HDRLEN..],
            )?)
        }
    };
    Ok((Frame { header, reply }, align4(len)))
}

/// An `NLMSG_ERROR` payload (from the error code on) under a netlink
/// header with `flags`: `None` for an ACK.
pub fn parse_error(flags: u16, payload: &[u8]) -> Result<Option<KernelError>, DecodeError> {
    let code = payload
        .get(..4)
        .ok_or("NLMSG_ERROR shorter than its error code")?;
    let code = i32::from_ne_bytes(code.try_into().unwrap());
    if code == 0 {
        return Ok(None);
    }
    let mut err = KernelError {
        errno: code.saturating_abs(),
        message: None,
        offset: None,
        missing_type: None,
    };
    if flags & NLM_F_ACK_TLVS != 0 {
        // After the code: the request's header, and its payload unless capped.
        let orig = &payload[4..];
        let skip = if flags & NLM_F_CAPPED != 0 || orig.len() < 4 {
            NLMSG_HDRLEN
        } else {
            align4(u32::from_ne_bytes(orig[..4].try_into().unwrap()) as usize)
        };
        if let Some(tlvs) = orig.get(skip..) {
            let ext = parse_ext_ack(tlvs);
            err = KernelError {
                errno: err.errno,
                ..ext
            };
        }
    }
    Ok(Some(err))
}

/// `NLMSGERR_ATTR_MSG`: the kernel's message (string).
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute (u32).
const NLMSGERR_ATTR_OFFS: u16 = 2;
/// `NLMSGERR_ATTR_MISS_TYPE`: the type of a missing attribute (u32).
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;

/// The extended ACK's attributes (`NLMSGERR_ATTR_*`).
fn parse_ext_ack(tlvs: &[u8]) -> KernelError {
    let mut e = KernelError {
        errno: 0,
        message: None,
        offset: None,
        missing_type: None,
    };
    for nla in NlasIterator::new(tlvs).map_while(Result::ok) {
        let v = nla.value();
        match nla.kind() {
            NLMSGERR_ATTR_MSG => e.message = super::nla::string_of("EXT_ACK.MSG", v).ok(),
            NLMSGERR_ATTR_OFFS => e.offset = super::nla::u32_of("EXT_ACK.OFFS", v).ok(),
            NLMSGERR_ATTR_MISS_TYPE => {
                e.missing_type = v
                    .get(..4)
                    .map(|b| u32::from_ne_bytes(b.try_into().unwrap()) as u16)
            }
            _ => {}
        }
    }
    e
}
