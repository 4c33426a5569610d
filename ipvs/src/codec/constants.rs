//! The kernel's numbers for IPVS over generic netlink, named as in
//! `include/uapi/linux/ip_vs.h`: commands and the attributes of every nest.
//!
//! The typed attributes of [`super::attr`] parse and emit through these
//! names only, so each number is written once.
//!
//! The same top-level number means different things per command:
//! [`IPVS_INFO_ATTR_VERSION`] and [`IPVS_CMD_ATTR_SERVICE`] are both 1
//! (see [`super::Command::carries_info`]).
//!
//! ```
//! use ipvs::codec::constants::*;
//! use ipvs::codec::{Command, ServiceAttr};
//! use netlink_packet_core::Nla;
//!
//! assert_eq!(ServiceAttr::Fwmark(7).kind(), IPVS_SVC_ATTR_FWMARK);
//! assert_eq!(Command::GET_INFO, Command(IPVS_CMD_GET_INFO));
//! ```

// ---- commands (`IPVS_CMD_*`, the generic-netlink header's `cmd`)

/// Unused.
pub const IPVS_CMD_UNSPEC: u8 = 0;
/// Add a service; also the reply to `GET_SERVICE`.
pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
/// Modify a service.
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
/// Delete a service.
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
/// Get one service, or dump them all.
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
/// Add a destination; also the reply to `GET_DEST`.
pub const IPVS_CMD_NEW_DEST: u8 = 5;
/// Modify a destination.
pub const IPVS_CMD_SET_DEST: u8 = 6;
/// Delete a destination.
pub const IPVS_CMD_DEL_DEST: u8 = 7;
/// Dump the destinations of a service.
pub const IPVS_CMD_GET_DEST: u8 = 8;
/// Start a sync daemon; also the reply to `GET_DAEMON`.
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
/// Stop a sync daemon.
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
/// Dump the sync daemons.
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
/// Set timeouts; also the reply to `GET_CONFIG`.
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
/// Get timeouts.
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
/// The reply to `GET_INFO`.
pub const IPVS_CMD_SET_INFO: u8 = 14;
/// Get version and table size.
pub const IPVS_CMD_GET_INFO: u8 = 15;
/// Zero the counters of one service, or of all.
pub const IPVS_CMD_ZERO: u8 = 16;
/// Delete every service.
pub const IPVS_CMD_FLUSH: u8 = 17;

// ---- top level of every command but `GET_INFO` / `SET_INFO` (`IPVS_CMD_ATTR_*`)

/// The `SERVICE` nest.
pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
/// The `DEST` nest.
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
/// The `DAEMON` nest.
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
/// TCP timeout, seconds (u32).
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
/// TCP FIN timeout, seconds (u32).
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
/// UDP timeout, seconds (u32).
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

// ---- top level of `GET_INFO` / `SET_INFO` (`IPVS_INFO_ATTR_*`)

/// IPVS version (u32, `0x010201` is 1.2.1).
pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
/// Connection table size (u32).
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

// ---- the `SERVICE` nest (`IPVS_SVC_ATTR_*`)

/// Address family (u16).
pub const IPVS_SVC_ATTR_AF: u16 = 1;
/// IP protocol (u16).
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
/// Address, 16 bytes whatever the family.
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
/// Port (big-endian u16).
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
/// Firewall mark (u32).
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
/// Scheduler name (NUL-terminated).
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
/// Flags and mask (`struct { u32 flags; u32 mask; }`).
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
/// Persistence timeout, seconds (u32).
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
/// Persistence netmask (u32).
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
/// Legacy stats nest.
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
/// Persistence engine name (NUL-terminated).
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
/// 64-bit stats nest.
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

// ---- the `DEST` nest (`IPVS_DEST_ATTR_*`)

/// Address, 16 bytes.
pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
/// Port (big-endian u16).
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
/// Forwarding method (u32, `IP_VS_CONN_F_*`).
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
/// Weight (u32).
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
/// Upper threshold (u32).
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
/// Lower threshold (u32).
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
/// Active connections (u32, replies).
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
/// Inactive connections (u32, replies).
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
/// Persistence templates (u32, replies).
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
/// Legacy stats nest.
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
/// The destination's own address family (u16, Linux 3.18+).
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
/// 64-bit stats nest.
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
/// Tunnel type (u8).
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
/// Tunnel port (big-endian u16).
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
/// Tunnel flags (u16).
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

// ---- the `DAEMON` nest (`IPVS_DAEMON_ATTR_*`)

/// Master or backup (u32).
pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
/// Multicast interface name (NUL-terminated).
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
/// Sync id (u32).
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
/// Largest sync message (u16).
pub const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
/// IPv4 multicast group, 4 bytes.
pub const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
/// IPv6 multicast group, 16 bytes.
pub const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
/// UDP port (u16 in host byte order).
pub const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
/// Multicast TTL (u8).
pub const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

// ---- the `STATS` and `STATS64` nests (`IPVS_STATS_ATTR_*`)

/// Connections.
pub const IPVS_STATS_ATTR_CONNS: u16 = 1;
/// Packets in.
pub const IPVS_STATS_ATTR_INPKTS: u16 = 2;
/// Packets out.
pub const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
/// Bytes in (64-bit even in `STATS`).
pub const IPVS_STATS_ATTR_INBYTES: u16 = 4;
/// Bytes out (64-bit even in `STATS`).
pub const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
/// Connections per second.
pub const IPVS_STATS_ATTR_CPS: u16 = 6;
/// Packets in per second.
pub const IPVS_STATS_ATTR_INPPS: u16 = 7;
/// Packets out per second.
pub const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
/// Bytes in per second.
pub const IPVS_STATS_ATTR_INBPS: u16 = 9;
/// Bytes out per second.
pub const IPVS_STATS_ATTR_OUTBPS: u16 = 10;
/// Padding (kept as an unknown attribute).
pub const IPVS_STATS_ATTR_PAD: u16 = 11;
