//! The command line, parsed by hand (no dependencies).

use std::path::PathBuf;
use std::time::Duration;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rules,
    Json,
    Yaml,
    Toml,
}

impl Format {
    fn parse(s: &str) -> Result<Format, String> {
        Ok(match s {
            "rules" | "ipvsadm" => Format::Rules,
            "json" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            "toml" => Format::Toml,
            _ => return Err(format!("unknown format {s:?} (rules, json, yaml or toml)")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Show {
        json: bool,
    },
    Save {
        format: Format,
        complete: bool,
    },
    Restore {
        file: Option<PathBuf>,
    },
    Apply {
        file: PathBuf,
    },
    Diff {
        file: PathBuf,
        exit_code: bool,
    },
    Check {
        file: PathBuf,
    },
    Convert {
        file: PathBuf,
        to: Format,
    },
    /// Health-checked run (feature `health`): on-stop and log format are
    /// checked by the run module.
    Run {
        file: PathBuf,
        period: Duration,
        on_stop: String,
        log: String,
    },
}

/// Everything the command line says.
#[derive(Debug, Clone)]
pub struct Args {
    pub command: Command,
    pub netns: Option<String>,
    /// The format of FILE (else: by extension).
    pub format: Option<Format>,
    /// `--from FILE`: compare with FILE, not the kernel.
    pub from: Option<PathBuf>,
    pub json: bool,
    pub dry_run: bool,
    pub rollback: bool,
    pub keep_going: bool,
    pub drain: Option<Duration>,
    pub wait: bool,
    pub drain_state: Option<PathBuf>,
}

/// A duration: seconds, or a number with s, m or h.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (like 30, 30s, 5m, 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration {s:?} (like 30, 30s, 5m, 1h)")),
    };
    Ok(Duration::from_secs(secs))
}

impl Args {
    /// Parse the arguments after the program name.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut words: Vec<&str> = Vec::new();
        let mut given: Vec<&'static str> = Vec::new();
        let mut netns = None;
        let mut format = None;
        let mut to = None;
        let mut from = None;
        let mut drain = None;
        let mut drain_state = None;
        let mut period = None;
        let mut on_stop = None;
        let mut log_format = None;
        let (mut json, mut dry_run, mut rollback, mut keep_going, mut wait) =
            (false, false, false, false, false);
        let (mut exit_code, mut complete, mut help, mut version) = (false, false, false, false);

        let mut it = argv.iter().map(String::as_str).peekable();
        let mut only_words = false;
        while let Some(a) = it.next() {
            if only_words || a == "-" || !a.starts_with('-') {
                words.push(a);
                continue;
            }
            if a == "--" {
                only_words = true;
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v)),
                _ => (a, None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                match inline {
                    Some(v) => Ok(v.to_owned()),
                    None => it
                        .next()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("{name} needs a value")),
                }
            };
            let flag: &'static str = match name {
                "-h" | "--help" => {
                    help = true;
                    "--help"
                }
                "-V" | "--version" => {
                    version = true;
                    "--version"
                }
                "--netns" | "-n" => {
                    netns = Some(value(name)?);
                    "--netns"
                }
                "--format" | "-f" => {
                    format = Some(Format::parse(&value(name)?)?);
                    "--format"
                }
                "--to" => {
                    to = Some(Format::parse(&value(name)?)?);
                    "--to"
                }
                "--from" => {
                    from = Some(PathBuf::from(value(name)?));
                    "--from"
                }
                "--drain" => {
                    drain = Some(parse_duration(&value(name)?)?);
                    "--drain"
                }
                "--drain-state" => {
                    drain_state = Some(PathBuf::from(value(name)?));
                    "--drain-state"
                }
                "--period" => {
                    period = Some(parse_duration(&value(name)?)?);
                    "--period"
                }
                "--on-stop" => {
                    on_stop = Some(value(name)?);
                    "--on-stop"
                }
                "--log-format" => {
                    log_format = Some(value(name)?);
                    "--log-format"
                }
                "--json" => {
                    json = true;
                    "--json"
                }
                "--dry-run" => {
                    dry_run = true;
                    "--dry-run"
                }
                "--rollback" => {
                    rollback = true;
                    "--rollback"
                }
                "--keep-going" => {
                    keep_going = true;
                    "--keep-going"
                }
                "--wait" => {
                    wait = true;
                    "--wait"
                }
                "--exit-code" => {
                    exit_code = true;
                    "--exit-code"
                }
                "--complete" => {
                    complete = true;
                    "--complete"
                }
                _ => return Err(format!("unknown option {a}")),
            };
            if inline.is_some()
                && !matches!(
                    flag,
                    "--netns"
                        | "--format"
                        | "--to"
                        | "--from"
                        | "--drain"
                        | "--drain-state"
                        | "--period"
                        | "--on-stop"
                        | "--log-format"
                )
            {
                return Err(format!("{flag} takes no value"));
            }
            given.push(flag);
        }

        let command = if help {
            Command::Help
        } else if version {
            Command::Version
        } else {
            let Some((&cmd, rest)) = words.split_first() else {
                return Err("no command given".to_owned());
            };
            let file = |what: &str| -> Result<PathBuf, String> {
                match rest {
                    [f] => Ok(PathBuf::from(f)),
                    [] => Err(format!("{what} needs a FILE")),
                    _ => Err(format!("{what} takes one FILE, not {}", rest.len())),
                }
            };
            let none = |what: &str| -> Result<(), String> {
                match rest {
                    [] => Ok(()),
                    [x, ..] => Err(format!("{what} takes no argument ({x:?})")),
                }
            };
            let (command, allowed): (Command, &[&str]) = match cmd {
                "show" | "list" => {
                    none(cmd)?;
                    (Command::Show { json }, &["--json"])
                }
                "save" => {
                    none(cmd)?;
                    (
                        Command::Save {
                            format: format.unwrap_or(Format::Rules),
                            complete,
                        },
                        &["--format", "--complete"],
                    )
                }
                "restore" => {
                    let file = match rest {
                        [] => None,
                        _ => Some(file(cmd)?),
                    };
                    (
                        Command::Restore { file },
                        &[
                            "--format",
                            "--dry-run",
                            "--json",
                            "--rollback",
                            "--keep-going",
                        ],
                    )
                }
                "apply" => (
                    Command::Apply { file: file(cmd)? },
                    &[
                        "--format",
                        "--from",
                        "--dry-run",
                        "--json",
                        "--rollback",
                        "--keep-going",
                        "--drain",
                        "--wait",
                        "--drain-state",
                    ],
                ),
                "diff" => (
                    Command::Diff {
                        file: file(cmd)?,
                        exit_code,
                    },
                    &[
                        "--format",
                        "--from",
                        "--json",
                        "--exit-code",
                        "--drain",
                        "--drain-state",
                    ],
                ),
                "check" => (Command::Check { file: file(cmd)? }, &["--format"]),
                "convert" => (
                    Command::Convert {
                        file: file(cmd)?,
                        to: to.ok_or("convert needs --to FORMAT")?,
                    },
                    &["--format", "--to"],
                ),
                "run" => (
                    Command::Run {
                        file: file(cmd)?,
                        period: period.unwrap_or(Duration::from_secs(5)),
                        on_stop: on_stop.clone().unwrap_or_else(|| "leave".into()),
                        log: log_format.clone().unwrap_or_else(|| "text".into()),
                    },
                    &["--period", "--on-stop", "--log-format", "--drain"],
                ),
                _ => return Err(format!("unknown command {cmd:?}")),
            };
            for g in &given {
                if *g != "--netns" && !allowed.contains(g) {
                    return Err(format!("{cmd} does not take {g}"));
                }
            }
            command
        };
        if from.is_some() && !dry_run && matches!(command, Command::Apply { .. }) {
            return Err(
                "--from FILE only goes with --dry-run (apply changes the kernel's table)".into(),
            );
        }
        if (wait || drain_state.is_some()) && drain.is_none() {
            return Err("--wait and --drain-state go with --drain".into());
        }
        if wait && dry_run {
            return Err("--wait does not go with --dry-run".into());
        }
        if netns
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.contains('/'))
        {
            return Err("--netns takes a namespace name (as `ip netns add NAME`)".into());
        }
        Ok(Args {
            command,
            netns,
            format,
            from,
            json,
            dry_run,
            rollback,
            keep_going,
            drain,
            wait,
            drain_state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        let v: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        Args::parse(&v)
    }

    #[test]
    fn commands_and_options() {
        let a = parse("--netns lb apply web.yaml --dry-run --drain 5m").unwrap();
        assert_eq!(
            a.command,
            Command::Apply {
                file: "web.yaml".into()
            }
        );
        assert_eq!(a.netns.as_deref(), Some("lb"));
        assert!(a.dry_run);
        assert_eq!(a.drain, Some(Duration::from_secs(300)));
        assert_eq!(
            parse("show --json").unwrap().command,
            Command::Show { json: true }
        );
        assert_eq!(
            parse("save --format=yaml").unwrap().command,
            Command::Save {
                format: Format::Yaml,
                complete: false
            }
        );
        assert_eq!(
            parse("restore").unwrap().command,
            Command::Restore { file: None }
        );
        assert_eq!(parse("-h").unwrap().command, Command::Help);
        assert_eq!(parse("show --help").unwrap().command, Command::Help);
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
            "apply x.yaml --drain soon",
            "convert x.yaml",
            "save --format xml",
            "--netns",
            "--netns a/b show",
            "show --json=yes",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("").is_err());
    }
}
