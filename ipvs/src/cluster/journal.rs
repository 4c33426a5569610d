//! The durable record of what a setup changed, so that a teardown (by
//! another process, after a crash, or after `kill -9`) removes exactly that
//! and puts every sysctl back to the value it had before.
//!
//! One JSON file per network namespace, `netns-<id>.json` in the journal
//! directory (default [`DEFAULT_DIR`], `/run/ipvs-netlink`). `<id>` is the
//! namespace's cookie (`SO_NETNS_COOKIE`, never reused while the machine
//! runs), so two names for one namespace share a file and a new namespace
//! never inherits the file of a dead one. `/run` is a tmpfs: the journal
//! lives exactly as long as the addresses and sysctls it describes, which a
//! reboot resets too.
//!
//! Every change is written to the file (atomically: temporary file, fsync,
//! rename, fsync of the directory) *before* it is made. Each entry lists its
//! owners (`real-server 192.0.2.10`, `director 192.0.2.10`): a sysctl that
//! two VIPs need is restored only when the last of them is torn down. A
//! change that was already in place when a setup started (set by the
//! operator, say) is not recorded and never undone.
//!
//! Writers take an exclusive `flock` on the directory, so two setups on one
//! machine never interleave their read-modify-write of a journal.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, Sysctl};

/// Where journals go unless the setup names another directory.
pub const DEFAULT_DIR: &str = "/run/ipvs-netlink";

const VERSION: u32 = 1;

/// One change a setup made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A sysctl written: `prior` is what it held before, `value` what was written.
    Sysctl {
        /// The sysctl.
        name: Sysctl,
        /// Its value before the setup.
        prior: String,
        /// The value the setup wrote.
        value: String,
    },
    /// An address added to an interface.
    Address {
        /// The interface.
        interface: String,
        /// The address.
        address: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// An interface created (undone by deleting it; the kernel ignores
    /// that for a tunnel module's fallback device such as `tunl0`).
    Link {
        /// The interface.
        interface: String,
        /// Its kind (`ipip`).
        link_kind: String,
    },
    /// An interface set administratively up.
    LinkUp {
        /// The interface.
        interface: String,
    },
    /// A FOU (GUE) receive port opened.
    FouPort {
        /// UDP port.
        port: u16,
        /// `AF_INET` (2) or `AF_INET6` (10).
        family: u8,
    },
    /// An IPVS virtual service created (undone by deleting it, with its
    /// destinations).
    IpvsService {
        /// The service.
        service: crate::ServiceKey,
    },
    /// A destination added to an IPVS service the setup did not create.
    IpvsDestination {
        /// The service.
        service: crate::ServiceKey,
        /// The destination.
        destination: std::net::SocketAddr,
    },
    /// A kernel module loaded. Kept for the record: modules are shared by
    /// every namespace and are never unloaded by a teardown.
    Module {
        /// Module name.
        name: String,
    },
}

impl Change {
    /// What the change is about: two changes with one key cannot both hold.
    pub fn key(&self) -> String {
        match self {
            Change::Sysctl { name, .. } => format!("sysctl {name}"),
            Change::Address {
                interface,
                address,
                prefix_len,
            } => {
                format!("address {address}/{prefix_len} on {interface}")
            }
            Change::Link { interface, .. } => format!("link {interface}"),
            Change::IpvsService { service } => format!("ipvs service {service}"),
            Change::IpvsDestination {
                service,
                destination,
            } => {
                format!("ipvs destination {destination} of {service}")
            }
            Change::LinkUp { interface } => format!("link {interface} up"),
            Change::FouPort { port, family } => format!("fou port {port} af {family}"),
            Change::Module { name } => format!("module {name}"),
        }
    }
}

/// A change and the setups that rely on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The change.
    #[serde(flatten)]
    pub change: Change,
    /// The setups that made it or found it in place and need it.
    pub owners: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct JournalFile {
    version: u32,
    /// How the namespace was named when the journal was started, for people.
    netns: String,
    /// The namespace's identity (see the module docs).
    netns_id: String,
    entries: Vec<Entry>,
}

/// An open journal, locked for as long as it lives.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    data: JournalFile,
    _lock: File,
}

