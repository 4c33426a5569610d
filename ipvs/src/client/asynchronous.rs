//! The async client, on netlink-proto and tokio (feature `tokio`).

use std::os::fd::IntoRawFd;
use std::time::Duration;

use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_generic::{GenlHeader, GenlMessage};
use netlink_proto::{ConnectionHandle, NetlinkCodec};
use netlink_sys::{Socket, SocketAddr, TokioSocket, protocols::NETLINK_GENERIC};

use crate::codec::{FAMILY_VERSION, IpvsMessage, KernelError, RequestKind, parse_error};
use crate::model::{DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

use super::blocking::{batch_limits, chunk_end, configure};
use super::netns::within_netns;
use super::operation::{self, Request};
use super::{BatchResult, Client, Error, Netns, Operation, Result, ServiceEntry};

type Message = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// An async IPVS client on a netlink-proto connection, driven by a task
/// spawned on the current tokio runtime.
///
/// The same operations, validation and errors as the blocking
/// [`Client`]. It is `Clone`, `Send` and `Sync`: clones share one
/// connection, and concurrent requests are pipelined on it.
///
/// ```no_run
/// # async fn demo() -> Result<(), ipvs::client::Error> {
/// use ipvs::client::AsyncClient;
/// let client = AsyncClient::new().await?;
/// for service in client.services().await? {
///     println!("{}", service.key);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncClient {
    handle: ConnectionHandle<GenlMessage<IpvsMessage>>,
    family: u16,
    timeout: Option<Duration>,
    batch_ops: usize,
    batch_bytes: usize,
    dump_attempts: u32,
}

impl AsyncClient {
    /// A client in the caller's network namespace.
    pub async fn new() -> Result<Self> {
        Self::with_netns(Netns::Current, Some(Duration::from_secs(30))).await
    }

