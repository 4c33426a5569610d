//! Files without the kernel: `check` and `convert`.
//!
//! (A format read from other tools' configuration files is a new
//! [`Format`] variant and a branch in
//! [`read_state`](crate::files::read_state): every command reading FILE
//! then takes it with `--format`.)

use clap::Args;

use crate::exit::{Exit, Result};
use crate::files::{Format, Source, write_state};

/// `check FILE`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: Source,
}

/// `check`: read and validate FILE; print it as ipvsadm rules.
pub fn check(args: &CheckArgs) -> Result<Exit> {
    let state = args.source.read()?;
    print!("{}", state.to_rules_text());
    eprintln!(
        "ipvsctl: {}: {} services, {} destinations, valid",
        args.source.file.display(),
        state.services.len(),
        state.dest_count()
    );
    Ok(Exit::Done)
}

/// `convert FILE --to FMT`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub source: Source,
    /// Write FILE as FMT.
    #[arg(long, value_name = "FMT")]
    pub to: Format,
}

/// `convert`: FILE in another format, on stdout.
pub fn convert(args: &ConvertArgs) -> Result<Exit> {
    let state = args.source.read()?;
    print!("{}", write_state(&state, args.to, true)?);
    Ok(Exit::Done)
}
