//! What each fuzz target checks, on the bytes libFuzzer gives it.
//!
//! Shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`, each a one-line
//! call into this module) and by the host regression test
//! `ipvs/tests/fuzz_regressions.rs`, which replays every input of
//! `fuzz/regressions/<target>/` (and the seeds of `fuzz/seeds/`) through
//! the same function: a crash found by fuzzing stays fixed under plain
//! `cargo test`. Included into both with `#[path]`, so it depends only on
//! `ipvs-netlink` and `arbitrary`.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use ipvs::codec::{IpvsMessage, Reply, RequestKind, decode, encode_request};
use ipvs::rules::{self, Rule, WriteOptions};
use ipvs::state::State;
use ipvs::{
    AddressFamily, DaemonState, Destination, ForwardMethod, Netmask, Persistence, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};

/// What a target does with one input (panics on a failed check).
pub type Check = fn(&[u8]);

/// Every target, by the name `cargo fuzz` knows it by.
pub const TARGETS: &[(&str, Check)] = &[
    ("decode_datagram", decode_datagram),
    ("roundtrip_model", roundtrip_model),
    ("parse_rules", parse_rules),
    ("load_config", load_config),
    ("parse_keepalived", parse_keepalived),
    ("parse_piranha", parse_piranha),
];

// ------------------------------------------------------------ decode_datagram

/// Arbitrary bytes as a received datagram: decoding never panics, every
/// accessor copes with whatever decoded, and every decoded IPVS message is a
/// fixed point of encode-then-decode.
pub fn decode_datagram(data: &[u8]) {
    for family in [None, Some(0x25)] {
        for frame in decode(data, family) {
            // The iterator ends after the first error.
            let Ok(frame) = frame else { continue };
            let _ = frame.interrupted();
            let _ = frame.multipart();
            let Reply::Ipvs(msg) = &frame.reply else {
                continue;
            };

            let service = msg.service();
            let dest = msg.destination(AddressFamily::Ipv4);
            let _ = msg.destination(AddressFamily::Ipv6);
            let _ = msg.daemon();
            let _ = msg.info();
            let _ = msg.timeouts();
            let _ = msg.command.to_string();

            // Re-encode, re-decode: the same message.
            let mut buf = Vec::new();
            let n = encode_request(
                msg,
                frame.header.message_type,
                frame.header.sequence_number,
                RequestKind::Ack,
                &mut buf,
            );
            assert_eq!(n, buf.len());
            let mut again = decode(&buf, family);
            let back = again
                .next()
                .expect("a message")
                .unwrap_or_else(|e| panic!("re-encoding of {msg:?} does not decode: {e}"));
            assert!(again.next().is_none(), "one message re-encodes as one");
            assert_eq!(&back.reply, &frame.reply);

            // A valid service read from it re-encodes to itself.
            if let Ok(Some(svc)) = service {
                let svc = svc.config();
                if svc.validate().is_ok() {
                    let m = through_bytes(&IpvsMessage::new_service(&svc));
                    assert_eq!(m.service().unwrap(), Some(svc));
                }
            }
            // So does a valid destination.
            if let Ok(Some(d)) = dest {
                let d = d.config();
                let key = ServiceKey::Fwmark {
                    fwmark: 1,
                    family: AddressFamily::of(&d.address),
                };
                if d.validate(&key).is_ok() {
                    let m = through_bytes(&IpvsMessage::new_dest(&key, &d));
                    assert_eq!(m.destination(key.family()).unwrap(), Some(d));
                }
            }
        }
    }
}

/// Encode `msg`, decode the bytes: the one IPVS message they hold.
fn through_bytes(msg: &IpvsMessage) -> IpvsMessage {
    let mut buf = Vec::new();
    encode_request(msg, 0x25, 1, RequestKind::Ack, &mut buf);
    let mut frames = decode(&buf, Some(0x25));
    let frame = frames.next().expect("a message").expect("decodes");
    assert!(frames.next().is_none());
    match frame.reply {
        Reply::Ipvs(m) => m,
        other => panic!("not IPVS: {other:?}"),
    }
}

// ------------------------------------------------------------ roundtrip_model

