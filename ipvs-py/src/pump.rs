//! A run that lives on its own tokio runtime (a health run, a failover
//! run) and the events Python reads from it: waits without the GIL, in
//! slices so that Ctrl-C is seen, bounded; a stop bounded in time, then the
//! runtime's threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::{broadcast, watch};

use crate::health::{SLICE, lock, seconds};

/// The runtime, the event stream and whether the run has ended.
pub(crate) struct Pump<E> {
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    events: Mutex<broadcast::Receiver<E>>,
    /// `true` once the run has ended (None: it ends when the stream closes).
    done: Option<watch::Receiver<bool>>,
    missed: AtomicU64,
}

/// What one wait found.
enum Got<E> {
    Event(E),
    Ended,
    Nothing,
}

impl<E: Clone + Send> Pump<E> {
    /// Events of `events`, on `rt`; the run has ended when `done` says so.
    pub(crate) fn new(
        rt: tokio::runtime::Runtime,
        events: broadcast::Receiver<E>,
        done: Option<watch::Receiver<bool>>,
    ) -> Self {
        Pump {
            handle: rt.handle().clone(),
            rt: Mutex::new(Some(rt)),
            events: Mutex::new(events),
            done,
            missed: AtomicU64::new(0),
        }
    }

    /// The runtime (usable until [`Pump::shut_down`]).
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Whether the run has ended by itself.
    pub(crate) fn finished(&self) -> bool {
        self.done.as_ref().is_some_and(|d| *d.borrow())
    }

    /// Whether [`Pump::shut_down`] has run.
    pub(crate) fn is_shut_down(&self) -> bool {
        lock(&self.rt).is_none()
    }

    /// Events a slow reader missed.
    pub(crate) fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    /// The next event within `timeout` seconds (None: wait as long as the
    /// run runs); None if none came, or the run ended with none left.
    pub(crate) fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<E>> {
        let mut left = timeout.map(|t| seconds("timeout", t)).transpose()?;
        loop {
            let wait = left.map_or(SLICE, |l| l.min(SLICE));
            match py.detach(|| self.within(wait)) {
                Got::Event(e) => return Ok(Some(e)),
                Got::Ended => return Ok(None),
                Got::Nothing => {}
            }
            py.check_signals()?;
            if let Some(l) = &mut left {
                *l = l.saturating_sub(wait);
                if l.is_zero() {
                    return Ok(None);
                }
            }
        }
    }

    /// One wait of at most `wait` (without the GIL).
    fn within(&self, wait: Duration) -> Got<E> {
        let mut events = lock(&self.events);
        loop {
            // Whatever is waiting first (and all there is once stopped).
            match events.try_recv() {
                Ok(e) => return Got::Event(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.missed.fetch_add(n, Ordering::Relaxed);
                    continue;
                }
                Err(broadcast::error::TryRecvError::Closed) => return Got::Ended,
                Err(broadcast::error::TryRecvError::Empty) => {}
            }
            if self.finished() || self.is_shut_down() {
                return Got::Ended;
            }
            if wait.is_zero() {
                return Got::Nothing;
            }
            let mut done = self.done.clone();
            let got = self.handle.block_on(async {
                tokio::select! {
                    r = events.recv() => Some(r),
                    _ = async {
                        match &mut done {
                            Some(d) => { let _ = d.wait_for(|d| *d).await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => None,
                    _ = tokio::time::sleep(wait) => None,
                }
            });
            match got {
                Some(Ok(e)) => return Got::Event(e),
                Some(Err(broadcast::error::RecvError::Lagged(n))) => {
                    self.missed.fetch_add(n, Ordering::Relaxed);
                }
                Some(Err(broadcast::error::RecvError::Closed)) => return Got::Ended,
                // Ended or timed out: one more look at what is waiting.
                None => {
                    return match events.try_recv() {
                        Ok(e) => Got::Event(e),
                        Err(_) => Got::Nothing,
                    };
                }
            }
        }
    }

    /// Run `stop` and wait for the run to end, at most `timeout` in all;
    /// then the runtime, at most 2 s for its threads. Waiters see the run
    /// end first, so none waits on a runtime shut down.
    pub(crate) fn shut_down(&self, stop: impl std::future::Future<Output = ()>, timeout: Duration) {
        if self.is_shut_down() {
            return;
        }
        let mut done = self.done.clone();
        let _ = self.handle.block_on(async {
            tokio::time::timeout(timeout, async {
                stop.await;
                if let Some(d) = &mut done {
                    let _ = d.wait_for(|d| *d).await;
                }
            })
            .await
        });
        let _events = lock(&self.events);
        if let Some(rt) = lock(&self.rt).take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
