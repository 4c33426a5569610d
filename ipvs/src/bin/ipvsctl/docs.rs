//! Documentation generated from the command-line definition itself:
//! `completions SHELL` and `man`.
//!
//! ```text
//! $ ipvsctl completions bash > /usr/share/bash-completion/completions/ipvsctl
//! $ ipvsctl man --dir /usr/local/share/man/man1   # ipvsctl.1, ipvsctl-apply.1, ...
//! ```

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{Roff, bold, roman};

use crate::cli;
use crate::exit::{Exit, Failure, Result};

// `completions SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// `completions`: the completion script for SHELL, on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<Exit> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli::command(), cli::NAME, &mut script);
    write_stdout(&script)
}

// `man [--dir DIR]`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write ipvsctl.1 and a page per command (ipvsctl-apply.1, ...) into
    /// DIR, instead of printing ipvsctl.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `man`: the manual page ipvsctl(1), in roff; or every page, into a
/// directory.
pub fn man(args: &ManArgs) -> Result<Exit> {
    let Some(dir) = &args.dir else {
        return write_stdout(&pages().swap_remove(0).1);
    };
    for (name, page) in pages() {
        let path = dir.join(name);
        std::fs::write(&path, page)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    }
    Ok(Exit::Done)
}

/// Every manual page, by file name: ipvsctl.1 first, then ipvsctl-show.1,
/// ipvsctl-save.1, ... in the order of `--help`.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = cli::command();
    // Gives the commands their page names (ipvsctl-apply) and usage lines.
    root.build();
    std::iter::once(&root)
        .chain(root.get_subcommands().filter(|c| !c.is_hide_set()))
        .map(|cmd| {
            let man = Man::new(cmd.clone()).source(format!(
                "{} {}",
                cli::NAME,
                env!("CARGO_PKG_VERSION")
            ));
            (
                man.get_filename(),
                page(&man, cmd, cmd.get_name() == cli::NAME),
            )
        })
        .collect()
}

/// One page: clap's sections, then the file formats (on ipvsctl(1)) and
/// the exit statuses as roff lists, not as `--help` lays them out.
fn page(man: &Man, cmd: &clap::Command, root: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sections = || -> io::Result<()> {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut out)?;
        }
        if cmd.get_subcommands().any(|c| !c.is_hide_set()) {
            man.render_subcommands_section(&mut out)?;
        }
        let mut roff = Roff::new();
        if root {
            roff.control("SH", ["FILE FORMATS"]);
            roff.text([roman(
                cli::FILES_HELP
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )]);
        }
        roff.control("SH", ["EXIT STATUS"]);
        for exit in Exit::ALL {
            roff.control("TP", []);
            roff.text([bold(exit.code().to_string())]);
            roff.text([roman(exit.description())]);
        }
        roff.to_writer(&mut out)?;
        if cmd.get_version().is_some() {
            man.render_version_section(&mut out)?;
        }
        Ok(())
    };
    sections().expect("rendering into memory does not fail");
    out
}

fn write_stdout(bytes: &[u8]) -> Result<Exit> {
    io::stdout()
        .write_all(bytes)
        .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
    Ok(Exit::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_command_and_the_main_page_names_them_all() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        let commands: Vec<String> = cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        assert_eq!(names[0], "ipvsctl.1");
        assert_eq!(names.len(), commands.len() + 1, "{names:?}");
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        for c in &commands {
            assert!(names.contains(&format!("ipvsctl-{c}.1").as_str()), "{c}");
            assert!(main.contains(&format!("ipvsctl\\-{c}(1)")), "{c}");
        }
        for (name, page) in &pages {
            let page = String::from_utf8(page.clone()).unwrap();
            assert!(page.starts_with(".ie"), "{name}");
            assert!(page.contains(".SH \"EXIT STATUS\""), "{name}");
        }
        assert!(main.contains(".SH \"FILE FORMATS\""));
    }
}
