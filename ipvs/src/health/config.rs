//! The file of a health-checked run (`ipvsctl run FILE`): the state
//! formats (YAML, JSON, TOML) with a `health:` block per service and a
//! `check:` per destination, or plain ipvsadm rules (nothing checked).
//!
//! ```yaml
//! timeouts: {tcp: 900, tcp_fin: 120, udp: 300}   # optional, as in state files
//! notify:                                        # optional: a program run on each event
//!   command: [/usr/local/bin/lvs-event, --site, a]
//!   timeout: 5s
//! services:
//!   - protocol: tcp
//!     address: 192.0.2.10
//!     port: 80
//!     scheduler: wrr
//!     health:
//!       check: {type: tcp, interval: 2s, timeout: 1s, fall: 3, rise: 2}
//!       on_failure: quiesce
//!       slow_start: true
//!       quorum: {weight: 2, hysteresis: 0}
//!       sorry_server: {address: 198.51.100.99, port: 80, weight: 1}
//!     destinations:
//!       - {address: 198.51.100.1, port: 80, weight: 3}
//!       - address: 198.51.100.2
//!         port: 80
//!         weight: 1
//!         check: {type: tcp, connect_port: 8080}   # its own check
//!       - {address: 198.51.100.3, port: 80, check: false}   # never checked
//! ```
//!
//! A destination's `check:` replaces the service's whole default check.
//! All destinations that probe the same address and port with the same
//! probe from the same source share one probe, so they must give it the
//! same timing ([`ConfigError::SharedProbeTiming`]).
//!
//! A top-level `failover:` block holds [`crate::failover::Settings`] (with
//! the feature `failover`; without it, a file with one is refused): read
//! and validated with the rest, kept in [`RunConfig`]'s `failover` field
//! for whoever runs the failover beside the checks.
//!
//! ```
//! use ipvs::health::RunConfig;
//! let config = RunConfig::from_yaml("
//! services:
//!   - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr,
//!      health: {check: {type: tcp, interval: 0}},
//!      destinations: [{address: 198.51.100.1, port: 80}]}
//! ").unwrap_err();
//! assert_eq!(config.to_string(), "service TCP 192.0.2.10:80, field health.check.interval: must be above zero");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::check::{Check, Timing};
use super::notify::NotifySettings;
use super::policy::ServiceHealth;
use super::probe::{Probe, Target};
use crate::ServiceKey;
use crate::state::{State, StateError};

/// A run's configuration: the table wanted, and how to check it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunConfig {
    /// The table as configured: every destination at its configured
    /// weight, whatever its health.
    pub state: State,
    /// Each service's health settings (services without a `health:`
    /// block are absent).
    pub services: HashMap<ServiceKey, ServiceHealth>,
    /// Destinations' own `check:` settings: `Some` replaces the service's
    /// default check, `None` (`check: false`) turns checking off.
    pub dest_checks: HashMap<(ServiceKey, SocketAddr), Option<Check>>,
    /// The program to run on each event.
    pub notify: Option<NotifySettings>,
    /// The director's failover settings (`failover:`).
    #[cfg(feature = "failover")]
    pub failover: Option<crate::failover::Settings>,
}

/// Where in a file a setting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// The service, if the setting is in one.
    pub service: Option<ServiceKey>,
    /// The destination, if the setting is in one.
    pub dest: Option<SocketAddr>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.service, self.dest) {
            (Some(s), Some(d)) => write!(f, "service {s}, destination {d}"),
            (Some(s), None) => write!(f, "service {s}"),
            (None, Some(d)) => write!(f, "destination {d}"),
            (None, None) => f.write_str("top level"),
        }
    }
}

