//! Diffing states into plans, and draining.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::{FastMap, FastSet, SMALL_SERVICE, ServiceState, State};
use crate::model::{Destination, ForwardMethod, Service, ServiceKey, Timeouts};
use crate::rules::{self, Rule, WriteOptions};

/// One change to the kernel's table. Each carries everything its netlink
/// command needs: the service key, and the whole service or destination.
///
/// Updates are in place (`SET_SERVICE`, `SET_DEST`): connections survive.
///
/// In a plan's JSON each change is an object tagged by `op`:
/// `{"op": "add_destination", "service": {...}, "dest": {...}}`. The tags
/// before the vocabulary was unified (`add_dest`, `update_dest`,
/// `drain_dest`, `delete_dest`) are still read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "op", rename_all = "snake_case"))]
pub enum Change {
    /// Set the connection timeouts (`SET_CONFIG`; 0 leaves one unchanged).
    SetTimeouts {
        /// The timeouts.
        timeouts: Timeouts,
    },
    /// Add a service (`NEW_SERVICE`).
    AddService {
        /// The service.
        service: Service,
    },
    /// Change a service's settings (`SET_SERVICE`): scheduler, flags,
    /// persistence, persistence engine.
    UpdateService {
        /// The service, with its new settings.
        service: Service,
    },
    /// Delete a service and its destinations (`DEL_SERVICE`).
    DeleteService {
        /// The service.
        service: ServiceKey,
    },
    /// Add a destination (`NEW_DEST`).
    #[cfg_attr(feature = "serde", serde(alias = "add_dest"))]
    AddDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// Change a destination's settings (`SET_DEST`): forwarding, weight,
    /// thresholds.
    #[cfg_attr(feature = "serde", serde(alias = "update_dest"))]
    UpdateDestination {
        /// The service.
        service: ServiceKey,
        /// The destination, with its new settings.
        dest: Destination,
    },
    /// Start draining a destination that is going away: its settings with
    /// weight 0 (`SET_DEST`), so it takes no new connections while the
    /// ones it has finish.
    #[cfg_attr(feature = "serde", serde(alias = "drain_dest"))]
    DrainDestination {
        /// The service.
        service: ServiceKey,
        /// The destination, at weight 0.
        dest: Destination,
    },
    /// Delete a destination (`DEL_DEST`).
    #[cfg_attr(feature = "serde", serde(alias = "delete_dest"))]
    DeleteDestination {
        /// The service.
        service: ServiceKey,
        /// The destination, as it was.
        dest: Destination,
    },
}

impl Change {
    /// The service the change is about (none for timeouts).
    pub fn service_key(&self) -> Option<&ServiceKey> {
        match self {
            Change::SetTimeouts { .. } => None,
            Change::AddService { service } | Change::UpdateService { service } => {
                Some(&service.key)
            }
            Change::DeleteService { service }
            | Change::AddDestination { service, .. }
            | Change::UpdateDestination { service, .. }
            | Change::DrainDestination { service, .. }
            | Change::DeleteDestination { service, .. } => Some(service),
        }
    }

    /// The destination the change is about, if any.
    pub fn dest(&self) -> Option<&Destination> {
        match self {
            Change::AddDestination { dest, .. }
            | Change::UpdateDestination { dest, .. }
            | Change::DrainDestination { dest, .. }
            | Change::DeleteDestination { dest, .. } => Some(dest),
            _ => None,
        }
    }

    /// The change as an ipvsadm rule (`--set`, `-A`, `-E`, `-D`, `-a`,
    /// `-e`, `-d`; a drain is an `-e` at weight 0).
    pub fn to_rule(&self) -> Rule {
        match self {
            Change::SetTimeouts { timeouts } => Rule::SetTimeouts {
                timeouts: *timeouts,
            },
            Change::AddService { service } => Rule::AddService {
                service: service.clone(),
            },
            Change::UpdateService { service } => Rule::UpdateService {
                service: service.clone(),
            },
            Change::DeleteService { service } => Rule::DeleteService { service: *service },
            Change::AddDestination { service, dest } => Rule::AddDestination {
                service: *service,
                dest: dest.clone(),
            },
            Change::UpdateDestination { service, dest }
            | Change::DrainDestination { service, dest } => Rule::UpdateDestination {
                service: *service,
                dest: dest.clone(),
            },
            Change::DeleteDestination { service, dest } => Rule::DeleteDestination {
                service: *service,
                dest: dest.socket_addr(),
            },
        }
    }
}

