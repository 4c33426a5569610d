//! The health settings as keepalived's keys and checkers (what
//! [`super::checkers`] reads back): the service's policy in its
//! `virtual_server`, each destination's check as a checker of its
//! `real_server`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use super::write::{WriteError, err, method};
use crate::health::probe::{Payload, Probe};
use crate::health::{Check, Initial, OnFailure, RunConfig};
use crate::state::ServiceState;

/// The lines a service's blocks get.
pub(super) struct Block {
    /// Added to the `virtual_server` block.
    pub service: String,
    /// Added to each `real_server` block.
    pub dests: HashMap<SocketAddr, String>,
}

/// The health lines of service `ss`, or what keepalived cannot express.
pub(super) fn service_block(config: &RunConfig, ss: &ServiceState) -> Result<Block, WriteError> {
    let s = &ss.service;
    let key = s.key;
    let mut service = String::new();
    if let Some(h) = config.services.get(&key) {
        if h.slow_start.is_some() {
            return Err(err(s, None, "slow start has no keepalived keyword"));
        }
        if h.on_failure == OnFailure::Quiesce {
            service.push_str("    inhibit_on_failure\n");
        }
        if h.initial == Initial::Down {
            service.push_str("    alpha\n");
        }
        if let Some(q) = &h.quorum {
            let _ = writeln!(service, "    quorum {}", q.weight);
            if q.hysteresis != 0 {
                let _ = writeln!(service, "    hysteresis {}", q.hysteresis);
            }
        }
        if let Some(d) = &h.sorry_server {
            if d.weight != 1 {
                return Err(err(
                    s,
                    Some(d),
                    "a sorry server's weight other than 1: keepalived gives it 1",
                ));
            }
            let _ = writeln!(service, "    sorry_server {} {}", d.address, d.port);
            let default = ss.destinations.first().map(|x| x.forward);
            if Some(d.forward) != default {
                let _ = writeln!(
                    service,
                    "    sorry_server_lvs_method {}",
                    method(s, Some(d), &d.forward)?
                );
            }
        }
    }
    let mut dests = HashMap::new();
    for d in &ss.destinations {
        let addr = d.socket_addr();
        let Some(check) = config.check_of(&key, addr) else {
            continue;
        };
        let text = checker(check).map_err(|why| err(s, Some(d), why))?;
        dests.insert(addr, text);
    }
    Ok(Block { service, dests })
}

/// A keepalived TIMER: seconds, with a fraction down to microseconds.
fn timer(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        d.as_secs().to_string()
    } else {
        let frac = format!("{micros:06}");
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

/// A word as keepalived's script and regex keys read it.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#' | '!' | '{' | '}'));
    if plain {
        return word.to_owned();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// keepalived's hex form of bytes.
fn hex(p: &Payload) -> String {
    p.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// One check as a checker block (indented for a `real_server`).
fn checker(c: &Check) -> Result<String, String> {
    if c.rise != 1 {
        return Err(format!(
            "rise {}: keepalived brings a real server back on its first success",
            c.rise
        ));
    }
    let mut body = String::new();
    let mut line = |s: String| {
        body.push_str("            ");
        body.push_str(&s);
        body.push('\n');
    };
    let kind = match &c.probe {
        Probe::Tcp => "TCP_CHECK",
        Probe::Http(h) => {
            if h.tls_verify || h.tls_ca.is_some() {
                return Err(
                    "certificate verification: keepalived's SSL_GET verifies only with a global SSL block, not per check"
                        .into(),
                );
            }
            line("url {".into());
            line(format!("    path {}", quoted(&h.path)));
            let ranges: Vec<String> = h.status.iter().map(ToString::to_string).collect();
            line(format!("    status_code {}", ranges.join(" ")));
            if let Some(b) = &h.body {
                line(format!("    regex {}", quoted(b)));
            }
            line("}".into());
            if let Some(host) = &h.host {
                line(format!("virtualhost {}", quoted(host)));
            }
            if h.tls { "SSL_GET" } else { "HTTP_GET" }
        }
        Probe::Exec(e) => {
            let mut words = vec![quoted(&e.program.to_string_lossy())];
            for a in &e.args {
                if a.replace("%%", "").contains("%h") || a.replace("%%", "").contains("%p") {
                    return Err(format!(
                        "exec argument {a:?}: keepalived's MISC_CHECK has no %h or %p"
                    ));
                }
                words.push(quoted(&a.replace("%%", "%")));
            }
            // One quoted command line when no word has a blank (the usual
            // form), else each word quoted on its own.
            let plain: Vec<String> = std::iter::once(e.program.to_string_lossy().into_owned())
                .chain(e.args.iter().map(|a| a.replace("%%", "%")))
                .collect();
            if plain.len() > 1
                && !plain
                    .iter()
                    .any(|w| w.contains(char::is_whitespace) || w.is_empty())
            {
                line(format!("misc_path {}", quoted(&plain.join(" "))));
            } else {
                line(format!("misc_path {}", words.join(" ")));
            }
            if c.timeout.subsec_nanos() != 0 {
                return Err(format!(
                    "timeout {:?}: keepalived's misc_timeout is whole seconds",
                    c.timeout
                ));
            }
            line(format!("misc_timeout {}", c.timeout.as_secs()));
            if e.dynamic {
                line("misc_dynamic".into());
            }
            "MISC_CHECK"
        }
        Probe::Dns(d) => {
            line(format!("type {}", d.query_type));
            line(format!("name {}", quoted(&d.name)));
            "DNS_CHECK"
        }
        Probe::Udp(u) => {
            if !u.send.is_empty() {
                line(format!("payload {}", hex(&u.send)));
            }
            match &u.expect {
                Some(e) if !e.is_empty() => line(format!("require_reply {}", hex(e))),
                _ => line("require_reply".into()),
            }
            "UDP_CHECK"
        }
        Probe::TcpSendExpect(_) => {
            return Err("a TCP send/expect check: keepalived has no such checker".into());
        }
        Probe::File(_) => {
            return Err("a file check: keepalived's FILE_CHECK reads a tracked value, not a weight, up or down".into());
        }
    };
    if !matches!(c.probe, Probe::Exec(_)) {
        if let Some(a) = c.connect_address {
            line(format!("connect_ip {a}"));
        }
        if let Some(p) = c.connect_port {
            line(format!("connect_port {p}"));
        }
        if let Some(a) = c.source {
            line(format!("bindto {a}"));
        }
        line(format!("connect_timeout {}", timer(c.timeout)));
    } else if c.connect_address.is_some() || c.connect_port.is_some() || c.source.is_some() {
        return Err(
            "an exec check with connect_address, connect_port or source: MISC_CHECK has none"
                .into(),
        );
    }
    line(format!("retry {}", c.fall.saturating_sub(1)));
    line(format!("delay_loop {}", timer(c.interval)));
    if let Some(j) = c.jitter {
        line(format!("warmup {}", timer(j)));
    }
    Ok(format!("        {kind} {{\n{body}        }}\n"))
}
