//! The whole IPVS table as a value, and the loop orchestrators rebuild:
//! read the kernel's table, compare it with the one wanted, send the
//! difference.
//!
//! - [`State`]: every service with its destinations, plus the connection
//!   timeouts. Built in code, read from JSON, YAML or TOML (feature
//!   `config`), or from ipvsadm's rules ([`State::from_rules_text`]).
//! - [`diff`]: the smallest [`Plan`] of [`Change`]s that turns one state into
//!   another; settings change in place, never by delete and add.
//! - [`Plan::replay`]: what the kernel would do with a plan, in memory.
//! - Draining ([`DrainOptions`], [`Reconciler`]): removed destinations go
//!   to weight 0 first and are deleted once their connections are gone.
//! - With a client: [`State::from_snapshot`] reads what
//!   `Client::snapshot` returns, [`Plan::operations`] gives what
//!   `Client::execute_batch` sends.
//! - Against the kernel: [`State::read`] reads the table, [`Plan::apply`]
//!   sends a plan in batches and reports exactly what was applied
//!   ([`ApplyReport`]), rolling back on failure if asked
//!   ([`ApplyOptions::rollback`]); [`Reconciler::step`] and
//!   [`Reconciler::run`] are the reconcile loop, draining included. With
//!   an async client (feature `tokio` or `smol`): `State::read_async`,
//!   `Plan::apply_async`, `Reconciler::step_async` and `run_async`, the
//!   same code.
//!
//! ```
//! use ipvs::state::{diff, DiffOptions, ServiceState, State};
//! use ipvs::{Destination, Scheduler, Service, ServiceKey};
//!
//! let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
//! let mut desired = State::new();
//! desired.services.push(
//!     ServiceState::new(Service::new(key, Scheduler::WeightedRoundRobin))
//!         .with_dest(Destination::new("192.0.2.21:80".parse().unwrap()).with_weight(3)),
//! );
//! let mut actual = State::new();
//! let plan = diff(&actual, &desired, &DiffOptions::default());
//! assert_eq!(plan.to_string(), "\
//! -A -t 192.0.2.10:80 -s wrr
//! -a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 3
//! ");
//! plan.replay(&mut actual).unwrap();
//! assert!(diff(&actual, &desired, &DiffOptions::default()).is_empty());
//! ```

mod diff;
mod kernel;
mod replay;
mod save;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

pub use diff::{
    Change, DiffOptions, DrainOptions, DrainTracker, Draining, Plan, PlanSummary, Reconciler, diff,
};
pub use kernel::{
    ApplyOptions, ApplyReport, FailedChange, OnError, Rollback, RunOptions, Step, inverse_of,
};
pub use replay::ReplayError;
pub use save::{SaveError, save_rules};

use crate::model::{AddressFamily, Destination, Service, ServiceKey, Timeouts, ValidationError};
use crate::rules::{self, Rule, RulesError, WriteOptions};

/// A virtual service and its destinations.
///
/// In JSON, YAML and TOML the service's fields and `destinations` sit side
/// by side:
///
/// ```yaml
/// protocol: tcp
/// address: 192.0.2.10
/// port: 80
/// scheduler: wrr
/// destinations:
///   - address: 192.0.2.21
///     port: 80
///     forward: direct_route
///     weight: 3
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceState {
    /// The service.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub service: Service,
    /// Its destinations (real servers).
    #[cfg_attr(feature = "serde", serde(default))]
    pub destinations: Vec<Destination>,
}

impl ServiceState {
    /// A service without destinations.
    pub fn new(service: Service) -> Self {
        ServiceState {
            service,
            destinations: Vec::new(),
        }
    }

    /// Add a destination.
    pub fn with_dest(mut self, dest: Destination) -> Self {
        self.destinations.push(dest);
        self
    }

    /// The service's key.
    pub fn key(&self) -> &ServiceKey {
        &self.service.key
    }

    /// The destination at `addr`.
    pub fn dest(&self, addr: SocketAddr) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.socket_addr() == addr)
    }
}

