"""ipvs.health and ipvs.failover driving a real IPVS table: run in the guest,
``scripts/guest run 'python3 -m pytest -q -p no:cacheprovider ipvs-py/tests -k "health or failover"'``.

The table lives in a network namespace of the test's own; the probes run
from this process to a server on loopback (each check's ``connect_address``
and ``connect_port``), so a real server is "killed" by closing its socket.
Documentation addresses only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytest

from listener import Listener

import ipvs
from ipvs import State, failover, health

from conftest import kernel_skip_reason

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(kernel_skip_reason() is not None, reason=kernel_skip_reason() or ""),
]

Ipvsadm = Callable[..., str]


def wait_for(what: str, cond: Callable[[], bool], within: float = 10.0) -> float:
    """Seconds until `cond()` held; fails after `within`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {within} s")


def weights(ipvsadm: Ipvsadm) -> dict[str, int]:
    """Destination -> weight, from ``ipvsadm -Sn``."""
    out: dict[str, int] = {}
    for line in ipvsadm("-Sn").splitlines():
        words = line.split()
        if words[:1] == ["-a"]:
            out[words[words.index("-r") + 1]] = int(words[words.index("-w") + 1])
    return out


def run_config(port: int) -> health.RunConfig:
    return health.from_dict(
        {
            "services": [
                {
                    "protocol": "tcp", "address": "192.0.2.10", "port": 80, "scheduler": "wrr",
                    "health": {
                        "check": {
                            "type": "tcp", "interval": "300ms", "timeout": "200ms",
                            "fall": 2, "rise": 2, "connect_address": "127.0.0.1",
                            "connect_port": port,
                        },
                        "on_failure": "quiesce",
                    },
                    "destinations": [
                        {"address": "198.51.100.1", "port": 80, "weight": 3},
                        {"address": "198.51.100.2", "port": 80, "weight": 1, "check": False},
                    ],
                }
            ]
        }
    )


def test_health_run_drives_the_kernel_table(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    server = Listener()
    try:
        with health.Supervisor(
            run_config(server.port), client=client, reconcile_period=0.5, on_stop="remove"
        ) as run:
            wait_for("the table made", lambda: weights(ipvsadm) == {"198.51.100.1:80": 3, "198.51.100.2:80": 1})
            # A dead server: quiesced in the kernel within fall x interval + timeout (+ slack).
            server.stop()
            took = wait_for("quiesced", lambda: weights(ipvsadm).get("198.51.100.1:80") == 0)
            assert took < 2 * 0.3 + 0.2 + 2.0
            kinds = []
            while (e := run.next_event(0.1)) is not None:
                kinds.append(e.kind)
            assert "dest-down" in kinds
            assert weights(ipvsadm)["198.51.100.2:80"] == 1
            # Back after rise successes.
            server.start()
            wait_for("back", lambda: weights(ipvsadm).get("198.51.100.1:80") == 3)
            # Deleted by hand: put back within a reconcile period.
            ipvsadm("-d", "-t", "192.0.2.10:80", "-r", "198.51.100.2:80")
            wait_for("repaired", lambda: weights(ipvsadm).get("198.51.100.2:80") == 1, within=5)
            seen = []
            while (e := run.next_event(0.5)) is not None:
                seen.append(e)
                if e.kind == "drift-repaired":
                    break
            assert any(e.kind == "drift-repaired" and e.dest == "198.51.100.2:80" for e in seen)
            desired = run.desired()
            assert desired is not None and desired.config_eq(State.from_rules(ipvsadm("-Sn")))
        # on_stop="remove": what the run made is gone.
        assert ipvsadm("-Sn").strip() == ""
        assert not run.running
    finally:
        if server.sock is not None:
            server.stop()


def test_failover_role_drives_the_sync_daemon(client: ipvs.Client, tmp_path: Path) -> None:
    fifo = tmp_path / "notify.fifo"
    os.mkfifo(fifo)
    settings = failover.Settings(
        "lo", 51, 150, ["192.0.2.100/32"],
        keepalived={"mode": "attach", "fifo": str(fifo)},
    )
    run = failover.Failover(settings, client=client)
    try:
        assert run.role is None and run.running

        def say(line: str) -> None:
            with open(fifo, "w") as f:
                f.write(line + "\n")

        def next_of(kind: str) -> failover.Event:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                e = run.next_event(0.5)
                if e is not None and e.event == kind:
                    return e
            raise AssertionError(f"no {kind} event")

        say('INSTANCE "ipvs" MASTER 150')
        role = next_of("role")
        assert (role.role, role.previous) == ("MASTER", None)
        assert str(role) == "role (none) -> MASTER (priority 150)"
        sync = next_of("sync")
        assert sync.role == "MASTER"
        assert [d.state for d in client.daemons()] == [ipvs.DaemonState.MASTER]
        assert run.role is failover.Role.MASTER
        say('INSTANCE "ipvs" BACKUP 150')
        assert next_of("role").previous == "MASTER"
        next_of("sync")
        assert [d.state for d in client.daemons()] == [ipvs.DaemonState.BACKUP]
        # STOP: the sync daemons as on_stop says ("stopped", the default).
        say('INSTANCE "ipvs" STOP 150')
        assert next_of("role").role == "STOP"
        next_of("sync")
        assert client.daemons() == []
        assert run.role is failover.Role.STOP
    finally:
        run.stop()
    # Attached to someone else's keepalived, stopping ends the following only.
    events = []
    while (e := run.next_event(1.0)) is not None:
        events.append(e.event)
    assert events[-1:] == ["stopped"]
    assert not run.running
