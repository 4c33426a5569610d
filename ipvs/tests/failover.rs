//! Host tests of `ipvs::failover`: keepalived's configuration (golden
//! text), settings (YAML, validation errors), child supervision and the
//! whole role → sync daemon flow with a fake keepalived (a shell script)
//! and a recording fake of IPVS. No network: the one interface used is `lo`.
//! The real thing (keepalived, two directors, traffic) is
//! tests/failover_e2e.rs, in the guest.
#![cfg(feature = "failover")]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipvs::client::Error;
use ipvs::failover::supervise::{ChildEvent, Policy, Program, Stopped, Supervisor};
use ipvs::failover::sync::SyncControl;
use ipvs::failover::{
    Cause, Event, Failover, IdleSync, Keepalived, Role, Settings, SettingsError, Unicast, Vip,
    keepalived_config,
};
use ipvs::{DaemonState, SyncDaemon};

fn vip(s: &str) -> Vip {
    s.parse().unwrap()
}

fn settings() -> Settings {
    Settings::new("eth0", 51, 150, [vip("198.51.100.100/24")])
}

/// A scratch directory of this test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ipvs-failover-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    /// An executable shell script here.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join(name);
        std::fs::write(&p, format!("#!/bin/bash\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- configuration

#[test]
fn config_multicast_defaults() {
    let text = keepalived_config(
        &settings(),
        Path::new("/run/ipvs-failover/ipvs/notify.fifo"),
    );
    assert_eq!(
        text,
        r#"# keepalived configuration for VRRP instance ipvs, written by ipvs::failover.
# Rewritten on every start: change the failover settings instead.
global_defs {
    router_id ipvs-ipvs
    vrrp_version 3
    script_user root
    vrrp_notify_fifo /run/ipvs-failover/ipvs/notify.fifo
    vrrp_garp_master_repeat 3
    vrrp_garp_master_delay 1
}

vrrp_instance ipvs {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
}
"#
        .replace(
            "    advert_int 1\n}",
            "    advert_int 1\n    virtual_ipaddress {\n        198.51.100.100/24 dev eth0\n    }\n}"
        )
    );
}

#[test]
fn config_unicast_nopreempt_fractional() {
    let mut s = settings();
    s.instance = "web".into();
    s.advert_interval = 0.25;
    s.preempt = false;
    s.preempt_delay = 5.0; // (no meaning without preempt: not written)
    s.vips.push(vip("198.51.100.101"));
    s.unicast = Some(Unicast {
        src_ip: "198.51.100.1".parse().unwrap(),
        peers: vec!["198.51.100.3".parse().unwrap()],
    });
    let text = keepalived_config(&s, Path::new("/tmp/d1/notify.fifo"));
    let instance = text.split("vrrp_instance").nth(1).unwrap();
    assert_eq!(
        instance,
        r#" web {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.25
    nopreempt
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.3
    }
    virtual_ipaddress {
        198.51.100.100/24 dev eth0
        198.51.100.101/32 dev eth0
    }
}
"#
    );
    assert!(text.contains("    router_id ipvs-web\n"));
    assert!(text.contains("    vrrp_notify_fifo /tmp/d1/notify.fifo\n"));
}

