//! The policy engine, without I/O: which probes a configuration needs
//! (one per distinct target, probe and source), what their results mean
//! for each destination, and the effective desired state.
//!
//! ```
//! use ipvs::health::{Monitor, RunConfig};
//! use ipvs::health::probe::{Failure, FailureReason, Outcome};
//! let config = RunConfig::from_yaml("
//! services:
//!   - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr,
//!      health: {check: {type: tcp, fall: 1}},
//!      destinations: [{address: 198.51.100.1, port: 80, weight: 2}]}
//!   - {protocol: tcp, address: 192.0.2.11, port: 80, scheduler: rr,
//!      health: {check: {type: tcp, fall: 1}},
//!      destinations: [{address: 198.51.100.1, port: 80, weight: 2}]}
//! ").unwrap();
//! let mut m = Monitor::new(config);
//! assert_eq!(m.probes().count(), 1, "two services, one real server, one probe");
//! let (state, _) = m.desired();
//! assert_eq!(state.dest_count(), 2);
//! let id = m.probes().next().unwrap().0;
//! let down = Outcome::Down(Failure { reason: FailureReason::Refused, detail: "refused".into() });
//! let events = m.record(id, &down);
//! assert_eq!(events.len(), 2, "one event per destination");
//! assert_eq!(m.desired().0.dest_count(), 0, "removed from both services");
//! ```
//!
//! The effective state of a service, from its configured destinations:
//! - unchecked destinations: as configured;
//! - live checked ones (up, and for [`Initial::Down`] services probed
//!   successfully once): at the weight their check asked for
//!   ([`Outcome::UpWithWeight`]) or else the configured one, ramped by
//!   slow start after a recovery;
//! - failed ones: absent ([`OnFailure::Remove`]) or at weight 0
//!   ([`OnFailure::Quiesce`]);
//! - while a quorum is lost (the live destinations' full weights add up
//!   to less than it), the sorry server is added at its weight and every
//!   other destination is at weight 0: it takes every new connection,
//!   and the real servers keep theirs and come back at once with the
//!   quorum.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use super::check::Timing;
use super::config::RunConfig;
use super::event::Event;
use super::policy::{Initial, OnFailure, ServiceHealth};
use super::probe::{Outcome, Probe, Target};
use super::status::TargetStatus;
use crate::ServiceKey;
use crate::state::{ServiceState, State};

/// A probe's identity within a run (kept across reloads while its target,
/// probe and source stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u64);

/// One probe: what it probes, how, when; and the destinations that share
/// its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Address, port and source.
    pub target: Target,
    /// What the probe does.
    pub probe: Probe,
    /// When it runs, and what its results do.
    pub timing: Timing,
    /// Every (service, destination) that shares it.
    pub dests: Vec<(ServiceKey, SocketAddr)>,
}

/// What a reload did to the probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeChanges {
    /// New probes.
    pub started: Vec<ProbeId>,
    /// Probes no destination needs any more.
    pub stopped: Vec<ProbeId>,
    /// Probes kept, their status and counters with them.
    pub kept: Vec<ProbeId>,
    /// Kept probes whose timing changed (to restart their timers).
    pub retimed: Vec<ProbeId>,
}

/// The monitor's maps, looked up on every probe result: a fast hasher
/// (the keys are our own, not an attacker's).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The health of a run: its configuration, its probes and what they
/// found, and the last effective state's decisions (for events).
#[derive(Debug)]
pub struct Monitor {
    config: RunConfig,
    specs: Map<ProbeId, ProbeSpec>,
    by_dest: Map<(ServiceKey, SocketAddr), ProbeId>,
    status: Map<ProbeId, TargetStatus>,
    quorum: Map<ServiceKey, bool>,
    live_weights: Map<(ServiceKey, SocketAddr), u32>,
    configured: Map<(ServiceKey, SocketAddr), u32>,
    next_id: u64,
}

/// The health settings of services without a `health:` block.
static NO_HEALTH: std::sync::LazyLock<ServiceHealth> =
    std::sync::LazyLock::new(ServiceHealth::default);

impl Monitor {
    /// A monitor for `config`; every target starts as never probed.
    pub fn new(config: RunConfig) -> Self {
        let mut m = Monitor {
            config: RunConfig::default(),
            specs: Map::default(),
            by_dest: Map::default(),
            status: Map::default(),
            quorum: Map::default(),
            live_weights: Map::default(),
            configured: Map::default(),
            next_id: 0,
        };
        m.reload(config);
        m
    }

