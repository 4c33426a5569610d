//! Linux IPVS (the kernel's layer-4 load balancer, LVS) over generic netlink.
//!
//! - [`model`]: services, destinations, schedulers, forwarding methods,
//!   stats, timeouts, sync daemons; validated before anything is sent.
//! - [`codec`]: a sans-IO codec between the model and generic-netlink bytes,
//!   for every IPVS command, usable on its own to decode captured traffic.
//! - [`engine`]: the sans-IO netlink request engine (batching,
//!   acknowledgements, dump retries, family resolution) under every client.
//! - [`client`]: the blocking `Client` and, with feature `tokio` or `smol`,
//!   the async `AsyncClient`, both driving that engine.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod codec;
pub mod engine;
#[cfg(feature = "health")]
pub mod health;
pub mod model;
pub mod rules;
pub mod state;

pub use model::*;
