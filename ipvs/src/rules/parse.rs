//! The rules parser: one ipvsadm command line at a time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Rule, RulesError, RulesErrorKind};
use crate::model::{
    AddressFamily, Destination, ForwardMethod, MAX_NAME_LEN, Netmask, Persistence, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, Timeouts, Tunnel, TunnelChecksum,
};

/// ipvsadm's longest timeout: 31 days.
const MAX_TIMEOUT: u32 = Timeouts::MAX_SECONDS;
/// ipvsadm's persistence timeout when `-p` has no value.
const DEFAULT_PERSISTENCE: u32 = Persistence::DEFAULT_TIMEOUT;
const MAX_I32: u32 = i32::MAX as u32;

/// A rule and the line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRule {
    /// The line, from 1.
    pub line: usize,
    /// The rule.
    pub rule: Rule,
}

/// Read ipvsadm rules: one command per line; blank lines and `#` comments
/// are skipped, and a line may start with the word `ipvsadm`.
pub fn parse(text: &str) -> Result<Vec<Rule>, RulesError> {
    Ok(parse_lines(text)?.into_iter().map(|p| p.rule).collect())
}

/// [`parse`], keeping each rule's line number.
pub fn parse_lines(text: &str) -> Result<Vec<ParsedRule>, RulesError> {
    let mut pieces = parse_pieces(text)?.into_iter();
    let mut out = pieces.next().unwrap_or_default();
    for piece in pieces {
        out.extend(piece);
    }
    Ok(out)
}

