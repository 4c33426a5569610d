//! Clients that drive the kernel: [`Client`] (blocking, netlink-sys) and,
//! with the `tokio` feature, `AsyncClient` (netlink-proto). Both share
//! the codec, the validation and the error mapping of [`Operation`].

#[cfg(feature = "tokio")]
mod asynchronous;
mod blocking;
mod error;
mod netns;
mod operation;
mod sys;

#[cfg(feature = "tokio")]
pub use asynchronous::AsyncClient;
pub use blocking::{Builder, Client, IoCounters};
pub use error::{Error, Result};
pub use netns::{NETNS_RUN_DIR, Netns, NetnsNameError, within, within_netns};
pub use operation::{BatchResult, Operation, ServiceEntry};
