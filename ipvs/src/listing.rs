//! The table as `ipvsadm -Ln` lists it, byte for byte, with ipvsadm's
//! other views: `--stats`, `--rate`, `--thresholds`, `--persistent-conn`,
//! `--tun-info`, and `--exact` numbers.
//!
//! Pure formatting of a table already read (the services of a
//! [`State`](crate::state::State) read from the kernel, or any list of
//! [`ServiceState`]s): no I/O. The layouts, orders and quirks are ipvsadm
//! 1.31's, checked against it in the guest (`ipvs/tests/listing_kernel.rs`):
//!
//! - services and destinations in ipvsadm's order: its comparisons subtract
//!   unsigned values as C `int`s (so a firewall mark of 2³¹ or more, or
//!   addresses far apart, can sort "backwards"), and glibc's `qsort` is a
//!   merge sort; both are reproduced, so even those tables list alike;
//! - a firewall mark prints as a signed number (`FWM  -1` for 4294967295),
//!   as Debian's ipvsadm 1.31 does;
//! - scheduler flags in parentheses after the scheduler (`sh (sh-fallback,sh-port)`),
//!   then `persistent`, `mask`, `pe` (only on persistent services), `ops`;
//! - IPv6 addresses as glibc's `inet_ntop` writes them (`::1.2.3.4` for the
//!   IPv4-compatible ones, where Rust writes `::102:304`);
//! - forwarding methods ipvsadm has no name for (bypass, 5 to 7) print as
//!   `(null)`, as glibc's `printf` does with ipvsadm's missing name.
//!
//! ```
//! use ipvs::listing::{listing, ListOptions, View};
//! use ipvs::state::{ServiceState, State};
//! use ipvs::{Destination, Info, Scheduler, Service, ServiceFlags, ServiceKey, Version};
//!
//! let key = ServiceKey::udp("192.0.2.10:53".parse().unwrap());
//! let svc = Service::new(key, Scheduler::SourceHashing)
//!     .with_flags(ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT | ServiceFlags::ONE_PACKET);
//! let state = State::new().with_service(
//!     ServiceState::new(svc).with_dest(Destination::new("192.0.2.21:53".parse().unwrap()).with_weight(2)),
//! );
//! let info = Info { version: Version::from_raw(0x010201), connection_table_size: 4096 };
//! assert_eq!(listing(&info, &state.services, &ListOptions::default()), "\
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
//! UDP  192.0.2.10:53 sh (sh-fallback,sh-port) ops
//!   -> 192.0.2.21:53                Masq    2      0          0         
//! ");
//! let stats = ListOptions { view: View::Stats, exact: true };
//! assert!(listing(&info, &state.services, &stats).contains("Conns   InPkts"));
//! ```

use std::cmp::Ordering;
use std::fmt::Write;
use std::net::{IpAddr, Ipv6Addr};

use crate::state::ServiceState;
use crate::{
    AddressFamily, Destination, ForwardMethod, Info, Netmask, Protocol, Service, ServiceFlags,
    ServiceKey, Stats, Tunnel, TunnelChecksum,
};

/// Which columns a listing shows: ipvsadm's list options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum View {
    /// `ipvsadm -Ln`: forwarding method, weight, active and inactive connections.
    #[default]
    Connections,
    /// `--stats`: connections, packets and bytes since the entry was made.
    Stats,
    /// `--rate`: connections, packets and bytes per second.
    Rate,
    /// `--thresholds`: upper and lower connection thresholds.
    Thresholds,
    /// `--persistent-conn`: weight and persistent connections (templates).
    PersistentConn,
    /// `--tun-info`: the tunnel type, port and checksum of tunnel destinations.
    TunInfo,
}

impl View {
    /// The view ipvsadm shows for a combination of its list options: when
    /// several are given, `--stats` wins over `--rate`, which wins over
    /// `--thresholds`, then `--persistent-conn`, then `--tun-info`.
    pub fn from_flags(
        stats: bool,
        rate: bool,
        thresholds: bool,
        persistent_conn: bool,
        tun_info: bool,
    ) -> View {
        if stats {
            View::Stats
        } else if rate {
            View::Rate
        } else if thresholds {
            View::Thresholds
        } else if persistent_conn {
            View::PersistentConn
        } else if tun_info {
            View::TunInfo
        } else {
            View::Connections
        }
    }
}

