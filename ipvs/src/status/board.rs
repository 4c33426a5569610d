//! What the running director posts for the status page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::ServiceKey;
use crate::state::State;

/// A server's health as the last check found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthStatus {
    /// Whether the server counts as up (after rise/fall).
    pub up: bool,
    /// The check kind, such as `tcp` or `http`.
    pub check: String,
    /// The last check's result in words: `ok`, `connection refused`, ...
    pub last_result: String,
    /// When the last check finished.
    pub checked_at: SystemTime,
}

/// Everything posted on a [`StatusBoard`], at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardSnapshot {
    /// Weights the configuration gives, per service and destination.
    pub configured: HashMap<(ServiceKey, SocketAddr), u32>,
    /// Weights after health checks (what the director wants in the kernel).
    pub effective: HashMap<(ServiceKey, SocketAddr), u32>,
    /// Health per checked server (`ADDR:PORT` of the destination).
    pub health: HashMap<SocketAddr, HealthStatus>,
    /// The failover role and since when, if the director runs failover.
    pub role: Option<(String, SystemTime)>,
}

impl BoardSnapshot {
    /// The health of the destination `server` of any service.
    pub fn health_of(&self, server: &SocketAddr) -> Option<&HealthStatus> {
        self.health.get(server)
    }
}

/// Where the director posts what the status page shows beyond the kernel's
/// table. Cheap to clone; every clone is the same board.
///
/// ```
/// use std::time::SystemTime;
/// use ipvs::status::{HealthStatus, StatusBoard};
///
/// let board = StatusBoard::new();
/// board.set_health("198.51.100.2:80".parse().unwrap(), HealthStatus {
///     up: false,
///     check: "tcp".into(),
///     last_result: "connection refused".into(),
///     checked_at: SystemTime::now(),
/// });
/// board.set_role("backup");
/// let snap = board.snapshot();
/// assert!(!snap.health_of(&"198.51.100.2:80".parse().unwrap()).unwrap().up);
/// assert_eq!(snap.role.unwrap().0, "backup");
/// ```
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<RwLock<BoardSnapshot>>);

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of what is posted now.
    pub fn snapshot(&self) -> BoardSnapshot {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut BoardSnapshot)) {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// The configured weights: every destination of `state`.
    pub fn set_configured(&self, state: &State) {
        let weights = weights(state);
        self.update(|b| b.configured = weights);
    }

    /// The effective weights: every destination of `state`.
    pub fn set_effective(&self, state: &State) {
        let weights = weights(state);
        self.update(|b| b.effective = weights);
    }

    /// A server's health after a check.
    pub fn set_health(&self, server: SocketAddr, status: HealthStatus) {
        self.update(|b| {
            b.health.insert(server, status);
        });
    }

    /// Forget a server's health (no longer checked).
    pub fn clear_health(&self, server: &SocketAddr) {
        self.update(|b| {
            b.health.remove(server);
        });
    }

    /// The failover role now; the time it started is kept while it stays.
    pub fn set_role(&self, role: &str) {
        self.update(|b| {
            if b.role.as_ref().is_none_or(|(r, _)| r != role) {
                b.role = Some((role.to_owned(), SystemTime::now()));
            }
        });
    }
}

fn weights(state: &State) -> HashMap<(ServiceKey, SocketAddr), u32> {
    state
        .services
        .iter()
        .flat_map(|s| {
            s.destinations
                .iter()
                .map(|d| ((s.service.key, d.socket_addr()), d.weight))
        })
        .collect()
}
