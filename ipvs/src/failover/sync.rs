//! The connection sync daemons a role calls for, and bringing the kernel's
//! to them.
//!
//! One daemon at a time, as the role says: MASTER sends (master daemon
//! only), BACKUP receives (backup daemon only), FAULT and STOP as configured
//! ([`IdleSync`]). The kernel would run both at once, but a master that
//! also receives would take in a second master's view of the same
//! connections whenever the pair splits (both MASTER for a moment), and
//! a backup that also sends would send it; with one daemon per role the
//! traffic always goes from the VIP holder to the others. Nothing is lost
//! by stopping the backup daemon on takeover: the connections it received
//! stay in the table with their timeouts.

use crate::client::{Client, Error};
use crate::{DaemonState, SyncDaemon};

use super::notify::Role;
use super::settings::{IdleSync, Settings};

/// What failover needs of IPVS: list, start and stop sync daemons. The
/// blocking [`Client`] is one; tests use a recording fake.
pub trait SyncControl: Send + Sync + 'static {
    /// The running daemons.
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error>;
    /// Start one.
    fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), Error>;
    /// Stop the one in `state`.
    fn stop_daemon(&self, state: DaemonState) -> Result<(), Error>;
}

impl SyncControl for Client {
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        Client::daemons(self)
    }
    fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), Error> {
        Client::start_daemon(self, daemon)
    }
    fn stop_daemon(&self, state: DaemonState) -> Result<(), Error> {
        Client::stop_daemon(self, state)
    }
}

/// A shared one.
impl<T: SyncControl + ?Sized> SyncControl for std::sync::Arc<T> {
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        (**self).daemons()
    }
    fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), Error> {
        (**self).start_daemon(daemon)
    }
    fn stop_daemon(&self, state: DaemonState) -> Result<(), Error> {
        (**self).stop_daemon(state)
    }
}

/// The sync daemons `role` calls for (none, master or backup).
///
/// ```
/// use ipvs::failover::{sync::wanted, Role, Settings};
/// use ipvs::DaemonState;
/// let s = Settings::new("eth0", 51, 150, ["198.51.100.100/24".parse()?]);
/// assert_eq!(wanted(Role::Master, &s), [DaemonState::Master]);
/// assert_eq!(wanted(Role::Fault, &s), [DaemonState::Backup]);
/// assert_eq!(wanted(Role::Stop, &s), []);
/// # Ok::<(), ipvs::failover::SettingsError>(())
/// ```
pub fn wanted(role: Role, settings: &Settings) -> Vec<DaemonState> {
    let idle = |i: IdleSync| match i {
        IdleSync::Backup => vec![DaemonState::Backup],
        IdleSync::Stopped => Vec::new(),
    };
    match role {
        Role::Master => vec![DaemonState::Master],
        Role::Backup => vec![DaemonState::Backup],
        Role::Fault => idle(settings.on_fault),
        Role::Stop => idle(settings.on_stop),
    }
}

/// The daemon of `state` as `settings` configure it.
pub fn daemon(state: DaemonState, settings: &Settings) -> SyncDaemon {
    let mut d = SyncDaemon::new(state, settings.sync_interface(), settings.sync_id());
    d.port = settings.sync.port;
    d.group = settings.sync.group;
    d
}

/// Whether a running daemon is the one `settings` configure.
fn matches(running: &SyncDaemon, settings: &Settings) -> bool {
    let want = daemon(running.state, settings);
    running.interface == want.interface
        && running.sync_id == want.sync_id
        && want.port.is_none_or(|p| running.port == Some(p))
        && want.group.is_none_or(|g| running.group == Some(g))
}

/// What changed in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// Daemons stopped.
    pub stopped: Vec<DaemonState>,
    /// Daemons started.
    pub started: Vec<DaemonState>,
}

impl SyncChanges {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.stopped.is_empty() && self.started.is_empty()
    }
}

/// Bring the kernel's sync daemons to what `role` calls for: stop the
/// others (and ones configured differently) first, then start what is
/// missing. Blocking; run it off the async runtime.
pub fn reconcile(
    client: &dyn SyncControl,
    role: Role,
    settings: &Settings,
) -> Result<SyncChanges, Error> {
    let want = wanted(role, settings);
    let mut changes = SyncChanges::default();
    let running = client.daemons()?;
    for d in &running {
        if !want.contains(&d.state) || !matches(d, settings) {
            client.stop_daemon(d.state)?;
            changes.stopped.push(d.state);
        }
    }
    for state in want {
        let up = running
            .iter()
            .any(|d| d.state == state && matches(d, settings));
        if !up {
            client.start_daemon(&daemon(state, settings))?;
            changes.started.push(state);
        }
    }
    Ok(changes)
}
