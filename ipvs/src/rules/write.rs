//! The rules writer: ipvsadm 1.31's `-S -n` format.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::Rule;
use crate::model::{
    AddressFamily, Destination, ForwardMethod, Netmask, Protocol, Service, ServiceFlags,
    ServiceKey, Tunnel, TunnelChecksum,
};

/// How to write rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Write non-zero connection thresholds as `-x` and `-y` after the
    /// weight. ipvsadm's save never writes them (`false`, the default),
    /// though its restore reads them.
    pub thresholds: bool,
}

impl WriteOptions {
    /// Exactly what `ipvsadm -S -n` writes.
    pub const IPVSADM: WriteOptions = WriteOptions { thresholds: false };
    /// Everything a rule holds, thresholds included.
    pub const COMPLETE: WriteOptions = WriteOptions { thresholds: true };
}

/// Write rules as `ipvsadm -S -n` does: one per line, each ending in a
/// newline. Thresholds are not written (nor are they by ipvsadm).
pub fn write(rules: &[Rule]) -> String {
    write_with(rules, &WriteOptions::IPVSADM)
}

/// [`write()`], with options.
pub fn write_with(rules: &[Rule], opts: &WriteOptions) -> String {
    let mut out = String::with_capacity(rules.len() * 48);
    for rule in rules {
        let _ = write_rule(&mut out, rule, opts);
        out.push('\n');
    }
    out
}

pub(crate) fn write_rule(w: &mut impl fmt::Write, rule: &Rule, opts: &WriteOptions) -> fmt::Result {
    match rule {
        Rule::AddService { service } => write_service(w, "-A", service),
        Rule::UpdateService { service } => write_service(w, "-E", service),
        Rule::DeleteService { service } => {
            w.write_str("-D ")?;
            write_key(w, service)
        }
        Rule::AddDestination { service, dest } => write_dest(w, "-a", service, dest, opts),
        Rule::UpdateDestination { service, dest } => write_dest(w, "-e", service, dest, opts),
        Rule::DeleteDestination { service, dest } => {
            w.write_str("-d ")?;
            write_key(w, service)?;
            w.write_str(" -r ")?;
            write_addr(w, dest.ip(), dest.port())
        }
        Rule::Clear => w.write_str("-C"),
        Rule::SetTimeouts { timeouts } => write!(
            w,
            "--set {} {} {}",
            timeouts.tcp, timeouts.tcp_fin, timeouts.udp
        ),
        Rule::Zero { service: None } => w.write_str("-Z"),
        Rule::Zero {
            service: Some(service),
        } => {
            w.write_str("-Z ")?;
            write_key(w, service)
        }
    }
}

/// ipvsadm's service name in rules: `-t a:p`, `-u a:p`,
/// `--sctp-service a:p`, `-f m`, `-f m -6`.
fn write_key(w: &mut impl fmt::Write, key: &ServiceKey) -> fmt::Result {
    match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            match protocol {
                Protocol::Tcp => w.write_str("-t ")?,
                Protocol::Udp => w.write_str("-u ")?,
                Protocol::Sctp => w.write_str("--sctp-service ")?,
                // Not a protocol ipvsadm (or IPVS) knows: written so that
                // reading it back fails loudly.
                Protocol::Other(n) => write!(w, "--protocol-{n} ")?,
            }
            write_addr(w, *address, *port)
        }
        ServiceKey::Fwmark {
            fwmark,
            family: AddressFamily::Ipv4,
        } => write!(w, "-f {fwmark}"),
        ServiceKey::Fwmark { fwmark, .. } => write!(w, "-f {fwmark} -6"),
    }
}

/// `a.b.c.d:port` or `[v6]:port`, as ipvsadm prints them with `inet_ntop`.
fn write_addr(w: &mut impl fmt::Write, address: IpAddr, port: u16) -> fmt::Result {
    match address {
        IpAddr::V4(a) => {
            let mut text = Ascii::<V4_PORT_ROOM>::new();
            text.v4_port(a, port);
            w.write_str(text.as_str())
        }
        IpAddr::V6(a) => {
            w.write_char('[')?;
            write_v6(w, &a)?;
            write!(w, "]:{port}")
        }
    }
}

/// `n` in decimal, without the formatting machinery: a saved table is
/// mostly numbers, and this was most of the time writing it took.
fn write_number(w: &mut impl fmt::Write, n: u32) -> fmt::Result {
    let mut text = Ascii::<NUMBER_ROOM>::new();
    text.number(n);
    w.write_str(text.as_str())
}

/// A short run of ASCII built on the stack, then written in one call: an
/// address and port, a number. Written piece by piece, each digit group
/// and separator was a call that grew the output; most of a saved table
/// is such pieces.
///
/// `N` counts the longest text plus 2 bytes of slack: a number's digits
/// are copied three at a time.
struct Ascii<const N: usize> {
    buf: [u8; N],
    len: usize,
}