#[test]
fn config_preempt_delay_and_ipv6() {
    let mut s = Settings::new("bond0", 7, 100, [vip("2001:db8::10/64")]);
    s.preempt_delay = 2.5;
    let text = keepalived_config(&s, Path::new("/f"));
    assert!(text.contains("    preempt_delay 2.5\n"), "{text}");
    assert!(!text.contains("nopreempt"));
    assert!(
        text.contains("        2001:db8::10/64 dev bond0\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------- settings

const FULL_YAML: &str = r#"
instance: web
interface: eth0
virtual_router_id: 51
priority: 150
advert_interval: 0.5
preempt: true
preempt_delay: 0
vips:
  - 198.51.100.100/24
  - 198.51.100.101/24
unicast:
  src_ip: 198.51.100.1
  peers: [198.51.100.3]
sync:
  interface: eth1
  sync_id: 7
  port: 8848
  group: 224.0.0.81
on_fault: backup
on_stop: stopped
keepalived:
  mode: run
  binary: /usr/sbin/keepalived
  runtime_dir: /run/ipvs-failover/web
"#;

#[test]
fn settings_yaml_full_and_minimal() {
    let s: Settings = serde_norway::from_str(FULL_YAML).unwrap();
    s.validate().unwrap();
    assert_eq!(s.instance, "web");
    assert_eq!(s.advert_interval, 0.5);
    assert_eq!(s.sync_interface(), "eth1");
    assert_eq!(s.sync_id(), 7);
    assert_eq!(s.on_fault, IdleSync::Backup);
    assert_eq!(
        s.runtime_dir(),
        Some(PathBuf::from("/run/ipvs-failover/web"))
    );
    // What it writes reads back the same.
    let again: Settings = serde_norway::from_str(&serde_norway::to_string(&s).unwrap()).unwrap();
    assert_eq!(again, s);

    let min: Settings = serde_norway::from_str(
        "interface: eth0\nvirtual_router_id: 51\npriority: 100\nvips: [198.51.100.100/24]\n",
    )
    .unwrap();
    assert_eq!(
        min,
        Settings::new("eth0", 51, 100, [vip("198.51.100.100/24")])
    );
    assert_eq!(min.sync_interface(), "eth0");
    assert_eq!(min.sync_id(), 51);
    assert!(min.preempt);
    assert_eq!(min.on_stop, IdleSync::Stopped);
    assert_eq!(
        min.runtime_dir(),
        Some(PathBuf::from("/run/ipvs-failover/ipvs"))
    );

    let attach: Settings = serde_norway::from_str(
        "interface: eth0\nvirtual_router_id: 51\npriority: 100\nvips: [198.51.100.100/24]\n\
         keepalived: {mode: attach, fifo: /run/keepalived/vrrp.fifo}\n",
    )
    .unwrap();
    assert_eq!(
        attach.keepalived,
        Keepalived::Attach {
            fifo: "/run/keepalived/vrrp.fifo".into()
        }
    );
    assert_eq!(attach.runtime_dir(), None);
}

#[test]
fn settings_yaml_errors_name_the_field() {
    let err = |yaml: &str| {
        serde_norway::from_str::<Settings>(yaml)
            .unwrap_err()
            .to_string()
    };
    let e =
        err("interface: eth0\nvirtual_router_id: 51\npriority: 100\nvips: [198.51.100.100/33]\n");
    assert!(e.contains("vips") && e.contains("198.51.100.100/33"), "{e}");
    let e = err("interface: eth0\nvirtual_router_id: 51\npriority: 100\nvips: []\nprio: 3\n");
    assert!(e.contains("unknown field `prio`"), "{e}");
    let e = err("interface: eth0\npriority: 100\nvips: []\n");
    assert!(e.contains("virtual_router_id"), "{e}");
    let e =
        err("interface: eth0\nvirtual_router_id: 51\npriority: 100\nvips: []\non_fault: sleep\n");
    assert!(e.contains("on_fault") || e.contains("sleep"), "{e}");
}

#[test]
fn validation_errors() {
    fn check(f: impl FnOnce(&mut Settings), want: SettingsError, field: &str) {
        let mut s = settings();
        f(&mut s);
        let got = s.validate().unwrap_err();
        assert_eq!(got, want);
        assert!(got.to_string().starts_with(field), "{got}");
    }
    check(
        |s| s.virtual_router_id = 0,
        SettingsError::VirtualRouterId { value: 0 },
        "virtual_router_id: 0 is out of range 1..=255",
    );
    check(
        |s| s.virtual_router_id = 256,
        SettingsError::VirtualRouterId { value: 256 },
        "virtual_router_id",
    );
    check(
        |s| s.priority = 0,
        SettingsError::Priority { value: 0 },
        "priority: 0 is out of range 1..=254",
    );
    check(
        |s| s.priority = 255,
        SettingsError::Priority { value: 255 },
        "priority: 255 is out of range 1..=254 (255 is the VRRP address owner",
    );
    check(|s| s.vips.clear(), SettingsError::NoVips, "vips: empty");
    check(
        |s| s.vips.push(vip("2001:db8::10/64")),
        SettingsError::MixedFamilies {
            first: vip("198.51.100.100/24"),
            other: vip("2001:db8::10/64"),
        },
        "vips: 2001:db8::10/64 is not of the same family as 198.51.100.100/24",
    );
    check(
        |s| s.vips.push(vip("198.51.100.100/24")),
        SettingsError::DuplicateVip {
            vip: vip("198.51.100.100/24"),
        },
        "vips: 198.51.100.100/24 is listed twice",
    );
    check(
        |s| s.interface = "a/b".into(),
        SettingsError::InterfaceName {
            field: "interface",
            name: "a/b".into(),
        },
        "interface: \"a/b\"",
    );
    check(
        |s| s.sync.interface = Some("sixteen-chars-xx".into()),
        SettingsError::InterfaceName {
            field: "sync.interface",
            name: "sixteen-chars-xx".into(),
        },
        "sync.interface",
    );
    check(
        |s| s.instance = "a b".into(),
        SettingsError::Instance {
            value: "a b".into(),
        },
        "instance",
    );
    check(
        |s| s.advert_interval = 0.0,
        SettingsError::AdvertInterval { value: 0.0 },
        "advert_interval",
    );
    check(
        |s| s.advert_interval = 41.0,
        SettingsError::AdvertInterval { value: 41.0 },
        "advert_interval",
    );
    check(
        |s| s.preempt_delay = -1.0,
        SettingsError::PreemptDelay { value: -1.0 },
        "preempt_delay",
    );
    check(
        |s| s.sync.sync_id = Some(256),
        SettingsError::SyncId { value: 256 },
        "sync.sync_id",
    );
    check(
        |s| {
            s.unicast = Some(Unicast {
                src_ip: "198.51.100.1".parse().unwrap(),
                peers: vec![
                    "198.51.100.3".parse().unwrap(),
                    "2001:db8::3".parse().unwrap(),
                ],
            })
        },
        SettingsError::UnicastFamily {
            field: "unicast.peers[1]".into(),
            address: "2001:db8::3".parse().unwrap(),
        },
        "unicast.peers[1]: 2001:db8::3 is not of the VIPs' family",
    );
    check(
        |s| {
            s.unicast = Some(Unicast {
                src_ip: "198.51.100.1".parse().unwrap(),
                peers: vec![],
            })
        },
        SettingsError::NoUnicastPeers,
        "unicast.peers: empty",
    );
    check(
        |s| {
            s.keepalived = Keepalived::Run {
                binary: "keepalived".into(),
                runtime_dir: Some("relative/dir".into()),
            }
        },
        SettingsError::Path {
            field: "keepalived.runtime_dir",
            path: "relative/dir".into(),
        },
        "keepalived.runtime_dir",
    );
    check(
        |s| {
            s.keepalived = Keepalived::Attach {
                fifo: "/tmp/a fifo".into(),
            }
        },
        SettingsError::Path {
            field: "keepalived.fifo",
            path: "/tmp/a fifo".into(),
        },
        "keepalived.fifo",
    );
    for bad in [
        "0.0.0.0/24",
        "224.0.0.18/32",
        "127.0.0.2/8",
        "198.51.100.1/0",
        "x/24",
    ] {
        assert!(
            bad.parse::<Vip>().is_err() || {
                let mut s = settings();
                s.vips = vec![bad.parse().unwrap()];
                matches!(s.validate(), Err(SettingsError::Vip { .. }))
            },
            "{bad} accepted"
        );
    }
}

#[test]
fn host_checks() {
    // Only `lo` is certain to exist; it has 127.0.0.1 and (usually) ::1.
    let on_lo = |f: &dyn Fn(&mut Settings)| {
        let mut s = Settings::new("lo", 51, 100, [vip("192.0.2.100/32")]);
        s.keepalived = Keepalived::Run {
            binary: "/bin/true".into(),
            runtime_dir: None,
        };
        f(&mut s);
        s.check_host()
    };
    on_lo(&|_| {}).unwrap();
    assert_eq!(
        on_lo(&|s| s.interface = "nosuch0".into()).unwrap_err(),
        SettingsError::InterfaceMissing {
            field: "interface",
            name: "nosuch0".into()
        }
    );
    let e = on_lo(&|s| s.sync.interface = Some("nosuch1".into())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sync.interface: no interface \"nosuch1\" in this network namespace"
    );
    let e = on_lo(&|s| {
        s.keepalived = Keepalived::Run {
            binary: "/nonexistent/keepalived".into(),
            runtime_dir: None,
        }
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "keepalived.binary: \"/nonexistent/keepalived\" not found (on PATH, /usr/sbin, /sbin); \
         install it: apt-get install keepalived"
    );
    let e = on_lo(&|s| {
        s.keepalived = Keepalived::Run {
            binary: "keepalived-not-installed-here".into(),
            runtime_dir: None,
        }
    })
    .unwrap_err();
    assert!(matches!(e, SettingsError::KeepalivedMissing { .. }), "{e}");
}

// ---------------------------------------------------------------- supervision

fn fast_policy() -> Policy {
    Policy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        stable_after: Duration::from_secs(30),
        stop_timeout: Duration::from_millis(500),
    }
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: not ours then).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn next_started(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ChildEvent>) -> u32 {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(ChildEvent::Started { pid })) => return pid,
            Ok(Some(_)) => {}
            other => panic!("no Started event: {other:?}"),
        }
    }
}

