//! Fuzz inputs replayed on the host, through the fuzz targets' own checks
//! (`fuzz/checks.rs`, included as is):
//!
//! - every file of `fuzz/regressions/<target>/`: inputs that once crashed a
//!   target (`scripts/fuzz` copies a new crash there), kept so the fix stays;
//! - every seed of `fuzz/seeds/<target>/`, which must also be useful: rules
//!   seeds parse, config seeds load in their format;
//! - every message of the golden fixtures, as `decode_datagram` input.
//!
//! A failing input is named with its path; reproduce it under the fuzzer
//! with `cd fuzz && cargo fuzz run <target> <file>`.
#![cfg(all(feature = "config", feature = "import"))]

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` (none if it does not exist), sorted; README and
/// dotfiles aside.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && !name.starts_with("README")
        })
        .collect();
    out.sort();
    out
}

/// Run `check` on each file, and fail naming every file it panicked on.
fn replay(what: &str, check: checks::Check, inputs: &[PathBuf]) -> usize {
    let mut failed = Vec::new();
    for path in inputs {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{what}: {} of {} inputs fail:\n  {}",
        failed.len(),
        inputs.len(),
        failed.join("\n  ")
    );
    inputs.len()
}

#[test]
fn regressions_stay_fixed() {
    let root = fuzz_dir().join("regressions");
    let mut n = 0;
    for (target, check) in checks::TARGETS {
        n += replay(target, *check, &files(&root.join(target)));
    }
    // Every directory is a target's: a misspelt one would be skipped.
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap();
        if dir.path().is_dir() {
            let name = dir.file_name().to_string_lossy().into_owned();
            assert!(
                checks::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/regressions/{name} is no target's"
            );
        }
    }
    eprintln!("{n} regression inputs replayed");
}

#[test]
fn seeds_pass_the_checks() {
    let root = fuzz_dir().join("seeds");
    for (target, check) in checks::TARGETS {
        replay(target, *check, &files(&root.join(target)));
    }
}

#[test]
fn rules_seeds_parse() {
    let seeds = files(&fuzz_dir().join("seeds/parse_rules"));
    assert!(seeds.len() >= 5);
    for path in seeds {
        let text = std::fs::read_to_string(&path).unwrap();
        let rules = ipvs::rules::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!rules.is_empty(), "{}", path.display());
    }
}

#[test]
fn config_seeds_load() {
    use ipvs::state::State;
    let seeds = files(&fuzz_dir().join("seeds/load_config"));
    assert!(seeds.len() >= 3);
    for path in seeds {
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => State::from_json(&text),
            Some("yaml") => State::from_yaml(&text),
            Some("toml") => State::from_toml(&text),
            other => panic!("{}: extension {other:?}", path.display()),
        };
        let state = loaded.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!state.services.is_empty(), "{}", path.display());
    }
}

#[test]
fn fixture_messages_pass_decode_datagram() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut n = 0;
    for path in files(&dir) {
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for m in fixture["messages"].as_array().unwrap() {
            let hex = m["hex"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let ok = std::panic::catch_unwind(|| checks::decode_datagram(&bytes));
            assert!(ok.is_ok(), "{}: {hex}", path.display());
            n += 1;
        }
    }
    assert!(n > 100, "{n} fixture messages");
}

#[test]
fn import_seeds_load() {
    use ipvs::import::{self, Format};
    for (target, format, min) in [
        ("parse_keepalived", Format::Keepalived, 10),
        ("parse_piranha", Format::Piranha, 4),
    ] {
        let seeds = files(&fuzz_dir().join("seeds").join(target));
        assert!(seeds.len() >= min, "{target}: {} seeds", seeds.len());
        for path in seeds {
            // As the fuzz check reads them: without include lines.
            let original = std::fs::read_to_string(&path).unwrap();
            let text: String = original
                .lines()
                .filter(|l| !l.trim_start().starts_with("include"))
                .map(|l| format!("{l}\n"))
                .collect();
            let loaded = import::load_str(&text, &path, format)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !loaded.state.services.is_empty() || original.contains("include"),
                "{}: no service",
                path.display()
            );
        }
    }
}