    /// The running configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Every probe.
    pub fn probes(&self) -> impl Iterator<Item = (ProbeId, &ProbeSpec)> + '_ {
        self.specs.iter().map(|(id, s)| (*id, s))
    }

    /// A probe.
    pub fn probe(&self, id: ProbeId) -> Option<&ProbeSpec> {
        self.specs.get(&id)
    }

    /// What a probe found so far.
    pub fn status(&self, id: ProbeId) -> Option<&TargetStatus> {
        self.status.get(&id)
    }

    /// The probe of a destination, if it is checked.
    pub fn probe_of(&self, service: &ServiceKey, dest: SocketAddr) -> Option<ProbeId> {
        self.by_dest.get(&(*service, dest)).copied()
    }

    /// Run `config` from now on. Probes of the same target, probe and
    /// source as before are kept with their status and counters;
    /// the others start or stop.
    pub fn reload(&mut self, config: RunConfig) -> ProbeChanges {
        let mut old: HashMap<Target, Vec<(Probe, ProbeId, Timing)>> = HashMap::new();
        for (id, s) in &self.specs {
            old.entry(s.target)
                .or_default()
                .push((s.probe.clone(), *id, s.timing));
        }
        let mut specs: Map<ProbeId, ProbeSpec> = Map::default();
        let mut index: HashMap<Target, Vec<(Probe, ProbeId)>> = HashMap::new();
        let mut by_dest = Map::default();
        let mut changes = ProbeChanges::default();
        for (service, dest, check) in config.checked() {
            let target = check.target(dest);
            let here = index.entry(target).or_default();
            let id = match here.iter().find(|(p, _)| *p == check.probe) {
                Some((_, id)) => *id,
                None => {
                    let previous = old
                        .get(&target)
                        .and_then(|v| v.iter().find(|(p, ..)| *p == check.probe));
                    let id = match previous {
                        Some((_, id, timing)) => {
                            changes.kept.push(*id);
                            if *timing != check.timing() {
                                changes.retimed.push(*id);
                            }
                            *id
                        }
                        None => {
                            self.next_id += 1;
                            changes.started.push(ProbeId(self.next_id));
                            ProbeId(self.next_id)
                        }
                    };
                    here.push((check.probe.clone(), id));
                    specs.insert(
                        id,
                        ProbeSpec {
                            target,
                            probe: check.probe.clone(),
                            timing: check.timing(),
                            dests: Vec::new(),
                        },
                    );
                    id
                }
            };
            specs
                .get_mut(&id)
                .expect("inserted above")
                .dests
                .push((service, dest));
            by_dest.insert((service, dest), id);
        }
        changes.stopped = self
            .specs
            .keys()
            .filter(|id| !specs.contains_key(id))
            .copied()
            .collect();
        changes.stopped.sort();
        self.status.retain(|id, _| specs.contains_key(id));
        for id in specs.keys() {
            self.status.entry(*id).or_default();
        }
        let services: HashSet<ServiceKey> = config
            .state
            .services
            .iter()
            .map(|s| s.service.key)
            .collect();
        self.quorum.retain(|k, _| services.contains(k));
        self.configured = config
            .state
            .services
            .iter()
            .flat_map(|s| {
                let key = s.service.key;
                s.destinations
                    .iter()
                    .map(move |d| ((key, d.socket_addr()), d.weight))
            })
            .collect();
        self.specs = specs;
        self.by_dest = by_dest;
        self.config = config;
        changes
    }

    /// The weight `dest` of `service` has now if it is live: `None` if
    /// it is down or not yet up.
    fn live_weight(
        &self,
        health: &ServiceHealth,
        service: &ServiceKey,
        dest: SocketAddr,
        configured: u32,
    ) -> Option<u32> {
        let Some(id) = self.by_dest.get(&(*service, dest)) else {
            return Some(configured);
        };
        let s = self.status.get(id)?;
        let live = s.up && (health.initial == Initial::Up || s.ever_succeeded);
        if !live {
            return None;
        }
        let weight = s.weight.unwrap_or(configured);
        Some(match health.slow_start {
            Some(ramp) if s.recovered => ramp.weight(weight, s.since_up),
            _ => weight,
        })
    }

    /// Count a probe's result. Returns the destinations' up and down
    /// events (empty if nothing changed state), and whether any of its
    /// destinations' effective weight changed (the table needs a
    /// reconcile).
    pub fn record(&mut self, id: ProbeId, outcome: &Outcome) -> Vec<Event> {
        self.record_changed(id, outcome).0
    }

    /// [`Monitor::record`], and whether the effective state changed.
    pub fn record_changed(&mut self, id: ProbeId, outcome: &Outcome) -> (Vec<Event>, bool) {
        let Some(spec) = self.specs.get(&id) else {
            // A result of a probe a reload stopped.
            return (Vec::new(), false);
        };
        let weights = |m: &Monitor| -> Vec<Option<u32>> {
            spec.dests
                .iter()
                .map(|(k, d)| {
                    let configured = m.configured.get(&(*k, *d)).copied().unwrap_or(0);
                    m.live_weight(m.health(k), k, *d, configured)
                })
                .collect()
        };
        let before = weights(self);
        let status = self.status.entry(id).or_default();
        status.record(outcome, spec.timing.fall, spec.timing.rise);
        let after = weights(self);
        let mut events = Vec::new();
        for (((service, dest), b), a) in spec.dests.iter().zip(&before).zip(&after) {
            match (b, a) {
                (Some(_), None) => events.push(Event::DestDown {
                    service: *service,
                    dest: *dest,
                    action: self.health(service).on_failure,
                    reason: match outcome {
                        Outcome::Down(f) => f.to_string(),
                        // Up, but not live: an Initial::Down service
                        // cannot lose a destination on a success.
                        _ => "not up yet".into(),
                    },
                }),
                (None, Some(w)) => events.push(Event::DestUp {
                    service: *service,
                    dest: *dest,
                    weight: *w,
                }),
                _ => {}
            }
        }
        (events, before != after)
    }

    /// The effective desired state, and the events since the last call:
    /// weight changes of live destinations, quorum lost or regained, the
    /// sorry server in or out.
    pub fn desired(&mut self) -> (State, Vec<Event>) {
        let mut events = Vec::new();
        let mut state = State {
            timeouts: self.config.state.timeouts,
            services: Vec::with_capacity(self.config.state.services.len()),
        };
        let mut live_weights =
            Map::with_capacity_and_hasher(self.live_weights.len(), Default::default());
        for svc in &self.config.state.services {
            let key = svc.service.key;
            let health = self.config.services.get(&key).unwrap_or(&NO_HEALTH);
            let mut out = ServiceState::new(svc.service.clone());
            out.destinations.reserve(svc.destinations.len() + 1);
            let mut live_total: u64 = 0;
            for d in &svc.destinations {
                let addr = d.socket_addr();
                match self.live_weight(health, &key, addr, d.weight) {
                    Some(w) => {
                        // The quorum counts full weights, not ramp steps.
                        live_total += u64::from(
                            self.by_dest
                                .get(&(key, addr))
                                .and_then(|id| self.status.get(id)?.weight)
                                .unwrap_or(d.weight),
                        );
                        if let Some(&was) = self.live_weights.get(&(key, addr)) {
                            if was != w {
                                events.push(Event::DestWeight {
                                    service: key,
                                    dest: addr,
                                    from: was,
                                    to: w,
                                });
                            }
                        }
                        live_weights.insert((key, addr), w);
                        out.destinations.push(d.config().with_weight(w));
                    }
                    None => match health.on_failure {
                        OnFailure::Remove => {}
                        OnFailure::Quiesce => out.destinations.push(d.config().with_weight(0)),
                    },
                }
            }
            if let Some(q) = health.quorum {
                let had = self.quorum.get(&key).copied().unwrap_or(true);
                let has = q.holds(had, live_total);
                if has != had {
                    let sorry = health.sorry_server.as_ref().map(|s| s.socket_addr());
                    if has {
                        events.push(Event::QuorumRegained {
                            service: key,
                            live: live_total,
                            quorum: q.weight,
                        });
                        if let Some(dest) = sorry {
                            events.push(Event::SorryServerOut { service: key, dest });
                        }
                    } else {
                        events.push(Event::QuorumLost {
                            service: key,
                            live: live_total,
                            quorum: q.weight,
                        });
                        if let Some(dest) = sorry {
                            events.push(Event::SorryServerIn { service: key, dest });
                        }
                    }
                }
                self.quorum.insert(key, has);
                if let (false, Some(sorry)) = (has, &health.sorry_server) {
                    let sorry_addr = sorry.socket_addr();
                    for d in &mut out.destinations {
                        d.weight = 0;
                    }
                    match out
                        .destinations
                        .iter_mut()
                        .find(|d| d.socket_addr() == sorry_addr)
                    {
                        Some(d) => *d = sorry.config(),
                        None => out.destinations.push(sorry.config()),
                    }
                }
            }
            state.services.push(out);
        }
        self.live_weights = live_weights;
        (state, events)
    }

    fn health(&self, service: &ServiceKey) -> &ServiceHealth {
        self.config.services.get(service).unwrap_or(&NO_HEALTH)
    }

    /// Whether `service` has its quorum (true for services without one).
    pub fn has_quorum(&self, service: &ServiceKey) -> bool {
        self.quorum.get(service).copied().unwrap_or(true)
    }
}
