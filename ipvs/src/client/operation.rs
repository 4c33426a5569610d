//! What a client can ask, independent of how it is sent: shared by the
//! blocking and async clients, so each operation's validation, request and
//! error mapping is written once.

use std::net::SocketAddr;

use crate::codec::{Command, IpvsMessage, KernelError};
use crate::model::{DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::{Error, Result};

/// A change to the kernel's IPVS table: what batches are made of, and what
/// every single-change method of the clients sends.
///
/// ```
/// use ipvs::client::Operation;
/// use ipvs::{Destination, Scheduler, Service, ServiceKey};
/// let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
/// let ops = vec![
///     Operation::AddService(Service::new(key, Scheduler::RoundRobin)),
///     Operation::AddDestination(key, Destination::new("192.0.2.21:80".parse().unwrap())),
/// ];
/// assert_eq!(ops[1].to_string(), "add destination 192.0.2.21:80 to TCP 192.0.2.10:80");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Operation {
    /// Add a service.
    AddService(Service),
    /// Change a service's settings in place.
    UpdateService(Service),
    /// Delete a service and its destinations.
    DeleteService(ServiceKey),
    /// Add a destination to a service.
    AddDestination(ServiceKey, Destination),
    /// Change a destination's settings in place.
    UpdateDestination(ServiceKey, Destination),
    /// Remove a destination from a service.
    DeleteDestination(ServiceKey, SocketAddr),
    /// Set the timeouts that are non-zero.
    SetTimeouts(Timeouts),
    /// Zero the counters of one service, or of every service.
    Zero(Option<ServiceKey>),
    /// Delete every service.
    Flush,
    /// Start a sync daemon.
    StartDaemon(SyncDaemon),
    /// Stop a sync daemon.
    StopDaemon(DaemonState),
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::AddService(s) => write!(f, "add service {}", s.key),
            Operation::UpdateService(s) => write!(f, "update service {}", s.key),
            Operation::DeleteService(k) => write!(f, "delete service {k}"),
            Operation::AddDestination(k, d) => {
                write!(f, "add destination {} to {k}", d.socket_addr())
            }
            Operation::UpdateDestination(k, d) => {
                write!(f, "update destination {} of {k}", d.socket_addr())
            }
            Operation::DeleteDestination(k, a) => write!(f, "delete destination {a} of {k}"),
            Operation::SetTimeouts(t) => {
                write!(
                    f,
                    "set timeouts tcp {} tcpfin {} udp {}",
                    t.tcp, t.tcp_fin, t.udp
                )
            }
            Operation::Zero(Some(k)) => write!(f, "zero counters of {k}"),
            Operation::Zero(None) => f.write_str("zero all counters"),
            Operation::Flush => f.write_str("flush"),
            Operation::StartDaemon(d) => {
                write!(f, "start {} sync daemon on {}", d.state, d.interface)
            }
            Operation::StopDaemon(s) => write!(f, "stop {s} sync daemon"),
        }
    }
}

impl Operation {
    /// Validate, then build the request.
    pub(crate) fn request(&self) -> Result<IpvsMessage> {
        let msg = match self {
            Operation::AddService(s) => {
                s.validate()?;
                IpvsMessage::new_service(s)
            }
            Operation::UpdateService(s) => {
                s.validate()?;
                IpvsMessage::set_service(s)
            }
            Operation::DeleteService(k) => {
                k.validate()?;
                IpvsMessage::del_service(k)
            }
            Operation::AddDestination(k, d) => {
                k.validate()?;
                d.validate(k)?;
                IpvsMessage::new_dest(k, d)
            }
            Operation::UpdateDestination(k, d) => {
                k.validate()?;
                d.validate(k)?;
                IpvsMessage::set_dest(k, d)
            }
            Operation::DeleteDestination(k, a) => {
                k.validate()?;
                IpvsMessage::del_dest(k, a.ip(), a.port())
            }
            Operation::SetTimeouts(t) => IpvsMessage::set_config(t),
            Operation::Zero(k) => {
                if let Some(k) = k {
                    k.validate()?;
                }
                IpvsMessage::zero(k.as_ref())
            }
            Operation::Flush => IpvsMessage::flush(),
            Operation::StartDaemon(d) => {
                d.validate()?;
                IpvsMessage::new_daemon(d)
            }
            Operation::StopDaemon(s) => IpvsMessage::del_daemon(*s),
        };
        Ok(msg)
    }

