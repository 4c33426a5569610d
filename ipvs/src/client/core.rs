//! Every client call, written once over the request engine: the blocking
//! [`Client`](super::Client) and the async clients are [`Driver`]s that
//! only move datagrams between an [`Engine`](crate::engine::Engine) and
//! their socket.
//!
//! The calls are `async` so one body serves both: a blocking driver's
//! futures are ready as soon as they are polled, and [`now`] polls them
//! once.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::collections::HashSet;
use std::hash::Hash;

use netlink_packet_core::DecodeError;

use crate::codec::constants::{IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE};
use crate::codec::{Command, IpvsMessage, KernelError, convert, encode};
use crate::engine::{self, Answer, Job, Payloads, Streamed};
use crate::model::{Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::operation;
use super::{BatchResult, Error, IoCounters, Operation, Result, ServiceEntry};

/// The replies to one request, or its refusal.
pub(crate) type Replies = std::result::Result<Vec<IpvsMessage>, KernelError>;

/// A job that stopped before its answer: the socket failed or a reply did
/// not come in time. `settled` holds the results of the requests answered
/// before (a prefix of the job's requests).
#[derive(Debug)]
pub(crate) struct Stopped {
    pub error: Error,
    pub settled: Vec<Replies>,
}

impl From<Error> for Stopped {
    fn from(error: Error) -> Self {
        Stopped {
            error,
            settled: Vec::new(),
        }
    }
}

/// What moves an engine's datagrams: a socket, blocking or async.
pub(crate) trait Driver {
    /// Run `job` to its answer.
    fn run(
        &self,
        job: Job<IpvsMessage>,
    ) -> impl Future<Output = std::result::Result<Answer<IpvsMessage>, Stopped>>;

    /// Run a [`Job::Stream`] to its end, its entries handed to `sink` as
    /// they are read.
    fn stream(
        &self,
        job: Job<IpvsMessage>,
        sink: &mut EntrySink<'_>,
    ) -> impl Future<Output = std::result::Result<Answer<IpvsMessage>, Stopped>>;

    /// Run a [`Job::Stream`] known to be small (one service's
    /// destinations): on a socket that reads a little at a time when the
    /// driver has one, which costs the kernel less per dump.
    fn stream_small(
        &self,
        job: Job<IpvsMessage>,
        sink: &mut EntrySink<'_>,
    ) -> impl Future<Output = std::result::Result<Answer<IpvsMessage>, Stopped>> {
        self.stream(job, sink)
    }

    /// The client's counters.
    fn counters(&self) -> &Counters;

    /// Wait `duration` (the reconcile loop's pause between rounds).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// Where a streamed dump's entries go (`Send`, so that the async clients'
/// futures stay `Send`).
pub(crate) type EntrySink<'s> =
    dyn FnMut(Streamed<'_>) -> std::result::Result<(), DecodeError> + Send + 's;

/// Poll a future that never waits (a blocking driver's) to its end.
///
/// # Panics
/// If the future is not ready at once: only blocking drivers are run this way.
pub(crate) fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("a blocking driver's call waited"),
    }
}

/// The counters every client keeps; shared by clones of an async client.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    sends: AtomicU64,
    receives: AtomicU64,
    duplicates: AtomicU64,
    family: AtomicU16,
}

