//! The cluster's netlink sockets (rtnetlink, the `fou` family) on the
//! crate's one request engine, over the same blocking transport as the
//! IPVS [`Client`](crate::client::Client).

use std::os::fd::AsFd;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};

use crate::client::core::Counters;
use crate::client::sys;
use crate::client::transport::{self, Failure, RX_BUF};
use crate::engine::{Engine, Job, Limits, Protocol, Results};

use super::Error;

/// How long a reply may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking socket of `protocol` and its engine.
pub(crate) struct Conn<P: Protocol> {
    sock: Socket,
    engine: Engine<P>,
    rx: Vec<u8>,
    counters: Counters,
}

impl<P: Protocol> std::fmt::Debug for Conn<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("engine", &self.engine)
            .finish()
    }
}

impl<P: Protocol> Conn<P> {
    /// Open a socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_GENERIC`) in
    /// the calling thread's namespace; the kernel gives reasons for its
    /// refusals (extended ACKs).
    pub fn open(protocol: isize, proto: P, what: &'static str) -> Result<Self, Error> {
        let io = |e| Error::io(what, e);
        let mut sock = Socket::new(protocol).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Best effort: the kernel then says why it refused.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        sys::set_recv_timeout(sock.as_fd(), Some(TIMEOUT)).map_err(io)?;
        Ok(Conn {
            sock,
            engine: Engine::new(proto, Limits::default()),
            rx: Vec::with_capacity(RX_BUF),
            counters: Counters::default(),
        })
    }

    /// Run `job`: one result per request (one for a dump).
    pub fn run(
        &mut self,
        job: Job<P::Request>,
        what: &'static str,
    ) -> Result<Results<P::Reply>, Error> {
        self.engine.start(job);
        let answer = transport::run_blocking(
            &mut self.engine,
            &self.sock,
            &mut self.rx,
            Some(TIMEOUT),
            &self.counters,
            &mut |_| Ok(()),
        );
        match answer {
            Ok(answer) => Ok(answer.results),
            Err((failure, _)) => Err(match failure {
                Failure::Io(e) => Error::io(what, e),
                Failure::Timeout(t) => Error::io(
                    what,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no reply within {t:?}"),
                    ),
                ),
                Failure::Truncated(n) => {
                    Error::Decode(format!("{what}: a {n}-byte datagram was cut"))
                }
                Failure::Engine(crate::engine::Error::FamilyNotFound(name)) => Error::Netlink {
                    operation: what,
                    errno: libc::ENOENT,
                    message: Some(format!("no generic netlink family {name:?}")),
                },
                Failure::Engine(e) => Error::Decode(format!("{what}: {e}")),
            }),
        }
    }

    /// One request (or dump): its replies, or the refusal as [`Error::Netlink`].
    pub fn request(
        &mut self,
        request: P::Request,
        dump: bool,
        what: &'static str,
    ) -> Result<Vec<P::Reply>, Error> {
        let job = if dump {
            Job::Dump(request)
        } else {
            Job::Requests(vec![request])
        };
        let result = self
            .run(job, what)?
            .into_iter()
            .next()
            .unwrap_or(Ok(Vec::new()));
        result.map_err(|e| Error::Netlink {
            operation: what,
            errno: e.errno,
            message: e.message,
        })
    }
}