impl fmt::Display for Change {
    /// The change as one ipvsadm rule, thresholds included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = rules::write_with(&[self.to_rule()], &WriteOptions::COMPLETE);
        f.write_str(text.trim_end())
    }
}

/// How to diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Drain destinations that are going away instead of deleting them at
    /// once; `None` deletes them.
    pub drain: Option<DrainOptions>,
}

/// Draining: a destination (or a service's destinations) that the desired
/// state no longer has, but that still has connections, is first set to
/// weight 0 ([`Change::DrainDestination`]) and deleted by a later diff, once its
/// active and inactive connections are zero or `deadline` after the drain
/// started.
///
/// A diff is a pure function, so when each drain started is handed in
/// ([`DrainOptions::tracker`]) with the current time ([`DrainOptions::now`]);
/// the plan hands back the updated record ([`Plan::drain_tracker`]).
/// [`Reconciler`] does that bookkeeping for a loop.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// How long a drain may last before the destination is deleted with
    /// whatever connections it still has.
    pub deadline: Duration,
    /// The time of this diff.
    pub now: SystemTime,
    /// When each destination draining so far started (from the previous
    /// plan's [`Plan::drain_tracker`]). A destination at weight 0 that is
    /// going away and is not in it starts its drain now.
    pub tracker: DrainTracker,
}

impl DrainOptions {
    /// Drain with `deadline`, now, with no drain under way.
    pub fn new(deadline: Duration) -> Self {
        DrainOptions {
            deadline,
            now: SystemTime::now(),
            tracker: DrainTracker::default(),
        }
    }

    /// Diff as at `now`.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// Drains under way, as the previous plan left them.
    pub fn with_tracker(mut self, tracker: DrainTracker) -> Self {
        self.tracker = tracker;
        self
    }
}

/// A destination being drained: visible in [`Plan::draining`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Draining {
    /// The service.
    pub service: ServiceKey,
    /// The destination.
    pub dest: SocketAddr,
    /// When the drain started.
    pub since: SystemTime,
    /// When it will be deleted whatever its connections (`since` if the
    /// deadline does not fit a `SystemTime`).
    pub deadline: SystemTime,
    /// Active connections left.
    pub active: u32,
    /// Inactive connections left.
    pub inactive: u32,
    /// Whether the whole service goes away once its destinations are drained.
    pub service_removed: bool,
}

impl fmt::Display for Draining {
    /// What `ipvsctl` prints for a drain under way, the time left counted
    /// from now: `draining TCP 192.0.2.10:80 -> 192.0.2.21:80: 3 active, 0
    /// inactive connections; deleted when none are left, at the latest in
    /// 60 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = self
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs();
        write!(
            f,
            "draining {} -> {}: {} active, {} inactive connections; deleted when none are left, at the latest in {left} s{}",
            self.service,
            self.dest,
            self.active,
            self.inactive,
            if self.service_removed {
                " (then the service)"
            } else {
                ""
            }
        )
    }
}

/// When each draining destination started draining, keyed by service and
/// destination. Serializable, to keep it across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(from = "Vec<TrackerEntry>", into = "Vec<TrackerEntry>")
)]
pub struct DrainTracker {
    since: BTreeMap<(ServiceKey, SocketAddr), SystemTime>,
}

#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct TrackerEntry {
    service: ServiceKey,
    dest: SocketAddr,
    since: SystemTime,
}

impl From<Vec<TrackerEntry>> for DrainTracker {
    fn from(v: Vec<TrackerEntry>) -> Self {
        DrainTracker {
            since: v
                .into_iter()
                .map(|e| ((e.service, e.dest), e.since))
                .collect(),
        }
    }
}

impl From<DrainTracker> for Vec<TrackerEntry> {
    fn from(t: DrainTracker) -> Self {
        t.since
            .into_iter()
            .map(|((service, dest), since)| TrackerEntry {
                service,
                dest,
                since,
            })
            .collect()
    }
}

impl DrainTracker {
    /// When the drain of `dest` in `service` started, if it is draining.
    pub fn since(&self, service: &ServiceKey, dest: SocketAddr) -> Option<SystemTime> {
        self.since.get(&(*service, dest)).copied()
    }

