//! The status page: one HTML document, no script, styles inline.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::board::BoardSnapshot;
use crate::cluster::BalanceReport;
use crate::listing::{self, ListOptions};
use crate::state::ServiceState;

const STYLE: &str = "\
body{font-family:sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .2em}\
.meta{color:#555;margin-bottom:1em}\
.role{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:bold;color:#fff;background:#555}\
.role.master{background:#2a7d2a}.role.backup{background:#2a5d9f}.role.fault,.role.stop{background:#b02a2a}\
section{background:#fff;border:1px solid #ddd;border-radius:.4em;padding:.8em 1em;margin-bottom:1.2em}\
h2{font-size:1.1em;margin:0 0 .3em;font-family:monospace}\
.svc{color:#555;font-size:.9em;margin-bottom:.5em}\
table{border-collapse:collapse;width:100%;font-size:.9em}\
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #eee;vertical-align:top}\
th{background:#f0f0f0}\
td.n{text-align:right;font-family:monospace}\
td.addr{font-family:monospace;white-space:nowrap}\
.up{color:#fff;background:#2a7d2a;padding:.1em .5em;border-radius:.3em;font-weight:bold}\
.down{color:#fff;background:#b02a2a;padding:.1em .5em;border-radius:.3em;font-weight:bold}\
.unknown{color:#555;background:#e4e4e4;padding:.1em .5em;border-radius:.3em}\
.detail{color:#555;font-size:.85em}\
.bars{width:14em}\
.bar{height:.55em;background:#eee;margin:.15em 0;border-radius:.2em;overflow:hidden}\
.bar span{display:block;height:100%}\
.bar .w{background:#9ab}.bar .c{background:#2a5d9f}.bar .c.off{background:#c77}\
.legend{font-size:.8em;color:#555}\
.error{color:#b02a2a;font-weight:bold}\
.reason{color:#8a5a00;font-size:.85em}\
tr.missing td{color:#777;background:#fbf3f3}";

/// The status page for `table` (the kernel's services now, or why it could
/// not be read) and what the director posted, as of `now`; the page asks
/// the browser to reload it every `refresh`.
pub fn render_page(
    title: &str,
    table: Result<&[ServiceState], &str>,
    board: &BoardSnapshot,
    refresh: Duration,
    now: SystemTime,
) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        refresh.as_secs().max(1),
        esc(title)
    );
    let _ = write!(h, "<h1>{}</h1>\n<div class=\"meta\">", esc(title));
    match &board.role {
        Some((role, since)) => {
            let _ = write!(
                h,
                "Failover role: <span class=\"role {}\" id=\"role\">{}</span> since {} ({}) · ",
                esc(&role.to_ascii_lowercase()),
                esc(&role.to_ascii_uppercase()),
                format_utc(*since),
                ago(now, *since)
            );
        }
        None => h.push_str("Failover: <span id=\"role\">not running</span> · "),
    }
    let _ = writeln!(
        h,
        "read {} · refreshes every {} s</div>",
        format_utc(now),
        refresh.as_secs().max(1)
    );
    match table {
        Err(e) => {
            let _ = writeln!(
                h,
                "<p class=\"error\" id=\"table-error\">The IPVS table could not be read: {}</p>",
                esc(e)
            );
        }
        Ok([]) => {
            h.push_str("<p id=\"empty\">The IPVS table is empty.</p>\n");
        }
        Ok(services) => {
            for s in listing::ipvsadm_order(services) {
                service_section(&mut h, s, board, now);
            }
        }
    }
    h.push_str(
        "<p class=\"legend\">Balance: the grey bar is the destination's share of the weight, \
         the blue one its share of the connections the kernel counted since the service was made \
         (red when off by more than the tolerance). Read-only page; it changes nothing.</p>\n\
         </body></html>\n",
    );
    h
}

