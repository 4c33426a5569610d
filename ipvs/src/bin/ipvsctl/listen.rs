//! `ipvsctl run FILE --listen ADDR`: `/metrics` and the status page of the
//! running director. Glue between the run ([`Handle`]'s observations) and
//! `ipvs::status`: each check's result feeds the health metrics and the
//! board's health, each reconcile round the reconcile metrics, the
//! configured and effective tables the board's weights. The table itself
//! is read at each scrape and page view. Read-only.
//!
//! Failover's role, when the run has one, goes to the page and the
//! metrics as it changes ([`Listening::follow_role`]).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ipvs::client::Client;
use ipvs::health::probe::Outcome;
use ipvs::health::{Handle, Observation};
use ipvs::metrics::{Metrics, MetricsOptions};
use ipvs::status::{HealthStatus, ServerOptions, StatusBoard, StatusServer, not_loopback_warning};
use tokio::sync::broadcast::error::RecvError;

// `--listen ADDR [--node-exporter]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListenArgs {
    /// Serve Prometheus metrics at /metrics and a status page at / on ADDR:
    /// HOST:PORT, or PORT alone for 127.0.0.1:PORT (an address of the run's
    /// network namespace). Read-only; an address other than loopback is
    /// logged as a warning.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// With --listen: node_exporter's `node_ipvs_*` metric names and labels
    /// too.
    #[arg(long, requires = "listen")]
    pub node_exporter: bool,
}

/// `HOST:PORT`, `[V6]:PORT`, or a port alone (on loopback).
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse()
        .map_err(|_| format!("not HOST:PORT or PORT: {s:?} (like 127.0.0.1:9876 or 9876)"))
}

/// The server and the task feeding it; both end when dropped.
pub struct Listening {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    metrics: Arc<Metrics>,
    board: StatusBoard,
    /// Where it listens.
    #[cfg_attr(not(test), allow(dead_code))]
    addr: SocketAddr,
}

