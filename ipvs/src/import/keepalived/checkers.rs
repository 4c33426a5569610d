//! keepalived's checkers and health keys to the health settings
//! (feature `health`): each real server's first checker becomes its
//! destination's check, the virtual server's keys its service's policy.
//!
//! | keepalived | health settings |
//! | --- | --- |
//! | `delay_loop` (60 s) | `interval` |
//! | `connect_timeout` (5 s), `misc_timeout` | `timeout` (at most `interval`) |
//! | `retry`/`nb_get_retry` (1; DNS 3, MISC 0) | `fall` = retry + 1 |
//! | a success after a failure | `rise` 1 |
//! | `warmup` (`delay_loop`) | `jitter` |
//! | `connect_ip`, `connect_port`, `bindto` | `connect_address`, `connect_port`, `source` |
//! | `TCP_CHECK` | `tcp` |
//! | `HTTP_GET`, `SSL_GET`: the first `url`'s `path`, `status_code`, `regex`; `virtualhost` | `http` (`tls` for SSL_GET, unverified as keepalived) |
//! | `MISC_CHECK`: `misc_path`, `misc_dynamic` | `exec` (`dynamic`) |
//! | `DNS_CHECK`: `type` (SOA), `name` (`.`) | `dns` |
//! | `UDP_CHECK`: `payload`, `require_reply` | `udp` |
//! | `inhibit_on_failure` | `on_failure: quiesce` |
//! | `alpha` | `initial: down` |
//! | `quorum`, `hysteresis`, `sorry_server` | `quorum`, `sorry_server` |
//!
//! Everything else (a second checker, `delay_before_retry`, digests,
//! `FILE_CHECK`'s value arithmetic, notify scripts...) is a warning.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::document::{Checker, CheckerKind, Method, RealServer, Timing, VirtualServer};
use super::parse::Statement;
use crate::health::probe::Probe;
use crate::health::probe::{Dns, Exec, Http, Payload, StatusRange, Udp};
use crate::health::{Check, Initial, OnFailure, Quorum, ServiceHealth};
use crate::import::{Located, Location, WarningKind, Warnings};
use crate::model::{Destination, ForwardMethod};
use crate::state::ServiceState;

/// keepalived's `delay_loop` when none is given.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's `connect_timeout` when none is given.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The health settings of `svc`, made from virtual server `vs`: its
/// policy (if it has any health key) and its destinations' checks.
/// Warnings are pushed only when `report` (a group's services share one
/// virtual server: its keys are reported once).
pub(crate) fn map(
    vs: &VirtualServer,
    svc: &ServiceState,
    method_of: impl Fn(&RealServer) -> Method,
    report: bool,
    w: &mut Warnings,
) -> (Option<ServiceHealth>, HashMap<SocketAddr, Check>) {
    let mut scratch = Warnings::default();
    let w = if report { w } else { &mut scratch };
    let mut health = ServiceHealth::default();
    let mut has_policy = false;
    if let Some(i) = &vs.inhibit_on_failure {
        if i.value {
            health.on_failure = OnFailure::Quiesce;
            has_policy = true;
        }
    }
    if let Some(a) = &vs.alpha {
        if a.value {
            health.initial = Initial::Down;
            has_policy = true;
        }
    }
    let quorum = vs.quorum.as_ref().map(|q| q.value);
    let hysteresis = vs.hysteresis.as_ref().map(|h| h.value).unwrap_or(0);
    if let Some((addr, port)) = vs.sorry_server.as_ref().map(|s| s.value) {
        let forward = match &vs.sorry_server_method {
            Some(m) => forward(m.value),
            None => svc
                .destinations
                .first()
                .map(|d| d.forward)
                .unwrap_or(ForwardMethod::Masquerade),
        };
        let port = match forward {
            ForwardMethod::Masquerade => port,
            _ => svc.service.key.port().unwrap_or(0),
        };
        health.sorry_server = Some(
            Destination::new(SocketAddr::new(addr, port))
                .with_forward(forward)
                .with_weight(1),
        );
        has_policy = true;
    }
    // keepalived's quorum is 1 unless set; it matters with a sorry server
    // (all real servers down) or when set.
    if quorum.is_some() || health.sorry_server.is_some() {
        health.quorum = Some(Quorum {
            weight: quorum.unwrap_or(1).max(1),
            hysteresis,
        });
        has_policy = true;
    } else if let Some(h) = &vs.hysteresis {
        note(w, &h.at, "hysteresis", "no quorum is set: nothing to damp");
    }
    let opt = |w: &mut Warnings, key: &str, v: Option<&Location>, why: &str| {
        if let Some(at) = v {
            note(w, at, key, why);
        }
    };
    const SCRIPT: &str = "a script run on this transition: not carried over (`notify:` runs one program on every event)";
    opt(w, "quorum_up", vs.quorum_up.as_ref().map(|x| &x.at), SCRIPT);
    opt(
        w,
        "quorum_down",
        vs.quorum_down.as_ref().map(|x| &x.at),
        SCRIPT,
    );
    opt(
        w,
        "omega",
        vs.omega.as_ref().map(|x| &x.at),
        "run the quorum_down script and notify_down scripts at shutdown: no counterpart",
    );
    opt(
        w,
        "ha_suspend",
        vs.ha_suspend.as_ref().map(|x| &x.at),
        "suspend checks while the VRRP instance is not MASTER: no counterpart (checks always run)",
    );
    opt(
        w,
        "sorry_server_inhibit",
        vs.sorry_server_inhibit.as_ref().map(|x| &x.at),
        "the sorry server is not checked: no counterpart",
    );

    let mut checks = HashMap::new();
    for rs in &vs.real_servers {
        let Some(dest) = destination_of(svc, rs, method_of(rs)) else {
            continue;
        };
        if let Some(i) = &rs.inhibit_on_failure {
            if i.value != (health.on_failure == OnFailure::Quiesce) {
                note(
                    w,
                    &i.at,
                    "inhibit_on_failure",
                    "per real server: what a failed destination becomes is set per service here (the virtual server's setting is used)",
                );
            }
        }
        if let Some(a) = &rs.alpha {
            if a.value != (health.initial == Initial::Down) {
                note(
                    w,
                    &a.at,
                    "alpha",
                    "per real server: the state before the first check is set per service here (the virtual server's setting is used)",
                );
            }
        }
        opt(w, "notify_up", rs.notify_up.as_ref().map(|x| &x.at), SCRIPT);
        opt(
            w,
            "notify_down",
            rs.notify_down.as_ref().map(|x| &x.at),
            SCRIPT,
        );
        let mut first = None;
        for c in &rs.checkers {
            if first.is_some() {
                note(
                    w,
                    &c.at,
                    c.kind.keyword(),
                    "a second checker of one real server: one check per destination here (the first is used)",
                );
                continue;
            }
            first = checker(vs, rs, c, w);
        }
        if let Some(check) = first {
            checks.insert(dest, check);
        }
    }
    (has_policy.then_some(health), checks)
}

