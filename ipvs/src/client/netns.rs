//! Opening netlink sockets inside another network namespace.
//!
//! The socket is created on a short-lived thread that enters the namespace
//! and ends right after: the caller's threads never change namespace, and a
//! socket stays in the namespace it was created in for its whole life.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A network namespace to open a client in.
///
/// ```
/// use ipvs::client::Netns;
/// let ns = Netns::named("blue").unwrap();
/// assert_eq!(ns, Netns::Path("/run/netns/blue".into()));
/// // A name is a name in /run/netns, never a path out of it.
/// assert!(Netns::named("../../proc/1/ns/net").is_err());
/// // Any namespace file is reachable as a path.
/// let pid1 = Netns::Path("/proc/1/ns/net".into());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Netns {
    /// The namespace of the calling thread.
    #[default]
    Current,
    /// A namespace file, such as `/run/netns/NAME` or `/proc/PID/ns/net`.
    Path(PathBuf),
}

/// Where `ip netns add NAME` puts its namespace files.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A namespace name that is not a file name in [`NETNS_RUN_DIR`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network namespace name {name:?}: {reason}")]
pub struct NetnsNameError {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Netns {
    /// A namespace made by `ip netns add NAME`: the file `NAME` in
    /// [`NETNS_RUN_DIR`]. The name must be a plain file name, as `ip netns`
    /// requires: not empty, not `.` or `..`, without `/` or NUL, at most
    /// 255 bytes. For any other namespace file use [`Netns::Path`].
    pub fn named(name: &str) -> Result<Self, NetnsNameError> {
        let reason = if name.is_empty() {
            Some("empty")
        } else if name == "." || name == ".." {
            Some("not a name (`.` and `..` are directories)")
        } else if name.contains('/') {
            Some("contains `/` (a name, not a path: use Netns::Path for paths)")
        } else if name.contains('\0') {
            Some("contains NUL")
        } else if name.len() > 255 {
            Some("longer than 255 bytes")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(NetnsNameError {
                name: name.to_owned(),
                reason,
            }),
            None => Ok(Netns::Path(Path::new(NETNS_RUN_DIR).join(name))),
        }
    }
}

/// Run `make` inside the namespace `ns` refers to, on a thread of its own.
pub fn within<T: Send>(
    ns: BorrowedFd<'_>,
    make: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let ns: OwnedFd = ns.try_clone_to_owned()?;
    std::thread::scope(|s| {
        s.spawn(move || {
            super::sys::setns_net(ns.as_fd())?;
            make()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// The namespace file at `path`, an error naming it.
fn open(path: &Path) -> io::Result<File> {
    File::open(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("network namespace {}: {e}", path.display()),
        )
    })
}

/// Move the calling thread into the namespace `ns` (nothing for
/// [`Netns::Current`]); threads it starts afterwards start there too. For a
/// process that works in one namespace (as `ipvsctl run --netns` does),
/// before it starts other threads.
pub fn enter(ns: &Netns) -> io::Result<()> {
    match ns {
        Netns::Current => Ok(()),
        Netns::Path(path) => super::sys::setns_net(open(path)?.as_fd()),
    }
}

/// Run `make` in the namespace `ns`, or right here for [`Netns::Current`].
pub fn within_netns<T: Send>(
    ns: &Netns,
    make: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    match ns {
        Netns::Current => make(),
        Netns::Path(path) => within(open(path)?.as_fd(), make),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_stays_in_run_netns() {
        assert_eq!(
            Netns::named("lb-1.blue").unwrap(),
            Netns::Path("/run/netns/lb-1.blue".into())
        );
        let long = "n".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/proc/1/ns/net",
            "a\0b",
            &long,
        ] {
            let e = Netns::named(bad).unwrap_err();
            assert_eq!(e.name, bad);
            assert!(e.to_string().starts_with("network namespace name "), "{e}");
        }
        assert!(Netns::named(&"n".repeat(255)).is_ok());
    }
}