/// The whole IPVS table of a network namespace: services with their
/// destinations, and the connection timeouts.
///
/// The services are a list, kept in the order given; [`State::sort`] puts
/// them (and their destinations) in ipvsadm's listing order. Two states
/// with the same settings in another order are equal by
/// [`State::config_eq`], and [`diff`] finds nothing between them.
///
/// `timeouts` set to `None` leaves the timeouts alone; inside, 0 means
/// "whatever the kernel has" (as with `ipvsadm --set`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// The connection timeouts, if this state sets them.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub timeouts: Option<Timeouts>,
    /// The virtual services.
    #[cfg_attr(feature = "serde", serde(default))]
    pub services: Vec<ServiceState>,
}

/// A state that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Two services with one key.
    #[error("service {0} is defined twice")]
    DuplicateService(ServiceKey),
    /// Two destinations with one address and port in a service.
    #[error("service {service}: destination {dest} is defined twice")]
    DuplicateDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// A service the kernel would refuse.
    #[error("service {service}: {error}")]
    InvalidService {
        /// The service.
        service: ServiceKey,
        /// Why.
        error: ValidationError,
    },
    /// A destination the kernel would refuse.
    #[error("service {service}, destination {dest}: {error}")]
    InvalidDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
        /// Why.
        error: ValidationError,
    },
    /// Rules that do not parse.
    #[error("rules: {0}")]
    Rules(#[from] RulesError),
    /// A rule that cannot apply to the rules before it (such as `-a` for a
    /// service never added).
    #[error("rule on line {line}: {error}")]
    Rule {
        /// The rule's line (or, for [`State::from_rules`], its position from 1).
        line: usize,
        /// Why.
        error: ReplayError,
    },
    /// JSON that does not read or write as a state.
    #[cfg(feature = "config")]
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML that does not read or write as a state.
    #[cfg(feature = "config")]
    #[error("YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// TOML that does not read as a state.
    #[cfg(feature = "config")]
    #[error("TOML: {0}")]
    TomlRead(#[from] toml::de::Error),
    /// A state that does not write as TOML.
    #[cfg(feature = "config")]
    #[error("TOML: {0}")]
    TomlWrite(#[from] toml::ser::Error),
}

/// Maps and sets over keys of the table: hashed fast (the keys come from
/// the caller's own files and the kernel, not from strangers).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// See [`FastMap`].
pub(crate) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Destinations from which a service's are indexed rather than scanned.
pub(crate) const SMALL_SERVICE: usize = 16;

/// ipvsadm's listing order for services: address services before fwmark
/// ones, then by family, protocol, address, port (`ipvs_cmp_services`).
pub(crate) fn ipvsadm_service_order(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    ipvsadm_service_rank(a).cmp(&ipvsadm_service_rank(b))
}

/// A place in ipvsadm's order as two numbers compared in turn. Every IPv4
/// or fwmark rank has its second number 0 and the last 32 bits of its first
/// 0: [`RankOrder`] sorts such ranks as single numbers.
pub(crate) type Rank = (u128, u64);

/// A service's place in [`ipvsadm_service_order`]. Address services: the
/// first bit 0, the family, the protocol (16 bits), then the address (as
/// the number its octets spell, which orders as `IpAddr` does within a
/// family) and the port: an IPv4 one's in the next 48 bits, an IPv6 one's
/// in the remaining 110 and the second number. Fwmark services: the first
/// bit 1, the fwmark, the family.
pub(crate) fn ipvsadm_service_rank(k: &ServiceKey) -> Rank {
    match k {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            let head = u128::from(address.is_ipv6()) << 126 | u128::from(protocol.to_raw()) << 110;
            let (high, low) = address_port(address, *port, 110);
            (head | high, low)
        }
        ServiceKey::Fwmark { fwmark, family } => {
            let family = u128::from(*family == AddressFamily::Ipv6);
            (1 << 127 | u128::from(*fwmark) << 95 | family << 94, 0)
        }
    }
}

/// ipvsadm's listing order for destinations: by family, address, port.
pub(crate) fn ipvsadm_dest_order(a: &Destination, b: &Destination) -> Ordering {
    ipvsadm_dest_rank(a).cmp(&ipvsadm_dest_rank(b))
}

/// A destination's place in [`ipvsadm_dest_order`]: the first bit the
/// family, then the address and the port (see [`ipvsadm_service_rank`]).
pub(crate) fn ipvsadm_dest_rank(d: &Destination) -> Rank {
    let (high, low) = address_port(&d.address, d.port, 127);
    (u128::from(d.address.is_ipv6()) << 127 | high, low)
}

/// An address followed by a port, in the last `bits` bits of the first
/// number (96 to 128) and, for IPv6, the second: an IPv4 one's 48 bits at
/// the top of those, an IPv6 one's 144 bits with their last `144 - bits`
/// in the second number.
///
/// ```text
/// address_port(198.51.100.1, 80, 127) = (0xc633_6401_0050 << 79, 0)
/// address_port(2001:db8::1, 80, 127) = (0x2001_0db8 << 79, 0x1_0050)
/// ```
fn address_port(a: &std::net::IpAddr, port: u16, bits: u32) -> Rank {
    match a {
        std::net::IpAddr::V4(a) => {
            let n = u128::from(u32::from(*a)) << 16 | u128::from(port);
            (n << (bits - 48), 0)
        }
        std::net::IpAddr::V6(a) => {
            let a = u128::from(*a);
            let spill = 128 - (bits - 16);
            let low = (a & ((1 << spill) - 1)) as u64;
            (a >> spill, low << 16 | u64::from(port))
        }
    }
}

/// Indices sorted by rank: each rank's first number, its last 32 bits
/// replaced by the index, sorted as one number; entries that agree in the
/// rest (IPv6 ones, or one listed twice) sorted again by their whole rank.
/// Cheaper to sort than `(rank, index)` pairs.
///
/// ```ignore
/// let mut order = RankOrder::default();
/// order.sort(dests.len(), |i| ipvsadm_dest_rank(&dests[i]));
/// let sorted: Vec<_> = order.indices().map(|i| &dests[i]).collect();
/// ```
#[derive(Debug, Default)]
pub(crate) struct RankOrder {
    keys: Vec<u128>,
}

impl RankOrder {
    const INDEX: u128 = u32::MAX as u128;

    /// Sort `0..len` by `rank`, ties by index.
    pub(crate) fn sort(&mut self, len: usize, rank: impl Fn(usize) -> Rank) {
        assert!(len <= u32::MAX as usize, "at most 2^32 entries are sorted");
        self.keys.clear();
        self.keys
            .extend((0..len).map(|i| rank(i).0 & !Self::INDEX | i as u128));
        self.keys.sort_unstable();
        if self.keys.windows(2).any(|w| w[0] >> 32 == w[1] >> 32) {
            self.sort_ties(rank);
        }
    }

    /// Sort again, by their whole rank, the runs of keys that agree but
    /// for the index.
    fn sort_ties(&mut self, rank: impl Fn(usize) -> Rank) {
        let index = |k: &u128| (*k & Self::INDEX) as usize;
        for run in self.keys.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
            if run.len() > 1 {
                run.sort_unstable_by_key(|k| (rank(index(k)), index(k)));
            }
        }
    }

    /// The sorted indices.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.keys.iter().map(|k| (k & Self::INDEX) as usize)
    }
}

