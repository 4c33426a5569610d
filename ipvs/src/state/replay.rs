//! A pure, in-memory stand-in for the kernel: what a plan or rules do to a
//! table.

use std::collections::hash_map::Entry;
use std::net::SocketAddr;

use super::{Change, FastMap, Plan, ServiceState, State, StateError};
use crate::model::{Destination, Service, ServiceKey, Stats, Timeouts};
use crate::rules::Rule;

/// Why the kernel would refuse an operation, as the in-memory simulator
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Adding a service that exists (`EEXIST`).
    #[error("service {0} exists already")]
    ServiceExists(ServiceKey),
    /// Changing a service that does not exist (`ESRCH`).
    #[error("no service {0}")]
    NoSuchService(ServiceKey),
    /// Adding a destination that exists (`EEXIST`).
    #[error("service {service}: destination {dest} exists already")]
    DestExists {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// Changing a destination that does not exist (`ENOENT`).
    #[error("service {service}: no destination {dest}")]
    NoSuchDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
}

/// A state with an index of its services, for applying many changes.
pub(crate) struct Table<'s> {
    state: &'s mut State,
    index: FastMap<ServiceKey, usize>,
    /// The service found or added last: rules name the same service many
    /// times in a row.
    last: Option<usize>,
}

impl<'s> Table<'s> {
    /// The index has room for as many services as `state` has room for.
    pub(crate) fn new(state: &'s mut State) -> Self {
        let mut index =
            FastMap::with_capacity_and_hasher(state.services.capacity(), Default::default());
        index.extend(
            state
                .services
                .iter()
                .enumerate()
                .map(|(i, s)| (s.service.key, i)),
        );
        Table {
            state,
            index,
            last: None,
        }
    }

    /// The state as it stands.
    pub(crate) fn state(&self) -> &State {
        self.state
    }

    /// The service with `key`, found through the index.
    pub(crate) fn find(&self, key: &ServiceKey) -> Option<&ServiceState> {
        self.index.get(key).map(|&i| &self.state.services[i])
    }

    fn service(&mut self, key: &ServiceKey) -> Result<&mut ServiceState, ReplayError> {
        let last = self.last.filter(|&i| {
            self.state
                .services
                .get(i)
                .is_some_and(|s| s.service.key == *key)
        });
        match last.or_else(|| self.index.get(key).copied()) {
            Some(i) => {
                self.last = Some(i);
                Ok(&mut self.state.services[i])
            }
            None => Err(ReplayError::NoSuchService(*key)),
        }
    }

    fn add_service(&mut self, service: &Service) -> Result<(), ReplayError> {
        let key = service.key;
        match self.index.entry(key) {
            Entry::Occupied(_) => return Err(ReplayError::ServiceExists(key)),
            Entry::Vacant(slot) => slot.insert(self.state.services.len()),
        };
        self.last = Some(self.state.services.len());
        self.state
            .services
            .push(ServiceState::new(service.config()));
        Ok(())
    }

    fn update_service(&mut self, service: &Service) -> Result<(), ReplayError> {
        let s = self.service(&service.key)?;
        let stats = s.service.stats;
        s.service = Service {
            stats,
            ..service.config()
        };
        Ok(())
    }

    fn delete_service(&mut self, key: &ServiceKey) -> Result<(), ReplayError> {
        let i = self
            .index
            .remove(key)
            .ok_or(ReplayError::NoSuchService(*key))?;
        self.state.services.remove(i);
        self.last = None;
        for s in &self.state.services[i..] {
            *self.index.get_mut(&s.service.key).expect("indexed") -= 1;
        }
        Ok(())
    }

    fn add_dest(&mut self, key: &ServiceKey, dest: &Destination) -> Result<(), ReplayError> {
        let s = self.service(key)?;
        let addr = dest.socket_addr();
        if s.dest(addr).is_some() {
            return Err(ReplayError::DestExists {
                service: *key,
                dest: addr,
            });
        }
        s.destinations.push(dest.config());
        Ok(())
    }

    fn dest_mut(
        &mut self,
        key: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<&mut Destination, ReplayError> {
        let s = self.service(key)?;
        s.destinations
            .iter_mut()
            .find(|d| d.socket_addr() == addr)
            .ok_or(ReplayError::NoSuchDest {
                service: *key,
                dest: addr,
            })
    }

    fn update_dest(&mut self, key: &ServiceKey, dest: &Destination) -> Result<(), ReplayError> {
        let d = self.dest_mut(key, dest.socket_addr())?;
        // Settings change; what the kernel counts stays.
        *d = Destination {
            connections: d.connections,
            stats: d.stats,
            ..dest.config()
        };
        Ok(())
    }

    fn delete_dest(&mut self, key: &ServiceKey, addr: SocketAddr) -> Result<(), ReplayError> {
        let s = self.service(key)?;
        let i = s
            .destinations
            .iter()
            .position(|d| d.socket_addr() == addr)
            .ok_or(ReplayError::NoSuchDest {
                service: *key,
                dest: addr,
            })?;
        s.destinations.remove(i);
        Ok(())
    }

    fn set_timeouts(&mut self, t: &Timeouts) {
        let have = self.state.timeouts.get_or_insert(Timeouts::UNCHANGED);
        for (have, want) in [
            (&mut have.tcp, t.tcp),
            (&mut have.tcp_fin, t.tcp_fin),
            (&mut have.udp, t.udp),
        ] {
            if want != 0 {
                *have = want;
            }
        }
    }

    fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), ReplayError> {
        fn zero_one(s: &mut ServiceState) {
            if let Some(st) = &mut s.service.stats {
                *st = Stats::default();
            }
            for d in &mut s.destinations {
                if let Some(st) = &mut d.stats {
                    *st = Stats::default();
                }
            }
        }
        match key {
            Some(k) => zero_one(self.service(k)?),
            None => self.state.services.iter_mut().for_each(zero_one),
        }
        Ok(())
    }

