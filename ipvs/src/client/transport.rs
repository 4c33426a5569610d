//! Moving an engine's datagrams over a socket: the only loops that do I/O.
//! One blocking, one async (any runtime's netlink-sys socket); both are
//! the same three steps: write what the engine has, read a datagram into
//! it, until it has the answer.

use std::io;
use std::time::Duration;

use netlink_sys::Socket;

use crate::engine::{Answer, Engine, Protocol, Sink};

use super::core::Counters;

/// Receive buffer for one datagram: dumps come in skbs of at most 32 KiB.
pub(crate) const RX_BUF: usize = 64 * 1024;

/// Why a job stopped before its answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The socket failed.
    Io(io::Error),
    /// No datagram within the timeout.
    Timeout(Duration),
    /// A datagram filled the receive buffer: it may have been cut.
    Truncated(usize),
    /// The engine gave up (see [`crate::engine::Error`]).
    Engine(crate::engine::Error),
}

/// A job that stopped, with the results of the requests answered before.
pub(crate) type Stop<P> = (
    Failure,
    Vec<Result<Vec<<P as Protocol>::Reply>, crate::engine::KernelError>>,
);

/// Run the engine's current job over a blocking socket (whose receive
/// timeout is `timeout`, set with `SO_RCVTIMEO`).
pub(crate) fn run_blocking<P: Protocol>(
    engine: &mut Engine<P>,
    sock: &Socket,
    rx: &mut Vec<u8>,
    timeout: Option<Duration>,
    counters: &Counters,
    sink: &mut Sink<'_>,
) -> Result<Answer<P::Reply>, Stop<P>> {
    if rx.capacity() == 0 {
        rx.reserve_exact(RX_BUF);
    }
    loop {
        if let Some(datagram) = engine.poll_transmit() {
            counters.sent();
            if let Err(e) = sock.send(datagram, 0) {
                return Err((Failure::Io(e), engine.abort()));
            }
        }
        if let Some(answer) = engine.poll_answer() {
            return answer.map_err(|e| (Failure::Engine(e), Vec::new()));
        }
        // The buffer's capacity is the most read at once, and netlink sizes
        // a dump's datagrams after it (see `Builder::receive_size`).
        rx.clear();
        counters.received();
        match sock.recv(rx, libc::MSG_TRUNC) {
            Ok(n) if n > rx.len() => return Err((Failure::Truncated(n), engine.abort())),
            Ok(_) => engine.handle_datagram_with(rx, sink),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err((
                    Failure::Timeout(timeout.unwrap_or_default()),
                    engine.abort(),
                ));
            }
            Err(e) => return Err((Failure::Io(e), engine.abort())),
        }
    }
}

/// Run the engine's current job over an async socket, giving up when no
/// datagram comes within `timeout` (`sleep` makes the runtime's timer).
#[cfg(any(feature = "tokio", feature = "smol"))]
pub(crate) async fn run_async<P, S, F>(
    engine: &mut Engine<P>,
    sock: &S,
    rx: &mut Vec<u8>,
    timeout: Option<Duration>,
    counters: &Counters,
    sleep: impl Fn(Duration) -> F,
    sink: &mut super::core::EntrySink<'_>,
) -> Result<Answer<P::Reply>, Stop<P>>
where
    P: Protocol,
    S: netlink_sys::AsyncSocket,
    F: std::future::Future<Output = ()>,
{
    use futures::future::{Either, select};
    use netlink_sys::AsyncSocketExt;
    use std::pin::pin;
    loop {
        if let Some(datagram) = engine.poll_transmit() {
            counters.sent();
            if let Err(e) = sock.send(datagram).await {
                return Err((Failure::Io(e), engine.abort()));
            }
        }
        if let Some(answer) = engine.poll_answer() {
            return answer.map_err(|e| (Failure::Engine(e), Vec::new()));
        }
        rx.clear();
        if rx.capacity() == 0 {
            rx.reserve_exact(RX_BUF);
        }
        counters.received();
        let capacity = rx.capacity();
        let received = match timeout {
            None => sock.recv(rx).await,
            Some(t) => match select(pin!(sock.recv(rx)), pin!(sleep(t))).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Err((Failure::Timeout(t), engine.abort())),
            },
        };
        match received {
            // netlink-sys reads without MSG_TRUNC: a full buffer may be a cut datagram.
            Ok(()) if rx.len() >= capacity => {
                return Err((Failure::Truncated(rx.len()), engine.abort()));
            }
            Ok(()) => engine.handle_datagram_with(rx, sink),
            Err(e) => return Err((Failure::Io(e), engine.abort())),
        }
    }
}

