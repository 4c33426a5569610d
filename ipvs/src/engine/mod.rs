//! The sans-IO netlink request engine under every client of this crate.
//!
//! An [`Engine`] turns a [`Job`] (requests, or a dump) into datagrams to
//! write and reads the datagrams the kernel answers with, without touching
//! a socket: the blocking [`Client`](crate::client::Client), the async
//! clients and the `cluster` module's rtnetlink and FOU sockets all drive
//! it the same way, so they cannot drift apart. It owns:
//!
//! - sequence numbers, and skipping late replies to abandoned requests;
//! - batching: requests written back to back, as many per datagram as
//!   [`Limits`] allow;
//! - acknowledgements: every request asks to be answered only when it
//!   fails, and each datagram ends with an acknowledged `NLMSG_NOOP` whose
//!   ACK ends the exchange. One ACK per write instead of one per request,
//!   and no hang when the kernel skips a request's ACK (netlink sends none
//!   for a handler returning `EINTR`, as IPVS's `DEL_DAEMON` does when it
//!   stops a sync thread that never ran);
//! - dumps across many datagrams, retried when the kernel marks them
//!   `NLM_F_DUMP_INTR` (up to [`Engine::set_dump_attempts`] times), with
//!   entries listed twice dropped and counted ([`Answer::duplicates`]);
//! - generic-netlink family resolution through nlctrl, and when the kernel
//!   no longer knows the family id (`ENOENT`: the module was reloaded and
//!   the family got a new id), resolving it again and resending;
//! - extended ACKs: the kernel's reason for a refusal ([`KernelError`]).
//!
//! A driver loops: write what [`Engine::poll_transmit`] gives, read a
//! datagram into [`Engine::handle_datagram`], until [`Engine::poll_answer`]
//! has the answer. Timeouts are the driver's.
//!
//! ```
//! use ipvs::engine::{Engine, Job, Limits};
//! use ipvs::engine::wire::push_message;
//! # use ipvs::engine::Protocol;
//! # struct Raw;
//! # impl Protocol for Raw {
//! #     type Request = Vec<u8>; type Reply = Vec<u8>; type Key = ();
//! #     fn family_name(&self) -> Option<&str> { None }
//! #     fn message_type(&self, _: &Vec<u8>, _: u16) -> u16 { 18 }
//! #     fn payload_len(&self, r: &Vec<u8>) -> usize { r.len() }
//! #     fn emit_payload(&self, r: &Vec<u8>, buf: &mut [u8]) { buf.copy_from_slice(r) }
//! #     fn decode(&self, _: u16, _: u16, p: &[u8]) -> Result<Option<Vec<u8>>, ipvs::codec::DecodeError> { Ok(Some(p.to_vec())) }
//! # }
//! let mut engine = Engine::new(Raw, Limits::default());
//! engine.start(Job::Dump(vec![0; 4]));
//! let request = engine.poll_transmit().unwrap().to_vec();
//! let seq = u32::from_ne_bytes(request[8..12].try_into().unwrap());
//!
//! // The kernel's answer: one entry, then the end of the dump.
//! let mut reply = Vec::new();
//! push_message(&mut reply, 16, 2, seq, 4, |p| p.copy_from_slice(b"abcd"));
//! push_message(&mut reply, 3, 2, seq, 4, |_| {});
//! engine.handle_datagram(&reply);
//! let answer = engine.poll_answer().unwrap().unwrap();
//! assert_eq!(answer.results, vec![Ok(vec![b"abcd".to_vec()])]);
//! ```

mod protocol;
#[cfg(test)]
mod tests;
pub mod wire;

use std::collections::HashSet;
use std::mem;

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_NOOP,
};

pub use protocol::{GENL_HDRLEN, GENL_ID_CTRL, Protocol, emit_genl_header};
pub use wire::{Control, KernelError};

