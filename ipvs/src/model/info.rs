use std::fmt;

/// An IPVS version as the kernel reports it (`0x010201` is 1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Version {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Patch.
    pub patch: u8,
}

impl Version {
    /// From the kernel's packed form.
    pub const fn from_raw(raw: u32) -> Self {
        Version {
            major: (raw >> 16) as u8,
            minor: (raw >> 8) as u8,
            patch: raw as u8,
        }
    }
    /// The kernel's packed form.
    pub const fn to_raw(self) -> u32 {
        (self.major as u32) << 16 | (self.minor as u32) << 8 | self.patch as u32
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the kernel says about its IPVS (`ipvsadm --version` and the header
/// of `ipvsadm -L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// The IPVS version.
    pub version: Version,
    /// Buckets of the connection hash table.
    pub connection_table_size: u32,
}