    /// The typed error for the kernel refusing this operation.
    pub(crate) fn error(&self, e: KernelError) -> Error {
        use libc::{EEXIST, ENODEV, ENOENT, ESRCH};
        let command = self.command();
        match (self, e.errno) {
            (Operation::AddService(s), EEXIST) => Error::ServiceExists { service: s.key },
            (Operation::AddService(s) | Operation::UpdateService(s), ENOENT) => not_found_module(s),
            (
                Operation::UpdateService(Service { key, .. })
                | Operation::DeleteService(key)
                | Operation::AddDestination(key, _)
                | Operation::UpdateDestination(key, _)
                | Operation::DeleteDestination(key, _)
                | Operation::Zero(Some(key)),
                ESRCH,
            ) => Error::ServiceNotFound { service: *key },
            (Operation::AddDestination(key, d), EEXIST) => Error::DestinationExists {
                service: *key,
                destination: d.socket_addr(),
            },
            (Operation::UpdateDestination(key, d), ENOENT) => Error::DestinationNotFound {
                service: *key,
                destination: d.socket_addr(),
            },
            (Operation::DeleteDestination(key, a), ENOENT) => Error::DestinationNotFound {
                service: *key,
                destination: *a,
            },
            (Operation::StartDaemon(d), EEXIST) => Error::DaemonExists { state: d.state },
            (Operation::StartDaemon(d), ENODEV) => Error::InterfaceNotFound {
                name: d.interface.clone(),
            },
            (Operation::StopDaemon(s), ESRCH) => Error::DaemonNotFound { state: *s },
            _ => Error::kernel(command, e),
        }
    }

    fn command(&self) -> Command {
        match self {
            Operation::AddService(_) => Command::NEW_SERVICE,
            Operation::UpdateService(_) => Command::SET_SERVICE,
            Operation::DeleteService(_) => Command::DEL_SERVICE,
            Operation::AddDestination(..) => Command::NEW_DEST,
            Operation::UpdateDestination(..) => Command::SET_DEST,
            Operation::DeleteDestination(..) => Command::DEL_DEST,
            Operation::SetTimeouts(_) => Command::SET_CONFIG,
            Operation::Zero(_) => Command::ZERO,
            Operation::Flush => Command::FLUSH,
            Operation::StartDaemon(_) => Command::NEW_DAEMON,
            Operation::StopDaemon(_) => Command::DEL_DAEMON,
        }
    }
}

/// ENOENT on adding or updating a service: the kernel found no module for
/// the scheduler (`ip_vs_NAME`) or none for the persistence engine
/// (`ip_vs_pe_NAME`), and says no more. What was asked for tells which
/// when only one of them was looked up: the scheduler `none` is not, and
/// without an engine there is only the scheduler.
fn not_found_module(s: &Service) -> Error {
    use crate::model::Scheduler;
    match (&s.scheduler, &s.persistence_engine) {
        (Scheduler::None, Some(pe)) => Error::PersistenceEngineNotFound { name: pe.clone() },
        (scheduler, Some(pe)) => Error::SchedulerOrPersistenceEngineNotFound {
            scheduler: scheduler.name().to_owned(),
            persistence_engine: pe.clone(),
        },
        (scheduler, None) => Error::SchedulerNotFound {
            name: scheduler.name().to_owned(),
        },
    }
}

/// Validate every operation of a batch and build its requests; the first
/// invalid one fails the whole batch, before anything is sent.
pub(crate) fn batch_requests(ops: &[Operation]) -> Result<Vec<IpvsMessage>> {
    ops.iter()
        .enumerate()
        .map(|(index, op)| {
            op.request().map_err(|e| match e {
                Error::Validation(source) => Error::InvalidOperation { index, source },
                other => other,
            })
        })
        .collect()
}

