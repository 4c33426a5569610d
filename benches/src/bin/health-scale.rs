//! Health checking at scale, on the host: N real servers (loopback TCP
//! listeners in a child process, each on its own port of 127.0.0.1),
//! checked by TCP connect every interval by one `ipvs::health::Supervisor`
//! on a single-threaded tokio runtime over an in-memory table.
//!
//! Measures the checking process's CPU while every server is up, then
//! kills every server at once and measures, from the kill, when each
//! destination's down event came and when the table had none left.
//!
//! ```text
//! cargo run --release -p ipvs-benches --bin health-scale -- [TARGETS] [SECONDS]
//! ```
//! (defaults 10000 targets, 20 s of steady state; interval 1 s, timeout
//! 500 ms, fall 3, rise 2). Needs about TARGETS + 100 file descriptors
//! per process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs::health::probe::Probe;
use ipvs::health::{
    Check, Event, MemoryTable, RunConfig, ServiceHealth, Supervisor, SupervisorOptions,
};
use ipvs::state::{ServiceState, State};
use ipvs::{Destination, Scheduler, Service, ServiceKey};

const PER_SERVICE: usize = 10;

fn cpu() -> Duration {
    // SAFETY: getrusage writes one rusage struct into the zeroed one given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The child: listen on `n` ports, print them, accept until stdin closes.
fn serve(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut out = std::io::stdout().lock();
        for _ in 0..n {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            writeln!(out, "{}", l.local_addr().unwrap().port()).unwrap();
            tokio::spawn(async move {
                while let Ok((c, _)) = l.accept().await {
                    drop(c);
                }
            });
        }
        out.flush().unwrap();
        drop(out);
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read(&mut [0u8; 1]);
        })
        .await
        .unwrap();
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args[2].parse().unwrap());
        return;
    }
    let targets: usize = args.get(1).map_or(10_000, |a| a.parse().unwrap());
    let seconds: u64 = args.get(2).map_or(20, |a| a.parse().unwrap());
    let (interval, timeout, fall) = (Duration::from_secs(1), Duration::from_millis(500), 3);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["serve", &targets.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ports: Vec<u16> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(targets)
        .map(|l| l.unwrap().parse().unwrap())
        .collect();
    assert_eq!(ports.len(), targets);

    let mut config = RunConfig::default();
    let check = Check::new(Probe::Tcp)
        .every(interval, timeout)
        .counts(fall, 2);
    for (i, chunk) in ports.chunks(PER_SERVICE).enumerate() {
        let key = ServiceKey::tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 18, (i / 256) as u8, (i % 256) as u8)),
            80,
        ));
        let mut s = ServiceState::new(Service::new(key, Scheduler::WeightedRoundRobin));
        for p in chunk {
            s.destinations.push(Destination::new(SocketAddr::new(
                Ipv4Addr::LOCALHOST.into(),
                *p,
            )));
        }
        config.state.services.push(s);
        config.services.insert(
            key,
            ServiceHealth {
                check: Some(check.clone()),
                ..ServiceHealth::default()
            },
        );
    }
    let table = MemoryTable::new(State::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = SupervisorOptions {
            event_capacity: 4 * targets,
            ..SupervisorOptions::default()
        };
        let (sup, handle) = Supervisor::new(config, table.clone(), options);
        let mut events = handle.subscribe();
        let run = tokio::spawn(sup.run());
        // Warm up past the start-up jitter.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (c0, t0) = (cpu(), Instant::now());
        let mut downs_before = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while let Ok(r) = tokio::time::timeout_at(deadline, events.recv()).await {
            if matches!(r, Ok(Event::DestDown { .. })) {
                downs_before += 1;
            }
        }
        let (steady_cpu, steady_wall) = (cpu() - c0, t0.elapsed());

        // Every server dies at once.
        let (c1, killed) = (cpu(), Instant::now());
        child.kill().unwrap();
        // Reaped on a blocking thread: the runtime's one thread runs the probes.
        let reaper = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            child.wait().unwrap();
            t.elapsed()
        });
        let mut down_at: HashMap<SocketAddr, Duration> = HashMap::new();
        let limit = tokio::time::Instant::now() + interval * (fall + 27);
        let mut table_empty = None;
        while down_at.len() < targets {
            match tokio::time::timeout_at(limit, events.recv()).await {
                Ok(Ok(Event::DestDown { dest, .. })) => {
                    down_at.insert(dest, killed.elapsed());
                }
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    eprintln!("lagged {n} events");
                }
                _ => break,
            }
        }
        while tokio::time::Instant::now() < limit {
            if table.snapshot().dest_count() == 0 {
                table_empty = Some(killed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let storm_cpu = cpu() - c1;
        let storm_wall = killed.elapsed();
        handle.stop().await;
        run.await.unwrap().unwrap();
        let reaped = reaper.await.unwrap();
        eprintln!("the servers' process took {reaped:?} to exit");

        let mut lat: Vec<Duration> = down_at.values().copied().collect();
        lat.sort();
        let pct = |c: Duration, w: Duration| 100.0 * c.as_secs_f64() / w.as_secs_f64();
        println!("## Health checking at scale (host, loopback, one thread)\n");
        println!("| | |\n|---|---|");
        println!(
            "| targets (TCP connect) | {targets} in {} services |",
            targets.div_ceil(PER_SERVICE)
        );
        println!("| interval / timeout / fall | {interval:?} / {timeout:?} / {fall} |");
        println!(
            "| CPU, all up ({:.0} s) | {:.1}% of one core ({:.0} µs per probe) |",
            steady_wall.as_secs_f64(),
            pct(steady_cpu, steady_wall),
            steady_cpu.as_secs_f64() * 1e6
                / (targets as f64 * steady_wall.as_secs_f64() / interval.as_secs_f64())
        );
        println!("| false downs while up | {downs_before} |");
        println!(
            "| all killed: down events seen | {} of {targets} |",
            lat.len()
        );
        println!(
            "| kill → down event: median / p99 / max | {:.2} s / {:.2} s / {:.2} s |",
            percentile(&lat, 0.5).as_secs_f64(),
            percentile(&lat, 0.99).as_secs_f64(),
            lat.last().copied().unwrap_or_default().as_secs_f64()
        );
        println!(
            "| kill → table without them | {} |",
            table_empty.map_or("not within the limit".into(), |d| format!(
                "{:.2} s",
                d.as_secs_f64()
            ))
        );
        println!(
            "| goal: p99 ≤ fall × interval + 1 s | {:.0} s |",
            (interval * fall + Duration::from_secs(1)).as_secs_f64()
        );
        println!(
            "| CPU during the storm | {:.1}% of one core |",
            pct(storm_cpu, storm_wall)
        );
    });
}