    /// A client in the namespace `ns`, giving up on replies after `timeout`.
    pub async fn with_netns(ns: Netns, timeout: Option<Duration>) -> Result<Self> {
        // The family id is global; resolve it with a short-lived blocking
        // client off the runtime's threads.
        let ns2 = ns.clone();
        let family = tokio::task::spawn_blocking(move || {
            Client::builder()
                .netns(ns2)
                .timeout(timeout)
                .build()
                .map(|c| c.family_id())
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        let sock = within_netns(&ns, || {
            let mut sock = Socket::new(NETLINK_GENERIC)?;
            sock.bind_auto()?;
            Ok(sock)
        })?;
        let (rcvbuf, sndbuf) = configure(&sock)?;
        sock.set_non_blocking(true)?;
        // SAFETY: the descriptor comes from `into_raw_fd`, so it is open and
        // owned by nothing else; TokioSocket takes ownership of it.
        let sock =
            unsafe { <TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(sock.into_raw_fd()) };
        let (mut conn, handle, _unsolicited) =
            netlink_proto::from_socket_with_codec::<_, _, NetlinkCodec>(sock);
        conn.set_forward_ack(true);
        tokio::spawn(conn);
        let (batch_ops, batch_bytes) = batch_limits(rcvbuf, sndbuf);
        Ok(AsyncClient {
            handle,
            family,
            timeout,
            batch_ops,
            batch_bytes,
            dump_attempts: 5,
        })
    }

    /// The generic-netlink id the kernel gave the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    fn message(&self, req: &Request) -> Message {
        let genl = GenlMessage::new(
            GenlHeader {
                cmd: req.msg.command.0,
                version: FAMILY_VERSION,
            },
            req.msg.clone(),
            self.family,
        );
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST
            | match req.kind {
                RequestKind::Dump => NLM_F_DUMP,
                _ => NLM_F_ACK,
            };
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
        msg.finalize();
        msg
    }

    /// Send `requests` as one write; every one is acknowledged. Returns, in
    /// order, the IPVS replies, whether a dump was interrupted, and one
    /// outcome per request.
    async fn exchange(&self, requests: &[Request]) -> Result<Exchanged> {
        let messages: Vec<Message> = requests.iter().map(|r| self.message(r)).collect();
        let mut stream = self
            .handle
            .request_batch(messages, SocketAddr::new(0, 0))
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let mut out = Exchanged::default();
        let read = async {
            while let Some(msg) = stream.next().await {
                out.interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
                match msg.payload {
                    NetlinkPayload::InnerMessage(genl) => out.replies.push(genl.payload),
                    NetlinkPayload::Error(e) => {
                        let mut payload = e.raw_code().to_ne_bytes().to_vec();
                        payload.extend_from_slice(&e.header);
                        out.outcomes.push(parse_error(msg.header.flags, &payload)?);
                    }
                    NetlinkPayload::Done(d) if d.code != 0 => {
                        out.outcomes.push(Some(KernelError {
                            errno: d.code.abs(),
                            message: None,
                            offset: None,
                            missing_type: None,
                        }))
                    }
                    _ => {}
                }
            }
            Ok::<_, Error>(())
        };
        match self.timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| Error::Timeout(t))??,
            None => read.await?,
        }
        Ok(out)
    }

    /// Apply one change.
    pub async fn execute(&self, op: &Operation) -> Result<()> {
        let req = op.request()?;
        let out = self.exchange(std::slice::from_ref(&req)).await?;
        match out.outcomes.into_iter().flatten().next() {
            Some(e) => Err(op.error(e)),
            None => Ok(()),
        }
    }

    async fn read(&self, req: Request, key: Option<&ServiceKey>) -> Result<Vec<IpvsMessage>> {
        for _ in 0..self.dump_attempts {
            let out = self.exchange(std::slice::from_ref(&req)).await?;
            if let Some(e) = out.outcomes.into_iter().flatten().next() {
                return Err(operation::read_error(req.msg.command, key, e));
            }
            if !out.interrupted {
                return Ok(out.replies);
            }
        }
        Err(Error::DumpInterrupted {
            attempts: self.dump_attempts,
        })
    }

    /// Apply many changes, many per write; see [`Client::execute_batch`].
    pub async fn execute_batch(&self, ops: &[Operation]) -> Result<BatchResult> {
        let requests = operation::batch_requests(ops)?;
        let mut results = Vec::with_capacity(ops.len());
        let mut start = 0;
        while start < requests.len() {
            let end = chunk_end(&requests, start, self.batch_ops, self.batch_bytes);
            let out = match self.exchange(&requests[start..end]).await {
                Ok(out) => out,
                Err(e) => {
                    let reason = e.to_string();
                    results.push(Err(e));
                    results.extend((start + 1..ops.len()).map(|_| {
                        Err(Error::NotAttempted {
                            reason: reason.clone(),
                        })
                    }));
                    return Ok(BatchResult { results });
                }
            };
            for (op, outcome) in ops[start..end].iter().zip(out.outcomes) {
                results.push(match outcome {
                    None => Ok(()),
                    Some(e) => Err(op.error(e)),
                });
            }
            start = end;
        }
        Ok(BatchResult { results })
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
        let replies = self
            .read(Request::ack(IpvsMessage::get_config()), None)
            .await?;
        operation::timeouts(&replies)
    }

    /// Version and connection table size.
    pub async fn info(&self) -> Result<Info> {
        let replies = self
            .read(Request::ack(IpvsMessage::get_info()), None)
            .await?;
        operation::info(&replies)
    }

    /// The running sync daemons.
    pub async fn daemons(&self) -> Result<Vec<SyncDaemon>> {
        let replies = self
            .read(Request::dump(IpvsMessage::get_daemons()), None)
            .await?;
        operation::daemons(&replies)
    }

    /// One service, with its stats.
    pub async fn service(&self, key: &ServiceKey) -> Result<Service> {
        key.validate()?;
        let replies = self
            .read(Request::ack(IpvsMessage::get_service(key)), Some(key))
            .await?;
        operation::services(&replies)?
            .into_iter()
            .next()
            .ok_or(Error::ServiceNotFound { service: *key })
    }

    /// Every service of the namespace, with stats.
    pub async fn services(&self) -> Result<Vec<Service>> {
        let replies = self
            .read(Request::dump(IpvsMessage::get_services()), None)
            .await?;
        operation::services(&replies)
    }

    /// The destinations of a service.
    pub async fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>> {
        key.validate()?;
        let replies = self
            .read(Request::dump(IpvsMessage::get_dests(key)), Some(key))
            .await?;
        operation::destinations(&replies, key.family())
    }

    /// Every service with its destinations (one dump per service, as the
    /// kernel allows only one dump at a time per socket).
    pub async fn snapshot(&self) -> Result<Vec<ServiceEntry>> {
        let services = self.services().await?;
        let mut entries = Vec::with_capacity(services.len());
        for service in services {
            let destinations = self.destinations(&service.key).await?;
            entries.push(ServiceEntry {
                service,
                destinations,
            });
        }
        Ok(entries)
    }
}

/// What one write brought back.
#[derive(Default)]
struct Exchanged {
    replies: Vec<IpvsMessage>,
    interrupted: bool,
    /// One per acknowledged request: `None` for success.
    outcomes: Vec<Option<KernelError>>,
}
