//! `ipvs::import` on real-world files: keepalived.conf in the shape of
//! keepalived's samples and lvs.cf in the shape of Red Hat's Piranha
//! examples (our own files, in `tests/data/import/`), every key.
//!
//! Each `NAME.conf` / `NAME.cf` has its expected table next to it
//! (`NAME.rules`, as `State::to_rules_text` writes it) and its expected
//! warnings (`NAME.warnings`, one per line, paths relative to
//! `tests/data/import/`), and with feature `failover` its failover
//! settings (`NAME.failover`, as JSON, or `none`), with feature `health`
//! the whole run configuration with its health settings (`NAME.health`, as
//! YAML). `UPDATE_GOLDEN=1 cargo
//! test --test import --all-features` rewrites them; review the difference
//! before committing it. The goldens are those of `--all-features` (CI's).
#![cfg(feature = "import")]

use std::path::{Path, PathBuf};

use ipvs::import::{self, ErrorKind, Format, Import, ImportError, WarningKind};
use ipvs::state::State;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import")
}

/// The files of `dir` with extension `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn warnings_text(loaded: &Import) -> String {
    let root = format!("{}/", data().display());
    loaded
        .warnings
        .iter()
        .map(|w| format!("{w}\n").replace(&root, ""))
        .collect()
}