impl Counters {
    pub fn sent(&self) {
        self.sends.fetch_add(1, Ordering::Relaxed);
    }
    pub fn received(&self) {
        self.receives.fetch_add(1, Ordering::Relaxed);
    }
    pub fn answered<T>(&self, answer: &Answer<T>, family: u16) {
        self.duplicates
            .fetch_add(answer.duplicates as u64, Ordering::Relaxed);
        self.family.store(family, Ordering::Relaxed);
    }
    pub fn family(&self) -> u16 {
        self.family.load(Ordering::Relaxed)
    }
    /// Entries a streamed dump listed twice, dropped by the caller.
    pub fn dropped(&self, n: usize) {
        self.duplicates.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> IoCounters {
        IoCounters {
            sends: self.sends.load(Ordering::Relaxed),
            receives: self.receives.load(Ordering::Relaxed),
            duplicates_dropped: self.duplicates.load(Ordering::Relaxed),
        }
    }
}

/// An engine failure as a client error.
pub(crate) fn engine_error(e: engine::Error) -> Error {
    match e {
        engine::Error::FamilyNotFound(_) => Error::IpvsNotAvailable,
        engine::Error::ResolveRefused { error, .. } => {
            Error::kernel(crate::codec::Command::UNSPEC, error)
        }
        engine::Error::DumpInterrupted { attempts } => Error::DumpInterrupted { attempts },
        engine::Error::Decode(e) => Error::Decode(e.into()),
    }
}

/// Resolve the family (again).
pub(crate) async fn resolve(d: &impl Driver) -> Result<()> {
    d.run(Job::Resolve).await.map_err(|s| s.error)?;
    Ok(())
}

/// One request: its replies, or the refusal.
async fn request(d: &impl Driver, msg: IpvsMessage) -> Result<Replies> {
    let answer = d.run(Job::Requests(vec![msg])).await.map_err(|s| s.error)?;
    Ok(answer
        .results
        .into_iter()
        .next()
        .unwrap_or_else(|| Ok(Vec::new())))
}

/// A read: a `GET` answered by one message, or a dump.
async fn read(
    d: &impl Driver,
    msg: IpvsMessage,
    dump: bool,
    key: Option<&ServiceKey>,
) -> Result<Vec<IpvsMessage>> {
    let command = msg.command;
    let replies = if dump {
        let answer = d.run(Job::Dump(msg)).await.map_err(|s| s.error)?;
        answer
            .results
            .into_iter()
            .next()
            .unwrap_or_else(|| Ok(Vec::new()))
    } else {
        request(d, msg).await?
    };
    replies.map_err(|e| operation::read_error(command, key, e))
}

/// Apply one change.
pub(crate) async fn execute(d: &impl Driver, op: &Operation) -> Result<()> {
    match request(d, op.request()?).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(op.error(e)),
    }
}

/// Apply many changes, many per write: see [`Client::execute_batch`](super::Client::execute_batch).
pub(crate) async fn execute_batch(d: &impl Driver, ops: &[Operation]) -> Result<BatchResult> {
    let requests = operation::batch_requests(ops)?;
    Ok(batch_result(d, Job::Requests(requests), ops.len(), |i, e| {
        ops[i].error(e)
    })
    .await)
}

/// [`execute_batch`] of requests encoded already ([`Job::Encoded`]):
/// validated by the caller; `error` types the kernel's refusal of the
/// request at an index.
pub(crate) async fn execute_encoded(
    d: &impl Driver,
    payloads: Payloads,
    error: impl Fn(usize, KernelError) -> Error,
) -> BatchResult {
    let n = payloads.len();
    batch_result(d, Job::Encoded(payloads), n, error).await
}

/// Run a job of `n` requests, one result each.
async fn batch_result(
    d: &impl Driver,
    job: Job<IpvsMessage>,
    n: usize,
    error: impl Fn(usize, KernelError) -> Error,
) -> BatchResult {
    let mut results: Vec<Result<()>> = Vec::with_capacity(n);
    let (settled, stopped) = match d.run(job).await {
        Ok(answer) => (answer.results, None),
        Err(s) => (s.settled, Some(s.error)),
    };
    for (i, r) in settled.into_iter().take(n).enumerate() {
        results.push(r.map(|_| ()).map_err(|e| error(i, e)));
    }
    if let Some(e) = stopped {
        // The write failed or its replies were lost: nothing from here on
        // is known to be applied.
        let reason = e.to_string();
        results.push(Err(e));
        while results.len() < n {
            results.push(Err(Error::NotAttempted {
                reason: reason.clone(),
            }));
        }
    }
    BatchResult { results }
}