fn note(w: &mut Warnings, at: &Location, key: &str, why: &str) {
    w.push(at, WarningKind::NotCarriedOver, key, why);
}

fn corrected(w: &mut Warnings, at: &Location, key: &str, why: String) {
    w.push(at, WarningKind::Corrected, key, why);
}

fn forward(m: Method) -> ForwardMethod {
    match m {
        Method::Nat => ForwardMethod::Masquerade,
        Method::DirectRoute => ForwardMethod::DirectRoute,
        Method::Tunnel(t) => ForwardMethod::Tunnel(t),
    }
}

/// The destination a real server became (its port reset for direct
/// routing and tunnels, as the table mapping resets it).
fn destination_of(svc: &ServiceState, rs: &RealServer, m: Method) -> Option<SocketAddr> {
    svc.destinations
        .iter()
        .find(|d| d.address == rs.address && (d.port == rs.port || !matches!(m, Method::Nat)))
        .map(Destination::socket_addr)
}

/// A timing key: the checker's, else the real server's, else the virtual
/// server's.
fn pick<'a, T: Copy>(
    c: &'a Checker,
    rs: &'a RealServer,
    vs: &'a VirtualServer,
    f: impl Fn(&'a Timing) -> &'a Option<Located<T>>,
) -> Option<&'a Located<T>> {
    f(&c.timing)
        .as_ref()
        .or(f(&rs.timing).as_ref())
        .or(f(&vs.timing).as_ref())
}

