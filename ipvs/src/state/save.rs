//! Saving the kernel's table as rules, streamed as `ipvsadm -S -n` does:
//! the sorted list of services is held, each service's destinations are
//! fetched and its rules written as they come. Nothing else of the table
//! is held: the dumps are decoded in place as their datagrams arrive.

use std::io::{self, Write};

use super::{RankOrder, ipvsadm_dest_rank, ipvsadm_service_rank};
use crate::client::{Client, Error};
use crate::rules::{Rule, WriteOptions, write, write_dest_head, write_dest_tail, write_service};

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

/// Write the table to `out` as rules, exactly as
/// [`State::to_rules`](super::State::to_rules) and
/// [`rules::write_with`](crate::rules::write_with) would (services and
/// destinations in ipvsadm's order; with `timeouts`, a `--set` line
/// first), without holding the table: one dump of the services, then each
/// one's destinations (on the client's socket of small dumps), its rules
/// written as they come.
///
/// A kernel error midway leaves the lines already written in `out`, as
/// ipvsadm does. Services or destinations a dump listed twice (the table
/// changed while it was read) are written once.
///
/// ```no_run
/// use ipvs::client::Client;
/// use ipvs::rules::WriteOptions;
/// let mut out = std::io::stdout().lock();
/// ipvs::state::save_rules(&Client::new()?, &mut out, &WriteOptions::IPVSADM, false)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_rules(
    client: &Client,
    out: &mut impl Write,
    opts: &WriteOptions,
    timeouts: bool,
) -> Result<(), SaveError> {
    if timeouts {
        let timeouts = client.timeouts()?;
        let line = write(&[Rule::SetTimeouts { timeouts }]);
        out.write_all(line.as_bytes())?;
    }
    let mut list = Vec::new();
    client.services_into_with_repeats(&mut list)?;
    // Sorted as ranks: a service is large to move.
    let mut services = RankOrder::default();
    services.sort(list.len(), |i| ipvsadm_service_rank(&list[i].key));
    let mut dests = Vec::new();
    let mut order = RankOrder::default();
    let mut text = String::with_capacity(4096);
    let mut head = String::with_capacity(64);
    let mut last = None;
    for i in services.indices() {
        let service = &list[i];
        // A service the dump listed twice is next to itself now (a rank is
        // the service's identity): the first kept, as a listing keeps it.
        if last.replace(&service.key) == Some(&service.key) {
            client.dropped(1);
            continue;
        }
        client.destinations_into(&service.key, &mut dests)?;
        order.sort(dests.len(), |d| ipvsadm_dest_rank(&dests[d]));
        text.clear();
        let _ = write_service(&mut text, "-A", service);
        text.push('\n');
        // `-a -t a:p -r `, written once for the service's destinations.
        head.clear();
        let _ = write_dest_head(&mut head, "-a", &service.key);
        for d in order.indices() {
            text.push_str(&head);
            let _ = write_dest_tail(&mut text, &dests[d], opts);
            text.push('\n');
        }
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}
