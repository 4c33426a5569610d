//! The blocking client, on a netlink-sys socket. No runtime needed.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use crate::codec::{
    Command, FAMILY_NAME, IpvsMessage, KernelError, Reply, RequestKind, decode, encode_request,
};
use crate::model::{DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::netns::{Netns, within, within_netns};
use super::operation::{self, Request};
use super::sys;
use super::{BatchResult, Error, Operation, Result, ServiceEntry};

/// Receive buffer for one datagram: dumps come in skbs of at most 32 KiB.
const RX_BUF: usize = 64 * 1024;
/// Socket buffers asked for (SO_RCVBUFFORCE as root, else capped by rmem_max).
const SOCK_BUF: libc::c_int = 8 << 20;

/// How a client is opened.
///
/// ```no_run
/// use std::time::Duration;
/// use ipvs::client::{Client, Netns};
/// let client = Client::builder()
///     .netns(Netns::named("lb")?)
///     .timeout(Duration::from_secs(2))
///     .build()?;
/// # Ok::<(), ipvs::client::Error>(())
/// ```
#[derive(Debug)]
pub struct Builder {
    netns: Netns,
    netns_fd: Option<OwnedFd>,
    timeout: Option<Duration>,
    dump_attempts: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            netns: Netns::Current,
            netns_fd: None,
            timeout: Some(Duration::from_secs(30)),
            dump_attempts: 5,
        }
    }
}

impl Builder {
    /// Open the client in this network namespace.
    pub fn netns(mut self, ns: Netns) -> Self {
        self.netns = ns;
        self
    }

    /// Open the client in the network namespace `fd` refers to.
    pub fn netns_fd(mut self, fd: BorrowedFd<'_>) -> io::Result<Self> {
        self.netns_fd = Some(fd.try_clone_to_owned()?);
        Ok(self)
    }

    /// Give up on a reply after `timeout` (default 30 s); `None` waits forever.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// How many times a dump interrupted by concurrent changes is retried
    /// before [`Error::DumpInterrupted`] (default 5).
    pub fn dump_attempts(mut self, attempts: u32) -> Self {
        self.dump_attempts = attempts.max(1);
        self
    }

    /// Open the socket and resolve the IPVS family.
    pub fn build(self) -> Result<Client> {
        let open = || Socket::new(NETLINK_GENERIC);
        let sock = match &self.netns_fd {
            Some(fd) => within(fd.as_fd(), open)?,
            None => within_netns(&self.netns, open)?,
        };
        let mut inner = Inner::new(sock, self.timeout)?;
        inner.family = inner.resolve_family()?;
        Ok(Client {
            inner: Mutex::new(inner),
            dump_attempts: self.dump_attempts,
        })
    }
}

/// A blocking IPVS client.
///
/// Every method takes `&self` and the client is `Send + Sync`: share it
/// between threads (in an `Arc`) and calls are serialized on its one socket,
/// or open one client per thread for parallel calls (each is one socket).
///
/// ```no_run
/// use ipvs::client::Client;
/// use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};
///
/// let client = Client::new()?;
/// let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
/// client.add_service(&Service::new(key, Scheduler::WeightedRoundRobin))?;
/// client.add_destination(&key, &Destination::new("198.51.100.2:80".parse().unwrap()).with_weight(2))?;
/// for entry in client.snapshot()? {
///     println!("{} {} destinations", entry.service.key, entry.destinations.len());
/// }
/// # Ok::<(), ipvs::client::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    inner: Mutex<Inner>,
    dump_attempts: u32,
}

impl Client {
    /// A client in the caller's network namespace, with default settings.
    pub fn new() -> Result<Self> {
        Builder::default().build()
    }

    /// Settings for a client: namespace, timeout, dump retries.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A client in the namespace made by `ip netns add NAME`; a name that
    /// is not a plain file name is refused ([`Error::NetnsName`]).
    pub fn in_netns(name: &str) -> Result<Self> {
        Builder::default().netns(Netns::named(name)?).build()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-done that the
        // next call cannot cope with: stale replies are skipped by sequence.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generic-netlink id the kernel gave the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.lock().family
    }

