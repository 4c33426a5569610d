//! Files without the kernel: `check` and `convert`.
//!
//! (A format read from other tools' configuration files is a new
//! [`Format`] variant and a branch in
//! [`read_state`](crate::files::read_state): every command reading FILE
//! then takes it with `--format`.)

use clap::Args;

use crate::exit::{Exit, Result};
#[cfg(not(feature = "health"))]
use crate::files::write_state;
use crate::files::{Format, Source};

// `check FILE`.
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

// `convert FILE --to FMT`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub source: Source,
    /// Write FILE as FMT.
    #[arg(long, value_name = "FMT")]
    pub to: Format,
}

/// `convert`: FILE in another format, on stdout; with its health and
/// failover settings where both formats hold them.
pub fn convert(args: &ConvertArgs) -> Result<Exit> {
    #[cfg(feature = "health")]
    {
        let config = crate::files::read_run_config(&args.source.file, args.source.format.format)?;
        print!("{}", crate::files::write_run_config(&config, args.to)?);
    }
    #[cfg(not(feature = "health"))]
    {
        let state = args.source.read()?;
        print!("{}", write_state(&state, args.to, true)?);
    }
    Ok(Exit::Done)
}
