//! Capture a service dump as the kernel sends it, for the codec benchmarks.
//!
//! Run as root in a kernel with IPVS (`scripts/bench-codec --capture`, which
//! runs it in the guest): in a fresh network namespace, adds N services
//! (default 10,000; a realistic mix of TCP, UDP, SCTP, IPv6 and fwmark
//! services, schedulers, persistence, flags), sends one `GET_SERVICE` dump
//! on a raw generic-netlink socket, and writes every reply datagram, as
//! received, to OUT: each datagram as a little-endian `u32` length followed
//! by its bytes.
//!
//! ```text
//! capture-dump OUT [N]
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use ipvs::client::{Client, Netns, Operation, within};
use ipvs::codec::{IpvsMessage, Reply, RequestKind, decode, encode_request};
use ipvs::rules::{self, Rule};
use netlink_sys::{Socket, SocketAddr as NlAddr, protocols::NETLINK_GENERIC};

/// ipvsadm rules for service `i` of the table: mostly TCP web services on
/// IPv4, with UDP, SCTP, IPv6 and fwmark ones, several schedulers,
/// persistence and scheduler flags in between.
fn service_rule(i: u32, out: &mut String) {
    let v4 = std::net::Ipv4Addr::from(0xc612_0000u32 + i / 4); // 198.18.0.0/15
    let port = [80, 443, 8080, 8443][(i % 4) as usize];
    let line = match i % 20 {
        0..=9 => format!("-A -t {v4}:{port} -s wrr"),
        10 | 11 => format!("-A -t {v4}:{port} -s wlc -p 600"),
        12 => format!("-A -t {v4}:{port} -s rr -p 300 -M 255.255.255.0"),
        13 => format!("-A -u {v4}:{} -s sh -b sh-fallback,sh-port", 5000 + i % 4),
        14 => format!("-A -u {v4}:{} -s rr -o", 6000 + i % 4),
        15 => format!("-A -t {v4}:{port} -s mh -b mh-port"),
        16 => format!("-A --sctp-service {v4}:{} -s lc", 9000 + i % 4),
        17 => format!(
            "-A -t [2001:db8::{:x}:{:x}]:{port} -s wrr -p 60 -M 64",
            i >> 16,
            i & 0xffff
        ),
        18 => format!("-A -f {} -s sh", 1 + i),
        _ => format!("-A -f {} -6 -s rr -p 120", 1 + i),
    };
    writeln!(out, "{line}").unwrap();
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success());
    assert!(matches!(ok, Ok(true)), "{args:?} failed");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: capture-dump OUT [N]");
    let n: u32 = args
        .next()
        .map(|v| v.parse().expect("N is a number"))
        .unwrap_or(10_000);

    let ns = format!("capture-{}", std::process::id());
    sh(&["ip", "netns", "add", &ns]);
    let result = std::panic::catch_unwind(|| capture(&ns, n, &out));
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn capture(ns: &str, n: u32, out: &str) {
    let mut text = String::new();
    for i in 0..n {
        service_rule(i, &mut text);
    }
    let ops: Vec<Operation> = rules::parse(&text)
        .expect("rules parse")
        .into_iter()
        .map(|r| match r {
            Rule::AddService { service } => Operation::AddService(service),
            other => unreachable!("{other:?}"),
        })
        .collect();
    let client = Client::builder()
        .netns(Netns::named(ns).unwrap())
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let result = client.execute_batch(&ops).expect("apply");
    assert!(result.is_ok(), "apply: {:?}", result.failures().next());
    eprintln!("capture-dump: {n} services added");

    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    let sock = within(std::os::fd::AsFd::as_fd(&file), || {
        Socket::new(NETLINK_GENERIC)
    })
    .expect("netlink socket in the namespace");
    let mut sock = sock;
    sock.bind_auto().unwrap();
    sock.connect(&NlAddr::new(0, 0)).unwrap();
    let family = client.family_id();
    let mut req = Vec::new();
    encode_request(
        &IpvsMessage::get_services(),
        family,
        1,
        RequestKind::Dump,
        &mut req,
    );
    sock.send(&req, 0).expect("send");

    // The same receive buffer as the client's (64 KiB).
    let (mut bytes, mut datagrams, mut services) = (Vec::new(), 0, 0);
    'dump: loop {
        let mut rx = Vec::with_capacity(64 * 1024);
        sock.recv(&mut rx, 0).expect("recv");
        bytes.extend_from_slice(&(rx.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&rx);
        datagrams += 1;
        for frame in decode(&rx, Some(family)) {
            match frame.expect("decodes").reply {
                Reply::Ipvs(_) => services += 1,
                Reply::Done => break 'dump,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(services, n, "every service in the dump");
    std::fs::File::create(out)
        .and_then(|mut f| f.write_all(&bytes))
        .expect("write OUT");
    eprintln!(
        "capture-dump: {services} services in {datagrams} datagrams, {} bytes, to {out}",
        bytes.len() - 4 * datagrams
    );
}
