//! How evenly a service spreads its load: each destination's share of new
//! connections against its share of weight, and the likely reason when
//! they differ. Pure: it reads a [`Service`] and its [`Destination`]s as
//! the kernel reports them (with stats and connection counts) and touches
//! nothing.
//!
//! ```
//! use ipvs::cluster::BalanceReport;
//! use ipvs::{Connections, Destination, Scheduler, Service, ServiceKey, Stats};
//!
//! let svc = Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::WeightedRoundRobin);
//! let dest = |addr: &str, weight, conns| {
//!     let mut d = Destination::new(addr.parse().unwrap()).with_weight(weight);
//!     d.stats = Some(Stats { connections: conns, ..Stats::default() });
//!     d.connections = Some(Connections::default());
//!     d
//! };
//! let report = BalanceReport::new(&svc, &[dest("198.51.100.2:80", 1, 10), dest("198.51.100.6:80", 3, 30)]);
//! assert!(report.balanced);
//! assert_eq!(report.destinations[1].connection_share, 0.75);
//! assert_eq!(report.destinations[1].weight_share, 0.75);
//! ```

use std::fmt;
use std::net::SocketAddr;

use crate::{Destination, Scheduler, Service, ServiceKey};

/// Why a destination's share differs from what its weight says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The service is persistent: a client's connections all go where its
    /// first one went (for `timeout` seconds after its last), so the split
    /// follows the clients, not the weights. `templates` clients are
    /// pinned to this destination now.
    Persistence {
        /// The persistence timeout, in seconds.
        timeout: u32,
        /// Persistence templates pointing at this destination.
        templates: u32,
    },
    /// Weight 0 (quiesced, not removed) and still getting connections:
    /// existing ones live on, and persistent clients keep coming back to it
    /// while their templates last (unless `net.ipv4.vs.expire_quiescent_template=1`).
    Quiesced {
        /// New connections it got anyway.
        connections: u64,
        /// Persistence templates still pointing at it.
        templates: u32,
    },
    /// Few, long connections carry the traffic (keep-alive, streaming):
    /// connections are balanced, but bytes and packets are not, since IPVS
    /// balances connections, never requests.
    LongLivedConnections {
        /// This destination's share of incoming packets.
        traffic_share: f64,
        /// Its share of new connections.
        connection_share: f64,
        /// Its established connections now.
        active: u32,
    },
    /// The destination reached its upper connection threshold, so the
    /// scheduler skipped it.
    Overloaded {
        /// The threshold.
        upper_threshold: u32,
        /// Its connections now (active and inactive).
        connections: u32,
    },
    /// The scheduler ignores weights (other than 0), so shares are even.
    SchedulerIgnoresWeights {
        /// The scheduler.
        scheduler: String,
    },
    /// The scheduler picks by hashing addresses: with few clients the
    /// split is as uneven as the hash makes it.
    HashingScheduler {
        /// The scheduler.
        scheduler: String,
    },
    /// The scheduler picks by current connection counts, so the new
    /// connection split depends on how long connections last.
    LoadBasedScheduler {
        /// The scheduler.
        scheduler: String,
    },
    /// Too few connections to judge.
    FewConnections {
        /// New connections seen.
        total: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Persistence { timeout, templates } => write!(
                f,
                "persistence ({timeout} s): clients stick to the server of their first connection; \
                 {templates} client template(s) point here"
            ),
            Reason::Quiesced {
                connections,
                templates,
            } => write!(
                f,
                "quiesced (weight 0) but got {connections} new connection(s): \
                 {templates} persistence template(s) still send their clients here"
            ),
            Reason::LongLivedConnections {
                traffic_share,
                connection_share,
                active,
            } => write!(
                f,
                "long-lived connections: {:.1}% of the packets over {:.1}% of the connections \
                 ({active} established now)",
                traffic_share * 100.0,
                connection_share * 100.0
            ),
            Reason::Overloaded {
                upper_threshold,
                connections,
            } => write!(
                f,
                "over its upper threshold ({connections} connections, limit {upper_threshold})"
            ),
            Reason::SchedulerIgnoresWeights { scheduler } => {
                write!(f, "scheduler {scheduler} ignores weights other than 0")
            }
            Reason::HashingScheduler { scheduler } => {
                write!(
                    f,
                    "scheduler {scheduler} hashes addresses: few clients split unevenly"
                )
            }
            Reason::LoadBasedScheduler { scheduler } => write!(
                f,
                "scheduler {scheduler} follows current connection counts, not a fixed ratio"
            ),
            Reason::FewConnections { total } => {
                write!(f, "only {total} connection(s): too few to judge")
            }
        }
    }
}

