//! A small read-only HTTP server (feature `status`): `/metrics` for
//! Prometheus and a status page at `/` for people.
//!
//! The page shows every service and destination as the kernel has them now
//! (read at each request), the weights the director was configured with
//! and the effective ones (after health checks), each server's health with
//! its last check's result and time, the balance of each service (share of
//! new connections against share of weight, as bars, with
//! [`BalanceReport`](crate::cluster::BalanceReport)'s reasons), and the
//! failover role. What only the running director knows (configured and
//! effective weights, health, role) it posts on a [`StatusBoard`]; the
//! server only reads it. The page refreshes itself (a meta refresh), uses no
//! script and loads nothing from elsewhere (its Content-Security-Policy
//! forbids it).
//!
//! The server listens on loopback unless told otherwise, and says so on
//! standard error when bound to another address. Requests are bounded: the
//! request head to [`ServerOptions::max_request_bytes`], the time to read it
//! and to answer to [`ServerOptions::timeout`], concurrent connections to
//! [`ServerOptions::max_connections`]. Only `GET` and `HEAD`; nothing on it
//! changes anything.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ipvs::client::Client;
//! use ipvs::metrics::{Metrics, MetricsOptions};
//! use ipvs::status::{ServerOptions, StatusBoard, StatusServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let metrics = Arc::new(Metrics::for_client(Client::new().unwrap(), MetricsOptions::default()));
//! let board = StatusBoard::new();
//! board.set_role("master");
//! let server = StatusServer::bind("127.0.0.1:9876".parse().unwrap(), metrics, board, ServerOptions::default()).await?;
//! server.serve(std::future::pending()).await
//! # }
//! ```

mod board;
mod http;
mod page;

pub use board::{BoardSnapshot, HealthStatus, StatusBoard};
pub use http::{ServerOptions, StatusServer, not_loopback_warning};
pub use page::{format_utc, render_page};
