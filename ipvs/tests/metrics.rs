//! `ipvs::metrics` and `ipvs::status` on the host: the exposition text of a
//! fixed table (golden), read back by a Prometheus text parser; the status
//! page; the HTTP server on loopback (routes, limits, timeouts).
#![cfg(feature = "status")]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipvs::metrics::{Metrics, MetricsOptions};
use ipvs::state::{ServiceState, State};
use ipvs::status::{HealthStatus, ServerOptions, StatusBoard, StatusServer, render_page};
use ipvs::{
    Connections, Destination, ForwardMethod, Scheduler, Service, ServiceKey, Stats, Tunnel,
};

/// A table as the kernel reports it: an IPv4 TCP service with three
/// destinations, an IPv6 firewall-mark service with one, traffic counted.
fn table() -> Vec<ServiceState> {
    let stats = |n: u64| Stats {
        connections: n,
        packets_in: 10 * n,
        packets_out: 8 * n,
        bytes_in: 1000 * n,
        bytes_out: 50_000 * n,
        cps: n / 10,
        pps_in: n,
        pps_out: n / 2,
        bps_in: 100 * n,
        bps_out: 5000 * n,
    };
    let dest = |addr: &str, weight, n: u64, active, fwd| {
        let mut d = Destination::new(addr.parse().unwrap())
            .with_weight(weight)
            .with_forward(fwd);
        d.stats = Some(stats(n));
        d.connections = Some(Connections {
            active,
            inactive: active * 2,
            persistent: 1,
        });
        d
    };
    let mut web = Service::new(
        ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
        Scheduler::WeightedRoundRobin,
    )
    .with_persistence(300);
    web.stats = Some(stats(60));
    let mut marked = Service::new(ServiceKey::fwmark_v6(7), Scheduler::SourceHashing);
    marked.stats = Some(stats(5));
    vec![
        ServiceState::new(web)
            .with_dest(dest("198.51.100.2:80", 1, 10, 1, ForwardMethod::Masquerade))
            .with_dest(dest("198.51.100.6:80", 2, 20, 2, ForwardMethod::Masquerade))
            .with_dest(dest(
                "198.51.100.10:80",
                3,
                30,
                3,
                ForwardMethod::DirectRoute,
            )),
        ServiceState::new(marked).with_dest(dest(
            "[2001:db8::21]:0",
            4,
            5,
            0,
            ForwardMethod::Tunnel(Tunnel::Ipip),
        )),
    ]
}

fn fixed_metrics(options: MetricsOptions) -> Metrics {
    let t = table();
    Metrics::new(move || Ok(t.clone()), options)
}

