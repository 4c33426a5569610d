"""Python and the Rust crate (and `ipvsctl`) print the same words and read
each other's files. The words are pinned here and, for the Rust side, in
``ipvs-py/src/tests.rs`` (``display_words``, ``drain_state_file``); the
drain-state file goes through the real ``ipvsctl`` binary."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import ipvs
from ipvs import (
    AddDestination,
    AddService,
    DaemonState,
    DeleteDestination,
    Destination,
    DrainOptions,
    DrainTracker,
    Scheduler,
    Service,
    ServiceKey,
    ServiceState,
    SetTimeouts,
    StartDaemon,
    State,
    StopDaemon,
    SyncDaemon,
    Timeouts,
    Zero,
    diff,
)
from ipvs import _ipvs

REPO = Path(__file__).resolve().parents[2]
KEY = ServiceKey.tcp("192.0.2.10", 80)
DEST = Destination("192.0.2.21", 80)

WORDS = [
    (AddService(Service(KEY, Scheduler.RR)), "add service TCP 192.0.2.10:80"),
    (AddDestination(KEY, DEST), "add destination 192.0.2.21:80 to TCP 192.0.2.10:80"),
    (ipvs.UpdateDestination(KEY, DEST), "update destination 192.0.2.21:80 of TCP 192.0.2.10:80"),
    (
        DeleteDestination(KEY, "2001:db8::21", 8443),
        "delete destination [2001:db8::21]:8443 of TCP 192.0.2.10:80",
    ),
    (SetTimeouts(Timeouts(1, 2, 3)), "set timeouts tcp 1 tcpfin 2 udp 3"),
    (Zero(), "zero all counters"),
    (StartDaemon(SyncDaemon(DaemonState.MASTER, "eth0", 5)), "start master sync daemon on eth0"),
    (StopDaemon("backup"), "stop backup sync daemon"),
    (ServiceKey.fwmark(7, "ipv6"), "FWM 7 IPv6"),
    (ServiceKey.fwmark(7), "FWM 7"),
    (ServiceKey.udp("2001:db8::1", 53), "UDP [2001:db8::1]:53"),
    (DaemonState.MASTER, "master"),
]


@pytest.mark.parametrize("value, words", WORDS, ids=lambda v: v if isinstance(v, str) else "")
def test_python_prints_the_rust_words(value: object, words: str) -> None:
    assert str(value) == words


def test_a_sync_daemon_state_is_lower_case_everywhere() -> None:
    """"master", as ipvsadm, the serde form and the Rust Display say it."""
    op = StopDaemon(DaemonState.MASTER)
    assert str(op) == "stop master sync daemon"
    assert op.to_dict() == {"stop_daemon": "master"}
    assert _ipvs.display("daemon_state", DaemonState.BACKUP) == "backup"


def ipvsctl() -> str:
    for profile in ("debug", "release"):
        exe = REPO / "target" / profile / "ipvsctl"
        if exe.exists():
            return str(exe)
    pytest.fail(f"no ipvsctl under {REPO / 'target'}: build it (cargo build --bin ipvsctl)")


def tracker(since: float = 1_700_000_000.5) -> DrainTracker:
    return DrainTracker([(KEY, "192.0.2.21", 80, since)])


def test_the_drain_state_file_is_ipvsctls() -> None:
    text = tracker().to_json()
    assert json.loads(text) == [
        {
            "service": {"protocol": "tcp", "address": "192.0.2.10", "port": 80},
            "dest": "192.0.2.21:80",
            "since": {"secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 500_000_000},
        }
    ]
    # Byte for byte what `ipvsctl --drain-state` writes (serde_json, pretty, a final newline).
    assert text.endswith("]\n") and text.startswith("[\n  {\n")
    assert DrainTracker.from_json(text) == tracker()


def test_ipvsctl_reads_a_drain_state_file_python_wrote(tmp_path: Path) -> None:
    """`ipvsctl diff --drain --drain-state FILE` takes a drain's start (a
    destination already at weight 0) from
    a file `DrainTracker.to_json()` wrote: the plan ends the drain at
    start + deadline, as Python's diff with that tracker does."""
    dest = Destination("192.0.2.21", 80, weight=0, connections=ipvs.Connections(active=3))
    actual = State([ServiceState(Service(KEY, Scheduler.RR), [dest])])
    desired = State([ServiceState(Service(KEY, Scheduler.RR), [])])
    (tmp_path / "actual.json").write_text(actual.to_json())
    (tmp_path / "desired.json").write_text(desired.to_json())
    since = float(int(time.time()) - 5) + 0.5
    (tmp_path / "drains.json").write_text(tracker(since).to_json())
    r = subprocess.run(
        [
            ipvsctl(), "diff", str(tmp_path / "desired.json"), "--from", str(tmp_path / "actual.json"),
            "--drain", "600", "--drain-state", str(tmp_path / "drains.json"), "--json",
        ],
        capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"},
    )
    assert r.returncode == 0, r.stderr
    plan = ipvs.Plan.from_json(r.stdout)
    ours = diff(actual, desired, DrainOptions(600, tracker=tracker(since)))
    assert [d.since for d in ours.draining] == [since]
    assert json.loads(r.stdout) == json.loads(ours.to_json())
    assert plan == ours


def test_plan_summaries_and_drains_print_as_ipvsctl_prints_them() -> None:
    assert str(ipvs.PlanSummary()) == "no changes"
    assert str(ipvs.PlanSummary(add_services=1, add_destinations=2)) == (
        "3 operations: 1 services added, 2 destinations added"
    )
    now = time.time()
    d = ipvs.Draining(KEY, DEST.address, 80, now, now + 60.5, 3, 0, True)
    assert str(d) == (
        "draining TCP 192.0.2.10:80 -> 192.0.2.21:80: 3 active, 0 inactive connections; "
        "deleted when none are left, at the latest in 60 s (then the service)"
    )