/// How to list: the view, and whether large numbers are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ListOptions {
    /// The columns.
    pub view: View,
    /// `--exact`: counters in full; otherwise numbers of 100 million and more
    /// are shortened with K, M, G or T, as ipvsadm does.
    pub exact: bool,
}

/// The whole listing, as `ipvsadm -Ln` (with the options' flags) prints it:
/// the version line, the column titles, each service and its destinations
/// in ipvsadm's order.
pub fn listing(info: &Info, services: &[ServiceState], opts: &ListOptions) -> String {
    let mut out = String::with_capacity(96 * (services.len() + 2));
    let _ = writeln!(
        out,
        "IP Virtual Server version {} (size={})",
        info.version, info.connection_table_size as i32
    );
    out.push_str(title(opts.view));
    for s in ipvsadm_order(services) {
        write_service(&mut out, s, opts);
    }
    out
}

/// One service, as `ipvsadm -Ln -t ADDR:PORT` (or `-f MARK`) prints it: the
/// column titles, the service and its destinations; no version line.
pub fn service_listing(service: &ServiceState, opts: &ListOptions) -> String {
    let mut out = String::from(title(opts.view));
    write_service(&mut out, service, opts);
    out
}

/// The column titles of a view (two lines).
pub fn title(view: View) -> &'static str {
    match view {
        View::Connections => {
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        }
        View::TunInfo => {
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        }
        View::Stats => {
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n"
        }
        View::Rate => {
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port\n"
        }
        View::Thresholds => {
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n  -> RemoteAddress:Port\n"
        }
        View::PersistentConn => {
            "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n  -> RemoteAddress:Port\n"
        }
    }
}

/// Append one service line and its destinations' lines.
fn write_service(out: &mut String, s: &ServiceState, opts: &ListOptions) {
    let svc = &s.service;
    let name = service_name(&svc.key);
    match opts.view {
        View::Stats | View::Rate => {
            let _ = write!(out, "{name:<33}");
            let st = svc.stats.unwrap_or_default();
            for v in counters(&st, opts.view) {
                large_number(out, v, opts.exact);
            }
        }
        _ => service_settings(out, &name, svc),
    }
    out.push('\n');
    for d in ipvsadm_dest_order(&s.destinations) {
        write_destination(out, d, opts);
    }
}

/// The five numbers of the stats or rate view, in column order.
fn counters(st: &Stats, view: View) -> [u64; 5] {
    if view == View::Rate {
        [st.cps, st.pps_in, st.pps_out, st.bps_in, st.bps_out]
    } else {
        [
            st.connections,
            st.packets_in,
            st.packets_out,
            st.bytes_in,
            st.bytes_out,
        ]
    }
}

/// `TCP  192.0.2.10:80`, `FWM  7 IPv6`: the service column.
fn service_name(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Fwmark { fwmark, family } => {
            // Debian's ipvsadm 1.31 prints the mark with %d.
            let mark = fwmark as i32;
            match family {
                AddressFamily::Ipv6 => format!("FWM  {mark} IPv6"),
                AddressFamily::Ipv4 => format!("FWM  {mark}"),
            }
        }
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            let proto = match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
                Protocol::Other(_) => "?",
            };
            let mut name = format!("{proto:<4} {}", address_port(address, port));
            if address.is_ipv4() {
                name.truncate(33);
            }
            name
        }
    }
}

/// The service line of the settings views: scheduler, its flags,
/// persistence, persistence engine, one-packet scheduling.
fn service_settings(out: &mut String, name: &str, svc: &Service) {
    let _ = write!(out, "{name} {}", svc.scheduler);
    let flags = scheduler_flags(svc);
    if !flags.is_empty() {
        let _ = write!(out, " ({flags})");
    }
    if let Some(p) = &svc.persistence {
        let _ = write!(out, " persistent {}", p.timeout);
        match p.netmask {
            Netmask::V4(m) if u32::from(m) != u32::MAX => {
                let _ = write!(out, " mask {m}");
            }
            Netmask::V6(len) if len != 128 => {
                let _ = write!(out, " mask {len}");
            }
            _ => {}
        }
        // ipvsadm shows the persistence engine of persistent services only.
        if let Some(pe) = &svc.persistence_engine {
            let _ = write!(out, " pe {pe}");
        }
    }
    if svc.flags.contains(ServiceFlags::ONE_PACKET) {
        out.push_str(" ops");
    }
}

