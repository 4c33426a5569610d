//! Bringing existing clusters in (feature `import`): Piranha's `lvs.cf` and
//! keepalived's `keepalived.conf`, read into a [`State`].
//!
//! Each format is read in two steps: a parser gives a typed document that
//! keeps every key with its file, line and column ([`piranha::LvsCf`],
//! [`keepalived::Config`]); a mapping turns the document into the table.
//! What the table cannot hold (a `load_monitor`, an `SMTP_CHECK`, a key
//! neither format knows...) is a [`Warning`] naming where it was and what
//! was dropped: never silence, never a guess. Errors name the file, line
//! and column ([`ImportError`]).
//!
//! ```
//! use ipvs::import::{self, Format};
//!
//! let text = "\
//! virtual_server 192.0.2.10 80 {
//!     lvs_sched wrr
//!     lvs_method DR
//!     protocol TCP
//!     real_server 192.0.2.21 80 {
//!         weight 3
//!     }
//! }
//! ";
//! let loaded = import::load_str(text, "keepalived.conf".as_ref(), Format::Keepalived).unwrap();
//! assert_eq!(loaded.state.to_rules_text(), "\
//! -A -t 192.0.2.10:80 -s wrr
//! -a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 3
//! ");
//! assert!(loaded.warnings.is_empty());
//! ```

pub mod keepalived;
pub mod piranha;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "health")]
use std::{collections::HashMap, net::SocketAddr};

#[cfg(feature = "health")]
use crate::ServiceKey;
#[cfg(feature = "health")]
use crate::health::{Check, ConfigError, RunConfig, ServiceHealth};
use crate::state::State;

/// Where something is in a file: the file, and the line and column
/// (both from 1; the column counts characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as it was named (an included file: as the glob found it).
    pub file: Arc<Path>,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: Arc<Path>, line: u32, column: u32) -> Self {
        Location { file, line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written (its key's position).
    pub at: Location,
}

impl<T> Located<T> {
    /// `value`, written at `at`.
    pub fn new(value: T, at: Location) -> Self {
        Located { value, at }
    }
}

/// Why something in the file was not carried over as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// A key this loader does not know (nor, as far as it knows, does the
    /// program that reads the file).
    UnknownKey,
    /// A setting the program knows but the result cannot hold (a
    /// `load_monitor`, an `SMTP_CHECK`, a notify script...).
    NotCarriedOver,
    /// A setting the program itself would correct or ignore, with the
    /// correction applied as it applies it (keepalived's "no protocol set -
    /// defaulting to UDP", a duplicate real server removed...).
    Corrected,
    /// Something switched off in the file (`active = 0`): not loaded.
    Inactive,
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WarningKind::UnknownKey => "unknown key",
            WarningKind::NotCarriedOver => "not carried over",
            WarningKind::Corrected => "corrected",
            WarningKind::Inactive => "inactive",
        })
    }
}

/// Something in the file that is not in the result as written: where, the
/// key, and what was dropped or changed.
///
/// Displayed as `FILE:LINE:COLUMN: KIND: KEY: WHAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the key is.
    pub at: Location,
    /// Why.
    pub kind: WarningKind,
    /// The key (or block) concerned, as written.
    pub key: String,
    /// What was dropped or changed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.at, self.kind, self.key, self.message
        )
    }
}

/// Warnings as they are collected.
#[derive(Debug, Default)]
pub(crate) struct Warnings(pub(crate) Vec<Warning>);

impl Warnings {
    pub(crate) fn push(
        &mut self,
        at: &Location,
        kind: WarningKind,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Warning {
            at: at.clone(),
            kind,
            key: key.into(),
            message: message.into(),
        });
    }
}

/// The kind of an [`ImportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not parse (an unterminated quote, a missing `}`...).
    Syntax,
    /// A value that does not read (an address, a number, a name).
    Value,
    /// An `include` that cannot be followed (no such file, a cycle).
    Include,
    /// Settings that contradict each other, or a table the kernel would
    /// refuse.
    Conflict,
    /// A construct this loader does not support (keepalived's `$NAME`
    /// definitions, `@host` conditionals, `~SEQ`).
    Unsupported,
}

