//! One reconcile round of a run: read the table (or trust what the last
//! round left), respect operators' drains, notice drift, diff against the
//! effective desired state with the state module's [`Reconciler`]
//! (draining included) and apply the plan.
//!
//! A run manages only the services of its configuration (and, until they
//! are gone, those a reload removed); other services in the table are
//! never touched.
//!
//! **An operator's drain is not undone.** A destination the last round
//! left at a non-zero weight, found at weight 0 (`ipvsadm -e ... -w 0`),
//! was drained by hand: it stays at weight 0 ([`Event::OperatorDrain`])
//! until its weight is set again by hand or it leaves the table
//! ([`Event::OperatorDrainEnded`]); health may still remove it. (The run's
//! own drains, of destinations leaving the configuration with
//! connections, are the state module's, [`crate::state::DrainOptions`].)
//!
//! **Drift is repaired.** Anything else that differs from what the last
//! round left (a destination or service deleted, a weight or scheduler
//! changed, a destination added by hand to a managed service) is put back
//! as the effective state says, with an [`Event::DriftRepaired`] per
//! repair.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::event::Event;
use super::table::Table;
use crate::ServiceKey;
use crate::client::Error;
use crate::state::{ApplyReport, Change, DiffOptions, Plan, Reconciler, State, diff};

/// What a run remembers from one round to the next.
#[derive(Debug, Default)]
pub struct Reconcile {
    reconciler: Reconciler,
    last: Option<State>,
    need_read: bool,
    held: HashSet<(ServiceKey, SocketAddr)>,
    ours: HashSet<ServiceKey>,
}

/// One round.
#[derive(Debug)]
pub struct Round {
    /// Whether the table was read (else the last round's result was
    /// trusted).
    pub read: bool,
    /// The plan.
    pub plan: Plan,
    /// What became of it.
    pub report: ApplyReport,
    /// Operators' drains, drift repaired, a failure.
    pub events: Vec<Event>,
}

/// The services of `state` in `keys`, and its timeouts.
fn restrict(state: &State, keys: &HashSet<ServiceKey>) -> State {
    State {
        timeouts: state.timeouts,
        services: state
            .services
            .iter()
            .filter(|s| keys.contains(&s.service.key))
            .cloned()
            .collect(),
    }
}

fn touches(op: &Change, item: &(ServiceKey, Option<SocketAddr>)) -> bool {
    op.service_key() == Some(&item.0)
        && match item.1 {
            None => matches!(
                op,
                Change::AddService { .. }
                    | Change::UpdateService { .. }
                    | Change::DeleteService { .. }
            ),
            Some(d) => op.dest().is_some_and(|x| x.socket_addr() == d),
        }
}

impl Reconcile {
    /// Destinations leaving the table with connections drain for at most
    /// `drain` (`None`: deleted at once).
    pub fn new(drain: Option<Duration>) -> Self {
        Reconcile {
            reconciler: drain.map(Reconciler::with_drain).unwrap_or_default(),
            ..Reconcile::default()
        }
    }

    /// The destinations held at weight 0 by an operator's drain.
    pub fn held(&self) -> &HashSet<(ServiceKey, SocketAddr)> {
        &self.held
    }

    /// Make the next round read the table.
    pub fn force_read(&mut self) {
        self.need_read = true;
    }