    /// Record that `dest` in `service` started draining at `since`.
    pub fn insert(&mut self, service: ServiceKey, dest: SocketAddr, since: SystemTime) {
        self.since.insert((service, dest), since);
    }

    /// Forget a drain.
    pub fn remove(&mut self, service: &ServiceKey, dest: SocketAddr) -> Option<SystemTime> {
        self.since.remove(&(*service, dest))
    }

    /// How many destinations are draining.
    pub fn len(&self) -> usize {
        self.since.len()
    }

    /// Whether nothing is draining.
    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }

    /// Every drain: service, destination, start.
    pub fn iter(&self) -> impl Iterator<Item = (&ServiceKey, SocketAddr, SystemTime)> {
        self.since.iter().map(|((k, d), t)| (k, *d, *t))
    }
}

/// What [`diff`] found: the changes to send, in order, and the
/// destinations being drained.
///
/// Prints (`Display`) as ipvsadm rules, one change a line, thresholds
/// included; serializes (feature `serde`) as `{"ops": [...], "draining":
/// [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Plan {
    /// The changes, in the order to send them.
    pub ops: Vec<Change>,
    /// Destinations draining after this plan (those it starts draining and
    /// those still waiting), with their connection counts.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub draining: Vec<Draining>,
}

/// How many changes of each kind a plan has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanSummary {
    /// [`Change::SetTimeouts`].
    pub set_timeouts: usize,
    /// [`Change::AddService`].
    pub add_services: usize,
    /// [`Change::UpdateService`].
    pub update_services: usize,
    /// [`Change::DeleteService`].
    pub delete_services: usize,
    /// [`Change::AddDestination`].
    #[cfg_attr(feature = "serde", serde(alias = "add_dests"))]
    pub add_destinations: usize,
    /// [`Change::UpdateDestination`].
    #[cfg_attr(feature = "serde", serde(alias = "update_dests"))]
    pub update_destinations: usize,
    /// [`Change::DrainDestination`].
    #[cfg_attr(feature = "serde", serde(alias = "drain_dests"))]
    pub drain_destinations: usize,
    /// [`Change::DeleteDestination`].
    #[cfg_attr(feature = "serde", serde(alias = "delete_dests"))]
    pub delete_destinations: usize,
}

impl PlanSummary {
    /// Every change.
    pub fn total(&self) -> usize {
        self.set_timeouts
            + self.add_services
            + self.update_services
            + self.delete_services
            + self.add_destinations
            + self.update_destinations
            + self.drain_destinations
            + self.delete_destinations
    }
}

impl fmt::Display for PlanSummary {
    /// What `ipvsctl` prints of a plan: `3 operations: 1 services added, 2
    /// destinations added`, or `no changes`.
    ///
    /// ```
    /// let s = ipvs::state::PlanSummary { add_services: 1, ..Default::default() };
    /// assert_eq!(s.to_string(), "1 operations: 1 services added");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return f.write_str("no changes");
        }
        write!(f, "{} operations: ", self.total())?;
        let parts = [
            (self.set_timeouts, "timeouts set"),
            (self.add_services, "services added"),
            (self.update_services, "services changed"),
            (self.delete_services, "services deleted"),
            (self.add_destinations, "destinations added"),
            (self.update_destinations, "destinations changed"),
            (self.drain_destinations, "destinations drained"),
            (self.delete_destinations, "destinations deleted"),
        ];
        let mut first = true;
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n} {what}")?;
        }
        Ok(())
    }
}