/// What the engine is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job<R> {
    /// Send every request, in order, batched into as few datagrams as the
    /// [`Limits`] allow; each is answered by its replies (a `GET` without
    /// dump has one) or its refusal.
    Requests(Vec<R>),
    /// [`Job::Requests`] already encoded: each payload goes as one message
    /// whose type is the resolved family id (generic netlink), with no
    /// flags beyond the engine's own. For big batches written straight
    /// from a model, without a request value per message.
    Encoded(Payloads),
    /// One dump: every entry, across as many datagrams as the kernel needs.
    Dump(R),
    /// One dump whose entries are handed out as they are read, to the sink
    /// given to [`Engine::handle_datagram_with`], instead of being decoded
    /// and kept: memory stays that of one datagram however long the dump.
    /// Entries listed twice are not dropped (the caller's to drop), and a
    /// dump sent again after `NLM_F_DUMP_INTR` first hands out
    /// [`Streamed::Restart`]. The answer has no result, or the refusal as
    /// its one.
    Stream(R),
    /// [`Job::Stream`] of a request encoded already: its payload, sent as
    /// [`Job::Encoded`] sends each (the family id as type), asking for a
    /// dump. For many small dumps (each service's destinations), without
    /// a request value built and dropped for each.
    StreamEncoded(Vec<u8>),
    /// Resolve the protocol's generic-netlink family (again).
    Resolve,
}

/// What a [`Job::Stream`] hands out as it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed<'a> {
    /// An entry: its payload (what follows the netlink header), one of the
    /// protocol's messages ([`Protocol::is_entry`]).
    Entry(&'a [u8]),
    /// The dump was interrupted and starts over: forget the entries handed
    /// out so far.
    Restart,
}

/// Where a [`Job::Stream`]'s entries go; an error ends the job with
/// [`Error::Decode`].
pub type Sink<'s> = dyn FnMut(Streamed<'_>) -> Result<(), DecodeError> + 's;

/// Request payloads (after the netlink header) written back to back: what
/// [`Job::Encoded`] sends.
///
/// ```
/// use ipvs::engine::Payloads;
/// let mut p = Payloads::default();
/// p.push(|buf| buf.extend_from_slice(&[1, 1, 0, 0]));
/// p.push(|buf| buf.extend_from_slice(&[3, 1, 0, 0]));
/// assert_eq!((p.len(), p.get(1)), (2, &[3, 1, 0, 0][..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads {
    bytes: Vec<u8>,
    /// Where each payload ends in `bytes`.
    ends: Vec<usize>,
}

impl Payloads {
    /// Room for about `requests` payloads of `bytes` bytes in all.
    pub fn with_capacity(requests: usize, bytes: usize) -> Self {
        Payloads {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(requests),
        }
    }

    /// Add a payload: whatever `write` appends to the buffer.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    /// How many payloads.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The payload at `index`.
    ///
    /// # Panics
    /// If there is no payload at `index`.
    pub fn get(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            i => self.ends[i - 1],
        };
        &self.bytes[start..self.ends[index]]
    }

    /// Forget every payload, keeping the room.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// Per request: its replies, or the kernel's refusal.
pub type Results<T> = Vec<Result<Vec<T>, KernelError>>;

/// What a finished job brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// One per request ([`Job::Requests`]), or one for a dump: the replies,
    /// or the kernel's refusal. Empty for [`Job::Resolve`], and for a
    /// stream the kernel did not refuse.
    pub results: Results<T>,
    /// Dumped entries dropped because one with the same
    /// [`Protocol::dump_key`] was listed earlier in the same dump.
    pub duplicates: usize,
    /// How many times a dump was sent (more than once after `NLM_F_DUMP_INTR`).
    pub attempts: u32,
}

/// Why a job failed as a whole (refusals of single requests are
/// [`Answer::results`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// nlctrl knows no family of that name.
    #[error("no generic netlink family {0:?}")]
    FamilyNotFound(String),
    /// nlctrl refused to resolve the family.
    #[error("resolving generic netlink family {name:?}: errno {}", .error.errno)]
    ResolveRefused {
        /// The family.
        name: String,
        /// What the kernel said.
        error: KernelError,
    },
    /// Every attempt at a dump came back `NLM_F_DUMP_INTR`.
    #[error("dump interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted {
        /// How many times it was sent.
        attempts: u32,
    },
    /// A datagram that is not netlink, or a reply the protocol cannot read.
    #[error("{0}")]
    Decode(String),
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}