impl State {
    /// An empty state that leaves the timeouts alone.
    pub fn new() -> Self {
        State::default()
    }

    /// Set the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Add a service.
    pub fn with_service(mut self, service: ServiceState) -> Self {
        self.services.push(service);
        self
    }

    /// The service with `key`.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceState> {
        self.services.iter().find(|s| s.service.key == *key)
    }

    /// The service with `key`, to change.
    pub fn service_mut(&mut self, key: &ServiceKey) -> Option<&mut ServiceState> {
        self.services.iter_mut().find(|s| s.service.key == *key)
    }

    /// How many destinations all services have together.
    pub fn dest_count(&self) -> usize {
        self.services.iter().map(|s| s.destinations.len()).sum()
    }

    /// Put services and destinations in ipvsadm's listing order (what
    /// `ipvsadm -S -n` prints).
    pub fn sort(&mut self) {
        self.services
            .sort_by(|a, b| ipvsadm_service_order(&a.service.key, &b.service.key));
        for s in &mut self.services {
            s.destinations.sort_by(ipvsadm_dest_order);
        }
    }

    /// This state, sorted, without what only the kernel reports (stats,
    /// connection counts).
    pub fn config(&self) -> State {
        let mut s = State {
            timeouts: self.timeouts,
            services: self
                .services
                .iter()
                .map(|s| ServiceState {
                    service: s.service.config(),
                    destinations: s.destinations.iter().map(Destination::config).collect(),
                })
                .collect(),
        };
        s.sort();
        s
    }

    /// Whether two states hold the same settings, in whatever order, stats
    /// and connection counts aside. As for [`diff`], a timeout that either
    /// side leaves alone (`timeouts` of `None`, or a field of 0) matches any
    /// value: a table read from the kernel (which always has timeouts)
    /// equals the state that was applied to it.
    pub fn config_eq(&self, other: &State) -> bool {
        fn same(a: u32, b: u32) -> bool {
            a == 0 || b == 0 || a == b
        }
        let timeouts = match (self.timeouts, other.timeouts) {
            (Some(a), Some(b)) => {
                same(a.tcp, b.tcp) && same(a.tcp_fin, b.tcp_fin) && same(a.udp, b.udp)
            }
            _ => true,
        };
        timeouts && self.config().services == other.config().services
    }

    /// Check the state as the kernel would: no key twice, and every service
    /// and destination valid ([`Service::validate`], [`Destination::validate`]).
    pub fn validate(&self) -> Result<(), StateError> {
        let mut keys = FastSet::with_capacity_and_hasher(self.services.len(), Default::default());
        let mut dests = FastSet::default();
        for s in &self.services {
            let key = s.service.key;
            if !keys.insert(key) {
                return Err(StateError::DuplicateService(key));
            }
            s.service
                .validate()
                .map_err(|error| StateError::InvalidService {
                    service: key,
                    error,
                })?;
            let indexed = s.destinations.len() > SMALL_SERVICE;
            dests.clear();
            for (i, d) in s.destinations.iter().enumerate() {
                let addr = d.socket_addr();
                let twice = if indexed {
                    !dests.insert(addr)
                } else {
                    s.destinations[..i].iter().any(|e| e.socket_addr() == addr)
                };
                if twice {
                    return Err(StateError::DuplicateDest {
                        service: key,
                        dest: addr,
                    });
                }
                d.validate(&key).map_err(|error| StateError::InvalidDest {
                    service: key,
                    dest: addr,
                    error,
                })?;
            }
        }
        Ok(())
    }

    /// The state as ipvsadm rules: `--set` first if the state sets
    /// timeouts, then each service (`-A`) followed by its destinations
    /// (`-a`), in ipvsadm's listing order.
    ///
    /// Rules do not hold everything a state can: as with `ipvsadm -S` and
    /// `ipvsadm -R`, a direct-routed or tunnelled destination of an address
    /// service reads back from rules on the service's port, whatever port
    /// it had (the kernel ignores that port; ipvsadm overrides it).
    /// And a state the kernel takes but ipvsadm's client-side rules refuse
    /// (one-packet scheduling on a TCP service, say) writes as rules that
    /// [`State::from_rules_text`] refuses. Service flag bits other than
    /// one-packet and the three scheduler flags (bits this crate does not
    /// name, kept from the kernel) have no rule form and are not written.
    pub fn to_rules(&self) -> Vec<Rule> {
        let mut sorted = self.clone();
        sorted.sort();
        let mut out = Vec::with_capacity(sorted.services.len() + sorted.dest_count() + 1);
        if let Some(timeouts) = sorted.timeouts {
            out.push(Rule::SetTimeouts { timeouts });
        }
        for s in sorted.services {
            let key = s.service.key;
            out.push(Rule::AddService {
                service: s.service.config(),
            });
            for d in s.destinations {
                out.push(Rule::AddDestination {
                    service: key,
                    dest: d.config(),
                });
            }
        }
        out
    }

    /// The state as ipvsadm rules text, thresholds included
    /// ([`WriteOptions::COMPLETE`]). For exactly what `ipvsadm -S -n`
    /// prints, use [`rules::write`] on [`State::to_rules`] of a state
    /// without timeouts.
    pub fn to_rules_text(&self) -> String {
        rules::write_with(&self.to_rules(), &WriteOptions::COMPLETE)
    }

    /// The state that running `rules` on an empty table gives, as
    /// `ipvsadm -R` would (each rule must apply: `-a` needs its service,
    /// `-A` of an existing service fails...). The result is validated.
    pub fn from_rules(rules: &[Rule]) -> Result<State, StateError> {
        let mut state = State::new();
        replay::replay_rules(
            &mut state,
            rules.iter().enumerate().map(|(i, r)| (i + 1, r)),
        )?;
        state.validate()?;
        Ok(state)
    }

    /// Parse ipvsadm rules text and run it on an empty table
    /// ([`State::from_rules`]); errors name the line.
    pub fn from_rules_text(text: &str) -> Result<State, StateError> {
        let pieces = rules::parse_pieces(text)?;
        let mut state = State::new();
        // Room for every service added, and so in the replay's index.
        let added = pieces
            .iter()
            .flatten()
            .filter(|p| matches!(p.rule, Rule::AddService { .. }))
            .count();
        state.services.reserve(added);
        replay::replay_rules(
            &mut state,
            pieces.iter().flatten().map(|p| (p.line, &p.rule)),
        )?;
        // Valid already: the parser validates each service and destination
        // it reads, and the replay refuses a service or destination twice.
        debug_assert!(state.validate().is_ok());
        Ok(state)
    }
}