/// A file that cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file that cannot be read.
    #[error("{}: {error}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Something wrong at a place in a file.
    #[error("{at}: {message}")]
    At {
        /// Where.
        at: Location,
        /// What kind of error.
        kind: ErrorKind,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl ImportError {
    pub(crate) fn at(at: &Location, kind: ErrorKind, message: impl Into<String>) -> Self {
        ImportError::At {
            at: at.clone(),
            kind,
            message: message.into(),
        }
    }

    /// Where the error is, if it is at a place in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ImportError::At { at, .. } => Some(at),
            ImportError::Read { .. } => None,
        }
    }

    /// The kind of error (`None` for a file that cannot be read).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ImportError::At { kind, .. } => Some(*kind),
            ImportError::Read { .. } => None,
        }
    }
}

/// The formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Piranha's `lvs.cf` (written by piranha-gui, read by pulse and lvsd).
    Piranha,
    /// keepalived's `keepalived.conf`.
    Keepalived,
}

impl Format {
    /// The format a file's name says: `lvs.cf` is Piranha's,
    /// `keepalived.conf` keepalived's (any directory).
    ///
    /// ```
    /// use ipvs::import::Format;
    /// assert_eq!(Format::from_file_name("/etc/sysconfig/ha/lvs.cf".as_ref()), Some(Format::Piranha));
    /// assert_eq!(Format::from_file_name("keepalived.conf".as_ref()), Some(Format::Keepalived));
    /// assert_eq!(Format::from_file_name("lb.yaml".as_ref()), None);
    /// ```
    pub fn from_file_name(path: &Path) -> Option<Format> {
        match path.file_name()?.to_str()? {
            "lvs.cf" => Some(Format::Piranha),
            "keepalived.conf" => Some(Format::Keepalived),
            _ => None,
        }
    }

    /// The format's name on the command line: `piranha` or `keepalived`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Piranha => "piranha",
            Format::Keepalived => "keepalived",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "piranha" | "lvs.cf" => Ok(Format::Piranha),
            "keepalived" | "keepalived.conf" => Ok(Format::Keepalived),
            other => Err(format!("unknown format {other:?} (piranha or keepalived)")),
        }
    }
}

/// What a file brought in: the table, the failover settings, and
/// everything that was not carried over as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The IPVS table: services, destinations, timeouts. Validated.
    pub state: State,
    /// The director failover settings (keepalived's `vrrp_instance` and
    /// `lvs_sync_daemon`; lvs.cf's pulse keys), if the file has them.
    /// Validated.
    #[cfg(feature = "failover")]
    pub failover: Option<crate::failover::Settings>,
    /// Each service's health policy (feature `health`): keepalived's
    /// `inhibit_on_failure`, `alpha`, `quorum`, `hysteresis`,
    /// `sorry_server`; nanny's `quiesce_server`, `sorry_server`. Services
    /// without one are absent.
    #[cfg(feature = "health")]
    pub health: HashMap<ServiceKey, ServiceHealth>,
    /// Each destination's check (feature `health`): keepalived's first
    /// checker of the real server; nanny's `send`/`expect`,
    /// `send_program` or connect check. Not validated here (a program
    /// that does not exist on this machine still converts); running it
    /// validates it ([`Import::run_config`]).
    #[cfg(feature = "health")]
    pub checks: HashMap<(ServiceKey, SocketAddr), Option<Check>>,
    /// What was dropped or corrected, in file order.
    pub warnings: Vec<Warning>,
}

#[cfg(feature = "health")]
impl Import {
    /// What `ipvsctl run` takes: the table, the health settings and the
    /// failover settings, validated as a run's file is (programs exist,
    /// regexes compile, shared probes agree on timing).
    pub fn run_config(&self) -> Result<RunConfig, ConfigError> {
        let config = self.to_run_config();
        config.validate()?;
        Ok(config)
    }

    /// The same, not validated (to write it out in another format).
    pub fn to_run_config(&self) -> RunConfig {
        RunConfig {
            state: self.state.clone(),
            services: self.health.clone(),
            dest_checks: self.checks.clone(),
            notify: None,
            #[cfg(feature = "failover")]
            failover: self.failover.clone(),
        }
    }
}

/// Load `path` in `format`.
pub fn load(path: &Path, format: Format) -> Result<Import, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|error| ImportError::Read {
        file: path.to_owned(),
        error,
    })?;
    load_str(&text, path, format)
}

/// Load `text` in `format`, as if read from `path` (which names it in
/// errors and warnings; keepalived's `include`s are relative to its
/// directory).
pub fn load_str(text: &str, path: &Path, format: Format) -> Result<Import, ImportError> {
    match format {
        Format::Piranha => {
            let doc = piranha::parse(text, path)?;
            piranha::to_import(&doc)
        }
        Format::Keepalived => {
            let doc = keepalived::parse_str(text, path)?;
            keepalived::to_import(&doc)
        }
    }
}
