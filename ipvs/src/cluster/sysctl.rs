//! Reading and writing `/proc/sys` entries.
//!
//! Everything under `/proc/sys/net` belongs to a network namespace, and
//! which one is decided by the thread that opens the file: the calls here
//! are made on a thread that has entered the namespace of the setup (see
//! [`Netns`](crate::client::Netns)), so they read and write that
//! namespace's values. The guest tests check this.

use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::Error;

/// A sysctl, by its path under `/proc/sys` with dots or slashes
/// (`net.ipv4.conf.all.arp_ignore` or `net/ipv4/conf/all/arp_ignore`).
///
/// ```
/// use ipvs::cluster::Sysctl;
/// let s = Sysctl::ipv4_conf("tunl0", "rp_filter");
/// assert_eq!(s.name(), "net.ipv4.conf.tunl0.rp_filter");
/// assert_eq!(s.path().to_str(), Some("/proc/sys/net/ipv4/conf/tunl0/rp_filter"));
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Sysctl(String);

impl Sysctl {
    /// A sysctl by its dotted name. Interface names may hold dots, so
    /// build those with [`Sysctl::ipv4_conf`].
    pub fn new(name: &str) -> Self {
        Sysctl(name.replace('/', "."))
    }

    /// `net.ipv4.conf.<interface>.<key>` (`interface` may be `all` or `default`).
    pub fn ipv4_conf(interface: &str, key: &str) -> Self {
        // A dot in an interface name is a slash in the dotted form (as sysctl(8) does).
        Sysctl(format!(
            "net.ipv4.conf.{}.{key}",
            interface.replace('.', "/")
        ))
    }

    /// `net.ipv4.ip_forward`.
    pub fn ip_forward() -> Self {
        Sysctl("net.ipv4.ip_forward".into())
    }

    /// `net.ipv6.conf.all.forwarding`.
    pub fn ipv6_forwarding() -> Self {
        Sysctl("net.ipv6.conf.all.forwarding".into())
    }

    /// The dotted name, as sysctl(8) prints it.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The file under `/proc/sys`.
    pub fn path(&self) -> PathBuf {
        let mut p = PathBuf::from("/proc/sys");
        for part in self.0.split('.') {
            p.push(part.replace('/', "."));
        }
        p
    }

    /// The current value, trimmed (an integer sysctl reads as `"1"`).
    pub fn read(&self) -> Result<String, Error> {
        match fs::read_to_string(self.path()) {
            Ok(s) => Ok(s.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::SysctlMissing {
                sysctl: self.clone(),
            }),
            Err(source) => Err(Error::Sysctl {
                sysctl: self.clone(),
                source,
            }),
        }
    }

    /// The current value, or `None` when the entry does not exist (e.g. the
    /// interface is gone).
    pub fn read_opt(&self) -> Result<Option<String>, Error> {
        match self.read() {
            Ok(v) => Ok(Some(v)),
            Err(Error::SysctlMissing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write `value`, then read it back: the kernel clamps or ignores some
    /// writes silently, and this says so.
    pub fn write(&self, value: &str) -> Result<(), Error> {
        let path = self.path();
        // Not create: a sysctl that does not exist is not made by writing.
        let res = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| io::Write::write_all(&mut f, format!("{value}\n").as_bytes()));
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::SysctlMissing {
                    sysctl: self.clone(),
                });
            }
            Err(source) => {
                return Err(Error::Sysctl {
                    sysctl: self.clone(),
                    source,
                });
            }
        }
        let now = self.read()?;
        if now != value {
            return Err(Error::SysctlRejected {
                sysctl: self.clone(),
                wanted: value.to_owned(),
                got: now,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(
            Sysctl::new("net/ipv4/ip_forward").name(),
            "net.ipv4.ip_forward"
        );
        let vlan = Sysctl::ipv4_conf("eth0.100", "arp_ignore");
        assert_eq!(vlan.name(), "net.ipv4.conf.eth0/100.arp_ignore");
        assert_eq!(
            vlan.path(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/arp_ignore")
        );
    }

    #[test]
    fn missing_is_typed() {
        let s = Sysctl::new("net.ipv4.conf.no-such-if-xyz.arp_ignore");
        assert!(matches!(s.read(), Err(Error::SysctlMissing { .. })));
        assert_eq!(s.read_opt().unwrap(), None);
    }
}