#[cfg(feature = "config")]
impl State {
    /// Read a state from JSON, and validate it.
    pub fn from_json(text: &str) -> Result<State, StateError> {
        let state: State = serde_json::from_str(text)?;
        state.validate()?;
        Ok(state)
    }

    /// The state as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, StateError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Read a state from YAML, and validate it.
    ///
    /// The YAML has the shape of the JSON: enums are maps
    /// (`forward: {tunnel: {type: ipip}}`, `netmask: {v4: 255.255.255.0}`)
    /// or plain names (`forward: direct_route`), not YAML tags. A key given
    /// twice is an error; errors name the field and the line
    /// (``services[0]: missing field `scheduler` at line 2 column 5``).
    pub fn from_yaml(text: &str) -> Result<State, StateError> {
        // Enums as one-key maps or names, as JSON and TOML have them (not
        // YAML tags); errors keep their line and column.
        let state: State = serde_norway::with::singleton_map_recursive::deserialize(
            serde_norway::Deserializer::from_str(text),
        )?;
        state.validate()?;
        Ok(state)
    }

    /// The state as YAML, in the shape [`State::from_yaml`] reads.
    pub fn to_yaml(&self) -> Result<String, StateError> {
        let mut out = Vec::new();
        serde_norway::with::singleton_map_recursive::serialize(
            self,
            &mut serde_norway::Serializer::new(&mut out),
        )?;
        Ok(String::from_utf8(out).expect("the YAML emitter writes UTF-8"))
    }