impl Plan {
    /// Whether there is nothing to send (drains may still be waiting).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The changes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Change> {
        self.ops.iter()
    }

    /// How many changes of each kind.
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for op in &self.ops {
            *match op {
                Change::SetTimeouts { .. } => &mut s.set_timeouts,
                Change::AddService { .. } => &mut s.add_services,
                Change::UpdateService { .. } => &mut s.update_services,
                Change::DeleteService { .. } => &mut s.delete_services,
                Change::AddDestination { .. } => &mut s.add_destinations,
                Change::UpdateDestination { .. } => &mut s.update_destinations,
                Change::DrainDestination { .. } => &mut s.drain_destinations,
                Change::DeleteDestination { .. } => &mut s.delete_destinations,
            } += 1;
        }
        s
    }

    /// The changes as ipvsadm rules.
    pub fn to_rules(&self) -> Vec<Rule> {
        self.ops.iter().map(Change::to_rule).collect()
    }

    /// The drains under way after this plan, for the next diff's
    /// [`DrainOptions::tracker`].
    pub fn drain_tracker(&self) -> DrainTracker {
        DrainTracker {
            since: self
                .draining
                .iter()
                .map(|d| ((d.service, d.dest), d.since))
                .collect(),
        }
    }

    /// The plan as pretty-printed JSON.
    #[cfg(feature = "config")]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serializes")
    }

    /// A plan from JSON.
    #[cfg(feature = "config")]
    pub fn from_json(text: &str) -> Result<Plan, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl fmt::Display for Plan {
    /// The changes as ipvsadm rules (`--set`, `-A`, `-E`, `-D`, `-a`,
    /// `-e`, `-d`), one a line, thresholds included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rules::write_with(
            &self.to_rules(),
            &WriteOptions::COMPLETE,
        ))
    }
}

impl<'a> IntoIterator for &'a Plan {
    type Item = &'a Change;
    type IntoIter = std::slice::Iter<'a, Change>;
    fn into_iter(self) -> Self::IntoIter {
        self.ops.iter()
    }
}

impl IntoIterator for Plan {
    type Item = Change;
    type IntoIter = std::vec::IntoIter<Change>;
    fn into_iter(self) -> Self::IntoIter {
        self.ops.into_iter()
    }
}

/// Whether two services have the same settings (stats aside).
fn service_config_eq(a: &Service, b: &Service) -> bool {
    a.key == b.key
        && a.scheduler == b.scheduler
        && a.persistence == b.persistence
        && a.kernel_flags() == b.kernel_flags()
        && a.persistence_engine == b.persistence_engine
}

/// Whether a destination as the kernel has it (`have`) has the settings
/// wanted (stats and connections aside).
///
/// The kernel turns the forwarding method of a destination whose address
/// is the director's own into "local node", whatever was asked: a local
/// destination therefore matches any method.
fn dest_config_eq(have: &Destination, want: &Destination) -> bool {
    have.address == want.address
        && have.port == want.port
        && (have.forward == want.forward || have.forward == ForwardMethod::Local)
        && have.weight == want.weight
        && have.upper_threshold == want.upper_threshold
        && have.lower_threshold == want.lower_threshold
}

/// The timeouts to set, if `desired` sets any that `actual` does not have.
fn timeouts_op(actual: Option<Timeouts>, desired: Option<Timeouts>) -> Option<Change> {
    let want = desired?;
    let have = actual.unwrap_or(Timeouts::UNCHANGED);
    let differs = |w: u32, h: u32| w != 0 && w != h;
    (differs(want.tcp, have.tcp)
        || differs(want.tcp_fin, have.tcp_fin)
        || differs(want.udp, have.udp))
    .then_some(Change::SetTimeouts { timeouts: want })
}

/// What becomes of a destination that is going away.
enum Fate {
    Delete,
    Drain,
    Wait,
}

struct Differ<'o> {
    drain: Option<&'o DrainOptions>,
    ops: Vec<Change>,
    draining: Vec<Draining>,
}