/// Until the child says `ready` (its traps are in place).
async fn wait_ready(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ChildEvent>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(ChildEvent::Output { line, .. })) if line == "ready" => return,
            Ok(Some(_)) => {}
            other => panic!("no output: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_ignoring_sigterm_is_killed_and_reaped() {
    let dir = Scratch::new("ignore-term");
    let grandchild = dir.path().join("grandchild.pid");
    // It ignores SIGTERM and has a child of its own (as keepalived has).
    let script = dir.script(
        "stubborn",
        &format!(
            "trap '' TERM\nsleep 300 &\necho $! > {}\necho ready\nwhile :; do sleep 0.05; done\n",
            grandchild.display()
        ),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sup = Supervisor::spawn(Program::new(&script), fast_policy(), tx);
    let pid = next_started(&mut rx).await;
    // Its output comes through.
    wait_ready(&mut rx).await;
    let sleeper: u32 = std::fs::read_to_string(&grandchild)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!gone(pid) && !gone(sleeper));
    let t0 = Instant::now();
    let how = sup.stop().await;
    let took = t0.elapsed();
    assert_eq!(how, Stopped::Killed);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "SIGKILL after the 0.5 s bound, took {took:?}"
    );
    assert!(gone(pid), "the child {pid} is reaped");
    // The grandchild got the group's SIGKILL (its reaping is init's business).
    let t1 = Instant::now();
    while !gone(sleeper) {
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "grandchild {sleeper} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_exiting_on_sigterm_is_terminated() {
    let dir = Scratch::new("term");
    let script = dir.script(
        "polite",
        "trap 'exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Room to stop by SIGTERM on a loaded machine: a SIGKILL would say
    // `Killed`.
    let policy = Policy {
        stop_timeout: Duration::from_secs(5),
        ..fast_policy()
    };
    let sup = Supervisor::spawn(Program::new(&script), policy, tx);
    let pid = next_started(&mut rx).await;
    wait_ready(&mut rx).await;
    let t0 = Instant::now();
    assert_eq!(
        sup.stop().await,
        Stopped::Terminated {
            status: "exit status 0".into()
        }
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(gone(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_child_is_restarted_with_backoff() {
    let dir = Scratch::new("crash");
    let script = dir.script("crash", "exit 3\n");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let spawned = Instant::now();
    let sup = Supervisor::spawn(Program::new(&script), fast_policy(), tx);
    let mut starts = Vec::new();
    let mut delays = Vec::new();
    while starts.len() < 5 {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(ChildEvent::Started { pid })) => starts.push((Instant::now(), pid)),
            Ok(Some(ChildEvent::Exited {
                status, restart_in, ..
            })) => {
                assert_eq!(status, "exit status 3");
                delays.push(restart_in);
            }
            Ok(Some(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    // (The last one may still be starting: between restarts or just begun.)
    let how = sup.stop().await;
    assert!(
        matches!(how, Stopped::NotRunning | Stopped::Terminated { .. }),
        "{how:?}"
    );
    let ms = |n| Duration::from_millis(n);
    assert_eq!(delays[..4], [ms(100), ms(200), ms(400), ms(400)]);
    // The fifth start comes after the four pauses at least.
    let last = starts.last().unwrap().0 - spawned;
    assert!(last >= ms(1100), "fifth start after {last:?}");
    for (_, pid) in starts {
        assert!(gone(pid));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_retried() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sup = Supervisor::spawn(Program::new("/nonexistent/prog"), fast_policy(), tx);
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(ChildEvent::SpawnFailed { error, retry_in })) => {
            assert!(error.starts_with("/nonexistent/prog: "), "{error}");
            assert_eq!(retry_in, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sup.stop().await, Stopped::NotRunning);
}

// ---------------------------------------------------------------- the whole flow

/// IPVS's sync daemons, in memory, with every call recorded.
#[derive(Default)]
struct FakeIpvs {
    running: Mutex<Vec<SyncDaemon>>,
    calls: Mutex<Vec<String>>,
    refuse_master: Mutex<bool>,
}

impl SyncControl for FakeIpvs {
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        Ok(self.running.lock().unwrap().clone())
    }
    fn start_daemon(&self, d: &SyncDaemon) -> Result<(), Error> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("start {:?} {} {}", d.state, d.interface, d.sync_id));
        if d.state == DaemonState::Master && *self.refuse_master.lock().unwrap() {
            return Err(Error::InterfaceNotFound {
                name: d.interface.clone(),
            });
        }
        let mut r = self.running.lock().unwrap();
        if r.iter().any(|x| x.state == d.state) {
            return Err(Error::DaemonExists { state: d.state });
        }
        r.push(d.clone());
        Ok(())
    }
    fn stop_daemon(&self, state: DaemonState) -> Result<(), Error> {
        self.calls.lock().unwrap().push(format!("stop {state:?}"));
        let mut r = self.running.lock().unwrap();
        let before = r.len();
        r.retain(|d| d.state != state);
        if r.len() == before {
            return Err(Error::DaemonNotFound { state });
        }
        Ok(())
    }
}

/// A keepalived stand-in: `--config-test` succeeds; running, it reports
/// BACKUP, then MASTER, on the FIFO its configuration names, and STOP on
/// SIGTERM. Its arguments go to `args`.
fn fake_keepalived(dir: &Scratch, lines_after_start: &str) -> PathBuf {
    let args = dir.path().join("args");
    dir.script(
        "keepalived",
        &format!(
            r#"echo "$*" >> {args}
for a in "$@"; do [[ $a == --config-test ]] && exit 0; done
while (($#)); do [[ $1 == --use-file ]] && conf=$2; shift; done
fifo=$(awk '$1 == "vrrp_notify_fifo" {{print $2}}' "$conf")
trap 'echo "INSTANCE \"ipvs\" STOP 100" > "$fifo"; exit 0' TERM
echo "fake keepalived on $fifo"
{lines_after_start}
while :; do sleep 0.05; done
"#,
            args = args.display()
        ),
    )
}

async fn collect_until(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Ok(ev)) => {
                let stop = done(&ev);
                seen.push(ev);
                if stop {
                    return seen;
                }
            }
            other => panic!("waiting for an event: {other:?}; seen {seen:#?}"),
        }
    }
}

fn roles(events: &[Event]) -> Vec<(Option<Role>, Role, Cause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Role {
                role,
                previous,
                cause,
                ..
            } => Some((*previous, *role, *cause)),
            _ => None,
        })
        .collect()
}

fn lo_settings(dir: &Scratch, binary: PathBuf) -> Settings {
    let mut s = Settings::new("lo", 51, 100, [vip("192.0.2.100/32")]);
    s.keepalived = Keepalived::Run {
        binary,
        runtime_dir: Some(dir.path().join("run")),
    };
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_drive_the_sync_daemons() {
    let dir = Scratch::new("flow");
    let binary = fake_keepalived(
        &dir,
        r#"echo 'INSTANCE "ipvs" BACKUP 100' > "$fifo"
echo 'INSTANCE "other" MASTER 100' > "$fifo"
sleep 0.2
echo 'INSTANCE "ipvs" MASTER 100' > "$fifo""#,
    );
    let ipvs = Arc::new(FakeIpvs::default());
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let log2 = log.clone();
    let handle = Failover::start_with_log(
        lo_settings(&dir, binary),
        ipvs.clone(),
        Arc::new(move |l: &str| log2.lock().unwrap().push(l.to_owned())),
    )
    .await
    .unwrap();
    let mut rx = handle.events();
    let seen = collect_until(&mut rx, |e| {
        matches!(
            e,
            Event::Sync {
                role: Role::Master,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        roles(&seen),
        [
            (None, Role::Backup, Cause::Keepalived),
            (Some(Role::Backup), Role::Master, Cause::Keepalived)
        ]
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Ignored { line } if line.contains("\"other\""))),
        "{seen:#?}"
    );
    assert_eq!(handle.role(), Some(Role::Master));
    // The configuration it was given is ours, with the FIFO in the runtime dir.
    let conf = std::fs::read_to_string(dir.path().join("run/keepalived.conf")).unwrap();
    assert!(conf.contains(&format!(
        "vrrp_notify_fifo {}",
        dir.path().join("run/notify.fifo").display()
    )));
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let run_dir = dir.path().join("run");
    assert_eq!(
        args,
        format!(
            "--config-test --use-file {r}/keepalived.conf\n\
             --vrrp --dont-fork --log-console --no-syslog --use-file {r}/keepalived.conf \
             --pid {r}/keepalived.pid --vrrp_pid {r}/vrrp.pid\n",
            r = run_dir.display()
        )
    );

    handle.stop().await;
    let rest = collect_until(&mut rx, |e| matches!(e, Event::Stopped)).await;
    assert_eq!(
        roles(&rest),
        [(Some(Role::Master), Role::Stop, Cause::Keepalived)]
    );
    assert_eq!(
        *ipvs.calls.lock().unwrap(),
        [
            "start Backup lo 51",
            "stop Backup",
            "start Master lo 51",
            "stop Master"
        ]
    );
    assert!(ipvs.running.lock().unwrap().is_empty());
    assert!(
        !dir.path().join("run/notify.fifo").exists(),
        "our FIFO is removed"
    );
    let log = log.lock().unwrap().join("\n");
    for want in [
        "role (none) -> BACKUP (priority 100)",
        "sync daemon for BACKUP: backup (stopped none, started backup)",
        "role BACKUP -> MASTER (priority 100)",
        "sync daemon for MASTER: master (stopped backup, started master)",
        "role MASTER -> STOP (priority 100)",
        "sync daemon for STOP: none (stopped master, started none)",
        "keepalived: fake keepalived on ",
        "failover stopped",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalived_dying_means_fault_then_restart() {
    let dir = Scratch::new("dies");
    let count = dir.path().join("count");
    // First run: MASTER, then dies of SIGKILL-like exit; second run: BACKUP and stays.
    let binary = fake_keepalived(
        &dir,
        &format!(
            r#"n=$(cat {c} 2>/dev/null || echo 0); echo $((n + 1)) > {c}
if ((n == 0)); then echo 'INSTANCE "ipvs" MASTER 100' > "$fifo"; sleep 0.3; kill -9 $$; fi
echo 'INSTANCE "ipvs" BACKUP 100' > "$fifo""#,
            c = count.display()
        ),
    );
    let ipvs = Arc::new(FakeIpvs::default());
    let mut settings = lo_settings(&dir, binary);
    settings.on_fault = IdleSync::Stopped;
    let handle = Failover::start_with_log(settings, ipvs.clone(), Arc::new(|_: &str| {}))
        .await
        .unwrap();
    let mut rx = handle.events();
    let seen = collect_until(&mut rx, |e| {
        matches!(
            e,
            Event::Sync {
                role: Role::Backup,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        roles(&seen),
        [
            (None, Role::Master, Cause::Keepalived),
            (Some(Role::Master), Role::Fault, Cause::KeepalivedExited),
            (Some(Role::Fault), Role::Backup, Cause::Keepalived),
        ]
    );
    let exited = seen
        .iter()
        .find_map(|e| match e {
            Event::KeepalivedExited {
                status, restart_in, ..
            } => Some((status.clone(), *restart_in)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        exited,
        ("signal 9 (SIGKILL)".into(), Duration::from_millis(500))
    );
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::KeepalivedStarted { .. }))
            .count(),
        2
    );
    handle.stop().await;
    assert_eq!(
        *ipvs.calls.lock().unwrap(),
        [
            "start Master lo 51",
            "stop Master",
            "start Backup lo 51",
            "stop Backup"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sync_change_is_an_event_and_retried() {
    let dir = Scratch::new("refused");
    let binary = fake_keepalived(&dir, r#"echo 'INSTANCE "ipvs" MASTER 100' > "$fifo""#);
    let ipvs = Arc::new(FakeIpvs::default());
    *ipvs.refuse_master.lock().unwrap() = true;
    let handle = Failover::start_with_log(
        lo_settings(&dir, binary),
        ipvs.clone(),
        Arc::new(|_: &str| {}),
    )
    .await
    .unwrap();
    let mut rx = handle.events();
    let seen = collect_until(&mut rx, |e| matches!(e, Event::SyncFailed { .. })).await;
    let Some(Event::SyncFailed {
        role,
        error,
        retry_in,
        ..
    }) = seen.last()
    else {
        unreachable!()
    };
    assert_eq!(
        (*role, error.as_str(), *retry_in),
        (
            Role::Master,
            "interface \"lo\" not found",
            Duration::from_secs(1)
        )
    );
    // The kernel agrees a second later: the retry succeeds.
    *ipvs.refuse_master.lock().unwrap() = false;
    let t0 = Instant::now();
    collect_until(&mut rx, |e| {
        matches!(
            e,
            Event::Sync {
                role: Role::Master,
                ..
            }
        )
    })
    .await;
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(handle.role(), Some(Role::Master));
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_follows_a_fifo_and_starts_nothing() {
    let dir = Scratch::new("attach");
    let fifo = dir.path().join("vrrp.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut s = Settings::new("lo", 51, 100, [vip("192.0.2.100/32")]);
    s.keepalived = Keepalived::Attach { fifo: fifo.clone() };
    let ipvs = Arc::new(FakeIpvs::default());
    let handle = Failover::start_with_log(s, ipvs.clone(), Arc::new(|_: &str| {}))
        .await
        .unwrap();
    let mut rx = handle.events();
    // Someone else's keepalived writes (and closes, and writes again).
    for line in [
        "INSTANCE \"ipvs\" BACKUP 90\n",
        "INSTANCE \"ipvs\" FAULT 90\n",
    ] {
        std::fs::write(&fifo, line).unwrap();
    }
    let seen = collect_until(&mut rx, |e| {
        matches!(
            e,
            Event::Sync {
                role: Role::Fault,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        roles(&seen),
        [
            (None, Role::Backup, Cause::Keepalived),
            (Some(Role::Backup), Role::Fault, Cause::Keepalived)
        ]
    );
    handle.stop().await;
    // on_fault = backup: the backup daemon kept running; stopping changed nothing.
    assert_eq!(*ipvs.calls.lock().unwrap(), ["start Backup lo 51"]);
    assert!(fifo.exists(), "someone else's FIFO stays");

    // A FIFO that is not there: a clear error.
    let mut s = Settings::new("lo", 51, 100, [vip("192.0.2.100/32")]);
    s.keepalived = Keepalived::Attach {
        fifo: dir.path().join("nofifo"),
    };
    let e = Failover::start_with_log(s, ipvs.clone(), Arc::new(|_: &str| {}))
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("opening the notify FIFO "), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_keepalived_of_ours_is_stopped_first() {
    let dir = Scratch::new("leftover");
    let binary = fake_keepalived(&dir, r#"echo 'INSTANCE "ipvs" BACKUP 100' > "$fifo""#);
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let config = run.join("keepalived.conf");
    // A process whose command line names our configuration (as the
    // keepalived of a run whose parent died would), in the pid file; and a
    // stale vrrp pid file naming something else (this test process).
    let mut leftover = std::process::Command::new("bash")
        .args(["-c", "while :; do sleep 0.1; done", "keepalived"])
        .arg(&config)
        .spawn()
        .unwrap();
    std::fs::write(run.join("keepalived.pid"), format!("{}\n", leftover.id())).unwrap();
    std::fs::write(run.join("vrrp.pid"), format!("{}\n", std::process::id())).unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let log2 = log.clone();
    let handle = Failover::start_with_log(
        lo_settings(&dir, binary),
        Arc::new(FakeIpvs::default()),
        Arc::new(move |l: &str| log2.lock().unwrap().push(l.to_owned())),
    )
    .await
    .unwrap();
    // It got SIGTERM (bash dies of it) before ours started.
    let status = leftover.wait().unwrap();
    assert!(!status.success(), "{status}");
    let lines = log.lock().unwrap().join("\n");
    assert!(
        lines.contains(&format!(
            "keepalived {} of an earlier run still runs with {}: stopping it",
            leftover.id(),
            config.display()
        )),
        "{lines}"
    );
    handle.stop().await;
}