    pub(crate) fn op(&mut self, op: &Change) -> Result<(), ReplayError> {
        match op {
            Change::SetTimeouts { timeouts } => {
                self.set_timeouts(timeouts);
                Ok(())
            }
            Change::AddService { service } => self.add_service(service),
            Change::UpdateService { service } => self.update_service(service),
            Change::DeleteService { service } => self.delete_service(service),
            Change::AddDestination { service, dest } => self.add_dest(service, dest),
            Change::UpdateDestination { service, dest }
            | Change::DrainDestination { service, dest } => self.update_dest(service, dest),
            Change::DeleteDestination { service, dest } => {
                self.delete_dest(service, dest.socket_addr())
            }
        }
    }

    fn rule(&mut self, rule: &Rule) -> Result<(), ReplayError> {
        match rule {
            Rule::AddService { service } => self.add_service(service),
            Rule::UpdateService { service } => self.update_service(service),
            Rule::DeleteService { service } => self.delete_service(service),
            Rule::AddDestination { service, dest } => self.add_dest(service, dest),
            Rule::UpdateDestination { service, dest } => self.update_dest(service, dest),
            Rule::DeleteDestination { service, dest } => self.delete_dest(service, *dest),
            Rule::Clear => {
                self.state.services.clear();
                self.index.clear();
                self.last = None;
                Ok(())
            }
            Rule::SetTimeouts { timeouts } => {
                self.set_timeouts(timeouts);
                Ok(())
            }
            Rule::Zero { service } => self.zero(service.as_ref()),
        }
    }
}

pub(super) fn replay_rules<'r>(
    state: &mut State,
    rules: impl IntoIterator<Item = (usize, &'r Rule)>,
) -> Result<(), StateError> {
    let mut table = Table::new(state);
    for (line, rule) in rules {
        table
            .rule(rule)
            .map_err(|error| StateError::Rule { line, error })?;
    }
    Ok(())
}

impl State {
    /// Do what the kernel would do with one operation.
    pub fn replay(&mut self, op: &Change) -> Result<(), ReplayError> {
        Table::new(self).op(op)
    }

    /// Do what `ipvsadm` would do with one rule.
    pub fn replay_rule(&mut self, rule: &Rule) -> Result<(), ReplayError> {
        Table::new(self).rule(rule)
    }
}

impl Plan {
    /// Apply the plan to `state` in memory, as the kernel would apply it
    /// operation by operation: a pure simulator, for tests and dry runs.
    /// Settings change; stats and connection counts of what stays are
    /// kept. Stops at the first operation the kernel would refuse.
    pub fn replay(&self, state: &mut State) -> Result<(), ReplayError> {
        let mut table = Table::new(state);
        self.ops.iter().try_for_each(|op| table.op(op))
    }
}

// ---- bridges to the clients' operations

use crate::client::{Operation, ServiceEntry};

impl Change {
    /// The client operation that sends this op (a drain is an update at
    /// weight 0).
    pub fn to_operation(&self) -> Operation {
        match self {
            Change::SetTimeouts { timeouts } => Operation::SetTimeouts(*timeouts),
            Change::AddService { service } => Operation::AddService(service.clone()),
            Change::UpdateService { service } => Operation::UpdateService(service.clone()),
            Change::DeleteService { service } => Operation::DeleteService(*service),
            Change::AddDestination { service, dest } => {
                Operation::AddDestination(*service, dest.clone())
            }
            Change::UpdateDestination { service, dest }
            | Change::DrainDestination { service, dest } => {
                Operation::UpdateDestination(*service, dest.clone())
            }
            Change::DeleteDestination { service, dest } => {
                Operation::DeleteDestination(*service, dest.socket_addr())
            }
        }
    }
}

impl From<&Change> for Operation {
    fn from(op: &Change) -> Self {
        op.to_operation()
    }
}

impl Plan {
    /// The plan as client operations, in order, for a batch
    /// (`client.execute_batch(&plan.operations())`).
    pub fn operations(&self) -> Vec<Operation> {
        self.ops.iter().map(Change::to_operation).collect()
    }
}

impl Rule {
    /// The client operation that does what ipvsadm does with this rule
    /// (`-C` is a flush).
    pub fn to_operation(&self) -> Operation {
        match self {
            Rule::AddService { service } => Operation::AddService(service.clone()),
            Rule::UpdateService { service } => Operation::UpdateService(service.clone()),
            Rule::DeleteService { service } => Operation::DeleteService(*service),
            Rule::AddDestination { service, dest } => {
                Operation::AddDestination(*service, dest.clone())
            }
            Rule::UpdateDestination { service, dest } => {
                Operation::UpdateDestination(*service, dest.clone())
            }
            Rule::DeleteDestination { service, dest } => {
                Operation::DeleteDestination(*service, *dest)
            }
            Rule::Clear => Operation::Flush,
            Rule::SetTimeouts { timeouts } => Operation::SetTimeouts(*timeouts),
            Rule::Zero { service } => Operation::Zero(*service),
        }
    }
}

impl From<ServiceEntry> for ServiceState {
    fn from(e: ServiceEntry) -> Self {
        ServiceState {
            service: e.service,
            destinations: e.destinations,
        }
    }
}

impl State {
    /// The state a client snapshot describes (`client.snapshot()`, with
    /// `client.timeouts()` if the timeouts are to be compared too).
    pub fn from_snapshot(entries: Vec<ServiceEntry>, timeouts: Option<Timeouts>) -> State {
        State {
            timeouts,
            services: entries.into_iter().map(ServiceState::from).collect(),
        }
    }
}