impl Differ<'_> {
    /// Decide for a destination of `key` that the desired state lacks.
    fn fate(&mut self, key: &ServiceKey, have: &Destination, service_removed: bool) -> Fate {
        let Some(drain) = self.drain else {
            return Fate::Delete;
        };
        let c = have.connections.unwrap_or_default();
        if c.active == 0 && c.inactive == 0 {
            return Fate::Delete;
        }
        let addr = have.socket_addr();
        let (fate, since) = if have.weight != 0 {
            (Fate::Drain, drain.now)
        } else {
            let since = drain.tracker.since(key, addr).unwrap_or(drain.now);
            let expired = drain
                .now
                .duration_since(since)
                .is_ok_and(|waited| waited >= drain.deadline);
            if expired {
                return Fate::Delete;
            }
            (Fate::Wait, since)
        };
        self.draining.push(Draining {
            service: *key,
            dest: addr,
            since,
            deadline: since.checked_add(drain.deadline).unwrap_or(since),
            active: c.active,
            inactive: c.inactive,
            service_removed,
        });
        fate
    }

    /// A service in both states.
    fn service(&mut self, have: &ServiceState, want: &ServiceState) {
        let key = want.service.key;
        if !service_config_eq(&have.service, &want.service) {
            self.ops.push(Change::UpdateService {
                service: want.service.config(),
            });
        }
        // Small services are scanned; big ones indexed.
        let have_index: Option<FastMap<SocketAddr, &Destination>> =
            (have.destinations.len() > SMALL_SERVICE).then(|| {
                have.destinations
                    .iter()
                    .map(|d| (d.socket_addr(), d))
                    .collect()
            });
        let find = |addr: SocketAddr| match &have_index {
            Some(ix) => ix.get(&addr).copied(),
            None => have.destinations.iter().find(|d| d.socket_addr() == addr),
        };
        let want_index: Option<FastSet<SocketAddr>> = (want.destinations.len() > SMALL_SERVICE)
            .then(|| {
                want.destinations
                    .iter()
                    .map(Destination::socket_addr)
                    .collect()
            });
        let wanted = |addr: SocketAddr| match &want_index {
            Some(ix) => ix.contains(&addr),
            None => want.destinations.iter().any(|d| d.socket_addr() == addr),
        };
        let mut updates = Vec::new();
        let mut seen: FastSet<SocketAddr> = FastSet::default();
        for (i, d) in want.destinations.iter().enumerate() {
            let addr = d.socket_addr();
            // A destination given twice: the first one counts.
            let dup = if want_index.is_some() {
                !seen.insert(addr)
            } else {
                want.destinations[..i]
                    .iter()
                    .any(|e| e.socket_addr() == addr)
            };
            if dup {
                continue;
            }
            match find(addr) {
                None => self.ops.push(Change::AddDestination {
                    service: key,
                    dest: d.config(),
                }),
                Some(h) if !dest_config_eq(h, d) => updates.push(Change::UpdateDestination {
                    service: key,
                    dest: d.config(),
                }),
                Some(_) => {}
            }
        }
        self.ops.append(&mut updates);
        let mut deletes = Vec::new();
        for h in &have.destinations {
            if wanted(h.socket_addr()) {
                continue;
            }
            match self.fate(&key, h, false) {
                Fate::Delete => deletes.push(Change::DeleteDestination {
                    service: key,
                    dest: h.config(),
                }),
                Fate::Drain => self.ops.push(Change::DrainDestination {
                    service: key,
                    dest: h.config().with_weight(0),
                }),
                Fate::Wait => {}
            }
        }
        self.ops.append(&mut deletes);
    }

    /// A service the desired state lacks.
    fn removed_service(&mut self, have: &ServiceState) {
        let key = have.service.key;
        if self.drain.is_none() {
            self.ops.push(Change::DeleteService { service: key });
            return;
        }
        let mut drains = Vec::new();
        let mut deletes = Vec::new();
        let mut waiting = false;
        for h in &have.destinations {
            match self.fate(&key, h, true) {
                Fate::Delete => deletes.push(Change::DeleteDestination {
                    service: key,
                    dest: h.config(),
                }),
                Fate::Drain => {
                    waiting = true;
                    drains.push(Change::DrainDestination {
                        service: key,
                        dest: h.config().with_weight(0),
                    });
                }
                Fate::Wait => waiting = true,
            }
        }
        if waiting {
            self.ops.append(&mut drains);
            self.ops.append(&mut deletes);
        } else {
            // Deleting the service deletes its destinations.
            self.ops.push(Change::DeleteService { service: key });
        }
    }
}

