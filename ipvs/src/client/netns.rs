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
/// let ns = Netns::named("blue");
/// assert_eq!(ns, Netns::Path("/run/netns/blue".into()));
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

impl Netns {
    /// A namespace made by `ip netns add NAME`.
    pub fn named(name: &str) -> Self {
        Netns::Path(Path::new("/run/netns").join(name))
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

/// Run `make` in the namespace `ns`, or right here for [`Netns::Current`].
pub fn within_netns<T: Send>(
    ns: &Netns,
    make: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    match ns {
        Netns::Current => make(),
        Netns::Path(path) => {
            let file = File::open(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("network namespace {}: {e}", path.display()),
                )
            })?;
            within(file.as_fd(), make)
        }
    }
}