/// A configuration that does not load. Nothing is started or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The table part does not parse or is not valid (the error names
    /// the service and destination).
    #[error("{0}")]
    State(#[from] StateError),
    /// A setting that is unknown or not valid.
    #[error("{location}, field {field}: {problem}")]
    Field {
        /// Where.
        location: Location,
        /// The field, dotted from the service or destination
        /// (`health.check.interval`, `check.type`).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Two destinations share a probe (same target, probe and source) but
    /// give it different timing.
    #[error("{0}")]
    SharedProbeTiming(Box<SharedProbeTiming>),
    /// An lvs.cf or keepalived.conf that does not load (the error names
    /// the file, line and column).
    #[cfg(feature = "import")]
    #[error("{0}")]
    Import(#[from] crate::import::ImportError),
}

/// Two destinations sharing a probe with different timing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{second}: the probe of {target} is shared with {first}, which gives it another timing ({first_timing} against {second_timing}); give every check of one real server the same timing"
)]
pub struct SharedProbeTiming {
    /// The probe's target.
    pub target: SocketAddr,
    /// The first destination with that probe.
    pub first: Location,
    /// Its timing.
    pub first_timing: Timing,
    /// The destination whose timing differs.
    pub second: Location,
    /// Its timing.
    pub second_timing: Timing,
}

impl ConfigError {
    fn field(location: Location, field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Field {
            location,
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ipvsadm rules (`ipvsadm -S` output).
    Rules,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// TOML.
    Toml,
    /// Piranha's lvs.cf, with nanny's checks (feature `import`).
    #[cfg(feature = "import")]
    Piranha,
    /// keepalived.conf, with its checkers (feature `import`).
    #[cfg(feature = "import")]
    Keepalived,
}

impl Format {
    /// The format of a file by its name (`lvs.cf`, `keepalived.conf`, with
    /// feature `import`), else its extension: `.json`, `.yaml`/`.yml`,
    /// `.toml`, anything else rules.
    pub fn of(path: &Path) -> Format {
        #[cfg(feature = "import")]
        match crate::import::Format::from_file_name(path) {
            Some(crate::import::Format::Piranha) => return Format::Piranha,
            Some(crate::import::Format::Keepalived) => return Format::Keepalived,
            None => {}
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            Some("toml") => Format::Toml,
            _ => Format::Rules,
        }
    }
}

const TOP_FIELDS: &[&str] = &["timeouts", "services", "notify", "failover"];
const SERVICE_FIELDS: &[&str] = &[
    "protocol",
    "address",
    "port",
    "fwmark",
    "family",
    "scheduler",
    "persistence",
    "flags",
    "persistence_engine",
    "stats",
    "destinations",
    "health",
];
const DEST_FIELDS: &[&str] = &[
    "address",
    "port",
    "forward",
    "weight",
    "upper_threshold",
    "lower_threshold",
    "connections",
    "stats",
    "check",
];

impl RunConfig {
    /// A configuration without checks: `state` as it is.
    pub fn unchecked(state: State) -> Self {
        RunConfig {
            state,
            ..RunConfig::default()
        }
    }

    /// Read a file, its format by its extension ([`Format::of`]).
    pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        RunConfig::parse_as(&text, path, Format::of(path))
    }

    /// Read a file in `format`, whatever its name.
    pub fn load_as(path: &Path, format: Format) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        RunConfig::parse_as(&text, path, format)
    }

    /// Read `text` in `format` as if read from `path` (which names it in
    /// errors; keepalived's `include`s are relative to its directory).
    pub fn parse_as(text: &str, path: &Path, format: Format) -> Result<RunConfig, ConfigError> {
        let _ = path;
        match format {
            #[cfg(feature = "import")]
            Format::Piranha => {
                crate::import::load_str(text, path, crate::import::Format::Piranha)?.run_config()
            }
            #[cfg(feature = "import")]
            Format::Keepalived => {
                crate::import::load_str(text, path, crate::import::Format::Keepalived)?.run_config()
            }
            other => RunConfig::parse(text, other),
        }
    }

    /// Read `text` in `format` (lvs.cf and keepalived.conf as if read from
    /// the current directory: see [`RunConfig::parse_as`]).
    pub fn parse(text: &str, format: Format) -> Result<RunConfig, ConfigError> {
        match format {
            #[cfg(feature = "import")]
            Format::Piranha | Format::Keepalived => {
                RunConfig::parse_as(text, Path::new("stdin"), format)
            }
            Format::Rules => Ok(RunConfig::unchecked(State::from_rules_text(text)?)),
            Format::Json => RunConfig::from_json(text),
            Format::Yaml => RunConfig::from_yaml(text),
            Format::Toml => RunConfig::from_toml(text),
        }
    }

