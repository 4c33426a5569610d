//! The sans-IO generic-netlink codec for IPVS.
//!
//! Layers, bottom up:
//! - [`constants`]: the kernel's numbers for commands and attributes.
//! - [`attr`]: every attribute of every nest, typed; unknown ones kept.
//! - [`IpvsMessage`]: a command and its attributes, the payload of a
//!   generic-netlink message ([`netlink_packet_generic::GenlFamily`]).
//! - [`request`] and [`reply`]: the model into messages and back.
//! - [`frame`]: netlink framing, requests to bytes, datagrams to [`Frame`]s.
//!
//! No I/O anywhere: the clients in [`crate::client`] drive it, and it can
//! decode netlink traffic captured with `nlmon` just as well.
//!
//! ```
//! use ipvs::codec::{decode, encode_request, IpvsMessage, Reply, RequestKind};
//! use ipvs::{Destination, Scheduler, Service, ServiceKey};
//!
//! let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
//! let svc = Service::new(key, Scheduler::RoundRobin);
//! let mut bytes = Vec::new();
//! encode_request(&IpvsMessage::new_service(&svc), 0x25, 1, RequestKind::Ack, &mut bytes);
//!
//! // ... and back again, as anyone reading a capture would.
//! let frame = decode(&bytes, None).next().unwrap().unwrap();
//! let Reply::Ipvs(msg) = frame.reply else { panic!() };
//! assert_eq!(msg.service().unwrap(), Some(svc));
//! ```

pub mod attr;
mod command;
pub mod constants;
pub mod convert;
pub(crate) mod encode;
pub mod frame;
mod message;
mod nla;
mod protocol;
pub mod reply;
pub mod request;

pub use attr::{DaemonAttr, DestAttr, FlagsMask, IpvsAttr, ServiceAttr, StatsAttr, StatsNest};
pub use command::Command;
pub use frame::{
    Frame, Frames, KernelError, Reply, RequestKind, decode, encode_request, parse_error,
};
pub use message::{FAMILY_NAME, FAMILY_VERSION, IpvsMessage};
pub use protocol::{EntryKey, Ipvs};

/// Decoding errors, from netlink-packet-core.
pub use netlink_packet_core::DecodeError;
