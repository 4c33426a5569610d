//! Tables as files: the formats, reading a state from a file or stdin,
//! writing one.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use ipvs::rules::{self, WriteOptions};
use ipvs::state::State;

use crate::exit::{Failure, Result};

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rules as ipvsadm writes and reads them (`ipvsadm -S`, `ipvsadm -R`).
    #[value(alias = "ipvsadm")]
    Rules,
    /// The state as JSON.
    Json,
    /// The state as YAML.
    #[value(alias = "yml")]
    Yaml,
    /// The state as TOML.
    Toml,
    /// Piranha's lvs.cf (read only).
    #[cfg(feature = "import")]
    #[value(alias = "lvs.cf")]
    Piranha,
    /// keepalived.conf.
    #[cfg(feature = "import")]
    #[value(alias = "keepalived.conf")]
    Keepalived,
}

impl Format {
    /// The format of `path`: `lvs.cf` and `keepalived.conf` by their name,
    /// the state formats by extension; ipvsadm's own files have none
    /// (`/etc/sysconfig/ipvsadm`), so anything else is rules.
    pub fn of(path: &Path) -> Format {
        #[cfg(feature = "import")]
        match ipvs::import::Format::from_file_name(path) {
            Some(ipvs::import::Format::Piranha) => return Format::Piranha,
            Some(ipvs::import::Format::Keepalived) => return Format::Keepalived,
            None => {}
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "json" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            "toml" => Format::Toml,
            _ => Format::Rules,
        }
    }
}

// A table read from a file: `FILE` and `--format`.
#[derive(Debug, Clone, Args)]
pub struct Source {
    /// The table: a state file read by its extension (.json, .yaml or .yml,
    /// .toml), lvs.cf or keepalived.conf by their name, or ipvsadm rules
    /// (anything else; `-` for stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatOption,
}

impl Source {
    /// Read, parse and validate the file.
    pub fn read(&self) -> Result<State> {
        read_state(&self.file, self.format.format)
    }
}

// `--format FMT`: the format of FILE, whatever its extension.
#[derive(Debug, Clone, Copy, Args)]
pub struct FormatOption {
    /// Read FILE as FMT, whatever its extension.
    #[arg(short = 'f', long, value_name = "FMT")]
    pub format: Option<Format>,
}

/// The text of `path` (`-`: stdin) and its name for messages.
fn read_text(path: &Path) -> Result<(String, String)> {
    let mut text = String::new();
    if path == Path::new("-") {
        read_stdin(&mut text).map_err(|e| Failure::usage(format!("stdin: {e}")))?;
        Ok((text, "stdin".to_owned()))
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        Ok((text, path.display().to_string()))
    }
}

/// All of stdin. Read through a duplicate of its descriptor as a file,
/// whose size (when stdin is a file) sizes the buffer once, rather than
/// growing it as it fills.
fn read_stdin(text: &mut String) -> io::Result<usize> {
    use std::os::fd::AsFd;
    match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd).read_to_string(text),
        Err(_) => io::stdin().read_to_string(text),
    }
}

/// Load lvs.cf or keepalived.conf; what was not carried over goes to
/// stderr, one warning a line.
#[cfg(feature = "import")]
fn import(text: &str, name: &str, format: ipvs::import::Format) -> Result<ipvs::import::Import> {
    let loaded = ipvs::import::load_str(text, Path::new(name), format)
        .map_err(|e| Failure::usage(e.to_string()))?;
    for w in &loaded.warnings {
        eprintln!("ipvsctl: warning: {w}");
    }
    Ok(loaded)
}

/// Read a state from `path` (`-`: stdin) in `format`, or by its name.
pub fn read_state(path: &Path, format: Option<Format>) -> Result<State> {
    let format = format.unwrap_or_else(|| Format::of(path));
    let (text, name) = read_text(path)?;
    let state = match format {
        Format::Rules => State::from_rules_text(&text),
        Format::Json => State::from_json(&text),
        Format::Yaml => State::from_yaml(&text),
        Format::Toml => State::from_toml(&text),
        #[cfg(feature = "import")]
        Format::Piranha => return Ok(import(&text, &name, ipvs::import::Format::Piranha)?.state),
        #[cfg(feature = "import")]
        Format::Keepalived => {
            return Ok(import(&text, &name, ipvs::import::Format::Keepalived)?.state);
        }
    };
    state.map_err(|e| Failure::usage(format!("{name}: {e}")))
}

