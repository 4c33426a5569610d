//! Arbitrary bytes as a received datagram: see `checks::decode_datagram`.
//! The checks live in `fuzz/checks.rs`, shared with the host regression
//! test (`ipvs/tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode_datagram(data));
