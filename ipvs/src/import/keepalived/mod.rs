//! keepalived.conf (keepalived 2.2): lexer, syntax tree, typed document,
//! and the mapping to the IPVS table.
//!
//! - [`parse_str`] / [`parse_file`]: the text (with its `include`s) to a
//!   [`Config`], every value with its [`Location`](crate::import::Location);
//!   warnings for keys the table, health and failover settings do not hold.
//! - [`to_import`]: the [`Config`] to the table keepalived's checker
//!   process makes once every real server is up (`alpha` off, or checks
//!   that pass).
//! - [`write()`]: a state as keepalived.conf that reads back to it.
//!
//! ```
//! use ipvs::import::keepalived;
//!
//! let doc = keepalived::parse_str("\
//! virtual_server fwmark 7 {
//!     lvs_sched rr
//!     lvs_method DR
//!     real_server 192.0.2.21 80 { weight 2 }   ! the port of a DR fwmark server is cleared
//! }
//! ", "keepalived.conf".as_ref()).unwrap();
//! assert_eq!(doc.config.virtual_servers[0].real_servers[0].port, 80);
//! let loaded = keepalived::to_import(&doc).unwrap();
//! assert_eq!(loaded.state.to_rules_text(), "\
//! -A -f 7 -s rr
//! -a -f 7 -r 192.0.2.21:0 -g -w 2
//! ");
//! assert_eq!(loaded.warnings.len(), 1);
//! ```

#[cfg(feature = "health")]
mod checkers;
mod document;
mod glob;
mod lexer;
mod map;
mod parse;
#[cfg(feature = "failover")]
mod vrrp;
mod write;
#[cfg(feature = "health")]
mod write_health;

use std::path::Path;

pub use document::{
    Checker, CheckerKind, Config, GlobalDefs, GroupEntry, Method, RealServer, SchedulerFlag,
    Timing, VirtualServer, VirtualServerGroup, VirtualServerId, VrrpInstance,
};
pub use map::DEFAULT_PERSISTENCE;
pub use parse::{Statement, Word};
#[cfg(feature = "health")]
pub use write::write_run_config;
#[cfg(feature = "failover")]
pub use write::write_with_failover;
pub use write::{WriteError, write};

use crate::import::{Import, ImportError, Warning, Warnings};

/// A parsed keepalived.conf: the typed document, and the warnings of
/// parsing (keys with no counterpart, unknown keys, a glob matching
/// nothing...).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The typed document.
    pub config: Config,
    /// What parsing reported.
    pub warnings: Vec<Warning>,
}

/// Parse `text`, read from (or named as) `path`; `include`s are relative to
/// `path`'s directory.
pub fn parse_str(text: &str, path: &Path) -> Result<Document, ImportError> {
    let mut w = Warnings::default();
    let statements = parse::parse_text(text, path, &mut w)?;
    let config = document::build(&statements, &mut w)?;
    Ok(Document {
        config,
        warnings: w.0,
    })
}

/// Read and parse the file at `path`.
pub fn parse_file(path: &Path) -> Result<Document, ImportError> {
    let text = std::fs::read(path).map_err(|error| ImportError::Read {
        file: path.to_owned(),
        error,
    })?;
    parse_str(&String::from_utf8_lossy(&text), path)
}

/// The syntax tree of `text` (statements and blocks), includes followed:
/// what [`parse_str`] types.
pub fn syntax_tree(text: &str, path: &Path) -> Result<Vec<Statement>, ImportError> {
    parse::parse_text(text, path, &mut Warnings::default())
}

/// The table of a parsed file, with the parse warnings first.
pub fn to_import(doc: &Document) -> Result<Import, ImportError> {
    let mut import = map::to_import(&doc.config)?;
    let mut warnings = doc.warnings.clone();
    warnings.append(&mut import.warnings);
    import.warnings = warnings;
    Ok(import)
}
