//! The IPVS table's figures, encoded at scrape time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{MetricsOptions, TableReader};
use crate::state::ServiceState;
use crate::{AddressFamily, Destination, Protocol, ServiceKey, Stats};

/// A collector that reads the table at each scrape and encodes it.
pub struct TableCollector {
    read: Arc<TableReader>,
    options: MetricsOptions,
}

impl std::fmt::Debug for TableCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCollector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TableCollector {
    /// A collector of the table `read` returns.
    pub fn new(read: Arc<TableReader>, options: MetricsOptions) -> Self {
        TableCollector { read, options }
    }
}

impl Collector for TableCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let started = Instant::now();
        let table = (self.read)();
        let up = table.is_ok();
        if let Ok(services) = &table {
            encode_table(&mut encoder, services, &self.options)?;
        }
        gauge(
            &mut encoder,
            "ipvs_up",
            "Whether the last read of the IPVS table worked (1) or not (0)",
            u64::from(up),
        )?;
        let elapsed = started.elapsed().as_secs_f64();
        let m = encoder.encode_descriptor(
            "ipvs_scrape_duration_seconds",
            "Seconds taken to read and encode the IPVS table",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(elapsed).encode(m)
    }
}

type Labels = Vec<(&'static str, String)>;

fn service_labels(key: &ServiceKey) -> Labels {
    let family = match key.family() {
        AddressFamily::Ipv4 => "ipv4",
        AddressFamily::Ipv6 => "ipv6",
    };
    let (protocol, address, port, fwmark) = match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => (
            protocol_label(*protocol),
            address.to_string(),
            port.to_string(),
            String::new(),
        ),
        ServiceKey::Fwmark { fwmark, .. } => (
            String::new(),
            String::new(),
            String::new(),
            fwmark.to_string(),
        ),
    };
    vec![
        ("family", family.to_owned()),
        ("protocol", protocol),
        ("address", address),
        ("port", port),
        ("fwmark", fwmark),
    ]
}

fn protocol_label(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "tcp".to_owned(),
        Protocol::Udp => "udp".to_owned(),
        Protocol::Sctp => "sctp".to_owned(),
        Protocol::Other(n) => n.to_string(),
    }
}

fn dest_labels(service: &Labels, d: &Destination) -> Labels {
    let mut l = service.clone();
    l.push(("server_address", d.address.to_string()));
    l.push(("server_port", d.port.to_string()));
    l
}

/// Encode one gauge family of one sample without labels.
fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

/// One family: `values` gives each entity's value (None: no sample).
fn family<'a, T: 'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    counter: bool,
    entities: impl Iterator<Item = (&'a Labels, &'a T)>,
    value: impl Fn(&T) -> u64,
) -> Result<(), std::fmt::Error> {
    let kind = if counter {
        MetricType::Counter
    } else {
        MetricType::Gauge
    };
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, entity) in entities {
        let v = value(entity);
        let sample = m.encode_family(labels)?;
        if counter {
            ConstCounter::new(v).encode(sample)?;
        } else {
            ConstGauge::new(v).encode(sample)?;
        }
    }
    Ok(())
}

/// A figure of [`Stats`]: name (after the prefix), help, whether a counter
/// (else a gauge), and how to read it.
type StatsFigure = (&'static str, &'static str, bool, fn(&Stats) -> u64);

/// The five counters and five rates the kernel keeps per service and per
/// destination.
const STATS: [StatsFigure; 10] = [
    ("connections", "Connections scheduled", true, |s| {
        s.connections
    }),
    ("incoming_packets", "Packets from clients", true, |s| {
        s.packets_in
    }),
    ("outgoing_packets", "Packets to clients", true, |s| {
        s.packets_out
    }),
    ("incoming_bytes", "Bytes from clients", true, |s| s.bytes_in),
    ("outgoing_bytes", "Bytes to clients", true, |s| s.bytes_out),
    (
        "connections_per_second",
        "New connections per second (the kernel's estimate)",
        false,
        |s| s.cps,
    ),
    (
        "incoming_packets_per_second",
        "Packets per second from clients (the kernel's estimate)",
        false,
        |s| s.pps_in,
    ),
    (
        "outgoing_packets_per_second",
        "Packets per second to clients (the kernel's estimate)",
        false,
        |s| s.pps_out,
    ),
    (
        "incoming_bytes_per_second",
        "Bytes per second from clients (the kernel's estimate)",
        false,
        |s| s.bps_in,
    ),
    (
        "outgoing_bytes_per_second",
        "Bytes per second to clients (the kernel's estimate)",
        false,
        |s| s.bps_out,
    ),
];

