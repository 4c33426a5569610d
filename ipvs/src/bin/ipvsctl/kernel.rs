//! The kernel's table: the options every command shares (`--netns`),
//! opening the client, reading the table.

use clap::Args;
use ipvs::client::{Client, Netns};
use ipvs::state::State;

use crate::exit::{Failure, Result};

// Options of every command.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// Work in the network namespace NAME (`ip netns add NAME`).
    #[arg(short = 'n', long, global = true, value_name = "NAME", value_parser = namespace_name)]
    pub netns: Option<String>,
}

/// A name `ip netns add` gives, not a path: what [`Netns::named`] takes.
fn namespace_name(name: &str) -> std::result::Result<String, String> {
    Netns::named(name)
        .map(|_| name.to_owned())
        .map_err(|e| e.to_string())
}

impl Global {
    /// A client in the namespace `--netns` names (or this one).
    pub fn client(&self) -> Result<Client> {
        let mut b = Client::builder();
        if let Some(ns) = &self.netns {
            let path = Netns::named(ns).map_err(|e| Failure::usage(format!("--netns: {e}")))?;
            if let Netns::Path(p) = &path {
                if !p.exists() {
                    return Err(Failure::unavailable(format!(
                        "no network namespace {ns:?} ({} does not exist)",
                        p.display()
                    )));
                }
            }
            b = b.netns(path);
        }
        b.build().map_err(Failure::open)
    }
}

/// The kernel's table, in one snapshot.
pub fn read_table(client: &Client) -> Result<State> {
    State::read(client).map_err(|e| Failure::kernel("reading the table", e))
}