    /// Read JSON.
    pub fn from_json(text: &str) -> Result<RunConfig, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(StateError::from)?;
        RunConfig::from_value(value)
    }

    /// Read YAML (enums as maps or plain names, as in state files).
    pub fn from_yaml(text: &str) -> Result<RunConfig, ConfigError> {
        let value: Value = serde_norway::from_str(text).map_err(StateError::from)?;
        RunConfig::from_value(value)
    }

    /// Read TOML (`[[services]]`, `[services.health]`,
    /// `[[services.destinations]]`, `[services.destinations.check]`).
    pub fn from_toml(text: &str) -> Result<RunConfig, ConfigError> {
        let value: Value = toml::from_str(text).map_err(StateError::from)?;
        RunConfig::from_value(value)
    }

    /// Read a configuration from its JSON value, and validate it.
    pub fn from_value(mut root: Value) -> Result<RunConfig, ConfigError> {
        let top = Location::default();
        let Value::Object(map) = &mut root else {
            return Err(ConfigError::field(top, "(file)", "must be a map"));
        };
        unknown_fields(map, TOP_FIELDS, top, "")?;
        let failover = map.remove("failover");
        #[cfg(not(feature = "failover"))]
        if failover.is_some() {
            return Err(ConfigError::field(
                top,
                "failover",
                "this build has no failover (feature failover)",
            ));
        }
        let notify = map.remove("notify");
        // Take the health settings out; what is left is a state file.
        let mut health: Vec<Option<Value>> = Vec::new();
        let mut checks: Vec<Vec<Option<Value>>> = Vec::new();
        if let Some(Value::Array(services)) = map.get_mut("services") {
            for s in services.iter_mut() {
                let Value::Object(s) = s else {
                    health.push(None);
                    checks.push(Vec::new());
                    continue;
                };
                health.push(s.remove("health"));
                let mut dest_checks = Vec::new();
                if let Some(Value::Array(dests)) = s.get_mut("destinations") {
                    for d in dests.iter_mut() {
                        dest_checks.push(match d {
                            Value::Object(d) => d.remove("check"),
                            _ => None,
                        });
                    }
                }
                checks.push(dest_checks);
            }
        }
        let state: State = match serde_json::from_value(root.clone()) {
            Ok(state) => state,
            Err(e) => return Err(locate_state_error(&root, e)),
        };
        state.validate()?;

        // Unknown fields of services and destinations (the state formats
        // ignore them; a run's file must not).
        if let Some(Value::Array(services)) = root.get("services") {
            for (s, svc) in services.iter().zip(&state.services) {
                let at = Location {
                    service: Some(svc.service.key),
                    dest: None,
                };
                if let Value::Object(m) = s {
                    unknown_fields(m, SERVICE_FIELDS, at, "")?;
                }
                if let Some(Value::Array(dests)) = s.get("destinations") {
                    for (d, dest) in dests.iter().zip(&svc.destinations) {
                        if let Value::Object(m) = d {
                            let at = Location {
                                dest: Some(dest.socket_addr()),
                                ..at
                            };
                            unknown_fields(m, DEST_FIELDS, at, "")?;
                        }
                    }
                }
            }
        }

        let mut config = RunConfig {
            state,
            ..RunConfig::default()
        };
        #[cfg(feature = "failover")]
        if let Some(f) = failover {
            let settings: crate::failover::Settings = serde_json::from_value(f)
                .map_err(|e| ConfigError::field(top, "failover", e.to_string()))?;
            settings
                .validate()
                .map_err(|e| ConfigError::field(top, "failover", e.to_string()))?;
            config.failover = Some(settings);
        }
        if let Some(n) = notify {
            config.notify = Some(
                NotifySettings::from_value(&n)
                    .map_err(|(field, problem)| ConfigError::field(top, field, problem))?,
            );
        }
        for (i, svc) in config.state.services.iter().enumerate() {
            let key = svc.service.key;
            let at = Location {
                service: Some(key),
                dest: None,
            };
            if let Some(Some(h)) = health.get(i) {
                config.services.insert(key, service_health(h, &key, at)?);
            }
            let dest_checks = checks.get(i).map(Vec::as_slice).unwrap_or_default();
            for (d, c) in svc.destinations.iter().zip(dest_checks) {
                let Some(c) = c else { continue };
                let at = Location {
                    dest: Some(d.socket_addr()),
                    ..at
                };
                let check = match c {
                    Value::Bool(false) | Value::Null => None,
                    v => Some(checked(v, at, "check")?),
                };
                config.dest_checks.insert((key, d.socket_addr()), check);
            }
        }
        config.validate_shared_probes()?;
        Ok(config)
    }

    /// The check of destination `dest` of service `service`: its own, or
    /// its service's default, or none.
    pub fn check_of(&self, service: &ServiceKey, dest: SocketAddr) -> Option<&Check> {
        match self.dest_checks.get(&(*service, dest)) {
            Some(own) => own.as_ref(),
            None => self.services.get(service)?.check.as_ref(),
        }
    }

    /// The health settings of `service` (the defaults if it has none).
    pub fn health_of(&self, service: &ServiceKey) -> ServiceHealth {
        self.services.get(service).cloned().unwrap_or_default()
    }

    /// Every checked destination with its check, in file order.
    pub fn checked(&self) -> impl Iterator<Item = (ServiceKey, SocketAddr, &Check)> + '_ {
        self.state.services.iter().flat_map(move |s| {
            let key = s.service.key;
            s.destinations.iter().filter_map(move |d| {
                let addr = d.socket_addr();
                self.check_of(&key, addr).map(|c| (key, addr, c))
            })
        })
    }

    /// Check a configuration built in code (or by an import) as a file is
    /// checked when read: the table, every check and policy, and probes
    /// shared by several destinations with one timing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.state.validate()?;
        for (key, health) in &self.services {
            let at = Location {
                service: Some(*key),
                dest: None,
            };
            if let Some(c) = &health.check {
                c.validate().map_err(|e| {
                    ConfigError::field(at, format!("health.check.{}", e.field), e.problem)
                })?;
            }
            health
                .validate_policy(key)
                .map_err(|e| ConfigError::field(at, format!("health.{}", e.field), e.problem))?;
        }
        for ((key, dest), check) in &self.dest_checks {
            if let Some(c) = check {
                let at = Location {
                    service: Some(*key),
                    dest: Some(*dest),
                };
                c.validate()
                    .map_err(|e| ConfigError::field(at, format!("check.{}", e.field), e.problem))?;
            }
        }
        self.validate_shared_probes()
    }

    /// The configuration as the JSON value [`RunConfig::from_value`] reads:
    /// the state's form with `health:` in each service, `check:` in each
    /// destination that has its own, `notify:` and `failover:` at the top.
    pub fn to_value(&self) -> Value {
        let mut root =
            serde_json::to_value(&self.state).unwrap_or_else(|_| Value::Object(Map::new()));
        if let Some(Value::Array(services)) = root.get_mut("services") {
            for (s, svc) in services.iter_mut().zip(&self.state.services) {
                let key = svc.service.key;
                let Value::Object(s) = s else { continue };
                if let Some(h) = self.services.get(&key) {
                    s.insert("health".into(), health_value(h));
                }
                if let Some(Value::Array(dests)) = s.get_mut("destinations") {
                    for (d, dest) in dests.iter_mut().zip(&svc.destinations) {
                        let (Value::Object(d), Some(check)) =
                            (d, self.dest_checks.get(&(key, dest.socket_addr())))
                        else {
                            continue;
                        };
                        d.insert(
                            "check".into(),
                            check.as_ref().map_or(Value::Bool(false), Check::to_value),
                        );
                    }
                }
            }
        }
        if let Value::Object(m) = &mut root {
            if let Some(n) = &self.notify {
                m.insert("notify".into(), n.to_value());
            }
            #[cfg(feature = "failover")]
            if let Some(f) = &self.failover {
                m.insert(
                    "failover".into(),
                    serde_json::to_value(f).unwrap_or(Value::Null),
                );
            }
        }
        strip_nulls(&mut root);
        root
    }

    /// The configuration as JSON ([`RunConfig::from_json`] reads it back).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value always serializes")
    }

    /// The configuration as YAML ([`RunConfig::from_yaml`] reads it back).
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        Ok(serde_norway::to_string(&self.to_value()).map_err(StateError::from)?)
    }

    /// The configuration as TOML ([`RunConfig::from_toml`] reads it back).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        Ok(toml::to_string(&self.to_value()).map_err(StateError::from)?)
    }

    /// Refuse two destinations sharing a probe with different timing.
    fn validate_shared_probes(&self) -> Result<(), ConfigError> {
        let mut seen: HashMap<Target, Vec<(&Probe, Timing, Location)>> = HashMap::new();
        for (service, dest, check) in self.checked() {
            let at = Location {
                service: Some(service),
                dest: Some(dest),
            };
            let target = check.target(dest);
            let timing = check.timing();
            let entries = seen.entry(target).or_default();
            match entries.iter().find(|(p, ..)| **p == check.probe) {
                Some((_, t, first)) if *t != timing => {
                    return Err(ConfigError::SharedProbeTiming(Box::new(
                        SharedProbeTiming {
                            target: target.addr,
                            first: *first,
                            first_timing: *t,
                            second: at,
                            second_timing: timing,
                        },
                    )));
                }
                Some(_) => {}
                None => entries.push((&check.probe, timing, at)),
            }
        }
        Ok(())
    }
}

