//! Batches: many operations per write, per-operation results.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipvs::client::{Error, Operation};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey, Timeouts, Tunnel};

use crate::common::{TestNs, normalise, sa};

/// What the table should be after a sequence of operations, and whether
/// each one should succeed (a model of the kernel's rules for the
/// operations used here).
#[derive(Default)]
struct Model {
    table: BTreeMap<ServiceKey, (Service, BTreeMap<SocketAddr, Destination>)>,
}

impl Model {
    /// Apply `op`; `Err` names the error the kernel should give.
    fn replay(&mut self, op: &Operation) -> Result<(), &'static str> {
        match op {
            Operation::AddService(s) => {
                if self.table.contains_key(&s.key) {
                    return Err("ServiceExists");
                }
                if matches!(s.scheduler, Scheduler::Other(_)) {
                    return Err("SchedulerNotFound");
                }
                self.table.insert(s.key, (s.clone(), BTreeMap::new()));
            }
            Operation::UpdateService(s) => match self.table.get_mut(&s.key) {
                None => return Err("ServiceNotFound"),
                Some((old, _)) => *old = s.clone(),
            },
            Operation::DeleteService(k) => {
                self.table.remove(k).ok_or("ServiceNotFound")?;
            }
            Operation::AddDestination(k, d) => {
                let (_, ds) = self.table.get_mut(k).ok_or("ServiceNotFound")?;
                if ds.contains_key(&d.socket_addr()) {
                    return Err("DestinationExists");
                }
                ds.insert(d.socket_addr(), d.clone());
            }
            Operation::UpdateDestination(k, d) => {
                let (_, ds) = self.table.get_mut(k).ok_or("ServiceNotFound")?;
                *ds.get_mut(&d.socket_addr()).ok_or("DestinationNotFound")? = d.clone();
            }
            Operation::DeleteDestination(k, a) => {
                let (_, ds) = self.table.get_mut(k).ok_or("ServiceNotFound")?;
                ds.remove(a).ok_or("DestinationNotFound")?;
            }
            Operation::Zero(Some(k)) => {
                self.table.get(k).ok_or("ServiceNotFound")?;
            }
            Operation::Zero(None) | Operation::SetTimeouts(_) => {}
            Operation::Flush => self.table.clear(),
            other => panic!("not modelled: {other}"),
        }
        Ok(())
    }

    fn expected(&self) -> Vec<(Service, Vec<Destination>)> {
        normalise(
            self.table
                .values()
                .map(|(s, ds)| (s.clone(), ds.values().cloned().collect()))
                .collect(),
        )
    }
}

fn error_name(e: &Error) -> &'static str {
    match e {
        Error::ServiceExists { .. } => "ServiceExists",
        Error::ServiceNotFound { .. } => "ServiceNotFound",
        Error::DestinationExists { .. } => "DestinationExists",
        Error::DestinationNotFound { .. } => "DestinationNotFound",
        Error::SchedulerNotFound { .. } => "SchedulerNotFound",
        _ => "other",
    }
}

/// The i-th address of 198.18.0.0/15.
fn bench_addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i))
}

