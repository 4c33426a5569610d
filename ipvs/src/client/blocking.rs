//! The blocking client, on a netlink-sys socket. No runtime needed.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use crate::codec::{Ipvs, IpvsMessage};
use crate::engine::{Answer, Engine, Job, Limits};
use crate::model::{DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::core::{self, Counters, Driver, EntrySink, Stopped, now};
use super::netns::{Netns, within, within_netns};
use super::sys;
use super::transport::{self, Failure, RX_BUF};
use super::{BatchResult, Error, Operation, Result, ServiceEntry};

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
    pub(crate) netns: Netns,
    pub(crate) netns_fd: Option<OwnedFd>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) dump_attempts: u32,
    pub(crate) receive_size: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            netns: Netns::Current,
            netns_fd: None,
            timeout: Some(Duration::from_secs(30)),
            dump_attempts: 5,
            receive_size: RX_BUF,
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

    /// Give up when the kernel sends nothing for `timeout` (default 30 s;
    /// counted per datagram, so a long dump may take longer in all); `None`
    /// waits forever. The same for the blocking and the async clients.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// The most read from the socket at once (default 64 KiB; at least
    /// 4 KiB). Netlink sizes a dump's datagrams after the reader's buffer
    /// (up to 32 KiB), and the kernel allocates (and zeroes) each of them
    /// whole: many small dumps, such as every service's destinations one
    /// after another, cost the kernel less with 4 KiB; one big dump fewer
    /// rounds with the default. A reply larger than this is an error.
    ///
    /// ```no_run
    /// let small = ipvs::client::Client::builder().receive_size(4096).build()?;
    /// # Ok::<(), ipvs::client::Error>(())
    /// ```
    pub fn receive_size(mut self, bytes: usize) -> Self {
        self.receive_size = bytes.max(4096);
        self
    }

    /// How many times a dump interrupted by concurrent changes is retried
    /// before [`Error::DumpInterrupted`] (default 5).
    pub fn dump_attempts(mut self, attempts: u32) -> Self {
        self.dump_attempts = attempts.max(1);
        self
    }

    /// Open the socket and resolve the IPVS family.
    pub fn build(mut self) -> Result<Client> {
        let conn = self.connect(self.receive_size)?;
        if self.netns_fd.is_none() && self.netns == Netns::Current {
            // The second socket, opened later, must be in this namespace
            // even if the thread has moved by then.
            self.netns_fd = std::fs::File::open("/proc/thread-self/ns/net")
                .ok()
                .map(OwnedFd::from);
        }
        let client = Client {
            conn: Mutex::new(conn),
            small: OnceLock::new(),
            timeout: self.timeout,
            counters: Counters::default(),
            builder: self,
        };
        now(core::resolve(&client))?;
        Ok(client)
    }

    /// A socket and its engine, reading `receive_size` bytes at most.
    fn connect(&self, receive_size: usize) -> Result<Conn> {
        let (sock, engine) = self.open()?;
        sys::set_recv_timeout(sock.as_fd(), self.timeout)?;
        Ok(Conn {
            sock,
            engine,
            rx: Vec::with_capacity(receive_size),
        })
    }

    /// A bound and connected generic-netlink socket in the builder's
    /// namespace, configured, and an engine sized for its buffers.
    pub(crate) fn open(&self) -> Result<(Socket, Engine<Ipvs>)> {
        let open = || {
            let mut sock = Socket::new(NETLINK_GENERIC)?;
            sock.bind_auto()?;
            sock.connect(&SocketAddr::new(0, 0))?;
            Ok(sock)
        };
        let sock = match &self.netns_fd {
            Some(fd) => within(fd.as_fd(), open)?,
            None => within_netns(&self.netns, open)?,
        };
        let (rcvbuf, sndbuf) = sys::configure(&sock)?;
        let mut engine = Engine::new(Ipvs, Limits::from_buffers(rcvbuf, sndbuf));
        engine.set_dump_attempts(self.dump_attempts);
        Ok((sock, engine))
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
    conn: Mutex<Conn>,
    /// The socket of the many small dumps (each service's destinations),
    /// reading [`SMALL_RX`] at a time: opened at the first, in the same
    /// namespace (see [`Builder::receive_size`]).
    small: OnceLock<Option<Mutex<Conn>>>,
    timeout: Option<Duration>,
    counters: Counters,
    /// What opened the socket, to open the second one.
    builder: Builder,
}

/// What the socket of small dumps reads at once: the kernel then builds
/// each of their datagrams in an 8 KiB slab object instead of 32 KiB of
/// cleared pages.
const SMALL_RX: usize = 4096;

/// The socket and its engine, behind the client's mutex.
#[derive(Debug)]
struct Conn {
    sock: Socket,
    engine: Engine<Ipvs>,
    rx: Vec<u8>,
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

