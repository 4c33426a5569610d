//! Tests that must run alone: scripts/test-kernel runs them after the
//! others, one at a time, with `IPVS_TEST_SERIAL=1`; without it they only
//! say they did not run.
//!
//! - On Linux 6.1 the kernel resumes a dump of services at an index into a
//!   service table shared by every namespace, so services added or deleted
//!   in *any* namespace while a large dump runs shift what it lists; judging
//!   such a dump needs a machine where nothing else changes IPVS.
//! - Making IPVS unavailable means unloading ip_vs, which would break every
//!   other test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipvs::client::{Client, Error, Operation};
use ipvs::codec::IpvsMessage;
use ipvs::{Destination, Scheduler, Service, ServiceKey};

use crate::assert_err;
use crate::common::{RawSocket, TestNs, run_ok};
use crate::concurrency::addr;

fn serial(what: &str) -> bool {
    let on = std::env::var_os("IPVS_TEST_SERIAL").is_some_and(|v| v == "1");
    if !on {
        println!("not run: {what}; scripts/test-kernel runs it alone with IPVS_TEST_SERIAL=1");
    }
    on
}

/// One dump of `keys`' namespace: (services listed, missing keys, keys
/// listed more than once).
fn judge(services: &[Service], keys: &[ServiceKey]) -> (usize, usize, usize) {
    let mut seen: HashMap<ServiceKey, u32> = HashMap::new();
    for s in services {
        *seen.entry(s.key).or_default() += 1;
    }
    let missing = keys.iter().filter(|k| !seen.contains_key(k)).count();
    let twice = seen.values().filter(|n| **n > 1).count();
    (services.len(), missing, twice)
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_dump_of_10000_services_under_concurrent_changes() {
    if !serial("changes in other namespaces would disturb its dumps") {
        return;
    }
    const N: u32 = 10_000;
    let ns = TestNs::new();
    let c = &ns.client;
    // The services that stay all along: 198.18.0.0 and up, port 80.
    let keys: Vec<ServiceKey> = (0..N)
        .map(|i| ServiceKey::tcp(SocketAddr::new(addr([198, 18, 0, 0], i), 80)))
        .collect();
    let ops: Vec<Operation> = keys
        .iter()
        .map(|k| Operation::AddService(Service::new(*k, Scheduler::RoundRobin)))
        .collect();
    let t0 = Instant::now();
    let result = c.execute_batch(&ops).unwrap();
    assert!(result.is_ok(), "{:?}", result.failures().next());
    println!("added {N} services in one batch in {:?}", t0.elapsed());

    // Quiet: every one exactly once.
    let t0 = Instant::now();
    let quiet = c.services().unwrap();
    println!(
        "dumped {} services, nothing else changing, in {:?}",
        quiet.len(),
        t0.elapsed()
    );
    assert_eq!(judge(&quiet, &keys), (N as usize, 0, 0));

    // Another client, on its own socket and thread, changes other services
    // (198.19.0.0 and up) while the dumps run: adding only (2,000 per
    // round), then adding one and deleting the oldest, for as long as the
    // dump runs.
    let stop = Arc::new(AtomicBool::new(false));
    let deleting = Arc::new(AtomicBool::new(false));
    let budget = Arc::new(AtomicU64::new(0));
    let (adds, deletes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let churn = {
        let (stop, deleting, budget) = (stop.clone(), deleting.clone(), budget.clone());
        let (adds, deletes) = (adds.clone(), deletes.clone());
        let other = ns.new_client();
        std::thread::spawn(move || {
            let key = |i: u32| {
                ServiceKey::tcp(SocketAddr::new(
                    addr([198, 19, 0, 0], i % 65536),
                    80 + (i / 65536) as u16,
                ))
            };
            let (mut next, mut oldest) = (0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let delete = deleting.load(Ordering::Relaxed);
                if !delete && budget.load(Ordering::Relaxed) == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                other
                    .add_service(&Service::new(key(next), Scheduler::RoundRobin))
                    .unwrap();
                next += 1;
                adds.fetch_add(1, Ordering::Relaxed);
                if delete {
                    other.delete_service(&key(oldest)).unwrap();
                    oldest += 1;
                    deletes.fetch_add(1, Ordering::Relaxed);
                } else {
                    budget.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    let mut raw = RawSocket::open(&ns);
    for round in [
        "adding",
        "adding, raw dump",
        "adding",
        "adding and deleting",
        "adding and deleting",
    ] {
        deleting.store(round.contains("deleting"), Ordering::Relaxed);
        budget.store(2000, Ordering::Relaxed);
        let (a0, d0) = (
            adds.load(Ordering::Relaxed),
            deletes.load(Ordering::Relaxed),
        );
        let t0 = Instant::now();
        let services = if round.contains("raw") {
            // What the kernel sends, without the client's filtering.
            raw.dump(&IpvsMessage::get_services())
                .iter()
                .filter_map(|m| m.service().unwrap())
                .collect()
        } else {
            c.services().unwrap()
        };
        let elapsed = t0.elapsed();
        let (a, d) = (
            adds.load(Ordering::Relaxed) - a0,
            deletes.load(Ordering::Relaxed) - d0,
        );
        let (listed, missing, twice) = judge(&services, &keys);
        let line = format!(
            "{round}: {listed} services listed in {elapsed:.1?} while {a} were added and {d} \
             deleted; {missing} of the {N} missing, {twice} listed more than once"
        );
        println!("{line}");
        // The client never lists one twice; additions alone never hide one;
        // each deletion can hide at most one (the kernel resumes the dump at
        // an index, and a deletion before it shifts the rest back).
        let ok = a > 0 && missing as u64 <= d && (round.contains("raw") || twice == 0);
        if !ok {
            wrong.push(line.clone());
        }
        report.push(line);
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert!(wrong.is_empty(), "{}", report.join("\n"));
}

/// Restores /proc/sys/kernel/modprobe on drop.
struct ModprobeHelper(String);

impl ModprobeHelper {
    fn disable() -> ModprobeHelper {
        let old = std::fs::read_to_string("/proc/sys/kernel/modprobe").unwrap();
        std::fs::write("/proc/sys/kernel/modprobe", "/bin/false\n").unwrap();
        ModprobeHelper(old)
    }
}

impl Drop for ModprobeHelper {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/modprobe", &self.0);
    }
}

fn loaded_ipvs_modules() -> Vec<String> {
    std::fs::read_to_string("/proc/modules")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| m.starts_with("ip_vs"))
        .map(str::to_owned)
        .collect()
}

fn unload(modules: &[String]) {
    // Schedulers and engines first, ip_vs last.
    for m in modules.iter().filter(|m| *m != "ip_vs") {
        remove_module(m);
    }
    remove_module("ip_vs");
}

/// `modprobe -r module`, retried while the module is in use, for at most
/// a minute: the namespaces of the tests before (and their services, which
/// hold their schedulers) are torn down by the kernel after `ip netns del`
/// returns, later when the machine is busy.
fn remove_module(module: &str) {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(60);
    let mut refused = 0;
    loop {
        let out = std::process::Command::new("modprobe")
            .args(["-r", module])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("modprobe");
        let in_use = String::from_utf8_lossy(&out.stderr).contains("in use");
        if out.status.success() || !in_use || Instant::now() > deadline {
            assert!(
                out.status.success(),
                "modprobe -r {module}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            if refused > 0 {
                println!(
                    "{module} was in use ({refused} refusals, {:?}) before it unloaded",
                    t0.elapsed()
                );
            }
            return;
        }
        refused += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn ipvs_not_available_without_the_module() {
    if !serial("it unloads ip_vs") {
        return;
    }
    let loaded = loaded_ipvs_modules();
    assert!(
        loaded.iter().any(|m| m == "ip_vs"),
        "ip_vs is not loaded: {loaded:?}"
    );
    let result = {
        // The kernel loads ip_vs by itself when asked for the IPVS family
        // (the module has the alias net-pf-16-proto-16-family-IPVS): stop
        // it from loading modules while the client looks.
        let _no_autoload = ModprobeHelper::disable();
        unload(&loaded);
        Client::new()
    };
    // With module loading back, the client's own lookup loads ip_vs again.
    let autoloaded = Client::new().map(|c| c.info());
    for m in &loaded {
        run_ok("modprobe", &[m]);
    }
    let e = assert_err!(result, Error::IpvsNotAvailable, Some(libc::ENOENT));
    println!("{e}");
    let info = autoloaded
        .expect("family lookup loads ip_vs")
        .expect("info");
    println!(
        "ip_vs loaded back by the family lookup: IPVS {}",
        info.version
    );
    assert_eq!(loaded_ipvs_modules().len(), loaded.len());
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn fifty_thousand_operations_take_a_few_hundred_writes_not_fifty_thousand() {
    if !serial("a dump of 10,000 services is disturbed by changes in other namespaces") {
        return;
    }
    let ns = TestNs::new();
    let c = &ns.client;
    // 10,000 services with 4 destinations each: 50,000 operations.
    let mut ops = Vec::with_capacity(50_000);
    for i in 0..10_000u32 {
        let key = ServiceKey::tcp(SocketAddr::new(addr([198, 18, 0, 0], i), 80));
        ops.push(Operation::AddService(Service::new(
            key,
            Scheduler::WeightedRoundRobin,
        )));
        for j in 0..4u16 {
            let d = Destination::new(SocketAddr::new(addr([198, 51, 100, 1], j as u32), 8000 + j))
                .with_weight(1 + j as u32);
            ops.push(Operation::AddDestination(key, d));
        }
    }
    let before = c.io_counters();
    let result = c.execute_batch(&ops).unwrap();
    let io = c.io_counters();
    assert!(result.is_ok(), "{} failed", result.failures().count());
    assert_eq!(result.succeeded(), 50_000);
    let (sends, receives) = (io.sends - before.sends, io.receives - before.receives);
    println!("50,000 operations: {sends} writes, {receives} datagrams read");
    // Each write carries a chunk of operations and an acknowledged no-op;
    // only failures and that acknowledgement come back.
    assert!(sends <= 500, "{sends} writes for 50,000 operations");
    assert!(receives <= 2 * sends, "{receives} reads for {sends} writes");

    // The table reads back whole: one services dump, one destinations dump
    // per service, and the family lookup of the socket those go on (opened
    // at the first of them).
    let before = c.io_counters();
    let snap = c.snapshot().unwrap();
    let io = c.io_counters();
    assert_eq!(snap.len(), 10_000);
    assert!(snap.iter().all(|e| e.destinations.len() == 4));
    assert_eq!(io.sends - before.sends, 1 + 1 + 10_000);
    // Once open, it stays: a second snapshot sends no lookup.
    let before = c.io_counters();
    c.snapshot().unwrap();
    assert_eq!(c.io_counters().sends - before.sends, 1 + 10_000);
}

#[test]
#[ignore = "needs a kernel with IPVS: run scripts/test-kernel"]
fn a_client_follows_ip_vs_being_reloaded() {
    if !serial("it unloads ip_vs") {
        return;
    }
    let ns = TestNs::new();
    let c = &ns.client;
    let before = c.family_id();
    let loaded = loaded_ipvs_modules();
    unload(&loaded);
    // The family id the client holds is gone: its next request is refused
    // with ENOENT, the client looks the family up again (which loads ip_vs
    // back) and resends.
    let info = c.info().expect("info after ip_vs was reloaded");
    println!(
        "IPVS {} after reload: family id {before} then {}",
        info.version,
        c.family_id()
    );
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    c.execute_batch(&[Operation::AddService(Service::new(
        key,
        Scheduler::RoundRobin,
    ))])
    .unwrap()
    .into_result()
    .unwrap();
    assert_eq!(c.services().unwrap().len(), 1);
    c.flush().unwrap();
    for m in &loaded {
        run_ok("modprobe", &[m]);
    }
}
