/// The connection-table timeouts of a network namespace, in seconds
/// (`ipvsadm --set tcp tcpfin udp`).
///
/// When setting, 0 leaves a value unchanged. The kernel's defaults are
/// 900, 120 and 300 seconds.
///
/// ```
/// use ipvs::Timeouts;
/// let t = Timeouts { tcp: 3600, ..Timeouts::UNCHANGED };
/// assert_eq!(t.udp, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after a FIN.
    pub tcp_fin: u32,
    /// UDP "connections".
    pub udp: u32,
}

impl Timeouts {
    /// Leaves every timeout as it is.
    pub const UNCHANGED: Timeouts = Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 0,
    };
    /// The longest timeout ipvsadm sets (`--set`), and so the longest a
    /// rules file or an imported configuration may hold: 31 days.
    pub const MAX_SECONDS: u32 = 86400 * 31;
    /// The kernel's defaults.
    pub const KERNEL_DEFAULTS: Timeouts = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
}
