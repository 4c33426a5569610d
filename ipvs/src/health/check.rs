//! A check: which probe, against what, how often, and how many results
//! in a row change a real server's state.
//!
//! In a file a check is one map: the probe's `type` and parameters beside
//! the timing fields. Every field but `type` has a default:
//!
//! ```yaml
//! type: tcp            # the probe (see ipvs::health::probe::Probe)
//! interval: 2s         # time between probes (default 2s)
//! timeout: 1s          # a probe's limit, at most the interval (default 1s)
//! fall: 3              # failures in a row before down (default 3)
//! rise: 2              # successes in a row before up (default 2)
//! jitter: 2s           # first probe at a random point within this (default: the interval)
//! connect_address: 198.51.100.5   # probe this address instead of the destination's
//! connect_port: 8080   # probe this port instead of the destination's
//! source: 198.51.100.254          # local address to probe from
//! ```
//!
//! ```
//! use std::time::Duration;
//! use ipvs::health::Check;
//! let check: Check = serde_json::from_str(r#"{"type": "tcp", "interval": "500ms", "timeout": 0.2}"#).unwrap();
//! assert_eq!(check.interval, Duration::from_millis(500));
//! assert_eq!(check.fall, 3);
//! check.validate().unwrap();
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Map, Value};

use super::duration;
use super::probe::{Probe, Target};

/// The defaults: probe every 2 s with a 1 s limit, down after 3 failures in
/// a row, up after 2 successes in a row (keepalived's are slower: a 60 s
/// loop, a 5 s connect timeout, one retry, up on the first success).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// See [`DEFAULT_INTERVAL`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// See [`DEFAULT_INTERVAL`].
pub const DEFAULT_FALL: u32 = 3;
/// See [`DEFAULT_INTERVAL`].
pub const DEFAULT_RISE: u32 = 2;

/// One check of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What each probe does.
    pub probe: Probe,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// Limit of one probe (at most `interval`).
    pub timeout: Duration,
    /// Consecutive failures that take an up server down (at least 1).
    pub fall: u32,
    /// Consecutive successes that bring a down server up (at least 1).
    pub rise: u32,
    /// The first probe starts at a random point within this, so that
    /// thousands of checks do not fire together; `None`: one interval.
    pub jitter: Option<Duration>,
    /// Probe this address instead of the destination's.
    pub connect_address: Option<IpAddr>,
    /// Probe this port instead of the destination's.
    pub connect_port: Option<u16>,
    /// The local address probes come from.
    pub source: Option<IpAddr>,
}

impl Check {
    /// A check with `probe` and every default.
    pub fn new(probe: Probe) -> Self {
        Check {
            probe,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
            jitter: None,
            connect_address: None,
            connect_port: None,
            source: None,
        }
    }

    /// Probe every `interval`, each within `timeout`.
    pub fn every(mut self, interval: Duration, timeout: Duration) -> Self {
        self.interval = interval;
        self.timeout = timeout;
        self
    }

    /// Down after `fall` failures in a row, up after `rise` successes.
    pub fn counts(mut self, fall: u32, rise: u32) -> Self {
        self.fall = fall;
        self.rise = rise;
        self
    }

    /// Start-up jitter.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// What is probed for a destination at `dest`.
    pub fn target(&self, dest: SocketAddr) -> Target {
        Target {
            addr: SocketAddr::new(
                self.connect_address.unwrap_or(dest.ip()),
                self.connect_port.unwrap_or(dest.port()),
            ),
            source: self.source,
        }
    }

    /// The timing: what decides when probes run and what their results do.
    pub fn timing(&self) -> Timing {
        Timing {
            interval: self.interval,
            timeout: self.timeout,
            fall: self.fall,
            rise: self.rise,
            jitter: self.jitter.unwrap_or(self.interval),
        }
    }

    /// Check the settings: interval above zero, timeout above zero and
    /// not above the interval, fall and rise at least 1, a jitter not
    /// above one minute plus the interval, and the probe's own settings.
    pub fn validate(&self) -> Result<(), CheckError> {
        if self.interval.is_zero() {
            return Err(CheckError::new("interval", "must be above zero"));
        }
        if self.timeout.is_zero() {
            return Err(CheckError::new("timeout", "must be above zero"));
        }
        if self.timeout > self.interval {
            return Err(CheckError::new(
                "timeout",
                format!(
                    "{} is above the interval ({})",
                    duration::format(self.timeout),
                    duration::format(self.interval)
                ),
            ));
        }
        if self.fall == 0 {
            return Err(CheckError::new("fall", "must be at least 1"));
        }
        if self.rise == 0 {
            return Err(CheckError::new("rise", "must be at least 1"));
        }
        if self.connect_port == Some(0) {
            return Err(CheckError::new("connect_port", "must not be 0"));
        }
        self.probe
            .validate()
            .map_err(|e| CheckError::new(e.field, e.message))
    }