#[derive(Debug, Arbitrary)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Addr {
    fn ip(&self) -> IpAddr {
        match *self {
            Addr::V4(o) => IpAddr::V4(Ipv4Addr::from(o)),
            Addr::V6(o) => IpAddr::V6(Ipv6Addr::from(o)),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Key {
    Address {
        protocol: u16,
        address: Addr,
        port: u16,
    },
    Fwmark {
        fwmark: u32,
        v6: bool,
    },
}

#[derive(Debug, Arbitrary)]
enum Mask {
    V4([u8; 4]),
    V6(u8),
}

#[derive(Debug, Arbitrary)]
enum Fwd {
    Masquerade,
    Local,
    Ipip,
    Gue { port: u16, checksum: u8 },
    Gre { checksum: u8 },
    DirectRoute,
    Bypass,
    Other(u32),
}

fn checksum(c: u8) -> TunnelChecksum {
    match c % 3 {
        0 => TunnelChecksum::None,
        1 => TunnelChecksum::Checksum,
        _ => TunnelChecksum::Remote,
    }
}

/// The structured input of `roundtrip_model`.
#[derive(Debug, Arbitrary)]
pub struct ModelInput {
    key: Key,
    scheduler: String,
    persistence: Option<(u32, Mask)>,
    flags: u32,
    persistence_engine: Option<String>,
    dest_address: Addr,
    dest_port: u16,
    forward: Fwd,
    weight: u32,
    upper: u32,
    lower: u32,
    daemon_state: u32,
    interface: String,
    sync_id: u32,
    max_len: Option<u16>,
    group: Option<Addr>,
    mcast_port: Option<u16>,
    ttl: Option<u8>,
    timeouts: (u32, u32, u32),
}

/// Structured input (read from the bytes as libFuzzer's `fuzz_target!`
/// does for a typed input): a service, a destination, a sync daemon and
/// timeouts built from arbitrary fields. Encoding never panics, valid or
/// not; what `validate()` accepts comes back unchanged from
/// encode-then-decode.
pub fn roundtrip_model(data: &[u8]) {
    if let Ok(input) = ModelInput::arbitrary_take_rest(Unstructured::new(data)) {
        roundtrip_model_input(input);
    }
}

/// [`roundtrip_model`] on an input already built.
pub fn roundtrip_model_input(input: ModelInput) {
    let key = match input.key {
        Key::Address {
            protocol,
            address,
            port,
        } => ServiceKey::Address {
            protocol: Protocol::from_raw(protocol),
            address: address.ip(),
            port,
        },
        Key::Fwmark { fwmark, v6 } => ServiceKey::Fwmark {
            fwmark,
            family: if v6 {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            },
        },
    };
    let svc = Service {
        key,
        // Through from_name: `Other("rr")` is not a value the codec makes.
        scheduler: Scheduler::from_name(&input.scheduler),
        persistence: input.persistence.map(|(timeout, m)| Persistence {
            timeout,
            netmask: match m {
                Mask::V4(o) => Netmask::V4(Ipv4Addr::from(o)),
                Mask::V6(p) => Netmask::V6(p),
            },
        }),
        // PERSISTENT and HASHED are derived, not held by the model.
        flags: ServiceFlags::from_bits_retain(input.flags)
            .difference(ServiceFlags::PERSISTENT | ServiceFlags::HASHED),
        persistence_engine: input.persistence_engine,
        stats: None,
    };
    let dest = Destination {
        address: input.dest_address.ip(),
        port: input.dest_port,
        forward: match input.forward {
            Fwd::Masquerade => ForwardMethod::Masquerade,
            Fwd::Local => ForwardMethod::Local,
            Fwd::Ipip => ForwardMethod::Tunnel(Tunnel::Ipip),
            Fwd::Gue { port, checksum: c } => ForwardMethod::Tunnel(Tunnel::Gue {
                port,
                checksum: checksum(c),
            }),
            Fwd::Gre { checksum: c } => ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: checksum(c),
            }),
            Fwd::DirectRoute => ForwardMethod::DirectRoute,
            Fwd::Bypass => ForwardMethod::Bypass,
            Fwd::Other(n) => ForwardMethod::Other(n),
        },
        weight: input.weight,
        upper_threshold: input.upper,
        lower_threshold: input.lower,
        connections: None,
        stats: None,
    };
    let daemon = SyncDaemon {
        state: DaemonState::from_raw(input.daemon_state),
        interface: input.interface,
        sync_id: input.sync_id,
        max_len: input.max_len,
        group: input.group.map(|g| g.ip()),
        port: input.mcast_port,
        ttl: input.ttl,
    };
    let (tcp, tcp_fin, udp) = input.timeouts;
    let timeouts = Timeouts { tcp, tcp_fin, udp };

    // Encoding never panics, valid or not.
    let svc_msg = through_bytes(&IpvsMessage::new_service(&svc));
    let dest_msg = through_bytes(&IpvsMessage::new_dest(&svc.key, &dest));
    let daemon_msg = through_bytes(&IpvsMessage::new_daemon(&daemon));
    let _ = through_bytes(&IpvsMessage::del_dest(&svc.key, dest.address, dest.port));

    if svc.validate().is_ok() {
        assert_eq!(svc_msg.service().unwrap(), Some(svc.clone()));
    }
    if svc.key.validate().is_ok() {
        assert_eq!(dest_msg.service().unwrap().map(|s| s.key), Some(svc.key));
    }
    if dest.validate(&svc.key).is_ok() {
        assert_eq!(dest_msg.destination(svc.key.family()).unwrap(), Some(dest));
    }
    if daemon.validate().is_ok() {
        assert_eq!(daemon_msg.daemon().unwrap(), Some(daemon));
    }
    assert_eq!(
        through_bytes(&IpvsMessage::set_config(&timeouts)).timeouts(),
        timeouts
    );
}

