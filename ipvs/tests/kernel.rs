//! Tests against a real kernel's IPVS.
//!
//! Every test is ignored by default: this machine's kernel may have no IPVS,
//! and the tests need root. `scripts/test-kernel` builds this binary and runs
//! it with `--ignored` inside a guest kernel that has IPVS (or, with
//! `--in-guest`, right where it is).
//!
//! Each test works in a network namespace of its own (IPVS state is per
//! namespace), made with `ip netns add` and removed when the test ends, so
//! the tests run in parallel. Host addresses come only from documentation
//! ranges.

#[path = "kernel/common.rs"]
mod common;

#[path = "kernel/batch.rs"]
mod batch;
#[path = "kernel/concurrency.rs"]
mod concurrency;
#[path = "kernel/config.rs"]
mod config;
#[path = "kernel/daemons.rs"]
mod daemons;
#[path = "kernel/destinations.rs"]
mod destinations;
#[path = "kernel/errors.rs"]
mod errors;
#[path = "kernel/ipvsadm.rs"]
mod ipvsadm;
#[path = "kernel/serial.rs"]
mod serial;
#[path = "kernel/services.rs"]
mod services;