/// Compare `actual` with the golden file `path` (or rewrite it).
fn golden(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()))?;
    if expected != actual {
        return Err(format!(
            "{} differs:\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        ));
    }
    Ok(())
}

fn check_goldens(dir: &Path, ext: &str, format: Format) -> usize {
    let mut failures = Vec::new();
    let all = files(dir, ext);
    for file in &all {
        let loaded =
            import::load(file, format).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Whatever loads is a valid state that reads back from its rules.
        loaded.state.validate().unwrap();
        let back = State::from_rules_text(&loaded.state.to_rules_text())
            .unwrap_or_else(|e| panic!("{}: rules do not read back: {e}", file.display()));
        assert!(back.config_eq(&loaded.state), "{}", file.display());
        #[allow(unused_mut)]
        let mut goldens = vec![
            ("rules", loaded.state.to_rules_text()),
            ("warnings", warnings_text(&loaded)),
        ];
        #[cfg(feature = "failover")]
        goldens.push((
            "failover",
            match &loaded.failover {
                Some(f) => serde_json::to_string_pretty(f).unwrap() + "\n",
                None => "none\n".to_owned(),
            },
        ));
        #[cfg(feature = "health")]
        goldens.push((
            "health",
            loaded
                .to_run_config()
                .to_yaml()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        ));
        for (ext, text) in goldens {
            if let Err(e) = golden(&file.with_extension(ext), &text) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    all.len()
}

#[test]
#[cfg_attr(not(feature = "failover"), ignore = "the goldens are --all-features'")]
fn keepalived_files_load_as_expected() {
    let n = check_goldens(&data().join("keepalived/guest"), "conf", Format::Keepalived)
        + check_goldens(&data().join("keepalived/host"), "conf", Format::Keepalived)
        + check_goldens(&data().join("keepalived/other"), "conf", Format::Keepalived);
    assert!(n >= 12, "{n} files");
}

#[test]
#[cfg_attr(not(feature = "failover"), ignore = "the goldens are --all-features'")]
fn piranha_files_load_as_expected() {
    let n = check_goldens(&data().join("piranha"), "cf", Format::Piranha);
    assert!(n >= 4, "{n} files");
}

/// keepalived's own verdict on the test files, `keepalived --config-test`
/// (in a network namespace of its own with interfaces eth0 to eth3, which
/// the files name): the files of `host/` are clean (exit 0); those of
/// `guest/` and `other/` hold what keepalived corrects, reports and still
/// runs (exit 0 or 5). Skipped without keepalived outside CI.
#[test]
fn keepalived_accepts_the_test_files() {
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "keepalived is not installed (scripts/guest setup installs it)"
        );
        eprintln!("keepalived not installed: not checked");
        return;
    }
    for (dir, allowed) in [
        ("keepalived/host", &[0][..]),
        ("keepalived/guest", &[0, 5][..]),
        ("keepalived/other", &[0, 5][..]),
    ] {
        for file in files(&data().join(dir), "conf") {
            let (code, stderr) = keepalived_config_test(&file);
            assert!(
                allowed.contains(&code),
                "{}: keepalived --config-test exited {code}:\n{stderr}",
                file.display()
            );
        }
    }
}

/// `keepalived --config-test -f FILE` in a new network namespace with
/// veth pairs eth0/eth1 and eth2/eth3: its exit code and output.
pub fn keepalived_config_test(file: &Path) -> (i32, String) {
    let script = format!(
        "ip link add eth0 type veth peer name eth1 && ip link add eth2 type veth peer name eth3 \
         && exec timeout 30 keepalived --config-test -f '{}'",
        file.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code().unwrap_or(-1), text)
}

// ---------------------------------------------------------------- errors

fn keepalived_err(text: &str) -> ImportError {
    import::load_str(text, Path::new("/cfg/keepalived.conf"), Format::Keepalived).unwrap_err()
}

fn piranha_err(text: &str) -> ImportError {
    import::load_str(text, Path::new("/cfg/lvs.cf"), Format::Piranha).unwrap_err()
}

#[test]
fn keepalived_errors_name_file_line_column() {
    let cases = [
        (
            "virtual_server 192.0.2.300 80 {\n}\n",
            "/cfg/keepalived.conf:1:16: address: \"192.0.2.300\" is not an IP address",
            ErrorKind::Value,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n  real_server 192.0.2.2 80 {\n    weight x\n  }\n}\n",
            "/cfg/keepalived.conf:3:12: weight: \"x\" is not a whole number from 0 to 2147483647",
            ErrorKind::Value,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n  lvs_method FOO\n}\n",
            "/cfg/keepalived.conf:2:14: lvs_method: \"FOO\" is not NAT, DR or TUN",
            ErrorKind::Value,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n  lvs_method TUN type gue\n}\n",
            "/cfg/keepalived.conf:2:14: lvs_method: a gue tunnel needs a port",
            ErrorKind::Value,
        ),
        (
            "global_defs {\n  router_id \"x\n}\n",
            "/cfg/keepalived.conf:2:13: unterminated quote: no closing \" on this line",
            ErrorKind::Syntax,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n",
            "/cfg/keepalived.conf:1:29: this '{' is never closed",
            ErrorKind::Syntax,
        ),
        (
            "}\n",
            "/cfg/keepalived.conf:1:1: '}' with no block to close",
            ErrorKind::Syntax,
        ),
        (
            "include /nonexistent/file.conf\n",
            "/cfg/keepalived.conf:1:1: include: no such file /nonexistent/file.conf",
            ErrorKind::Include,
        ),
        (
            "@lb1 global_defs {\n}\n",
            "/cfg/keepalived.conf:1:1: @ conditional lines (config_id) are not supported: keep the lines for this host only",
            ErrorKind::Unsupported,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n }\n}\nvirtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.3 80 {\n }\n}\n",
            "/cfg/keepalived.conf:6:1: virtual_server: service TCP 192.0.2.1:80 is already defined at /cfg/keepalived.conf:1:1",
            ErrorKind::Conflict,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n  uthreshold 5\n  lthreshold 9\n }\n}\n",
            "/cfg/keepalived.conf:1:1: virtual_server: service TCP 192.0.2.1:80, destination 192.0.2.2:80: lower_threshold: 9 is above upper_threshold 5",
            ErrorKind::Conflict,
        ),
    ];
    for (text, message, kind) in cases {
        let e = keepalived_err(text);
        assert_eq!(e.to_string(), message, "{text}");
        assert_eq!(e.kind(), Some(kind), "{text}");
        assert!(e.location().is_some());
    }
}