// ------------------------------------------------------------ parse_rules

/// Arbitrary text (bytes read as UTF-8, invalid sequences replaced) into
/// the ipvsadm rules parser:
/// - parsing never panics, and an error points inside the text;
/// - what parses writes out (thresholds included) as text that parses to
///   the same rules, and writes out again to the same text; each rule's
///   `Display` parses back to it;
/// - ipvsadm's own save format (no thresholds) parses back to the same
///   rules less their thresholds;
/// - the same text as a state ([`State::from_rules_text`]) never panics,
///   and a state it gives writes as rules that read back to it.
pub fn parse_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = rules::parse_lines(&text);
    assert_eq!(
        rules::parse(&text).ok(),
        parsed
            .as_ref()
            .ok()
            .map(|p| p.iter().map(|p| p.rule.clone()).collect::<Vec<_>>())
    );
    match parsed {
        Err(e) => {
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                e.line >= 1 && e.line <= lines.len(),
                "{e}: line outside the {} lines of {text:?}",
                lines.len()
            );
            let line = lines[e.line - 1];
            assert!(
                e.column >= 1 && e.column <= line.chars().count() + 1,
                "{e}: column outside {line:?}"
            );
            let _ = e.to_string();
        }
        Ok(parsed) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut last = 0;
            for p in &parsed {
                assert!(p.line > last && p.line <= lines.len(), "line {}", p.line);
                last = p.line;
                // A rule's Display is ipvsadm's save line (no thresholds).
                let shown = p.rule.to_string();
                let again: Rule = shown
                    .parse()
                    .unwrap_or_else(|e| panic!("{shown:?} (from {:?}): {e}", lines[p.line - 1]));
                assert_eq!(again, without_thresholds(&p.rule), "{shown:?}");
            }
            let rules: Vec<Rule> = parsed.into_iter().map(|p| p.rule).collect();

            let written = rules::write_with(&rules, &WriteOptions::COMPLETE);
            let back = rules::parse(&written)
                .unwrap_or_else(|e| panic!("written rules do not parse: {e}\n{written}"));
            assert_eq!(back, rules, "{written}");
            assert_eq!(rules::write_with(&back, &WriteOptions::COMPLETE), written);

            let saved = rules::write(&rules);
            let back = rules::parse(&saved)
                .unwrap_or_else(|e| panic!("saved rules do not parse: {e}\n{saved}"));
            assert_eq!(
                back,
                rules.iter().map(without_thresholds).collect::<Vec<_>>()
            );
        }
    }

    if let Ok(state) = State::from_rules_text(&text) {
        let written = state.to_rules_text();
        let back = State::from_rules_text(&written)
            .unwrap_or_else(|e| panic!("a state's rules do not read back: {e}\n{written}"));
        assert!(back.config_eq(&state), "{written}");
        assert_eq!(back.to_rules_text(), written);
    }
}