/// One checker as a check; `None` (and a warning) for what has no
/// counterpart.
fn checker(vs: &VirtualServer, rs: &RealServer, c: &Checker, w: &mut Warnings) -> Option<Check> {
    let key = c.kind.keyword();
    let probe = match c.kind {
        CheckerKind::Tcp => {
            for s in &c.settings {
                unknown(w, s, key);
            }
            Probe::Tcp
        }
        CheckerKind::HttpGet | CheckerKind::SslGet => http(vs, rs, c, w),
        CheckerKind::Misc => Probe::Exec(misc(c, w)?),
        CheckerKind::Dns => dns(c, w),
        CheckerKind::Udp => Probe::Udp(udp(c, w)),
        CheckerKind::File => {
            note(
                w,
                &c.at,
                key,
                "keepalived multiplies a tracked file's value by a weight (track_file blocks are not read): a file check reads a weight, up or down; not carried over",
            );
            return None;
        }
        CheckerKind::Smtp | CheckerKind::Ping | CheckerKind::Bfd => {
            note(
                w,
                &c.at,
                key,
                "no such check here (tcp, http, udp, dns, exec and file are): not carried over",
            );
            return None;
        }
    };
    let interval = pick(c, rs, vs, |t| &t.delay_loop)
        .map(|d| d.value)
        .unwrap_or(DEFAULT_DELAY_LOOP);
    let misc_timeout = (c.kind == CheckerKind::Misc)
        .then(|| setting(c, "misc_timeout"))
        .flatten()
        .and_then(|s| s.args().first())
        .and_then(|a| {
            a.text
                .parse::<u64>()
                .ok()
                .map(|s| (Duration::from_secs(s), a.at.clone()))
        });
    let (mut timeout, timeout_at) = match (&misc_timeout, pick(c, rs, vs, |t| &t.connect_timeout)) {
        (Some((t, at)), _) => (*t, Some(at.clone())),
        (None, Some(t)) if c.kind != CheckerKind::Misc => (t.value, Some(t.at.clone())),
        // MISC_CHECK has no connect_timeout; its program may run a whole loop.
        (None, _) if c.kind == CheckerKind::Misc => (interval, None),
        _ => (DEFAULT_CONNECT_TIMEOUT.min(interval), None),
    };
    if timeout > interval {
        corrected(
            w,
            timeout_at.as_ref().unwrap_or(&c.at),
            if misc_timeout.is_some() {
                "misc_timeout"
            } else {
                "connect_timeout"
            },
            format!(
                "{timeout:?} is longer than the interval ({interval:?}): the timeout is the interval"
            ),
        );
        timeout = interval;
    }
    if timeout.is_zero() {
        timeout = interval;
    }
    let default_retry = match c.kind {
        CheckerKind::Dns => 3,
        CheckerKind::Misc => 0,
        _ => 1,
    };
    let retry = pick(c, rs, vs, |t| &t.retry)
        .map(|r| r.value)
        .unwrap_or(default_retry);
    if let Some(d) = pick(c, rs, vs, |t| &t.delay_before_retry) {
        corrected(
            w,
            &d.at,
            "delay_before_retry",
            format!(
                "retries come every interval ({interval:?}) here, not after {:?}",
                d.value
            ),
        );
    }
    let mut check = Check::new(probe)
        .every(interval, timeout)
        .counts(retry.saturating_add(1), 1);
    if let Some(wu) = pick(c, rs, vs, |t| &t.warmup) {
        check = check.with_jitter(wu.value);
    }
    check.connect_address = c.connect_ip.as_ref().map(|a| a.value);
    check.connect_port = c.connect_port.as_ref().map(|p| p.value);
    check.source = c.bind_to.as_ref().map(|a| a.value);
    if let Some(a) = &c.alpha {
        note(
            w,
            &a.at,
            "alpha",
            "per checker: the state before the first check is set per service here (the virtual server's `alpha`)",
        );
    }
    Some(check)
}

fn setting<'a>(c: &'a Checker, key: &str) -> Option<&'a Statement> {
    c.settings.iter().find(|s| s.key() == key)
}

fn unknown(w: &mut Warnings, s: &Statement, checker: &str) {
    w.push(
        s.at(),
        WarningKind::NotCarriedOver,
        s.key(),
        format!("{checker} setting with no counterpart: not carried over"),
    );
}

fn http(vs: &VirtualServer, rs: &RealServer, c: &Checker, w: &mut Warnings) -> Probe {
    let key = c.kind.keyword();
    let mut p = Http::new();
    if c.kind == CheckerKind::SslGet {
        // keepalived checks no certificate unless an SSL block gives a CA.
        p = p.with_tls(false);
    }
    let mut host = rs
        .virtualhost
        .as_ref()
        .or(vs.virtualhost.as_ref())
        .map(|h| h.value.clone());
    let mut urls = 0;
    for s in &c.settings {
        match s.key() {
            "virtualhost" => {
                if let Some(a) = s.args().first() {
                    host = Some(a.text.clone());
                }
            }
            "url" => {
                urls += 1;
                if urls > 1 {
                    note(
                        w,
                        s.at(),
                        "url",
                        "a second url: one request per check here (the first url is used)",
                    );
                    continue;
                }
                for u in s.children() {
                    let first = u.args().first().map(|a| a.text.as_str());
                    match (u.key(), first) {
                        ("path", Some(path)) => p = p.with_path(path),
                        ("status_code", _) => {
                            let ranges: Result<Vec<StatusRange>, _> =
                                u.args().iter().map(|a| a.text.parse()).collect();
                            match ranges {
                                Ok(r) if !r.is_empty() => p = p.with_status(r),
                                _ => corrected(
                                    w,
                                    u.at(),
                                    "status_code",
                                    "does not read as statuses or ranges: 200-299, as keepalived defaults".into(),
                                ),
                            }
                        }
                        ("virtualhost", Some(h)) => host = Some(h.to_owned()),
                        ("regex", _) => match u.escaped_args().and_then(|a| a.into_iter().next()) {
                            Some(re) => p = p.with_body(re),
                            None => unknown(w, u, "url"),
                        },
                        ("digest", _) => note(
                            w,
                            u.at(),
                            "digest",
                            "an MD5 digest of the body: not carried over (a body regex can take its place)",
                        ),
                        _ => unknown(w, u, "url"),
                    }
                }
            }
            _ => unknown(w, s, key),
        }
    }
    if let Some(h) = host {
        p = p.with_host(h);
    }
    Probe::Http(p)
}