/// One destination's part.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DestinationBalance {
    /// The destination.
    pub address: SocketAddr,
    /// Its weight.
    pub weight: u32,
    /// New connections in the window.
    pub connections: u64,
    /// Its share of the service's new connections (0..=1).
    pub connection_share: f64,
    /// Its share of the total weight.
    pub weight_share: f64,
    /// The share the scheduler aims at: the weight share for weighted
    /// schedulers, an even share for those that ignore weights, 0 for
    /// weight 0.
    pub expected_share: f64,
    /// Incoming packets in the window.
    pub packets_in: u64,
    /// Its share of incoming packets.
    pub traffic_share: f64,
    /// Established connections now.
    pub active: u32,
    /// Other connections now.
    pub inactive: u32,
    /// Persistence templates pointing at it now.
    pub templates: u32,
    /// Whether its connection share is within the tolerance of the expected one.
    pub balanced: bool,
    /// Likely reasons, when it is not (or when its traffic is not).
    pub reasons: Vec<Reason>,
}

/// The balance of one service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BalanceReport {
    /// The service.
    pub service: ServiceKey,
    /// Its scheduler.
    pub scheduler: String,
    /// Its persistence timeout, when persistent.
    pub persistence: Option<u32>,
    /// New connections in the window, over every destination.
    pub total_connections: u64,
    /// The tolerance used: how far (absolute share) a destination may be
    /// from its expected share and still count as balanced.
    pub tolerance: f64,
    /// Each destination, in the order given.
    pub destinations: Vec<DestinationBalance>,
    /// Whether every destination is within tolerance.
    pub balanced: bool,
    /// Reasons that concern the whole service.
    pub reasons: Vec<Reason>,
}

/// Whether a scheduler spreads by weight, ignores weights, or aims all at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aim {
    Weighted,
    Even,
    HighestWeight,
}

fn aim(s: &Scheduler) -> Aim {
    match s {
        Scheduler::RoundRobin
        | Scheduler::LeastConnection
        | Scheduler::DestinationHashing
        | Scheduler::LocalityBasedLeastConnection
        | Scheduler::LocalityBasedLeastConnectionReplication => Aim::Even,
        Scheduler::WeightedFailover => Aim::HighestWeight,
        _ => Aim::Weighted,
    }
}

fn hashing(s: &Scheduler) -> bool {
    matches!(
        s,
        Scheduler::SourceHashing | Scheduler::DestinationHashing | Scheduler::MaglevHashing
    )
}

fn load_based(s: &Scheduler) -> bool {
    matches!(
        s,
        Scheduler::LeastConnection
            | Scheduler::WeightedLeastConnection
            | Scheduler::ShortestExpectedDelay
            | Scheduler::NeverQueue
            | Scheduler::LocalityBasedLeastConnection
            | Scheduler::LocalityBasedLeastConnectionReplication
            | Scheduler::WeightedOverflow
            | Scheduler::TwoChoice
    )
}

impl BalanceReport {
    /// The report over the kernel's counters since they were last zeroed.
    pub fn new(service: &Service, destinations: &[Destination]) -> Self {
        Self::between(service, &[], destinations)
    }

