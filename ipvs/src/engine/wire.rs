//! Netlink framing shared by every protocol: the one header encoder, the
//! splitting of a datagram into messages, and the reading of
//! acknowledgements, errors and extended ACKs.

use netlink_packet_core::{
    DecodeError, Emitable, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_DONE, NLMSG_ERROR, NetlinkHeader,
    NlasIterator,
};

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// Round `n` up to netlink's 4-byte alignment.
pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Append one netlink message to `buf`: its header, then `payload_len`
/// bytes written by `emit` (zeroed first). Returns the message's length.
///
/// This and [`push_message_bytes`] are the only places a netlink header
/// is written (the tests check they write the same).
///
/// ```
/// use ipvs::engine::wire::push_message;
/// let mut buf = Vec::new();
/// let n = push_message(&mut buf, 0x25, 0x5, 7, 4, |p| p[0] = 15);
/// assert_eq!(n, 20);
/// assert_eq!(&buf[0..4], &20u32.to_ne_bytes());
/// assert_eq!(&buf[4..6], &0x25u16.to_ne_bytes());
/// assert_eq!(buf[16], 15);
/// ```
pub fn push_message(
    buf: &mut Vec<u8>,
    message_type: u16,
    flags: u16,
    seq: u32,
    payload_len: usize,
    emit: impl FnOnce(&mut [u8]),
) -> usize {
    let len = NLMSG_HDRLEN + payload_len;
    let start = buf.len();
    buf.resize(start + align4(len), 0);
    let mut header = NetlinkHeader::default();
    header.length = len as u32;
    header.message_type = message_type;
    header.flags = flags;
    header.sequence_number = seq;
    // Port 0: the kernel fills in ours.
    header.emit(&mut buf[start..start + NLMSG_HDRLEN]);
    emit(&mut buf[start + NLMSG_HDRLEN..start + len]);
    len
}

/// [`push_message`] of a payload given as bytes: appended as they are,
/// then padded, without zeroing first.
pub fn push_message_bytes(
    buf: &mut Vec<u8>,
    message_type: u16,
    flags: u16,
    seq: u32,
    payload: &[u8],
) -> usize {
    let len = NLMSG_HDRLEN + payload.len();
    let mut header = [0u8; NLMSG_HDRLEN];
    header[..4].copy_from_slice(&(len as u32).to_ne_bytes());
    header[4..6].copy_from_slice(&message_type.to_ne_bytes());
    header[6..8].copy_from_slice(&flags.to_ne_bytes());
    header[8..12].copy_from_slice(&seq.to_ne_bytes());
    // Port 0: the kernel fills in ours.
    buf.reserve(align4(len));
    buf.extend_from_slice(&header);
    buf.extend_from_slice(payload);
    buf.extend_from_slice(&[0; 3][..align4(len) - len]);
    len
}

/// The messages of a datagram: each header with its payload. Stops after
/// the first malformed one (there is no finding the next).
///
/// ```
/// use ipvs::engine::wire::{messages, push_message};
/// let mut buf = Vec::new();
/// push_message(&mut buf, 1, 0, 7, 0, |_| {});
/// push_message(&mut buf, 1, 0, 8, 3, |p| p.copy_from_slice(b"abc"));
/// let seqs: Vec<_> = messages(&buf).map(|m| m.unwrap().0.sequence_number).collect();
/// assert_eq!(seqs, [7, 8]);
/// ```
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

/// The header at the start of `buf` (at least [`NLMSG_HDRLEN`] bytes),
/// read field by field.
fn header_of(buf: &[u8]) -> NetlinkHeader {
    let u16_at = |i: usize| u16::from_ne_bytes([buf[i], buf[i + 1]]);
    let u32_at = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let mut h = NetlinkHeader::default();
    h.length = u32_at(0);
    h.message_type = u16_at(4);
    h.flags = u16_at(6);
    h.sequence_number = u32_at(8);
    h.port_number = u32_at(12);
    h
}

/// The iterator of [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(NetlinkHeader, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        let result = (|| {
            if buf.len() < NLMSG_HDRLEN {
                return Err(
                    format!("{} trailing bytes are not a netlink message", buf.len()).into(),
                );
            }
            let len = u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize;
            if len < NLMSG_HDRLEN || len > buf.len() {
                return Err(format!(
                    "netlink message length {len} does not fit the {} bytes left",
                    buf.len()
                )
                .into());
            }
            Ok((
                header_of(buf),
                &buf[NLMSG_HDRLEN..len],
                align4(len).min(buf.len()),
            ))
        })();
        match result {
            Ok((header, payload, used)) => {
                self.rest = &buf[used..];
                Some(Ok((header, payload)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
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

impl KernelError {
    /// A refusal with `errno` and nothing more said.
    pub fn errno(errno: i32) -> Self {
        KernelError {
            errno,
            message: None,
            offset: None,
            missing_type: None,
        }
    }
}

/// A control message: how a request or a dump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `NLMSG_ERROR` with code 0: an acknowledgement.
    Ack,
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `NLMSG_ERROR` with an errno, or `NLMSG_DONE` carrying one.
    Error(KernelError),
}

/// Read `NLMSG_ERROR` and `NLMSG_DONE`; `Ok(None)` for any other type.
pub fn control(header: &NetlinkHeader, payload: &[u8]) -> Result<Option<Control>, DecodeError> {
    Ok(Some(match header.message_type {
        NLMSG_ERROR => match parse_error(header.flags, payload)? {
            None => Control::Ack,
            Some(e) => Control::Error(e),
        },
        NLMSG_DONE => match payload.get(..4) {
            Some(code) if i32::from_ne_bytes(code.try_into().unwrap()) != 0 => {
                let code = i32::from_ne_bytes(code.try_into().unwrap());
                let mut e = parse_ext_ack(&payload[4..]);
                e.errno = code.saturating_abs();
                Control::Error(e)
            }
            _ => Control::Done,
        },
        _ => return Ok(None),
    }))
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
    let mut err = KernelError::errno(code.saturating_abs());
    if flags & NLM_F_ACK_TLVS != 0 {
        // After the code: the request's header, and its payload unless capped.
        let orig = &payload[4..];
        let skip = if flags & NLM_F_CAPPED != 0 || orig.len() < 4 {
            NLMSG_HDRLEN
        } else {
            align4(u32::from_ne_bytes(orig[..4].try_into().unwrap()) as usize)
        };
        if let Some(tlvs) = orig.get(skip..) {
            err = KernelError {
                errno: err.errno,
                ..parse_ext_ack(tlvs)
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
    let mut e = KernelError::errno(0);
    for nla in NlasIterator::new(tlvs).map_while(Result::ok) {
        let v = nla.value();
        match nla.kind() {
            NLMSGERR_ATTR_MSG => {
                let text = v.split(|b| *b == 0).next().unwrap_or_default();
                e.message = Some(String::from_utf8_lossy(text).into_owned());
            }
            NLMSGERR_ATTR_OFFS => {
                e.offset = v
                    .get(..4)
                    .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encoders_write_the_same_message() {
        for len in 0..9 {
            let payload: Vec<u8> = (1..=len).collect();
            let mut a = vec![7; 4];
            let mut b = a.clone();
            let n = push_message(&mut a, 0x25, 0x301, 0xdead_beef, len as usize, |p| {
                p.copy_from_slice(&payload)
            });
            let m = push_message_bytes(&mut b, 0x25, 0x301, 0xdead_beef, &payload);
            assert_eq!((n, &a), (m, &b), "{len}");
        }
    }
}