/// Room for a `u32`.
const NUMBER_ROOM: usize = 10 + 2;
/// Room for `255.255.255.255:65535`.
const V4_PORT_ROOM: usize = 21 + 2;
/// Room for a destination line's usual tail:
/// `255.255.255.255:65535 -m -w 4294967295`.
const DEST_TAIL_ROOM: usize = 21 + 7 + 10 + 2;

impl<const N: usize> Ascii<N> {
    fn new() -> Self {
        Ascii {
            buf: [0; N],
            len: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, s: &str) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
    }

    /// `n` in decimal: each group of three digits from [`TRIPLES`], copied
    /// as three bytes (a copy of a length the compiler knows); the leading
    /// group's unused bytes are then overwritten or left past the end.
    #[inline(always)]
    fn number(&mut self, n: u32) {
        if n < 1000 {
            self.leading(n);
        } else {
            self.groups(n);
        }
    }

    /// `n` below 1,000: one to three digits.
    #[inline(always)]
    fn leading(&mut self, n: u32) {
        let skip = match n {
            100.. => 0,
            10.. => 1,
            _ => 2,
        };
        // In bounds: `at + 3` is at most 3000 (n = 999, skip 0).
        self.triple_at(n as usize * 3 + skip);
        self.len += 3 - skip;
    }

    /// `n` of 1,000 or more: the leading group, then groups of three.
    fn groups(&mut self, n: u32) {
        let (mut groups, mut count, mut rest) = ([0u32; 3], 0, n);
        while rest >= 1000 {
            groups[count] = rest % 1000;
            (rest, count) = (rest / 1000, count + 1);
        }
        self.leading(rest);
        for &g in groups[..count].iter().rev() {
            self.triple_at(g as usize * 3);
            self.len += 3;
        }
    }

    /// The three bytes of [`TRIPLES`] from `at`, copied at the end (the
    /// caller advances `len` by the digits it keeps).
    #[inline(always)]
    fn triple_at(&mut self, at: usize) {
        self.buf[self.len..self.len + 3].copy_from_slice(&TRIPLES[at..at + 3]);
    }

    /// `a.b.c.d:port`.
    fn v4_port(&mut self, a: std::net::Ipv4Addr, port: u16) {
        let [a, b, c, d] = a.octets();
        self.number(a.into());
        self.push(".");
        self.number(b.into());
        self.push(".");
        self.number(c.into());
        self.push(".");
        self.number(d.into());
        self.push(":");
        self.number(port.into());
    }

    fn as_str(&self) -> &str {
        let text = &self.buf[..self.len];
        debug_assert!(std::str::from_utf8(text).is_ok());
        // SAFETY: below `len` are only whole `&str`s (`push`) and ASCII
        // digits (`number`: the bytes it copies past its digits are past
        // `len`, and overwritten by the next piece), so valid UTF-8. Checked,
        // it was a third of what writing an address costs.
        unsafe { std::str::from_utf8_unchecked(text) }
    }
}

/// "000" to "999", back to back.
static TRIPLES: [u8; 3000] = {
    let mut b = [0u8; 3000];
    let mut i = 0;
    while i < 1000 {
        b[3 * i] = b'0' + (i / 100) as u8;
        b[3 * i + 1] = b'0' + (i / 10 % 10) as u8;
        b[3 * i + 2] = b'0' + (i % 10) as u8;
        i += 1;
    }
    b
};

/// An IPv6 address as glibc's `inet_ntop` writes it. Rust's own formatting
/// agrees except for IPv4-compatible addresses (`::a.b.c.d`).
fn write_v6(w: &mut impl fmt::Write, a: &Ipv6Addr) -> fmt::Result {
    let s = a.segments();
    if s[..6].iter().all(|&x| x == 0) && s[6] != 0 {
        let [.., a, b, c, d] = a.octets();
        return write!(w, "::{a}.{b}.{c}.{d}");
    }
    write!(w, "{a}")
}

