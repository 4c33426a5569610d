//! ipvsadm's rules format: what `ipvsadm -S -n` writes and `ipvsadm -R`
//! reads, one ipvsadm command per line.
//!
//! ```
//! use ipvs::rules::{self, Rule};
//!
//! let text = "\
//! -A -t 192.0.2.10:80 -s wrr -p 600
//! -a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
//! ";
//! let parsed = rules::parse(text).unwrap();
//! assert!(matches!(&parsed[0], Rule::AddService { service } if service.scheduler.name() == "wrr"));
//! assert_eq!(rules::write(&parsed), text);
//!
//! let err = rules::parse("-A -t 192.0.2.10:80 -s").unwrap_err();
//! assert_eq!((err.line, err.column), (1, 23));
//! ```
//!
//! Parsing follows ipvsadm 1.31: short and long options, option clusters
//! (`-At`), attached values (`-w3`, `--weight=3`), defaults (scheduler
//! `wlc`, persistence 300 s, forwarding `-g`, weight 1), and ipvsadm's own
//! client-side rules (for `-g` and `-i` the destination port is the
//! service's; port 0 needs persistence; `-o` is for UDP and fwmark services;
//! `sh-*` and `mh-*` flags need their scheduler; tunnel options need `-i`).
//! Addresses and ports are numeric only: no name is ever resolved.
//!
//! Writing follows ipvsadm 1.31's `-S -n` byte for byte: it never writes
//! thresholds (`-x`, `-y`), which ipvsadm's save drops too, unless asked to
//! with [`WriteOptions::thresholds`].

mod error;
mod parse;
mod write;

pub use error::{RulesError, RulesErrorKind};
pub(crate) use parse::parse_pieces;
pub use parse::{ParsedRule, parse, parse_lines};
pub use write::{WriteOptions, write, write_with};
pub(crate) use write::{write_dest_head, write_dest_tail, write_service};

use std::net::SocketAddr;

use crate::model::{Destination, Service, ServiceKey, Timeouts};

/// One ipvsadm command line.
///
/// Service and destination rules carry the whole [`Service`] or
/// [`Destination`] they set, with ipvsadm's defaults filled in: `-E` and
/// `-e` replace every setting, as ipvsadm does.
///
/// The variants are named as the client's
/// [`Operation`](crate::client::Operation)s and the plan's
/// [`Change`](crate::state::Change)s are (`-E` is `UpdateService`, `-a`
/// `AddDestination`). Serde tags are their snake-case names; the older
/// `edit_service`, `add_dest`, `edit_dest` and `delete_dest` are still read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "rule"))]
pub enum Rule {
    /// `-A`: add a virtual service.
    AddService {
        /// The service.
        service: Service,
    },
    /// `-E`: change a virtual service's settings.
    #[cfg_attr(feature = "serde", serde(alias = "edit_service"))]
    UpdateService {
        /// The service, with every setting.
        service: Service,
    },
    /// `-D`: delete a virtual service and its destinations.
    DeleteService {
        /// Which service.
        service: ServiceKey,
    },
    /// `-a`: add a destination to a service.
    #[cfg_attr(feature = "serde", serde(alias = "add_dest"))]
    AddDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// `-e`: change a destination's settings.
    #[cfg_attr(feature = "serde", serde(alias = "edit_dest"))]
    UpdateDestination {
        /// The service.
        service: ServiceKey,
        /// The destination, with every setting.
        dest: Destination,
    },
    /// `-d`: delete a destination.
    #[cfg_attr(feature = "serde", serde(alias = "delete_dest"))]
    DeleteDestination {
        /// The service.
        service: ServiceKey,
        /// The destination's address and port.
        dest: SocketAddr,
    },
    /// `-C`: remove every service.
    Clear,
    /// `--set tcp tcpfin udp`: connection timeouts (0 leaves one unchanged).
    SetTimeouts {
        /// The timeouts.
        timeouts: Timeouts,
    },
    /// `-Z`: zero the counters of one service, or of all.
    Zero {
        /// The service, or `None` for every service.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        service: Option<ServiceKey>,
    },
}

impl Rule {
    /// The service this rule is about, if it names one.
    pub fn service_key(&self) -> Option<&ServiceKey> {
        match self {
            Rule::AddService { service } | Rule::UpdateService { service } => Some(&service.key),
            Rule::DeleteService { service }
            | Rule::AddDestination { service, .. }
            | Rule::UpdateDestination { service, .. }
            | Rule::DeleteDestination { service, .. } => Some(service),
            Rule::Zero { service } => service.as_ref(),
            Rule::Clear | Rule::SetTimeouts { .. } => None,
        }
    }
}

impl std::fmt::Display for Rule {
    /// The rule as ipvsadm writes it, without a newline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write::write_rule(f, self, &WriteOptions::default())
    }
}

impl std::str::FromStr for Rule {
    type Err = RulesError;
    /// Exactly one rule (blank lines and comments around it are allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut rules = parse_lines(s)?;
        match rules.len() {
            1 => Ok(rules.remove(0).rule),
            0 => Err(RulesError::new(1, 1, RulesErrorKind::NoRule)),
            _ => Err(RulesError::new(
                rules[1].line,
                1,
                RulesErrorKind::MoreThanOneRule,
            )),
        }
    }
}