/// Read a run's whole configuration (table, health and failover
/// settings) from `path` in `format`, or by its name; not validated
/// beyond the table (see [`ipvs::health::RunConfig::validate`]).
#[cfg(feature = "health")]
pub fn read_run_config(path: &Path, format: Option<Format>) -> Result<ipvs::health::RunConfig> {
    use ipvs::health::{Format as F, RunConfig};
    let format = format.unwrap_or_else(|| Format::of(path));
    let (text, name) = read_text(path)?;
    let as_run =
        |f: F| RunConfig::parse(&text, f).map_err(|e| Failure::usage(format!("{name}: {e}")));
    match format {
        Format::Rules => as_run(F::Rules),
        Format::Json => as_run(F::Json),
        Format::Yaml => as_run(F::Yaml),
        Format::Toml => as_run(F::Toml),
        #[cfg(feature = "import")]
        Format::Piranha => Ok(import(&text, &name, ipvs::import::Format::Piranha)?.to_run_config()),
        #[cfg(feature = "import")]
        Format::Keepalived => {
            Ok(import(&text, &name, ipvs::import::Format::Keepalived)?.to_run_config())
        }
    }
}

/// The library's name for a format a run reads.
#[cfg(feature = "health")]
pub fn run_format(format: Format) -> ipvs::health::Format {
    use ipvs::health::Format as F;
    match format {
        Format::Rules => F::Rules,
        Format::Json => F::Json,
        Format::Yaml => F::Yaml,
        Format::Toml => F::Toml,
        #[cfg(feature = "import")]
        Format::Piranha => F::Piranha,
        #[cfg(feature = "import")]
        Format::Keepalived => F::Keepalived,
    }
}

/// `state` written in `format`; as rules, `complete` adds what `ipvsadm -S`
/// leaves out (thresholds, the timeouts).
pub fn write_state(state: &State, format: Format, complete: bool) -> Result<String> {
    let out = match format {
        Format::Rules => {
            let mut s = state.clone();
            if !complete {
                s.timeouts = None;
            }
            let opts = if complete {
                WriteOptions::COMPLETE
            } else {
                WriteOptions::IPVSADM
            };
            return Ok(rules::write_with(&s.to_rules(), &opts));
        }
        Format::Json => state.to_json(),
        Format::Yaml => state.to_yaml(),
        Format::Toml => state.to_toml(),
        #[cfg(feature = "import")]
        Format::Piranha => return Err(not_written()),
        #[cfg(feature = "import")]
        Format::Keepalived => {
            return ipvs::import::keepalived::write(state)
                .map_err(|e| Failure::usage(e.to_string()));
        }
    };
    out.map_err(|e| Failure::usage(e.to_string()))
}

#[cfg(feature = "import")]
fn not_written() -> Failure {
    Failure::usage("lvs.cf is read, not written: --to yaml, json, toml, rules or keepalived")
}

/// A run's whole configuration written in `format`; rules hold the table
/// only (a note on stderr says the health settings were left out).
#[cfg(feature = "health")]
pub fn write_run_config(config: &ipvs::health::RunConfig, format: Format) -> Result<String> {
    let usage = |e: &dyn std::fmt::Display| Failure::usage(e.to_string());
    match format {
        Format::Rules => {
            if !config.services.is_empty() || !config.dest_checks.is_empty() {
                eprintln!(
                    "ipvsctl: note: ipvsadm rules hold the table only: the health settings are not written"
                );
            }
            write_state(&config.state, Format::Rules, true)
        }
        Format::Json => Ok(config.to_json() + "\n"),
        Format::Yaml => config.to_yaml().map_err(|e| usage(&e)),
        Format::Toml => config.to_toml().map_err(|e| usage(&e)),
        #[cfg(feature = "import")]
        Format::Piranha => Err(not_written()),
        #[cfg(feature = "import")]
        Format::Keepalived => {
            ipvs::import::keepalived::write_run_config(config).map_err(|e| usage(&e))
        }
    }
}