/// How much goes into one datagram of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per datagram: each refusal costs about 1 KiB of the
    /// socket's receive buffer until read.
    pub requests: usize,
    /// Bytes per datagram, within the socket's send buffer.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_buffers(212_992, 212_992)
    }
}

impl Limits {
    /// Limits that keep a datagram's refusals within `rcvbuf` and its
    /// bytes within `sndbuf` (the sizes the socket obtained).
    ///
    /// ```
    /// use ipvs::engine::Limits;
    /// let l = Limits::from_buffers(8 << 20, 8 << 20);
    /// assert_eq!((l.requests, l.bytes), (4096, 4 << 20));
    /// ```
    pub fn from_buffers(rcvbuf: usize, sndbuf: usize) -> Self {
        Limits {
            requests: (rcvbuf / 2048).clamp(16, 4096),
            bytes: (sndbuf / 2).clamp(4096, 4 << 20),
        }
    }
}

/// The sans-IO request engine: see the [module docs](self).
pub struct Engine<P: Protocol> {
    proto: P,
    family: u16,
    seq: u32,
    limits: Limits,
    dump_attempts: u32,
    tx: Vec<u8>,
    tx_pending: bool,
    state: State<P>,
}

enum State<P: Protocol> {
    Idle,
    /// Waiting for nlctrl; `then` resumes once the id is known.
    Resolving {
        seq: u32,
        id: Option<u16>,
        then: Box<State<P>>,
        retry: bool,
    },
    Requests(Requests<P>),
    Dump(Dump<P>),
    Done(Result<Answer<P::Reply>, Error>),
}

/// The requests of a job: values of the protocol, or encoded already.
enum Batch<R> {
    Values(Vec<R>),
    Encoded(Payloads),
}

impl<R> Batch<R> {
    fn len(&self) -> usize {
        match self {
            Batch::Values(v) => v.len(),
            Batch::Encoded(p) => p.len(),
        }
    }
}

struct Requests<P: Protocol> {
    requests: Batch<P::Request>,
    /// A result per request sent: final for those before `start`, being
    /// filled for the chunk in flight (`start..end`).
    results: Vec<Result<Vec<P::Reply>, KernelError>>,
    /// The chunk in flight: `start..end` of `requests`.
    start: usize,
    end: usize,
    first_seq: u32,
    sentinel: u32,
    re_resolved: bool,
}

impl<P: Protocol> Requests<P> {
    fn new(requests: Batch<P::Request>) -> Self {
        Requests {
            results: Vec::with_capacity(requests.len()),
            requests,
            start: 0,
            end: 0,
            first_seq: 0,
            sentinel: 0,
            re_resolved: false,
        }
    }

    /// The chunk in flight was answered whole: its results are final.
    fn settle_chunk(&mut self) {
        self.start = self.end;
    }

    /// The final results (those of a chunk in flight dropped).
    fn into_results(mut self) -> Vec<Result<Vec<P::Reply>, KernelError>> {
        self.results.truncate(self.start);
        self.results
    }
}

/// The request of a dump: a value of the protocol, or its payload.
enum DumpRequest<R> {
    Value(R),
    Encoded(Vec<u8>),
}

struct Dump<P: Protocol> {
    request: DumpRequest<P::Request>,
    seq: u32,
    entries: Vec<P::Reply>,
    seen: HashSet<P::Key>,
    duplicates: usize,
    interrupted: bool,
    attempts: u32,
    re_resolved: bool,
    /// [`Job::Stream`]: entries go to the sink.
    stream: bool,
}

impl<P: Protocol> Dump<P> {
    fn new(request: DumpRequest<P::Request>, stream: bool) -> Self {
        Dump {
            request,
            seq: 0,
            entries: Vec::new(),
            seen: HashSet::new(),
            duplicates: 0,
            interrupted: false,
            attempts: 0,
            re_resolved: false,
            stream,
        }
    }
}

