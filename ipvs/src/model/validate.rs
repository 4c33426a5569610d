//! Checks made before anything is sent: what the kernel would refuse, and
//! what it would silently accept but cannot mean.

use std::net::IpAddr;

use super::{
    AddressFamily, DaemonState, Destination, ForwardMethod, MAX_NAME_LEN, Netmask, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, SyncDaemon, Tunnel, TunnelChecksum,
};

/// A value the kernel would refuse or misread, named by its field.
///
/// ```
/// use ipvs::{Destination, ServiceKey, ValidationError};
/// let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
/// let rs = Destination::new("192.0.2.21:80".parse().unwrap()).with_thresholds(10, 20);
/// assert_eq!(
///     rs.validate(&key),
///     Err(ValidationError::ThresholdOrder { upper: 10, lower: 20 })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A name is longer than the kernel's 15 bytes.
    #[error("{field}: {name:?} is {len} bytes long; the kernel takes at most {MAX_NAME_LEN}")]
    NameTooLong {
        /// The field (`scheduler`, `persistence_engine`, `interface`).
        field: &'static str,
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A name is empty or holds a character no such name can have: for
    /// schedulers and persistence engines (kernel modules `ip_vs_<name>`,
    /// `ip_vs_pe_<name>`) anything but ASCII letters, digits, `_` and `-`,
    /// or a `-` first (ipvsadm's rules would read it as an option);
    /// for interfaces whitespace, `/`, `:` or control characters (the
    /// kernel's `dev_valid_name`).
    #[error("{field}: {name:?} is empty or has a character a {field} name cannot have")]
    BadName {
        /// The field.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// A protocol IPVS does not balance.
    #[error("protocol: {0} is not one IPVS balances (TCP, UDP, SCTP)")]
    UnsupportedProtocol(Protocol),
    /// Firewall mark 0 marks nothing.
    #[error("fwmark: 0 is not a firewall mark")]
    ZeroFwmark,
    /// Service flags holding `PERSISTENT` (0x1) or `HASHED` (0x2): the
    /// first follows `persistence` and the second is the kernel's, so
    /// neither reads back (a state file setting them would never match the
    /// kernel's table).
    #[error(
        "flags: {0:#x} holds PERSISTENT (0x1) or HASHED (0x2), which are not settings: \
         set persistence instead"
    )]
    DerivedFlags(u32),
    /// Port 0 (every port) without persistence; ipvsadm refuses it too.
    #[error("port: 0 (every port) needs persistence")]
    ZeroPortWithoutPersistence,
    /// The netmask is not for the service's family, or the prefix is out of range.
    #[error(
        "netmask: {netmask} does not fit an {family} service (IPv4 mask, or IPv6 prefix 1..=128)"
    )]
    BadNetmask {
        /// The mask.
        netmask: Netmask,
        /// The service's family.
        family: AddressFamily,
    },
    /// A weight above `i32::MAX`.
    #[error("weight: {0} is above the kernel's maximum of 2147483647")]
    WeightOutOfRange(u32),
    /// A threshold above `i32::MAX`.
    #[error("{field}: {value} is above the kernel's maximum of 2147483647")]
    ThresholdOutOfRange {
        /// `upper_threshold` or `lower_threshold`.
        field: &'static str,
        /// The value.
        value: u32,
    },
    /// The lower threshold is above the upper one.
    #[error("lower_threshold: {lower} is above upper_threshold {upper}")]
    ThresholdOrder {
        /// Upper threshold.
        upper: u32,
        /// Lower threshold.
        lower: u32,
    },
    /// A forwarding value the kernel would store but cannot forward with.
    #[error("forward: {0} is not a forwarding method (0 to 4)")]
    UnknownForwardMethod(u32),
    /// GUE without a port.
    #[error("forward: a GUE tunnel needs a non-zero port")]
    GueWithoutPort,
    /// Remote checksum offload on GRE.
    #[error("forward: remote checksum offload is for GUE tunnels only")]
    RemoteChecksumOnGre,
    /// A destination of another family than its service, not tunnelled.
    #[error(
        "address: {address} is {dest}, the service is {service}: mixing families needs tunnelling"
    )]
    MixedFamily {
        /// The destination's address.
        address: IpAddr,
        /// The destination's family.
        dest: AddressFamily,
        /// The service's family.
        service: AddressFamily,
    },
    /// A daemon state other than master or backup.
    #[error("state: {0} is neither master (1) nor backup (2)")]
    UnknownDaemonState(u32),
    /// A sync id above 255.
    #[error("sync_id: {0} is above 255")]
    SyncIdOutOfRange(u32),
    /// A multicast group that is not a multicast address.
    #[error("group: {0} is not a multicast address")]
    NotMulticast(IpAddr),
}

