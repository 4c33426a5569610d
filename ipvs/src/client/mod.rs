//! Clients that drive the kernel: [`Client`] (blocking) and, with the
//! `tokio` or `smol` feature, `AsyncClient` (`TokioClient`, `SmolClient`).
//! Both drive one [`Engine`](crate::engine::Engine) through the same calls,
//! so batching, acknowledgements, dump retries, de-duplication and family
//! re-resolution are the same; they share the codec, the validation and
//! the error mapping of [`Operation`].

#[cfg(any(feature = "tokio", feature = "smol"))]
mod asynchronous;
mod blocking;
pub(crate) mod core;
mod error;
mod netns;
mod operation;
pub(crate) mod sys;
pub(crate) mod transport;

#[cfg(feature = "smol")]
pub use asynchronous::SmolClient;
#[cfg(feature = "tokio")]
pub use asynchronous::TokioClient;
#[cfg(any(feature = "tokio", feature = "smol"))]
pub use asynchronous::{AsyncClient, Runtime};
pub use blocking::{Builder, Client, IoCounters};
pub use error::{Error, Result};
pub use netns::{NETNS_RUN_DIR, Netns, NetnsNameError, enter as enter_netns, within, within_netns};
pub use operation::{BatchResult, Operation, ServiceEntry};