impl Listening {
    /// Show failover instance `instance`'s role on the page and in the
    /// metrics (`ipvs_failover_role`, transitions) whenever `roles` changes.
    #[cfg_attr(not(feature = "failover"), allow(dead_code))]
    pub fn follow_role<T: Send + Sync + 'static>(
        &mut self,
        instance: String,
        mut roles: tokio::sync::watch::Receiver<Option<T>>,
        name: fn(&T) -> String,
    ) {
        let (metrics, board) = (self.metrics.clone(), self.board.clone());
        self.tasks.push(tokio::spawn(async move {
            loop {
                let now = roles.borrow_and_update().as_ref().map(name);
                if let Some(role) = now {
                    board.set_role(&role);
                    metrics.failover().set_role(&instance, &role);
                }
                if roles.changed().await.is_err() {
                    return;
                }
            }
        }));
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start serving, if `--listen` was given: bind (an error if the address
/// cannot be had), log where, and feed the metrics and the board from
/// `handle`'s observations. Call before the run starts, so that the first
/// observations are seen.
pub async fn start(
    args: &ListenArgs,
    title: &str,
    handle: &Handle,
    log: impl Fn(&str),
) -> Result<Option<Listening>, String> {
    let Some(addr) = args.listen else {
        return Ok(None);
    };
    let client = Client::new().map_err(|e| format!("--listen: {e}"))?;
    let options = MetricsOptions {
        ipvs: true,
        node_exporter: args.node_exporter,
    };
    let metrics = Arc::new(Metrics::for_client(client, options));
    serve(addr, metrics, title, handle, log).await.map(Some)
}

/// [`start`] with the metrics of any table: bind `addr`, log, feed.
async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    title: &str,
    handle: &Handle,
    log: impl Fn(&str),
) -> Result<Listening, String> {
    // Registered from the start, so a scrape before the first check or
    // round shows them.
    metrics.health();
    metrics.reconcile();
    let board = StatusBoard::new();
    let server_options = ServerOptions {
        title: title.to_owned(),
        warn_not_loopback: false,
        ..ServerOptions::default()
    };
    let server = StatusServer::bind(addr, metrics.clone(), board.clone(), server_options)
        .await
        .map_err(|e| format!("--listen {addr}: {e}"))?;
    let bound = server.local_addr().map_err(|e| format!("--listen: {e}"))?;
    log(&format!(
        "listen: /metrics and the status page on http://{bound}/"
    ));
    if let Some(w) = not_loopback_warning(bound) {
        log(&format!("listen: {w}"));
    }
    let observations = handle.subscribe_observations();
    let feed = tokio::spawn(feed(observations, metrics.clone(), board.clone()));
    let server_task = tokio::spawn(async move {
        let _ = server.serve(std::future::pending()).await;
    });
    Ok(Listening {
        tasks: vec![feed, server_task],
        metrics,
        board,
        addr: bound,
    })
}

/// Record every observation until the run ends.
async fn feed(
    mut observations: tokio::sync::broadcast::Receiver<Observation>,
    metrics: Arc<Metrics>,
    board: StatusBoard,
) {
    loop {
        let o = match observations.recv().await {
            Ok(o) => o,
            // Figures missed under load: the next ones carry on.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        match o {
            Observation::Check(c) => {
                let health = metrics.health();
                health.check_finished(
                    c.check,
                    c.took,
                    c.outcome.failure().map(|f| f.reason.as_str()),
                );
                let result = match &c.outcome {
                    Outcome::Up => "ok".to_owned(),
                    Outcome::UpWithWeight(w) => format!("ok, weight {w}"),
                    Outcome::Down(f) => f.to_string(),
                };
                let servers: HashSet<SocketAddr> = c.dests.iter().map(|(_, d)| *d).collect();
                for server in servers {
                    health.set_up(server, c.check, c.up);
                    board.set_health(
                        server,
                        HealthStatus {
                            up: c.up,
                            check: c.check.to_owned(),
                            last_result: result.clone(),
                            checked_at: c.at,
                        },
                    );
                }
            }
            Observation::Round(r) => {
                let reconcile = metrics.reconcile();
                reconcile.record(r.planned as u64, r.applied as u64, r.failed as u64);
                if r.drift_repaired > 0 {
                    reconcile.drift_repaired(r.drift_repaired as u64);
                }
            }
            Observation::Configured(state) => {
                // Servers no longer in the configuration lose their health.
                let kept: HashSet<SocketAddr> = state
                    .services
                    .iter()
                    .flat_map(|s| s.destinations.iter().map(|d| d.socket_addr()))
                    .collect();
                for server in board.snapshot().health.keys() {
                    if !kept.contains(server) {
                        board.clear_health(server);
                    }
                }
                board.set_configured(&state);
            }
            Observation::Effective(state) => board.set_effective(&state),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ipvs::health::{MemoryTable, RunConfig, Supervisor, SupervisorOptions};
    use ipvs::state::State;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// A run on a table in memory, checking a server that answers and one
    /// that does not: the metrics and the page show both as checked, the
    /// reconcile rounds, the configured weights.
    #[test]
    fn a_run_feeds_the_metrics_and_the_page() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let up_addr = up.local_addr().unwrap();
            // A port nothing listens on: bound, then closed.
            let down_addr = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let accept = tokio::spawn(async move {
                while let Ok((c, _)) = up.accept().await {
                    drop(c);
                }
            });
            let config = RunConfig::from_yaml(&format!(
                "services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health:
      check: {{type: tcp, interval: 200ms, timeout: 200ms, fall: 1, rise: 1, jitter: 0s}}
    destinations:
      - {{address: 127.0.0.1, port: {}, forward: masquerade, weight: 3}}
      - {{address: 127.0.0.1, port: {}, forward: masquerade, weight: 2}}
",
                up_addr.port(),
                down_addr.port()
            ))
            .unwrap();
            let table = MemoryTable::new(State::new());
            let reader = table.clone();
            let metrics = Arc::new(Metrics::new(
                move || Ok(reader.snapshot().services),
                MetricsOptions::default(),
            ));
            let options = SupervisorOptions {
                reconcile_period: Duration::from_millis(200),
                ..SupervisorOptions::default()
            };
            let (supervisor, handle) = Supervisor::new(config, table, options);
            let logged = std::sync::Mutex::new(Vec::new());
            let listening = serve(
                "127.0.0.1:0".parse().unwrap(),
                metrics,
                "test run",
                &handle,
                |m| logged.lock().unwrap().push(m.to_owned()),
            )
            .await
            .unwrap();
            let addr = listening.addr;
            assert_eq!(
                *logged.lock().unwrap(),
                [format!(
                    "listen: /metrics and the status page on http://{addr}/"
                )]
            );
            let run = tokio::spawn(supervisor.run());
            let (up_line, down_line) = (
                format!("ipvs_health_up{{server=\"{up_addr}\",check=\"tcp\"}} 1\n"),
                format!("ipvs_health_up{{server=\"{down_addr}\",check=\"tcp\"}} 0\n"),
            );
            let t0 = Instant::now();
            let text = loop {
                let text = get(addr, "/metrics").await;
                if text.contains(&up_line) && text.contains(&down_line) {
                    break text;
                }
                assert!(t0.elapsed() < Duration::from_secs(20), "{text}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            for needle in [
                "ipvs_health_check_failures_total{check=\"tcp\",reason=\"refused\"}",
                "ipvs_health_check_duration_seconds_count{check=\"tcp\"}",
                "ipvs_reconcile_runs_total",
                "ipvs_destination_weight{",
            ] {
                assert!(text.contains(needle), "no {needle}:\n{text}");
            }
            let applied: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("ipvs_reconcile_operations_applied_total "))
                .unwrap()
                .parse()
                .unwrap();
            assert!(applied >= 2, "{text}");
            let page = get(addr, "/").await;
            assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
            assert!(page.contains("test run"));
            let row = |d: SocketAddr| {
                page.split("<tr ")
                    .find(|r| r.contains(&format!("data-destination=\"{d}\"")))
                    .unwrap_or_else(|| panic!("{d} not on the page:\n{page}"))
                    .to_owned()
            };
            assert!(
                row(up_addr).contains("data-health=\"up\""),
                "{}",
                row(up_addr)
            );
            let down = row(down_addr);
            assert!(down.contains("data-health=\"down\""), "{down}");
            assert!(down.contains("refused"), "the last result: {down}");
            handle.stop().await;
            run.await.unwrap().unwrap();
            accept.abort();
        });
    }

    #[test]
    fn run_takes_listen_and_node_exporter() {
        let parse = |line: &str| {
            crate::cli::parse(std::iter::once("ipvsctl").chain(line.split_whitespace()))
        };
        let crate::cli::Command::Run(r) = parse("run lb.yaml --listen 9876 --node-exporter")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(r.listen.listen, Some("127.0.0.1:9876".parse().unwrap()));
        assert!(r.listen.node_exporter);
        let crate::cli::Command::Run(r) = parse("run lb.yaml").unwrap().command else {
            panic!()
        };
        assert_eq!(r.listen.listen, None);
        for bad in [
            "run lb.yaml --node-exporter",
            "run lb.yaml --listen",
            "run lb.yaml --listen here",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9876").unwrap().to_string(), "127.0.0.1:9876");
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        for bad in ["", "localhost:80", "127.0.0.1", "70000", ":80"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }
}
