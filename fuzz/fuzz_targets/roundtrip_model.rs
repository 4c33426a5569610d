//! Structured model values, encoded and decoded: see `checks::roundtrip_model`.
//! The checks live in `fuzz/checks.rs`, shared with the host regression
//! test (`ipvs/tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::roundtrip_model(data));
