//! Moving an engine's datagrams over a socket: the only loops that do I/O.
//! One blocking, one async (any runtime's netlink-sys socket); both are
//! the same three steps: write what the engine has, read a datagram into
//! it, until it has the answer.

use std::io;
use std::time::Duration;

use netlink_sys::Socket;

use crate::engine::{Answer, Engine, Protocol};

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
) -> Result<Answer<P::Reply>, Stop<P>> {
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
        rx.clear();
        rx.reserve(RX_BUF);
        counters.received();
        match sock.recv(rx, libc::MSG_TRUNC) {
            Ok(n) if n > rx.len() => return Err((Failure::Truncated(n), engine.abort())),
            Ok(_) => engine.handle_datagram(rx),
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
        rx.reserve(RX_BUF);
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
            Ok(()) => engine.handle_datagram(rx),
            Err(e) => return Err((Failure::Io(e), engine.abort())),
        }
    }
}
