use std::fmt;

use super::constants::*;

/// An IPVS generic-netlink command (`IPVS_CMD_*`): an open set, so a
/// command number from a newer kernel survives a round trip.
///
/// Replies carry a different command than their request: `GET_SERVICE` is
/// answered by `NEW_SERVICE`, `GET_INFO` by `SET_INFO`, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Command(pub u8);

impl Command {
    /// 0, unused.
    pub const UNSPEC: Self = Self(IPVS_CMD_UNSPEC);
    /// Add a service; also the reply to `GET_SERVICE`.
    pub const NEW_SERVICE: Self = Self(IPVS_CMD_NEW_SERVICE);
    /// Modify a service.
    pub const SET_SERVICE: Self = Self(IPVS_CMD_SET_SERVICE);
    /// Delete a service.
    pub const DEL_SERVICE: Self = Self(IPVS_CMD_DEL_SERVICE);
    /// Get one service, or dump them all.
    pub const GET_SERVICE: Self = Self(IPVS_CMD_GET_SERVICE);
    /// Add a destination; also the reply to `GET_DEST`.
    pub const NEW_DEST: Self = Self(IPVS_CMD_NEW_DEST);
    /// Modify a destination.
    pub const SET_DEST: Self = Self(IPVS_CMD_SET_DEST);
    /// Delete a destination.
    pub const DEL_DEST: Self = Self(IPVS_CMD_DEL_DEST);
    /// Dump the destinations of a service.
    pub const GET_DEST: Self = Self(IPVS_CMD_GET_DEST);
    /// Start a sync daemon; also the reply to `GET_DAEMON`.
    pub const NEW_DAEMON: Self = Self(IPVS_CMD_NEW_DAEMON);
    /// Stop a sync daemon.
    pub const DEL_DAEMON: Self = Self(IPVS_CMD_DEL_DAEMON);
    /// Dump the sync daemons.
    pub const GET_DAEMON: Self = Self(IPVS_CMD_GET_DAEMON);
    /// Set timeouts; also the reply to `GET_CONFIG`.
    pub const SET_CONFIG: Self = Self(IPVS_CMD_SET_CONFIG);
    /// Get timeouts.
    pub const GET_CONFIG: Self = Self(IPVS_CMD_GET_CONFIG);
    /// The reply to `GET_INFO`.
    pub const SET_INFO: Self = Self(IPVS_CMD_SET_INFO);
    /// Get version and table size.
    pub const GET_INFO: Self = Self(IPVS_CMD_GET_INFO);
    /// Zero the counters of one service, or of all.
    pub const ZERO: Self = Self(IPVS_CMD_ZERO);
    /// Delete every service.
    pub const FLUSH: Self = Self(IPVS_CMD_FLUSH);

    const NAMES: [&'static str; 18] = [
        "UNSPEC",
        "NEW_SERVICE",
        "SET_SERVICE",
        "DEL_SERVICE",
        "GET_SERVICE",
        "NEW_DEST",
        "SET_DEST",
        "DEL_DEST",
        "GET_DEST",
        "NEW_DAEMON",
        "DEL_DAEMON",
        "GET_DAEMON",
        "SET_CONFIG",
        "GET_CONFIG",
        "SET_INFO",
        "GET_INFO",
        "ZERO",
        "FLUSH",
    ];

    /// Whether this command's attribute 1 and 2 are the info set
    /// (`VERSION`, `CONN_TAB_SIZE`) rather than `SERVICE` and `DEST`.
    pub const fn carries_info(self) -> bool {
        matches!(self.0, IPVS_CMD_SET_INFO | IPVS_CMD_GET_INFO)
    }

    /// Whether this command's reply is a dump (`GET_DEST` and
    /// `GET_DAEMON` always are; `GET_SERVICE` is when asked for every service).
    pub const fn is_dump_only(self) -> bool {
        matches!(self.0, IPVS_CMD_GET_DEST | IPVS_CMD_GET_DAEMON)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::NAMES.get(self.0 as usize) {
            Some(name) => f.write_str(name),
            None => write!(f, "CMD_{}", self.0),
        }
    }
}
