use std::fmt;
use std::str::FromStr;

/// A connection scheduler, by the name the kernel knows it by.
///
/// The fourteen schedulers shipped with Linux are named; any other name is
/// kept as [`Scheduler::Other`], so a kernel with an out-of-tree scheduler
/// never makes this crate fail. `none` binds no scheduler.
///
/// ```
/// use ipvs::Scheduler;
/// let s: Scheduler = "wrr".parse().unwrap();
/// assert_eq!(s, Scheduler::WeightedRoundRobin);
/// assert_eq!(s.name(), "wrr");
/// assert_eq!("my-sched".parse::<Scheduler>().unwrap(), Scheduler::Other("my-sched".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Scheduler {
    /// `rr`: round robin.
    RoundRobin,
    /// `wrr`: weighted round robin.
    WeightedRoundRobin,
    /// `lc`: least connection.
    LeastConnection,
    /// `wlc`: weighted least connection (ipvsadm's default).
    #[default]
    WeightedLeastConnection,
    /// `lblc`: locality-based least connection.
    LocalityBasedLeastConnection,
    /// `lblcr`: locality-based least connection with replication.
    LocalityBasedLeastConnectionReplication,
    /// `dh`: destination hashing.
    DestinationHashing,
    /// `sh`: source hashing.
    SourceHashing,
    /// `sed`: shortest expected delay.
    ShortestExpectedDelay,
    /// `nq`: never queue.
    NeverQueue,
    /// `fo`: weighted failover.
    WeightedFailover,
    /// `ovf`: weighted overflow.
    WeightedOverflow,
    /// `mh`: Maglev hashing.
    MaglevHashing,
    /// `twos`: weighted random twos choice.
    TwoChoice,
    /// `none`: no scheduler bound (for services fed only by persistence or sync).
    None,
    /// Any other scheduler module, by name.
    Other(String),
}

const NAMED: [(Scheduler, &str); 15] = [
    (Scheduler::RoundRobin, "rr"),
    (Scheduler::WeightedRoundRobin, "wrr"),
    (Scheduler::LeastConnection, "lc"),
    (Scheduler::WeightedLeastConnection, "wlc"),
    (Scheduler::LocalityBasedLeastConnection, "lblc"),
    (Scheduler::LocalityBasedLeastConnectionReplication, "lblcr"),
    (Scheduler::DestinationHashing, "dh"),
    (Scheduler::SourceHashing, "sh"),
    (Scheduler::ShortestExpectedDelay, "sed"),
    (Scheduler::NeverQueue, "nq"),
    (Scheduler::WeightedFailover, "fo"),
    (Scheduler::WeightedOverflow, "ovf"),
    (Scheduler::MaglevHashing, "mh"),
    (Scheduler::TwoChoice, "twos"),
    (Scheduler::None, "none"),
];

impl Scheduler {
    /// Every scheduler shipped with the kernel (not `none`).
    pub fn kernel_schedulers() -> impl Iterator<Item = Scheduler> {
        NAMED[..14].iter().map(|(s, _)| s.clone())
    }

    /// The name the kernel knows this scheduler by.
    pub fn name(&self) -> &str {
        match self {
            Scheduler::Other(name) => name,
            known => NAMED
                .iter()
                .find(|(s, _)| s == known)
                .map(|(_, n)| *n)
                .unwrap_or(""),
        }
    }

    /// The scheduler for a kernel name; never fails.
    pub fn from_name(name: &str) -> Self {
        NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| s.clone())
            .unwrap_or_else(|| Scheduler::Other(name.to_owned()))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scheduler::from_name(s))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Scheduler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Scheduler {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Scheduler::from_name(&name))
    }
}
