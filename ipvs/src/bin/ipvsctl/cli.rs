//! The command line: every command, its options and its help, in one clap
//! definition that also makes the shell completions and the man page.
//!
//! A new command is a variant of [`Command`] holding its own `Args` struct
//! (in the module of its group: [`show`], [`apply`], [`convert`], [`docs`],
//! or a new one), and one arm in [`Command::run`]. A command's options are
//! built only when it is the one given (`defer`), so the `Args` structs
//! carry plain comments, not doc comments: clap would take a doc comment
//! for the command's description when it builds them (a test checks).

use clap::{CommandFactory, Parser, Subcommand};

use crate::apply::{self, ApplyArgs, DiffArgs, RestoreArgs};
use crate::convert::{self, CheckArgs, ConvertArgs};
use crate::docs::{self, CompletionsArgs, ManArgs};
use crate::exit::{self, Exit, Result};
use crate::kernel::Global;
use crate::show::{self, SaveArgs, ShowArgs};

/// The program's name, in help, completions and the man page.
pub const NAME: &str = "ipvsctl";

/// After the options in `ipvsctl --help` (then the exit statuses), and in
/// the man page.
pub const FILES_HELP: &str = "\
FILE is read by its extension: .json, .yaml or .yml, .toml, anything else (or `-`,
stdin) as ipvsadm rules; --format FMT (rules, json, yaml, toml) overrides it. For
diff and apply --dry-run, --from FILE compares with FILE (read by its extension)
instead of the kernel's table.";

/// `ipvsctl [--netns NAME] COMMAND [OPTIONS]`.
#[derive(Debug, Parser)]
#[command(
    name = NAME,
    version,
    about = "Show, save and change the kernel's IPVS (LVS) table",
    subcommand_required = true,
    arg_required_else_help = false,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands. Each one's options are defined only when it is the one
/// given (`defer`): `ipvsctl save` does not build every other command's.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// The table, as `ipvsadm -Ln` lists it, with ipvsadm's views (--stats,
    /// --rate, --thresholds, --persistent-conn, --tun-info, --exact) and
    /// --watch (--json: the whole state, stats and connection counts
    /// included)
    #[command(alias = "list")]
    Show(ShowArgs),

    /// The table as ipvsadm rules, exactly as `ipvsadm -Sn` writes them
    /// (--complete adds thresholds and the timeouts); or as json, yaml or
    /// toml (--format)
    Save(SaveArgs),

    /// Make the table what rules (as `ipvsadm -R` reads them, from FILE or
    /// stdin) describe
    ///
    /// Read the table, diff, apply the difference. Unlike `ipvsadm -C` then
    /// `-R`, the table is never empty on the way and unchanged services keep
    /// their connections.
    Restore(RestoreArgs),

    /// Make the table what FILE describes, the same way as restore
    /// (--dry-run: print the plan and change nothing)
    ///
    /// Read the table, diff, apply the difference: the table is never empty
    /// on the way and unchanged services keep their connections. With
    /// --drain, destinations going away drain first.
    Apply(ApplyArgs),

    /// The plan that `apply FILE` would apply (--exit-code: status 4 if
    /// there is one)
    Diff(DiffArgs),

    /// Read and validate FILE; print it as ipvsadm rules
    Check(CheckArgs),

    /// Print FILE in another format (--to FMT)
    Convert(ConvertArgs),

    /// Keep the table what FILE says, health-checked (feature health)
    ///
    /// Reconciles every --period and at once on a transition; one log line
    /// per event on stderr; SIGHUP re-reads FILE (a file that does not load
    /// keeps the running configuration); SIGTERM/SIGINT stop, leaving the
    /// table (default) or removing the services of FILE. --listen ADDR
    /// (feature status) serves /metrics and a read-only status page.
    #[cfg(feature = "health")]
    Run(crate::run::RunArgs),

    /// Shell completions, for bash, zsh, fish, elvish or powershell
    Completions(CompletionsArgs),

    /// The manual page, ipvsctl(1) (--dir: every page, one per command)
    Man(ManArgs),
}

impl Command {
    /// Carry the command out.
    pub fn run(&self, global: &Global) -> Result<Exit> {
        match self {
            Command::Show(args) => show::show(args, global),
            Command::Save(args) => show::save(args, global),
            Command::Restore(args) => apply::restore(args, global),
            Command::Apply(args) => apply::apply(args, global),
            Command::Diff(args) => apply::diff_file(args, global),
            Command::Check(args) => convert::check(args),
            Command::Convert(args) => convert::convert(args),
            #[cfg(feature = "health")]
            Command::Run(args) => crate::run::run(args, global),
            Command::Completions(args) => docs::completions(args),
            Command::Man(args) => docs::man(args),
        }
    }
}

/// The whole definition, as parsing, completions and the man page use it:
/// every command's help ends with the exit statuses.
pub fn command() -> clap::Command {
    let cli = Cli::command();
    let names: Vec<_> = cli.get_subcommands().map(|c| c.get_name()).collect();
    let subcommand_help = format!(
        "{}\n\nCommands: {}; see `{NAME} --help`.",
        exit::HELP,
        names.join(", ")
    );
    cli.max_term_width(100)
        .after_help(format!("{FILES_HELP}\n\n{}", exit::HELP))
        .mut_subcommands(|c| c.after_help(subcommand_help.clone()))
}

