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
}

impl Format {
    /// The format of `path`, by its extension; ipvsadm's own files have none
    /// (`/etc/sysconfig/ipvsadm`), so anything else is rules.
    pub fn of(path: &Path) -> Format {
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

/// A table read from a file: `FILE` and `--format`.
#[derive(Debug, Clone, Args)]
pub struct Source {
    /// The table: a state file read by its extension (.json, .yaml or .yml,
    /// .toml), or ipvsadm rules (anything else; `-` for stdin).
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

/// `--format FMT`: the format of FILE, whatever its extension.
#[derive(Debug, Clone, Copy, Args)]
pub struct FormatOption {
    /// Read FILE as FMT, whatever its extension.
    #[arg(short = 'f', long, value_name = "FMT")]
    pub format: Option<Format>,
}

/// Read a state from `path` (`-`: stdin) in `format`, or by its extension.
pub fn read_state(path: &Path, format: Option<Format>) -> Result<State> {
    let format = format.unwrap_or_else(|| Format::of(path));
    let mut text = String::new();
    let name = if path == Path::new("-") {
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::usage(format!("stdin: {e}")))?;
        "stdin".to_owned()
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        path.display().to_string()
    };
    let state = match format {
        Format::Rules => State::from_rules_text(&text),
        Format::Json => State::from_json(&text),
        Format::Yaml => State::from_yaml(&text),
        Format::Toml => State::from_toml(&text),
    };
    state.map_err(|e| Failure::usage(format!("{name}: {e}")))
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
    };
    out.map_err(|e| Failure::usage(e.to_string()))
}