/// Check a kernel name: at most 15 bytes, not empty, and only characters
/// such a name can have (see [`ValidationError::BadName`]).
pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), ValidationError> {
    let allowed = if field == "interface" {
        name.chars()
            .all(|c| !(c.is_whitespace() || c.is_control() || c == '/' || c == ':'))
    } else {
        // ASCII only: a byte of a longer character is never one of these.
        !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if name.is_empty() || !allowed {
        return Err(ValidationError::BadName {
            field,
            name: name.to_owned(),
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ValidationError::NameTooLong {
            field,
            name: name.to_owned(),
            len: name.len(),
        });
    }
    Ok(())
}

impl ServiceKey {
    /// Check the key on its own.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ServiceKey::Address { protocol, .. } => match protocol {
                Protocol::Tcp | Protocol::Udp | Protocol::Sctp => Ok(()),
                other => Err(ValidationError::UnsupportedProtocol(*other)),
            },
            ServiceKey::Fwmark { fwmark: 0, .. } => Err(ValidationError::ZeroFwmark),
            ServiceKey::Fwmark { .. } => Ok(()),
        }
    }
}

impl Service {
    /// Check everything the kernel would refuse or misread.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.key.validate()?;
        // A named scheduler's name is the kernel's own (a test checks each).
        if let Scheduler::Other(name) = &self.scheduler {
            check_name("scheduler", name)?;
        }
        if let Some(pe) = &self.persistence_engine {
            check_name("persistence_engine", pe)?;
        }
        let derived = ServiceFlags::PERSISTENT | ServiceFlags::HASHED;
        if self.flags.bits() & derived.bits() != 0 {
            return Err(ValidationError::DerivedFlags(self.flags.bits()));
        }
        if self.key.port() == Some(0) && self.persistence.is_none() {
            return Err(ValidationError::ZeroPortWithoutPersistence);
        }
        if let Some(p) = &self.persistence {
            let family = self.key.family();
            let ok = match p.netmask {
                Netmask::V4(_) => family == AddressFamily::Ipv4,
                Netmask::V6(len) => family == AddressFamily::Ipv6 && (1..=128).contains(&len),
            };
            if !ok {
                return Err(ValidationError::BadNetmask {
                    netmask: p.netmask,
                    family,
                });
            }
        }
        Ok(())
    }
}

impl Destination {
    /// Check the destination, for a service identified by `service`.
    pub fn validate(&self, service: &ServiceKey) -> Result<(), ValidationError> {
        const MAX: u32 = i32::MAX as u32;
        if self.weight > MAX {
            return Err(ValidationError::WeightOutOfRange(self.weight));
        }
        for (field, value) in [
            ("upper_threshold", self.upper_threshold),
            ("lower_threshold", self.lower_threshold),
        ] {
            if value > MAX {
                return Err(ValidationError::ThresholdOutOfRange { field, value });
            }
        }
        if self.upper_threshold != 0 && self.lower_threshold > self.upper_threshold {
            return Err(ValidationError::ThresholdOrder {
                upper: self.upper_threshold,
                lower: self.lower_threshold,
            });
        }
        match self.forward {
            ForwardMethod::Other(n) => return Err(ValidationError::UnknownForwardMethod(n)),
            ForwardMethod::Tunnel(Tunnel::Gue { port: 0, .. }) => {
                return Err(ValidationError::GueWithoutPort);
            }
            ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Remote,
            }) => return Err(ValidationError::RemoteChecksumOnGre),
            _ => {}
        }
        let (dest, svc) = (AddressFamily::of(&self.address), service.family());
        if dest != svc && !matches!(self.forward, ForwardMethod::Tunnel(_)) {
            return Err(ValidationError::MixedFamily {
                address: self.address,
                dest,
                service: svc,
            });
        }
        Ok(())
    }
}

impl SyncDaemon {
    /// Check the daemon configuration.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let DaemonState::Other(n) = self.state {
            return Err(ValidationError::UnknownDaemonState(n));
        }
        check_name("interface", &self.interface)?;
        if self.sync_id > 255 {
            return Err(ValidationError::SyncIdOutOfRange(self.sync_id));
        }
        if let Some(group) = self.group
            && !group.is_multicast()
        {
            return Err(ValidationError::NotMulticast(group));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_scheduler_has_a_good_name() {
        for s in Scheduler::kernel_schedulers().chain([Scheduler::None]) {
            assert_eq!(check_name("scheduler", s.name()), Ok(()), "{s:?}");
        }
    }

    #[test]
    fn names_take_only_what_the_kernel_can_mean() {
        for ok in ["wrr", "my_sched-2", "sip"] {
            assert_eq!(check_name("scheduler", ok), Ok(()));
        }
        for bad in ["", "l ", "#wlc", "a/b", "rr\n", "wr\0r", "é", "-trr"] {
            assert!(
                matches!(
                    check_name("scheduler", bad),
                    Err(ValidationError::BadName { .. })
                ),
                "{bad:?}"
            );
        }
        for ok in ["eth0", "br-lan.10", "veth@x"] {
            assert_eq!(check_name("interface", ok), Ok(()));
        }
        for bad in ["", "eth 0", "a/b", "eth0:1", "tab\t"] {
            assert!(
                matches!(
                    check_name("interface", bad),
                    Err(ValidationError::BadName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check_name("scheduler", "sixteen-letters!"),
            Err(ValidationError::BadName { .. })
        ));
        assert!(matches!(
            check_name("scheduler", "sixteen_letters_"),
            Err(ValidationError::NameTooLong { len: 16, .. })
        ));
    }
}