impl<P: Protocol> std::fmt::Debug for Engine<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Resolving { .. } => "resolving the family",
            State::Requests(_) => "requests",
            State::Dump(_) => "dump",
            State::Done(_) => "done",
        };
        f.debug_struct("Engine")
            .field("family", &self.family)
            .field("seq", &self.seq)
            .field("limits", &self.limits)
            .field("dump_attempts", &self.dump_attempts)
            .field("state", &state)
            .finish()
    }
}

impl<P: Protocol> Engine<P> {
    /// An engine for `proto`, its family not yet resolved.
    pub fn new(proto: P, limits: Limits) -> Self {
        Engine {
            proto,
            family: 0,
            seq: 0,
            limits,
            dump_attempts: 5,
            tx: Vec::new(),
            tx_pending: false,
            state: State::Idle,
        }
    }

    /// How many times a dump is sent before [`Error::DumpInterrupted`]
    /// (default 5; at least 1).
    pub fn set_dump_attempts(&mut self, attempts: u32) {
        self.dump_attempts = attempts.max(1);
    }

    /// The protocol.
    pub fn protocol(&self) -> &P {
        &self.proto
    }

    /// The resolved generic-netlink family id (0 before resolution, and
    /// for protocols without a family).
    pub fn family(&self) -> u16 {
        self.family
    }

    /// The batch limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Start `job`, abandoning any job still running (its late replies are
    /// skipped by sequence number). The family is resolved first if it
    /// never was.
    pub fn start(&mut self, job: Job<P::Request>) {
        self.tx.clear();
        self.tx_pending = false;
        let resolve = matches!(job, Job::Resolve);
        let stream = matches!(job, Job::Stream(_) | Job::StreamEncoded(_));
        let state = match job {
            Job::Resolve => State::Done(Ok(Answer {
                results: Vec::new(),
                duplicates: 0,
                attempts: 0,
            })),
            Job::Requests(requests) if requests.is_empty() => {
                self.state = State::Done(Ok(empty_answer(Vec::new())));
                return;
            }
            Job::Encoded(payloads) if payloads.is_empty() => {
                self.state = State::Done(Ok(empty_answer(Vec::new())));
                return;
            }
            Job::Requests(requests) => State::Requests(Requests::new(Batch::Values(requests))),
            Job::Encoded(payloads) => State::Requests(Requests::new(Batch::Encoded(payloads))),
            Job::Dump(request) | Job::Stream(request) => {
                State::Dump(Dump::new(DumpRequest::Value(request), stream))
            }
            Job::StreamEncoded(payload) => {
                State::Dump(Dump::new(DumpRequest::Encoded(payload), stream))
            }
        };
        if (resolve || self.family == 0) && self.proto.family_name().is_some() {
            self.resolve(state, false);
        } else {
            self.resume(state);
        }
    }