fn misc(c: &Checker, w: &mut Warnings) -> Option<Exec> {
    let Some(path) = setting(c, "misc_path") else {
        note(
            w,
            &c.at,
            "MISC_CHECK",
            "no misc_path: keepalived drops the checker, and so does this",
        );
        return None;
    };
    let mut words = path.escaped_args().unwrap_or_default();
    // The usual form, `misc_path "/path/check arg"`: one quoted command
    // line, split on blanks as keepalived splits it.
    if let [line] = words.as_slice() {
        if line.contains(char::is_whitespace) {
            words = line.split_whitespace().map(str::to_owned).collect();
        }
    }
    let mut words = words.into_iter();
    let Some(program) = words.next() else {
        note(w, path.at(), "misc_path", "empty: the checker is dropped");
        return None;
    };
    // keepalived runs misc_path as a command line: split into words, no
    // `%h`/`%p` (a literal `%` is kept as `%%`).
    let args: Vec<String> = words.map(|a| a.replace('%', "%%")).collect();
    let dynamic = setting(c, "misc_dynamic").is_some();
    for s in &c.settings {
        match s.key() {
            "misc_path" | "misc_timeout" | "misc_dynamic" => {}
            "user" => note(
                w,
                s.at(),
                "user",
                "the program runs as the run's own user here: not carried over",
            ),
            _ => unknown(w, s, "MISC_CHECK"),
        }
    }
    Some(Exec::new(program).with_args(args).with_dynamic(dynamic))
}

fn dns(c: &Checker, w: &mut Warnings) -> Probe {
    let mut name = ".".to_owned();
    let mut query_type = "SOA".to_owned();
    for s in &c.settings {
        match (s.key(), s.args().first()) {
            ("name", Some(n)) => name = n.text.clone(),
            ("type", Some(t)) => query_type = t.text.to_ascii_uppercase(),
            _ => unknown(w, s, "DNS_CHECK"),
        }
    }
    Probe::Dns(Dns::new(name).with_query_type(query_type))
}

fn udp(c: &Checker, w: &mut Warnings) -> Udp {
    let mut send = Payload::bytes(Vec::new());
    let mut expect = None;
    let mut require = false;
    for s in &c.settings {
        match s.key() {
            "payload" => match hex(s) {
                Some(b) => send = Payload::bytes(b),
                None => unknown(w, s, "UDP_CHECK"),
            },
            "require_reply" => {
                require = true;
                if !s.args().is_empty() {
                    match hex(s) {
                        Some(b) => expect = Some(Payload::bytes(b)),
                        None => note(
                            w,
                            s.at(),
                            "require_reply",
                            "a reply pattern with X nibbles: any reply is accepted here",
                        ),
                    }
                }
            }
            _ => unknown(w, s, "UDP_CHECK"),
        }
    }
    if !require {
        corrected(
            w,
            &c.at,
            "UDP_CHECK",
            "without require_reply keepalived counts silence as up; a UDP check here needs a reply"
                .into(),
        );
    }
    let mut u = Udp::new(send);
    if let Some(e) = expect {
        u = u.with_expect(e);
    }
    u
}

/// keepalived's free-form hex: each word read two digits at a time, a
/// last lone digit a byte of its own (`Ab12f 3` is AB 12 0F 03). `None`
/// for a non-hex digit (an `X` nibble included).
fn hex(s: &Statement) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for word in s.args() {
        let digits: Vec<u8> = word
            .text
            .chars()
            .map(|ch| ch.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()?;
        for pair in digits.chunks(2) {
            out.push(match pair {
                [hi, lo] => hi << 4 | lo,
                [lo] => *lo,
                _ => unreachable!("chunks of two"),
            });
        }
    }
    Some(out)
}