/// The scheduler flags by the names ipvsadm gives them, comma-separated.
fn scheduler_flags(svc: &Service) -> String {
    let names: &[(ServiceFlags, &str)] = match svc.scheduler.name() {
        "sh" => &[
            (ServiceFlags::SH_FALLBACK, "sh-fallback"),
            (ServiceFlags::SH_PORT, "sh-port"),
        ],
        "mh" => &[
            (ServiceFlags::MH_FALLBACK, "mh-fallback"),
            (ServiceFlags::MH_PORT, "mh-port"),
        ],
        _ => &[
            (ServiceFlags::SCHED1, "flag-1"),
            (ServiceFlags::SCHED2, "flag-2"),
            (ServiceFlags::SCHED3, "flag-3"),
        ],
    };
    names
        .iter()
        .filter(|(f, _)| svc.flags.contains(*f))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

fn write_destination(out: &mut String, d: &Destination, opts: &ListOptions) {
    let mut name = address_port(d.address, d.port);
    if d.address.is_ipv4() {
        name.truncate(28);
    }
    let c = d.connections.unwrap_or_default();
    // The kernel keeps weights within i32; ipvsadm prints them with %d.
    let weight = d.weight as i32;
    let st = d.stats.unwrap_or_default();
    match opts.view {
        View::Stats => {
            let _ = write!(out, "  -> {name:<28}");
            for v in counters(&st, View::Stats) {
                large_number(out, v, opts.exact);
            }
            out.push('\n');
        }
        View::Rate => {
            // ipvsadm prints the first three rates in full, the byte rates shortened.
            let _ = write!(
                out,
                "  -> {name:<28} {:>8} {:>8} {:>8}",
                st.cps, st.pps_in, st.pps_out
            );
            large_number(out, st.bps_in, opts.exact);
            large_number(out, st.bps_out, opts.exact);
            out.push('\n');
        }
        View::Thresholds => {
            let _ = writeln!(
                out,
                "  -> {name:<28} {:<10} {:<10} {:<10} {:<10}",
                d.upper_threshold, d.lower_threshold, c.active, c.inactive
            );
        }
        View::PersistentConn => {
            let _ = writeln!(
                out,
                "  -> {name:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight, c.persistent, c.active, c.inactive
            );
        }
        View::TunInfo => {
            let _ = writeln!(
                out,
                "  -> {name:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                forward_name(&d.forward),
                tunnel_info(&d.forward),
                weight,
                c.active,
                c.inactive
            );
        }
        View::Connections => {
            let _ = writeln!(
                out,
                "  -> {name:<28} {:<7} {:<6} {:<10} {:<10}",
                forward_name(&d.forward),
                weight,
                c.active,
                c.inactive
            );
        }
    }
}

/// ipvsadm's name for a forwarding method; it has none for bypass and the
/// values 5 to 7, and glibc prints the missing name as `(null)`.
fn forward_name(f: &ForwardMethod) -> &'static str {
    match f {
        ForwardMethod::Masquerade => "Masq",
        ForwardMethod::Local => "Local",
        ForwardMethod::Tunnel(_) => "Tunnel",
        ForwardMethod::DirectRoute => "Route",
        _ => "(null)",
    }
}

/// The `--tun-info` column: `ipip`, `gue:6080:-c`, `gre:+c`; `n/a` for
/// destinations that are not tunnels.
fn tunnel_info(f: &ForwardMethod) -> String {
    let checksum = |c: TunnelChecksum| match c {
        TunnelChecksum::None => "-c",
        TunnelChecksum::Checksum => "+c",
        TunnelChecksum::Remote => "r+c",
    };
    match f {
        ForwardMethod::Tunnel(Tunnel::Ipip) => "ipip".to_owned(),
        ForwardMethod::Tunnel(Tunnel::Gue { port, checksum: c }) => {
            format!("gue:{port}:{}", checksum(*c))
        }
        ForwardMethod::Tunnel(Tunnel::Gre { checksum: c }) => format!("gre:{}", checksum(*c)),
        _ => "n/a".to_owned(),
    }
}