/// The exposition without the one line that varies (the scrape's duration).
fn stable(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("ipvs_scrape_duration_seconds "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn exposition_of_a_fixed_table_is_the_golden_one() {
    let text = stable(&fixed_metrics(MetricsOptions::both()).encode());
    let golden_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics/table.prom"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_path, &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(golden_path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        text, golden,
        "the exposition changed; UPDATE_GOLDEN=1 rewrites the golden file"
    );
}

#[test]
fn exposition_parses_as_prometheus_text_with_the_expected_names_and_labels() {
    let text = fixed_metrics(MetricsOptions::both()).encode();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let names: BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in [
        "ipvs_up",
        "ipvs_scrape_duration_seconds",
        "ipvs_services",
        "ipvs_destinations",
        "ipvs_service_info",
        "ipvs_service_connections_total",
        "ipvs_service_incoming_packets_total",
        "ipvs_service_outgoing_packets_total",
        "ipvs_service_incoming_bytes_total",
        "ipvs_service_outgoing_bytes_total",
        "ipvs_service_connections_per_second",
        "ipvs_service_incoming_bytes_per_second",
        "ipvs_destination_connections_total",
        "ipvs_destination_outgoing_bytes_total",
        "ipvs_destination_incoming_packets_per_second",
        "ipvs_destination_active_connections",
        "ipvs_destination_inactive_connections",
        "ipvs_destination_persistent_connections",
        "ipvs_destination_weight",
        // node_exporter's ipvs collector.
        "node_ipvs_connections_total",
        "node_ipvs_incoming_packets_total",
        "node_ipvs_outgoing_packets_total",
        "node_ipvs_incoming_bytes_total",
        "node_ipvs_outgoing_bytes_total",
        "node_ipvs_backend_connections_active",
        "node_ipvs_backend_connections_inactive",
        "node_ipvs_backend_weight",
    ] {
        assert!(names.contains(name), "no sample of {name}");
    }
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} with {labels:?}"));
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    let rs2 = [
        ("family", "ipv4"),
        ("protocol", "tcp"),
        ("address", "192.0.2.10"),
        ("port", "80"),
        ("fwmark", ""),
        ("server_address", "198.51.100.6"),
        ("server_port", "80"),
    ];
    assert_eq!(value("ipvs_destination_connections_total", &rs2), 20.0);
    assert_eq!(
        value("ipvs_destination_outgoing_bytes_total", &rs2),
        1_000_000.0
    );
    assert_eq!(value("ipvs_destination_weight", &rs2), 2.0);
    assert_eq!(value("ipvs_destination_active_connections", &rs2), 2.0);
    assert_eq!(value("ipvs_destination_inactive_connections", &rs2), 4.0);
    assert_eq!(value("ipvs_destination_persistent_connections", &rs2), 1.0);
    let mark = [("family", "ipv6"), ("fwmark", "7"), ("protocol", "")];
    assert_eq!(value("ipvs_service_connections_total", &mark), 5.0);
    assert_eq!(
        value(
            "ipvs_service_info",
            &[("scheduler", "wrr"), ("persistence_timeout", "300")]
        ),
        1.0
    );
    assert_eq!(value("ipvs_up", &[]), 1.0);
    assert_eq!(value("ipvs_services", &[]), 2.0);
    assert_eq!(value("ipvs_destinations", &[]), 4.0);
    // node_exporter's labels and values.
    let backend = [
        ("local_address", "192.0.2.10"),
        ("local_port", "80"),
        ("local_mark", ""),
        ("proto", "TCP"),
        ("remote_address", "198.51.100.10"),
        ("remote_port", "80"),
    ];
    assert_eq!(value("node_ipvs_backend_weight", &backend), 3.0);
    assert_eq!(value("node_ipvs_backend_connections_active", &backend), 3.0);
    assert_eq!(
        value("node_ipvs_backend_connections_inactive", &backend),
        6.0
    );
    let fwm = [
        ("local_address", ""),
        ("local_port", "0"),
        ("local_mark", "00000007"),
        ("proto", "FWM"),
        ("remote_address", "2001:db8::21"),
        ("remote_port", "0"),
    ];
    assert_eq!(value("node_ipvs_backend_weight", &fwm), 4.0);
    assert_eq!(value("node_ipvs_connections_total", &[]), 65.0);
    assert_eq!(
        value("node_ipvs_outgoing_bytes_total", &[]),
        65.0 * 50_000.0
    );
    // Every sample of a family has the same label names.
    for name in &names {
        let sets: BTreeSet<Vec<String>> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == *name)
            .map(|s| {
                let mut k: Vec<String> = s.labels.keys().cloned().collect();
                k.sort();
                k
            })
            .collect();
        assert_eq!(
            sets.len(),
            1,
            "{name} has samples with different label names: {sets:?}"
        );
    }
}

#[test]
fn options_choose_the_name_sets_and_a_failed_read_says_down() {
    let own = fixed_metrics(MetricsOptions::default()).encode();
    assert!(own.contains("ipvs_destination_weight{"));
    assert!(!own.contains("node_ipvs"));
    let node = fixed_metrics(MetricsOptions {
        ipvs: false,
        node_exporter: true,
    })
    .encode();
    assert!(node.contains("node_ipvs_backend_weight{"));
    assert!(!node.contains("ipvs_destination_"));
    let failing = Metrics::new(|| Err("no IPVS here".to_owned()), MetricsOptions::both());
    let text = failing.encode();
    assert!(text.contains("\nipvs_up 0\n"), "{text}");
    assert!(!text.contains("ipvs_destination_weight"));
    // OpenMetrics: the same families, and the end marker.
    let om = fixed_metrics(MetricsOptions::default()).encode_openmetrics();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE ipvs_destination_connections counter\n"));
}

fn board() -> StatusBoard {
    let board = StatusBoard::new();
    let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
    let configured = State::new().with_service(
        ServiceState::new(Service::new(key, Scheduler::WeightedRoundRobin))
            .with_dest(Destination::new("198.51.100.2:80".parse().unwrap()).with_weight(1))
            .with_dest(Destination::new("198.51.100.6:80".parse().unwrap()).with_weight(2)),
    );
    board.set_configured(&configured);
    let mut effective = configured.clone();
    effective.services[0].destinations[1].weight = 0;
    board.set_effective(&effective);
    let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    board.set_health(
        "198.51.100.6:80".parse().unwrap(),
        HealthStatus {
            up: false,
            check: "tcp".into(),
            last_result: "connection refused <&>".into(),
            checked_at: t,
        },
    );
    board.set_health(
        "198.51.100.2:80".parse().unwrap(),
        HealthStatus {
            up: true,
            check: "tcp".into(),
            last_result: "ok".into(),
            checked_at: t,
        },
    );
    board.set_role("master");
    board
}