/// Encode the figures of a table (`services`, as read from the kernel with
/// stats and connection counts) into `encoder`: what [`TableCollector`]
/// does at each scrape, usable on its own for a snapshot.
pub fn encode_table(
    encoder: &mut DescriptorEncoder<'_>,
    services: &[ServiceState],
    options: &MetricsOptions,
) -> Result<(), std::fmt::Error> {
    if options.ipvs {
        encode_ipvs(encoder, services)?;
    }
    if options.node_exporter {
        encode_node_exporter(encoder, services)?;
    }
    Ok(())
}

fn encode_ipvs(
    encoder: &mut DescriptorEncoder<'_>,
    services: &[ServiceState],
) -> Result<(), std::fmt::Error> {
    let svc_labels: Vec<Labels> = services
        .iter()
        .map(|s| service_labels(&s.service.key))
        .collect();
    let svc_stats: Vec<Stats> = services
        .iter()
        .map(|s| s.service.stats.unwrap_or_default())
        .collect();
    let mut dest_label_sets = Vec::new();
    let mut dests: Vec<&Destination> = Vec::new();
    for (s, labels) in services.iter().zip(&svc_labels) {
        for d in &s.destinations {
            dest_label_sets.push(dest_labels(labels, d));
            dests.push(d);
        }
    }
    gauge(
        encoder,
        "ipvs_services",
        "Virtual services in the table",
        services.len() as u64,
    )?;
    gauge(
        encoder,
        "ipvs_destinations",
        "Destinations (real servers) in the table, over every service",
        dests.len() as u64,
    )?;
    let info: Vec<Labels> = services
        .iter()
        .zip(&svc_labels)
        .map(|(s, l)| {
            let mut l = l.clone();
            let svc = &s.service;
            l.push(("scheduler", svc.scheduler.to_string()));
            l.push((
                "persistence_timeout",
                svc.persistence
                    .map(|p| p.timeout.to_string())
                    .unwrap_or_default(),
            ));
            l.push((
                "persistence_engine",
                svc.persistence_engine.clone().unwrap_or_default(),
            ));
            l
        })
        .collect();
    let ones = vec![(); info.len()];
    family(
        encoder,
        "ipvs_service_info",
        "A virtual service's settings, as labels (value 1)",
        false,
        info.iter().zip(&ones),
        |_| 1,
    )?;
    for (name, help, counter, field) in STATS {
        let full = format!("ipvs_service_{name}");
        family(
            encoder,
            &full,
            help,
            counter,
            svc_labels.iter().zip(&svc_stats),
            field,
        )?;
    }
    let dest_stats: Vec<Stats> = dests.iter().map(|d| d.stats.unwrap_or_default()).collect();
    for (name, help, counter, field) in STATS {
        let full = format!("ipvs_destination_{name}");
        family(
            encoder,
            &full,
            help,
            counter,
            dest_label_sets.iter().zip(&dest_stats),
            field,
        )?;
    }
    let conn = |d: &&Destination| d.connections.unwrap_or_default();
    family(
        encoder,
        "ipvs_destination_active_connections",
        "Established connections to the destination now",
        false,
        dest_label_sets.iter().zip(&dests),
        |d| u64::from(conn(d).active),
    )?;
    family(
        encoder,
        "ipvs_destination_inactive_connections",
        "Other connections to the destination now (closing, or not yet established)",
        false,
        dest_label_sets.iter().zip(&dests),
        |d| u64::from(conn(d).inactive),
    )?;
    family(
        encoder,
        "ipvs_destination_persistent_connections",
        "Persistence templates pointing at the destination now",
        false,
        dest_label_sets.iter().zip(&dests),
        |d| u64::from(conn(d).persistent),
    )?;
    family(
        encoder,
        "ipvs_destination_weight",
        "The destination's weight in the kernel (0: quiesced)",
        false,
        dest_label_sets.iter().zip(&dests),
        |d| u64::from(d.weight),
    )
}

