//! `ipvsctl completions SHELL` and `ipvsctl man`: generated from the same
//! definition as the command line, so they name every command `--help`
//! lists; the bash script is valid bash.

use std::path::PathBuf;
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_ipvsctl");

fn ipvsctl(args: &[&str]) -> Output {
    let out = Command::new(EXE).args(args).output().expect("run ipvsctl");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(ipvsctl(args).stdout).unwrap()
}

/// The commands as `ipvsctl --help` lists them.
fn commands() -> Vec<String> {
    let help = stdout(&["--help"]);
    let list = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap();
    let names: Vec<String> = list
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    for c in [
        "show", "save", "restore", "apply", "diff", "check", "convert",
    ] {
        assert!(names.iter().any(|n| n == c), "{c} not in {names:?}");
    }
    names
}

/// A scratch directory of this test's own.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ipvsctl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bash_completion_is_valid_bash_and_completes_every_command() {
    let script = stdout(&["completions", "bash"]);
    let d = Dir::new("bash");
    let file = d.0.join("ipvsctl.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("run bash");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Sourced, it registers the completion; asked for the first word, it
    // offers every command.
    let words = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(ipvsctl ''); COMP_CWORD=1; COMP_LINE='ipvsctl '; COMP_POINT=8; \
             _ipvsctl ipvsctl '' ipvsctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .expect("run bash");
    let offered = String::from_utf8(words.stdout).unwrap();
    for c in commands() {
        assert!(
            offered.lines().any(|w| w == c),
            "{c} not offered: {offered}"
        );
    }
}

#[test]
fn every_shell_has_a_completion_naming_every_command() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        for c in &commands {
            assert!(script.contains(c.as_str()), "{shell}: no {c}");
        }
    }
    let out = Command::new(EXE)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_names_every_command_and_the_exit_statuses() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH ipvsctl 1"), "{page}");
    for c in commands() {
        assert!(page.contains(&format!("ipvsctl\\-{c}(1)")), "no {c}");
    }
    let exit = page
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .expect("EXIT STATUS");
    for n in 0..=4 {
        assert!(exit.contains(&format!("\\fB{n}\\fR")), "status {n}");
    }

    // --dir: that page and one per command.
    let d = Dir::new("man");
    ipvsctl(&["man", "--dir", d.0.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(d.0.join("ipvsctl.1")).unwrap(),
        page
    );
    for c in commands() {
        let sub = std::fs::read_to_string(d.0.join(format!("ipvsctl-{c}.1")))
            .unwrap_or_else(|e| panic!("ipvsctl-{c}.1: {e}"));
        assert!(sub.contains(&format!(".TH ipvsctl-{c} 1")), "{sub}");
    }
}

#[test]
fn show_documents_ipvsadms_views_and_run_its_listen_address() {
    let d = Dir::new("man-show");
    ipvsctl(&["man", "--dir", d.0.to_str().unwrap()]);
    let show = std::fs::read_to_string(d.0.join("ipvsctl-show.1")).unwrap();
    let bash = stdout(&["completions", "bash"]);
    for flag in [
        "stats",
        "rate",
        "exact",
        "thresholds",
        "persistent\\-conn",
        "tun\\-info",
        "watch",
        "count",
    ] {
        assert!(show.contains(&format!("\\-\\-{flag}")), "show: no --{flag}");
        let plain = flag.replace('\\', "");
        assert!(bash.contains(&format!("--{plain}")), "bash: no --{plain}");
    }
    if cfg!(all(feature = "health", feature = "status")) {
        let run = std::fs::read_to_string(d.0.join("ipvsctl-run.1")).unwrap();
        for flag in ["listen", "node\\-exporter"] {
            assert!(run.contains(&format!("\\-\\-{flag}")), "run: no --{flag}");
        }
    }
}
