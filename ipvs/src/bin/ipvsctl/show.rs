//! Reading the table: `show` (with ipvsadm's views and `--watch`) and
//! `save`.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use ipvs::listing::{self, ListOptions, View, WatchOptions};
use ipvs::rules::WriteOptions;
use ipvs::state::{SaveError, save_rules as save_rules_to};

use crate::exit::{Exit, Failure, Result};
use crate::files::{Format, write_state};
use crate::kernel::{Global, read_table};

// `show [--json] [VIEW] [--exact] [--watch [INTERVAL]]`.
#[derive(Debug, Clone, Default, Args)]
pub struct ShowArgs {
    /// The whole state as JSON, stats and connection counts included.
    #[arg(long, conflicts_with_all = ["stats", "rate", "exact", "thresholds", "persistent_conn", "tun_info", "watch"])]
    pub json: bool,
    /// Connections, packets and bytes since each entry was made (as
    /// `ipvsadm -Ln --stats`).
    #[arg(long)]
    pub stats: bool,
    /// Connections, packets and bytes per second (as `ipvsadm -Ln --rate`).
    #[arg(long)]
    pub rate: bool,
    /// Counters in full, not shortened with K, M, G, T (as `--exact`).
    #[arg(long)]
    pub exact: bool,
    /// Upper and lower connection thresholds (as `--thresholds`).
    #[arg(long)]
    pub thresholds: bool,
    /// Persistent connections (templates) per destination (as
    /// `--persistent-conn`).
    #[arg(long)]
    pub persistent_conn: bool,
    /// Tunnel type, port and checksum of tunnel destinations (as
    /// `--tun-info`).
    #[arg(long)]
    pub tun_info: bool,
    /// Refresh every INTERVAL (default 2s) until interrupted (Ctrl-C,
    /// SIGTERM): in place on a terminal, one listing after another
    /// otherwise.
    #[arg(
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "2s",
        value_parser = parse_interval
    )]
    pub watch: Option<Duration>,
    /// With --watch: stop after N listings.
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

impl ShowArgs {
    /// The listing options the flags ask for (ipvsadm's precedence when
    /// several views are given).
    pub fn list_options(&self) -> ListOptions {
        ListOptions {
            view: View::from_flags(
                self.stats,
                self.rate,
                self.thresholds,
                self.persistent_conn,
                self.tun_info,
            ),
            exact: self.exact,
        }
    }
}

/// A watch interval: a duration of at least 100 ms.
fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let d = crate::apply::parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err("the interval must be at least 100ms".into());
    }
    Ok(d)
}

/// `show`: the table, as `ipvsadm -Ln` (with the same view flags) lists
/// it, once or every `--watch` interval; or as JSON.
pub fn show(args: &ShowArgs, global: &Global) -> Result<Exit> {
    let client = global.client()?;
    if args.json {
        let mut state = read_table(&client)?;
        state.sort();
        let text = state.to_json().map_err(|e| Failure::usage(e.to_string()))?;
        println!("{text}");
        return Ok(Exit::Done);
    }
    let opts = args.list_options();
    let frame = || -> Result<String> {
        let state = read_table(&client)?;
        let info = client
            .info()
            .map_err(|e| Failure::kernel("reading the version", e))?;
        Ok(listing::listing(&info, &state.services, &opts))
    };
    let mut out = io::stdout().lock();
    let Some(interval) = args.watch else {
        let text = frame()?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
        return Ok(Exit::Done);
    };
    let watch = WatchOptions {
        interval,
        count: args.count,
        terminal: io::stdout().is_terminal(),
    };
    listing::watch_until_interrupted(&mut out, &watch, || frame().map_err(Watch::Failed)).map_err(
        |e| match e {
            Watch::Failed(f) => f,
            Watch::Io(e) => Failure::usage(format!("stdout: {e}")),
        },
    )?;
    // Interrupted or done: either way a clean end.
    Ok(Exit::Done)
}

/// How a watch ends badly: a read of the table failed, or stdout did.
enum Watch {
    Failed(Failure),
    Io(io::Error),
}

impl From<io::Error> for Watch {
    fn from(e: io::Error) -> Self {
        Watch::Io(e)
    }
}

// `save [--format FMT] [--complete]`.
#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Write the table as FMT.
    #[arg(short = 'f', long, value_name = "FMT", default_value = "rules")]
    pub format: Format,
    /// As rules, add thresholds and the timeouts (which `ipvsadm -S` leaves out).
    #[arg(long)]
    pub complete: bool,
}

/// `save`: the table as rules (exactly as `ipvsadm -Sn`) or a state file.
pub fn save(args: &SaveArgs, global: &Global) -> Result<Exit> {
    if args.format == Format::Rules {
        return save_rules(args, global);
    }
    let client = global.client()?;
    let mut state = read_table(&client)?;
    if args.format != Format::Rules {
        state = state.config();
    }
    let text = write_state(&state, args.format, args.complete)?;
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
    Ok(Exit::Done)
}

/// `save` as rules, streamed: each service's rules are written as its
/// destinations come (see `save_rules`).
fn save_rules(args: &SaveArgs, global: &Global) -> Result<Exit> {
    let client = global.client()?;
    let opts = if args.complete {
        WriteOptions::COMPLETE
    } else {
        WriteOptions::IPVSADM
    };
    let mut out = io::BufWriter::with_capacity(64 << 10, io::stdout().lock());
    save_rules_to(&client, &mut out, &opts, args.complete)
        .and_then(|()| out.flush().map_err(SaveError::Write))
        .map_err(|e| match e {
            SaveError::Kernel(e) => Failure::kernel("reading the table", e),
            SaveError::Write(e) => Failure::usage(format!("stdout: {e}")),
            e => Failure::usage(e.to_string()),
        })?;
    Ok(Exit::Done)
}
