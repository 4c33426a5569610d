//! Hand-building netlink datagrams for the codec tests.
#![allow(dead_code)]

/// `NLMSG_NOOP`, `NLMSG_ERROR`, `NLMSG_DONE`, `NLMSG_OVERRUN`.
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTIPART: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// A family id as the kernel might hand it out for IPVS.
pub const FAMILY: u16 = 0x25;

fn pad(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

/// A netlink message: header (with the unpadded length) and payload, padded to 4.
pub fn nlmsg(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    nlmsg_with_len((16 + payload.len()) as u32, msg_type, flags, seq, payload)
}

/// A netlink message whose length field says `len`, whatever the payload.
pub fn nlmsg_with_len(len: u32, msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_ne_bytes());
    v.extend_from_slice(&msg_type.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&4242u32.to_ne_bytes()); // port id
    v.extend_from_slice(payload);
    pad(&mut v);
    v
}

/// A generic-netlink payload: `cmd`, version 1, reserved, then `attrs`.
pub fn genl(cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let mut v = vec![cmd, 1, 0, 0];
    v.extend_from_slice(attrs);
    v
}

/// One attribute (length unpadded, payload padded to 4).
pub fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    nla_with_len((4 + value.len()) as u16, kind, value)
}

/// One attribute whose length field says `len`, whatever the value.
pub fn nla_with_len(len: u16, kind: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    pad(&mut v);
    v
}

pub fn nla_u32(kind: u16, x: u32) -> Vec<u8> {
    nla(kind, &x.to_ne_bytes())
}

pub fn nla_u16(kind: u16, x: u16) -> Vec<u8> {
    nla(kind, &x.to_ne_bytes())
}

pub fn nla_str(kind: u16, s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    nla(kind, &v)
}

/// A `SERVICE` nest for TCP 192.0.2.10:`port`, as the kernel answers a GET.
pub fn service_nest(port: u16) -> Vec<u8> {
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&[192, 0, 2, 10]);
    let mut flags = Vec::new();
    flags.extend_from_slice(&0x2u32.to_ne_bytes()); // HASHED
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    let inner = [
        nla_u16(1, 2), // AF_INET
        nla_u16(2, 6), // TCP
        nla(3, &addr), // ADDR
        nla(4, &port.to_be_bytes()),
        nla_str(6, "wlc"),
        nla(7, &flags),
        nla_u32(8, 0),
        nla_u32(9, u32::MAX),
    ]
    .concat();
    nla(1, &inner)
}

/// A `NEW_SERVICE` reply message carrying [`service_nest`].
pub fn service_reply(flags: u16, seq: u32, port: u16) -> Vec<u8> {
    nlmsg(FAMILY, flags, seq, &genl(1, &service_nest(port)))
}

/// An `NLMSG_ERROR` payload: the code, then `orig` (the request's header, and
/// its payload unless capped), then `tlvs`.
pub fn error_payload(code: i32, orig: &[u8], tlvs: &[u8]) -> Vec<u8> {
    let mut v = code.to_ne_bytes().to_vec();
    v.extend_from_slice(orig);
    pad(&mut v);
    v.extend_from_slice(tlvs);
    v
}

/// Extended-ACK attributes: message (1), offset (2), missing type (5).
pub fn ext_ack(msg: Option<&str>, offset: Option<u32>, missing: Option<u32>) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(m) = msg {
        v.extend(nla_str(1, m));
    }
    if let Some(o) = offset {
        v.extend(nla_u32(2, o));
    }
    if let Some(t) = missing {
        v.extend(nla_u32(5, t));
    }
    v
}
