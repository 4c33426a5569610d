//! Linux IPVS (the kernel's layer-4 load balancer, LVS) over generic netlink.
//!
//! The modules, bottom up (each uses only those above it):
//!
//! | module | what it is | feature |
//! | --- | --- | --- |
//! | [`model`] | services, destinations, schedulers, flags, stats, timeouts, sync daemons; validated before anything is sent | |
//! | [`engine`] | sans-IO: the netlink request engine under every client (sequence numbers, batching, acknowledgements, dump retries and de-duplication, family resolution, extended ACKs) | |
//! | [`codec`] | sans-IO: the model to generic-netlink bytes and back, for every IPVS command | |
//! | [`client`] | sends operations to the kernel and reads the table: [`client::Client`] (blocking), `AsyncClient` (`TokioClient`, `SmolClient`), both driving the engine | `tokio` or `smol` for async |
//! | [`rules`] | ipvsadm's rules format (`ipvsadm -S -n` / `-R`), parsed and written | |
//! | [`state`] | the whole table as a value: read, diff into a plan, apply, reconcile with draining | `config` for JSON/YAML/TOML |
//! | `cluster` | real-server and director setup (VIPs, ARP sysctls, tunnels), the balance report | `cluster` |
//! | [`listing`] | the table as `ipvsadm -Ln` lists it, byte for byte, with its other views | |
//! | `health` | health checks of real servers that drive the table; `ipvsctl run` | `health` |
//! | `failover` | director failover: keepalived's VRRP as a child, the sync daemon following the role | `failover` |
//! | `import` | Piranha's `lvs.cf` and keepalived's `keepalived.conf` read into the state, keepalived.conf written | `import` |
//! | `metrics` | Prometheus metrics of the table, read at scrape time | `metrics` |
//! | `status` | a read-only HTTP server: `/metrics` and a status page | `status` |
//!
//! Words used throughout: a client *executes* [`client::Operation`]s
//! (`execute`, `execute_batch`); a [`state::Plan`] is a list of
//! [`state::Change`]s; *applying* a plan makes the kernel's table what it
//! says ([`state::Plan::apply`]); *replaying* it does the same to a
//! [`state::State`] in memory ([`state::Plan::replay`]).
//!
//! ## [`model`]
//!
//! Plain values, no I/O; every type is re-exported at the crate root.
//!
//! ```
//! use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};
//! let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
//! let svc = Service::new(key, Scheduler::WeightedRoundRobin).with_persistence(600);
//! svc.validate().unwrap();
//! let rs = Destination::new("192.0.2.21:80".parse().unwrap())
//!     .with_forward(ForwardMethod::DirectRoute)
//!     .with_weight(3);
//! rs.validate(&key).unwrap();
//! ```
//!
//! ## [`engine`]
//!
//! The request loop of every client, without a socket: jobs in, datagrams
//! out, datagrams in, answers out. Generic over the netlink protocol (IPVS,
//! rtnetlink and FOU use it).
//!
//! ```
//! use ipvs::codec::{Ipvs, IpvsMessage};
//! use ipvs::engine::{Engine, Job, Limits};
//! let mut engine = Engine::new(Ipvs, Limits::default());
//! engine.start(Job::Requests(vec![IpvsMessage::flush()]));
//! // The family is resolved first: the datagram to write asks nlctrl.
//! let datagram = engine.poll_transmit().unwrap();
//! assert_eq!(&datagram[4..6], &0x10u16.to_ne_bytes());
//! ```
//!
//! ## [`codec`]
//!
//! Requests to bytes and datagrams to replies, without a socket (also for
//! decoding captured traffic).
//!
//! ```
//! use ipvs::codec::{IpvsMessage, RequestKind, encode_request};
//! use ipvs::{Scheduler, Service, ServiceKey};
//! let svc = Service::new(ServiceKey::fwmark(7), Scheduler::RoundRobin);
//! let mut bytes = Vec::new();
//! encode_request(&IpvsMessage::new_service(&svc), 0x25, 1, RequestKind::Ack, &mut bytes);
//! assert_eq!(bytes.len() % 4, 0);
//! ```
//!
//! ## [`client`]
//!
//! Needs CAP_NET_ADMIN and the `ip_vs` module; errors are typed
//! ([`client::Error`]).
//!
//! ```no_run
//! use ipvs::client::{Client, Operation};
//! use ipvs::{Destination, Scheduler, Service, ServiceKey};
//! let client = Client::new()?;
//! let key = ServiceKey::tcp("192.0.2.10:80".parse()?);
//! client.execute(&Operation::AddService(Service::new(key, Scheduler::RoundRobin)))?;
//! let batch = client.execute_batch(&[
//!     Operation::AddDestination(key, Destination::new("192.0.2.21:80".parse()?)),
//!     Operation::AddDestination(key, Destination::new("192.0.2.22:80".parse()?)),
//! ])?;
//! assert!(batch.is_ok());
//! for entry in client.snapshot()? {
//!     println!("{} has {} destinations", entry.service.key, entry.destinations.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## [`rules`]
//!
//! ```
//! use ipvs::rules::{self, Rule};
//! let parsed = rules::parse("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m\n").unwrap();
//! assert!(matches!(parsed[1], Rule::AddDestination { .. }));
//! assert_eq!(rules::write(&parsed), "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 1\n");
//! ```
//!
//! ## [`state`]
//!
//! ```
//! use ipvs::state::{DiffOptions, State, diff};
//! let actual = State::from_rules_text("-A -t 192.0.2.10:80 -s rr\n").unwrap();
//! let desired = State::from_rules_text("-A -t 192.0.2.10:80 -s wrr\n").unwrap();
//! let plan = diff(&actual, &desired, &DiffOptions::default());
//! assert_eq!(plan.to_string(), "-E -t 192.0.2.10:80 -s wrr\n");
//! // plan.apply(&client, &actual, &ApplyOptions::default()) sends it; in memory:
//! let mut table = actual.clone();
//! plan.replay(&mut table).unwrap();
//! assert!(table.config_eq(&desired));
//! ```
//!
//! ## `cluster` (feature `cluster`)
//!
//! What the machines around the table need; every setup is idempotent and
//! undone from a journal.
//!
//! ```no_run
//! # #[cfg(feature = "cluster")] {
//! use ipvs::cluster::RealServerSetup;
//! let rs = RealServerSetup::dr("192.0.2.10".parse().unwrap()); // VIP on lo, ARP sysctls
//! println!("{}", rs.apply().unwrap());
//! # }
//! ```
//!
//! ## `health` (feature `health`)
//!
//! Probes of real servers, and the loop that keeps the table on what they
//! find.
//!
//! ```no_run
//! # #[cfg(feature = "health")]
//! # async fn demo() {
//! use std::time::Duration;
//! use ipvs::health::probe::{Probe, Target};
//! let target = Target::new("192.0.2.21:80".parse().unwrap());
//! println!("{:?}", Probe::Tcp.run(&target, Duration::from_secs(1)).await);
//! # }
//! ```
//!
//! ## [`listing`]
//!
//! ```
//! use ipvs::listing::{self, ListOptions};
//! use ipvs::state::ServiceState;
//! use ipvs::{Info, Scheduler, Service, ServiceKey, Version};
//! let info = Info { version: Version { major: 1, minor: 2, patch: 1 }, connection_table_size: 4096 };
//! let svc = ServiceState::new(Service::new(ServiceKey::tcp("192.0.2.10:80".parse().unwrap()), Scheduler::RoundRobin));
//! let text = listing::listing(&info, &[svc], &ListOptions::default());
//! assert!(text.contains("TCP  192.0.2.10:80 rr"));
//! ```
//!
//! ## `failover` (feature `failover`)
//!
//! A pair of directors: keepalived (VRRP only) runs as a child, its role
//! starts the connection sync daemon as master or backup.
//!
//! ```no_run
//! # #[cfg(all(feature = "failover", feature = "config"))] {
//! let settings: ipvs::failover::Settings = serde_json::from_str(
//!     r#"{"interface": "eth0", "virtual_router_id": 51, "priority": 150, "vips": ["198.51.100.100/24"]}"#,
//! ).unwrap();
//! println!("{settings:?}");
//! # }
//! ```
//!
//! ## `import` (feature `import`)
//!
//! ```no_run
//! # #[cfg(feature = "import")] {
//! use std::path::Path;
//! use ipvs::import::{self, Format};
//! let imported = import::load(Path::new("/etc/keepalived/keepalived.conf"), Format::Keepalived).unwrap();
//! for w in &imported.warnings { eprintln!("{w}"); }
//! print!("{}", imported.state.to_rules_text());
//! # }
//! ```
//!
//! ## `metrics` and `status` (features `metrics`, `status`)
//!
//! ```no_run
//! # #[cfg(feature = "metrics")] {
//! use ipvs::client::Client;
//! use ipvs::metrics::{Metrics, MetricsOptions};
//! use ipvs::state::State;
//! let metrics = Metrics::new(
//!     || Client::new().and_then(|c| State::read(&c)).map(|s| s.services).map_err(|e| e.to_string()),
//!     MetricsOptions::default(),
//! );
//! print!("{}", metrics.encode());
//! # }
//! ```
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod codec;
pub mod engine;
#[cfg(feature = "failover")]
pub mod failover;
#[cfg(feature = "health")]
pub mod health;
#[cfg(feature = "import")]
pub mod import;
pub mod listing;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod model;
pub mod rules;
pub mod state;
#[cfg(feature = "status")]
pub mod status;

pub use model::*;
