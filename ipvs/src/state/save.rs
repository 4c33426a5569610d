//! Saving the kernel's table as rules, streamed: the sorted list of
//! services is held, each service's destinations are fetched and its rules
//! written as they come, as `ipvsadm -S -n` does, with the destination
//! dumps of several clients (one socket each) overlapping.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{ipvsadm_dest_order, ipvsadm_service_order};
use crate::client::{Client, Error};
use crate::model::Service;
use crate::rules::{Rule, WriteOptions, write};

/// Services per piece of work handed to a client.
const CHUNK: usize = 64;

/// Why [`save_rules`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    /// Reading the table failed.
    #[error("reading the table: {0}")]
    Kernel(#[from] Error),
    /// Writing the rules failed.
    #[error("writing: {0}")]
    Write(#[from] io::Error),
}

/// Write the table of `clients[0]`'s namespace to `out` as rules, exactly
/// as [`State::to_rules`](super::State::to_rules) and
/// [`rules::write_with`](crate::rules::write_with) would (services and
/// destinations in ipvsadm's order; with `timeouts`, a `--set` line
/// first), without holding the whole table: one dump of the services,
/// then their destinations fetched by every client in turn (all in the
/// same namespace, each its own socket), chunk by chunk, written in order.
///
/// # Panics
/// If `clients` is empty.
pub fn save_rules(
    clients: &[Client],
    out: &mut impl Write,
    opts: &WriteOptions,
    timeouts: bool,
) -> Result<(), SaveError> {
    let first = &clients[0];
    if timeouts {
        let timeouts = first.timeouts()?;
        let line = write(&[Rule::SetTimeouts { timeouts }]);
        out.write_all(line.as_bytes())?;
    }
    let mut services = first.services()?;
    services.sort_by(|a, b| ipvsadm_service_order(&a.key, &b.key));
    let chunks = services.len().div_ceil(CHUNK);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<String, Error>)>(2 * clients.len());
    std::thread::scope(|scope| {
        for client in clients {
            let tx = tx.clone();
            let (next, stop, services) = (&next, &stop, &services);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= chunks {
                        break;
                    }
                    let end = ((i + 1) * CHUNK).min(services.len());
                    let text = chunk_rules(client, &services[i * CHUNK..end], opts);
                    if tx.send((i, text)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Chunks come back in any order: each is written once those before
        // it are (at most about one per client waits here).
        let mut waiting = BTreeMap::new();
        let mut written = 0;
        let result = (|| {
            for (i, text) in &rx {
                waiting.insert(i, text);
                while let Some(text) = waiting.remove(&written) {
                    out.write_all(text?.as_bytes())?;
                    written += 1;
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        result
    })
}

/// The rules of `services` and their destinations.
fn chunk_rules(
    client: &Client,
    services: &[Service],
    opts: &WriteOptions,
) -> Result<String, Error> {
    let mut text = String::with_capacity(services.len() * 256);
    for service in services {
        let mut dests = client.destinations(&service.key)?;
        dests.sort_by(ipvsadm_dest_order);
        let _ = crate::rules::write_service(&mut text, "-A", service);
        text.push('\n');
        for dest in &dests {
            let _ = crate::rules::write_dest(&mut text, "-a", &service.key, dest, opts);
            text.push('\n');
        }
    }
    Ok(text)
}