/// A service's `health:` map (its check in the check's own form).
fn health_value(h: &ServiceHealth) -> Value {
    let mut v = serde_json::to_value(h).unwrap_or_else(|_| Value::Object(Map::new()));
    if let (Value::Object(m), Some(c)) = (&mut v, &h.check) {
        m.insert("check".into(), c.to_value());
    }
    v
}

/// Remove `null`s (TOML has none; every field they stand for is optional).
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The service (and destination) a state that does not parse fails at.
fn locate_state_error(root: &Value, error: serde_json::Error) -> ConfigError {
    use crate::Destination;
    use crate::state::ServiceState;
    let Some(Value::Array(services)) = root.get("services") else {
        return StateError::from(error).into();
    };
    for s in services {
        let Err(e) = serde_json::from_value::<ServiceState>(s.clone()) else {
            continue;
        };
        let service = serde_json::from_value::<ServiceKey>(s.clone()).ok();
        if let Some(Value::Array(dests)) = s.get("destinations") {
            for d in dests {
                if let Err(e) = serde_json::from_value::<Destination>(d.clone()) {
                    let dest = (|| {
                        let ip: std::net::IpAddr = d.get("address")?.as_str()?.parse().ok()?;
                        let port = u16::try_from(d.get("port")?.as_u64()?).ok()?;
                        Some(SocketAddr::new(ip, port))
                    })();
                    let location = Location { service, dest };
                    return ConfigError::field(location, "destination", e.to_string());
                }
            }
        }
        return ConfigError::field(
            Location {
                service,
                dest: None,
            },
            "service",
            e.to_string(),
        );
    }
    StateError::from(error).into()
}

