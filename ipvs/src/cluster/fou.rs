//! Foo-over-UDP receive ports (the kernel's `fou` generic-netlink family),
//! which a real server needs to take GUE-encapsulated packets from an IPVS
//! director (`ip fou add port P gue`, without running `ip`).
//!
//! A GUE port decapsulates UDP datagrams to that port and hands the inner
//! packet (IP in IP for IPVS) to the `ipip` handler, so the VIP on `tunl0`
//! then receives it as with plain IPIP. FOU ports belong to a network
//! namespace.

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use super::Error;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const FOU_CMD_ADD: u8 = 1;
const FOU_CMD_DEL: u8 = 2;
const FOU_CMD_GET: u8 = 3;
const FOU_ATTR_PORT: u16 = 1;
const FOU_ATTR_AF: u16 = 2;
const FOU_ATTR_TYPE: u16 = 4;
const FOU_ENCAP_GUE: u8 = 2;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;

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
    socket: Socket,
    family: u16,
    seq: u32,
}

impl Fou {
    /// Open the socket and resolve the family; `Ok(None)` when the kernel
    /// has no `fou` family (the `fou` module is not loaded).
    pub fn open() -> Result<Option<Self>, Error> {
        let io = |e| Error::io("opening a generic netlink socket", e);
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        super::set_recv_timeout(&socket, 10).map_err(io)?;
        let mut fou = Fou {
            socket,
            family: GENL_ID_CTRL,
            seq: 0,
        };
        let mut name = b"fou".to_vec();
        name.push(0);
        let replies = match fou.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            &[(CTRL_ATTR_FAMILY_NAME, name)],
            false,
            "resolve the fou family",
        ) {
            Ok(r) => r,
            Err(Error::Netlink { errno, .. }) if errno == libc::ENOENT => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = replies
            .iter()
            .flat_map(|attrs| attrs.iter())
            .find(|(k, v)| *k == CTRL_ATTR_FAMILY_ID && v.len() >= 2)
            .map(|(_, v)| u16::from_ne_bytes([v[0], v[1]]))
            .ok_or_else(|| Error::Decode("fou family reply without an id".into()))?;
        fou.family = id;
        Ok(Some(fou))
    }

    /// Every FOU port of the namespace.
    pub fn ports(&mut self) -> Result<Vec<FouPort>, Error> {
        let replies = self.request(self.family, FOU_CMD_GET, &[], true, "list fou ports")?;
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
        self.request(self.family, FOU_CMD_ADD, &attrs, false, "add a fou port")?;
        Ok(())
    }

    /// Close a receive port (`ip fou del port PORT`); `Ok(false)` when it
    /// was not open.
    pub fn delete(&mut self, port: u16, family: u8) -> Result<bool, Error> {
        let attrs = [
            (FOU_ATTR_PORT, port.to_be_bytes().to_vec()),
            (FOU_ATTR_AF, vec![family]),
        ];
        match self.request(self.family, FOU_CMD_DEL, &attrs, false, "delete a fou port") {
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
        family: u16,
        cmd: u8,
        attrs: &[(u16, Vec<u8>)],
        dump: bool,
        what: &'static str,
    ) -> Result<Vec<Attrs>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = encode(
            family,
            if dump { NLM_F_DUMP } else { NLM_F_ACK },
            seq,
            cmd,
            attrs,
        );
        self.socket.send(&msg, 0).map_err(|e| Error::io(what, e))?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = self
                .socket
                .recv(&mut &mut buf[..], 0)
                .map_err(|e| Error::io(what, e))?;
            let mut data = &buf[..n.min(buf.len())];
            while data.len() >= 16 {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes([data[4], data[5]]);
                let mseq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if len < 16 || len > data.len() {
                    return Err(Error::Decode(format!("{what}: bad netlink length {len}")));
                }
                let payload = &data[16..len];
                data = &data[((len + 3) & !3).min(data.len())..];
                if mseq != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
                            .unwrap_or(0);
                        return if code == 0 {
                            Ok(replies)
                        } else {
                            Err(Error::Netlink {
                                operation: what,
                                errno: -code,
                                message: None,
                            })
                        };
                    }
                    NLMSG_DONE => return Ok(replies),
                    k if k == family => replies.push(parse_attrs(payload.get(4..).unwrap_or(&[]))),
                    _ => {}
                }
            }
        }
    }
}

fn encode(family: u16, flags: u16, seq: u32, cmd: u8, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    v.extend_from_slice(&[cmd, 1, 0, 0]);
    for (kind, value) in attrs {
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }
    let len = v.len() as u32;
    v[0..4].copy_from_slice(&len.to_ne_bytes());
    v[4..6].copy_from_slice(&family.to_ne_bytes());
    v[6..8].copy_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    v[8..12].copy_from_slice(&seq.to_ne_bytes());
    v
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
        let attrs = [
            (FOU_ATTR_PORT, 6080u16.to_be_bytes().to_vec()),
            (FOU_ATTR_AF, vec![2]),
            (FOU_ATTR_TYPE, vec![FOU_ENCAP_GUE]),
        ];
        let m = encode(0x1c, NLM_F_ACK, 9, FOU_CMD_ADD, &attrs);
        assert_eq!(m.len(), 16 + 4 + 8 * 3);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(m[16], FOU_CMD_ADD);
        let back = parse_attrs(&m[20..]);
        assert_eq!(back, attrs.to_vec());
        // The port is big-endian on the wire.
        assert_eq!(&m[24..26], &[0x17, 0xc0]);
    }
}