/// A counter in a 9-character column (wider when exact and longer), with
/// ipvsadm's K/M/G/T shortening when not exact.
fn large_number(out: &mut String, v: u64, exact: bool) {
    let _ = if exact {
        let digits = v.to_string();
        let width = if digits.len() <= 8 {
            9
        } else {
            digits.len() + 1
        };
        write!(out, "{digits:>width$}")
    } else if v < 100_000_000 {
        write!(out, "{v:>9}")
    } else if v < 1_000_000_000 {
        write!(out, "{:>8}K", v / 1_000)
    } else if v < 100_000_000_000 {
        write!(out, "{:>8}M", v / 1_000_000)
    } else if v < 100_000_000_000_000 {
        write!(out, "{:>8}G", v / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", v / 1_000_000_000_000)
    };
}

/// `192.0.2.10:80`, `[2001:db8::10]:443`: an address and port as ipvsadm
/// prints them (numeric).
pub fn address_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{}]:{port}", ipv6_text(&a)),
    }
}

/// An IPv6 address as glibc's `inet_ntop` writes it: the longest run of two
/// or more zero groups (the first, on a tie) as `::`, and the last 32 bits
/// in dotted form for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
/// (`::a.b.c.d`, other than `::` and `::N` with N < 65536) addresses.
pub fn ipv6_text(a: &Ipv6Addr) -> String {
    let w = a.segments();
    // The longest run of zero groups, at least two long.
    let (mut best, mut cur): ((usize, usize), Option<(usize, usize)>) = ((0, 0), None);
    for (i, &g) in w.iter().enumerate() {
        if g == 0 {
            let run = cur.map_or((i, 1), |(s, n)| (s, n + 1));
            cur = Some(run);
            if run.1 > best.1 {
                best = run;
            }
        } else {
            cur = None;
        }
    }
    let best = (best.1 >= 2).then_some(best);
    let mut out = String::with_capacity(40);
    let mut i = 0;
    while i < 8 {
        if let Some((start, len)) = best {
            if i == start {
                out.push(':');
                if start + len == 8 {
                    out.push(':');
                }
                i += len;
                continue;
            }
        }
        if i > 0 {
            out.push(':');
        }
        let dotted_tail =
            i == 6 && best.is_some_and(|(s, n)| s == 0 && (n == 6 || (n == 5 && w[5] == 0xffff)));
        if dotted_tail {
            let o = a.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            break;
        }
        let _ = write!(out, "{:x}", w[i]);
        i += 1;
    }
    out
}

/// The services in ipvsadm's listing order (see the module's notes).
pub fn ipvsadm_order(services: &[ServiceState]) -> Vec<&ServiceState> {
    let mut v: Vec<&ServiceState> = services.iter().collect();
    glibc_merge_sort(&mut v, |a, b| {
        compare_services(&a.service.key, &b.service.key)
    });
    v
}

/// The destinations in ipvsadm's listing order.
pub fn ipvsadm_dest_order(dests: &[Destination]) -> Vec<&Destination> {
    let mut v: Vec<&Destination> = dests.iter().collect();
    glibc_merge_sort(&mut v, |a, b| compare_dests(a, b));
    v
}

/// ipvsadm's order of two services as it computes it (libipvs
/// `ipvs_cmp_services`): differences of unsigned values taken as C `int`s.
pub fn compare_services(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    fn parts(k: &ServiceKey) -> (u32, u16, u16, [u32; 4], u16) {
        match *k {
            ServiceKey::Fwmark { fwmark, family } => (fwmark, family.to_raw(), 0, [0; 4], 0),
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => (
                0,
                AddressFamily::of(&address).to_raw(),
                protocol.to_raw(),
                words(&address),
                port,
            ),
        }
    }
    let (ma, fa, pa, wa, porta) = parts(a);
    let (mb, fb, pb, wb, portb) = parts(b);
    let mut r = ma.wrapping_sub(mb) as i32;
    if r == 0 {
        r = i32::from(fa) - i32::from(fb);
    }
    if r == 0 {
        r = i32::from(pa) - i32::from(pb);
    }
    if r == 0 {
        r = compare_words(fa == AddressFamily::Ipv6.to_raw(), &wa, &wb);
    }
    if r == 0 {
        r = i32::from(porta) - i32::from(portb);
    }
    r.cmp(&0)
}

