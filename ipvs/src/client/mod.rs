//! Clients that drive the kernel: [`Client`] (blocking, netlink-sys) and,
//! with the `tokio` feature, [`AsyncClient`] (netlink-proto). Both share
//! the codec, the validation and the error mapping of [`Operation`].

#[cfg(feature = "tokio")]
mod asynchronous;
mod blocking;
pub(crate) mod core;
mod error;
mod netns;
mod operation;
mod sys;
pub(crate) mod transport;

#[cfg(feature = "tokio")]
pub use asynchronous::AsyncClient;
pub use blocking::{Builder, Client, IoCounters};
pub use error::{Error, Result};
pub use netns::{Netns, within, within_netns};
pub use operation::{BatchResult, Operation, ServiceEntry};
