use std::net::IpAddr;

/// The role of a connection-sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DaemonState {
    /// Sends connection state to backups (1).
    Master,
    /// Receives connection state from a master (2).
    Backup,
    /// A state value this crate does not name.
    Other(u32),
}

/// `IP_VS_STATE_MASTER`.
const IP_VS_STATE_MASTER: u32 = 1;
/// `IP_VS_STATE_BACKUP`.
const IP_VS_STATE_BACKUP: u32 = 2;

impl DaemonState {
    /// The kernel's value.
    pub const fn to_raw(self) -> u32 {
        match self {
            DaemonState::Master => IP_VS_STATE_MASTER,
            DaemonState::Backup => IP_VS_STATE_BACKUP,
            DaemonState::Other(n) => n,
        }
    }
    /// From the kernel's value.
    pub const fn from_raw(raw: u32) -> Self {
        match raw {
            IP_VS_STATE_MASTER => DaemonState::Master,
            IP_VS_STATE_BACKUP => DaemonState::Backup,
            n => DaemonState::Other(n),
        }
    }
}

/// A connection-synchronisation daemon: its configuration when starting
/// one, its state when listing them.
///
/// Unset options take the kernel's defaults (group 224.0.0.81, port 8848,
/// TTL 1, maximum length from the interface MTU); the kernel reports them
/// all when listing.
///
/// ```
/// use ipvs::{DaemonState, SyncDaemon};
/// let d = SyncDaemon::new(DaemonState::Master, "eth0", 5);
/// assert!(d.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: DaemonState,
    /// The interface it multicasts on.
    pub interface: String,
    /// The sync id (0 to 255) that pairs masters and backups.
    pub sync_id: u32,
    /// The largest sync message, in bytes.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_len: Option<u16>,
    /// The multicast group, IPv4 or IPv6.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub group: Option<IpAddr>,
    /// The UDP port.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub port: Option<u16>,
    /// The multicast TTL.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with the kernel's defaults.
    pub fn new(state: DaemonState, interface: impl Into<String>, sync_id: u32) -> Self {
        SyncDaemon {
            state,
            interface: interface.into(),
            sync_id,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }
}