    /// The datagrams this client has written and read so far.
    ///
    /// ```no_run
    /// # use ipvs::client::{Client, Operation};
    /// # fn ops() -> Vec<Operation> { vec![] }
    /// let client = Client::new()?;
    /// let before = client.io_counters();
    /// client.execute_batch(&ops())?;
    /// println!("{} writes", client.io_counters().sends - before.sends);
    /// # Ok::<(), ipvs::client::Error>(())
    /// ```
    pub fn io_counters(&self) -> IoCounters {
        self.lock().io
    }

    /// Apply one change.
    pub fn execute(&self, op: &Operation) -> Result<()> {
        let req = op.request()?;
        match self.lock().transact(&req)? {
            Outcome::Replies { .. } => Ok(()),
            Outcome::Refused(e) => Err(op.error(e)),
        }
    }

    /// Add a service.
    pub fn add_service(&self, service: &Service) -> Result<()> {
        self.execute(&Operation::AddService(service.clone()))
    }

    /// Change a service's scheduler, flags, persistence or engine in place.
    pub fn update_service(&self, service: &Service) -> Result<()> {
        self.execute(&Operation::UpdateService(service.clone()))
    }

    /// Delete a service and its destinations.
    pub fn delete_service(&self, key: &ServiceKey) -> Result<()> {
        self.execute(&Operation::DeleteService(*key))
    }

