//! Codec benchmarks on the host (criterion): parse and emit of single
//! messages and of a 10,000-service dump, with allocations per message, and
//! the same bytes decoded into netlink-packet-core's generic `DefaultNla`
//! lists as a floor.
//!
//! ```text
//! cargo bench -p ipvs-benches --bench codec            # criterion only
//! scripts/bench-codec                                   # and write benches/CODEC.md
//! ```
//!
//! Inputs, all captured from a real kernel (6.1, IPVS 1.2.1):
//! - a service: the first message of the dump below (a `NEW_SERVICE` reply
//!   with `STATS` and `STATS64` nests);
//! - a destination with traffic stats: a `GET_DEST` reply of the golden
//!   fixture `stats_traffic.json`;
//! - a request: ipvsadm's `NEW_DEST` request of `add_dest_tun_gue.json`;
//! - the dump: `benches/data/dump-10000-services.bin.gz`, the reply
//!   datagrams of one `GET_SERVICE` dump of 10,000 services, as received by
//!   `capture-dump` in the guest (`scripts/bench-codec --capture`).
//!
//! With `CODEC_REPORT=FILE` set, a markdown report (time, messages/s,
//! bytes/s, allocations per message, ratio to the floor) is written to FILE
//! once criterion is done.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use criterion::{Criterion, SamplingMode, Throughput};
use ipvs::codec::constants::{IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE};
use ipvs::codec::convert::{dest_from_nest, nest_of, service_from_nest};
use ipvs::codec::{IpvsMessage, Reply, RequestKind, decode, encode_request};
use ipvs::engine::wire::messages;
use ipvs::{AddressFamily, Destination, Service, ServiceKey};
use netlink_packet_core::{DefaultNla, NlaBuffer, NlasIterator, Parseable};

// ------------------------------------------------------------ allocations

/// The system allocator, counting allocations (and reallocations) and the
/// bytes asked for.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call goes to `System` with the arguments it was given.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: as the caller promised for `alloc`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: as the caller promised for `alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        // SAFETY: as the caller promised for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and bytes allocated by one call of `f` (after one call to
/// warm up, so buffers reused across calls are not counted).
fn allocations(f: &mut dyn FnMut()) -> (u64, u64) {
    f();
    let (a, b) = (ALLOCS.load(Relaxed), ALLOC_BYTES.load(Relaxed));
    f();
    (ALLOCS.load(Relaxed) - a, ALLOC_BYTES.load(Relaxed) - b)
}

// ------------------------------------------------------------ inputs