#[test]
fn piranha_errors_name_file_line_column() {
    let cases = [
        (
            "network = bridge\n",
            "/cfg/lvs.cf:1:11: network: \"bridge\" is not one of nat, direct, tunnel",
            ErrorKind::Value,
        ),
        (
            "virtual v {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n}\n",
            "/cfg/lvs.cf:1:9: network: missing (nat, direct or tunnel): the forwarding method is unknown",
            ErrorKind::Value,
        ),
        (
            "network = nat\nvirtual v {\n active = 1\n address = 192.0.2.1\n}\n",
            "/cfg/lvs.cf:2:9: virtual v: no port (and no fwmark)",
            ErrorKind::Value,
        ),
        (
            // pulse sets the timeouts with `ipvsadm --set`, which refuses more than 31 days
            // (found by fuzzing: the state's rules did not read back).
            "udp_timeout = 2678401\n",
            "/cfg/lvs.cf:1:15: udp_timeout: \"2678401\" is longer than ipvsadm --set takes (2678400 seconds, 31 days)",
            ErrorKind::Value,
        ),
        (
            "network = nat\nvirtual v {\n active = yes\n}\n",
            "/cfg/lvs.cf:3:11: active: \"yes\" is neither 0 nor 1",
            ErrorKind::Value,
        ),
        (
            "virtual v {\n send = \"GET /\\x\"\n}\n",
            "/cfg/lvs.cf:2:15: unknown escape in a quoted string (known: \\r \\n \\t \\\\ \\\")",
            ErrorKind::Syntax,
        ),
        (
            "virtual v {\n",
            "/cfg/lvs.cf:1:1: virtual v { is never closed",
            ErrorKind::Syntax,
        ),
        (
            "server s {\n}\n",
            "/cfg/lvs.cf:1:1: server: only virtual and failover blocks are at the top level",
            ErrorKind::Syntax,
        ),
        (
            "network = nat\nvirtual a {\n active = 1\n address = 192.0.2.1\n port = 80\n}\nvirtual b {\n active = 1\n address = 192.0.2.1\n port = 80\n}\n",
            "/cfg/lvs.cf:7:9: virtual b: service TCP 192.0.2.1:80 is already defined at /cfg/lvs.cf:2:9",
            ErrorKind::Conflict,
        ),
    ];
    for (text, message, kind) in cases {
        let e = piranha_err(text);
        assert_eq!(e.to_string(), message, "{text}");
        assert_eq!(e.kind(), Some(kind), "{text}");
    }
}

#[test]
fn include_cycles_are_refused() {
    let dir = std::env::temp_dir().join(format!("ipvs-import-cycle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("keepalived.conf"), "include sub/a.conf\n").unwrap();
    std::fs::write(dir.join("sub/a.conf"), "! a\ninclude ../sub/b.conf\n").unwrap();
    std::fs::write(dir.join("sub/b.conf"), "\n\n  include a.conf\n").unwrap();
    let e = import::load(&dir.join("keepalived.conf"), Format::Keepalived).unwrap_err();
    let b = dir.join("sub/../sub/b.conf");
    assert_eq!(e.kind(), Some(ErrorKind::Include));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:3: include: {} is already being read (an include cycle)",
            b.display(),
            b.parent().unwrap().join("a.conf").display()
        )
    );
    // A glob that matches nothing is a warning, not an error.
    std::fs::write(dir.join("keepalived.conf"), "include sub/*.none\n").unwrap();
    let loaded = import::load(&dir.join("keepalived.conf"), Format::Keepalived).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].kind, WarningKind::NotCarriedOver);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn formats_are_recognised_by_name() {
    assert_eq!(
        Format::from_file_name(Path::new("/etc/sysconfig/ha/lvs.cf")),
        Some(Format::Piranha)
    );
    assert_eq!(
        Format::from_file_name(Path::new("/etc/keepalived/keepalived.conf")),
        Some(Format::Keepalived)
    );
    assert_eq!(
        Format::from_file_name(Path::new("keepalived.conf.bak")),
        None
    );
    assert_eq!("piranha".parse::<Format>().unwrap(), Format::Piranha);
    assert!("nginx".parse::<Format>().is_err());
}

// ---------------------------------------------------------------- writer