    /// Add a destination to a service.
    pub fn add_destination(&self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Operation::AddDestination(*key, dest.clone()))
    }

    /// Change a destination's settings in place.
    pub fn update_destination(&self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Operation::UpdateDestination(*key, dest.clone()))
    }

    /// Remove a destination from a service.
    pub fn delete_destination(&self, key: &ServiceKey, addr: std::net::SocketAddr) -> Result<()> {
        self.execute(&Operation::DeleteDestination(*key, addr))
    }

    /// Delete every service.
    pub fn flush(&self) -> Result<()> {
        self.execute(&Operation::Flush)
    }

    /// Zero the counters of one service, or of all with `None`.
    pub fn zero(&self, key: Option<&ServiceKey>) -> Result<()> {
        self.execute(&Operation::Zero(key.copied()))
    }

    /// Set the timeouts that are non-zero.
    pub fn set_timeouts(&self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Operation::SetTimeouts(*timeouts))
    }

    /// Start a connection-sync daemon.
    pub fn start_daemon(&self, daemon: &SyncDaemon) -> Result<()> {
        self.execute(&Operation::StartDaemon(daemon.clone()))
    }

    /// Stop the connection-sync daemon in `state`.
    pub fn stop_daemon(&self, state: DaemonState) -> Result<()> {
        self.execute(&Operation::StopDaemon(state))
    }

    /// The timeouts.
    pub fn timeouts(&self) -> Result<Timeouts> {
        let replies = self.read(Request::ack(IpvsMessage::get_config()), None)?;
        operation::timeouts(&replies)
    }

    /// Version and connection table size.
    pub fn info(&self) -> Result<Info> {
        let replies = self.read(Request::ack(IpvsMessage::get_info()), None)?;
        operation::info(&replies)
    }

    /// The running sync daemons.
    pub fn daemons(&self) -> Result<Vec<SyncDaemon>> {
        let replies = self.read(Request::dump(IpvsMessage::get_daemons()), None)?;
        operation::daemons(&replies)
    }

    /// One service, with its stats.
    pub fn service(&self, key: &ServiceKey) -> Result<Service> {
        key.validate()?;
        let replies = self.read(Request::ack(IpvsMessage::get_service(key)), Some(key))?;
        operation::services(&replies)?
            .into_iter()
            .next()
            .ok_or(Error::ServiceNotFound { service: *key })
    }

    /// Every service of the namespace, with stats.
    ///
    /// A dump that spans several datagrams is resumed by the kernel at an
    /// index into its service table, which on Linux 6.1 is shared by every
    /// namespace and reports no `NLM_F_DUMP_INTR`: a service added anywhere
    /// meanwhile can make one be listed twice (dropped here), one deleted can
    /// make one be missed (undetectable).
    pub fn services(&self) -> Result<Vec<Service>> {
        let replies = self.read(Request::dump(IpvsMessage::get_services()), None)?;
        let mut services = operation::services(&replies)?;
        let mut seen = std::collections::HashSet::with_capacity(services.len());
        services.retain(|s| seen.insert(s.key));
        Ok(services)
    }

    /// The destinations of a service, with connection counts and stats (an
    /// unknown service has none).
    pub fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>> {
        key.validate()?;
        let replies = self.read(Request::dump(IpvsMessage::get_dests(key)), Some(key))?;
        // Resumed by index like the services' dump (see `services`).
        let mut dests = operation::destinations(&replies, key.family())?;
        let mut seen = std::collections::HashSet::with_capacity(dests.len());
        dests.retain(|d| seen.insert(d.socket_addr()));
        Ok(dests)
    }

    /// Every service with its destinations: one dump of the services, then
    /// one of each service's destinations (the kernel dumps destinations per
    /// service only).
    pub fn snapshot(&self) -> Result<Vec<ServiceEntry>> {
        let services = self.services()?;
        let mut entries = Vec::with_capacity(services.len());
        for service in services {
            let destinations = self.destinations(&service.key)?;
            entries.push(ServiceEntry {
                service,
                destinations,
            });
        }
        Ok(entries)
    }

    /// Apply many changes with as few system calls as fit: operations are
    /// written back to back, many per `sendmsg`, and only failures are
    /// answered, plus one acknowledgement per write.
    ///
    /// Every operation is validated first: if one is invalid, nothing is
    /// sent and the error names its index. Otherwise every operation is
    /// attempted in order and the result says, per operation, whether it
    /// succeeded.
    pub fn execute_batch(&self, ops: &[Operation]) -> Result<BatchResult> {
        let requests = operation::batch_requests(ops)?;
        let mut results: Vec<Result<()>> = Vec::with_capacity(ops.len());
        let mut inner = self.lock();
        let mut start = 0;
        while start < requests.len() {
            let end = inner.chunk_end(&requests, start);
            match inner.send_chunk(&requests[start..end]) {
                Ok(refusals) => {
                    let mut refusals = refusals.into_iter().peekable();
                    for (i, op) in ops.iter().enumerate().take(end).skip(start) {
                        match refusals.next_if(|(at, _)| *at == i - start) {
                            Some((_, e)) => results.push(Err(op.error(e))),
                            None => results.push(Ok(())),
                        }
                    }
                }
                Err(e) => {
                    // The write failed or its replies were lost: nothing of
                    // this chunk or after is known to be applied.
                    let msg = e.to_string();
                    results.push(Err(e));
                    for _ in start + 1..ops.len() {
                        results.push(Err(Error::NotAttempted {
                            reason: msg.clone(),
                        }));
                    }
                    return Ok(BatchResult { results });
                }
            }
            start = end;
        }
        Ok(BatchResult { results })
    }

    /// A read: an ACK request or a dump, retried if the dump was interrupted.
    fn read(&self, req: Request, key: Option<&ServiceKey>) -> Result<Vec<IpvsMessage>> {
        let mut inner = self.lock();
        for _ in 0..self.dump_attempts {
            match inner.transact(&req)? {
                Outcome::Replies {
                    replies,
                    interrupted: false,
                } => return Ok(replies),
                Outcome::Replies { .. } => continue,
                Outcome::Refused(e) => return Err(operation::read_error(req.msg.command, key, e)),
            }
        }
        Err(Error::DumpInterrupted {
            attempts: self.dump_attempts,
        })
    }
}

/// Ask for extended ACKs, capped error messages and large buffers; returns
/// the receive and send buffer sizes obtained.
pub(crate) fn configure(sock: &Socket) -> io::Result<(usize, usize)> {
    sock.set_ext_ack(true)?;
    sock.set_cap_ack(true)?;
    let fd = sock.as_fd();
    // Large buffers let a batch have many messages in flight; forcing
    // them needs CAP_NET_ADMIN, which IPVS needs anyway.
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if sys::setsockopt_int(fd, libc::SOL_SOCKET, force, SOCK_BUF).is_err() {
            sys::setsockopt_int(fd, libc::SOL_SOCKET, plain, SOCK_BUF)?;
        }
    }
    let rcvbuf = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)? as usize;
    let sndbuf = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)? as usize;
    Ok((rcvbuf, sndbuf))
}

/// Operations per batch write that keep a write's refusals within the
/// receive buffer (each costs about 1 KiB of skb truesize) and bytes per
/// write within the send buffer.
pub(crate) fn batch_limits(rcvbuf: usize, sndbuf: usize) -> (usize, usize) {
    (
        (rcvbuf / 2048).clamp(16, 4096),
        (sndbuf / 2).clamp(4096, 4 << 20),
    )
}