    /// The report over what happened between two readings of the same
    /// service's destinations (`before` may be empty; a destination missing
    /// from it counts from zero).
    pub fn between(service: &Service, before: &[Destination], after: &[Destination]) -> Self {
        let counters = |d: &Destination| {
            d.stats
                .map(|s| (s.connections, s.packets_in))
                .unwrap_or((0, 0))
        };
        let rows: Vec<(&Destination, u64, u64)> = after
            .iter()
            .map(|d| {
                let (c1, p1) = counters(d);
                let (c0, p0) = before
                    .iter()
                    .find(|b| b.socket_addr() == d.socket_addr())
                    .map(counters)
                    .unwrap_or((0, 0));
                (d, c1.saturating_sub(c0), p1.saturating_sub(p0))
            })
            .collect();
        let total: u64 = rows.iter().map(|r| r.1).sum();
        let total_packets: u64 = rows.iter().map(|r| r.2).sum();
        let total_weight: u64 = rows.iter().map(|r| u64::from(r.0.weight)).sum();
        let live = rows.iter().filter(|r| r.0.weight > 0).count() as u64;
        let max_weight = rows.iter().map(|r| r.0.weight).max().unwrap_or(0);
        let aim = aim(&service.scheduler);
        let sched = service.scheduler.name().to_owned();
        let persistence = service.persistence.map(|p| p.timeout);
        let n_dests = rows.len().max(1) as f64;
        let share = |x: u64, of: u64| if of == 0 { 0.0 } else { x as f64 / of as f64 };

        let mut destinations = Vec::with_capacity(rows.len());
        for (d, conns, packets) in &rows {
            let weight_share = share(u64::from(d.weight), total_weight);
            let expected_share = match aim {
                _ if d.weight == 0 => 0.0,
                Aim::Weighted => weight_share,
                Aim::Even => share(1, live),
                Aim::HighestWeight => {
                    let top = rows.iter().filter(|r| r.0.weight == max_weight).count() as u64;
                    if d.weight == max_weight {
                        share(1, top)
                    } else {
                        0.0
                    }
                }
            };
            let connection_share = share(*conns, total);
            let traffic_share = share(*packets, total_packets);
            let c = d.connections.unwrap_or_default();
            // Binomial noise at this many connections, plus a floor.
            let noise = if total == 0 {
                1.0
            } else {
                3.0 * (expected_share * (1.0 - expected_share) / total as f64).sqrt()
            };
            let tol = 0.05_f64.max(noise);
            let balanced = total == 0 || (connection_share - expected_share).abs() <= tol;
            let mut reasons = Vec::new();
            if !balanced {
                if d.weight == 0 && *conns > 0 {
                    reasons.push(Reason::Quiesced {
                        connections: *conns,
                        templates: c.persistent,
                    });
                }
                if let Some(timeout) = persistence {
                    if d.weight > 0 || c.persistent > 0 {
                        reasons.push(Reason::Persistence {
                            timeout,
                            templates: c.persistent,
                        });
                    }
                }
                let open = c.active.saturating_add(c.inactive);
                if d.upper_threshold > 0 && open >= d.upper_threshold {
                    reasons.push(Reason::Overloaded {
                        upper_threshold: d.upper_threshold,
                        connections: open,
                    });
                }
            }
            // Load follows packets, not connections: flag it even when the
            // connection split is right.
            if total_packets > 0
                && total >= 2
                && (traffic_share - connection_share).abs() > 0.05_f64.max(2.0 * tol)
                && c.active > 0
            {
                reasons.push(Reason::LongLivedConnections {
                    traffic_share,
                    connection_share,
                    active: c.active,
                });
            }
            destinations.push(DestinationBalance {
                address: d.socket_addr(),
                weight: d.weight,
                connections: *conns,
                connection_share,
                weight_share,
                expected_share,
                packets_in: *packets,
                traffic_share,
                active: c.active,
                inactive: c.inactive,
                templates: c.persistent,
                balanced,
                reasons,
            });
        }
        let balanced = destinations.iter().all(|d| d.balanced);
        let mut reasons = Vec::new();
        if total > 0 && (total as f64) < 10.0 * n_dests {
            reasons.push(Reason::FewConnections { total });
        }
        let weights_differ = rows
            .iter()
            .any(|r| r.0.weight > 0 && r.0.weight != max_weight);
        if aim == Aim::Even && weights_differ {
            reasons.push(Reason::SchedulerIgnoresWeights {
                scheduler: sched.clone(),
            });
        }
        if !balanced {
            if let Some(timeout) = persistence {
                let templates = destinations.iter().map(|d| d.templates).sum();
                reasons.push(Reason::Persistence { timeout, templates });
            }
            if hashing(&service.scheduler) {
                reasons.push(Reason::HashingScheduler {
                    scheduler: sched.clone(),
                });
            }
            if load_based(&service.scheduler) {
                reasons.push(Reason::LoadBasedScheduler {
                    scheduler: sched.clone(),
                });
            }
        }
        BalanceReport {
            service: service.key,
            scheduler: sched,
            persistence,
            total_connections: total,
            tolerance: 0.05,
            destinations,
            balanced,
            reasons,
        }
    }