/// The arguments after the program name, parsed; help, version and usage
/// errors as clap reports them.
pub fn parse<I, T>(args: I) -> std::result::Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use ipvs::listing::{ListOptions, View};

    use super::*;
    use crate::files::Format;

    fn parse_line(line: &str) -> std::result::Result<Cli, clap::Error> {
        parse(std::iter::once(NAME).chain(line.split_whitespace()))
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    /// A command's options are built when it is used (`defer`), after its
    /// description: an `Args` struct with a doc comment would replace the
    /// description with that comment then, in its help and man page.
    #[test]
    fn building_a_command_keeps_its_description() {
        let about = |c: &clap::Command| {
            let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
            (
                c.get_name().to_owned(),
                text(c.get_about()),
                text(c.get_long_about()),
            )
        };
        let mut cli = command();
        let before: Vec<_> = cli.get_subcommands().map(about).collect();
        cli.build();
        let after: Vec<_> = cli.get_subcommands().map(about).collect();
        assert_eq!(before, after);
        assert!(
            before.iter().all(|(_, short, _)| short.is_some()),
            "{before:?}"
        );
    }

    #[test]
    fn commands_and_options() {
        let a = parse_line("--netns lb apply web.yaml --dry-run --drain 5m").unwrap();
        assert_eq!(a.global.netns.as_deref(), Some("lb"));
        let Command::Apply(apply) = a.command else {
            panic!("{:?}", a.command)
        };
        assert_eq!(apply.source.file, PathBuf::from("web.yaml"));
        assert!(apply.apply.dry_run);
        assert_eq!(apply.drain.drain, Some(Duration::from_secs(300)));

        // --netns after the command, too.
        let a = parse_line("show --json -n lb").unwrap();
        assert_eq!(a.global.netns.as_deref(), Some("lb"));
        assert!(matches!(
            a.command,
            Command::Show(ShowArgs { json: true, .. })
        ));
        assert!(matches!(
            parse_line("list").unwrap().command,
            Command::Show(ShowArgs {
                json: false,
                watch: None,
                ..
            })
        ));
        // ipvsadm's views, its precedence when several are given; --watch
        // with or without an interval.
        for (line, view, exact) in [
            ("show", View::Connections, false),
            ("show --stats --exact", View::Stats, true),
            ("show --rate --stats", View::Stats, false),
            ("show --rate", View::Rate, false),
            ("show --thresholds --tun-info", View::Thresholds, false),
            ("show --persistent-conn", View::PersistentConn, false),
            ("show --tun-info --exact", View::TunInfo, true),
        ] {
            let Command::Show(s) = parse_line(line).unwrap().command else {
                panic!("{line}")
            };
            assert_eq!(s.list_options(), ListOptions { view, exact }, "{line}");
        }
        let Command::Show(s) = parse_line("show --watch --stats").unwrap().command else {
            panic!()
        };
        assert_eq!((s.watch, s.count), (Some(Duration::from_secs(2)), None));
        let Command::Show(s) = parse_line("show --watch 500ms --count 3").unwrap().command else {
            panic!()
        };
        assert_eq!(
            (s.watch, s.count),
            (Some(Duration::from_millis(500)), Some(3))
        );
        let Command::Save(save) = parse_line("save --format=yml").unwrap().command else {
            panic!()
        };
        assert_eq!((save.format, save.complete), (Format::Yaml, false));
        let Command::Restore(restore) = parse_line("restore").unwrap().command else {
            panic!()
        };
        assert_eq!(restore.file, PathBuf::from("-"));
        let Command::Convert(c) = parse_line("convert x --format ipvsadm --to toml")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(
            (c.source.format.format, c.to),
            (Some(Format::Rules), Format::Toml)
        );
        let Command::Completions(c) = parse_line("completions zsh").unwrap().command else {
            panic!()
        };
        assert_eq!(c.shell, clap_complete::Shell::Zsh);
    }

    #[test]
    fn help_and_version_are_not_errors_of_use() {
        for line in [
            "-h",
            "--help",
            "show --help",
            "apply x.yaml -h",
            "-V",
            "--version",
        ] {
            let e = parse_line(line).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ),
                "{line}: {e}"
            );
        }
    }

    #[test]
    fn usage_errors() {
        for bad in [
            "",
            "frobnicate",
            "show extra",
            "apply",
            "apply a b",
            "show --dry-run",
            "save --json",
            "apply x.yaml --bogus",
            "apply x.yaml --from y.yaml",
            "apply x.yaml --wait",
            "apply x.yaml --drain 5m --wait --dry-run",
            "apply x.yaml --drain-state t.json",
            "apply x.yaml --drain soon",
            "diff x.yaml --wait --drain 5m",
            "restore a b",
            "restore --from y",
            "convert x.yaml",
            "check",
            "save --format xml",
            "completions tcsh",
            "--netns",
            "--netns a/b show",
            "--netns .. show",
            "show --json=yes",
            "show --json --stats",
            "show --json --watch",
            "show --count 3",
            "show --watch 0",
            "show --watch 10ms",
            "show --watch 1s --count 0",
            "show --watch soon",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn every_command_documents_the_exit_statuses() {
        let mut cmd = command();
        let root = cmd.render_help().to_string();
        assert!(root.contains("Exit status:") && root.contains("FILE is read by"));
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(help.contains(exit::HELP), "{}", sub.get_name());
        }
    }
}
