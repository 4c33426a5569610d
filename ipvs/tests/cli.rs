//! `ipvsctl` without a kernel: the command line, files, plans against
//! files (`--from`), and the exit statuses scripts rely on. The kernel
//! side is in `cli_kernel.rs`.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const EXE: &str = env!("CARGO_BIN_EXE_ipvsctl");

fn ipvsctl(args: &[&str]) -> Output {
    ipvsctl_stdin(args, "")
}

fn ipvsctl_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(EXE)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ipvsctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// A scratch directory of this test's own.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ipvsctl-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const RULES: &str = "\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 198.51.100.21:80 -m -w 3
-a -t 192.0.2.10:80 -r 198.51.100.22:80 -m -w 1
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 198.51.100.23:53 -i -w 1 --tun-type ipip
";

const YAML: &str = "\
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    persistence: {timeout: 600, netmask: {v4: 255.255.255.255}}
    destinations:
      - {address: 198.51.100.21, port: 80, weight: 5}
      - {address: 198.51.100.24, port: 80, weight: 1}
";

#[test]
fn help_documents_commands_and_exit_statuses() {
    for args in [&["--help"][..], &["-h"], &["apply", "x.yaml", "--help"]] {
        let out = ipvsctl(args);
        assert_eq!(code(&out), 0);
        let text = stdout(&out);
        for needle in [
            "show",
            "save",
            "restore",
            "apply",
            "diff",
            "--dry-run",
            "--netns",
            "--json",
            "Exit status",
            "0  done",
            "1  the kernel refused",
            "2  usage error",
            "3  IPVS not available",
            "4  diff --exit-code",
        ] {
            assert!(text.contains(needle), "--help lacks {needle:?}");
        }
    }
    let out = ipvsctl(&["--version"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with("ipvsctl "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["show", "--dry-run"],
        &["apply"],
        &["apply", "x.yaml", "--wait"],
        &["apply", "x.yaml", "--drain", "soon"],
        &["save", "--format", "xml"],
        &["diff", "a", "b"],
    ] {
        let out = ipvsctl(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("ipvsctl: "), "{args:?}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn files_that_do_not_parse_exit_2_and_name_the_place() {
    let d = Dir::new();
    let bad_rules = d.file(
        "bad.rules",
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r\n",
    );
    let out = ipvsctl(&["check", &bad_rules]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));

    let bad_yaml = d.file("bad.yaml", "services:\n  - protocol: tcp\n    port: [\n");
    assert_eq!(code(&ipvsctl(&["apply", &bad_yaml, "--dry-run"])), 2);

    // Valid syntax, invalid state: a weight the kernel would refuse.
    let invalid = d.file(
        "w.json",
        r#"{"services":[{"protocol":"tcp","address":"192.0.2.10","port":80,"scheduler":"rr",
            "destinations":[{"address":"198.51.100.1","port":80,"weight":4294967295}]}]}"#,
    );
    let out = ipvsctl(&["diff", &invalid, "--from", &invalid]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    let missing = d.path("missing.yaml");
    let out = ipvsctl(&["apply", &missing, "--dry-run"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.yaml"));
}

#[test]
fn check_and_convert_between_formats() {
    let d = Dir::new();
    let rules = d.file("t.rules", RULES);
    let out = ipvsctl(&["check", &rules]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), RULES);
    assert!(stderr(&out).contains("2 services, 3 destinations"));

    let mut last = RULES.to_owned();
    for (fmt, ext) in [("json", "json"), ("yaml", "yaml"), ("toml", "toml")] {
        let out = ipvsctl(&["convert", &rules, "--to", fmt]);
        assert_eq!(code(&out), 0, "{fmt}: {}", stderr(&out));
        let file = d.file(&format!("t.{ext}"), &stdout(&out));
        // Read back by extension, written as rules: the same table.
        let back = ipvsctl(&["convert", &file, "--to", "rules"]);
        assert_eq!(code(&back), 0, "{fmt}: {}", stderr(&back));
        assert_eq!(stdout(&back), RULES, "{fmt}");
        last = stdout(&back);
    }
    assert_eq!(last, RULES);

    // Stdin and --format.
    let out = ipvsctl_stdin(&["convert", "-", "--to", "rules"], RULES);
    assert_eq!(stdout(&out), RULES);
    let out = ipvsctl_stdin(&["convert", "-", "--format", "yaml", "--to", "rules"], YAML);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("-A -t 192.0.2.10:80 -s wrr -p 600\n"));
}

#[test]
fn diff_and_dry_run_against_a_file() {
    let d = Dir::new();
    let current = d.file("current.rules", RULES);
    let wanted = d.file("wanted.yaml", YAML);

    let out = ipvsctl(&["diff", &wanted, "--from", &current]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\
-a -t 192.0.2.10:80 -r 198.51.100.24:80 -m -w 1
-e -t 192.0.2.10:80 -r 198.51.100.21:80 -m -w 5
-d -t 192.0.2.10:80 -r 198.51.100.22:80
-D -u 192.0.2.10:53
"
    );
    assert!(stderr(&out).contains("4 operations"), "{}", stderr(&out));

    // --exit-code: 4 when there are differences, 0 when none.
    assert_eq!(
        code(&ipvsctl(&[
            "diff",
            &wanted,
            "--from",
            &current,
            "--exit-code"
        ])),
        4
    );
    let out = ipvsctl(&["diff", &current, "--from", &current, "--exit-code"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("no changes"));

    // apply --dry-run prints the same plan; as JSON, a plan that reads back.
    let out = ipvsctl(&["apply", &wanted, "--dry-run", "--from", &current, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = ipvs::state::Plan::from_json(&stdout(&out)).expect("the plan reads back");
    assert_eq!(plan.len(), 4);
    let text = ipvsctl(&["apply", &wanted, "--dry-run", "--from", &current]);
    assert_eq!(stdout(&text), plan.to_string());
}

#[test]
fn dry_run_with_drain_shows_what_drains() {
    let d = Dir::new();
    // The current table as JSON, with connection counts as the kernel
    // reports them.
    let current = d.file(
        "current.json",
        r#"{"services":[{"protocol":"tcp","address":"192.0.2.10","port":80,"scheduler":"rr",
            "destinations":[
              {"address":"198.51.100.1","port":80,"weight":1,
               "connections":{"active":3,"inactive":1,"persistent":0}},
              {"address":"198.51.100.2","port":80,"weight":1}]}]}"#,
    );
    let wanted = d.file(
        "wanted.rules",
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 1\n",
    );
    let out = ipvsctl(&["diff", &wanted, "--from", &current, "--drain", "5m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "-e -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 0\n"
    );
    let err = stderr(&out);
    assert!(
        err.contains("draining TCP 192.0.2.10:80 -> 198.51.100.1:80: 3 active, 1 inactive"),
        "{err}"
    );
    // Without --drain: deleted at once.
    let out = ipvsctl(&["diff", &wanted, "--from", &current]);
    assert_eq!(stdout(&out), "-d -t 192.0.2.10:80 -r 198.51.100.1:80\n");
}

#[test]
fn a_missing_network_namespace_exits_3() {
    let out = ipvsctl(&["--netns", "ipvsctl-no-such-namespace", "show"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("ipvsctl-no-such-namespace"));
}

#[test]
fn without_ipvs_the_kernel_commands_exit_3() {
    // Only where IPVS is unreachable (this machine's kernel, or no root);
    // in the guest the kernel tests cover these commands.
    if Path::new("/proc/net/ip_vs").exists() {
        return;
    }
    for args in [&["show"][..], &["save"], &["show", "--json"]] {
        let out = ipvsctl(args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("not available") || err.contains("permission"),
            "{err}"
        );
        assert!(stdout(&out).is_empty());
    }
    let d = Dir::new();
    let f = d.file("t.rules", RULES);
    assert_eq!(code(&ipvsctl(&["apply", &f])), 3);
    assert_eq!(code(&ipvsctl(&["diff", &f])), 3);
    assert_eq!(code(&ipvsctl_stdin(&["restore"], RULES)), 3);
}

/// A `failover:` block that cannot work exits 2 with a message naming the
/// field, before IPVS is even opened (so on any host): out of range, mixed
/// families, keepalived not installed, no such interface.
#[cfg(all(feature = "health", feature = "failover"))]
#[test]
fn run_refuses_a_bad_failover_block_before_starting() {
    let dir = Dir::new();
    let file = |name: &str, failover: &str| {
        dir.file(
            name,
            &format!(
                "services:
  - {{protocol: tcp, address: 198.51.100.100, port: 80, scheduler: rr,
     destinations: [{{address: 198.51.100.11, port: 80, forward: direct_route}}]}}
failover: {{{failover}}}
"
            ),
        )
    };
    let cases = [
        (
            "interface: lo, virtual_router_id: 0, priority: 100, vips: [198.51.100.100/24]",
            "field failover: virtual_router_id: 0 is out of range 1..=255",
        ),
        (
            "interface: lo, virtual_router_id: 51, priority: 255, vips: [198.51.100.100/24]",
            "field failover: priority: 255 is out of range 1..=254",
        ),
        (
            "interface: lo, virtual_router_id: 51, priority: 100, vips: [198.51.100.100/24, 2001:db8::1]",
            "vips: 2001:db8::1/128 is not of the same family as 198.51.100.100/24",
        ),
        (
            "interface: lo, virtual_router_id: 51, priority: 100, vips: [198.51.100.100/24], \
             keepalived: {mode: run, binary: /nonexistent/keepalived}",
            "failover.keepalived.binary: \"/nonexistent/keepalived\" not found (on PATH, /usr/sbin, /sbin); \
             install it: apt-get install keepalived",
        ),
        (
            "interface: nosuch0, virtual_router_id: 51, priority: 100, vips: [198.51.100.100/24], \
             keepalived: {mode: run, binary: /bin/sh}",
            "failover.interface: no interface \"nosuch0\" in this network namespace",
        ),
    ];
    for (i, (block, want)) in cases.iter().enumerate() {
        let f = file(&format!("fo{i}.yaml"), block);
        let out = ipvsctl(&["run", &f]);
        assert_eq!(code(&out), 2, "{block}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("ipvsctl run: {f}: ")) && stderr(&out).contains(want),
            "{block}: want {want:?}, got {}",
            stderr(&out)
        );
    }
}

#[cfg(feature = "health")]
#[test]
fn run_refuses_a_bad_file_before_touching_anything() {
    let dir = Dir::new();
    let bad = dir.file(
        "run.yaml",
        "services:
  - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr,
     health: {check: {type: tcp, interval: 1s, timeout: 2s}},
     destinations: [{address: 198.51.100.1, port: 80}]}
",
    );
    let out = ipvsctl(&["run", &bad]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "service TCP 192.0.2.10:80, field health.check.timeout: 2s is above the interval (1s)"
        ),
        "{}",
        stderr(&out)
    );
    let out = ipvsctl(&["run", &bad, "--on-stop", "sometimes"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("leave") && stderr(&out).contains("remove"),
        "{}",
        stderr(&out)
    );
    let out = ipvsctl(&["run"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("<FILE>"), "{}", stderr(&out));
}

/// lvs.cf and keepalived.conf: recognised by name (or `--format`), read by
/// `check`, `diff --from`, `convert` (health and failover settings
/// included where the output holds them) and `run`; what does not carry
/// over is a warning on stderr naming file and line.
#[cfg(all(feature = "import", feature = "health"))]
#[test]
fn piranha_and_keepalived_files_are_read_by_name_or_format() {
    let dir = Dir::new();
    let lvs_cf = "\
serial_no = 3
primary = 192.0.2.2
service = lvs
network = nat
virtual web {
     active = 1
     address = 192.0.2.80 eth0:1
     port = 80
     scheduler = wlc
     protocol = tcp
     send = \"GET / HTTP/1.0\\r\\n\\r\\n\"
     expect = \"HTTP\"
     timeout = 6
     reentry = 12
     quiesce_server = 1
     load_monitor = ruptime
     server web1 {
         address = 198.51.100.11
         active = 1
         weight = 2
     }
}
";
    let cf = dir.file("lvs.cf", lvs_cf);
    // By name: the table, and a warning naming the file and line.
    let out = ipvsctl(&["check", &cf]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "-A -t 192.0.2.80:80 -s wlc\n-a -t 192.0.2.80:80 -r 198.51.100.11:80 -m -w 2\n"
    );
    assert!(
        stderr(&out).contains("lvs.cf:16:") && stderr(&out).contains("load_monitor"),
        "{}",
        stderr(&out)
    );
    // The same file under another name, with --format.
    let other = dir.file("cluster.conf", lvs_cf);
    let out = ipvsctl(&["check", "--format", "piranha", &other]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // To YAML: nanny's check and policy come along.
    let out = ipvsctl(&["convert", &cf, "--to", "yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let yaml = stdout(&out);
    for want in [
        "type: tcp_send_expect",
        "interval: 6s",
        "fall: 1",
        "rise: 2",
        "on_failure: quiesce",
    ] {
        assert!(yaml.contains(want), "{want}:\n{yaml}");
    }
    // lvs.cf is read, never written.
    let out = ipvsctl(&["convert", &cf, "--to", "piranha"]);
    assert_eq!(code(&out), 2);

    // keepalived.conf with a checker: to keepalived.conf and back.
    let kconf = dir.file(
        "keepalived.conf",
        "virtual_server 192.0.2.10 80 {
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    delay_loop 2
    inhibit_on_failure
    real_server 192.0.2.21 80 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200-299 301
            }
            connect_timeout 1
            retry 2
        }
    }
}
",
    );
    let out = ipvsctl(&["convert", &kconf, "--to", "keepalived"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = stdout(&out);
    assert!(
        written.contains("HTTP_GET {") && written.contains("status_code 200-299 301"),
        "{written}"
    );
    let again = dir.file("again/keepalived.conf", &written);
    let out = ipvsctl(&["convert", &again, "--to", "keepalived"]);
    assert_eq!(stdout(&out), written, "{}", stderr(&out));
    // Plan against the kernel's table as a file: diff reads keepalived.conf too.
    let empty = dir.file("empty.rules", "");
    let out = ipvsctl(&["diff", &kconf, "--from", &empty]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("192.0.2.21:80"), "{}", stdout(&out));
    // Rules hold the table only: said on stderr.
    let out = ipvsctl(&["convert", &kconf, "--to", "rules"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("health settings are not written"),
        "{}",
        stderr(&out)
    );

    // run: a keepalived.conf whose MISC_CHECK program does not exist
    // exits 2 before touching anything, naming the field.
    let bad = dir.file(
        "bad/keepalived.conf",
        "virtual_server 192.0.2.10 80 {
    protocol TCP
    real_server 192.0.2.21 80 {
        MISC_CHECK {
            misc_path /nonexistent/check
        }
    }
}
",
    );
    let out = ipvsctl(&["run", &bad]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("program") && stderr(&out).contains("/nonexistent/check"),
        "{}",
        stderr(&out)
    );
}
