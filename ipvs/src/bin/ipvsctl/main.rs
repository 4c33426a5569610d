//! `ipvsctl`: the kernel's IPVS table as a file. Show it, save it, make it
//! what a file says (without ever emptying it on the way), preview changes.
//! Built on the `ipvs` library; see `ipvsctl --help`.
//!
//! One module per concern: [`cli`] the command line (where commands are
//! added), [`exit`] the exit statuses, [`kernel`] the table in the kernel,
//! [`files`] tables as files, then the commands by group: [`show`] (show,
//! save), [`apply`] (restore, apply, diff), [`convert`] (check, convert),
//! [`docs`] (completions, man), `run` (with `failover`).

mod apply;
mod cli;
mod convert;
mod docs;
mod exit;
#[cfg(all(feature = "health", feature = "failover"))]
mod failover;
mod files;
mod kernel;
#[cfg(all(feature = "health", feature = "status"))]
mod listen;
#[cfg(feature = "health")]
mod run;
mod show;

use clap::error::ErrorKind;

use exit::Exit;

fn main() -> Exit {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            // On stdout, styled for a terminal as clap does.
            return match e.print() {
                Ok(()) => Exit::Done,
                Err(_) => Exit::Usage,
            };
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("ipvsctl: {text}");
            return Exit::Usage;
        }
    };
    match cli.command.run(&cli.global) {
        Ok(exit) => exit,
        Err(f) => {
            eprintln!("ipvsctl: {}", f.message);
            f.exit
        }
    }
}
