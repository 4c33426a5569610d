//! Health checking that drives the table (feature `health`): probes of real
//! servers, the policy that turns their results into the table's effective
//! state, and the loop that keeps the kernel's table there.
//!
//! - [`probe`]: what one check does to one real server ([`probe::Probe`]),
//!   and its result ([`probe::Outcome`]).

pub mod probe;