fn without_thresholds(rule: &Rule) -> Rule {
    let mut rule = rule.clone();
    if let Rule::AddDestination { dest, .. } | Rule::UpdateDestination { dest, .. } = &mut rule {
        dest.upper_threshold = 0;
        dest.lower_threshold = 0;
    }
    rule
}

// ------------------------------------------------------------ load_config

/// Arbitrary text (bytes read as UTF-8, invalid sequences replaced) as a
/// JSON, YAML and TOML state file:
/// - loading never panics, in any of the three;
/// - a state that loads (and so is valid) writes as JSON, YAML and TOML,
///   and each reads back to the same state;
/// - it writes as ipvsadm rules that, if they read back, read back to the
///   same settings (but for the ports of direct-routed and tunnelled
///   destinations of address services, which ipvsadm's format cannot hold:
///   they read back as the service's; found by this target).
pub fn load_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let loaded = [
        ("JSON", State::from_json(&text)),
        ("YAML", State::from_yaml(&text)),
        ("TOML", State::from_toml(&text)),
    ];
    for (format, state) in loaded {
        match state {
            Ok(state) => state_round_trips(&state, format),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// A valid `state` (read from `from`) through every format and back.
pub fn state_round_trips(state: &State, from: &str) {
    let json = state
        .to_json()
        .unwrap_or_else(|e| panic!("state from {from} does not write as JSON: {e}\n{state:?}"));
    let back = State::from_json(&json)
        .unwrap_or_else(|e| panic!("state from {from} does not read back from JSON: {e}\n{json}"));
    assert_eq!(&back, state, "{from} -> JSON:\n{json}");

    let yaml = state
        .to_yaml()
        .unwrap_or_else(|e| panic!("state from {from} does not write as YAML: {e}\n{state:?}"));
    let back = State::from_yaml(&yaml)
        .unwrap_or_else(|e| panic!("state from {from} does not read back from YAML: {e}\n{yaml}"));
    assert_eq!(&back, state, "{from} -> YAML:\n{yaml}");

    let toml = state
        .to_toml()
        .unwrap_or_else(|e| panic!("state from {from} does not write as TOML: {e}\n{state:?}"));
    let back = State::from_toml(&toml)
        .unwrap_or_else(|e| panic!("state from {from} does not read back from TOML: {e}\n{toml}"));
    assert_eq!(&back, state, "{from} -> TOML:\n{toml}");

    // As rules: what reads back has the same settings, with ipvsadm's one
    // loss (a direct-routed or tunnelled destination of an address service
    // reads back on the service's port). Rules that do not read back at all
    // are a loud failure, not a silent change, and a valid state can be
    // one ipvsadm's client-side rules refuse (one-packet scheduling on a
    // TCP service: the kernel takes it, ipvsadm does not).
    let text = state.to_rules_text();
    if let Ok(back) = State::from_rules_text(&text) {
        let expected = as_ipvsadm_reads_it(state);
        assert!(back.config_eq(&expected), "{from} -> rules:\n{text}");
    }
}

/// `state` as it reads back from ipvsadm rules: the destinations of an
/// address service that are direct-routed or tunnelled get the service's
/// port (ipvsadm sets it whatever `-r` says).
fn as_ipvsadm_reads_it(state: &State) -> State {
    let mut out = state.clone();
    for s in &mut out.services {
        // Rules name one-packet (`-o`) and the three scheduler flags (`-b`);
        // other flag bits the kernel would keep have no rule form.
        s.service.flags = ServiceFlags::from_bits_retain(s.service.flags.bits() & 0x3c);
        if let ServiceKey::Address { port, .. } = s.service.key {
            for d in &mut s.destinations {
                if matches!(
                    d.forward,
                    ForwardMethod::DirectRoute | ForwardMethod::Tunnel(_)
                ) {
                    d.port = port;
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------ parse_keepalived

/// The name fuzz inputs are parsed under (no such directory: relative
/// includes find nothing).
const FUZZ_KEEPALIVED: &str = "/nonexistent-ipvs-fuzz/keepalived.conf";

/// Arbitrary text as keepalived.conf: parsing and mapping never panic;
/// errors and warnings point inside the text; a table that loads is valid
/// and reads back from its rules with the same settings. `include` lines
/// are dropped first, so that the fuzzer never reads the machine's files.
pub fn parse_keepalived(data: &[u8]) {
    use ipvs::import::keepalived;
    let text = String::from_utf8_lossy(data);
    let text: String = text
        .split('\n')
        .filter(|l| {
            !l.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c'])
                .starts_with("include")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let lines = text.split('\n').count();
    let path = std::path::Path::new(FUZZ_KEEPALIVED);
    let doc = match keepalived::parse_str(&text, path) {
        Ok(doc) => doc,
        Err(e) => {
            check_location(&e, path, lines, &text);
            return;
        }
    };
    // Deterministic.
    assert_eq!(keepalived::parse_str(&text, path).unwrap(), doc);
    match keepalived::to_import(&doc) {
        Ok(import) => {
            for w in &import.warnings {
                assert_located(&w.at, path, lines, &text);
            }
            check_imported_state(&import.state, &text);
        }
        Err(e) => check_location(&e, path, lines, &text),
    }
}

// ------------------------------------------------------------ parse_piranha

/// Arbitrary text as Piranha's lvs.cf: the same checks as keepalived.conf.
pub fn parse_piranha(data: &[u8]) {
    use ipvs::import::piranha;
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    let path = std::path::Path::new("/nonexistent-ipvs-fuzz/lvs.cf");
    let doc = match piranha::parse(&text, path) {
        Ok(doc) => doc,
        Err(e) => {
            check_location(&e, path, lines, &text);
            return;
        }
    };
    assert_eq!(piranha::parse(&text, path).unwrap(), doc);
    for w in &doc.warnings {
        assert_located(&w.at, path, lines, &text);
    }
    match piranha::to_import(&doc) {
        Ok(import) => {
            for w in &import.warnings {
                assert_located(&w.at, path, lines, &text);
            }
            check_imported_state(&import.state, &text);
        }
        Err(e) => check_location(&e, path, lines, &text),
    }
}

fn check_location(e: &ipvs::import::ImportError, path: &std::path::Path, lines: usize, text: &str) {
    let at = e
        .location()
        .unwrap_or_else(|| panic!("an error without a place: {e}\n{text}"));
    assert_located(at, path, lines, text);
    assert!(!e.to_string().is_empty());
}

fn assert_located(at: &ipvs::import::Location, path: &std::path::Path, lines: usize, text: &str) {
    assert_eq!(&*at.file, path, "{at}\n{text}");
    assert!(
        at.line >= 1 && at.line as usize <= lines,
        "{at}: past the last line\n{text}"
    );
    let line = text.split('\n').nth(at.line as usize - 1).unwrap_or("");
    assert!(
        at.column >= 1 && at.column as usize <= line.chars().count() + 1,
        "{at}: past the end of its line {line:?}"
    );
}

/// A loaded table is valid, and its rules read back with the same settings
/// (as ipvsadm reads them).
fn check_imported_state(state: &State, text: &str) {
    state
        .validate()
        .unwrap_or_else(|e| panic!("an imported state that does not validate: {e}\n{text}"));
    let rules = state.to_rules_text();
    let back = State::from_rules_text(&rules).unwrap_or_else(|e| {
        panic!("an imported state's rules do not read back: {e}\n{rules}\nfrom\n{text}")
    });
    assert!(
        back.config_eq(&as_ipvsadm_reads_it(state)),
        "imported state -> rules:\n{rules}\nfrom\n{text}"
    );
}