/// [`parse_lines`], in pieces of consecutive lines (not joined: the
/// caller may go through them in order without copying them into one).
///
/// Lines are independent: a long text is parsed in pieces on a few
/// threads, cut after a newline, the first error (by line) reported as if
/// read in one go.
pub(crate) fn parse_pieces(text: &str) -> Result<Vec<Vec<ParsedRule>>, RulesError> {
    let threads = if text.len() < PARALLEL_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    if threads == 1 {
        return Ok(vec![parse_piece(text, 0)?.0]);
    }
    let mut pieces = Vec::with_capacity(threads);
    let mut rest = text;
    for k in (1..=threads).rev() {
        let cut = if k == 1 {
            rest.len()
        } else {
            rest[rest.len() / k..]
                .find('\n')
                .map_or(rest.len(), |i| rest.len() / k + i + 1)
        };
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    // Each piece is read from its line 1, and knows its lines only once
    // read: the lines of the pieces before are added after.
    let parsed: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .iter()
            .map(|&piece| scope.spawn(move || parse_piece(piece, 0)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a parser thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(threads);
    let mut before = 0;
    for piece in parsed {
        match piece {
            Ok((mut rules, lines)) => {
                if before > 0 {
                    rules.iter_mut().for_each(|r| r.line += before);
                }
                out.push(rules);
                before += lines;
            }
            Err(mut e) => {
                e.line += before;
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Texts from this size on are parsed on several threads.
const PARALLEL_BYTES: usize = 256 << 10;

/// The rules of `text`, its first line being line `first_line + 1`, and
/// how many lines it has (as [`str::lines`] cuts them).
fn parse_piece(text: &str, first_line: usize) -> Result<(Vec<ParsedRule>, usize), RulesError> {
    let mut out = Vec::with_capacity(text.len() / 40);
    let mut scratch = Scratch::default();
    let bytes = text.as_bytes();
    let mut lines = 0;
    let mut at = 0;
    while at < bytes.len() {
        lines += 1;
        let line_no = first_line + lines;
        if let Some((rule, next)) = simple_line(text, at) {
            out.push(ParsedRule {
                line: line_no,
                rule,
            });
            at = next;
            continue;
        }
        // A line ends at `\n` or `\r\n` (as for `str::lines`: a `\r` alone
        // stays in the line).
        let (line, next) = match bytes[at..].iter().position(|&b| b == b'\n') {
            Some(n) => {
                let line = &text[at..at + n];
                (line.strip_suffix('\r').unwrap_or(line), at + n + 1)
            }
            None => (&text[at..], bytes.len()),
        };
        at = next;
        if let Some(rule) =
            parse_general(line, &mut scratch).map_err(|(column, kind)| RulesError {
                line: line_no,
                column,
                kind,
            })?
        {
            out.push(ParsedRule {
                line: line_no,
                rule,
            });
        }
    }
    Ok((out, lines))
}

type LineError = (usize, RulesErrorKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    AddService,
    EditService,
    DeleteService,
    AddDest,
    EditDest,
    DeleteDest,
    Clear,
    Zero,
    Set,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Ipv6,
    Scheduler,
    Persistent,
    Netmask,
    Pe,
    Ops,
    SchedFlags,
    RealServer,
    Masquerading,
    Gatewaying,
    Ipip,
    Weight,
    UThreshold,
    LThreshold,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    NotARule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Required,
    Optional,
}

struct Spec {
    long: &'static str,
    short: Option<char>,
    id: Id,
    arg: Arg,
}

const fn spec(long: &'static str, short: Option<char>, id: Id, arg: Arg) -> Spec {
    Spec {
        long,
        short,
        id,
        arg,
    }
}

/// ipvsadm 1.31's options.
const SPECS: &[Spec] = &[
    spec("add-service", Some('A'), Id::AddService, Arg::No),
    spec("edit-service", Some('E'), Id::EditService, Arg::No),
    spec("delete-service", Some('D'), Id::DeleteService, Arg::No),
    spec("clear", Some('C'), Id::Clear, Arg::No),
    spec("zero", Some('Z'), Id::Zero, Arg::No),
    spec("add-server", Some('a'), Id::AddDest, Arg::No),
    spec("edit-server", Some('e'), Id::EditDest, Arg::No),
    spec("delete-server", Some('d'), Id::DeleteDest, Arg::No),
    spec("set", None, Id::Set, Arg::No),
    spec("tcp-service", Some('t'), Id::Tcp, Arg::Required),
    spec("udp-service", Some('u'), Id::Udp, Arg::Required),
    spec("sctp-service", None, Id::Sctp, Arg::Required),
    spec("fwmark-service", Some('f'), Id::Fwmark, Arg::Required),
    spec("ipv6", Some('6'), Id::Ipv6, Arg::No),
    spec("scheduler", Some('s'), Id::Scheduler, Arg::Required),
    spec("persistent", Some('p'), Id::Persistent, Arg::Optional),
    spec("netmask", Some('M'), Id::Netmask, Arg::Required),
    spec("pe", None, Id::Pe, Arg::Required),
    spec("ops", Some('o'), Id::Ops, Arg::No),
    spec("sched-flags", Some('b'), Id::SchedFlags, Arg::Required),
    spec("real-server", Some('r'), Id::RealServer, Arg::Required),
    spec("masquerading", Some('m'), Id::Masquerading, Arg::No),
    spec("gatewaying", Some('g'), Id::Gatewaying, Arg::No),
    spec("ipip", Some('i'), Id::Ipip, Arg::No),
    spec("weight", Some('w'), Id::Weight, Arg::Required),
    spec("u-threshold", Some('x'), Id::UThreshold, Arg::Required),
    spec("l-threshold", Some('y'), Id::LThreshold, Arg::Required),
    spec("tun-type", None, Id::TunType, Arg::Required),
    spec("tun-port", None, Id::TunPort, Arg::Required),
    spec("tun-nocsum", None, Id::TunNocsum, Arg::No),
    spec("tun-csum", None, Id::TunCsum, Arg::No),
    spec("tun-remcsum", None, Id::TunRemcsum, Arg::No),
    // ipvsadm options that are not rules.
    spec("list", Some('L'), Id::NotARule, Arg::No),
    spec("list", Some('l'), Id::NotARule, Arg::No),
    spec("save", Some('S'), Id::NotARule, Arg::No),
    spec("restore", Some('R'), Id::NotARule, Arg::No),
    spec("help", Some('h'), Id::NotARule, Arg::No),
    spec("version", Some('v'), Id::NotARule, Arg::No),
    spec("numeric", Some('n'), Id::NotARule, Arg::No),
    spec("connection", Some('c'), Id::NotARule, Arg::No),
    spec("exact", Some('X'), Id::NotARule, Arg::No),
    spec("start-daemon", None, Id::NotARule, Arg::No),
    spec("stop-daemon", None, Id::NotARule, Arg::No),
    spec("mcast-interface", None, Id::NotARule, Arg::No),
    spec("mcast-group", None, Id::NotARule, Arg::No),
    spec("mcast-port", None, Id::NotARule, Arg::No),
    spec("mcast-ttl", None, Id::NotARule, Arg::No),
    spec("sync-maxlen", None, Id::NotARule, Arg::No),
    spec("syncid", None, Id::NotARule, Arg::No),
    spec("timeout", None, Id::NotARule, Arg::No),
    spec("daemon", None, Id::NotARule, Arg::No),
    spec("stats", None, Id::NotARule, Arg::No),
    spec("rate", None, Id::NotARule, Arg::No),
    spec("thresholds", None, Id::NotARule, Arg::No),
    spec("persistent-conn", None, Id::NotARule, Arg::No),
    spec("tun-info", None, Id::NotARule, Arg::No),
    spec("nosort", None, Id::NotARule, Arg::No),
    spec("sort", None, Id::NotARule, Arg::No),
];

/// For each ASCII letter, 1 + the index in [`SPECS`] of the first short
/// option spelled so; 0 for none.
const SHORT_INDEX: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut i = 0;
    while i < SPECS.len() {
        if let Some(c) = SPECS[i].short {
            let c = c as usize;
            if c < 128 && table[c] == 0 {
                table[c] = (i + 1) as u8;
            }
        }
        i += 1;
    }
    table
};

/// The option spelled `-c`, as the first of [`SPECS`] with that letter.
fn short_spec(c: char) -> Option<&'static Spec> {
    match SHORT_INDEX.get(c as usize) {
        Some(&i) if i > 0 => Some(&SPECS[usize::from(i) - 1]),
        _ => None,
    }
}

impl Id {
    fn is_command(self) -> bool {
        matches!(
            self,
            Id::AddService
                | Id::EditService
                | Id::DeleteService
                | Id::AddDest
                | Id::EditDest
                | Id::DeleteDest
                | Id::Clear
                | Id::Zero
                | Id::Set
        )
    }

    /// Options that exclude each other share a group.
    fn group(self) -> u8 {
        match self {
            Id::Tcp | Id::Udp | Id::Sctp | Id::Fwmark => 1,
            Id::Masquerading | Id::Gatewaying | Id::Ipip => 2,
            Id::TunNocsum | Id::TunCsum | Id::TunRemcsum => 3,
            _ => 100 + self as u8,
        }
    }

    /// Whether `command` takes this option (ipvsadm's `commands_v_options`).
    fn allowed_with(self, command: Id) -> bool {
        let service_opt = matches!(self, Id::Tcp | Id::Udp | Id::Sctp | Id::Fwmark | Id::Ipv6);
        match command {
            Id::AddService | Id::EditService => {
                service_opt
                    || matches!(
                        self,
                        Id::Scheduler
                            | Id::Persistent
                            | Id::Netmask
                            | Id::Pe
                            | Id::Ops
                            | Id::SchedFlags
                    )
            }
            Id::DeleteService | Id::Zero => service_opt,
            Id::AddDest | Id::EditDest => {
                service_opt
                    || matches!(
                        self,
                        Id::RealServer
                            | Id::Masquerading
                            | Id::Gatewaying
                            | Id::Ipip
                            | Id::Weight
                            | Id::UThreshold
                            | Id::LThreshold
                            | Id::TunType
                            | Id::TunPort
                            | Id::TunNocsum
                            | Id::TunCsum
                            | Id::TunRemcsum
                    )
            }
            Id::DeleteDest => service_opt || self == Id::RealServer,
            _ => false,
        }
    }
}

/// Where a slice of `line` starts, as a 1-based character column.
fn column(line: &str, part: &str) -> usize {
    let off = (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
    let off = off.min(line.len());
    let before = &line[..off];
    if before.is_ascii() {
        off + 1
    } else {
        before.chars().count() + 1
    }
}

/// The column just after a slice of `line`.
fn column_after(line: &str, part: &str) -> usize {
    column(line, part) + part.chars().count()
}

/// An option as it appeared.
#[derive(Clone, Copy)]
struct Given<'a> {
    id: Id,
    /// `--name`, or the letter of a short option.
    spelled: &'a str,
    short: bool,
}

impl Given<'_> {
    /// Its column in `line` (the line it was read from): where its `-` is.
    /// Only errors need it.
    fn col(&self, line: &str) -> usize {
        column(line, self.spelled) - usize::from(self.short)
    }

    /// The option as `-x` or `--name`.
    fn name(&self) -> String {
        if self.short {
            format!("-{}", self.spelled)
        } else {
            self.spelled.to_owned()
        }
    }
}

enum SvcSpec {
    Addr {
        protocol: Protocol,
        address: IpAddr,
        port: Option<u16>,
    },
    Fwmark(u32),
}

#[derive(Default)]
struct Fields<'a> {
    service: Option<(SvcSpec, Given<'a>)>,
    scheduler: Option<&'a str>,
    persistent: Option<u32>,
    netmask: Option<(&'a str, usize, Given<'a>)>,
    pe: Option<&'a str>,
    ops: bool,
    sched_flags: Option<(&'a str, Given<'a>)>,
    real: Option<(IpAddr, Option<u16>, Given<'a>)>,
    weight: Option<u32>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
    tun_type: Option<u8>,
    tun_port: Option<u16>,
    tun_csum: Option<TunnelChecksum>,
}

/// A name given attached (`-s#x`, `--scheduler=`) that could not be
/// written back as a word of its own: empty, or starting a comment.
fn unwritable_name(
    line: &str,
    g: Given<'_>,
    v: &str,
    expected: &'static str,
) -> Result<(), LineError> {
    if v.is_empty() || v.starts_with('#') {
        return Err((
            column(line, v),
            RulesErrorKind::BadValue {
                option: g.name(),
                expected,
                found: v.into(),
            },
        ));
    }
    Ok(())
}

/// The lists [`parse_general`] fills, kept from one line to the next so that
/// a line costs no allocation.
#[derive(Default)]
struct Scratch<'a> {
    words: Vec<&'a str>,
    given: Vec<Given<'a>>,
    positional: Vec<&'a str>,
    /// The options of one word: spec, spelled option, attached value.
    found: Vec<(&'static Spec, &'a str, Option<&'a str>)>,
}

/// A cursor over a text's bytes: the scanner of [`simple_line`], and of
/// addresses and numbers for the general parser.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, at: usize) -> Self {
        Cursor { text, at }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    /// Step over `word` if the text goes on with it.
    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.text.as_bytes()[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    /// Decimal digits (one at least; leading zeros allowed) as a number up
    /// to `max`: what `number` reads, without the end check.
    fn decimal(&mut self, max: u32) -> Option<u32> {
        let mut n: u64 = 0;
        let mut len = 0;
        for &b in &self.text.as_bytes()[self.at..] {
            if !b.is_ascii_digit() {
                break;
            }
            // More digits only make it larger (or keep it 0).
            n = n * 10 + u64::from(b - b'0');
            if n > u64::from(max) {
                return None;
            }
            len += 1;
        }
        if len == 0 {
            return None;
        }
        self.at += len;
        Some(n as u32)
    }

    /// A dotted IPv4 address as `Ipv4Addr::from_str` reads it: four
    /// decimal octets of one to three digits, no leading zero. A digit or
    /// dot after it is left for the caller to refuse (an address never
    /// goes on with either).
    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        // The longest address is 15 bytes: it is read from a window of 16,
        // without checking for the end of the text. Near the end, the rest
        // is copied into a window of zeros (a zero is neither digit nor dot:
        // it reads as the end).
        let rest = &self.text.as_bytes()[self.at..];
        let (address, len) = match rest.first_chunk::<16>() {
            Some(window) => ipv4_in(window)?,
            None => {
                let mut window = [0; 16];
                window[..rest.len()].copy_from_slice(rest);
                ipv4_in(&window)?
            }
        };
        self.at += len;
        Some(address)
    }

    /// A word of ASCII letters and digits, up to the next byte that is
    /// not one.
    fn alphanumeric(&mut self) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    /// The end of the line (`\n`, `\r\n` or the end of the text) and where
    /// the next line starts, or `None` if the line goes on.
    fn end_of_line(&self) -> Option<usize> {
        let rest = &self.text.as_bytes()[self.at..];
        match rest {
            [] => Some(self.at),
            [b'\n', ..] => Some(self.at + 1),
            [b'\r', b'\n', ..] => Some(self.at + 2),
            _ => None,
        }
    }
}

/// [`Cursor::ipv4`] on a window of at least an address's bytes: the
/// address and its length.
fn ipv4_in(window: &[u8; 16]) -> Option<(Ipv4Addr, usize)> {
    let digit = |at: usize| {
        let d = window[at].wrapping_sub(b'0');
        (d <= 9).then_some(u32::from(d))
    };
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (i, octet) in octets.iter_mut().enumerate() {
        // At most three digits and a dot an octet: `at` stays below 15.
        if i > 0 {
            if window[at] != b'.' {
                return None;
            }
            at += 1;
        }
        let mut n = digit(at)?;
        at += 1;
        // After a leading zero, a digit makes the address wrong.
        if n != 0
            && let Some(d) = digit(at)
        {
            n = n * 10 + d;
            at += 1;
            if let Some(d) = digit(at) {
                n = n * 10 + d;
                at += 1;
            }
        }
        *octet = u8::try_from(n).ok()?;
    }
    Some((Ipv4Addr::from(octets), at))
}

/// The two lines `ipvsadm -S` writes, read from byte `at` of `text` (the
/// start of a line) in one pass without the option machinery: `-A -t|-u
/// a.b.c.d:PORT -s NAME` and `-a -t|-u a.b.c.d:PORT -r a.b.c.d[:PORT] -m|-g
/// -w WEIGHT`, words in that order, one space apart, the line maybe
/// starting with `ipvsadm `. The rule and where the next line starts;
/// `None` for anything else, and for any of those the general parser
/// would refuse or read with more care (it then reads the line, errors
/// and all): what this returns is what [`parse_general`] returns for the
/// line (a test checks it).
fn simple_line(text: &str, at: usize) -> Option<(Rule, usize)> {
    let mut c = Cursor::new(text, at);
    c.eat(b"ipvsadm ");
    let add_service = if c.eat(b"-A ") {
        true
    } else if c.eat(b"-a ") {
        false
    } else {
        return None;
    };
    let protocol = if c.eat(b"-t ") {
        Protocol::Tcp
    } else if c.eat(b"-u ") {
        Protocol::Udp
    } else {
        return None;
    };
    let address = IpAddr::V4(c.ipv4()?);
    if !c.eat(b":") {
        return None;
    }
    let port = c.decimal(65535)? as u16;
    let key = ServiceKey::Address {
        protocol,
        address,
        port,
    };
    if add_service {
        // Port 0 needs persistence: the general parser says so.
        if port == 0 || !c.eat(b" -s ") {
            return None;
        }
        let name = c.alphanumeric();
        let next = c.end_of_line()?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return None;
        }
        // What `Service::validate` checks holds: a TCP or UDP key, a port,
        // a name of letters and digits, no flags nor persistence.
        let service = Service::new(key, Scheduler::from_name(name));
        return Some((Rule::AddService { service }, next));
    }
    if !c.eat(b" -r ") {
        return None;
    }
    let address = IpAddr::V4(c.ipv4()?);
    let dest_port = if c.eat(b":") {
        Some(c.decimal(65535)? as u16)
    } else {
        None
    };
    let forward = if c.eat(b" -m -w ") {
        ForwardMethod::Masquerade
    } else if c.eat(b" -g -w ") {
        ForwardMethod::DirectRoute
    } else {
        return None;
    };
    let weight = c.decimal(MAX_I32)?;
    let next = c.end_of_line()?;
    // For direct routing, the real server's port is the service's.
    let port = match forward {
        ForwardMethod::Masquerade => dest_port.unwrap_or(port),
        _ => port,
    };
    // What `Destination::validate` checks holds: a weight in range, no
    // thresholds, masquerading or direct routing, IPv4 as the service.
    let dest = Destination::new(SocketAddr::new(address, port))
        .with_forward(forward)
        .with_weight(weight)
        .with_thresholds(0, 0);
    Some((Rule::AddDestination { service: key, dest }, next))
}

/// Any line: ipvsadm's options in any order and spelling, with an error
/// naming the column of what is wrong.
fn parse_general<'a>(line: &'a str, scratch: &mut Scratch<'a>) -> Result<Option<Rule>, LineError> {
    let Scratch {
        words,
        given,
        positional,
        found,
    } = scratch;
    words.clear();
    given.clear();
    positional.clear();
    // Words, up to a comment; a first word `ipvsadm` is skipped.
    let mut first = true;
    for w in line.split_ascii_whitespace() {
        if w.starts_with('#') {
            break;
        }
        if !std::mem::take(&mut first) || w != "ipvsadm" {
            words.push(w);
        }
    }
    if words.is_empty() {
        return Ok(None);
    }

    let mut command: Option<Given<'_>> = None;
    let mut f = Fields::default();

    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        found.clear();
        if let Some(long) = word.strip_prefix("--") {
            if long.is_empty() {
                return Err((
                    column(line, word),
                    RulesErrorKind::UnexpectedArgument(word.into()),
                ));
            }
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let spelled = &word[..2 + name.len()];
            let spec = SPECS.iter().find(|s| s.long == name).ok_or_else(|| {
                (
                    column(line, word),
                    RulesErrorKind::UnknownOption(spelled.into()),
                )
            })?;
            if value.is_some() && spec.arg == Arg::No {
                return Err((
                    column(line, word),
                    RulesErrorKind::BadValue {
                        option: spelled.into(),
                        expected: "no value",
                        found: value.unwrap_or_default().into(),
                    },
                ));
            }
            found.push((spec, spelled, value));
        } else if word.len() > 1 && word.starts_with('-') {
            let mut rest = &word[1..];
            while let Some(c) = rest.chars().next() {
                let spelled = &rest[..c.len_utf8()];
                rest = &rest[c.len_utf8()..];
                let spec = short_spec(c).ok_or_else(|| {
                    (
                        column(line, spelled) - 1,
                        RulesErrorKind::UnknownOption(format!("-{c}")),
                    )
                })?;
                if spec.arg != Arg::No && !rest.is_empty() {
                    found.push((spec, spelled, Some(rest)));
                    break;
                }
                found.push((spec, spelled, None));
            }
        } else {
            positional.push(word);
            continue;
        }

        let n = found.len();
        for (k, &(spec, spelled, attached)) in found.iter().enumerate() {
            let short = !spelled.starts_with("--");
            let g = Given {
                id: spec.id,
                spelled,
                short,
            };
            if spec.id == Id::NotARule {
                return Err((g.col(line), RulesErrorKind::NotARule(g.name())));
            }
            // The value: attached, or the next word.
            let value: Option<&str> = match (spec.arg, attached) {
                (Arg::No, _) => None,
                (_, Some(v)) => Some(v),
                (Arg::Required, None) if k + 1 == n => match words.get(i) {
                    Some(next) => {
                        i += 1;
                        Some(*next)
                    }
                    None => {
                        return Err((
                            column_after(line, word),
                            RulesErrorKind::MissingValue {
                                option: g.name(),
                                expected: expected_of(spec.id),
                            },
                        ));
                    }
                },
                (Arg::Optional, None) if k + 1 == n => match words.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        i += 1;
                        Some(*next)
                    }
                    _ => None,
                },
                _ => None,
            };
            if spec.id.is_command() {
                if let Some(first) = command {
                    return Err((
                        g.col(line),
                        RulesErrorKind::SecondCommand {
                            first: first.name(),
                            second: g.name(),
                        },
                    ));
                }
                command = Some(g);
                continue;
            }
            if let Some(prev) = given.iter().find(|p| p.id.group() == spec.id.group()) {
                return Err((
                    g.col(line),
                    RulesErrorKind::Conflict {
                        option: g.name(),
                        previous: prev.name(),
                    },
                ));
            }
            given.push(g);
            take_value(line, g, value, &mut f)?;
        }
    }

    let Some(cmd) = command else {
        return Err((column(line, words[0]), RulesErrorKind::NoCommand));
    };
    for g in given.iter() {
        if !g.id.allowed_with(cmd.id) {
            return Err((
                g.col(line),
                RulesErrorKind::IllegalOption {
                    command: cmd.name(),
                    option: g.name(),
                },
            ));
        }
    }
    if cmd.id == Id::Set {
        if positional.len() != 3 {
            let col = positional.get(3).map_or_else(
                || column_after(line, words[words.len() - 1]),
                |p| column(line, p),
            );
            return Err((
                col,
                RulesErrorKind::MissingValue {
                    option: cmd.name(),
                    expected: "exactly three timeouts: tcp tcpfin udp (seconds, 0 for unchanged)",
                },
            ));
        }
        let mut t = [0u32; 3];
        for (slot, word) in t.iter_mut().zip(positional.iter()) {
            *slot = number(word, 0, MAX_TIMEOUT).ok_or_else(|| {
                (
                    column(line, word),
                    RulesErrorKind::BadValue {
                        option: cmd.name(),
                        expected: "a timeout in seconds (0 to 2678400)",
                        found: (*word).into(),
                    },
                )
            })?;
        }
        return Ok(Some(Rule::SetTimeouts {
            timeouts: Timeouts {
                tcp: t[0],
                tcp_fin: t[1],
                udp: t[2],
            },
        }));
    }
    if let Some(p) = positional.first() {
        return Err((
            column(line, p),
            RulesErrorKind::UnexpectedArgument((*p).into()),
        ));
    }
    build(line, cmd, given, f).map(Some)
}