/// The `-A`/`-E` line: `-s`, then `-p` and `-M`, `--pe`, `-o`, `-b`, in
/// ipvsadm's order.
pub(crate) fn write_service(w: &mut impl fmt::Write, cmd: &str, svc: &Service) -> fmt::Result {
    w.write_str(cmd)?;
    w.write_char(' ')?;
    write_key(w, &svc.key)?;
    w.write_str(" -s ")?;
    w.write_str(svc.scheduler.name())?;
    if let Some(p) = &svc.persistence {
        w.write_str(" -p ")?;
        write_number(w, p.timeout)?;
        if p.netmask != Netmask::host(svc.key.family()) {
            write!(w, " -M {}", p.netmask)?;
        }
    }
    if let Some(pe) = &svc.persistence_engine {
        write!(w, " --pe {pe}")?;
    }
    if svc.flags.contains(ServiceFlags::ONE_PACKET) {
        w.write_str(" -o")?;
    }
    let sched = [
        ServiceFlags::SCHED1,
        ServiceFlags::SCHED2,
        ServiceFlags::SCHED3,
    ];
    if sched.iter().any(|f| svc.flags.contains(*f)) {
        let names: [&str; 3] = match svc.scheduler.name() {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        w.write_str(" -b ")?;
        let mut first = true;
        for (flag, name) in sched.iter().zip(names) {
            if svc.flags.contains(*flag) {
                if !first {
                    w.write_char(',')?;
                }
                w.write_str(name)?;
                first = false;
            }
        }
    }
    Ok(())
}

/// The `-a`/`-e` line: `-r`, the forwarding switch, `-w`, then the
/// tunnel options as ipvsadm's `print_tunnel_rule` writes them.
fn write_dest(
    w: &mut impl fmt::Write,
    cmd: &str,
    key: &ServiceKey,
    dest: &Destination,
    opts: &WriteOptions,
) -> fmt::Result {
    write_dest_head(w, cmd, key)?;
    write_dest_tail(w, dest, opts)
}

/// The start of a `-a`/`-e` line, the same for every destination of a
/// service (`-a -t 192.0.2.1:80 -r `): a writer of many lines writes it
/// once and copies it.
pub(crate) fn write_dest_head(w: &mut impl fmt::Write, cmd: &str, key: &ServiceKey) -> fmt::Result {
    w.write_str(cmd)?;
    w.write_char(' ')?;
    write_key(w, key)?;
    w.write_str(" -r ")
}

/// The rest of a `-a`/`-e` line after [`write_dest_head`]: the address,
/// the forwarding switch, the weight, the tunnel options.
pub(crate) fn write_dest_tail(
    w: &mut impl fmt::Write,
    dest: &Destination,
    opts: &WriteOptions,
) -> fmt::Result {
    // ipvsadm's fwd_switch: local-node destinations are written as -g,
    // methods it cannot name as "?".
    let switch = match dest.forward {
        ForwardMethod::Masquerade => " -m -w ",
        ForwardMethod::Tunnel(_) => " -i -w ",
        ForwardMethod::Local | ForwardMethod::DirectRoute => " -g -w ",
        _ => " ? -w ",
    };
    match dest.address {
        // The usual line, built on the stack and written at once.
        IpAddr::V4(a) => {
            let mut text = Ascii::<DEST_TAIL_ROOM>::new();
            text.v4_port(a, dest.port);
            text.push(switch);
            text.number(dest.weight);
            w.write_str(text.as_str())?;
        }
        IpAddr::V6(_) => {
            write_addr(w, dest.address, dest.port)?;
            w.write_str(switch)?;
            write_number(w, dest.weight)?;
        }
    }
    if opts.thresholds {
        if dest.upper_threshold != 0 {
            write!(w, " -x {}", dest.upper_threshold)?;
        }
        if dest.lower_threshold != 0 {
            write!(w, " -y {}", dest.lower_threshold)?;
        }
    }
    if let ForwardMethod::Tunnel(t) = &dest.forward {
        let csum = |c: TunnelChecksum| match c {
            TunnelChecksum::None => "--tun-nocsum",
            TunnelChecksum::Checksum => "--tun-csum",
            TunnelChecksum::Remote => "--tun-remcsum",
        };
        match t {
            Tunnel::Ipip => w.write_str(" --tun-type ipip")?,
            Tunnel::Gue { port, checksum } => {
                write!(w, " --tun-type gue --tun-port {port} {}", csum(*checksum))?
            }
            Tunnel::Gre { checksum } => write!(w, " --tun-type gre {}", csum(*checksum))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_tails_at_their_longest_and_shortest() {
        for (a, port) in [
            ([255, 255, 255, 255], 65535),
            ([0, 0, 0, 0], 0),
            ([10, 0, 99, 1], 1000),
        ] {
            let a = std::net::Ipv4Addr::from(a);
            let mut s = String::new();
            write_addr(&mut s, a.into(), port).unwrap();
            assert_eq!(s, format!("{a}:{port}"));
            for weight in [0, 7, u32::MAX] {
                let dest = Destination::new((a, port).into()).with_weight(weight);
                let mut s = String::new();
                write_dest_tail(&mut s, &dest, &WriteOptions::IPVSADM).unwrap();
                assert_eq!(s, format!("{a}:{port} -m -w {weight}"));
            }
        }
    }

    #[test]
    fn numbers_as_format_writes_them() {
        let edges = [
            0, 1, 9, 10, 99, 100, 101, 999, 1000, 1001, 1010, 65535, 100_000,
        ];
        let spread = (0..2000u32).map(|i| i.wrapping_mul(2_654_435_761));
        for n in edges
            .into_iter()
            .chain(spread)
            .chain([u32::MAX - 1, u32::MAX])
        {
            let mut s = String::new();
            write_number(&mut s, n).unwrap();
            assert_eq!(s, n.to_string());
        }
    }
}