impl Journal {
    /// Open (or start) the journal of namespace `netns_id` in `dir`, taking
    /// the directory's lock.
    pub fn open(dir: &Path, netns_id: &str, netns_desc: &str) -> Result<Journal, Error> {
        let jerr = |detail: String| Error::Journal {
            path: dir.to_owned(),
            detail,
        };
        fs::create_dir_all(dir).map_err(|e| jerr(format!("cannot create the directory: {e}")))?;
        let lock = File::open(dir).map_err(|e| jerr(format!("cannot open the directory: {e}")))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| jerr(format!("cannot lock: {}", std::io::Error::from(e))))?;
        let path = dir.join(format!("netns-{netns_id}.json"));
        let data = match fs::read(&path) {
            Ok(bytes) => {
                let data: JournalFile =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
                        path: path.clone(),
                        detail: format!("unreadable: {e}"),
                    })?;
                if data.version != VERSION {
                    return Err(Error::Journal {
                        path,
                        detail: format!("version {} (this library writes {VERSION})", data.version),
                    });
                }
                data
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => JournalFile {
                version: VERSION,
                netns: netns_desc.to_owned(),
                netns_id: netns_id.to_owned(),
                entries: Vec::new(),
            },
            Err(e) => {
                return Err(Error::Journal {
                    path,
                    detail: e.to_string(),
                });
            }
        };
        Ok(Journal {
            path,
            data,
            _lock: lock,
        })
    }

    /// The file this journal is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.data.entries
    }

    /// The entry about `key`.
    pub fn find(&self, key: &str) -> Option<&Entry> {
        self.data.entries.iter().find(|e| e.change.key() == key)
    }

    /// The entries `owner` relies on, oldest first.
    pub fn owned_by<'a>(&'a self, owner: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.data
            .entries
            .iter()
            .filter(move |e| e.owners.contains(owner))
    }

    /// Record `change` for `owner` before making it, and make it durable.
    /// An entry with the same key keeps its original prior value and gains
    /// the owner.
    pub fn record(&mut self, change: Change, owner: &str) -> Result<(), Error> {
        let key = change.key();
        match self.data.entries.iter_mut().find(|e| e.change.key() == key) {
            Some(e) => {
                if !e.owners.insert(owner.to_owned()) {
                    return Ok(());
                }
            }
            None => self.data.entries.push(Entry {
                change,
                owners: BTreeSet::from([owner.to_owned()]),
            }),
        }
        self.save()
    }

    /// Add `owner` to the existing entry about `key`; whether there was one.
    pub fn adopt(&mut self, key: &str, owner: &str) -> Result<bool, Error> {
        match self.data.entries.iter_mut().find(|e| e.change.key() == key) {
            Some(e) => {
                if e.owners.insert(owner.to_owned()) {
                    self.save()?;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Drop `owner` from the entry about `key`, and the entry once nobody
    /// owns it; durable on return.
    pub fn release(&mut self, key: &str, owner: &str) -> Result<(), Error> {
        let before = self.data.entries.len();
        let mut changed = false;
        for e in &mut self.data.entries {
            if e.change.key() == key {
                changed |= e.owners.remove(owner);
            }
        }
        self.data.entries.retain(|e| !e.owners.is_empty());
        if changed || self.data.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Write the journal (or remove the file once it is empty).
    fn save(&self) -> Result<(), Error> {
        let err = |detail: String| Error::Journal {
            path: self.path.clone(),
            detail,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if self.data.entries.is_empty() {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(e.to_string())),
            }
        } else {
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                self.path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("journal"),
                std::process::id()
            ));
            let json = serde_json::to_vec_pretty(&self.data).map_err(|e| err(e.to_string()))?;
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(&json)?;
                f.write_all(b"\n")?;
                f.sync_all()?;
                fs::rename(&tmp, &self.path)
            };
            if let Err(e) = write() {
                let _ = fs::remove_file(&tmp);
                return Err(err(e.to_string()));
            }
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ipvs-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn arp_ignore(prior: &str) -> Change {
        Change::Sysctl {
            name: Sysctl::ipv4_conf("all", "arp_ignore"),
            prior: prior.into(),
            value: "1".into(),
        }
    }

    #[test]
    fn records_durably_before_and_keeps_the_first_prior() {
        let dir = tmpdir("prior");
        {
            let mut j = Journal::open(&dir, "42", "test").unwrap();
            j.record(arp_ignore("0"), "real-server 192.0.2.10").unwrap();
            // A second setup finding the value in place keeps prior "0".
            j.record(arp_ignore("1"), "real-server 192.0.2.11").unwrap();
        }
        let j = Journal::open(&dir, "42", "test").unwrap();
        assert_eq!(j.entries().len(), 1);
        assert_eq!(j.entries()[0].change, arp_ignore("0"));
        assert_eq!(j.entries()[0].owners.len(), 2);
        let text = fs::read_to_string(j.path()).unwrap();
        assert!(text.contains("\"kind\": \"sysctl\""), "{text}");
        assert!(text.contains("\"prior\": \"0\""), "{text}");
        drop(j);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn release_drops_owners_then_entries_then_the_file() {
        let dir = tmpdir("release");
        let mut j = Journal::open(&dir, "7", "test").unwrap();
        let key = arp_ignore("0").key();
        j.record(arp_ignore("0"), "a").unwrap();
        assert!(j.adopt(&key, "b").unwrap());
        assert!(!j.adopt("sysctl nothing", "b").unwrap());
        j.release(&key, "a").unwrap();
        assert_eq!(
            j.find(&key).unwrap().owners,
            BTreeSet::from(["b".to_owned()])
        );
        assert!(j.path().exists());
        j.release(&key, "b").unwrap();
        assert!(j.find(&key).is_none());
        assert!(!j.path().exists(), "an empty journal leaves no file");
        drop(j);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_journal_is_an_error_not_a_fresh_start() {
        let dir = tmpdir("corrupt");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("netns-9.json"), b"{not json").unwrap();
        assert!(matches!(
            Journal::open(&dir, "9", "t"),
            Err(Error::Journal { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
