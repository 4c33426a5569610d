//! The async client: the same engine and calls as the blocking one, over a
//! runtime's netlink-sys socket (tokio with feature `tokio`, smol with
//! feature `smol`).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::lock::Mutex;
use netlink_sys::{AsyncSocket, SocketAddr, protocols::NETLINK_GENERIC};

use crate::codec::{Ipvs, IpvsMessage};
use crate::engine::{Answer, Engine, Job};
use crate::model::{DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::blocking::finish;
use super::core::{self, Counters, Driver, EntrySink, Stopped};
use super::netns::{within, within_netns};
use super::sys;
use super::transport;
use super::{BatchResult, Builder, IoCounters, Netns, Operation, Result, ServiceEntry};

/// An async runtime's netlink socket, which [`AsyncClient`] runs on:
/// [`netlink_sys::TokioSocket`] (feature `tokio`) or
/// [`netlink_sys::SmolSocket`] (feature `smol`).
pub trait Runtime: AsyncSocket + Send + Sync + 'static {
    /// Something that opens a generic-netlink socket on any thread (the
    /// client opens it on a thread that entered the wanted namespace).
    fn opener() -> io::Result<impl FnOnce() -> io::Result<Self> + Send>;

    /// The runtime's timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
}

#[cfg(feature = "tokio")]
impl Runtime for netlink_sys::TokioSocket {
    fn opener() -> io::Result<impl FnOnce() -> io::Result<Self> + Send> {
        // Registering with tokio's reactor needs its context on that thread.
        let handle = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        Ok(move || {
            let _runtime = handle.enter();
            <Self as AsyncSocket>::new(NETLINK_GENERIC)
        })
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

#[cfg(feature = "smol")]
impl Runtime for netlink_sys::SmolSocket {
    fn opener() -> io::Result<impl FnOnce() -> io::Result<Self> + Send> {
        Ok(|| <Self as AsyncSocket>::new(NETLINK_GENERIC))
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }
}

#[cfg(feature = "tokio")]
type DefaultSocket = netlink_sys::TokioSocket;
#[cfg(all(feature = "smol", not(feature = "tokio")))]
type DefaultSocket = netlink_sys::SmolSocket;

/// The async client on tokio.
#[cfg(feature = "tokio")]
pub type TokioClient = AsyncClient<netlink_sys::TokioSocket>;
/// The async client on smol.
#[cfg(feature = "smol")]
pub type SmolClient = AsyncClient<netlink_sys::SmolSocket>;

/// An async IPVS client: the same operations, validation, errors,
/// batching and kernel quirks as the blocking [`Client`](super::Client)
/// (both drive one [`Engine`]), on tokio ([`TokioClient`], the default) or
/// smol ([`SmolClient`]).
///
/// It is `Clone`, `Send` and `Sync`: clones share one socket, and their
/// calls take turns on it (the kernel runs one dump at a time per socket).
///
/// ```no_run
/// # async fn demo() -> Result<(), ipvs::client::Error> {
/// use ipvs::client::TokioClient;
/// let client = TokioClient::new().await?;
/// for service in client.services().await? {
///     println!("{}", service.key);
/// }
/// # Ok(()) }
/// ```
pub struct AsyncClient<S: Runtime = DefaultSocket> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    conn: Mutex<Conn<S>>,
    timeout: Option<Duration>,
    counters: Counters,
}

struct Conn<S> {
    sock: S,
    engine: Engine<Ipvs>,
    rx: Vec<u8>,
}

impl<S: Runtime> Clone for AsyncClient<S> {
    fn clone(&self) -> Self {
        AsyncClient {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Runtime> fmt::Debug for AsyncClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("family", &self.family_id())
            .field("timeout", &self.shared.timeout)
            .field("io", &self.io_counters())
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Open an async client with these settings, on the runtime of `S`
    /// (`TokioSocket` or `SmolSocket`; call it from that runtime).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use ipvs::client::{Client, Netns, TokioClient};
    /// let client: TokioClient = Client::builder()
    ///     .netns(Netns::named("lb")?)
    ///     .dump_attempts(10)
    ///     .build_async()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn build_async<S: Runtime>(self) -> Result<AsyncClient<S>> {
        let open = S::opener()?;
        let open = move || {
            let mut sock = open()?;
            sock.socket_mut().bind_auto()?;
            sock.socket_mut().connect(&SocketAddr::new(0, 0))?;
            Ok(sock)
        };
        let sock = match &self.netns_fd {
            Some(fd) => within(std::os::fd::AsFd::as_fd(fd), open)?,
            None => within_netns(&self.netns, open)?,
        };
        let (rcvbuf, sndbuf) = sys::configure(sock.socket_ref())?;
        let mut engine = Engine::new(Ipvs, crate::engine::Limits::from_buffers(rcvbuf, sndbuf));
        engine.set_dump_attempts(self.dump_attempts);
        let client = AsyncClient {
            shared: Arc::new(Shared {
                conn: Mutex::new(Conn {
                    sock,
                    engine,
                    rx: Vec::with_capacity(self.receive_size),
                }),
                timeout: self.timeout,
                counters: Counters::default(),
            }),
        };
        core::resolve(&client).await?;
        Ok(client)
    }
}

impl<S: Runtime> Driver for AsyncClient<S> {
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
        let shared = &*self.shared;
        let mut conn = shared.conn.lock().await;
        let conn = &mut *conn;
        // A call abandoned midway (its future dropped) left its job in the
        // engine: starting this one abandons it, and its late replies are
        // skipped by sequence number.
        conn.engine.start(job);
        let answer = transport::run_async(
            &mut conn.engine,
            &conn.sock,
            &mut conn.rx,
            shared.timeout,
            &shared.counters,
            S::sleep,
            sink,
        )
        .await;
        finish(answer, conn.engine.family(), &shared.counters)
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    async fn sleep(&self, duration: Duration) {
        S::sleep(duration).await
    }
}

impl<S: Runtime> AsyncClient<S> {
    /// A client in the caller's network namespace, with default settings.
    pub async fn new() -> Result<Self> {
        Builder::default().build_async().await
    }