fn expected_of(id: Id) -> &'static str {
    match id {
        Id::Tcp | Id::Udp | Id::Sctp => "a service address: a.b.c.d:port or [v6]:port",
        Id::Fwmark => "a firewall mark (1 to 4294967295)",
        Id::Scheduler => "a scheduler name",
        Id::Persistent => "a persistence timeout in seconds (1 to 2678400)",
        Id::Netmask => "a netmask: a.b.c.d for IPv4, a prefix length 1 to 128 for IPv6",
        Id::Pe => "a persistence engine name",
        Id::SchedFlags => {
            "scheduler flags: a comma-separated list of sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3"
        }
        Id::RealServer => "a real server address: a.b.c.d[:port] or [v6][:port]",
        Id::Weight => "a weight (0 to 2147483647)",
        Id::UThreshold => "an upper connection threshold (0 to 2147483647)",
        Id::LThreshold => "a lower connection threshold (0 to 2147483647)",
        Id::TunType => "a tunnel type: ipip, gue or gre",
        Id::TunPort => "a tunnel port (1 to 65535)",
        _ => "a value",
    }
}

fn bad(line: &str, g: Given<'_>, value: &str) -> LineError {
    (
        column(line, value),
        RulesErrorKind::BadValue {
            option: g.name(),
            expected: expected_of(g.id),
            found: value.into(),
        },
    )
}