/// The typed error for a refused read of `key` (`GET_SERVICE`, `GET_DEST`).
pub(crate) fn read_error(command: Command, key: Option<&ServiceKey>, e: KernelError) -> Error {
    match (key, e.errno) {
        (Some(key), libc::ESRCH) => Error::ServiceNotFound { service: *key },
        _ => Error::kernel(command, e),
    }
}

/// Services out of `GET_SERVICE` replies.
pub(crate) fn services(replies: &[IpvsMessage]) -> Result<Vec<Service>> {
    replies
        .iter()
        .filter_map(|m| m.service().transpose())
        .collect::<Result<_, _>>()
        .map_err(Error::from)
}

/// Daemons out of `GET_DAEMON` replies.
pub(crate) fn daemons(replies: &[IpvsMessage]) -> Result<Vec<SyncDaemon>> {
    replies
        .iter()
        .filter_map(|m| m.daemon().transpose())
        .collect::<Result<_, _>>()
        .map_err(Error::from)
}

/// The timeouts out of the `GET_CONFIG` reply.
pub(crate) fn timeouts(replies: &[IpvsMessage]) -> Result<Timeouts> {
    replies
        .first()
        .map(IpvsMessage::timeouts)
        .ok_or_else(|| Error::Decode("GET_CONFIG without a reply".into()))
}

/// The info out of the `GET_INFO` reply.
pub(crate) fn info(replies: &[IpvsMessage]) -> Result<Info> {
    let msg = replies
        .first()
        .ok_or_else(|| Error::Decode("GET_INFO without a reply".into()))?;
    Ok(msg.info()?)
}

/// A service and its destinations, as a snapshot reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations.
    pub destinations: Vec<Destination>,
}

/// What each operation of a batch did.
///
/// Every operation is attempted, in order, whatever happened to the ones
/// before it (the kernel processes each message on its own).
#[derive(Debug)]
pub struct BatchResult {
    /// One result per operation, in the order given.
    pub results: Vec<Result<()>>,
}

impl BatchResult {
    /// Whether every operation succeeded.
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(Result::is_ok)
    }
    /// How many operations succeeded.
    pub fn succeeded(&self) -> usize {
        self.results.iter().filter(|r| r.is_ok()).count()
    }
    /// The failures: index into the batch and error.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &Error)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }
    /// The first failure as an error, or `Ok` if all succeeded.
    pub fn into_result(self) -> Result<()> {
        self.results
            .into_iter()
            .find(Result::is_err)
            .unwrap_or(Ok(()))
    }
}

/// The typed errors for the refusals of the golden fixtures
/// (`tests/fixtures/*.json`, ipvsadm against a real kernel): the kernel's
/// reply, decoded, mapped as the clients map it. (Here because the mapping
/// is crate-private; `tests/golden.rs` checks those fixtures' requests.)
#[cfg(test)]
mod golden_errors {
    use super::*;
    use crate::codec::{Reply, decode};
    use crate::model::Scheduler;