    /// Read a check from a JSON value (the map described in the module's
    /// documentation); the error names the field.
    pub fn from_value(value: &Value) -> Result<Check, CheckError> {
        let Value::Object(map) = value else {
            return Err(CheckError::new(
                "check",
                "must be a map with a `type` (tcp, http, ...)",
            ));
        };
        let mut rest: Map<String, Value> = Map::new();
        let mut timing = Map::new();
        for (k, v) in map {
            if TIMING_FIELDS.contains(&k.as_str()) {
                timing.insert(k.clone(), v.clone());
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        if !rest.contains_key("type") {
            return Err(CheckError::new(
                "type",
                "missing: say which probe (tcp, http, ...)",
            ));
        }
        let probe: Probe = serde_json::from_value(Value::Object(rest)).map_err(|e| {
            let text = e.to_string();
            let field = unknown_field(&text).unwrap_or_else(|| "type".into());
            CheckError::new(field, text)
        })?;
        let mut check = Check::new(probe);
        for (k, v) in &timing {
            let field = k.as_str();
            let bad = |m: String| CheckError::new(field, m);
            match field {
                "interval" => check.interval = duration::from_value(v).map_err(bad)?,
                "timeout" => check.timeout = duration::from_value(v).map_err(bad)?,
                "jitter" => check.jitter = Some(duration::from_value(v).map_err(bad)?),
                "fall" => check.fall = count(v).map_err(bad)?,
                "rise" => check.rise = count(v).map_err(bad)?,
                "connect_address" => check.connect_address = Some(parse(v).map_err(bad)?),
                "connect_port" => check.connect_port = Some(parse(v).map_err(bad)?),
                "source" => check.source = Some(parse(v).map_err(bad)?),
                _ => unreachable!("TIMING_FIELDS lists every field handled"),
            }
        }
        Ok(check)
    }

    /// The check as a JSON map (what [`Check::from_value`] reads).
    pub fn to_value(&self) -> Value {
        let mut map = match serde_json::to_value(&self.probe) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let d = |d: Duration| Value::String(duration::format(d));
        map.insert("interval".into(), d(self.interval));
        map.insert("timeout".into(), d(self.timeout));
        map.insert("fall".into(), self.fall.into());
        map.insert("rise".into(), self.rise.into());
        if let Some(j) = self.jitter {
            map.insert("jitter".into(), d(j));
        }
        if let Some(a) = self.connect_address {
            map.insert("connect_address".into(), a.to_string().into());
        }
        if let Some(p) = self.connect_port {
            map.insert("connect_port".into(), p.into());
        }
        if let Some(a) = self.source {
            map.insert("source".into(), a.to_string().into());
        }
        Value::Object(map)
    }
}

/// The check's fields other than the probe's.
const TIMING_FIELDS: &[&str] = &[
    "interval",
    "timeout",
    "fall",
    "rise",
    "jitter",
    "connect_address",
    "connect_port",
    "source",
];

fn count(v: &Value) -> Result<u32, String> {
    match v.as_i64() {
        Some(n) if n < 0 => Err(format!("{n} is negative")),
        Some(n) => u32::try_from(n).map_err(|_| format!("{n} is too large")),
        None => Err(format!("{v} is not a whole number")),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("{v}: {e}"))
}

/// The field serde names in "unknown field `x`".
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_owned())
}

impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Check {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Check::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// When a check's probes run and what their results do: what must be the
/// same for every destination that shares one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time between probes.
    pub interval: Duration,
    /// A probe's limit.
    pub timeout: Duration,
    /// Failures in a row before down.
    pub fall: u32,
    /// Successes in a row before up.
    pub rise: u32,
    /// Start-up jitter.
    pub jitter: Duration,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "interval {}, timeout {}, fall {}, rise {}, jitter {}",
            duration::format(self.interval),
            duration::format(self.timeout),
            self.fall,
            self.rise,
            duration::format(self.jitter)
        )
    }
}

/// A check setting that is not valid: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct CheckError {
    /// The field (`interval`, `timeout`, `type`, a probe's field...).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl CheckError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        CheckError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<Check, CheckError> {
        Check::from_value(&v).and_then(|c| c.validate().map(|()| c))
    }

    #[test]
    fn defaults_and_round_trip() {
        let c = check(json!({"type": "tcp"})).unwrap();
        assert_eq!(c, Check::new(Probe::Tcp));
        assert_eq!(c.timing().jitter, DEFAULT_INTERVAL);
        let full = check(
            json!({"type": "tcp", "interval": "3s", "timeout": 0.5, "fall": 1,
            "rise": 4, "jitter": "100ms", "connect_address": "127.0.0.1", "connect_port": 8080,
            "source": "::1"}),
        )
        .unwrap();
        assert_eq!(full.fall, 1);
        assert_eq!(
            full.target("192.0.2.1:80".parse().unwrap()).addr,
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(Check::from_value(&full.to_value()).unwrap(), full);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |v: Value| check(v).unwrap_err().field;
        assert_eq!(field(json!({"type": "tcp", "interval": 0})), "interval");
        assert_eq!(field(json!({"type": "tcp", "interval": "-2s"})), "interval");
        assert_eq!(field(json!({"type": "tcp", "timeout": "0s"})), "timeout");
        let e = check(json!({"type": "tcp", "interval": "1s", "timeout": "2s"})).unwrap_err();
        assert_eq!(e.to_string(), "timeout: 2s is above the interval (1s)");
        assert_eq!(field(json!({"type": "tcp", "fall": 0})), "fall");
        assert_eq!(field(json!({"type": "tcp", "rise": 0})), "rise");
        assert_eq!(field(json!({"type": "tcp", "rise": -1})), "rise");
        assert_eq!(
            field(json!({"type": "tcp", "connect_port": 70000})),
            "connect_port"
        );
        assert_eq!(field(json!({"type": "tcp", "source": "nowhere"})), "source");
        assert_eq!(field(json!({"type": "tcp", "intervall": 2})), "intervall");
        assert_eq!(field(json!({"type": "carrier-pigeon"})), "type");
        assert_eq!(field(json!({"interval": 2})), "type");
        assert_eq!(field(json!("tcp")), "check");
    }
}