/// node_exporter's label set of a backend, its labels in name order.
fn node_exporter_labels(key: &ServiceKey, d: &Destination) -> Labels {
    let (local_address, local_port, local_mark, proto) = match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => (
            address.to_string(),
            port.to_string(),
            String::new(),
            match protocol {
                Protocol::Tcp => "TCP".to_owned(),
                Protocol::Udp => "UDP".to_owned(),
                Protocol::Sctp => "SCTP".to_owned(),
                Protocol::Other(n) => n.to_string(),
            },
        ),
        ServiceKey::Fwmark { fwmark, .. } => (
            String::new(),
            "0".to_owned(),
            format!("{fwmark:08X}"),
            "FWM".to_owned(),
        ),
    };
    vec![
        ("local_address", local_address),
        ("local_mark", local_mark),
        ("local_port", local_port),
        ("proto", proto),
        ("remote_address", go_ip_text(d.address)),
        ("remote_port", d.port.to_string()),
    ]
}

/// An address as Go's `net.IP.String` writes it (what node_exporter's
/// labels hold): IPv4-mapped IPv6 addresses in dotted form.
fn go_ip_text(addr: IpAddr) -> String {
    match addr {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => a.to_string(),
        },
        IpAddr::V4(a) => a.to_string(),
    }
}

fn encode_node_exporter(
    encoder: &mut DescriptorEncoder<'_>,
    services: &[ServiceState],
) -> Result<(), std::fmt::Error> {
    let mut total = Stats::default();
    for s in services {
        let st = s.service.stats.unwrap_or_default();
        total.connections += st.connections;
        total.packets_in += st.packets_in;
        total.packets_out += st.packets_out;
        total.bytes_in += st.bytes_in;
        total.bytes_out += st.bytes_out;
    }
    let totals: [(&str, &str, u64); 5] = [
        (
            "node_ipvs_connections",
            "Connections scheduled, over every service",
            total.connections,
        ),
        (
            "node_ipvs_incoming_packets",
            "Packets from clients, over every service",
            total.packets_in,
        ),
        (
            "node_ipvs_outgoing_packets",
            "Packets to clients, over every service",
            total.packets_out,
        ),
        (
            "node_ipvs_incoming_bytes",
            "Bytes from clients, over every service",
            total.bytes_in,
        ),
        (
            "node_ipvs_outgoing_bytes",
            "Bytes to clients, over every service",
            total.bytes_out,
        ),
    ];
    for (name, help, v) in totals {
        let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(v).encode(m)?;
    }
    // Backends with the same labels (the same server behind an IPv4 and an
    // IPv6 mark of one number) are summed, as node_exporter sums them.
    let mut backends: BTreeMap<Labels, [u64; 3]> = BTreeMap::new();
    for s in services {
        for d in &s.destinations {
            let c = d.connections.unwrap_or_default();
            let e = backends
                .entry(node_exporter_labels(&s.service.key, d))
                .or_default();
            e[0] += u64::from(c.active);
            e[1] += u64::from(c.inactive);
            e[2] += u64::from(d.weight);
        }
    }
    let rows: Vec<(Labels, [u64; 3])> = backends.into_iter().collect();
    for (i, (name, help)) in [
        (
            "node_ipvs_backend_connections_active",
            "Established connections by virtual service and real server",
        ),
        (
            "node_ipvs_backend_connections_inactive",
            "Other connections by virtual service and real server",
        ),
        (
            "node_ipvs_backend_weight",
            "Weight by virtual service and real server",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        family(
            encoder,
            name,
            help,
            false,
            rows.iter().map(|(l, v)| (l, v)),
            |v| v[i],
        )?;
    }
    Ok(())
}
