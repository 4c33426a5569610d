//! `/metrics` for a large table, in a kernel with IPVS (`scripts/bench-metrics`):
//! the time of one scrape (reading the table through netlink and encoding
//! it) and the bytes it returns, directly through `Metrics::encode` and
//! over HTTP from `ipvs::status::StatusServer`; `ipvsadm -Ln` on the same
//! table for scale. Prints a markdown report on stdout.
//!
//! ```text
//! metrics-scrape [SERVICES] [SCRAPES]     (default 10000 services x 4 destinations, 5 scrapes)
//! ```

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipvs::client::{Client, Netns, Operation};
use ipvs::metrics::{Metrics, MetricsOptions};
use ipvs::status::{ServerOptions, StatusBoard, StatusServer};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};

const DESTS: u32 = 4;

/// The table of `scripts/bench`: TCP services on 198.18.0.0/15, four
/// destinations each on 198.51.100.0/24.
fn table_ops(n: u32) -> Vec<Operation> {
    let mut ops = Vec::new();
    for i in 0..n {
        let key = ServiceKey::tcp(SocketAddr::new(Ipv4Addr::from(0xc612_0000 + i).into(), 80));
        ops.push(Operation::AddService(Service::new(
            key,
            Scheduler::WeightedRoundRobin,
        )));
        for j in 0..DESTS {
            let a = Ipv4Addr::from(0xc633_6400 + (i * 4 + j) % 250 + 1);
            let d = Destination::new(SocketAddr::new(a.into(), 8000 + j as u16))
                .with_forward(ForwardMethod::Masquerade)
                .with_weight(1 + j);
            ops.push(Operation::AddDestination(key, d));
        }
    }
    ops
}

fn cpu() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the zeroed memory it is given.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall times (sorted) and CPU of `runs` calls of `f`, and the last output's length.
fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Vec<f64>, f64, usize) {
    let mut walls = Vec::new();
    let mut bytes = 0;
    let c0 = cpu();
    for _ in 0..runs {
        let t = Instant::now();
        bytes = f();
        walls.push(t.elapsed().as_secs_f64());
    }
    let cpu_each = (cpu() - c0).as_secs_f64() / runs as f64;
    walls.sort_by(f64::total_cmp);
    (walls, cpu_each, bytes)
}

fn row(report: &mut String, what: &str, (walls, cpu, bytes): (Vec<f64>, f64, usize)) {
    writeln!(
        report,
        "| {what} | {:.2} | {:.2} | {:.2} | {cpu:.2} | {bytes} ({:.1} MB) |",
        walls[0],
        walls[walls.len() / 2],
        walls[walls.len() - 1],
        bytes as f64 / 1e6
    )
    .unwrap();
}

fn http_get(addr: SocketAddr, path: &str) -> usize {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("HTTP/1.1 200 "),
        "GET {path}: {}",
        &text[..text.len().min(200)]
    );
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    body.len()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().map_or(10_000, |a| a.parse().expect("SERVICES"));
    let runs: usize = args.next().map_or(5, |a| a.parse().expect("SCRAPES"));
    let ns = format!("bench-metrics-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(ok.success(), "ip netns add");
    let result = std::panic::catch_unwind(|| run(&ns, n, runs));
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    match result {
        Ok(report) => println!("{report}"),
        Err(e) => std::panic::resume_unwind(e),
    }
}

fn run(ns: &str, n: u32, runs: usize) -> String {
    let client = || {
        Client::builder()
            .netns(Netns::named(ns).expect("namespace name"))
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client")
    };
    let ops = table_ops(n);
    let applied = client().execute_batch(&ops).expect("apply");
    assert!(applied.is_ok(), "the table did not apply");
    eprintln!("metrics-scrape: {n} services x {DESTS} made");
    let mut report = String::new();
    writeln!(
        report,
        "## /metrics scrape benchmark\n\nKernel {}, {n} services x {DESTS} destinations ({} entries), \
         {runs} scrapes each; wall seconds (min, median, max), CPU seconds per scrape of this \
         process (user + system), bytes of the last answer.\n",
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        n * (1 + DESTS)
    )
    .unwrap();
    writeln!(
        report,
        "| scrape | min | median | max | CPU | bytes |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    let own = Metrics::for_client(client(), MetricsOptions::default());
    let text = own.encode();
    assert!(text.contains("\nipvs_up 1\n"), "the table was not read");
    assert_eq!(
        text.matches("ipvs_destination_weight{").count(),
        (n * DESTS) as usize
    );
    row(
        &mut report,
        "`Metrics::encode`, own names",
        time(runs, || own.encode().len()),
    );
    let both = Metrics::for_client(client(), MetricsOptions::both());
    row(
        &mut report,
        "`Metrics::encode`, own and node_exporter names",
        time(runs, || both.encode().len()),
    );
    row(
        &mut report,
        "`Metrics::encode_openmetrics`, own names",
        time(runs, || own.encode_openmetrics().len()),
    );
    row(
        &mut report,
        "table read only (`Metrics::read_table`)",
        time(runs, || own.read_table().expect("read").len()),
    );
    // Over HTTP, as Prometheus scrapes.
    let metrics = Arc::new(Metrics::for_client(client(), MetricsOptions::default()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let options = ServerOptions {
                timeout: Duration::from_secs(120),
                ..ServerOptions::default()
            };
            let s = StatusServer::bind(
                "127.0.0.1:0".parse().unwrap(),
                metrics,
                StatusBoard::new(),
                options,
            )
            .await
            .unwrap();
            addr_tx.send(s.local_addr().unwrap()).unwrap();
            s.serve(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    row(
        &mut report,
        "HTTP `GET /metrics` (status server)",
        time(runs, || http_get(addr, "/metrics")),
    );
    row(
        &mut report,
        "HTTP `GET /` (status page)",
        time(runs.min(3), || http_get(addr, "/")),
    );
    let _ = stop_tx.send(());
    server.join().unwrap();
    // ipvsadm on the same table, for scale.
    row(
        &mut report,
        "`ipvsadm -Ln` (child process, for scale)",
        time(runs.min(3), || {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ipvsadm", "-Ln"])
                .output()
                .expect("ipvsadm");
            assert!(out.status.success());
            out.stdout.len()
        }),
    );
    report
}