/// A decimal number in `min..=max` (ipvsadm's `string_to_number`).
fn number(s: &str, min: u32, max: u32) -> Option<u32> {
    let mut c = Cursor::new(s, 0);
    let n = c.decimal(max)?;
    (c.at_end() && n >= min).then_some(n)
}

/// An address with an optional port: `a.b.c.d`, `a.b.c.d:port`, `[v6]`,
/// `[v6]:port`, or a bare IPv6 address.
fn addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let addr: Ipv6Addr = addr.parse().ok()?;
        return match after {
            "" => Some((IpAddr::V6(addr), None)),
            p => Some((
                IpAddr::V6(addr),
                Some(number(p.strip_prefix(':')?, 0, 65535)? as u16),
            )),
        };
    }
    // An IPv6 address has two colons at least.
    if s.bytes().filter(|&b| b == b':').nth(1).is_some()
        && let Ok(v6) = s.parse::<Ipv6Addr>()
    {
        return Some((IpAddr::V6(v6), None));
    }
    let mut c = Cursor::new(s, 0);
    let address = IpAddr::V4(c.ipv4()?);
    if c.at_end() {
        return Some((address, None));
    }
    if !c.eat(b":") {
        return None;
    }
    let port = c.decimal(65535)? as u16;
    c.at_end().then_some((address, Some(port)))
}