/// How a request ended.
enum Outcome {
    /// Accepted, with the IPVS messages of the reply.
    Replies {
        replies: Vec<IpvsMessage>,
        interrupted: bool,
    },
    /// Refused by the kernel.
    Refused(KernelError),
}

/// How many datagrams a client has written and read: what a batch or a
/// dump costs in system calls ([`Client::io_counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoCounters {
    /// `sendmsg` calls (each carries one request, or a whole chunk of a batch).
    pub sends: u64,
    /// Datagrams received (each holds one or more netlink messages).
    pub receives: u64,
}

/// The socket and what goes with it; behind the client's mutex.
#[derive(Debug)]
struct Inner {
    sock: Socket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
    timeout: Option<Duration>,
    /// Operations per write in a batch, from the socket buffer sizes.
    batch_ops: usize,
    batch_bytes: usize,
    io: IoCounters,
}

impl Inner {
    fn new(mut sock: Socket, timeout: Option<Duration>) -> Result<Self> {
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let (rcvbuf, sndbuf) = configure(&sock)?;
        let fd = sock.as_fd();
        sys::set_recv_timeout(fd, timeout)?;
        Ok(Inner {
            sock,
            family: 0,
            seq: 0,
            rx: Vec::with_capacity(RX_BUF),
            tx: Vec::new(),
            timeout,
            batch_ops: batch_limits(rcvbuf, sndbuf).0,
            batch_bytes: batch_limits(rcvbuf, sndbuf).1,
            io: IoCounters::default(),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Ask nlctrl for the IPVS family's id.
    fn resolve_family(&mut self) -> Result<u16> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY_NAME.to_owned())],
        });
        genl.finalize();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = self.next_seq();
        let seq = header.sequence_number;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(genl));
        msg.finalize();
        self.tx.clear();
        self.tx.resize(msg.buffer_len(), 0);
        msg.serialize(&mut self.tx);
        self.send()?;
        let mut family = None;
        loop {
            self.recv()?;
            let mut offset = 0;
            while offset + 16 <= self.rx.len() {
                let len =
                    u32::from_ne_bytes(self.rx[offset..offset + 4].try_into().unwrap()) as usize;
                if len < 16 || offset + len > self.rx.len() {
                    return Err(Error::Decode("bad nlctrl reply".into()));
                }
                let bytes = &self.rx[offset..offset + len];
                offset += (len + 3) & !3;
                let msg = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(bytes)?;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(genl) => {
                        family = genl.payload.nlas.iter().find_map(|a| match a {
                            GenlCtrlAttrs::FamilyId(id) => Some(*id),
                            _ => None,
                        });
                    }
                    NetlinkPayload::Error(e) if e.code.is_none() => {
                        return family.ok_or(Error::IpvsNotAvailable);
                    }
                    NetlinkPayload::Error(e) => {
                        return Err(match -e.raw_code() {
                            libc::ENOENT => Error::IpvsNotAvailable,
                            errno => Error::kernel(
                                Command::UNSPEC,
                                KernelError {
                                    errno,
                                    message: None,
                                    offset: None,
                                    missing_type: None,
                                },
                            ),
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Write `tx` in one datagram.
    fn send(&mut self) -> Result<()> {
        self.io.sends += 1;
        self.sock.send(&self.tx, 0)?;
        Ok(())
    }

    /// Receive one datagram into `rx`.
    fn recv(&mut self) -> Result<()> {
        self.io.receives += 1;
        self.rx.clear();
        match self.sock.recv(&mut self.rx, libc::MSG_TRUNC) {
            Ok(n) if n > RX_BUF => Err(Error::Decode(
                format!("a {n}-byte datagram did not fit the receive buffer").into(),
            )),
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Error::Timeout(self.timeout.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Send one request and read its whole reply; re-resolve the family and
    /// retry once if the kernel no longer knows our family id.
    fn transact(&mut self, req: &Request) -> Result<Outcome> {
        let outcome = self.transact_once(req)?;
        if let Outcome::Refused(KernelError {
            errno: libc::ENOENT,
            ..
        }) = &outcome
        {
            let family = self.resolve_family()?;
            if family != self.family {
                self.family = family;
                return self.transact_once(req);
            }
        }
        Ok(outcome)
    }

    fn transact_once(&mut self, req: &Request) -> Result<Outcome> {
        let seq = self.next_seq();
        self.tx.clear();
        // A request expecting an ACK goes without one, followed by an
        // acknowledged no-op: the kernel skips the ACK of a handler that
        // returns EINTR (IPVS's DEL_DAEMON does when a sync thread is
        // stopped before it ever ran), and the no-op's ACK still ends the
        // exchange. Replies and refusals come as before.
        let mut end = seq;
        if req.kind == RequestKind::Ack {
            encode_request(
                &req.msg,
                self.family,
                seq,
                RequestKind::ErrorsOnly,
                &mut self.tx,
            );
            end = self.push_ack_sentinel();
        } else {
            encode_request(&req.msg, self.family, seq, req.kind, &mut self.tx);
        }
        self.send()?;
        let mut replies = Vec::new();
        let mut interrupted = false;
        let mut refused = None;
        loop {
            self.recv()?;
            for frame in decode(&self.rx, Some(self.family)) {
                let frame = frame?;
                let at = frame.header.sequence_number;
                if at != seq && at != end {
                    continue; // a late reply to a request that timed out
                }
                interrupted |= frame.interrupted();
                match frame.reply {
                    Reply::Ipvs(msg) if at == seq => replies.push(msg),
                    Reply::Error(e) if at == seq && end != seq => refused = Some(e),
                    Reply::Ack | Reply::Done if at == end => {
                        return Ok(match refused {
                            Some(e) => Outcome::Refused(e),
                            None => Outcome::Replies {
                                replies,
                                interrupted,
                            },
                        });
                    }
                    Reply::Error(e) => return Ok(Outcome::Refused(e)),
                    _ => {}
                }
            }
        }
    }

    /// Append an acknowledged `NLMSG_NOOP` to `tx`: the kernel answers it
    /// with an ACK whatever came before it.
    fn push_ack_sentinel(&mut self) -> u32 {
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        self.tx.extend_from_slice(&16u32.to_ne_bytes());
        self.tx
            .extend_from_slice(&netlink_packet_core::NLMSG_NOOP.to_ne_bytes());
        self.tx.extend_from_slice(&flags.to_ne_bytes());
        self.tx.extend_from_slice(&seq.to_ne_bytes());
        self.tx.extend_from_slice(&0u32.to_ne_bytes());
        seq
    }

    fn chunk_end(&self, requests: &[Request], start: usize) -> usize {
        chunk_end(requests, start, self.batch_ops, self.batch_bytes)
    }

    /// Write a chunk of a batch in one `sendmsg`: every request answered
    /// only on failure, then an acknowledged no-op whose ACK ends the chunk
    /// (even when the kernel skips a request's answer, see `transact_once`).
    /// Returns the refusals, by index in the chunk.
    fn send_chunk(&mut self, chunk: &[Request]) -> Result<Vec<(usize, KernelError)>> {
        let first = self.seq.wrapping_add(1);
        self.tx.clear();
        for req in chunk {
            let seq = self.next_seq();
            encode_request(
                &req.msg,
                self.family,
                seq,
                RequestKind::ErrorsOnly,
                &mut self.tx,
            );
        }
        let last = self.push_ack_sentinel();
        self.send()?;
        let mut refusals = Vec::new();
        loop {
            self.recv()?;
            for frame in decode(&self.rx, Some(self.family)) {
                let frame = frame?;
                let seq = frame.header.sequence_number;
                if seq == last {
                    return Ok(refusals);
                }
                let index = seq.wrapping_sub(first) as usize;
                if index >= chunk.len() {
                    continue;
                }
                if let Reply::Error(e) = frame.reply {
                    refusals.push((index, e));
                }
            }
        }
    }
}

/// Where the batch chunk starting at `start` ends, for at most `max_ops`
/// operations and `max_bytes` bytes per write.
pub(crate) fn chunk_end(
    requests: &[Request],
    start: usize,
    max_ops: usize,
    max_bytes: usize,
) -> usize {
    let mut bytes = 0;
    let mut end = start;
    while end < requests.len() && end - start < max_ops {
        bytes += 20 + netlink_packet_core::Emitable::buffer_len(&requests[end].msg);
        if bytes > max_bytes && end > start {
            break;
        }
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }
}