fn service_section(h: &mut String, s: &ServiceState, board: &BoardSnapshot, now: SystemTime) {
    let svc = &s.service;
    let key = svc.key;
    // The service line as `ipvsadm -Ln` prints it: name, scheduler, flags.
    let listed = listing::service_listing(s, &ListOptions::default());
    let line = listed.lines().nth(2).unwrap_or_default();
    let st = svc.stats.unwrap_or_default();
    // Destinations in ipvsadm's order, as the terminal lists them.
    let dests: Vec<crate::Destination> = listing::ipvsadm_dest_order(&s.destinations)
        .into_iter()
        .cloned()
        .collect();
    let report = BalanceReport::new(svc, &dests);
    let _ = write!(
        h,
        "<section class=\"service\" data-service=\"{}\">\n<h2>{}</h2>\n\
         <div class=\"svc\">{} connections · {} in / {} out · {} conn/s now</div>\n",
        esc(&key.to_string()),
        esc(line),
        st.connections,
        bytes(st.bytes_in),
        bytes(st.bytes_out),
        st.cps
    );
    // Configured destinations the table lacks (a down server the run took
    // out): listed after the others, with their health.
    let mut missing: Vec<(std::net::SocketAddr, u32)> = board
        .configured
        .iter()
        .filter(|((k, a), _)| *k == key && !dests.iter().any(|d| d.socket_addr() == *a))
        .map(|((_, a), w)| (*a, *w))
        .collect();
    missing.sort();
    if dests.is_empty() && missing.is_empty() {
        h.push_str("<p>No destinations.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><tr><th>Destination</th><th>Forward</th><th>Weight</th><th>Configured</th>\
         <th>Effective</th><th>Active</th><th>Inactive</th><th>Persistent</th><th>Connections</th>\
         <th>Health</th><th>Balance (weight / connections)</th></tr>\n",
    );
    for (d, b) in dests.iter().zip(&report.destinations) {
        let addr = d.socket_addr();
        let c = d.connections.unwrap_or_default();
        let ds = d.stats.unwrap_or_default();
        let weight_of = |m: &std::collections::HashMap<_, u32>| {
            m.get(&(key, addr))
                .map_or_else(|| "—".to_owned(), |w| w.to_string())
        };
        let _ = write!(
            h,
            "<tr class=\"destination\" data-destination=\"{}\"><td class=\"addr\">{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>",
            esc(&addr.to_string()),
            esc(&listing::address_port(d.address, d.port)),
            esc(&d.forward.to_string()),
            d.weight,
            weight_of(&board.configured),
            weight_of(&board.effective),
            c.active,
            c.inactive,
            c.persistent,
            ds.connections,
        );
        health_cell(h, board, addr, d.weight == 0, now);
        let off = if b.balanced { "" } else { " off" };
        let _ = write!(
            h,
            "</td><td class=\"bars\"><div class=\"bar\" title=\"weight {:.1}%\"><span class=\"w\" style=\"width:{:.1}%\"></span></div>\
             <div class=\"bar\" title=\"connections {:.1}%\"><span class=\"c{off}\" style=\"width:{:.1}%\"></span></div>\
             <span class=\"detail\">{:.1}% of weight, {:.1}% of connections</span>",
            b.weight_share * 100.0,
            b.weight_share * 100.0,
            b.connection_share * 100.0,
            b.connection_share * 100.0,
            b.weight_share * 100.0,
            b.connection_share * 100.0,
        );
        for r in &b.reasons {
            let _ = write!(h, "<div class=\"reason\">{}</div>", esc(&r.to_string()));
        }
        h.push_str("</td></tr>\n");
    }
    for (addr, configured) in missing {
        let effective = board
            .effective
            .get(&(key, addr))
            .map_or_else(|| "—".to_owned(), |w| w.to_string());
        let _ = write!(
            h,
            "<tr class=\"destination missing\" data-destination=\"{}\"><td class=\"addr\">{}</td>\
             <td colspan=\"2\">not in the table</td><td class=\"n\">{configured}</td>\
             <td class=\"n\">{effective}</td><td colspan=\"4\"></td><td>",
            esc(&addr.to_string()),
            esc(&listing::address_port(addr.ip(), addr.port())),
        );
        health_cell(h, board, addr, false, now);
        h.push_str("</td><td></td></tr>\n");
    }
    h.push_str("</table></section>\n");
}

/// The health cell's content: up or down with the last check's result and
/// time, or not checked.
fn health_cell(
    h: &mut String,
    board: &BoardSnapshot,
    addr: std::net::SocketAddr,
    quiesced: bool,
    now: SystemTime,
) {
    match board.health_of(&addr) {
        Some(hs) => {
            let (class, word) = if hs.up {
                ("up", "UP")
            } else {
                ("down", "DOWN")
            };
            let _ = write!(
                h,
                "<span class=\"{class}\" data-health=\"{class}\">{word}</span> \
                 <span class=\"detail\">{}: {}, {} ({})</span>",
                esc(&hs.check),
                esc(&hs.last_result),
                ago(now, hs.checked_at),
                format_utc(hs.checked_at)
            );
        }
        None if quiesced => h.push_str(
            "<span class=\"unknown\" data-health=\"unknown\">not checked</span> \
             <span class=\"detail\">weight 0: quiesced</span>",
        ),
        None => h.push_str("<span class=\"unknown\" data-health=\"unknown\">not checked</span>"),
    }
}

/// HTML-escape text for element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    match now.duration_since(then) {
        Ok(d) if d.as_secs() < 120 => format!("{} s ago", d.as_secs()),
        Ok(d) if d.as_secs() < 7200 => format!("{} min ago", d.as_secs() / 60),
        Ok(d) => format!("{} h ago", d.as_secs() / 3600),
        Err(_) => "just now".to_owned(),
    }
}

/// `2026-12-02 07:05:09 UTC`: a time in UTC, to the second.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(ipvs::status::format_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29 00:00:00 UTC");
/// ```
pub fn format_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