    /// The destination at `addr`.
    pub fn destination(&self, addr: SocketAddr) -> Option<&DestinationBalance> {
        self.destinations.iter().find(|d| d.address == addr)
    }

    /// Whether any reason (of the service or a destination) matches.
    pub fn has_reason(&self, pred: impl Fn(&Reason) -> bool) -> bool {
        self.reasons.iter().any(&pred)
            || self
                .destinations
                .iter()
                .any(|d| d.reasons.iter().any(&pred))
    }
}

impl fmt::Display for BalanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.service, self.scheduler)?;
        if let Some(t) = self.persistence {
            write!(f, " persistent {t}s")?;
        }
        writeln!(
            f,
            ": {} new connections, {}",
            self.total_connections,
            if self.balanced {
                "balanced as the weights say"
            } else {
                "NOT balanced as the weights say"
            }
        )?;
        writeln!(
            f,
            "  {:<24} {:>6} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7} {:>7} {:>6}",
            "destination",
            "weight",
            "w-share",
            "expected",
            "conns",
            "c-share",
            "traffic",
            "active",
            "inact",
            "templ"
        )?;
        for d in &self.destinations {
            writeln!(
                f,
                "  {:<24} {:>6} {:>7.1}% {:>7.1}% {:>7} {:>7.1}% {:>7.1}% {:>7} {:>7} {:>6}{}",
                d.address.to_string(),
                d.weight,
                d.weight_share * 100.0,
                d.expected_share * 100.0,
                d.connections,
                d.connection_share * 100.0,
                d.traffic_share * 100.0,
                d.active,
                d.inactive,
                d.templates,
                if d.balanced { "" } else { "  <- off" }
            )?;
            for r in &d.reasons {
                writeln!(f, "      {}: {r}", d.address)?;
            }
        }
        for r in &self.reasons {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connections, Stats};

    fn dest(addr: &str, weight: u32, conns: u64, packets: u64, c: Connections) -> Destination {
        let mut d = Destination::new(addr.parse().unwrap()).with_weight(weight);
        d.stats = Some(Stats {
            connections: conns,
            packets_in: packets,
            ..Stats::default()
        });
        d.connections = Some(c);
        d
    }

    fn svc(s: Scheduler) -> Service {
        Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), s)
    }

    #[test]
    fn wrr_exact_split_is_balanced() {
        let ds = [
            dest("198.51.100.2:80", 1, 10, 50, Connections::default()),
            dest("198.51.100.6:80", 2, 20, 100, Connections::default()),
            dest("198.51.100.10:80", 3, 30, 150, Connections::default()),
        ];
        let r = BalanceReport::new(&svc(Scheduler::WeightedRoundRobin), &ds);
        assert!(r.balanced, "{r}");
        assert_eq!(r.total_connections, 60);
        assert!(r.reasons.is_empty(), "{r}");
        assert!((r.destinations[2].weight_share - 0.5).abs() < 1e-9);
    }

    #[test]
    fn persistence_explains_one_client_on_one_server() {
        let one = Connections {
            active: 0,
            inactive: 30,
            persistent: 1,
        };
        let ds = [
            dest("198.51.100.2:80", 1, 0, 0, Connections::default()),
            dest("198.51.100.6:80", 2, 30, 150, one),
            dest("198.51.100.10:80", 3, 0, 0, Connections::default()),
        ];
        let r = BalanceReport::new(
            &svc(Scheduler::WeightedRoundRobin).with_persistence(300),
            &ds,
        );
        assert!(!r.balanced);
        let d = &r.destinations[1];
        assert_eq!(d.connection_share, 1.0);
        assert!(
            d.reasons.contains(&Reason::Persistence {
                timeout: 300,
                templates: 1
            }),
            "{r}"
        );
        assert!(r.has_reason(|x| matches!(x, Reason::Persistence { .. })));
        assert!(r.to_string().contains("persistence (300 s)"), "{r}");
    }

    #[test]
    fn quiesced_destination_with_templates() {
        let ds = [
            dest(
                "198.51.100.2:80",
                0,
                12,
                0,
                Connections {
                    active: 0,
                    inactive: 2,
                    persistent: 1,
                },
            ),
            dest("198.51.100.6:80", 1, 10, 0, Connections::default()),
        ];
        let r = BalanceReport::new(
            &svc(Scheduler::WeightedRoundRobin).with_persistence(60),
            &ds,
        );
        assert_eq!(r.destinations[0].expected_share, 0.0);
        assert!(r.destinations[0].reasons.contains(&Reason::Quiesced {
            connections: 12,
            templates: 1
        }));
    }

    #[test]
    fn rr_ignores_weights_and_says_so() {
        let ds = [
            dest("198.51.100.2:80", 1, 20, 0, Connections::default()),
            dest("198.51.100.6:80", 3, 20, 0, Connections::default()),
            dest("198.51.100.10:80", 0, 0, 0, Connections::default()),
        ];
        let r = BalanceReport::new(&svc(Scheduler::RoundRobin), &ds);
        assert!(r.balanced, "{r}");
        assert_eq!(r.destinations[0].expected_share, 0.5);
        assert!(
            r.reasons
                .iter()
                .any(|x| matches!(x, Reason::SchedulerIgnoresWeights { .. }))
        );
    }

    #[test]
    fn keep_alive_shows_as_long_lived_connections() {
        let ds = [
            dest(
                "198.51.100.2:80",
                1,
                50,
                5000,
                Connections {
                    active: 3,
                    inactive: 0,
                    persistent: 0,
                },
            ),
            dest(
                "198.51.100.6:80",
                1,
                50,
                500,
                Connections {
                    active: 0,
                    inactive: 0,
                    persistent: 0,
                },
            ),
        ];
        let r = BalanceReport::new(&svc(Scheduler::RoundRobin), &ds);
        assert!(r.balanced);
        assert!(matches!(
            r.destinations[0].reasons[0],
            Reason::LongLivedConnections { active: 3, .. }
        ));
    }

    #[test]
    fn between_two_readings_counts_the_window_only() {
        let before = [dest("198.51.100.2:80", 1, 100, 0, Connections::default())];
        let after = [
            dest("198.51.100.2:80", 1, 110, 0, Connections::default()),
            dest("198.51.100.6:80", 1, 10, 0, Connections::default()),
        ];
        let r = BalanceReport::between(&svc(Scheduler::RoundRobin), &before, &after);
        assert_eq!(r.destinations[0].connections, 10);
        assert_eq!(r.destinations[1].connections, 10);
        assert!(r.balanced);
    }

    #[test]
    fn failover_aims_everything_at_the_heaviest() {
        let ds = [
            dest("198.51.100.2:80", 1, 0, 0, Connections::default()),
            dest("198.51.100.6:80", 5, 40, 0, Connections::default()),
        ];
        let r = BalanceReport::new(&svc(Scheduler::WeightedFailover), &ds);
        assert_eq!(r.destinations[1].expected_share, 1.0);
        assert!(r.balanced, "{r}");
    }
}