    /// Run `job` on the socket of `conn` to its answer.
    fn run_on(
        &self,
        conn: &Mutex<Conn>,
        job: Job<IpvsMessage>,
        sink: &mut EntrySink<'_>,
    ) -> std::result::Result<Answer<IpvsMessage>, Stopped> {
        // A panic while holding the lock leaves nothing half-done that the
        // next call cannot cope with: stale replies are skipped by sequence.
        let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = &mut *guard;
        conn.engine.start(job);
        let answer = transport::run_blocking(
            &mut conn.engine,
            &conn.sock,
            &mut conn.rx,
            self.timeout,
            &self.counters,
            sink,
        );
        finish(answer, conn.engine.family(), &self.counters)
    }

    /// The generic-netlink id the kernel gave the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.counters.family()
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
        self.counters.snapshot()
    }

    /// Apply one change.
    pub fn execute(&self, op: &Operation) -> Result<()> {
        now(core::execute(self, op))
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
        now(core::timeouts(self))
    }

    /// Version and connection table size.
    pub fn info(&self) -> Result<Info> {
        now(core::info(self))
    }

    /// The running sync daemons.
    pub fn daemons(&self) -> Result<Vec<SyncDaemon>> {
        now(core::daemons(self))
    }

    /// One service, with its stats.
    pub fn service(&self, key: &ServiceKey) -> Result<Service> {
        now(core::service(self, key))
    }

    /// Every service of the namespace, with stats.
    ///
    /// A dump that spans several datagrams is resumed by the kernel at an
    /// index into its service table, which on Linux 6.1 is shared by every
    /// namespace and reports no `NLM_F_DUMP_INTR`: a service added anywhere
    /// meanwhile can make one be listed twice, one deleted can make one be
    /// missed (undetectable). The repeats are dropped, so each service is
    /// listed once, and counted in [`IoCounters::duplicates_dropped`].
    pub fn services(&self) -> Result<Vec<Service>> {
        now(core::services(self))
    }

    /// The destinations of a service, with connection counts and stats (an
    /// unknown service has none). Resumed by index like the services' dump
    /// (see [`Client::services`]): repeats are dropped and counted.
    pub fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>> {
        now(core::destinations(self, key))
    }

    /// Every service into `out`, without their counters, any the dump
    /// listed twice kept: the caller drops them, and counts them with
    /// [`Client::dropped`]. See [`core::services_into`].
    pub(crate) fn services_into_with_repeats(&self, out: &mut Vec<Service>) -> Result<()> {
        now(core::services_into(self, out, false, core::Repeats::Keep))
    }

    /// Count `n` entries a dump listed twice, dropped by the caller.
    pub(crate) fn dropped(&self, n: usize) {
        self.counters.dropped(n);
    }

    /// The destinations of a service into `out`, without their counters.
    pub(crate) fn destinations_into(
        &self,
        key: &ServiceKey,
        out: &mut Vec<Destination>,
    ) -> Result<()> {
        now(core::destinations_into(self, key, out, false))
    }

    /// Every service with its destinations: one dump of the services, then
    /// one of each service's destinations (the kernel dumps destinations per
    /// service only).
    pub fn snapshot(&self) -> Result<Vec<ServiceEntry>> {
        now(core::snapshot(self))
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
        now(core::execute_batch(self, ops))
    }
}

impl Driver for Client {
    async fn run(
        &self,
        job: Job<IpvsMessage>,
    ) -> std::result::Result<Answer<IpvsMessage>, Stopped> {
        self.stream(job, &mut |_| Ok(())).await
    }

    async fn stream(
        &self,
        job: Job<IpvsMessage>,
        sink: &mut EntrySink<'_>,
    ) -> std::result::Result<Answer<IpvsMessage>, Stopped> {
        self.run_on(&self.conn, job, sink)
    }

    async fn stream_small(
        &self,
        job: Job<IpvsMessage>,
        sink: &mut EntrySink<'_>,
    ) -> std::result::Result<Answer<IpvsMessage>, Stopped> {
        // If the second socket cannot be opened, the first serves.
        let small = self.small.get_or_init(|| {
            let b = &self.builder;
            let known = b.netns_fd.is_some() || b.netns != Netns::Current;
            known
                .then(|| b.connect(SMALL_RX).ok().map(Mutex::new))
                .flatten()
        });
        let Some(small) = small else {
            return self.stream(job, sink).await;
        };
        self.run_on(small, job, sink)
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    async fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A transport's result as a driver's.
pub(crate) fn finish(
    answer: std::result::Result<Answer<IpvsMessage>, transport::Stop<Ipvs>>,
    family: u16,
    counters: &Counters,
) -> std::result::Result<Answer<IpvsMessage>, Stopped> {
    match answer {
        Ok(answer) => {
            counters.answered(&answer, family);
            Ok(answer)
        }
        Err((failure, settled)) => Err(Stopped {
            error: match failure {
                Failure::Io(e) => Error::Io(e),
                Failure::Timeout(t) => Error::Timeout(t),
                Failure::Truncated(n) => Error::Decode(
                    format!("a {n}-byte datagram did not fit the receive buffer").into(),
                ),
                Failure::Engine(e) => core::engine_error(e),
            },
            settled,
        }),
    }
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
    /// Dumped entries the kernel listed twice in one dump, dropped (see
    /// [`Client::services`]).
    pub duplicates_dropped: u64,
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
