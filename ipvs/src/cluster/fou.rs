//! Foo-over-UDP receive ports (the kernel's `fou` generic-netlink family),
//! which a real server needs to take GUE-encapsulated packets from an IPVS
//! director (`ip fou add port P gue`, without running `ip`).
//!
//! A GUE port decapsulates UDP datagrams to that port and hands the inner
//! packet (IP in IP for IPVS) to the `ipip` handler, so the VIP on `tunl0`
//! then receives it as with plain IPIP. FOU ports belong to a network
//! namespace.

use netlink_packet_core::DecodeError;
use netlink_sys::protocols::NETLINK_GENERIC;

use super::Error;
use super::netlink::Conn;
use crate::engine::{GENL_HDRLEN, Job, Protocol, emit_genl_header};

const FOU_CMD_ADD: u8 = 1;
const FOU_CMD_DEL: u8 = 2;
const FOU_CMD_GET: u8 = 3;
const FOU_ATTR_PORT: u16 = 1;
const FOU_ATTR_AF: u16 = 2;
const FOU_ATTR_TYPE: u16 = 4;
const FOU_ENCAP_GUE: u8 = 2;
const FOU_GENL_VERSION: u8 = 1;

/// The attributes of one message, in order.
type Attrs = Vec<(u16, Vec<u8>)>;

/// A FOU receive port as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FouPort {
    /// UDP port.
    pub port: u16,
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Whether it decapsulates GUE (else direct FOU).
    pub gue: bool,
}

/// A socket on the `fou` family, in the calling thread's network namespace.
#[derive(Debug)]
pub struct Fou {
    conn: Conn<FouFamily>,
}

/// A `fou` request: a command and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FouRequest {
    cmd: u8,
    attrs: Attrs,
}

/// The `fou` generic-netlink family as a [`Protocol`] of the engine.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FouFamily;

impl Protocol for FouFamily {
    type Request = FouRequest;
    type Reply = Attrs;
    type Key = ();

    fn family_name(&self) -> Option<&str> {
        Some("fou")
    }

    fn message_type(&self, _: &FouRequest, family: u16) -> u16 {
        family
    }

    fn payload_len(&self, req: &FouRequest) -> usize {
        GENL_HDRLEN
            + req
                .attrs
                .iter()
                .map(|(_, v)| (4 + v.len() + 3) & !3)
                .sum::<usize>()
    }

    fn emit_payload(&self, req: &FouRequest, buf: &mut [u8]) {
        emit_genl_header(buf, req.cmd, FOU_GENL_VERSION);
        let mut at = GENL_HDRLEN;
        for (kind, value) in &req.attrs {
            let len = 4 + value.len();
            buf[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
            buf[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
            buf[at + 4..at + len].copy_from_slice(value);
            at += (len + 3) & !3;
        }
    }

    fn decode(
        &self,
        message_type: u16,
        family: u16,
        payload: &[u8],
    ) -> Result<Option<Attrs>, DecodeError> {
        if message_type != family {
            return Ok(None);
        }
        Ok(Some(parse_attrs(payload.get(GENL_HDRLEN..).unwrap_or(&[]))))
    }
}

impl Fou {
    /// Open the socket and resolve the family; `Ok(None)` when the kernel
    /// has no `fou` family (the `fou` module is not loaded).
    pub fn open() -> Result<Option<Self>, Error> {
        let mut conn = Conn::open(
            NETLINK_GENERIC,
            FouFamily,
            "opening a generic netlink socket",
        )?;
        match conn.run(Job::Resolve, "resolve the fou family") {
            Ok(_) => Ok(Some(Fou { conn })),
            Err(Error::Netlink { errno, .. }) if errno == libc::ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every FOU port of the namespace.
    pub fn ports(&mut self) -> Result<Vec<FouPort>, Error> {
        let replies = self.request(FOU_CMD_GET, &[], true, "list fou ports")?;
        Ok(replies
            .iter()
            .filter_map(|attrs| {
                let mut port = None;
                let mut family = 0;
                let mut gue = false;
                for (k, v) in attrs {
                    match (*k, v.as_slice()) {
                        (FOU_ATTR_PORT, [a, b, ..]) => port = Some(u16::from_be_bytes([*a, *b])),
                        (FOU_ATTR_AF, [a, ..]) => family = *a,
                        (FOU_ATTR_TYPE, [t, ..]) => gue = *t == FOU_ENCAP_GUE,
                        _ => {}
                    }
                }
                Some(FouPort {
                    port: port?,
                    family,
                    gue,
                })
            })
            .collect())
    }

    /// Open a GUE receive port (`ip fou add port PORT gue`).
    pub fn add_gue(&mut self, port: u16, family: u8) -> Result<(), Error> {
        let attrs = [
            (FOU_ATTR_PORT, port.to_be_bytes().to_vec()),
            (FOU_ATTR_AF, vec![family]),
            (FOU_ATTR_TYPE, vec![FOU_ENCAP_GUE]),
        ];
        self.request(FOU_CMD_ADD, &attrs, false, "add a fou port")?;
        Ok(())
    }

    /// Close a receive port (`ip fou del port PORT`); `Ok(false)` when it
    /// was not open.
    pub fn delete(&mut self, port: u16, family: u8) -> Result<bool, Error> {
        let attrs = [
            (FOU_ATTR_PORT, port.to_be_bytes().to_vec()),
            (FOU_ATTR_AF, vec![family]),
        ];
        match self.request(FOU_CMD_DEL, &attrs, false, "delete a fou port") {
            Ok(_) => Ok(true),
            Err(Error::Netlink { errno, .. }) if errno == libc::ESRCH || errno == libc::ENOENT => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One request; the attributes of every reply message.
    fn request(
        &mut self,
        cmd: u8,
        attrs: &[(u16, Vec<u8>)],
        dump: bool,
        what: &'static str,
    ) -> Result<Vec<Attrs>, Error> {
        let req = FouRequest {
            cmd,
            attrs: attrs.to_vec(),
        };
        self.conn.request(req, dump, what)
    }
}

fn parse_attrs(mut data: &[u8]) -> Attrs {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, data[4..len].to_vec()));
        data = &data[((len + 3) & !3).min(data.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_an_add_and_parses_it_back() {
        let attrs = vec![
            (FOU_ATTR_PORT, 6080u16.to_be_bytes().to_vec()),
            (FOU_ATTR_AF, vec![2]),
            (FOU_ATTR_TYPE, vec![FOU_ENCAP_GUE]),
        ];
        let req = FouRequest {
            cmd: FOU_CMD_ADD,
            attrs: attrs.clone(),
        };
        let mut m = Vec::new();
        let len = crate::engine::wire::push_message(
            &mut m,
            0x1c,
            0,
            9,
            FouFamily.payload_len(&req),
            |b| FouFamily.emit_payload(&req, b),
        );
        assert_eq!(m.len(), 16 + 4 + 8 * 3);
        assert_eq!(len, m.len());
        assert_eq!(m[16], FOU_CMD_ADD);
        let back = FouFamily.decode(0x1c, 0x1c, &m[16..]).unwrap().unwrap();
        assert_eq!(back, attrs);
        // The port is big-endian on the wire.
        assert_eq!(&m[24..26], &[0x17, 0xc0]);
    }
}