/// ipvsadm's order of two destinations (libipvs `ipvs_cmp_dests`).
pub fn compare_dests(a: &Destination, b: &Destination) -> Ordering {
    let mut r = compare_words(a.address.is_ipv6(), &words(&a.address), &words(&b.address));
    if r == 0 {
        r = i32::from(a.port) - i32::from(b.port);
    }
    r.cmp(&0)
}

/// The address as the kernel's 16-byte union holds it, in host-order words.
fn words(addr: &IpAddr) -> [u32; 4] {
    match addr {
        IpAddr::V4(a) => [u32::from(*a), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            std::array::from_fn(|i| {
                u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

/// Word-by-word differences as `int`s, as libipvs compares addresses: all
/// four words when the first operand is IPv6, the first word otherwise.
fn compare_words(v6: bool, a: &[u32; 4], b: &[u32; 4]) -> i32 {
    let n = if v6 { 4 } else { 1 };
    (0..n)
        .map(|i| a[i].wrapping_sub(b[i]) as i32)
        .find(|&r| r != 0)
        .unwrap_or(0)
}

/// glibc's `qsort` (a top-down merge sort that takes from the left on
/// ties), so that even a comparison that is not a total order sorts as
/// ipvsadm's does.
fn glibc_merge_sort<T: Copy>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering + Copy) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    glibc_merge_sort(&mut v[..n1], cmp);
    glibc_merge_sort(&mut v[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) != Ordering::Greater {
            merged.push(v[i]);
            i += 1;
        } else {
            merged.push(v[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..n1]);
    let done = merged.len();
    v[..done].copy_from_slice(&merged);
}

/// How [`watch`] refreshes: every `interval`, at most `count` times (no
/// bound but the stop flag when `None`), in place on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Time between two frames.
    pub interval: std::time::Duration,
    /// How many frames at most.
    pub count: Option<u64>,
    /// Redraw in place (the terminal's alternate screen, cursor hidden),
    /// and print the last frame on the normal screen when done. Otherwise
    /// frames follow one another, separated by a blank line (for pipes and
    /// logs).
    pub terminal: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: std::time::Duration::from_secs(2),
            count: None,
            terminal: false,
        }
    }
}

/// Draw `frame()` every `opts.interval` until `opts.count` frames are
/// drawn, `stop` is set (by a Ctrl-C handler, say) or `frame` fails. On a
/// terminal the screen is restored whichever way it ends, the cursor shown
/// again, and the last frame left on the normal screen. Returns the number
/// of frames drawn.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use ipvs::listing::{watch, WatchOptions};
///
/// let mut out = Vec::new();
/// let opts = WatchOptions { interval: std::time::Duration::ZERO, count: Some(2), terminal: false };
/// let mut n = 0;
/// let frames = watch(&mut out, &opts, &AtomicBool::new(false), || {
///     n += 1;
///     Ok::<_, std::io::Error>(format!("frame {n}\n"))
/// })
/// .unwrap();
/// assert_eq!(frames, 2);
/// assert_eq!(String::from_utf8(out).unwrap(), "frame 1\n\nframe 2\n");
/// ```
pub fn watch<W, E>(
    out: &mut W,
    opts: &WatchOptions,
    stop: &std::sync::atomic::AtomicBool,
    mut frame: impl FnMut() -> Result<String, E>,
) -> Result<u64, E>
where
    W: std::io::Write,
    E: From<std::io::Error>,
{
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::{Duration, Instant};

    // Alternate screen, cursor hidden / shown, main screen.
    const ENTER: &str = "\x1b[?1049h\x1b[?25l";
    const LEAVE: &str = "\x1b[?25h\x1b[?1049l";
    let mut drawn = 0u64;
    let mut last = String::new();
    if opts.terminal {
        out.write_all(ENTER.as_bytes())?;
    }
    let result = (|| -> Result<(), E> {
        while !stop.load(SeqCst) && opts.count.is_none_or(|c| drawn < c) {
            let started = Instant::now();
            let text = frame()?;
            if opts.terminal {
                // Home, each line erased to its end, the rest of the screen cleared.
                let mut screen = String::with_capacity(text.len() + 64);
                screen.push_str("\x1b[H");
                for line in text.lines() {
                    screen.push_str(line);
                    screen.push_str("\x1b[K\n");
                }
                screen.push_str("\x1b[J");
                out.write_all(screen.as_bytes())?;
            } else {
                if drawn > 0 {
                    out.write_all(b"\n")?;
                }
                out.write_all(text.as_bytes())?;
            }
            out.flush()?;
            last = text;
            drawn += 1;
            if opts.count.is_some_and(|c| drawn >= c) {
                break;
            }
            // Sleep in short steps so that a stop is seen at once.
            while !stop.load(SeqCst) {
                let left = opts.interval.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
        }
        Ok(())
    })();
    if opts.terminal {
        out.write_all(LEAVE.as_bytes())?;
        out.write_all(last.as_bytes())?;
        out.flush()?;
    }
    result.map(|()| drawn)
}

/// Set by [`watch_until_interrupted`]'s signal handler.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// [`watch`] until `opts.count` frames, or Ctrl-C (SIGINT) or SIGTERM,
/// whichever comes first: what `ipvsctl show --watch` runs. The signals'
/// handlers are this function's while it runs and restored after, so the
/// terminal is always left clean (screen restored, cursor shown) and the
/// caller decides what an interruption means. Returns the frames drawn and
/// whether a signal ended the watch. One watch at a time per process.
pub fn watch_until_interrupted<W, E>(
    out: &mut W,
    opts: &WatchOptions,
    frame: impl FnMut() -> Result<String, E>,
) -> Result<(u64, bool), E>
where
    W: std::io::Write,
    E: From<std::io::Error>,
{
    use std::sync::atomic::Ordering::SeqCst;
    INTERRUPTED.store(false, SeqCst);
    let signals = [libc::SIGINT, libc::SIGTERM];
    // SAFETY: sigaction structs are plain data, zeroed is a valid empty
    // value; the handler only stores to an atomic (async-signal-safe); the
    // previous actions are kept and put back below.
    let previous: Vec<libc::sigaction> = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        signals
            .iter()
            .map(|&sig| {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &action, &mut old);
                old
            })
            .collect()
    };
    let result = watch(out, opts, &INTERRUPTED, frame);
    for (sig, old) in signals.iter().zip(&previous) {
        // SAFETY: restores an action sigaction itself returned above.
        unsafe {
            libc::sigaction(*sig, old, std::ptr::null_mut());
        }
    }
    result.map(|frames| (frames, INTERRUPTED.load(SeqCst)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connections, Scheduler};

    #[test]
    fn watch_on_a_terminal_restores_it_when_stopped() {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let stop = AtomicBool::new(false);
        let opts = WatchOptions {
            interval: std::time::Duration::from_secs(3600),
            count: None,
            terminal: true,
        };
        let mut out = Vec::new();
        // The "Ctrl-C" arrives while the watch waits for its next frame:
        // the long interval is not waited for.
        let started = std::time::Instant::now();
        let frames = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(200));
                stop.store(true, SeqCst);
            });
            watch(&mut out, &opts, &stop, || {
                Ok::<_, std::io::Error>("a\nb\n".to_owned())
            })
            .unwrap()
        });
        assert_eq!(frames, 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\x1b[?1049h\x1b[?25l\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J\x1b[?25h\x1b[?1049la\nb\n"
        );
        // A failing read ends the watch and still restores the screen.
        let mut out = Vec::new();
        let err = watch(&mut out, &opts, &AtomicBool::new(false), || {
            Err::<String, _>(std::io::Error::other("gone"))
        });
        assert!(err.is_err());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("\x1b[?25h\x1b[?1049l")
        );
    }

    #[test]
    fn ctrl_c_ends_a_watch_cleanly() {
        let opts = WatchOptions {
            interval: std::time::Duration::from_secs(3600),
            count: None,
            terminal: true,
        };
        let mut out = Vec::new();
        let (frames, interrupted) = watch_until_interrupted(&mut out, &opts, || {
            // SAFETY: raising a signal whose handler is installed.
            unsafe {
                libc::raise(libc::SIGINT);
            }
            Ok::<_, std::io::Error>("x\n".to_owned())
        })
        .unwrap();
        assert_eq!((frames, interrupted), (1, true));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("\x1b[?25h\x1b[?1049lx\n")
        );
        // The default action is back: a frame count ends the next watch.
        let opts = WatchOptions {
            count: Some(2),
            interval: std::time::Duration::ZERO,
            ..opts
        };
        let (frames, interrupted) = watch_until_interrupted(&mut Vec::new(), &opts, || {
            Ok::<_, std::io::Error>(String::new())
        })
        .unwrap();
        assert_eq!((frames, interrupted), (2, false));
    }

    #[test]
    fn ipv6_text_follows_glibc() {
        for (addr, text) in [
            ("2001:db8::10", "2001:db8::10"),
            ("::", "::"),
            ("::1", "::1"),
            ("::2:3", "::0.2.0.3"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::ffff:0:0", "::ffff:0.0.0.0"),
            ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:0:db8:1:2:3:4:5", "2001:0:db8:1:2:3:4:5"),
            ("1::", "1::"),
            ("0:0:1::", "0:0:1::"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("::ffff:1:2:3", "::ffff:1:2:3"),
        ] {
            let a: Ipv6Addr = addr.parse().unwrap();
            assert_eq!(ipv6_text(&a), text, "{addr}");
        }
    }

    #[test]
    fn large_numbers_shorten_like_ipvsadm() {
        let cases = [
            (0, false, "        0"),
            (99_999_999, false, " 99999999"),
            (100_000_000, false, "  100000K"),
            (1_234_567_890, false, "    1234M"),
            (123_456_789_012, false, "     123G"),
            (123_456_789_012_345, false, "     123T"),
            (123_456_789, true, " 123456789"),
            (12, true, "       12"),
        ];
        for (v, exact, text) in cases {
            let mut s = String::new();
            large_number(&mut s, v, exact);
            assert_eq!(s, text, "{v} exact={exact}");
        }
    }

    #[test]
    fn marks_and_far_addresses_sort_as_ipvsadm_does() {
        // 0 - 0x80000001 as an int is positive: the mark sorts before the
        // address service, as in ipvsadm.
        let big = ServiceKey::fwmark(0x8000_0001);
        let tcp = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        assert_eq!(compare_services(&tcp, &big), Ordering::Greater);
        assert_eq!(
            compare_services(&big, &ServiceKey::fwmark(1)),
            Ordering::Less
        );
        let a = ServiceKey::tcp("[2001:db8::]:80".parse().unwrap());
        let b = ServiceKey::tcp("[2001:db8:0:0:ffff:ffff::]:80".parse().unwrap());
        assert_eq!(compare_services(&a, &b), Ordering::Greater);
        assert_eq!(service_name(&ServiceKey::fwmark(u32::MAX)), "FWM  -1");
    }

    #[test]
    fn views_lay_out_destinations() {
        let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
        let mut d = Destination::new("198.51.100.2:8080".parse().unwrap())
            .with_weight(3)
            .with_thresholds(100, 10)
            .with_forward(ForwardMethod::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::Remote,
            }));
        d.connections = Some(Connections {
            active: 1,
            inactive: 2,
            persistent: 4,
        });
        d.stats = Some(Stats {
            connections: 5,
            bps_in: 123_456_789,
            cps: 7,
            ..Stats::default()
        });
        let s = ServiceState::new(Service::new(key, Scheduler::RoundRobin)).with_dest(d);
        let line = |view, exact| {
            service_listing(&s, &ListOptions { view, exact })
                .lines()
                .nth(3)
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            line(View::TunInfo, false),
            "  -> 198.51.100.2:8080            Tunnel  gue:6080:r+c  3      1          2         "
        );
        assert_eq!(
            line(View::Thresholds, false),
            "  -> 198.51.100.2:8080            100        10         1          2         "
        );
        assert_eq!(
            line(View::PersistentConn, false),
            "  -> 198.51.100.2:8080            3         4           1          2         "
        );
        assert_eq!(
            line(View::Rate, false),
            "  -> 198.51.100.2:8080                   7        0        0  123456K        0"
        );
        assert_eq!(
            line(View::Rate, true),
            "  -> 198.51.100.2:8080                   7        0        0 123456789        0"
        );
        assert_eq!(
            line(View::Stats, false),
            "  -> 198.51.100.2:8080                   5        0        0        0        0"
        );
    }
}