    /// The kernel's refusal that ends the fixture `name`.
    fn refusal(name: &str) -> KernelError {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let family = json["family_id"].as_u64().unwrap() as u16;
        let last = json["messages"].as_array().unwrap().last().unwrap();
        assert_eq!(last["dir"], "reply");
        let hex = last["hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let frame = decode(&bytes, Some(family)).next().unwrap().unwrap();
        match frame.reply {
            Reply::Error(e) => e,
            other => panic!("{name}: not a refusal: {other:?}"),
        }
    }

    fn key() -> ServiceKey {
        ServiceKey::tcp("192.0.2.10:80".parse().unwrap())
    }

    fn rs() -> SocketAddr {
        "198.51.100.21:8080".parse().unwrap()
    }

    fn op(name: &str, op: Operation) -> Error {
        op.error(refusal(name))
    }

    #[test]
    fn services() {
        let svc = |s| Service::new(key(), s);
        let e = op(
            "error_add_service_exists",
            Operation::AddService(svc(Scheduler::WeightedRoundRobin)),
        );
        assert!(
            matches!(e, Error::ServiceExists { service } if service == key()),
            "{e:?}"
        );
        let e = op(
            "error_edit_service_missing",
            Operation::UpdateService(svc(Scheduler::RoundRobin)),
        );
        assert!(
            matches!(e, Error::ServiceNotFound { service } if service == key()),
            "{e:?}"
        );
        let e = op(
            "error_delete_service_missing",
            Operation::DeleteService(key()),
        );
        assert!(
            matches!(e, Error::ServiceNotFound { service } if service == key()),
            "{e:?}"
        );
        let e = read_error(
            Command::GET_SERVICE,
            Some(&key()),
            refusal("error_get_service_missing"),
        );
        assert!(
            matches!(e, Error::ServiceNotFound { service } if service == key()),
            "{e:?}"
        );
        let e = op(
            "error_unknown_scheduler",
            Operation::AddService(svc(Scheduler::Other("nosuch".into()))),
        );
        assert!(
            matches!(&e, Error::SchedulerNotFound { name } if name == "nosuch"),
            "{e:?}"
        );
        let e = op(
            "add_service_sched_twos",
            Operation::AddService(svc(Scheduler::TwoChoice)),
        );
        assert!(
            matches!(&e, Error::SchedulerNotFound { name } if name == "twos"),
            "{e:?}"
        );
        let e = op(
            "error_unknown_pe",
            Operation::AddService(
                svc(Scheduler::RoundRobin)
                    .with_persistence(60)
                    .with_persistence_engine("nosuch"),
            ),
        );
        assert!(
            matches!(&e, Error::SchedulerOrPersistenceEngineNotFound { scheduler, persistence_engine }
                if scheduler == "rr" && persistence_engine == "nosuch"),
            "{e:?}"
        );
        assert_eq!(e.errno(), Some(libc::ENOENT));
        // Only the engine was looked up: the scheduler `none` is not.
        let e = op(
            "error_unknown_pe",
            Operation::AddService(
                svc(Scheduler::None)
                    .with_persistence(60)
                    .with_persistence_engine("nosuch"),
            ),
        );
        assert!(
            matches!(&e, Error::PersistenceEngineNotFound { name } if name == "nosuch"),
            "{e:?}"
        );
    }

    #[test]
    fn destinations() {
        let add = || Operation::AddDestination(key(), Destination::new(rs()));
        let e = op("error_add_dest_exists", add());
        assert!(
            matches!(e, Error::DestinationExists { service, destination }
                if service == key() && destination == rs()),
            "{e:?}"
        );
        let e = op("error_add_dest_no_service", add());
        assert!(
            matches!(e, Error::ServiceNotFound { service } if service == key()),
            "{e:?}"
        );
        let e = op("error_add_dest_fresh_netns", add());
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    command: Command::NEW_DEST,
                    errno: libc::EINVAL,
                    message: None
                }
            ),
            "{e:?}"
        );
        let e = op(
            "error_edit_dest_missing",
            Operation::UpdateDestination(key(), Destination::new(rs()).with_weight(2)),
        );
        assert!(
            matches!(e, Error::DestinationNotFound { service, destination }
                if service == key() && destination == rs()),
            "{e:?}"
        );
        // Refused by our validation before sending; were it sent, ERANGE.
        let d = Destination::new(rs()).with_thresholds(10, 100);
        assert!(d.validate(&key()).is_err());
        let e = op(
            "error_threshold_upper_below_lower",
            Operation::AddDestination(key(), d),
        );
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    command: Command::NEW_DEST,
                    errno: libc::ERANGE,
                    message: None
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn daemons() {
        let start =
            |ifn: &str| Operation::StartDaemon(SyncDaemon::new(DaemonState::Master, ifn, 5));
        let e = op("error_start_daemon_no_interface", start("nosuch0"));
        assert!(
            matches!(&e, Error::InterfaceNotFound { name } if name == "nosuch0"),
            "{e:?}"
        );
        let e = op("error_start_daemon_running", start("dum0"));
        assert!(
            matches!(
                e,
                Error::DaemonExists {
                    state: DaemonState::Master
                }
            ),
            "{e:?}"
        );
        let e = op(
            "error_stop_daemon_not_running",
            Operation::StopDaemon(DaemonState::Master),
        );
        assert!(
            matches!(
                e,
                Error::DaemonNotFound {
                    state: DaemonState::Master
                }
            ),
            "{e:?}"
        );
    }
}
