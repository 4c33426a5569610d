//! Arbitrary text as Piranha's lvs.cf: see `checks::parse_piranha`.
//! The checks live in `fuzz/checks.rs`, shared with the host regression
//! test (`ipvs/tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_piranha(data));
