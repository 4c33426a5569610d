use std::net::SocketAddr;
use std::time::Duration;

use crate::codec::{Command, DecodeError, KernelError};
use crate::model::{DaemonState, ServiceKey, ValidationError};

/// Everything a client call can fail with.
///
/// Errors the kernel returned carry its errno ([`Error::errno`]) and, when
/// it gave one, its extended-ACK message ([`Error::kernel_message`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `IPVS` generic-netlink family is missing: the `ip_vs` module is
    /// not loaded, or the kernel has no IPVS.
    #[error(
        "IPVS is not available: no \"IPVS\" generic netlink family (load it with `modprobe ip_vs`)"
    )]
    IpvsNotAvailable,
    /// The kernel refused: IPVS needs CAP_NET_ADMIN in the initial user
    /// namespace, even to read.
    #[error(
        "permission denied: IPVS needs CAP_NET_ADMIN in the initial user namespace (errno {errno})"
    )]
    PermissionDenied {
        /// EPERM.
        errno: i32,
    },
    /// `NEW_SERVICE` of a service that exists.
    #[error("service {service} already exists")]
    ServiceExists {
        /// The service.
        service: ServiceKey,
    },
    /// The service does not exist.
    #[error("service {service} not found")]
    ServiceNotFound {
        /// The service.
        service: ServiceKey,
    },
    /// `NEW_DEST` of a destination that exists.
    #[error("destination {destination} of {service} already exists")]
    DestinationExists {
        /// The service.
        service: ServiceKey,
        /// The destination.
        destination: SocketAddr,
    },
    /// The destination does not exist.
    #[error("destination {destination} of {service} not found")]
    DestinationNotFound {
        /// The service.
        service: ServiceKey,
        /// The destination.
        destination: SocketAddr,
    },
    /// No scheduler module of that name (for a service without a
    /// persistence engine).
    #[error("scheduler {name:?} not found (no module ip_vs_{name})")]
    SchedulerNotFound {
        /// The scheduler's name.
        name: String,
    },
    /// No persistence engine module of that name (for a service with the
    /// scheduler `none`, which the kernel does not look up; with any other
    /// the error is [`Error::SchedulerOrPersistenceEngineNotFound`]).
    #[error("persistence engine {name:?} not found (no module ip_vs_pe_{name})")]
    PersistenceEngineNotFound {
        /// The engine's name.
        name: String,
    },
    /// ENOENT for a service with a persistence engine: the kernel found no
    /// module for the scheduler or none for the engine, and does not say
    /// which (it looks the scheduler up first; its log names the missing
    /// module).
    #[error(
        "scheduler {scheduler:?} or persistence engine {persistence_engine:?} not found \
         (no module ip_vs_{scheduler} or ip_vs_pe_{persistence_engine}; the kernel does not say which)"
    )]
    SchedulerOrPersistenceEngineNotFound {
        /// The scheduler's name.
        scheduler: String,
        /// The engine's name.
        persistence_engine: String,
    },
    /// A sync daemon in that state is already running.
    #[error("a {state:?} sync daemon is already running")]
    DaemonExists {
        /// Master or backup.
        state: DaemonState,
    },
    /// No sync daemon in that state is running.
    #[error("no {state:?} sync daemon is running")]
    DaemonNotFound {
        /// Master or backup.
        state: DaemonState,
    },
    /// The sync daemon's interface does not exist.
    #[error("interface {name:?} not found")]
    InterfaceNotFound {
        /// The interface.
        name: String,
    },
    /// The kernel found an argument invalid (EINVAL) or out of range (ERANGE).
    #[error("{command}: invalid argument (errno {errno}){}", fmt_msg(.message))]
    InvalidArgument {
        /// The command refused.
        command: Command,
        /// EINVAL or ERANGE.
        errno: i32,
        /// The kernel's extended-ACK message.
        message: Option<String>,
    },
    /// Any other refusal.
    #[error("{command}: {} (errno {errno}){}", std::io::Error::from_raw_os_error(*.errno), fmt_msg(.message))]
    Kernel {
        /// The command refused.
        command: Command,
        /// The errno.
        errno: i32,
        /// The kernel's extended-ACK message.
        message: Option<String>,
    },
    /// A namespace name that names no file in `/run/netns`
    /// ([`Netns::named`](super::Netns::named)); nothing was opened.
    #[error(transparent)]
    NetnsName(#[from] super::NetnsNameError),
    /// A value was refused before anything was sent.
    #[error("invalid value: {0}")]
    Validation(#[from] ValidationError),
    /// An operation of a batch was refused before anything was sent.
    #[error("operation {index} of the batch: {source}")]
    InvalidOperation {
        /// Its index in the batch.
        index: usize,
        /// What is wrong with it.
        source: ValidationError,
    },
    /// A batch operation that was not attempted because the batch stopped
    /// before it (a socket error or a timeout).
    #[error("not attempted: the batch stopped earlier ({reason})")]
    NotAttempted {
        /// Why the batch stopped.
        reason: String,
    },
    /// No reply within the client's timeout.
    #[error("no reply from the kernel within {0:?}")]
    Timeout(Duration),
    /// A dump kept being interrupted by concurrent changes.
    #[error("dump interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted {
        /// How many times it was tried.
        attempts: u32,
    },
    /// The kernel sent something this crate cannot decode.
    #[error("cannot decode the kernel's reply: {0}")]
    Decode(#[from] DecodeError),
    /// A socket error.
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
}

fn fmt_msg(m: &Option<String>) -> String {
    m.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
}

impl Error {
    /// The errno behind the error, if it came from the kernel or a socket.
    pub fn errno(&self) -> Option<i32> {
        Some(match self {
            Error::PermissionDenied { errno }
            | Error::InvalidArgument { errno, .. }
            | Error::Kernel { errno, .. } => *errno,
            Error::ServiceExists { .. }
            | Error::DestinationExists { .. }
            | Error::DaemonExists { .. } => libc::EEXIST,
            Error::ServiceNotFound { .. } | Error::DaemonNotFound { .. } => libc::ESRCH,
            Error::DestinationNotFound { .. }
            | Error::SchedulerNotFound { .. }
            | Error::PersistenceEngineNotFound { .. }
            | Error::SchedulerOrPersistenceEngineNotFound { .. } => libc::ENOENT,
            Error::InterfaceNotFound { .. } => libc::ENODEV,
            Error::IpvsNotAvailable => libc::ENOENT,
            Error::Timeout(_) => libc::ETIMEDOUT,
            Error::Io(e) => return e.raw_os_error(),
            _ => return None,
        })
    }

    /// The kernel's extended-ACK message, if it gave one.
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { message, .. } | Error::Kernel { message, .. } => {
                message.as_deref()
            }
            _ => None,
        }
    }

    /// A refusal with no better variant.
    pub(crate) fn kernel(command: Command, e: KernelError) -> Self {
        match e.errno {
            libc::EPERM | libc::EACCES => Error::PermissionDenied { errno: e.errno },
            libc::EINVAL | libc::ERANGE => Error::InvalidArgument {
                command,
                errno: e.errno,
                message: e.message,
            },
            errno => Error::Kernel {
                command,
                errno,
                message: e.message,
            },
        }
    }
}

/// The result of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