/// The timeouts.
pub(crate) async fn timeouts(d: &impl Driver) -> Result<Timeouts> {
    operation::timeouts(&read(d, IpvsMessage::get_config(), false, None).await?)
}

/// Version and connection table size.
pub(crate) async fn info(d: &impl Driver) -> Result<Info> {
    operation::info(&read(d, IpvsMessage::get_info(), false, None).await?)
}

/// The running sync daemons.
pub(crate) async fn daemons(d: &impl Driver) -> Result<Vec<SyncDaemon>> {
    operation::daemons(&read(d, IpvsMessage::get_daemons(), true, None).await?)
}

/// One service.
pub(crate) async fn service(d: &impl Driver, key: &ServiceKey) -> Result<Service> {
    key.validate()?;
    let replies = read(d, IpvsMessage::get_service(key), false, Some(key)).await?;
    operation::services(&replies)?
        .into_iter()
        .next()
        .ok_or(Error::ServiceNotFound { service: *key })
}

/// Every service (entries the dump listed twice dropped).
pub(crate) async fn services(d: &impl Driver) -> Result<Vec<Service>> {
    let mut out = Vec::new();
    services_into(d, &mut out, true, Repeats::Drop).await?;
    Ok(out)
}

/// The destinations of a service.
pub(crate) async fn destinations(d: &impl Driver, key: &ServiceKey) -> Result<Vec<Destination>> {
    let mut out = Vec::new();
    destinations_into(d, key, &mut out, true).await?;
    Ok(out)
}

/// Every service, into `out` (cleared first), each decoded in place as
/// its datagram arrives (nothing of the dump held); with `stats` false,
/// without their counters. Entries listed twice (the table changed during
/// the dump) are dropped and counted, or kept for the caller to drop.
pub(crate) async fn services_into(
    d: &impl Driver,
    out: &mut Vec<Service>,
    stats: bool,
    repeats: Repeats,
) -> Result<()> {
    let read = |nest: &[u8]| convert::service_from_nest(nest, stats);
    let job = Job::Stream(IpvsMessage::get_services());
    let what = Dumped {
        command: Command::GET_SERVICE,
        key: None,
        nest: IPVS_CMD_ATTR_SERVICE,
        small: false,
        repeats,
    };
    dump_into(d, job, what, read, |s| s.key, out).await
}

/// The destinations of a service, into `out` (cleared first), as
/// [`services_into`] reads services.
pub(crate) async fn destinations_into(
    d: &impl Driver,
    key: &ServiceKey,
    out: &mut Vec<Destination>,
    stats: bool,
) -> Result<()> {
    key.validate()?;
    let family = key.family();
    let read = |nest: &[u8]| convert::dest_from_nest(nest, family, stats);
    // Encoded straight away: one of these per service when a whole table
    // is read.
    let mut request = Vec::with_capacity(64); // 52 bytes for an IPv4 service
    encode::get_dests(&mut request, key);
    let job = Job::StreamEncoded(request);
    let id = |d: &Destination| (d.address, d.port);
    let what = Dumped {
        command: Command::GET_DEST,
        key: Some(key),
        nest: IPVS_CMD_ATTR_DEST,
        small: true,
        repeats: Repeats::Drop,
    };
    dump_into(d, job, what, read, id, out).await
}

/// What a dump lists: its command, the service it is of, the top-level
/// nest its entries are read from, whether it is small (see
/// [`Driver::stream_small`]), and what becomes of entries listed twice.
struct Dumped<'k> {
    command: Command,
    key: Option<&'k ServiceKey>,
    nest: u16,
    small: bool,
    repeats: Repeats,
}