    /// The next datagram to write, once: the engine counts it as sent.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        if self.tx_pending {
            self.tx_pending = false;
            Some(&self.tx)
        } else {
            None
        }
    }

    /// Whether the engine waits for a datagram from the kernel.
    pub fn is_waiting(&self) -> bool {
        !matches!(self.state, State::Idle | State::Done(_))
    }

    /// The answer, once the job is finished (then the engine is idle).
    pub fn poll_answer(&mut self) -> Option<Result<Answer<P::Reply>, Error>> {
        // Asked after every datagram: a job under way is not moved out and
        // back to learn that it is.
        if !matches!(self.state, State::Done(_)) {
            return None;
        }
        match mem::replace(&mut self.state, State::Idle) {
            State::Done(answer) => Some(answer),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Give up on the job (the socket failed or a reply timed out). Returns
    /// the results of the requests whose datagrams were answered whole:
    /// the first `n` requests of a [`Job::Requests`]; the rest may or may
    /// not have been applied.
    pub fn abort(&mut self) -> Results<P::Reply> {
        self.tx_pending = false;
        match mem::replace(&mut self.state, State::Idle) {
            State::Requests(r) => r.into_results(),
            State::Resolving { then, .. } => match *then {
                State::Requests(r) => r.into_results(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Append `request` to the datagram being built.
    fn push_request(&mut self, request: &P::Request, flags: u16) -> u32 {
        let seq = self.next_seq();
        let proto = &self.proto;
        let flags = NLM_F_REQUEST | flags | proto.extra_flags(request);
        wire::push_message(
            &mut self.tx,
            proto.message_type(request, self.family),
            flags,
            seq,
            proto.payload_len(request),
            |buf| proto.emit_payload(request, buf),
        );
        seq
    }

    /// Append an encoded request to the datagram being built.
    fn push_payload(&mut self, payload: &[u8], flags: u16) -> u32 {
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | flags;
        wire::push_message_bytes(&mut self.tx, self.family, flags, seq, payload);
        seq
    }

    /// Append the acknowledged `NLMSG_NOOP` that ends a datagram of requests.
    fn push_sentinel(&mut self) -> u32 {
        let seq = self.next_seq();
        wire::push_message(
            &mut self.tx,
            NLMSG_NOOP,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            0,
            |_| {},
        );
        seq
    }

    fn resolve(&mut self, then: State<P>, retry: bool) {
        let name = self.proto.family_name().unwrap_or_default().to_owned();
        let payload = protocol::get_family_payload(&name);
        let seq = self.next_seq();
        self.tx.clear();
        wire::push_message(
            &mut self.tx,
            GENL_ID_CTRL,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            payload.len(),
            |buf| buf.copy_from_slice(&payload),
        );
        self.tx_pending = true;
        self.state = State::Resolving {
            seq,
            id: None,
            then: Box::new(then),
            retry,
        };
    }

    /// Send what `state` needs next.
    fn resume(&mut self, state: State<P>) {
        self.state = match state {
            State::Requests(mut r) => {
                self.send_chunk(&mut r);
                State::Requests(r)
            }
            State::Dump(mut d) => {
                self.send_dump(&mut d);
                State::Dump(d)
            }
            other => other,
        };
    }

    fn send_chunk(&mut self, r: &mut Requests<P>) {
        let start = r.start;
        let mut end = start;
        let mut bytes = 0;
        while end < r.requests.len() && end - start < self.limits.requests {
            bytes += match &r.requests {
                Batch::Values(v) => self.proto.wire_len(&v[end]),
                Batch::Encoded(p) => wire::align4(wire::NLMSG_HDRLEN + p.get(end).len()),
            };
            if bytes > self.limits.bytes && end > start {
                break;
            }
            end += 1;
        }
        self.tx.clear();
        r.start = start;
        r.end = end;
        // A chunk's sequence numbers are consecutive (a reply's index is
        // its distance from the first): start over rather than wrap in one.
        if self.seq.checked_add((end - start + 1) as u32).is_none() {
            self.seq = 0;
        }
        r.first_seq = self.seq + 1;
        match &r.requests {
            Batch::Values(v) => {
                for request in &v[start..end] {
                    self.push_request(request, 0);
                }
            }
            Batch::Encoded(p) => {
                for i in start..end {
                    self.push_payload(p.get(i), 0);
                }
            }
        }
        r.sentinel = self.push_sentinel();
        // A chunk sent again (the family looked up anew) starts afresh.
        r.results.truncate(start);
        r.results.resize_with(end, || Ok(Vec::new()));
        self.tx_pending = true;
    }

    fn send_dump(&mut self, d: &mut Dump<P>) {
        self.tx.clear();
        d.attempts += 1;
        d.entries.clear();
        d.seen.clear();
        d.duplicates = 0;
        d.interrupted = false;
        let seq = match &d.request {
            DumpRequest::Value(request) => self.push_request(request, NLM_F_DUMP),
            DumpRequest::Encoded(payload) => self.push_payload(payload, NLM_F_DUMP),
        };
        d.seq = seq;
        self.tx_pending = true;
    }

    /// Read one datagram from the kernel. The entries of a [`Job::Stream`]
    /// are dropped: read those with [`handle_datagram_with`](Self::handle_datagram_with).
    pub fn handle_datagram(&mut self, datagram: &[u8]) {
        self.handle_datagram_with(datagram, &mut |_| Ok(()));
    }

    /// Read one datagram from the kernel, handing a [`Job::Stream`]'s
    /// entries to `sink` as they are read.
    pub fn handle_datagram_with(&mut self, datagram: &[u8], sink: &mut Sink<'_>) {
        if let Err(e) = self.handle(datagram, sink) {
            self.state = State::Done(Err(e));
        }
    }

    fn handle(&mut self, datagram: &[u8], sink: &mut Sink<'_>) -> Result<(), Error> {
        for message in wire::messages(datagram) {
            let (header, payload) = message?;
            if !self.dump_entry_in_place(&header, payload, sink)? {
                let state = mem::replace(&mut self.state, State::Idle);
                self.state = self.handle_message(state, &header, payload, sink)?;
            }
        }
        Ok(())
    }

    /// A dump's entry (or a late reply to another request) taken where the
    /// dump lies, the state not moved: most messages are entries. `false`
    /// for anything else, which [`Engine::handle_message`] takes.
    fn dump_entry_in_place(
        &mut self,
        header: &netlink_packet_core::NetlinkHeader,
        payload: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<bool, Error> {
        let State::Dump(d) = &mut self.state else {
            return Ok(false);
        };
        if header.sequence_number != d.seq {
            return Ok(true);
        }
        if matches!(header.message_type, NLMSG_ERROR | NLMSG_DONE) {
            return Ok(false);
        }
        d.interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
        if d.stream {
            if self.proto.is_entry(header.message_type, self.family) {
                sink(Streamed::Entry(payload))?;
            }
        } else if let Some(reply) = self
            .proto
            .decode(header.message_type, self.family, payload)?
        {
            let repeated = match self.proto.dump_key(&reply) {
                Some(key) => !d.seen.insert(key),
                None => false,
            };
            if repeated {
                d.duplicates += 1;
            } else {
                d.entries.push(reply);
            }
        }
        Ok(true)
    }

    fn handle_message(
        &mut self,
        state: State<P>,
        header: &netlink_packet_core::NetlinkHeader,
        payload: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<State<P>, Error> {
        Ok(match state {
            State::Resolving {
                seq,
                mut id,
                then,
                retry,
            } => {
                if header.sequence_number != seq {
                    State::Resolving {
                        seq,
                        id,
                        then,
                        retry,
                    }
                } else {
                    match wire::control(header, payload)? {
                        None if header.message_type == GENL_ID_CTRL => {
                            id = Some(protocol::family_id_of(payload)?);
                            State::Resolving {
                                seq,
                                id,
                                then,
                                retry,
                            }
                        }
                        None => State::Resolving {
                            seq,
                            id,
                            then,
                            retry,
                        },
                        Some(Control::Error(e)) => {
                            let name = self.proto.family_name().unwrap_or_default().to_owned();
                            return Err(if e.errno == libc::ENOENT {
                                Error::FamilyNotFound(name)
                            } else {
                                Error::ResolveRefused { name, error: e }
                            });
                        }
                        Some(_) => {
                            let name = self.proto.family_name().unwrap_or_default().to_owned();
                            let id = id.ok_or(Error::FamilyNotFound(name))?;
                            self.resolved(id, *then, retry)
                        }
                    }
                }
            }
            State::Requests(r) => self.handle_request_reply(r, header, payload)?,
            State::Dump(d) => self.handle_dump_reply(d, header, payload, sink)?,
            // Late replies to an abandoned or finished job.
            other @ (State::Idle | State::Done(_)) => other,
        })
    }

    /// The family id is known: go on with `then`. After a refusal that
    /// made us look again (`retry`), resend only if the id changed.
    fn resolved(&mut self, id: u16, then: State<P>, retry: bool) -> State<P> {
        let changed = id != self.family;
        self.family = id;
        match then {
            State::Requests(mut r) if retry => {
                if changed {
                    self.send_chunk(&mut r);
                    State::Requests(r)
                } else {
                    r.settle_chunk();
                    self.after_chunk(r)
                }
            }
            State::Dump(d) if retry && !changed => State::Done(Ok(Answer {
                results: vec![Err(KernelError::errno(libc::ENOENT))],
                duplicates: 0,
                attempts: d.attempts,
            })),
            State::Requests(mut r) => {
                self.send_chunk(&mut r);
                State::Requests(r)
            }
            State::Dump(mut d) => {
                self.send_dump(&mut d);
                State::Dump(d)
            }
            other => other,
        }
    }

    fn after_chunk(&mut self, mut r: Requests<P>) -> State<P> {
        if r.start < r.requests.len() {
            self.send_chunk(&mut r);
            State::Requests(r)
        } else {
            State::Done(Ok(empty_answer(r.into_results())))
        }
    }

    fn handle_request_reply(
        &mut self,
        mut r: Requests<P>,
        header: &netlink_packet_core::NetlinkHeader,
        payload: &[u8],
    ) -> Result<State<P>, Error> {
        let seq = header.sequence_number;
        if seq == r.sentinel {
            if matches!(wire::control(header, payload)?, Some(Control::Ack)) {
                let stale = !r.re_resolved
                    && self.proto.family_name().is_some()
                    && r.results[r.start..r.end]
                        .iter()
                        .any(|c| matches!(c, Err(e) if e.errno == libc::ENOENT));
                if stale {
                    // The family may have a new id (module reloaded):
                    // look it up, and resend if so.
                    r.re_resolved = true;
                    self.resolve(State::Requests(r), true);
                    return Ok(mem::replace(&mut self.state, State::Idle));
                }
                r.settle_chunk();
                return Ok(self.after_chunk(r));
            }
            return Ok(State::Requests(r));
        }
        let index = seq.wrapping_sub(r.first_seq) as usize;
        if index >= r.end - r.start {
            return Ok(State::Requests(r)); // a late reply to an earlier job
        }
        let index = r.start + index;
        match wire::control(header, payload)? {
            Some(Control::Error(e)) => r.results[index] = Err(e),
            Some(_) => {}
            None => {
                if let Some(reply) = self
                    .proto
                    .decode(header.message_type, self.family, payload)?
                {
                    if let Ok(replies) = &mut r.results[index] {
                        replies.push(reply);
                    }
                }
            }
        }
        Ok(State::Requests(r))
    }

    fn handle_dump_reply(
        &mut self,
        mut d: Dump<P>,
        header: &netlink_packet_core::NetlinkHeader,
        payload: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<State<P>, Error> {
        // Replies to other requests and entries were taken in place
        // (`dump_entry_in_place`): this is a control message of the dump.
        d.interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
        match wire::control(header, payload)? {
            None => Ok(State::Dump(d)),
            Some(Control::Error(e)) => {
                if e.errno == libc::ENOENT && !d.re_resolved && self.proto.family_name().is_some() {
                    d.re_resolved = true;
                    self.resolve(State::Dump(d), true);
                    return Ok(mem::replace(&mut self.state, State::Idle));
                }
                Ok(State::Done(Ok(Answer {
                    results: vec![Err(e)],
                    duplicates: 0,
                    attempts: d.attempts,
                })))
            }
            Some(Control::Ack) => Ok(State::Dump(d)),
            Some(Control::Done) if d.interrupted => {
                if d.attempts >= self.dump_attempts {
                    return Err(Error::DumpInterrupted {
                        attempts: d.attempts,
                    });
                }
                if d.stream {
                    sink(Streamed::Restart)?;
                }
                self.send_dump(&mut d);
                Ok(State::Dump(d))
            }
            Some(Control::Done) => Ok(State::Done(Ok(Answer {
                // A stream's entries went to the sink: nothing to answer
                // (and nothing allocated, once per service in a save).
                results: if d.stream {
                    Vec::new()
                } else {
                    vec![Ok(mem::take(&mut d.entries))]
                },
                duplicates: d.duplicates,
                attempts: d.attempts,
            }))),
        }
    }
}

fn empty_answer<T>(results: Vec<Result<Vec<T>, KernelError>>) -> Answer<T> {
    Answer {
        results,
        duplicates: 0,
        attempts: 1,
    }
}