/// A thousand operations of every kind on forty services, all valid.
///
/// Few services, many destinations: a table that the kernel dumps in one
/// datagram, which other tests' changes cannot disturb (see `serial`).
fn thousand_ops() -> Vec<Operation> {
    let mut ops = Vec::new();
    let dest = |i: u32, j: u32| {
        Destination::new(SocketAddr::new(bench_addr(10_000 + i * 16 + j), 8080)).with_weight(j + 1)
    };
    for i in 0..40u32 {
        let key = ServiceKey::tcp(SocketAddr::new(bench_addr(i), 80));
        ops.push(Operation::AddService(Service::new(
            key,
            Scheduler::RoundRobin,
        )));
        for j in 0..12 {
            ops.push(Operation::AddDestination(key, dest(i, j)));
        }
        ops.push(Operation::UpdateService(
            Service::new(key, Scheduler::WeightedRoundRobin).with_persistence(60 + i),
        ));
        for j in [0, 2, 4, 6] {
            ops.push(Operation::UpdateDestination(
                key,
                dest(i, j).with_weight(100 + j).with_thresholds(10, 5),
            ));
        }
        ops.push(Operation::UpdateDestination(
            key,
            dest(i, 1).with_forward(ForwardMethod::Tunnel(Tunnel::Ipip)),
        ));
        for j in [9, 10, 11] {
            ops.push(Operation::DeleteDestination(key, dest(i, j).socket_addr()));
        }
        if i % 5 == 0 {
            ops.push(Operation::DeleteService(key));
        }
        if i % 10 == 3 {
            ops.push(Operation::Zero(Some(key)));
        }
    }
    ops.push(Operation::Zero(None));
    ops.push(Operation::SetTimeouts(Timeouts {
        udp: 77,
        ..Timeouts::UNCHANGED
    }));
    // Pad to exactly a thousand: more destinations on service 1.
    let key = ServiceKey::tcp(SocketAddr::new(bench_addr(1), 80));
    let mut n = 0;
    while ops.len() < 1000 {
        ops.push(Operation::AddDestination(
            key,
            Destination::new(SocketAddr::new(bench_addr(30_000 + n), 80)),
        ));
        n += 1;
    }
    assert_eq!(ops.len(), 1000);
    ops
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_thousand_mixed_operations_all_succeed() {
    let ns = TestNs::new();
    let c = &ns.client;
    let ops = thousand_ops();
    let mut model = Model::default();
    for op in &ops {
        model
            .replay(op)
            .unwrap_or_else(|e| panic!("the model refuses {op}: {e}"));
    }
    let t0 = std::time::Instant::now();
    let result = c.execute_batch(&ops).unwrap();
    println!("1000 operations applied in {:?}", t0.elapsed());
    assert_eq!(result.results.len(), 1000);
    assert!(
        result.is_ok(),
        "{:?}",
        result.failures().take(5).collect::<Vec<_>>()
    );
    assert_eq!(result.succeeded(), 1000);
    assert_eq!(ns.table(), model.expected());
    assert_eq!(c.timeouts().unwrap().udp, 77);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn failing_operations_are_reported_and_the_others_applied() {
    let ns = TestNs::new();
    let c = &ns.client;
    // Over several writes: thousands of operations, a third failing, so
    // failures land on both sides of the client's chunk boundaries. Fifty
    // services with many destinations each (see `thousand_ops`).
    let mut ops = Vec::new();
    for i in 0..50u32 {
        let key = ServiceKey::tcp(SocketAddr::new(bench_addr(i), 443));
        let missing = ServiceKey::tcp(SocketAddr::new(bench_addr(i), 444));
        ops.push(Operation::AddService(Service::new(
            key,
            Scheduler::RoundRobin,
        )));
        for r in 0..30u32 {
            let d = Destination::new(SocketAddr::new(bench_addr(20_000 + i * 64 + r), 443));
            match (i * 30 + r) % 8 {
                0 => ops.push(Operation::AddService(Service::new(
                    key,
                    Scheduler::LeastConnection,
                ))),
                1 => ops.push(Operation::AddDestination(missing, d.clone())),
                2 => {
                    ops.push(Operation::AddDestination(key, d.clone()));
                    ops.push(Operation::AddDestination(key, d.clone().with_weight(3)));
                }
                3 => ops.push(Operation::DeleteDestination(key, d.socket_addr())),
                4 => ops.push(Operation::UpdateDestination(key, d.clone())),
                5 => ops.push(Operation::UpdateService(Service::new(
                    missing,
                    Scheduler::RoundRobin,
                ))),
                6 => ops.push(Operation::AddService(Service::new(
                    missing,
                    Scheduler::Other("nosuch".into()),
                ))),
                _ => ops.push(Operation::DeleteService(missing)),
            }
            ops.push(Operation::AddDestination(
                key,
                Destination::new(SocketAddr::new(bench_addr(40_000 + i * 64 + r), 443)),
            ));
            ops.push(Operation::Zero(Some(missing)));
        }
    }
    assert!(ops.len() > 4096, "{} operations", ops.len());
    let mut model = Model::default();
    let expected: Vec<Result<(), &str>> = ops.iter().map(|op| model.replay(op)).collect();
    let result = c.execute_batch(&ops).unwrap();
    assert_eq!(result.results.len(), ops.len());
    let got: Vec<Result<(), &str>> = result
        .results
        .iter()
        .map(|r| r.as_ref().map(|_| ()).map_err(error_name))
        .collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "operation {i}: {}", ops[i]);
    }
    let failures: Vec<usize> = result.failures().map(|(i, _)| i).collect();
    let expected_failures: Vec<usize> = expected
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failures, expected_failures);
    println!(
        "{} operations, {} failed as expected",
        ops.len(),
        failures.len()
    );
    // The failing ones named the right object.
    for (i, e) in result.failures() {
        match (&ops[i], e) {
            (Operation::AddService(s), Error::ServiceExists { service })
            | (Operation::UpdateService(s), Error::ServiceNotFound { service }) => {
                assert_eq!(*service, s.key)
            }
            (
                Operation::AddDestination(k, d),
                Error::DestinationExists {
                    service,
                    destination,
                },
            )
            | (
                Operation::UpdateDestination(k, d),
                Error::DestinationNotFound {
                    service,
                    destination,
                },
            ) => {
                assert_eq!((*service, *destination), (*k, d.socket_addr()))
            }
            (
                Operation::DeleteDestination(k, a),
                Error::DestinationNotFound {
                    service,
                    destination,
                },
            ) => {
                assert_eq!((*service, *destination), (*k, *a))
            }
            (
                Operation::AddDestination(k, _)
                | Operation::DeleteService(k)
                | Operation::Zero(Some(k)),
                Error::ServiceNotFound { service },
            ) => assert_eq!(service, k),
            (Operation::AddService(_), Error::SchedulerNotFound { name }) => {
                assert_eq!(name, "nosuch")
            }
            (op, e) => panic!("operation {i} ({op}) failed with {e:?}"),
        }
    }
    assert_eq!(ns.table(), model.expected());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn an_invalid_operation_means_nothing_is_sent() {
    let ns = TestNs::new();
    let c = &ns.client;
    let key = ServiceKey::tcp(sa("192.0.2.80:80"));
    let mut ops = vec![Operation::AddService(Service::new(
        key,
        Scheduler::RoundRobin,
    ))];
    for i in 0..500 {
        ops.push(Operation::AddDestination(
            key,
            Destination::new(SocketAddr::new(bench_addr(i), 80)),
        ));
    }
    ops.push(Operation::AddDestination(
        key,
        Destination::new(sa("198.51.100.80:80")).with_thresholds(1, 2),
    ));
    ops.push(Operation::SetTimeouts(Timeouts {
        tcp: 5,
        ..Timeouts::UNCHANGED
    }));
    let e = c.execute_batch(&ops).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidOperation {
                index: 501,
                source: ipvs::ValidationError::ThresholdOrder { .. }
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.errno(), None);
    assert!(c.services().unwrap().is_empty());
    assert_eq!(c.timeouts().unwrap(), Timeouts::KERNEL_DEFAULTS);
    // Without it, the batch goes through.
    ops.remove(501);
    assert!(c.execute_batch(&ops).unwrap().is_ok());
    assert_eq!(c.destinations(&key).unwrap().len(), 500);
    // An empty batch is fine and sends nothing.
    assert!(c.execute_batch(&[]).unwrap().results.is_empty());
}