/// The changes that turn `actual` into `desired`.
///
/// Only settings are compared ([`Service::config`], [`Destination::config`]):
/// stats and connection counts never cause an operation. A service or
/// destination is identified by its key (service key; address and port):
/// a change of key is a delete and an add, anything else an update in
/// place. A plan never deletes and adds the same key.
///
/// Order, make before break:
/// 1. [`Change::SetTimeouts`], if `desired` sets timeouts `actual` lacks;
/// 2. for each desired service, in `desired`'s order: [`Change::AddService`] or
///    [`Change::UpdateService`], then its [`Change::AddDestination`]s, [`Change::UpdateDestination`]s,
///    [`Change::DrainDestination`]s and [`Change::DeleteDestination`]s (adds before removals, so
///    a service swapping destinations never has none);
/// 3. for each service `desired` lacks, in `actual`'s order:
///    [`Change::DeleteService`] (which takes its destinations with it), or,
///    when draining and some destination still has connections, the
///    drains and deletes of its destinations, the service being deleted
///    by a later diff once none is left draining.
///
/// Draining ([`DiffOptions::drain`]): a destination going away whose
/// active plus inactive connections ([`Destination::connections`]; unknown
/// counts as none) are not zero is drained instead of deleted: set to
/// weight 0 ([`Change::DrainDestination`]) if it is not there yet, else left alone
/// until its connections reach zero or the deadline passes, then deleted.
/// [`Plan::draining`] lists the destinations draining after the plan.
///
/// Applying the plan ([`Plan::replay`] or the kernel) and diffing again
/// gives an empty plan.
pub fn diff(actual: &State, desired: &State, opts: &DiffOptions) -> Plan {
    let mut d = Differ {
        drain: opts.drain.as_ref(),
        // Enough for adding the whole desired table.
        ops: Vec::with_capacity(1 + desired.services.len() + desired.dest_count()),
        draining: Vec::new(),
    };
    if let Some(op) = timeouts_op(actual.timeouts, desired.timeouts) {
        d.ops.push(op);
    }
    let have: FastMap<&ServiceKey, &ServiceState> = actual
        .services
        .iter()
        .map(|s| (&s.service.key, s))
        .collect();
    let mut wanted: FastSet<&ServiceKey> =
        FastSet::with_capacity_and_hasher(desired.services.len(), Default::default());
    for want in &desired.services {
        let key = &want.service.key;
        if !wanted.insert(key) {
            // A key given twice: the first one counts.
            continue;
        }
        match have.get(key) {
            Some(h) => d.service(h, want),
            None => {
                d.ops.push(Change::AddService {
                    service: want.service.config(),
                });
                let dests = &want.destinations;
                let mut seen = FastSet::default();
                for (i, dest) in dests.iter().enumerate() {
                    // A destination given twice: the first one counts.
                    let addr = dest.socket_addr();
                    let first = if dests.len() > SMALL_SERVICE {
                        seen.insert(addr)
                    } else {
                        !dests[..i].iter().any(|e| e.socket_addr() == addr)
                    };
                    if first {
                        d.ops.push(Change::AddDestination {
                            service: *key,
                            dest: dest.config(),
                        });
                    }
                }
            }
        }
    }
    let mut removed = FastSet::default();
    for h in &actual.services {
        if !wanted.contains(&h.service.key) && removed.insert(&h.service.key) {
            d.removed_service(h);
        }
    }
    d.ops.shrink_to_fit();
    Plan {
        ops: d.ops,
        draining: d.draining,
    }
}

/// The reconcile loop's memory: diff options, and the drains under way
/// from one plan to the next.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ipvs::state::{Reconciler, State};
///
/// let mut r = Reconciler::with_drain(Duration::from_secs(300));
/// let (actual, desired) = (State::new(), State::new());
/// let plan = r.plan(&actual, &desired, SystemTime::now());
/// assert!(plan.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reconciler {
    drain: Option<Duration>,
    tracker: DrainTracker,
}

impl Reconciler {
    /// Removed destinations are deleted at once.
    pub fn new() -> Self {
        Reconciler::default()
    }

    /// Removed destinations are drained for at most `deadline`.
    pub fn with_drain(deadline: Duration) -> Self {
        Reconciler {
            drain: Some(deadline),
            tracker: DrainTracker::default(),
        }
    }

    /// The plan from `actual` to `desired` at `now`; remembers the drains
    /// it leaves under way for the next call.
    pub fn plan(&mut self, actual: &State, desired: &State, now: SystemTime) -> Plan {
        let opts = DiffOptions {
            drain: self.drain.map(|deadline| DrainOptions {
                deadline,
                now,
                tracker: std::mem::take(&mut self.tracker),
            }),
        };
        let plan = diff(actual, desired, &opts);
        self.tracker = plan.drain_tracker();
        plan
    }

    /// The drains under way.
    pub fn tracker(&self) -> &DrainTracker {
        &self.tracker
    }

    /// Restore drains under way (say, after a restart).
    pub fn set_tracker(&mut self, tracker: DrainTracker) {
        self.tracker = tracker;
    }
}
