//! A tiny blocking rtnetlink client: links and addresses, nothing else.
//!
//! Messages are built and parsed by `netlink-packet-route`; the requests go
//! through the crate's request engine on a blocking socket, like the IPVS
//! [`Client`](crate::client::Client)'s. A socket belongs to the network
//! namespace of the thread that opened it.

use netlink_packet_core::{
    DecodeError, NLM_F_CREATE, NLM_F_EXCL, NetlinkDeserializable, NetlinkHeader,
    NetlinkSerializable,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use std::net::IpAddr;

use super::Error;
use super::netlink::Conn;
use crate::engine::Protocol;

/// rtnetlink as a [`Protocol`] of the engine: a message and its creation
/// flags (`NLM_F_CREATE | NLM_F_EXCL`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Route;

impl Protocol for Route {
    type Request = (RouteNetlinkMessage, u16);
    type Reply = RouteNetlinkMessage;
    type Key = ();

    fn family_name(&self) -> Option<&str> {
        None
    }

    fn message_type(&self, (msg, _): &Self::Request, _: u16) -> u16 {
        msg.message_type()
    }

    fn extra_flags(&self, (_, flags): &Self::Request) -> u16 {
        *flags
    }

    fn payload_len(&self, (msg, _): &Self::Request) -> usize {
        msg.buffer_len()
    }

    fn emit_payload(&self, (msg, _): &Self::Request, buf: &mut [u8]) {
        msg.serialize(buf)
    }

    fn decode(
        &self,
        message_type: u16,
        _: u16,
        payload: &[u8],
    ) -> Result<Option<RouteNetlinkMessage>, DecodeError> {
        let mut header = NetlinkHeader::default();
        header.message_type = message_type;
        RouteNetlinkMessage::deserialize(&header, payload).map(Some)
    }
}

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
    conn: Conn<Route>,
}

impl Rtnl {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, Error> {
        Ok(Rtnl {
            conn: Conn::open(NETLINK_ROUTE, Route, "opening an rtnetlink socket")?,
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
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), DUMP, "dump links")?;
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
        let replies = self.request(RouteNetlinkMessage::GetAddress(msg), DUMP, "dump addresses")?;
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

    /// Send one request and collect its replies: the messages of a dump
    /// (`flags` [`DUMP`]), or of a `GET`, or nothing for a change.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &'static str,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        if flags == DUMP {
            self.conn.request((msg, 0), true, what)
        } else {
            self.conn.request((msg, flags), false, what)
        }
    }
}

/// The `flags` of [`Rtnl::request`] that make it a dump.
const DUMP: u16 = netlink_packet_core::NLM_F_DUMP;

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

#[cfg(test)]
mod tests {
    use super::*;

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