/// The transports over a real netlink socket on any Linux host, IPVS or
/// not: nlctrl (the generic-netlink family that lists the others) driven
/// as a protocol of its own.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{GENL_HDRLEN, Job, Limits, emit_genl_header};
    use netlink_packet_core::{DecodeError, NlasIterator};
    #[cfg(any(feature = "tokio", feature = "smol"))]
    use netlink_sys::AsyncSocket;
    use netlink_sys::protocols::NETLINK_GENERIC;

    /// nlctrl: `GETFAMILY`, answered by each family's name.
    struct Ctrl;

    impl Protocol for Ctrl {
        type Request = ();
        type Reply = String;
        type Key = String;
        fn family_name(&self) -> Option<&str> {
            Some("nlctrl")
        }
        fn message_type(&self, _: &(), family: u16) -> u16 {
            family
        }
        fn payload_len(&self, _: &()) -> usize {
            GENL_HDRLEN
        }
        fn emit_payload(&self, _: &(), buf: &mut [u8]) {
            emit_genl_header(buf, 3, 1); // CTRL_CMD_GETFAMILY
        }
        fn decode(&self, t: u16, family: u16, p: &[u8]) -> Result<Option<String>, DecodeError> {
            if t != family {
                return Ok(None);
            }
            for nla in NlasIterator::new(&p[GENL_HDRLEN..]) {
                let nla = nla?;
                if nla.kind() == 2 {
                    let name = nla.value().split(|b| *b == 0).next().unwrap_or_default();
                    return Ok(Some(String::from_utf8_lossy(name).into_owned()));
                }
            }
            Ok(None)
        }
        fn dump_key(&self, name: &String) -> Option<String> {
            Some(name.clone())
        }
    }

    fn socket() -> Socket {
        let mut sock = Socket::new(NETLINK_GENERIC).unwrap();
        sock.bind_auto().unwrap();
        sock.connect(&netlink_sys::SocketAddr::new(0, 0)).unwrap();
        sock.set_ext_ack(true).unwrap();
        sock
    }

    fn check(families: &[String]) {
        assert!(families.iter().any(|f| f == "nlctrl"), "{families:?}");
    }

    #[test]
    fn the_blocking_transport_resolves_dumps_and_ends_requests_with_the_noop() {
        let sock = socket();
        crate::client::sys::set_recv_timeout(
            std::os::fd::AsFd::as_fd(&sock),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        let counters = Counters::default();
        let mut rx = Vec::new();
        let mut engine = Engine::new(Ctrl, Limits::default());
        let timeout = Some(Duration::from_secs(5));
        engine.start(Job::Dump(()));
        let answer = run_blocking(&mut engine, &sock, &mut rx, timeout, &counters, &mut |_| {
            Ok(())
        })
        .unwrap();
        assert_eq!(engine.family(), 0x10, "nlctrl's own id");
        check(answer.results[0].as_ref().unwrap());
        assert_eq!(answer.duplicates, 0);
        // Three requests in one write (a GETFAMILY that names no family is
        // refused), each refusal read, and the no-op's ACK ending the write.
        let before = counters.snapshot();
        engine.start(Job::Requests(vec![(), (), ()]));
        let answer = run_blocking(&mut engine, &sock, &mut rx, timeout, &counters, &mut |_| {
            Ok(())
        })
        .unwrap();
        assert_eq!(answer.results.len(), 3);
        assert_eq!(counters.snapshot().sends - before.sends, 1);
        for r in &answer.results {
            assert_eq!(r.as_ref().map_err(|e| e.errno), Err(libc::EINVAL));
        }
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn the_async_transport_runs_on_tokio() {
        let sock =
            <netlink_sys::TokioSocket as crate::client::Runtime>::opener().unwrap()().unwrap();
        let mut sock = sock;
        sock.socket_mut().bind_auto().unwrap();
        sock.socket_mut()
            .connect(&netlink_sys::SocketAddr::new(0, 0))
            .unwrap();
        let mut engine = Engine::new(Ctrl, Limits::default());
        engine.start(Job::Dump(()));
        let answer = run_async(
            &mut engine,
            &sock,
            &mut Vec::new(),
            Some(Duration::from_secs(5)),
            &Counters::default(),
            tokio::time::sleep,
            &mut |_| Ok(()),
        )
        .await
        .unwrap();
        check(answer.results[0].as_ref().unwrap());
    }

    #[cfg(feature = "smol")]
    #[test]
    fn the_async_transport_runs_on_smol() {
        smol::block_on(async {
            let mut sock =
                <netlink_sys::SmolSocket as crate::client::Runtime>::opener().unwrap()().unwrap();
            sock.socket_mut().bind_auto().unwrap();
            sock.socket_mut()
                .connect(&netlink_sys::SocketAddr::new(0, 0))
                .unwrap();
            let mut engine = Engine::new(Ctrl, Limits::default());
            engine.start(Job::Dump(()));
            let sleep = |d| async move {
                async_io::Timer::after(d).await;
            };
            let answer = run_async(
                &mut engine,
                &sock,
                &mut Vec::new(),
                Some(Duration::from_secs(5)),
                &Counters::default(),
                sleep,
                &mut |_| Ok(()),
            )
            .await
            .unwrap();
            check(answer.results[0].as_ref().unwrap());
        });
    }

    #[cfg(feature = "smol")]
    #[test]
    fn an_async_receive_times_out() {
        // A request that is never written (its datagram taken and
        // dropped): the wait for its answer ends at the timeout.
        smol::block_on(async {
            let mut sock =
                <netlink_sys::SmolSocket as crate::client::Runtime>::opener().unwrap()().unwrap();
            sock.socket_mut().bind_auto().unwrap();
            let counters = Counters::default();
            let mut engine = Engine::new(Ctrl, Limits::default());
            engine.start(Job::Resolve);
            let sleep = |d| async move {
                async_io::Timer::after(d).await;
            };
            let mut rx = Vec::new();
            let t = Some(Duration::from_millis(200));
            run_async(
                &mut engine,
                &sock,
                &mut rx,
                t,
                &counters,
                sleep,
                &mut |_| Ok(()),
            )
            .await
            .unwrap();
            engine.start(Job::Requests(vec![()]));
            assert!(engine.poll_transmit().is_some());
            let stopped = run_async(
                &mut engine,
                &sock,
                &mut rx,
                t,
                &counters,
                sleep,
                &mut |_| Ok(()),
            )
            .await;
            assert!(matches!(stopped, Err((Failure::Timeout(_), _))));
        });
    }
}
