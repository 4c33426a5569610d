//! Reading the table: `show` and `save`.
//!
//! (`show --stats`, `--rate` and other views of the same snapshot belong
//! here, as options of [`ShowArgs`].)

use std::io::{self, Write};

use clap::Args;

use crate::exit::{Exit, Failure, Result};
use crate::files::{Format, write_state};
use crate::kernel::{Global, read_table};
use crate::table;

/// `show [--json]`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The whole state as JSON, stats and connection counts included.
    #[arg(long)]
    pub json: bool,
}

/// `show`: the table, as `ipvsadm -Ln` lists it, or as JSON.
pub fn show(args: &ShowArgs, global: &Global) -> Result<Exit> {
    let client = global.client()?;
    let mut state = read_table(&client)?;
    state.sort();
    if args.json {
        let text = state.to_json().map_err(|e| Failure::usage(e.to_string()))?;
        println!("{text}");
    } else {
        let info = client
            .info()
            .map_err(|e| Failure::kernel("reading the version", e))?;
        print!("{}", table::listing(&info, &state));
    }
    Ok(Exit::Done)
}

/// `save [--format FMT] [--complete]`.
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
