//! The typed IPVS model: what users build, send, and read back.
//!
//! Nothing here knows about netlink. The [`codec`](crate::codec) turns these
//! values into generic-netlink attributes and back; the clients send them.
//!
//! Every value can be checked as the kernel would check it, before
//! anything is sent:
//!
//! ```
//! use ipvs::{Destination, Scheduler, Service, ServiceKey, ValidationError};
//! let key = ServiceKey::udp("192.0.2.10:53".parse().unwrap());
//! Service::new(key, Scheduler::SourceHashing).validate().unwrap();
//! let heavy = Destination::new("192.0.2.21:53".parse().unwrap()).with_weight(1 << 31);
//! assert!(matches!(heavy.validate(&key), Err(ValidationError::WeightOutOfRange(_))));
//! ```

mod daemon;
mod destination;
mod family;
mod info;
mod scheduler;
mod service;
mod stats;
mod timeouts;
mod validate;

pub use daemon::{DaemonState, SyncDaemon};
pub use destination::{Connections, Destination, ForwardMethod, Tunnel, TunnelChecksum};
pub use family::{AddressFamily, Protocol};
pub use info::{Info, Version};
pub use scheduler::Scheduler;
pub use service::{Netmask, Persistence, Service, ServiceFlags, ServiceKey};
pub use stats::Stats;
pub use timeouts::Timeouts;
pub use validate::ValidationError;

/// The longest scheduler, persistence engine or interface name the kernel
/// takes, without its terminating NUL (`IP_VS_SCHEDNAME_MAXLEN` - 1).
pub const MAX_NAME_LEN: usize = 15;
