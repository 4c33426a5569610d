//! What the probes of one target found so far: up or down, the counts of
//! consecutive results, the weight it asked for, its recovery.
//!
//! ```
//! use std::time::Duration;
//! use ipvs::health::TargetStatus;
//! use ipvs::health::probe::{Failure, FailureReason, Outcome};
//! let down = Outcome::Down(Failure { reason: FailureReason::Refused, detail: String::new() });
//! let mut s = TargetStatus::new();
//! assert!(s.up);
//! s.record(&down, 2, 2);
//! assert!(s.up, "one failure of two");
//! s.record(&down, 2, 2);
//! assert!(!s.up);
//! ```

use super::probe::{Failure, Outcome};

/// One probe target's state. Every destination sharing the target sees
/// the same status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// Up (it starts up; see [`super::Initial`] for services that treat
    /// it as down until its first success).
    pub up: bool,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// Whether any probe succeeded yet.
    pub ever_succeeded: bool,
    /// The weight its last success asked for (exec and file checks).
    pub weight: Option<u32>,
    /// Whether it came up after being down (slow start applies).
    pub recovered: bool,
    /// Successes since it last came up (the slow-start step).
    pub since_up: u32,
    /// The last failure.
    pub last_failure: Option<Failure>,
    /// Probes run.
    pub probes: u64,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus::new()
    }
}

impl TargetStatus {
    /// A target never probed: up.
    pub fn new() -> Self {
        TargetStatus {
            up: true,
            successes: 0,
            failures: 0,
            ever_succeeded: false,
            weight: None,
            recovered: false,
            since_up: 0,
            last_failure: None,
            probes: 0,
        }
    }

    /// Count one probe's outcome: `fall` failures in a row take an up
    /// target down, `rise` successes in a row bring a down one up.
    pub fn record(&mut self, outcome: &Outcome, fall: u32, rise: u32) {
        self.probes += 1;
        match outcome {
            Outcome::Up | Outcome::UpWithWeight(_) => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                self.ever_succeeded = true;
                self.weight = match outcome {
                    Outcome::UpWithWeight(w) => Some(*w),
                    _ => None,
                };
                if self.up {
                    self.since_up = self.since_up.saturating_add(1);
                } else if self.successes >= rise {
                    self.up = true;
                    self.recovered = true;
                    self.since_up = 0;
                }
            }
            Outcome::Down(f) => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                self.last_failure = Some(f.clone());
                if self.up && self.failures >= fall {
                    self.up = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::probe::FailureReason;

    fn down() -> Outcome {
        Outcome::Down(Failure {
            reason: FailureReason::Timeout,
            detail: "t".into(),
        })
    }

    #[test]
    fn fall_and_rise_count_consecutive_results() {
        let mut s = TargetStatus::new();
        for o in [down(), down(), Outcome::Up, down(), down()] {
            s.record(&o, 3, 2);
            assert!(s.up, "a success resets the failures");
        }
        s.record(&down(), 3, 2);
        assert!(!s.up && !s.recovered);
        s.record(&Outcome::Up, 3, 2);
        s.record(&down(), 3, 2);
        s.record(&Outcome::Up, 3, 2);
        assert!(!s.up, "a failure resets the successes");
        s.record(&Outcome::UpWithWeight(7), 3, 2);
        assert!(s.up && s.recovered && s.since_up == 0);
        assert_eq!(s.weight, Some(7));
        s.record(&Outcome::Up, 3, 2);
        assert_eq!((s.since_up, s.weight), (1, None));
        assert_eq!(s.probes, 11);
    }
}