struct Inputs {
    /// The family id of the captures.
    family: u16,
    service: Vec<u8>,
    dest: Vec<u8>,
    request: Vec<u8>,
    /// The dump's datagrams, as received.
    dump: Vec<Vec<u8>>,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The first message of `dir` in fixture `name` whose generic-netlink
/// command is `cmd` and whose type is the IPVS family's.
fn fixture_message(name: &str, dir: &str, cmd: u8) -> (Vec<u8>, u16) {
    let path = manifest_dir().join(format!("../ipvs/tests/fixtures/{name}.json"));
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let family = f["family_id"].as_u64().unwrap() as u16;
    let msg = f["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["dir"] == dir)
        .map(|m| hex(m["hex"].as_str().unwrap()))
        .find(|b| b.len() > 20 && u16::from_ne_bytes([b[4], b[5]]) == family && b[16] == cmd)
        .unwrap_or_else(|| panic!("{name}: no {dir} with command {cmd}"));
    (msg, family)
}

fn load_dump() -> Vec<Vec<u8>> {
    let path = manifest_dir().join("data/dump-10000-services.bin.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut out = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(rest[4..4 + n].to_vec());
        rest = &rest[4 + n..];
    }
    out
}

impl Inputs {
    fn load() -> Inputs {
        let dump = load_dump();
        let first = &dump[0];
        let len = u32::from_ne_bytes(first[..4].try_into().unwrap()) as usize;
        let service = first[..len].to_vec();
        let family = u16::from_ne_bytes([first[4], first[5]]);
        // The fixtures were captured in another boot: another family id.
        let (mut dest, f) = fixture_message("stats_traffic", "reply", 5);
        let (mut request, f2) = fixture_message("add_dest_tun_gue", "request", 5);
        assert_eq!(f, f2);
        for m in [&mut dest, &mut request] {
            m[4..6].copy_from_slice(&family.to_ne_bytes());
        }
        Inputs {
            family,
            service,
            dest,
            request,
            dump,
        }
    }

    fn dump_bytes(&self) -> u64 {
        self.dump.iter().map(|d| d.len() as u64).sum()
    }
}

fn one_message(bytes: &[u8], family: u16) -> IpvsMessage {
    match decode(bytes, Some(family)).next().unwrap().unwrap().reply {
        Reply::Ipvs(m) => m,
        other => panic!("not IPVS: {other:?}"),
    }
}

// ------------------------------------------------------------ the floor

/// An attribute as netlink-packet-core's generic decoding has it, with the
/// attributes nested in it (IPVS's nests carry no `NLA_F_NESTED`, so which
/// are nests comes from the schema).
struct Node {
    #[allow(dead_code)]
    nla: DefaultNla,
    children: Vec<Node>,
}

/// Whether attribute `kind` at `depth` (0: a command attribute; 1: in a
/// service or destination nest) is itself a nest.
fn is_nest(depth: usize, parent: u16, kind: u16) -> bool {
    match depth {
        0 => matches!(kind, 1..=3), // SERVICE, DEST, DAEMON
        1 => matches!((parent, kind), (1 | 2, 10) | (1 | 2, 12)), // STATS, STATS64
        _ => false,
    }
}

fn floor_nlas(payload: &[u8], depth: usize, parent: u16) -> Vec<Node> {
    NlasIterator::new(payload)
        .map(|nla| {
            let nla: NlaBuffer<&[u8]> = nla.expect("well-formed");
            let kind = nla.kind();
            let children = if is_nest(depth, parent, kind) {
                floor_nlas(nla.value(), depth + 1, kind)
            } else {
                Vec::new()
            };
            Node {
                nla: DefaultNla::parse(&nla).expect("well-formed"),
                children,
            }
        })
        .collect()
}

/// Each netlink message of a datagram into `DefaultNla` trees (the
/// generic-netlink header skipped), until DONE, each handed to `each`.
fn floor_datagram(datagram: &[u8], mut each: impl FnMut(Vec<Node>)) {
    let mut rest = datagram;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if kind == 3 {
            break; // NLMSG_DONE
        }
        each(floor_nlas(&rest[20..len], 0, 0));
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
}

/// Walk every attribute with `NlasIterator`, keeping nothing: no decoding
/// at all, the cost of finding the attributes.
fn walk_nlas(payload: &[u8], depth: usize, parent: u16) -> usize {
    NlasIterator::new(payload)
        .map(|nla| {
            let nla: NlaBuffer<&[u8]> = nla.expect("well-formed");
            let kind = nla.kind();
            1 + if is_nest(depth, parent, kind) {
                walk_nlas(nla.value(), depth + 1, kind)
            } else {
                0
            }
        })
        .sum()
}

fn walk_datagram(datagram: &[u8]) -> usize {
    let (mut rest, mut n) = (datagram, 0);
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        if u16::from_ne_bytes([rest[4], rest[5]]) == 3 {
            break;
        }
        n += walk_nlas(&rest[20..len], 0, 0);
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    n
}

// ------------------------------------------------------------ cases

/// One benchmark: a closure run once per iteration, handling `messages`
/// messages of `bytes` bytes in all.
struct Case {
    group: &'static str,
    name: &'static str,
    what: &'static str,
    messages: u64,
    bytes: u64,
    run: Box<dyn FnMut()>,
}

fn case(
    group: &'static str,
    name: &'static str,
    what: &'static str,
    messages: u64,
    bytes: u64,
    run: impl FnMut() + 'static,
) -> Case {
    Case {
        group,
        name,
        what,
        messages,
        bytes,
        run: Box::new(run),
    }
}

/// Decode, convert to the model, encode and encode from the model for one
/// message, and the floor.
fn single(
    group: &'static str,
    bytes: &[u8],
    family: u16,
    to_model: fn(&IpvsMessage) -> usize,
    in_place: fn(&[u8]) -> usize,
    from_model: fn(&IpvsMessage, &mut Vec<u8>, u16),
) -> Vec<Case> {
    let n = bytes.len() as u64;
    let msg = one_message(bytes, family);
    let mut out = Vec::new();
    let b = bytes.to_vec();
    out.push(case(
        group,
        "decode",
        "bytes to an `IpvsMessage` (typed attributes)",
        1,
        n,
        move || {
            black_box(one_message(black_box(&b), family));
        },
    ));
    let b = bytes.to_vec();
    out.push(case(
        group,
        "to_model",
        "bytes to the model (`Service` / `Destination`)",
        1,
        n,
        move || {
            black_box(to_model(&one_message(black_box(&b), family)));
        },
    ));
    let b = bytes.to_vec();
    out.push(case(
        group,
        "in_place",
        "bytes to the model read in place (what the clients' dumps do)",
        1,
        n,
        move || {
            // After the netlink header: what the engine hands out.
            black_box(in_place(black_box(&b[16..])));
        },
    ));
    let m = msg.clone();
    let mut buf = Vec::with_capacity(4096);
    out.push(case(
        group,
        "encode",
        "the `IpvsMessage` to bytes (buffer reused)",
        1,
        n,
        move || {
            buf.clear();
            black_box(encode_request(
                black_box(&m),
                family,
                1,
                RequestKind::Ack,
                &mut buf,
            ));
        },
    ));
    let m = msg.clone();
    let mut buf = Vec::with_capacity(4096);
    out.push(case(
        group,
        "from_model",
        "the model to bytes, as a request (buffer reused)",
        1,
        n,
        move || {
            buf.clear();
            from_model(black_box(&m), &mut buf, family);
            black_box(&buf);
        },
    ));
    let b = bytes.to_vec();
    out.push(case(
        group,
        "floor_default_nla",
        "floor: bytes to `DefaultNla` trees",
        1,
        n,
        move || {
            floor_datagram(black_box(&b), |tree| {
                black_box(tree);
            });
        },
    ));
    out
}

fn service_of(m: &IpvsMessage) -> usize {
    black_box(m.service().unwrap().unwrap());
    1
}

fn dest_of(m: &IpvsMessage) -> usize {
    black_box(m.destination(AddressFamily::Ipv4).unwrap().unwrap());
    1
}

fn service_in_place(payload: &[u8]) -> usize {
    let nest = nest_of(payload, IPVS_CMD_ATTR_SERVICE).unwrap().unwrap();
    black_box(service_from_nest(nest, true).unwrap());
    1
}

fn dest_in_place(payload: &[u8]) -> usize {
    let nest = nest_of(payload, IPVS_CMD_ATTR_DEST).unwrap().unwrap();
    black_box(dest_from_nest(nest, AddressFamily::Ipv4, true).unwrap());
    1
}

fn request_in_place(payload: &[u8]) -> usize {
    let nest = nest_of(payload, IPVS_CMD_ATTR_SERVICE).unwrap().unwrap();
    let svc = service_from_nest(nest, true).unwrap();
    let nest = nest_of(payload, IPVS_CMD_ATTR_DEST).unwrap().unwrap();
    black_box(dest_from_nest(nest, svc.key.family(), true).unwrap());
    1
}

fn request_of(m: &IpvsMessage) -> usize {
    let svc = m.service().unwrap().unwrap();
    black_box(m.destination(svc.key.family()).unwrap().unwrap());
    1
}

fn service_to_bytes(m: &IpvsMessage, buf: &mut Vec<u8>, family: u16) {
    // The model as given (stats and all): the request leaves stats out.
    let svc: Service = m.service().unwrap().unwrap();
    encode_request(
        &IpvsMessage::new_service(&svc),
        family,
        1,
        RequestKind::Ack,
        buf,
    );
}

fn dest_to_bytes(m: &IpvsMessage, buf: &mut Vec<u8>, family: u16) {
    // A GET_DEST reply names no service: the request needs one.
    let key = match m.service().unwrap() {
        Some(svc) => svc.key,
        None => ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
    };
    let d: Destination = m.destination(key.family()).unwrap().unwrap();
    encode_request(
        &IpvsMessage::new_dest(&key, &d),
        family,
        1,
        RequestKind::Ack,
        buf,
    );
}

fn cases(inputs: &Inputs) -> Vec<Case> {
    let f = inputs.family;
    let mut out = Vec::new();
    out.extend(single(
        "service",
        &inputs.service,
        f,
        service_of,
        service_in_place,
        service_to_bytes,
    ));
    out.extend(single(
        "destination",
        &inputs.dest,
        f,
        dest_of,
        dest_in_place,
        dest_to_bytes,
    ));
    out.extend(single(
        "request",
        &inputs.request,
        f,
        request_of,
        request_in_place,
        dest_to_bytes,
    ));

    // The dump.
    let services: u64 = 10_000;
    let bytes = inputs.dump_bytes();
    let dump = inputs.dump.clone();
    out.push(case(
        "dump_10000",
        "decode",
        "every datagram to `IpvsMessage`s, each dropped once decoded",
        services,
        bytes,
        move || {
            let mut n = 0;
            for d in &dump {
                for frame in decode(black_box(d), Some(f)) {
                    if let Reply::Ipvs(m) = frame.unwrap().reply {
                        black_box(m);
                        n += 1;
                    }
                }
            }
            assert_eq!(n, 10_000);
        },
    ));
    let dump = inputs.dump.clone();
    out.push(case(
        "dump_10000",
        "to_model",
        "every datagram to a `Vec<Service>` through `IpvsMessage`s",
        services,
        bytes,
        move || {
            let mut svcs = Vec::with_capacity(10_000);
            for d in &dump {
                for frame in decode(black_box(d), Some(f)) {
                    if let Reply::Ipvs(m) = frame.unwrap().reply {
                        svcs.push(m.service().unwrap().unwrap());
                    }
                }
            }
            assert_eq!(svcs.len(), 10_000);
            black_box(svcs);
        },
    ));
    let dump = inputs.dump.clone();
    out.push(case(
        "dump_10000",
        "in_place",
        "every datagram to a `Vec<Service>` read in place (what `Client::services` does)",
        services,
        bytes,
        move || {
            let mut svcs = Vec::with_capacity(10_000);
            for d in &dump {
                for m in messages(black_box(d)) {
                    let (header, payload) = m.unwrap();
                    if header.message_type == f {
                        let nest = nest_of(payload, IPVS_CMD_ATTR_SERVICE).unwrap().unwrap();
                        svcs.push(service_from_nest(nest, true).unwrap());
                    }
                }
            }
            assert_eq!(svcs.len(), 10_000);
            black_box(svcs);
        },
    ));
    let msgs: Vec<IpvsMessage> = inputs
        .dump
        .iter()
        .flat_map(|d| decode(d, Some(f)).collect::<Vec<_>>())
        .filter_map(|fr| match fr.unwrap().reply {
            Reply::Ipvs(m) => Some(m),
            _ => None,
        })
        .collect();
    let mut buf = Vec::with_capacity(bytes as usize + 4096);
    out.push(case(
        "dump_10000",
        "encode",
        "the 10,000 `IpvsMessage`s to bytes, one buffer (reused)",
        services,
        bytes,
        move || {
            buf.clear();
            for (i, m) in msgs.iter().enumerate() {
                encode_request(black_box(m), f, i as u32, RequestKind::Ack, &mut buf);
            }
            black_box(&buf);
        },
    ));
    let svcs: Vec<Service> = inputs
        .dump
        .iter()
        .flat_map(|d| decode(d, Some(f)).collect::<Vec<_>>())
        .filter_map(|fr| match fr.unwrap().reply {
            Reply::Ipvs(m) => m.service().unwrap(),
            _ => None,
        })
        .collect();
    let mut buf = Vec::with_capacity(bytes as usize + 4096);
    out.push(case(
        "dump_10000",
        "from_model",
        "the 10,000 `Service`s to `NEW_SERVICE` requests, one buffer (reused)",
        services,
        bytes,
        move || {
            buf.clear();
            for (i, s) in svcs.iter().enumerate() {
                encode_request(
                    &IpvsMessage::new_service(black_box(s)),
                    f,
                    i as u32,
                    RequestKind::ErrorsOnly,
                    &mut buf,
                );
            }
            black_box(&buf);
        },
    ));
    let dump = inputs.dump.clone();
    out.push(case(
        "dump_10000",
        "floor_default_nla",
        "floor: every datagram to `DefaultNla` trees, each dropped once built",
        services,
        bytes,
        move || {
            let mut n = 0;
            for d in &dump {
                floor_datagram(black_box(d), |tree| {
                    assert!(tree.iter().any(|node| !node.children.is_empty()));
                    black_box(tree);
                    n += 1;
                });
            }
            assert_eq!(n, 10_000);
        },
    ));
    let dump = inputs.dump.clone();
    out.push(case(
        "dump_10000",
        "floor_walk",
        "every attribute found with `NlasIterator`, nothing kept",
        services,
        bytes,
        move || {
            let n: usize = dump.iter().map(|d| walk_datagram(black_box(d))).sum();
            black_box(n);
        },
    ));
    out
}

// ------------------------------------------------------------ report

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../target/criterion"))
}

/// Criterion's median time per iteration of a case, in nanoseconds, if
/// this run measured it.
fn median_ns(case: &Case, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(case.group)
        .join(case.name)
        .join("new/estimates.json");
    let meta = std::fs::metadata(&path).ok()?;
    if meta.modified().ok()? < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn human_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn human_rate(per_s: f64, unit: &str) -> String {
    if per_s >= 1e9 {
        format!("{:.2} G{unit}/s", per_s / 1e9)
    } else if per_s >= 1e6 {
        format!("{:.2} M{unit}/s", per_s / 1e6)
    } else {
        format!("{:.1} k{unit}/s", per_s / 1e3)
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn report(cases: &mut [Case], inputs: &Inputs, since: SystemTime) -> String {
    let mut r = String::new();
    let w = &mut r;
    writeln!(w, "## Codec benchmarks\n").unwrap();
    writeln!(
        w,
        "Written by `scripts/bench-codec` (`CODEC_REPORT=benches/CODEC.md cargo bench -p \
         ipvs-benches --bench codec`), on the host: {}, {} CPUs shared with other work, \
         so read the ratios more than the absolute numbers. Times are criterion's median \
         per iteration; allocations are counted by a global allocator in the bench binary \
         (allocations and reallocations, for one iteration after a warm-up one).\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )
    .unwrap();
    writeln!(
        w,
        "Inputs captured from a real kernel (6.1, IPVS 1.2.1): a service (first message of \
         the dump, with `STATS` and `STATS64`, {} bytes), a destination with traffic stats \
         (`GET_DEST` reply of fixture `stats_traffic`, {} bytes), ipvsadm's `NEW_DEST` \
         request with a GUE tunnel (fixture `add_dest_tun_gue`, {} bytes), and the \
         `GET_SERVICE` dump of 10,000 services as the kernel sent it \
         (`benches/data/dump-10000-services.bin.gz`: {} datagrams, {} bytes; TCP, UDP, \
         SCTP, IPv6 and fwmark services, several schedulers, persistence and flags).\n",
        inputs.service.len(),
        inputs.dest.len(),
        inputs.request.len(),
        inputs.dump.len(),
        inputs.dump_bytes(),
    )
    .unwrap();
    writeln!(
        w,
        "The floor decodes the same bytes with netlink-packet-core alone: `NlasIterator` \
         and `DefaultNla::parse` for every attribute, recursing into the nests (the list of \
         nests taken from the schema, as IPVS sets no `NLA_F_NESTED`), keeping each value \
         as bytes. \"vs floor\" is time / the floor's time for the same input, for the \
         decoding steps (below 1: faster than the floor). Encoding steps write into a \
         buffer kept across iterations, as the clients do.\n"
    )
    .unwrap();
    let mut current = "";
    let mut floor = None;
    let mut measured = Vec::new();
    for c in cases.iter_mut() {
        if c.group != current {
            current = c.group;
            floor = None;
            writeln!(
                w,
                "\n### {}\n\n| step | what | time | messages/s | bytes/s | allocs/message | \
                 bytes allocated/message | vs floor |\n|---|---|---|---|---|---|---|---|",
                c.group
            )
            .unwrap();
        }
        let ns = median_ns(c, since);
        if c.name == "floor_default_nla" {
            floor = ns;
        }
        let (allocs, alloc_bytes) = allocations(&mut c.run);
        let per = c.messages as f64;
        measured.push((
            c.group,
            c.name,
            ns,
            allocs as f64 / per,
            c.messages,
            c.bytes,
        ));
        let (time, msgs, bytes) = match ns {
            Some(ns) => (
                human_time(ns),
                human_rate(per / ns * 1e9, "msg"),
                human_rate(c.bytes as f64 / ns * 1e9, "B"),
            ),
            None => ("not measured".into(), "".into(), "".into()),
        };
        // Decoding steps only: encoding is no floor's business.
        let decodes = !matches!(c.name, "encode" | "from_model");
        let vs = match (ns, floor) {
            (Some(ns), Some(f)) if decodes => format!("{:.2}x", ns / f),
            _ => "".into(),
        };
        writeln!(
            w,
            "| `{}` | {} | {time} | {msgs} | {bytes} | {:.1} | {:.0} | {vs} |",
            c.name,
            c.what,
            allocs as f64 / per,
            alloc_bytes as f64 / per,
        )
        .unwrap();
    }

    // The figures that matter most, in one sentence.
    let get = |g: &str, n: &str| measured.iter().find(|m| m.0 == g && m.1 == n).copied();
    if let (Some(model), Some(place), Some(floor), Some(dec)) = (
        get("dump_10000", "to_model"),
        get("dump_10000", "in_place"),
        get("dump_10000", "floor_default_nla"),
        get("dump_10000", "decode"),
    ) && let (Some(mt), Some(pt), Some(ft), Some(dt)) = (model.2, place.2, floor.2, dec.2)
    {
        writeln!(
            w,
            "\n**In short:** the 10,000-service dump reads into `Service`s in place (what the \
             clients do) at {} ({}), {:.1} allocations per service, in {:.2}x the time of the \
             generic `DefaultNla` decoding ({:.1} allocations per service); through typed \
             attributes it takes {:.2}x the floor's time ({:.1} allocations per service), \
             decoding to typed attributes alone {:.2}x.",
            human_rate(place.4 as f64 / pt * 1e9, "msg"),
            human_rate(place.5 as f64 / pt * 1e9, "B"),
            place.3,
            pt / ft,
            floor.3,
            mt / ft,
            model.3,
            dt / ft,
        )
        .unwrap();
    }
    r
}

// ------------------------------------------------------------ main

fn main() {
    let inputs = Inputs::load();
    // The floor first in each group, so the ratio has it.
    let mut cases = cases(&inputs);
    for group in ["service", "destination", "request", "dump_10000"] {
        let i = cases
            .iter()
            .position(|c| c.group == group)
            .expect("a group");
        let j = cases
            .iter()
            .position(|c| c.group == group && c.name == "floor_default_nla")
            .expect("a floor");
        let floor = cases.remove(j);
        cases.insert(i, floor);
    }

    let since = SystemTime::now() - Duration::from_secs(1);
    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let mut i = 0;
    while i < cases.len() {
        let group = cases[i].group;
        let mut g = c.benchmark_group(group);
        if group.starts_with("dump") {
            g.sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(3));
        }
        while i < cases.len() && cases[i].group == group {
            let case = &mut cases[i];
            g.throughput(Throughput::Elements(case.messages));
            let run = &mut case.run;
            g.bench_function(case.name, |b| b.iter(&mut *run));
            i += 1;
        }
        g.finish();
    }
    c.final_summary();

    if let Some(path) = std::env::var_os("CODEC_REPORT") {
        let text = report(&mut cases, &inputs, since);
        std::fs::write(&path, &text).expect("write CODEC_REPORT");
        eprintln!("codec report written to {}", Path::new(&path).display());
    }
}