    /// One round towards `desired`. With `read` false, and a previous
    /// round that went well, the table is taken to be what that round
    /// left (a quick round for a health transition; periodic rounds read,
    /// and catch drift).
    pub fn round(
        &mut self,
        table: &mut dyn Table,
        desired: &State,
        read: bool,
    ) -> Result<Round, Error> {
        let read = read || self.need_read || self.last.is_none();
        self.ours
            .extend(desired.services.iter().map(|s| s.service.key));
        let actual = if read {
            restrict(&table.read()?, &self.ours)
        } else {
            self.last.clone().unwrap_or_default()
        };
        let mut events = Vec::new();
        let mut drifted: Vec<(ServiceKey, Option<SocketAddr>)> = Vec::new();
        if read {
            if let Some(last) = self.last.take() {
                self.notice(&last, &actual, &mut drifted, &mut events);
                self.last = Some(last);
            }
        }
        // Holds: kept while the destination sits at weight 0 and health
        // keeps it in the table.
        let mut desired = desired.clone();
        let mut ended = Vec::new();
        self.held.retain(|&(k, d)| {
            let at_zero = actual
                .service(&k)
                .and_then(|s| s.dest(d))
                .is_some_and(|x| x.weight == 0);
            let want = desired
                .service_mut(&k)
                .and_then(|s| s.destinations.iter_mut().find(|x| x.socket_addr() == d));
            match (at_zero, want) {
                (true, Some(w)) => {
                    w.weight = 0;
                    true
                }
                _ => {
                    ended.push(Event::OperatorDrainEnded {
                        service: k,
                        dest: d,
                    });
                    false
                }
            }
        });
        events.extend(ended);

        let plan = self.reconciler.plan(&actual, &desired, SystemTime::now());
        let report = if plan.is_empty() {
            ApplyReport::default()
        } else {
            table.apply(&plan, &actual)
        };
        for item in &drifted {
            if let Some(op) = report.applied.iter().find(|op| touches(op, item)) {
                events.push(Event::DriftRepaired {
                    service: item.0,
                    dest: item.1,
                    repair: op.to_string(),
                });
            }
        }
        let mut left = actual;
        for op in &report.applied {
            let _ = left.replay(op);
        }
        self.last = Some(left);
        if report.is_ok() {
            self.need_read = false;
            self.ours = desired.services.iter().map(|s| s.service.key).collect();
            // Services still draining stay ours until they are gone.
            self.ours.extend(plan.draining.iter().map(|d| d.service));
        } else {
            self.need_read = true;
            events.push(Event::ReconcileFailed {
                error: report.to_string(),
            });
        }
        Ok(Round {
            read,
            plan,
            report,
            events,
        })
    }

    /// Compare the table read with what the last round left.
    fn notice(
        &mut self,
        last: &State,
        actual: &State,
        drifted: &mut Vec<(ServiceKey, Option<SocketAddr>)>,
        events: &mut Vec<Event>,
    ) {
        for ls in &last.services {
            let key = ls.service.key;
            let Some(a) = actual.service(&key) else {
                drifted.push((key, None));
                continue;
            };
            if a.service.config() != ls.service.config() {
                drifted.push((key, None));
            }
            for ld in &ls.destinations {
                let addr = ld.socket_addr();
                match a.dest(addr) {
                    None => drifted.push((key, Some(addr))),
                    Some(ad) if ad.weight == 0 && ld.weight > 0 => {
                        if self.held.insert((key, addr)) {
                            events.push(Event::OperatorDrain {
                                service: key,
                                dest: addr,
                            });
                        }
                    }
                    // The end of an operator's drain is not drift.
                    Some(_) if self.held.contains(&(key, addr)) => {}
                    Some(ad) if ad.config() != ld.config() => drifted.push((key, Some(addr))),
                    Some(_) => {}
                }
            }
            for ad in &a.destinations {
                if ls.dest(ad.socket_addr()).is_none() {
                    drifted.push((key, Some(ad.socket_addr())));
                }
            }
        }
    }

    /// Remove every service the run manages (what `on_stop: remove` does).
    pub fn remove_ours(&mut self, table: &mut dyn Table) -> Result<Round, Error> {
        let actual = restrict(&table.read()?, &self.ours);
        let plan = diff(&actual, &State::new(), &DiffOptions::default());
        let report = if plan.is_empty() {
            ApplyReport::default()
        } else {
            table.apply(&plan, &actual)
        };
        let mut events = Vec::new();
        if !report.is_ok() {
            events.push(Event::ReconcileFailed {
                error: report.to_string(),
            });
        }
        Ok(Round {
            read: true,
            plan,
            report,
            events,
        })
    }
}
