//! Arbitrary text as keepalived.conf: see `checks::parse_keepalived`.
//! The checks live in `fuzz/checks.rs`, shared with the host regression
//! test (`ipvs/tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_keepalived(data));
