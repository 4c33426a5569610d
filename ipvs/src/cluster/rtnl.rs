//! A tiny blocking rtnetlink client: links and addresses, nothing else.
//!
//! Messages are built and parsed by `netlink-packet-route`; the socket is a
//! plain blocking `netlink-sys` one, like the IPVS [`Client`](crate::client::Client).
//! A socket belongs to the network namespace of the thread that opened it.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::IpAddr;

use super::Error;

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The link kind (`veth`, `ipip`, ...), when it has one.
    pub kind: Option<String>,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
}

/// A blocking rtnetlink socket.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

const RECV_TIMEOUT_SECS: u64 = 10;

impl Rtnl {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, Error> {
        let io = |e| Error::io("opening an rtnetlink socket", e);
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Best effort: the kernel then says why it refused.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        super::set_recv_timeout(&socket, RECV_TIMEOUT_SECS).map_err(io)?;
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// The link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, "get link") {
            Ok(replies) => Ok(replies.into_iter().find_map(to_link)),
            Err(Error::Netlink { errno, .. }) if errno == libc::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link called `name`, or [`Error::NoSuchInterface`].
    pub fn require_link(&mut self, name: &str) -> Result<Link, Error> {
        self.link(name)?.ok_or_else(|| Error::NoSuchInterface {
            name: name.to_owned(),
        })
    }

    /// Every link.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        let msg = LinkMessage::default();
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_DUMP, "dump links")?;
        Ok(replies.into_iter().filter_map(to_link).collect())
    }

    /// Set a link administratively up or down.
    pub fn set_link_up(&mut self, index: u32, up: bool) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.change_mask = LinkFlags::Up;
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        self.request(RouteNetlinkMessage::SetLink(msg), 0, "set link")?;
        Ok(())
    }

    /// Ask for a link of kind `kind` called `name`, exclusively. The kernel
    /// loads the module of that kind (`rtnl-link-<kind>`) when it is
    /// missing; tunnel modules then make their fallback device (`tunl0`
    /// for `ipip`) in every namespace, and the request answers `EEXIST`.
    /// Returns whether this call made the link.
    pub fn create_link(&mut self, name: &str, kind: InfoKind) -> Result<bool, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
        match self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "create link",
        ) {
            Ok(_) => Ok(true),
            Err(Error::Netlink { errno, .. }) if errno == libc::EEXIST => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Delete a link.
    pub fn delete_link(&mut self, index: u32) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(msg), 0, "delete link")?;
        Ok(())
    }

    /// Every address of every interface (IPv4 and IPv6).
    pub fn addresses(&mut self) -> Result<Vec<Address>, Error> {
        let msg = AddressMessage::default();
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
            "dump addresses",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => to_address(&a),
                _ => None,
            })
            .collect())
    }

    /// The interfaces that hold `address`, with its prefix length there.
    pub fn find_address(&mut self, address: IpAddr) -> Result<Vec<Address>, Error> {
        Ok(self
            .addresses()?
            .into_iter()
            .filter(|a| a.address == address)
            .collect())
    }

    /// Add `address/prefix_len` to interface `index`; `Ok(false)` if it was
    /// there already.
    pub fn add_address(
        &mut self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, Error> {
        let msg = address_message(index, address, prefix_len);
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "add address",
        ) {
            Ok(_) => Ok(true),
            Err(Error::Netlink { errno, .. }) if errno == libc::EEXIST => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove `address/prefix_len` from interface `index`; `Ok(false)` if it
    /// was not there.
    pub fn delete_address(
        &mut self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, Error> {
        let msg = address_message(index, address, prefix_len);
        match self.request(RouteNetlinkMessage::DelAddress(msg), 0, "delete address") {
            Ok(_) => Ok(true),
            Err(Error::Netlink { errno, .. })
                if errno == libc::EADDRNOTAVAIL
                    || errno == libc::ENODEV
                    || errno == libc::ESRCH =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Send one request and collect its replies: the messages of a dump, or
    /// nothing for an acknowledged change.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &'static str,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut out = vec![0; nl.buffer_len()];
        nl.serialize(&mut out);
        self.socket.send(&out, 0).map_err(|e| Error::io(what, e))?;

        let mut replies = Vec::new();
        loop {
            let n = self
                .socket
                .recv(&mut &mut self.buf[..], 0)
                .map_err(|e| Error::io(what, e))?;
            let mut offset = 0;
            while offset + 16 <= n {
                let data = &self.buf[offset..n];
                let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                if len < 16 || len > data.len() {
                    return Err(Error::Decode(format!("{what}: bad netlink length {len}")));
                }
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len])
                    .map_err(|e| Error::Decode(format!("{what}: {e}")))?;
                offset += (len + 3) & !3;
                if msg.header.sequence_number != seq {
                    continue; // a stale reply to an earlier request
                }
                match msg.payload {
                    NetlinkPayload::Error(err) => {
                        return match err.code {
                            None => Ok(replies),
                            Some(code) => Err(Error::Netlink {
                                operation: what,
                                errno: -code.get(),
                                message: ext_ack_message(&err.header),
                            }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    // A GET without DUMP answers its message, then the ACK asked for.
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }
}

fn address_message(index: u32, address: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = prefix_len;
    msg.header.index = index;
    msg.header.scope = AddressScope::Universe;
    msg.attributes.push(AddressAttribute::Local(address));
    msg.attributes.push(AddressAttribute::Address(address));
    msg
}

fn to_link(m: RouteNetlinkMessage) -> Option<Link> {
    let RouteNetlinkMessage::NewLink(l) = m else {
        return None;
    };
    let mut name = None;
    let mut kind = None;
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Some(Link {
        index: l.header.index,
        name: name?,
        up: l.header.flags.contains(LinkFlags::Up),
        kind,
    })
}

fn to_address(a: &AddressMessage) -> Option<Address> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
    // on point-to-point links and the same otherwise.
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    Some(Address {
        index: a.header.index,
        address: local.or(addr)?,
        prefix_len: a.header.prefix_len,
    })
}

/// `NLMSGERR_ATTR_MSG` from an error's payload: with `NETLINK_CAP_ACK` it
/// is the request's 16-byte header followed by the extended-ACK attributes.
fn ext_ack_message(payload: &[u8]) -> Option<String> {
    let mut rest = payload.get(16..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == 1 {
            let s = &rest[4..len];
            let s = s.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_ack_text_is_found() {
        let mut p = vec![0u8; 16];
        let text = b"Invalid prefix\0";
        let len = 4 + text.len();
        p.extend_from_slice(&(len as u16).to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(text);
        assert_eq!(ext_ack_message(&p).as_deref(), Some("Invalid prefix"));
        assert_eq!(ext_ack_message(&p[..16]), None);
    }

    #[test]
    fn address_messages_carry_local_and_prefix() {
        let m = address_message(7, "192.0.2.10".parse().unwrap(), 32);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(
            to_address(&m),
            Some(Address {
                index: 7,
                address: "192.0.2.10".parse().unwrap(),
                prefix_len: 32
            })
        );
    }
}