/// What becomes of the entries a dump lists twice (the kernel resumes a
/// dump by index: a change between two datagrams shifts entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeats {
    /// Dropped and counted.
    Drop,
    /// Kept, for a caller that sorts the entries and drops repeats then,
    /// at no cost (the check costs a hash per entry).
    Keep,
}

/// The dump `job` (a streamed one) into `out` (cleared first): each
/// entry's nest read by `read` as its datagram arrives, an entry whose `id`
/// was listed already dropped and counted; a refusal of the dump is the
/// error of reading it.
async fn dump_into<T: Send, K: Eq + Hash + Send>(
    d: &impl Driver,
    job: Job<IpvsMessage>,
    what: Dumped<'_>,
    read: impl Fn(&[u8]) -> std::result::Result<T, DecodeError> + Send + Sync,
    id: impl Fn(&T) -> K + Send + Sync,
    out: &mut Vec<T>,
) -> Result<()> {
    out.clear();
    let mut seen = Listed::default();
    let mut sink = |entry: Streamed<'_>| {
        match entry {
            Streamed::Restart => {
                out.clear();
                seen = Listed::default();
            }
            Streamed::Entry(payload) => {
                if let Some(value) = convert::nest_of(payload, what.nest)? {
                    let entry = read(value)?;
                    if what.repeats == Repeats::Keep || !seen.check(out, &id, id(&entry)) {
                        out.push(entry);
                    }
                }
            }
        }
        Ok(())
    };
    let answer = if what.small {
        d.stream_small(job, &mut sink).await
    } else {
        d.stream(job, &mut sink).await
    };
    let answer = answer.map_err(|s| s.error)?;
    d.counters().dropped(seen.dropped);
    match answer.results.into_iter().next() {
        Some(Err(e)) => Err(operation::read_error(what.command, what.key, e)),
        _ => Ok(()),
    }
}

/// The identities of the entries a dump listed so far: a short list is
/// scanned, a longer one hashed (the set, and its seed, made only then:
/// most dumps are a service's few destinations).
struct Listed<K> {
    set: Option<HashSet<K, foldhash::fast::RandomState>>,
    dropped: usize,
}

impl<K> Default for Listed<K> {
    fn default() -> Self {
        Listed {
            set: None,
            dropped: 0,
        }
    }
}

impl<K: Eq + Hash> Listed<K> {
    /// Entries scanned before a set is built.
    const SCAN: usize = 16;

    /// Whether an entry with identity `key` is in `out` already (then it
    /// is counted as dropped).
    fn check<T>(&mut self, out: &[T], id: impl Fn(&T) -> K, key: K) -> bool {
        let listed = if out.len() < Self::SCAN {
            out.iter().any(|e| id(e) == key)
        } else {
            let set = self
                .set
                .get_or_insert_with(|| out.iter().map(&id).collect());
            !set.insert(key)
        };
        self.dropped += usize::from(listed);
        listed
    }
}

/// Every service with its destinations.
pub(crate) async fn snapshot(d: &impl Driver) -> Result<Vec<ServiceEntry>> {
    let services = services(d).await?;
    let mut entries = Vec::with_capacity(services.len());
    for service in services {
        let destinations = destinations(d, &service.key).await?;
        entries.push(ServiceEntry {
            service,
            destinations,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::Listed;

    /// Repeats are found by scanning a short list and by the set a longer
    /// one builds, and each is counted once.
    #[test]
    fn listed_finds_repeats_scanned_and_hashed() {
        let mut seen = Listed::default();
        let mut out: Vec<u32> = Vec::new();
        let id = |v: &u32| *v;
        for v in (0..5)
            .chain([2])
            .chain(5..40)
            .chain([3, 20, 39, 40])
            .chain(0..2)
        {
            if !seen.check(&out, id, v) {
                out.push(v);
            }
        }
        assert_eq!(out, (0..41).collect::<Vec<_>>());
        assert_eq!(seen.dropped, 6);
        assert!(seen.set.is_some(), "a list past the scan length is hashed");
    }
}