/// A dotted IPv4 address, exactly as `Ipv4Addr::from_str` reads it (four
/// decimal octets of one to three digits, no leading zero), in one pass.
///
/// Read both at the end of the text and with more after it (the two
/// windows [`Cursor::ipv4`] reads from), which must agree.
#[cfg(test)]
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let read = |text: &str| {
        let mut c = Cursor::new(text, 0);
        let address = c.ipv4()?;
        (c.at == s.len()).then_some(address)
    };
    let at_end = read(s);
    assert_eq!(at_end, read(&format!("{s}{:16}", "")), "{s:?}");
    at_end
}

fn take_value<'a>(
    line: &'a str,
    g: Given<'a>,
    value: Option<&'a str>,
    f: &mut Fields<'a>,
) -> Result<(), LineError> {
    // Required values that look like options are a missing value.
    if let Some(v) = value
        && v.is_empty()
    {
        return Err((
            column(line, v),
            RulesErrorKind::MissingValue {
                option: g.name(),
                expected: expected_of(g.id),
            },
        ));
    }
    let v = value.unwrap_or("");
    let looks_like_option = v.len() > 1 && v.starts_with('-');
    if value.is_some() && looks_like_option && g.id != Id::Persistent {
        return Err((
            column(line, v),
            RulesErrorKind::BadValue {
                option: g.name(),
                expected: expected_of(g.id),
                found: v.into(),
            },
        ));
    }
    match g.id {
        Id::Tcp | Id::Udp | Id::Sctp => {
            let protocol = match g.id {
                Id::Tcp => Protocol::Tcp,
                Id::Udp => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            let (address, port) = addr_port(v).ok_or_else(|| bad(line, g, v))?;
            f.service = Some((
                SvcSpec::Addr {
                    protocol,
                    address,
                    port,
                },
                g,
            ));
        }
        Id::Fwmark => {
            let mark = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number(v, 1, u32::MAX),
            }
            .filter(|m| *m != 0)
            .ok_or_else(|| bad(line, g, v))?;
            f.service = Some((SvcSpec::Fwmark(mark), g));
        }
        Id::Ipv6 | Id::Masquerading | Id::Gatewaying | Id::Ipip => {}
        Id::Scheduler => {
            unwritable_name(
                line,
                g,
                v,
                "a scheduler name, not empty nor starting with #",
            )?;
            if v.len() > MAX_NAME_LEN {
                return Err((
                    column(line, v),
                    RulesErrorKind::BadValue {
                        option: g.name(),
                        expected: "a scheduler name of at most 15 bytes",
                        found: v.into(),
                    },
                ));
            }
            f.scheduler = Some(v);
        }
        Id::Persistent => {
            f.persistent = Some(match value {
                None => DEFAULT_PERSISTENCE,
                Some(v) => number(v, 1, MAX_TIMEOUT).ok_or_else(|| bad(line, g, v))?,
            });
        }
        Id::Netmask => f.netmask = Some((v, column(line, v), g)),
        Id::Pe => {
            unwritable_name(
                line,
                g,
                v,
                "a persistence engine name, not empty nor starting with #",
            )?;
            if v.len() > MAX_NAME_LEN {
                return Err((
                    column(line, v),
                    RulesErrorKind::BadValue {
                        option: g.name(),
                        expected: "a persistence engine name of at most 15 bytes",
                        found: v.into(),
                    },
                ));
            }
            f.pe = Some(v);
        }
        Id::Ops => f.ops = true,
        Id::SchedFlags => f.sched_flags = Some((v, g)),
        Id::RealServer => {
            let (address, port) = addr_port(v).ok_or_else(|| bad(line, g, v))?;
            f.real = Some((address, port, g));
        }
        Id::Weight => f.weight = Some(number(v, 0, MAX_I32).ok_or_else(|| bad(line, g, v))?),
        Id::UThreshold => {
            f.u_threshold = Some(number(v, 0, MAX_I32).ok_or_else(|| bad(line, g, v))?)
        }
        Id::LThreshold => {
            f.l_threshold = Some(number(v, 0, MAX_I32).ok_or_else(|| bad(line, g, v))?)
        }
        Id::TunType => {
            f.tun_type = Some(match v {
                "ipip" => 0,
                "gue" => 1,
                "gre" => 2,
                _ => return Err(bad(line, g, v)),
            })
        }
        Id::TunPort => {
            f.tun_port = Some(number(v, 1, 65535).ok_or_else(|| bad(line, g, v))? as u16)
        }
        Id::TunNocsum => f.tun_csum = Some(TunnelChecksum::None),
        Id::TunCsum => f.tun_csum = Some(TunnelChecksum::Checksum),
        Id::TunRemcsum => f.tun_csum = Some(TunnelChecksum::Remote),
        _ => {}
    }
    Ok(())
}