/// Every test file's table, written as keepalived.conf: keepalived accepts
/// it without a complaint (exit 0), and it reads back to the same state,
/// which writes to the same text (keepalived.conf -> state ->
/// keepalived.conf -> state is the identity).
#[test]
fn written_keepalived_conf_reads_back_and_keepalived_accepts_it() {
    let have_keepalived = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        have_keepalived || std::env::var_os("CI").is_none(),
        "keepalived is not installed"
    );
    let dir = std::env::temp_dir().join(format!("ipvs-import-write-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut inputs: Vec<(PathBuf, Format)> = Vec::new();
    for d in ["keepalived/guest", "keepalived/host", "keepalived/other"] {
        inputs.extend(
            files(&data().join(d), "conf")
                .into_iter()
                .map(|f| (f, Format::Keepalived)),
        );
    }
    inputs.extend(
        files(&data().join("piranha"), "cf")
            .into_iter()
            .map(|f| (f, Format::Piranha)),
    );
    let mut checked = 0;
    for (file, format) in &inputs {
        let loaded = import::load(file, *format).unwrap();
        let state = loaded.state.clone();
        #[cfg(feature = "failover")]
        let written = match &loaded.failover {
            Some(f) => import::keepalived::write_with_failover(&state, f),
            None => import::keepalived::write(&state),
        };
        #[cfg(not(feature = "failover"))]
        let written = import::keepalived::write(&state);
        let text = written.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let out = dir.join(format!(
            "{}.keepalived.conf",
            file.file_stem().unwrap().to_string_lossy()
        ));
        std::fs::write(&out, &text).unwrap();
        let back = import::load(&out, Format::Keepalived).unwrap_or_else(|e| {
            panic!(
                "{}: the written file does not load: {e}\n{text}",
                file.display()
            )
        });
        assert_eq!(
            back.state.config(),
            state.config(),
            "{}:\n{text}",
            file.display()
        );
        assert!(
            back.warnings.is_empty(),
            "{}: {:?}\n{text}",
            file.display(),
            back.warnings
        );
        #[cfg(feature = "failover")]
        {
            assert_eq!(
                back.failover,
                loaded.failover,
                "{}:\n{text}",
                file.display()
            );
            let again = match &back.failover {
                Some(f) => import::keepalived::write_with_failover(&back.state, f).unwrap(),
                None => import::keepalived::write(&back.state).unwrap(),
            };
            assert_eq!(again, text, "{}", file.display());
        }
        #[cfg(not(feature = "failover"))]
        assert_eq!(
            import::keepalived::write(&back.state).unwrap(),
            text,
            "{}",
            file.display()
        );
        if have_keepalived {
            let (code, output) = keepalived_config_test(&out);
            assert_eq!(
                code,
                0,
                "{}: keepalived --config-test on what we wrote:\n{output}\n{text}",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 16, "{checked} files");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_keepalived_cannot_express_is_an_error() {
    let cases = [
        (
            "-A -t 192.0.2.1:80 -s rr\n",
            "TCP 192.0.2.1:80: no destinations: keepalived ignores a virtual server without real servers",
        ),
        (
            "-A -t 192.0.2.1:80 -s none\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -m\n",
            "TCP 192.0.2.1:80: scheduler \"none\" is not one keepalived 2.2 accepts",
        ),
        (
            "-A -f 5 -s rr\n-a -f 5 -r 192.0.2.2:80 -g\n",
            "FWM 5, destination 192.0.2.2:80: a direct-routed or tunnelled destination's port is not the service's (0 for fwmark): keepalived resets it",
        ),
    ];
    for (rules, message) in cases {
        let mut state = State::from_rules_text(rules).unwrap();
        // Rules give a DR destination the service's port; set it by hand.
        for s in &mut state.services {
            for d in &mut s.destinations {
                if d.forward == ipvs::ForwardMethod::DirectRoute {
                    d.port = 80;
                }
            }
        }
        assert_eq!(
            import::keepalived::write(&state).unwrap_err().to_string(),
            message
        );
    }
}

mod write_roundtrip {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use ipvs::import::keepalived;
    use ipvs::state::{ServiceState, State};
    use ipvs::{
        AddressFamily, Destination, ForwardMethod, Netmask, Persistence, Protocol, Scheduler,
        Service, ServiceFlags, ServiceKey, Timeouts, Tunnel, TunnelChecksum,
    };
    use proptest::prelude::*;

    const SCHEDULERS: &[&str] = &[
        "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq",
        "twos",
    ];

    fn forward() -> impl Strategy<Value = ForwardMethod> {
        let csum = prop_oneof![
            Just(TunnelChecksum::None),
            Just(TunnelChecksum::Checksum),
            Just(TunnelChecksum::Remote)
        ];
        prop_oneof![
            Just(ForwardMethod::Masquerade),
            Just(ForwardMethod::DirectRoute),
            Just(ForwardMethod::Tunnel(Tunnel::Ipip)),
            (1u16.., csum.clone())
                .prop_map(|(port, checksum)| ForwardMethod::Tunnel(Tunnel::Gue { port, checksum })),
            csum.prop_filter("gre has no remcsum", |c| *c != TunnelChecksum::Remote)
                .prop_map(|checksum| ForwardMethod::Tunnel(Tunnel::Gre { checksum })),
        ]
    }

    /// A service keepalived can express, with up to four destinations.
    fn service(i: u8) -> impl Strategy<Value = ServiceState> {
        (
            0..4u8,
            any::<bool>(),
            1u16..,
            0..SCHEDULERS.len(),
            0u32..8,
            prop::option::of((1u32..100_000, any::<bool>())),
            prop::collection::vec(
                (1u8..250, 1u16.., forward(), 0u32..1000, 0u32..50, 0u32..50),
                1..4,
            ),
        )
            .prop_map(move |(kind, v6, port, sched, flag_bits, persist, dests)| {
                let family = if v6 {
                    AddressFamily::Ipv6
                } else {
                    AddressFamily::Ipv4
                };
                let vip: IpAddr = if v6 {
                    IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        0,
                        0,
                        0,
                        0,
                        0,
                        u16::from(i) + 1,
                    ))
                } else {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, i + 1))
                };
                let key = match kind {
                    0 => ServiceKey::with_protocol(Protocol::Tcp, SocketAddr::new(vip, port)),
                    1 => ServiceKey::with_protocol(Protocol::Udp, SocketAddr::new(vip, port)),
                    2 => ServiceKey::with_protocol(Protocol::Sctp, SocketAddr::new(vip, port)),
                    _ => ServiceKey::Fwmark {
                        fwmark: u32::from(i) + 1,
                        family,
                    },
                };
                let mut flags = ServiceFlags::from_bits_retain((flag_bits & 7) << 3);
                if kind == 1 && flag_bits & 1 == 1 {
                    flags |= ServiceFlags::ONE_PACKET;
                }
                let mut svc =
                    Service::new(key, Scheduler::from_name(SCHEDULERS[sched])).with_flags(flags);
                if let Some((timeout, wide)) = persist {
                    svc.persistence = Some(Persistence {
                        timeout,
                        netmask: match (wide, family) {
                            (false, f) => Netmask::host(f),
                            (true, AddressFamily::Ipv4) => {
                                Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))
                            }
                            (true, AddressFamily::Ipv6) => Netmask::V6(64),
                        },
                    });
                }
                let mut ss = ServiceState::new(svc);
                for (host, dport, fwd, weight, upper, lower) in dests {
                    let address: IpAddr = if v6 {
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(host)))
                    } else {
                        IpAddr::V4(Ipv4Addr::new(198, 51, 100, host))
                    };
                    let dport = match (fwd, key) {
                        (ForwardMethod::Masquerade, _) => dport,
                        (_, ServiceKey::Address { port, .. }) => port,
                        (_, ServiceKey::Fwmark { .. }) => 0,
                    };
                    if ss.dest(SocketAddr::new(address, dport)).is_some() {
                        continue;
                    }
                    let (upper, lower) = if upper == 0 {
                        (0, 0)
                    } else {
                        (upper.max(lower), lower)
                    };
                    ss.destinations.push(
                        Destination::new(SocketAddr::new(address, dport))
                            .with_forward(fwd)
                            .with_weight(weight)
                            .with_thresholds(upper, lower),
                    );
                }
                ss
            })
    }

    fn state() -> impl Strategy<Value = State> {
        (
            prop::collection::vec(0u8..1, 1..5),
            prop::option::of((0u32..10_000, 0u32..1000, 0u32..1000)),
        )
            .prop_flat_map(|(n, t)| {
                let services: Vec<_> = (0..n.len() as u8).map(service).collect();
                (services, Just(t))
            })
            .prop_map(|(services, t)| {
                let mut s = State::new();
                s.services = services;
                s.timeouts = t
                    .map(|(tcp, tcp_fin, udp)| Timeouts { tcp, tcp_fin, udp })
                    .filter(|t| *t != Timeouts::UNCHANGED);
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// state -> keepalived.conf -> state is the identity, and writing
        /// again gives the same text.
        #[test]
        fn state_to_keepalived_conf_and_back(state in state()) {
            state.validate().unwrap();
            let text = keepalived::write(&state).unwrap();
            let doc = keepalived::parse_str(&text, "keepalived.conf".as_ref()).unwrap();
            let back = keepalived::to_import(&doc).unwrap();
            prop_assert!(back.warnings.is_empty(), "{:?}\n{}", back.warnings, text);
            prop_assert_eq!(back.state.config(), state.config(), "{}", text);
            prop_assert_eq!(keepalived::write(&back.state).unwrap(), text);
        }
    }
}

/// With the health settings: every keepalived test file's whole run
/// configuration (table, checkers, policies, failover) written as
/// keepalived.conf reads back to the same configuration, writes to the same
/// text again, and keepalived accepts it.
#[cfg(feature = "health")]
#[test]
fn health_settings_write_to_keepalived_conf_and_back() {
    let have_keepalived = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    let dir = std::env::temp_dir().join(format!("ipvs-import-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    let mut with_checks = 0;
    for d in ["keepalived/guest", "keepalived/host", "keepalived/other"] {
        for file in files(&data().join(d), "conf") {
            let config = import::load(&file, Format::Keepalived)
                .unwrap()
                .to_run_config();
            let text = import::keepalived::write_run_config(&config)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let out = dir.join(file.file_name().unwrap());
            std::fs::write(&out, &text).unwrap();
            let back = import::load(&out, Format::Keepalived)
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", file.display()));
            assert!(
                back.warnings.is_empty(),
                "{}: {:?}\n{text}",
                file.display(),
                back.warnings
            );
            let back = back.to_run_config();
            assert!(back.state.config_eq(&config.state), "{}", file.display());
            assert_eq!(
                back.services,
                config.services,
                "{}:\n{text}",
                file.display()
            );
            assert_eq!(
                back.dest_checks,
                config.dest_checks,
                "{}:\n{text}",
                file.display()
            );
            assert_eq!(
                import::keepalived::write_run_config(&back).unwrap(),
                text,
                "{}",
                file.display()
            );
            if have_keepalived {
                let (code, output) = keepalived_config_test(&out);
                assert_eq!(
                    code,
                    0,
                    "{}: keepalived --config-test:\n{output}\n{text}",
                    file.display()
                );
            }
            with_checks += usize::from(!config.dest_checks.is_empty());
            checked += 1;
        }
    }
    assert!(
        checked >= 12 && with_checks >= 5,
        "{checked} files, {with_checks} with checks"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Health settings keepalived.conf cannot hold are errors naming the
/// service or destination, never dropped.
#[cfg(feature = "health")]
#[test]
fn health_settings_keepalived_cannot_express_are_errors() {
    use ipvs::health::RunConfig;
    let base = "
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    destinations:
      - {address: 198.51.100.1, port: 80, weight: 3, check: CHECK}
";
    for (check, why) in [
        ("{type: tcp, rise: 2}", "rise 2"),
        (
            "{type: tcp_send_expect, send: 'PING', expect: 'PONG', rise: 1}",
            "send/expect",
        ),
        (
            "{type: exec, program: /bin/sh, args: ['-c', 'test %h'], rise: 1}",
            "%h",
        ),
        ("{type: file, path: /etc/hostname, rise: 1}", "file check"),
    ] {
        let config = RunConfig::from_yaml(&base.replace("CHECK", check)).unwrap();
        let e = import::keepalived::write_run_config(&config).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(why) && text.contains("198.51.100.1:80"),
            "{check}: {text}"
        );
    }
    let slow = base.replace("CHECK", "{type: tcp, rise: 1}").replace(
        "    destinations:",
        "    health: {slow_start: true}\n    destinations:",
    );
    let e =
        import::keepalived::write_run_config(&RunConfig::from_yaml(&slow).unwrap()).unwrap_err();
    assert!(e.to_string().contains("slow start"), "{e}");
}