#[test]
fn status_page_shows_every_service_destination_health_and_role() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_003);
    // Destinations as the kernel may dump them: not in ipvsadm's order.
    let mut t = table();
    t[0].destinations.reverse();
    let page = render_page(
        "lb1 <test>",
        Ok(&t),
        &board().snapshot(),
        Duration::from_secs(3),
        now,
    );
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"3\">"));
    assert!(page.contains("<title>lb1 &lt;test&gt;</title>"));
    assert!(page.contains("TCP  192.0.2.10:80 wrr persistent 300"));
    assert!(page.contains("FWM  7 IPv6 sh"));
    for d in [
        "198.51.100.2:80",
        "198.51.100.6:80",
        "198.51.100.10:80",
        "[2001:db8::21]:0",
    ] {
        assert!(page.contains(&format!(">{d}</td>")), "no row for {d}");
    }
    assert!(page.contains("data-health=\"down\">DOWN</span>"));
    assert!(
        page.contains("tcp: connection refused &lt;&amp;&gt;, 3 s ago (2027-01-15 08:00:00 UTC)")
    );
    assert!(page.contains("data-health=\"up\">UP</span>"));
    assert!(page.contains("id=\"role\">MASTER</span>"));
    // Configured 2, effective 0 for the server that is down.
    assert!(page.contains("<td class=\"n\">2</td><td class=\"n\">2</td><td class=\"n\">0</td>"));
    // Balance bars: 10/60 of the connections for 1/6 of the weight.
    assert!(page.contains("16.7% of weight, 16.7% of connections"));
    // Nothing from elsewhere, no script.
    assert!(!page.contains("<script"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("src="));
    let err = render_page(
        "x",
        Err("no IPVS <here>"),
        &StatusBoard::new().snapshot(),
        Duration::from_secs(5),
        now,
    );
    assert!(err.contains("The IPVS table could not be read: no IPVS &lt;here&gt;"));
    assert!(err.contains("Failover: <span id=\"role\">not running</span>"));
}

#[test]
fn status_page_lists_a_configured_destination_the_table_lacks_as_down() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_003);
    // The run took 198.51.100.6 out of the table after its check failed.
    let mut t = table();
    t[0].destinations
        .retain(|d| d.socket_addr() != "198.51.100.6:80".parse().unwrap());
    let page = render_page(
        "lb",
        Ok(&t),
        &board().snapshot(),
        Duration::from_secs(3),
        now,
    );
    let row = page
        .split("<tr ")
        .find(|r| r.contains("data-destination=\"198.51.100.6:80\""))
        .expect("a row for the configured destination");
    assert!(row.starts_with("class=\"destination missing\""), "{row}");
    assert!(
        row.contains(
            "<td colspan=\"2\">not in the table</td><td class=\"n\">2</td><td class=\"n\">0</td>"
        ),
        "{row}"
    );
    assert!(row.contains("data-health=\"down\">DOWN</span>"), "{row}");
    // Once: not also among the table's rows.
    assert_eq!(
        page.matches("data-destination=\"198.51.100.6:80\"").count(),
        1
    );
}

/// A server on 127.0.0.1 (port chosen by the kernel), its runtime on a
/// thread of its own; stopped when the returned guard drops.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn start(options: ServerOptions) -> Running {
    let metrics = Arc::new(fixed_metrics(MetricsOptions::default()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server =
                StatusServer::bind("127.0.0.1:0".parse().unwrap(), metrics, board(), options)
                    .await
                    .unwrap();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            server
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Running {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// Send `request` and read the whole answer (the server closes).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn server_answers_get_and_head_of_its_two_pages_only() {
    let server = start(ServerOptions::default());
    let metrics = exchange(server.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(metrics.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(metrics.contains("ipvs_destination_weight{"));
    let (head, body) = metrics.split_once("\r\n\r\n").unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len());
    let om = exchange(
        server.addr,
        b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n",
    );
    assert!(om.contains("Content-Type: application/openmetrics-text"));
    assert!(om.ends_with("# EOF\n"));
    let page = exchange(server.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(
        page.contains("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n")
    );
    assert!(page.contains("data-health=\"down\""));
    let head_only = exchange(server.addr, b"HEAD / HTTP/1.1\r\n\r\n");
    assert!(head_only.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(head_only.ends_with("\r\n\r\n"), "HEAD has no body");
    assert!(exchange(server.addr, b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    let post = exchange(
        server.addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"));
    assert!(exchange(server.addr, b"BREW\r\n\r\n").starts_with("HTTP/1.1 400 "));
}

#[test]
fn server_bounds_request_size_and_time() {
    let server = start(ServerOptions {
        max_request_bytes: 1024,
        timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 4096));
    big.extend_from_slice(b"\r\n\r\n");
    assert!(exchange(server.addr, &big).starts_with("HTTP/1.1 431 "));
    // A client that never finishes its request is answered 408 and closed.
    let started = std::time::Instant::now();
    let slow = exchange(server.addr, b"GET / HTTP/1.1\r\n");
    assert!(slow.starts_with("HTTP/1.1 408 "), "{slow}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // And the server still serves.
    assert!(exchange(server.addr, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
    let _ = SystemTime::now();
}