fn find<'a>(given: &[Given<'a>], pred: impl Fn(Id) -> bool) -> Option<Given<'a>> {
    given.iter().copied().find(|g| pred(g.id))
}

fn build(
    line: &str,
    cmd: Given<'_>,
    given: &[Given<'_>],
    f: Fields<'_>,
) -> Result<Rule, LineError> {
    let invalid = |col: usize, msg: String| (col, RulesErrorKind::Invalid(msg));
    let needs_service = || {
        (
            cmd.col(line),
            RulesErrorKind::MissingOption {
                command: cmd.name(),
                needs: "a service: -t, -u, --sctp-service or -f",
            },
        )
    };

    if cmd.id == Id::Clear {
        return Ok(Rule::Clear);
    }

    let ipv6 = find(given, |id| id == Id::Ipv6);
    let key = match &f.service {
        None => {
            if cmd.id == Id::Zero {
                if let Some(g) = ipv6 {
                    return Err(invalid(
                        g.col(line),
                        format!("{} is for fwmark services (-f)", g.name()),
                    ));
                }
                return Ok(Rule::Zero { service: None });
            }
            return Err(needs_service());
        }
        Some((SvcSpec::Fwmark(mark), _)) => ServiceKey::Fwmark {
            fwmark: *mark,
            family: if ipv6.is_some() {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            },
        },
        Some((
            SvcSpec::Addr {
                protocol,
                address,
                port,
            },
            _,
        )) => {
            if let Some(g) = ipv6 {
                return Err(invalid(
                    g.col(line),
                    format!("{} is for fwmark services (-f)", g.name()),
                ));
            }
            ServiceKey::Address {
                protocol: *protocol,
                address: *address,
                port: port.unwrap_or(0),
            }
        }
    };
    let svc_col = || f.service.as_ref().map_or(cmd, |(_, g)| *g).col(line);

    match cmd.id {
        Id::DeleteService => Ok(Rule::DeleteService { service: key }),
        Id::Zero => Ok(Rule::Zero { service: Some(key) }),
        Id::AddService | Id::EditService => {
            let scheduler = Scheduler::from_name(f.scheduler.unwrap_or("wlc"));
            let family = key.family();
            let persistence = match f.persistent {
                None => None,
                Some(timeout) => Some(Persistence {
                    timeout,
                    netmask: match f.netmask {
                        None => Netmask::host(family),
                        Some((text, col, g)) => netmask(text, family).ok_or_else(|| {
                            (
                                col,
                                RulesErrorKind::BadValue {
                                    option: g.name(),
                                    expected: match family {
                                        AddressFamily::Ipv4 => {
                                            "an IPv4 netmask such as 255.255.255.0"
                                        }
                                        AddressFamily::Ipv6 => "an IPv6 prefix length, 1 to 128",
                                    },
                                    found: text.into(),
                                },
                            )
                        })?,
                    },
                }),
            };
            if key.port() == Some(0) && persistence.is_none() {
                return Err(invalid(
                    svc_col(),
                    "port 0 (every port) needs persistence (-p)".into(),
                ));
            }
            let mut flags = ServiceFlags::empty();
            if f.ops {
                let is_udp = matches!(
                    key,
                    ServiceKey::Address {
                        protocol: Protocol::Udp,
                        ..
                    } | ServiceKey::Fwmark { .. }
                );
                if !is_udp {
                    let g = find(given, |id| id == Id::Ops).unwrap_or(cmd);
                    return Err(invalid(
                        g.col(line),
                        format!(
                            "{}: one-packet scheduling is only for UDP services",
                            g.name()
                        ),
                    ));
                }
                flags |= ServiceFlags::ONE_PACKET;
            }
            if let Some((text, g)) = f.sched_flags {
                flags |= sched_flags(line, text, g, scheduler.name())?;
            }
            let mut service = Service::new(key, scheduler);
            service.persistence = persistence;
            service.flags = flags;
            service.persistence_engine = f.pe.map(str::to_owned);
            if let Err(e) = service.validate() {
                return Err(invalid(cmd.col(line), e.to_string()));
            }
            Ok(if cmd.id == Id::AddService {
                Rule::AddService { service }
            } else {
                Rule::UpdateService { service }
            })
        }
        Id::AddDest | Id::EditDest | Id::DeleteDest => {
            let Some((address, port, real_col)) = f.real else {
                return Err((
                    cmd.col(line),
                    RulesErrorKind::MissingOption {
                        command: cmd.name(),
                        needs: "a real server: -r",
                    },
                ));
            };
            let svc_port = key.port().unwrap_or(0);
            let mut port = port.unwrap_or(svc_port);
            if cmd.id == Id::DeleteDest {
                return Ok(Rule::DeleteDestination {
                    service: key,
                    dest: SocketAddr::new(address, port),
                });
            }
            let fwd = find(given, |id| {
                matches!(id, Id::Masquerading | Id::Gatewaying | Id::Ipip)
            });
            let tunnel = match fwd.map(|g| g.id) {
                Some(Id::Ipip) => true,
                _ => {
                    if let Some(g) = find(given, |id| {
                        matches!(
                            id,
                            Id::TunType
                                | Id::TunPort
                                | Id::TunNocsum
                                | Id::TunCsum
                                | Id::TunRemcsum
                        )
                    }) {
                        return Err(invalid(
                            g.col(line),
                            format!("{}: tunnel options need tunnelling (-i)", g.name()),
                        ));
                    }
                    false
                }
            };
            let forward = match fwd.map(|g| g.id) {
                Some(Id::Masquerading) => ForwardMethod::Masquerade,
                Some(Id::Ipip) => ForwardMethod::Tunnel(tunnel_of(line, given, &f)?),
                _ => ForwardMethod::DirectRoute,
            };
            // ipvsadm: for direct routing and tunnels, the real server's
            // port is the service's.
            if !matches!(key, ServiceKey::Fwmark { .. })
                && matches!(
                    forward,
                    ForwardMethod::DirectRoute | ForwardMethod::Tunnel(_)
                )
            {
                port = svc_port;
            }
            if AddressFamily::of(&address) != key.family() && !tunnel {
                return Err(invalid(
                    real_col.col(line),
                    "a real server of another address family than its service needs tunnelling (-i)"
                        .into(),
                ));
            }
            let dest = Destination::new(SocketAddr::new(address, port))
                .with_forward(forward)
                .with_weight(f.weight.unwrap_or(1))
                .with_thresholds(f.u_threshold.unwrap_or(0), f.l_threshold.unwrap_or(0));
            if let Err(e) = dest.validate(&key) {
                return Err(invalid(cmd.col(line), e.to_string()));
            }
            Ok(if cmd.id == Id::AddDest {
                Rule::AddDestination { service: key, dest }
            } else {
                Rule::UpdateDestination { service: key, dest }
            })
        }
        _ => Err(invalid(
            cmd.col(line),
            format!("{} is not a rule", cmd.name()),
        )),
    }
}

/// The tunnel of a `-i` destination, with ipvsadm's checks
/// (`tunnel_types_v_options`).
fn tunnel_of(line: &str, given: &[Given<'_>], f: &Fields<'_>) -> Result<Tunnel, LineError> {
    let type_name = ["ipip", "gue", "gre"][f.tun_type.unwrap_or(0) as usize];
    let illegal = |id: Id| -> Result<(), LineError> {
        match find(given, |g| g == id) {
            Some(g) => Err((
                g.col(line),
                RulesErrorKind::Invalid(format!(
                    "{} does not go with tunnel type {type_name}",
                    g.name()
                )),
            )),
            None => Ok(()),
        }
    };
    match f.tun_type.unwrap_or(0) {
        0 => {
            for id in [Id::TunPort, Id::TunNocsum, Id::TunCsum, Id::TunRemcsum] {
                illegal(id)?;
            }
            Ok(Tunnel::Ipip)
        }
        1 => {
            let Some(port) = f.tun_port else {
                let g = find(given, |id| id == Id::TunType).expect("--tun-type was given");
                return Err((
                    g.col(line),
                    RulesErrorKind::MissingOption {
                        command: "--tun-type gue".into(),
                        needs: "--tun-port",
                    },
                ));
            };
            Ok(Tunnel::Gue {
                port,
                checksum: f.tun_csum.unwrap_or_default(),
            })
        }
        _ => {
            illegal(Id::TunPort)?;
            illegal(Id::TunRemcsum)?;
            Ok(Tunnel::Gre {
                checksum: f.tun_csum.unwrap_or_default(),
            })
        }
    }
}

/// `-M`: a dotted IPv4 mask, or an IPv6 prefix length.
fn netmask(text: &str, family: AddressFamily) -> Option<Netmask> {
    match family {
        AddressFamily::Ipv4 => text.parse::<Ipv4Addr>().ok().map(Netmask::V4),
        AddressFamily::Ipv6 => number(text, 1, 128).map(|n| Netmask::V6(n as u8)),
    }
}

/// `-b`: ipvsadm's `parse_sched_flags`.
fn sched_flags(
    line: &str,
    text: &str,
    g: Given<'_>,
    scheduler: &str,
) -> Result<ServiceFlags, LineError> {
    let mut flags = ServiceFlags::empty();
    for name in text.split(',') {
        let (flag, needs) = match name {
            "flag-1" => (ServiceFlags::SCHED1, None),
            "flag-2" => (ServiceFlags::SCHED2, None),
            "flag-3" => (ServiceFlags::SCHED3, None),
            "sh-fallback" => (ServiceFlags::SH_FALLBACK, Some("sh")),
            "sh-port" => (ServiceFlags::SH_PORT, Some("sh")),
            "mh-fallback" => (ServiceFlags::MH_FALLBACK, Some("mh")),
            "mh-port" => (ServiceFlags::MH_PORT, Some("mh")),
            _ => {
                return Err((
                    column(line, name).max(column(line, text)),
                    RulesErrorKind::BadValue {
                        option: g.name(),
                        expected: expected_of(Id::SchedFlags),
                        found: name.into(),
                    },
                ));
            }
        };
        if let Some(needs) = needs
            && needs != scheduler
        {
            return Err((
                column(line, name),
                RulesErrorKind::Invalid(format!(
                    "{}: scheduler flag {name} is for the {needs} scheduler, not {scheduler}",
                    g.name()
                )),
            ));
        }
        flags |= flag;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text long enough to be parsed in pieces.
    fn long_text(services: usize) -> String {
        let mut s = String::from("# a comment\r\n\n");
        for i in 0..services {
            let (a, b) = (i / 250, i % 250 + 1);
            s.push_str(&format!("-A -t 198.18.{a}.{b}:80 -s wrr\r\n"));
            for j in 0..4 {
                s.push_str(&format!(
                    "ipvsadm -a -t 198.18.{a}.{b}:80 -r 198.51.100.{}:80 -m -w {j}\n",
                    j + 1
                ));
            }
        }
        s
    }

    #[test]
    fn ipv4_reads_as_the_standard_library_does() {
        let mut cases: Vec<String> = [
            "",
            ".",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.1.1.1",
            "0.1.1.1",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..3.4",
            "+1.2.3.4",
            "1.2.3.-4",
            "1.2.3.4 ",
            "1.2.3.0004",
            "999.1.1.1",
            "1.2.3.a",
            "１.2.3.4",
            "192.0.2.10",
            "10.0.0.00",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every short string over the characters that matter.
        let alphabet = ['0', '1', '2', '5', '9', '.', 'x'];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            cases.extend(next.iter().cloned());
            frontier = next;
        }
        for dotted in ["1.2.3.", "25.0.19.", "0.0.0."] {
            for tail in ["0", "00", "255", "256", "1000", "019", "9"] {
                cases.push(format!("{dotted}{tail}"));
            }
        }
        for s in &cases {
            assert_eq!(ipv4(s), s.parse::<Ipv4Addr>().ok(), "{s:?}");
        }
    }

    /// The general parser alone.
    fn general(line: &str) -> Result<Option<Rule>, LineError> {
        parse_general(line, &mut Scratch::default())
    }

    /// Whether [`simple_line`] reads `text` (a line, maybe with its line
    /// end), checking that it reads it as the general parser does.
    fn simple(text: &str) -> bool {
        let Some((rule, next)) = simple_line(text, 0) else {
            return false;
        };
        assert_eq!(next, text.len(), "{text:?}");
        let line = text.lines().next().unwrap_or("");
        assert_eq!(general(line), Ok(Some(rule)), "{text:?}");
        true
    }

    #[test]
    fn simple_lines_read_as_the_general_parser_reads_them() {
        let addrs = [
            "192.0.2.10:80",
            "192.0.2.10:0",
            "192.0.2.10",
            "192.0.2.10:65535",
            "192.0.2.10:65536",
            "192.0.2.10:99999999999",
            "192.0.2.010:80",
            "192.0.2.256:80",
            "192.0.2:80",
            "192.0.2.10.1:80",
            "192.0.2.10:",
            "192.0.2.10::80",
            "192.0.2.10:80x",
            "[2001:db8::1]:443",
            "[2001:db8::1]",
            "2001:db8::1",
            "0.0.0.0:1",
            "255.255.255.255:8080",
            "-1",
            "x",
            "192.0.2.10:08",
            "192.0.2.10:+8",
            ":80",
        ];
        let names = [
            "wrr",
            "rr",
            "wlc",
            "none",
            "abcdefghijklmno",
            "abcdefghijklmnop",
            "x-y",
            "x_y",
            "",
            "-s",
            "#c",
        ];
        let weights = [
            "0",
            "1",
            "2147483647",
            "2147483648",
            "4294967296",
            "-1",
            "01",
            "+1",
            "x",
            "",
        ];
        // Spellings around the words: line ends, comments, spaces.
        let around = [
            ("", ""),
            ("", "\n"),
            ("", "\r\n"),
            ("", "\r"),
            ("", " "),
            ("", "\t"),
            ("", " #x"),
            ("", "#x"),
            ("ipvsadm ", "\n"),
            ("ipvsadm  ", ""),
            ("ipvsadm ipvsadm ", ""),
            (" ", ""),
            ("\t", ""),
        ];
        let mut simple_lines = 0;
        for proto in ["-t", "-u", "-f", "--tcp-service"] {
            for a in addrs {
                for name in names {
                    for (before, after) in around {
                        let line = format!("{before}-A {proto} {a} -s {name}{after}");
                        simple_lines += usize::from(simple(&line));
                    }
                    let line = format!("-A  {proto} {a} -s {name}");
                    simple_lines += usize::from(simple(&line));
                }
                for r in addrs {
                    for fwd in ["-m", "-g", "-i", "-x"] {
                        for w in weights {
                            let line = format!("-a {proto} {a} -r {r} {fwd} -w {w}");
                            simple_lines += usize::from(simple(&line));
                        }
                    }
                }
                for (before, after) in around {
                    for fwd in ["-m", "-g"] {
                        let line =
                            format!("{before}-a {proto} {a} -r 192.0.2.21 {fwd} -w 1{after}");
                        simple_lines += usize::from(simple(&line));
                    }
                }
            }
        }
        assert!(simple_lines > 900, "{simple_lines}");
        // What ipvsadm -S writes takes the simple path.
        for line in long_text(3).lines().filter(|l| !l.starts_with('#')) {
            assert!(line.is_empty() || simple(line), "{line}");
        }
    }

    #[test]
    fn lines_are_cut_as_str_lines_cuts_them() {
        let rule = "-A -t 192.0.2.10:80 -s rr";
        let dest = "-a -t 192.0.2.10:80 -r 192.0.2.21:8080 -m -w 3";
        let texts = [
            String::new(),
            "\n".into(),
            "\r\n".into(),
            "\n\n\r\n".into(),
            rule.into(),
            format!("{rule}\n"),
            format!("{rule}\r"),
            format!("{rule}\r\n{dest}"),
            format!("# c\r\n{rule}\n\n{dest}\r\n\n{dest} #\n"),
            format!("{rule}\n{dest}\r{dest}\n-C"),
            format!("{dest}\n -A -t 192.0.2.10:80\n{rule}\r\r\n"),
        ];
        for text in &texts {
            // The parser as it was: str::lines, each line read in full.
            let expected: Result<Vec<ParsedRule>, RulesError> = text
                .lines()
                .enumerate()
                .filter_map(|(i, line)| match general(line) {
                    Ok(rule) => rule.map(|rule| Ok(ParsedRule { line: i + 1, rule })),
                    Err((column, kind)) => Some(Err(RulesError {
                        line: i + 1,
                        column,
                        kind,
                    })),
                })
                .collect();
            let expected = expected.map(|rules| (rules, text.lines().count()));
            assert_eq!(parse_piece(text, 0), expected, "{text:?}");
        }
    }

    #[test]
    fn pieces_read_as_one_text() {
        let text = long_text(3_000);
        assert!(text.len() > 2 * PARALLEL_BYTES);
        let (whole, lines) = parse_piece(&text, 0).unwrap();
        assert_eq!(lines, 15_002);
        assert_eq!(whole.len(), 15_000);
        assert_eq!(parse_lines(&text).unwrap(), whole);
        assert_eq!(whole.last().unwrap().line, 15_002);
    }

    #[test]
    fn the_first_error_by_line_is_reported() {
        let mut lines: Vec<String> = long_text(3_000).lines().map(str::to_owned).collect();
        lines[14_000] = "-a -t 198.18.0.1:80 -r".into();
        lines[9_000] = "-A -t 198.18.0.1:80 -s".into();
        let text = lines.join("\n");
        let err = parse_lines(&text).unwrap_err();
        assert_eq!((err.line, err.column), (9_001, 23));
        assert_eq!(parse_piece(&text, 0).unwrap_err(), err);
    }
}