    /// Read a state from TOML (`[[services]]` tables with
    /// `[[services.destinations]]`), and validate it.
    pub fn from_toml(text: &str) -> Result<State, StateError> {
        let state: State = toml::from_str(text)?;
        state.validate()?;
        Ok(state)
    }

    /// The state as TOML.
    pub fn to_toml(&self) -> Result<String, StateError> {
        Ok(toml::to_string(self)?)
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;
    use std::net::IpAddr;

    /// ipvsadm's `ipvs_cmp_services`, written out as the comparisons it
    /// makes, for the packed rank to be checked against.
    fn by_fields(a: &ServiceKey, b: &ServiceKey) -> Ordering {
        let fields = |k: &ServiceKey| match k {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => (0, k.family(), protocol.to_raw(), Some(*address), *port),
            ServiceKey::Fwmark { fwmark, family } => (*fwmark, *family, 0, None, 0),
        };
        fields(a).cmp(&fields(b))
    }

    #[test]
    fn the_packed_rank_orders_services_as_ipvsadm() {
        // Addresses that differ in the bits either number holds.
        let addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "192.0.2.1",
            "192.0.2.10",
            "198.51.100.1",
            "255.255.255.255",
            "::1",
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::1:0",
            "2001:db8::3:ffff",
            "2001:db8::4:0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut keys = vec![];
        for a in addrs {
            for port in [0, 80, 443, 65535] {
                keys.push(ServiceKey::tcp((a, port).into()));
                keys.push(ServiceKey::udp((a, port).into()));
                keys.push(ServiceKey::sctp((a, port).into()));
            }
        }
        for fwmark in [1, 2, 0xffff_ffff] {
            for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
                keys.push(ServiceKey::Fwmark { fwmark, family });
            }
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(ipvsadm_service_order(a, b), by_fields(a, b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn rank_order_sorts_as_the_whole_ranks_do() {
        // IPv4 and IPv6 destinations, many that agree in all but the last
        // bits of the address or in the port, some listed twice.
        let mut x: u64 = 1;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let dests: Vec<Destination> = (0..600)
            .map(|_| {
                let r = next();
                let address: IpAddr = match r % 3 {
                    0 => std::net::Ipv4Addr::from(0xc633_6400 | ((r >> 2) as u32 % 8)).into(),
                    1 => std::net::Ipv6Addr::from(
                        (0x2001_0db8_u128 << 96) | (u128::from(r >> 2) % 300_000),
                    )
                    .into(),
                    _ => std::net::Ipv6Addr::from(u128::from(r >> 4) % 4).into(),
                };
                Destination::new((address, (next() % 3) as u16).into())
            })
            .collect();
        for len in [0, 1, 2, 5, 17, 600] {
            let dests = &dests[..len];
            let mut order = RankOrder::default();
            order.sort(len, |i| ipvsadm_dest_rank(&dests[i]));
            let mut want: Vec<usize> = (0..len).collect();
            want.sort_by_key(|&i| (ipvsadm_dest_rank(&dests[i]), i));
            assert_eq!(order.indices().collect::<Vec<_>>(), want, "{len}");
        }
        let keys: Vec<ServiceKey> = dests
            .iter()
            .map(|d| ServiceKey::tcp((d.address, d.port).into()))
            .chain((0..50).map(|i| ServiceKey::Fwmark {
                fwmark: 1 + (i % 7),
                family: AddressFamily::Ipv6,
            }))
            .collect();
        let mut order = RankOrder::default();
        order.sort(keys.len(), |i| ipvsadm_service_rank(&keys[i]));
        let mut want: Vec<usize> = (0..keys.len()).collect();
        want.sort_by_key(|&i| (ipvsadm_service_rank(&keys[i]), i));
        assert_eq!(order.indices().collect::<Vec<_>>(), want);
    }

    #[test]
    fn the_dest_rank_orders_as_the_address_and_port() {
        let dests: Vec<Destination> = [
            "0.0.0.0:0",
            "192.0.2.1:80",
            "192.0.2.1:8080",
            "192.0.2.2:1",
            "192.0.2.3:0",
            "255.255.255.255:65535",
            "[::1]:80",
            "[2001:db8::1]:80",
            "[2001:db8::1]:65535",
            "[2001:db8::2]:0",
            "[2001:db8::3]:1",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
        ]
        .iter()
        .map(|a| Destination::new(a.parse().unwrap()))
        .collect();
        for a in &dests {
            for b in &dests {
                let want = (a.address, a.port).cmp(&(b.address, b.port));
                assert_eq!(ipvsadm_dest_order(a, b), want);
            }
        }
    }
}