fn unknown_fields(
    map: &Map<String, Value>,
    known: &[&str],
    at: Location,
    prefix: &str,
) -> Result<(), ConfigError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ConfigError::field(
            at,
            format!("{prefix}{k}"),
            format!("unknown field (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A check read and validated, errors at `field.<its field>`.
fn checked(v: &Value, at: Location, field: &str) -> Result<Check, ConfigError> {
    let check = Check::from_value(v)
        .and_then(|c| c.validate().map(|()| c))
        .map_err(|e| {
            let f = if e.field == "check" {
                field.to_owned()
            } else {
                format!("{field}.{}", e.field)
            };
            ConfigError::field(at, f, e.problem)
        })?;
    Ok(check)
}

fn service_health(v: &Value, key: &ServiceKey, at: Location) -> Result<ServiceHealth, ConfigError> {
    let Value::Object(map) = v else {
        return Err(ConfigError::field(at, "health", "must be a map"));
    };
    let mut rest = map.clone();
    let check = match rest.remove("check") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(c) => Some(checked(&c, at, "health.check")?),
    };
    let mut health: ServiceHealth = serde_json::from_value(Value::Object(rest)).map_err(|e| {
        let text = e.to_string();
        let field = text
            .split("unknown field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .map(|f| format!("health.{f}"))
            .unwrap_or_else(|| "health".into());
        ConfigError::field(at, field, text)
    })?;
    health.check = check;
    health
        .validate_policy(key)
        .map_err(|e| ConfigError::field(at, format!("health.{}", e.field), e.problem))?;
    Ok(health)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health:
      check: {type: tcp, interval: 2s, timeout: 1s}
      on_failure: quiesce
      slow_start: true
      quorum: {weight: 2}
      sorry_server: {address: 198.51.100.99, port: 80}
    destinations:
      - {address: 198.51.100.1, port: 80, weight: 3}
      - {address: 198.51.100.2, port: 80, check: {type: tcp, connect_port: 8080}}
      - {address: 198.51.100.3, port: 80, check: false}
  - protocol: udp
    address: 192.0.2.10
    port: 53
    scheduler: rr
    destinations:
      - {address: 198.51.100.1, port: 53}
";

    #[test]
    fn writes_back_in_every_format() {
        let config = RunConfig::from_yaml(YAML).unwrap();
        assert_eq!(
            RunConfig::from_yaml(&config.to_yaml().unwrap()).unwrap(),
            config
        );
        assert_eq!(RunConfig::from_json(&config.to_json()).unwrap(), config);
        assert_eq!(
            RunConfig::from_toml(&config.to_toml().unwrap()).unwrap(),
            config
        );
        config.validate().unwrap();
    }

    fn err(text: &str) -> String {
        RunConfig::from_yaml(text).unwrap_err().to_string()
    }

    #[test]
    fn a_file_splits_into_state_and_checks() {
        let c = RunConfig::from_yaml(YAML).unwrap();
        assert_eq!(c.state.services.len(), 2);
        let web = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
        let h = &c.services[&web];
        assert_eq!(h.on_failure, super::super::OnFailure::Quiesce);
        assert_eq!(h.slow_start.unwrap().divisor, 32);
        let d = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            c.check_of(&web, d("198.51.100.1:80")).unwrap().interval,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(
            c.check_of(&web, d("198.51.100.2:80")).unwrap().connect_port,
            Some(8080)
        );
        assert!(c.check_of(&web, d("198.51.100.3:80")).is_none());
        let dns = ServiceKey::udp("192.0.2.10:53".parse().unwrap());
        assert!(c.check_of(&dns, d("198.51.100.1:53")).is_none());
        assert_eq!(c.checked().count(), 2);

        // The same file as JSON and TOML.
        let json = serde_json::to_string(&serde_norway::from_str::<Value>(YAML).unwrap()).unwrap();
        assert_eq!(RunConfig::from_json(&json).unwrap(), c);
        let toml_text = "
[[services]]
protocol = 'tcp'
address = '192.0.2.10'
port = 80
scheduler = 'wrr'
[services.health]
on_failure = 'quiesce'
check = { type = 'tcp', interval = '2s', timeout = '1s' }
[[services.destinations]]
address = '198.51.100.1'
port = 80
weight = 3
";
        let t = RunConfig::from_toml(toml_text).unwrap();
        assert_eq!(t.checked().count(), 1);
    }

    #[test]
    fn plain_rules_load_without_checks() {
        let c = RunConfig::parse(
            "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1\n",
            Format::Rules,
        )
        .unwrap();
        assert_eq!(c.state.dest_count(), 1);
        assert_eq!(c.checked().count(), 0);
    }

    #[test]
    fn errors_name_service_destination_and_field() {
        let bad = YAML.replace("interval: 2s, timeout: 1s", "interval: 1s, timeout: 2s");
        assert_eq!(
            err(&bad),
            "service TCP 192.0.2.10:80, field health.check.timeout: 2s is above the interval (1s)"
        );
        let bad = YAML.replace("connect_port: 8080", "connect_port: 8080, fall: 0");
        assert_eq!(
            err(&bad),
            "service TCP 192.0.2.10:80, destination 198.51.100.2:80, field check.fall: must be at least 1"
        );
        let bad = YAML.replace("type: tcp, connect", "type: smoke-signal, connect");
        assert!(
            err(&bad).starts_with(
                "service TCP 192.0.2.10:80, destination 198.51.100.2:80, field check.type: unknown variant `smoke-signal`"
            ),
            "{}",
            err(&bad)
        );
        // The probe's own validation, through its field.
        let bad = YAML.replace("type: tcp, connect_port: 8080", "type: http, path: health");
        assert!(
            err(&bad).starts_with(
                "service TCP 192.0.2.10:80, destination 198.51.100.2:80, field check.path: must start with '/'"
            ),
            "{}",
            err(&bad)
        );
        let bad = YAML.replace(
            "type: tcp, connect_port: 8080",
            "type: exec, program: /nonexistent/check",
        );
        assert!(err(&bad).contains("field check.program: "), "{}", err(&bad));
        let bad = YAML.replace("type: tcp, connect_port: 8080", "type: tcp, send: hello");
        assert!(
            err(&bad).contains("field check.send: unknown field"),
            "{}",
            err(&bad)
        );
        let bad = YAML.replace("on_failure: quiesce", "on_falure: quiesce");
        assert!(err(&bad).starts_with("service TCP 192.0.2.10:80, field health.on_falure:"));
        let bad = YAML.replace("check: false", "chek: false");
        assert!(
            err(&bad)
                .starts_with("service TCP 192.0.2.10:80, destination 198.51.100.3:80, field chek:")
        );
        let bad = YAML.replace("    scheduler: wrr", "    scheduler: wrr\n    helth: {}");
        assert!(err(&bad).starts_with("service TCP 192.0.2.10:80, field helth: unknown field"));
        let bad = format!("{YAML}failover: {{}}\n");
        assert!(
            err(&bad).starts_with("top level, field failover: "),
            "{}",
            err(&bad)
        );
        let bad = YAML.replace("quorum: {weight: 2}", "quorum: {weight: 0}");
        assert!(err(&bad).contains("field health.quorum.weight: must be at least 1"));
        let bad = YAML.replace("{weight: 2}", "{weight: 2, hysteresis: 2}");
        assert!(err(&bad).contains("health.quorum.hysteresis"));
        // A state error names its service and destination.
        let bad = YAML.replace("weight: 3", "weight: -3");
        assert_eq!(
            err(&bad),
            "service TCP 192.0.2.10:80, destination 198.51.100.1:80, field destination: invalid value: integer `-3`, expected u32"
        );
        let bad = YAML.replace("scheduler: rr", "scheduler: [rr]");
        assert!(
            err(&bad).starts_with("service UDP 192.0.2.10:53, field service: "),
            "{}",
            err(&bad)
        );
    }

    #[cfg(feature = "failover")]
    #[test]
    fn the_failover_block_is_read_and_validated() {
        let text = format!(
            "{YAML}failover: {{interface: eth0, virtual_router_id: 51, priority: 150, vips: [198.51.100.100/24]}}\n"
        );
        let c = RunConfig::from_yaml(&text).unwrap();
        assert_eq!(c.failover.unwrap().priority, 150);
        let bad = text.replace("priority: 150", "priority: 150, colour: red");
        assert!(
            err(&bad).starts_with("top level, field failover: unknown field `colour`"),
            "{}",
            err(&bad)
        );
    }

    #[test]
    fn a_shared_probe_needs_one_timing() {
        let text = "
services:
  - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr,
     health: {check: {type: tcp, interval: 2s}},
     destinations: [{address: 198.51.100.1, port: 80}]}
  - {protocol: tcp, address: 192.0.2.11, port: 80, scheduler: rr,
     health: {check: {type: tcp, interval: 3s}},
     destinations: [{address: 198.51.100.1, port: 80}]}
";
        let e = RunConfig::from_yaml(text).unwrap_err();
        assert!(matches!(e, ConfigError::SharedProbeTiming(_)), "{e}");
        assert!(e.to_string().starts_with(
            "service TCP 192.0.2.11:80, destination 198.51.100.1:80: the probe of 198.51.100.1:80 is shared with service TCP 192.0.2.10:80"
        ), "{e}");
        // Same timing: fine.
        RunConfig::from_yaml(&text.replace("3s", "2s")).unwrap();
    }
}
