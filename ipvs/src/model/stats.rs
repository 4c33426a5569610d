/// Traffic counters and rates of a service or destination.
///
/// Filled from the kernel's 64-bit `STATS64` where it sends them (Linux
/// 4.1+), else from the older `STATS` (32-bit counts, 64-bit bytes).
/// Rates are per second, estimated by the kernel every two seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Connections scheduled.
    pub connections: u64,
    /// Packets in (client to server).
    pub packets_in: u64,
    /// Packets out (server to client, seen only with NAT).
    pub packets_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub pps_in: u64,
    /// Packets out per second.
    pub pps_out: u64,
    /// Bytes in per second.
    pub bps_in: u64,
    /// Bytes out per second.
    pub bps_out: u64,
}