    /// A client in the namespace `ns`, giving up on a reply after `timeout`.
    pub async fn with_netns(ns: Netns, timeout: Option<Duration>) -> Result<Self> {
        Builder::default()
            .netns(ns)
            .timeout(timeout)
            .build_async()
            .await
    }

    /// Settings for a client: namespace, timeout, dump retries
    /// ([`Builder::build_async`]).
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The generic-netlink id the kernel gave the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.shared.counters.family()
    }

    /// The datagrams this client (and its clones) have written and read.
    pub fn io_counters(&self) -> IoCounters {
        self.shared.counters.snapshot()
    }

    /// Apply one change.
    pub async fn execute(&self, op: &Operation) -> Result<()> {
        core::execute(self, op).await
    }

    /// Apply many changes, many per write; see [`Client::execute_batch`](super::Client::execute_batch).
    pub async fn execute_batch(&self, ops: &[Operation]) -> Result<BatchResult> {
        core::execute_batch(self, ops).await
    }

    /// Add a service.
    pub async fn add_service(&self, service: &Service) -> Result<()> {
        self.execute(&Operation::AddService(service.clone())).await
    }

    /// Change a service's settings in place.
    pub async fn update_service(&self, service: &Service) -> Result<()> {
        self.execute(&Operation::UpdateService(service.clone()))
            .await
    }

    /// Delete a service and its destinations.
    pub async fn delete_service(&self, key: &ServiceKey) -> Result<()> {
        self.execute(&Operation::DeleteService(*key)).await
    }

    /// Add a destination to a service.
    pub async fn add_destination(&self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Operation::AddDestination(*key, dest.clone()))
            .await
    }

    /// Change a destination's settings in place.
    pub async fn update_destination(&self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Operation::UpdateDestination(*key, dest.clone()))
            .await
    }

    /// Remove a destination from a service.
    pub async fn delete_destination(
        &self,
        key: &ServiceKey,
        addr: std::net::SocketAddr,
    ) -> Result<()> {
        self.execute(&Operation::DeleteDestination(*key, addr))
            .await
    }

    /// Delete every service.
    pub async fn flush(&self) -> Result<()> {
        self.execute(&Operation::Flush).await
    }

    /// Zero the counters of one service, or of all with `None`.
    pub async fn zero(&self, key: Option<&ServiceKey>) -> Result<()> {
        self.execute(&Operation::Zero(key.copied())).await
    }

    /// Set the timeouts that are non-zero.
    pub async fn set_timeouts(&self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Operation::SetTimeouts(*timeouts)).await
    }

    /// Start a connection-sync daemon.
    pub async fn start_daemon(&self, daemon: &SyncDaemon) -> Result<()> {
        self.execute(&Operation::StartDaemon(daemon.clone())).await
    }

    /// Stop the connection-sync daemon in `state`.
    pub async fn stop_daemon(&self, state: DaemonState) -> Result<()> {
        self.execute(&Operation::StopDaemon(state)).await
    }

    /// The timeouts.
    pub async fn timeouts(&self) -> Result<Timeouts> {
        core::timeouts(self).await
    }

    /// Version and connection table size.
    pub async fn info(&self) -> Result<Info> {
        core::info(self).await
    }

    /// The running sync daemons.
    pub async fn daemons(&self) -> Result<Vec<SyncDaemon>> {
        core::daemons(self).await
    }

    /// One service, with its stats.
    pub async fn service(&self, key: &ServiceKey) -> Result<Service> {
        core::service(self, key).await
    }

    /// Every service of the namespace, with stats; entries the kernel
    /// listed twice are dropped and counted (see [`Client::services`](super::Client::services)).
    pub async fn services(&self) -> Result<Vec<Service>> {
        core::services(self).await
    }

    /// The destinations of a service (repeats dropped and counted).
    pub async fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>> {
        core::destinations(self, key).await
    }

    /// Every service with its destinations (one dump per service, as the
    /// kernel allows only one dump at a time per socket).
    pub async fn snapshot(&self) -> Result<Vec<ServiceEntry>> {
        core::snapshot(self).await
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;
    use crate::state::{ApplyOptions, Plan, Reconciler, State};

    fn send<T: Send>(_: &T) {}

    /// Checked at compile time: what the client's calls return can be
    /// spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    async fn futures_are_send(c: &TokioClient, plan: &Plan, state: &State, r: &mut Reconciler) {
        send(c);
        send(&c.services());
        send(&c.execute_batch(&[]));
        send(&State::read_async(c));
        send(&plan.apply_async(c, state, &ApplyOptions::default()));
        send(&r.step_async(c, state, &ApplyOptions::default()));
    }

    #[test]
    fn the_client_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<TokioClient>();
    }
}
