"""ipvs.health on the host: run files and their errors, checks probing
servers on loopback, and the run loop on a table in memory (no kernel)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from listener import Listener

import ipvs
from ipvs import ServiceKey, State, StateError, health

KEY = ServiceKey.tcp("192.0.2.10", 80)

YAML = """
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health:
      check: {type: tcp, interval: 300ms, timeout: 200ms, fall: 1, rise: 1}
      on_failure: quiesce
    destinations:
      - {address: 127.0.0.1, port: PORT, weight: 3}
      - {address: 198.51.100.2, port: 80, weight: 1, check: false}
"""


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    if lst.sock is not None:
        lst.stop()


def config(port: int) -> health.RunConfig:
    return health.loads(YAML.replace("PORT", str(port)))


# -- run files ---------------------------------------------------------------


def test_a_run_file_splits_into_state_and_checks(tmp_path: Path) -> None:
    c = config(8080)
    assert len(c.state.services) == 1
    assert [d.port for d in c.state.services[0].destinations] == [8080, 80]
    checks = c.checks()
    assert len(checks) == 1
    key, address, port, check = checks[0]
    assert (key, address, port) == (KEY, "127.0.0.1", 8080)
    assert (check.type, check.interval, check.timeout, check.fall, check.rise) == (
        "tcp", 0.3, 0.2, 1, 1,
    )
    h = c.health(KEY)
    assert h is not None
    assert (h.on_failure, h.slow_start, h.quorum, h.sorry_server, h.initial) == (
        "quiesce", None, None, None, "up",
    )
    assert h.check == check
    assert h.to_dict() == {
        "check": json.loads(check.to_json()), "on_failure": "quiesce", "initial": "up",
    }
    assert c.health(ServiceKey.tcp("192.0.2.11", 80)) is None
    assert c.failover is None and c.notify is None

    # The same file as JSON, TOML, a dict and a file on disk.
    doc = {
        "services": [
            {
                "protocol": "tcp", "address": "192.0.2.10", "port": 80, "scheduler": "wrr",
                "health": {
                    "check": {"type": "tcp", "interval": "300ms", "timeout": 0.2, "fall": 1, "rise": 1},
                    "on_failure": "quiesce",
                },
                "destinations": [
                    {"address": "127.0.0.1", "port": 8080, "weight": 3},
                    {"address": "198.51.100.2", "port": 80, "weight": 1, "check": False},
                ],
            }
        ]
    }
    assert health.from_dict(doc) == c
    assert health.loads(json.dumps(doc), "json") == c
    toml = """
[[services]]
protocol = 'tcp'
address = '192.0.2.10'
port = 80
scheduler = 'wrr'
[services.health]
on_failure = 'quiesce'
check = { type = 'tcp', interval = '300ms', timeout = '200ms', fall = 1, rise = 1 }
[[services.destinations]]
address = '127.0.0.1'
port = 8080
weight = 3
[[services.destinations]]
address = '198.51.100.2'
port = 80
weight = 1
check = false
"""
    assert health.loads(toml, "toml") == c
    f = tmp_path / "run.yaml"
    f.write_text(YAML.replace("PORT", "8080"))
    assert health.load(f) == c
    # Plain rules run unchecked.
    rules = health.loads("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1\n", "rules")
    assert rules.checks() == [] and len(rules.state.services) == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("type: tcp,", "health.check.type", "unknown variant `smoke-signal`"),
        ("interval: 300ms", "health.check.interval", "must be above zero"),
        ("timeout: 200ms", "health.check.timeout", "is above the interval"),
        ("fall: 1", "health.check.fall", "must be at least 1"),
        ("type: tcp,", "health.check.body", "regex"),
        ("type: tcp,", "health.check.program", "/nonexistent/check"),
        ("on_failure: quiesce", "health.on_falure", "unknown field"),
    ],
)
def test_bad_settings_raise_naming_the_field(change: str, field: str, words: str) -> None:
    replacement = {
        "health.check.type": "type: smoke-signal,",
        "health.check.interval": "interval: 0",
        "health.check.timeout": "timeout: 2s",
        "health.check.fall": "fall: 0",
        "health.check.body": "type: http, body: '(unclosed',",
        "health.check.program": "type: exec, program: /nonexistent/check,",
        "health.on_falure": "on_falure: quiesce",
    }[field]
    with pytest.raises(health.ConfigError) as e:
        health.loads(YAML.replace("PORT", "8080").replace(change, replacement))
    assert e.value.field == field
    assert e.value.service == KEY
    assert e.value.dest is None
    assert words in str(e.value)
    assert str(e.value).startswith(f"service TCP 192.0.2.10:80, field {field}: ")
    assert isinstance(e.value, StateError) and isinstance(e.value, ValueError)


def test_errors_in_a_destination_and_in_the_table() -> None:
    text = YAML.replace("PORT", "8080").replace("check: false", "check: {type: tcp, rise: -1}")
    with pytest.raises(health.ConfigError) as e:
        health.loads(text)
    assert (e.value.field, e.value.dest) == ("check.rise", "198.51.100.2:80")
    # The table part raises the state's own error, naming service and destination.
    with pytest.raises(StateError) as s:
        health.loads(YAML.replace("PORT", "8080").replace("weight: 3", "weight: -3"))
    assert "198.51.100.2" not in str(s.value) and "127.0.0.1:8080" in str(s.value)
    with pytest.raises(health.ConfigError) as r:
        health.load("/nonexistent/run.yaml")
    assert r.value.kind == "Read"


def test_policies() -> None:
    text = YAML.replace("PORT", "8080").replace(
        "on_failure: quiesce",
        "on_failure: remove\n      slow_start: {divisor: 8}\n      quorum: {weight: 2, hysteresis: 1}\n"
        "      sorry_server: {address: 198.51.100.99, port: 80}\n      initial: down",
    )
    h = health.loads(text).health(KEY)
    assert h is not None
    assert (h.on_failure, h.slow_start, h.quorum, h.initial) == ("remove", 8, (2, 1), "down")
    assert h.sorry_server == ipvs.Destination("198.51.100.99", 80)
    on = health.loads(YAML.replace("PORT", "8080").replace("on_failure: quiesce", "slow_start: true")).health(KEY)
    assert on is not None and on.slow_start == 32 and on.on_failure == "remove"


def test_a_bad_config_raises_before_a_run_starts() -> None:
    doc = {"services": [{"protocol": "tcp", "address": "192.0.2.10", "port": 80, "scheduler": "rr",
                         "destinations": [{"address": "127.0.0.1", "port": 1, "check": {"type": "tcp", "interval": 0}}]}]}
    with pytest.raises(health.ConfigError) as e:
        health.Supervisor(doc, memory=State())
    assert e.value.field == "check.interval"


# -- checks ------------------------------------------------------------------


def test_checks_are_built_and_validated_in_rust() -> None:
    c = health.Check("tcp", interval="500ms", timeout=0.2, connect_port=8080, source="127.0.0.1")
    assert (c.interval, c.timeout, c.fall, c.rise, c.jitter) == (0.5, 0.2, 3, 2, 0.5)
    assert (c.connect_port, c.source, c.connect_address) == (8080, "127.0.0.1", None)
    assert health.Check.from_json(c.to_json()) == c
    assert hash(health.Check.from_json(c.to_json())) == hash(c)
    assert json.loads(c.to_json()) == {
        "type": "tcp", "interval": "500ms", "timeout": "200ms", "fall": 3, "rise": 2,
        "connect_port": 8080, "source": "127.0.0.1",
    }
    with pytest.raises(health.ConfigError) as e:
        health.Check("tcp", interval=1, timeout=2)
    assert e.value.field == "timeout"
    with pytest.raises(health.ConfigError) as e:
        health.Check("pigeon")
    assert e.value.field == "type"
    with pytest.raises(health.ConfigError) as e:
        health.Check("tcp_send_expect", send="x", expect="(", regex=True)
    assert e.value.field == "expect"


def test_tcp_probe_sees_a_server_go_down_and_up(listener: Listener) -> None:
    c = health.Check("tcp", timeout=0.5)
    up = c.probe("127.0.0.1", listener.port)
    assert up.up and bool(up) and up.reason is None and up.weight is None
    listener.stop()
    down = c.probe("127.0.0.1", listener.port)
    assert not down.up and down.reason == "refused" and down.detail
    listener.start()
    assert c.probe("127.0.0.1", listener.port).up


def test_tcp_send_expect_probe() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            c, _ = srv.accept()
            try:
                c.recv(64)
                c.sendall(b"220 ready\r\n")
            except OSError:
                pass  # the probe resets its connection once it has its answer
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert health.Check("tcp_send_expect", send="HELO\r\n", expect="220").probe("127.0.0.1", port, 2).up
    assert health.Check("tcp_send_expect", send="HELO\r\n", expect="*").probe("127.0.0.1", port, 2).up
    bad = health.Check("tcp_send_expect", send="HELO\r\n", expect="500").probe("127.0.0.1", port, 2)
    assert not bad.up and bad.reason == "unexpected_reply"
    t.join(5)
    srv.close()


def test_http_probe_status_and_body() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"ready" if self.path == "/health" else b"nope"
            self.send_response(200 if self.path == "/health" else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert health.Check("http", path="/health", body="rea+dy").probe("127.0.0.1", port, 2).up
        wrong = health.Check("http", path="/other").probe("127.0.0.1", port, 2)
        assert not wrong.up and wrong.reason == "bad_status"
        body = health.Check("http", path="/health", body="^down$").probe("127.0.0.1", port, 2)
        assert not body.up and body.reason == "unexpected_reply"
    finally:
        server.shutdown()
        server.server_close()


def test_exec_probe_exit_codes(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text('#!/bin/sh\n[ "$1" = 127.0.0.1 ] && [ "$2" = 9 ] || exit 1\nexit "$(cat "$3")"\n')
    script.chmod(0o755)
    code = tmp_path / "code"
    c = health.Check("exec", program=str(script), args=["%h", "%p", str(code)], timeout=2, interval=2)
    code.write_text("0")
    assert c.probe("127.0.0.1", 9).up
    code.write_text("1")
    down = c.probe("127.0.0.1", 9)
    assert not down.up and down.reason == "exit_code"
    code.write_text("7")
    weighted = c.probe("127.0.0.1", 9)
    assert weighted.up and weighted.weight == 5
    assert not c.probe("127.0.0.1", 10).up
    slow = health.Check("exec", program="/bin/sleep", args=["5"], timeout=0.3)
    t = time.monotonic()
    out = slow.probe("127.0.0.1", 9)
    assert not out.up and out.reason == "timeout" and time.monotonic() - t < 3


def test_file_probe(tmp_path: Path) -> None:
    f = tmp_path / "weight"
    c = health.Check("file", path=str(f))
    f.write_text("up\n")
    assert c.probe("127.0.0.1", 80).up
    f.write_text("down\n")
    assert c.probe("127.0.0.1", 80).reason == "marked_down"
    f.write_text("4\n")
    assert c.probe("127.0.0.1", 80).weight == 4


# -- the policy engine, without I/O ---------------------------------------------

POLICY = """
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    health:
      check: {type: tcp, fall: 2, rise: 1}
      slow_start: {divisor: 8}
      quorum: {weight: 3}
      sorry_server: {address: 198.51.100.99, port: 80}
    destinations:
      - {address: 198.51.100.1, port: 80, weight: 4}
      - {address: 198.51.100.2, port: 80, weight: 2}
  - protocol: tcp
    address: 192.0.2.11
    port: 80
    scheduler: rr
    health: {check: {type: tcp, fall: 2, rise: 1}}
    destinations:
      - {address: 198.51.100.1, port: 80, weight: 1}
"""


def weight_of(state: State, key: ServiceKey, address: str) -> int | None:
    for s in state.services:
        for d in s.destinations:
            if s.service.key == key and str(d.address) == address:
                return d.weight
    return None


def test_monitor_policies_quorum_sorry_server_and_slow_start() -> None:
    m = health.Monitor(health.loads(POLICY))
    other = ServiceKey.tcp("192.0.2.11", 80)
    # 198.51.100.1:80 is in two services: one probe for it.
    assert m.probe_count() == 2
    down = health.Outcome(False, reason="refused", detail="no")
    assert m.record(KEY, "198.51.100.1", 80, down) == []  # fall 2: not yet
    events = m.record(KEY, "198.51.100.1", 80, down)
    assert [(e.kind, e.service, e.dest) for e in events] == [
        ("dest-down", KEY, "198.51.100.1:80"),
        ("dest-down", other, "198.51.100.1:80"),
    ]
    assert events[0].to_dict()["reason"] == "refused: no"
    state, events = m.desired()
    assert [e.kind for e in events] == ["quorum-lost", "sorry-server-in"]
    assert events[0].to_dict() == {
        "event": "quorum_lost", "service": KEY.to_dict(), "live": 2, "quorum": 3,
    }
    assert not m.has_quorum(KEY) and m.has_quorum(other)
    assert weight_of(state, KEY, "198.51.100.99") == 1
    assert weight_of(state, KEY, "198.51.100.1") is None
    assert weight_of(state, other, "198.51.100.1") is None
    # Back: at the first step of its slow start, the quorum regained.
    events = m.record(KEY, "198.51.100.1", 80, health.Outcome(True))
    assert [(e.kind, e.to_dict()["weight"]) for e in events] == [("dest-up", 1), ("dest-up", 1)]
    ramp = []
    kinds: list[str] = []
    for _ in range(6):
        state, events = m.desired()
        kinds += [e.kind for e in events]
        w = weight_of(state, KEY, "198.51.100.1")
        assert w is not None
        ramp.append(w)
        m.record(KEY, "198.51.100.1", 80, health.Outcome(True))
    assert kinds[:2] == ["quorum-regained", "sorry-server-out"]
    assert ramp[0] < 4 and ramp[-1] == 4 and ramp == sorted(ramp)
    assert kinds.count("dest-weight") == len(set(ramp)) - 1
    assert m.has_quorum(KEY)


def test_outcomes() -> None:
    assert health.Outcome(True).up and health.Outcome(True, weight=3).weight == 3
    d = health.Outcome(False, reason="timeout", detail="slow")
    assert (d.up, d.reason, d.detail) == (False, "timeout", "slow")
    with pytest.raises(ValueError, match="refused"):
        health.Outcome(False)
    with pytest.raises(ValueError):
        health.Outcome(False, reason="bored")
    with pytest.raises(ValueError):
        health.Outcome(True, reason="timeout")


# -- the run loop, on a table in memory ----------------------------------------


def wait_event(run: health.Supervisor, kind: str, within: float = 5.0) -> health.Event:
    """The first event of `kind` within `within` seconds (others are skipped)."""
    deadline = time.monotonic() + within
    seen = []
    while time.monotonic() < deadline:
        e = run.next_event(max(0.01, deadline - time.monotonic()))
        if e is None:
            continue
        if e.kind == kind:
            return e
        seen.append(str(e))
    raise AssertionError(f"no {kind} within {within} s; saw {seen}")


def weight_in(state: State | None, port: int) -> int | None:
    assert state is not None
    for s in state.services:
        for d in s.destinations:
            if d.port == port:
                return d.weight
    return None


def wait_weight(run: health.Supervisor, port: int, weight: int | None, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if weight_in(run.table(), port) == weight:
            return
        time.sleep(0.05)
    raise AssertionError(f"weight of :{port} is {weight_in(run.table(), port)}, not {weight}")


def test_a_run_takes_a_dead_server_out_and_back(listener: Listener) -> None:
    with health.Supervisor(config(listener.port), memory=State(), reconcile_period=0.5) as run:
        assert run.running
        wait_weight(run, listener.port, 3)
        listener.stop()
        down = wait_event(run, "dest-down")
        assert down.event == "dest_down"
        assert down.service == KEY and down.dest == f"127.0.0.1:{listener.port}"
        d = down.to_dict()
        assert d["event"] == "dest_down" and d["action"] == "quiesce"
        assert d["service"] == {"protocol": "tcp", "address": "192.0.2.10", "port": 80}
        # Refused; or reset, for a check whose connection was in the
        # listener's backlog as it closed (seen in CI).
        reason = d["reason"]
        assert reason.startswith(("refused: ", "reset: ")), reason
        assert json.loads(down.to_json()) == d
        # The Rust Display: the words of ipvsctl run's log line.
        assert str(down).startswith(
            f'dest-down service="TCP 192.0.2.10:80" dest=127.0.0.1:{listener.port} action=quiesce reason="{reason}"'
        )
        assert ("action", "quiesce") in down.fields
        assert down.timestamp.endswith("Z") and abs(down.time - time.time()) < 60
        wait_weight(run, listener.port, 0)
        desired = run.desired()
        assert weight_in(desired, listener.port) == 0
        # The unchecked destination is untouched.
        assert weight_in(run.table(), 80) == 1
        listener.start()
        up = wait_event(run, "dest-up")
        assert up.to_dict() == {
            "event": "dest_up",
            "service": {"protocol": "tcp", "address": "192.0.2.10", "port": 80},
            "dest": f"127.0.0.1:{listener.port}",
            "weight": 3,
        }
        wait_weight(run, listener.port, 3)
    assert not run.running
    assert run.next_event(0.1) is None or not run.running
    assert run.desired() is None


def test_drift_is_repaired_and_reloads_apply(listener: Listener, tmp_path: Path) -> None:
    with health.Supervisor(config(listener.port), memory=State(), reconcile_period=0.3) as run:
        wait_weight(run, listener.port, 3)
        # An operator deletes a destination behind the run's back.
        run.set_table(State.from_rules("-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 1\n"))
        repaired = wait_event(run, "drift-repaired")
        assert repaired.dest == f"127.0.0.1:{listener.port}"
        assert "-a -t 192.0.2.10:80 -r 127.0.0.1:" in repaired.to_dict()["repair"]
        wait_weight(run, listener.port, 3)
        # A file that does not load leaves the running configuration alone.
        bad = tmp_path / "run.yaml"
        bad.write_text(YAML.replace("PORT", str(listener.port)).replace("interval: 300ms", "interval: 0"))
        with pytest.raises(health.ConfigError):
            run.reload_file(bad)
        failed = wait_event(run, "reload-failed")
        assert "health.check.interval" in failed.to_dict()["error"]
        # A changed weight applies only that.
        good = tmp_path / "good.yaml"
        good.write_text(YAML.replace("PORT", str(listener.port)).replace("weight: 1,", "weight: 4,"))
        summary = run.reload_file(good)
        assert summary is not None
        started, stopped, kept, ops = summary
        assert (started, stopped, kept, ops) == (0, 0, 1, 1)
        reloaded = wait_event(run, "config-reloaded")
        assert reloaded.to_dict() == {
            "event": "config_reloaded", "probes_started": 0, "probes_stopped": 0, "probes_kept": 1,
        }
        wait_weight(run, 80, 4)


def test_iteration_ends_when_the_run_stops(listener: Listener) -> None:
    run = health.Supervisor(config(listener.port), memory=State(), reconcile_period=0.3, on_stop="remove")
    got: list[health.Event] = []

    def stop_soon() -> None:
        time.sleep(0.5)
        listener.stop()
        time.sleep(1.0)
        run.stop()

    t = threading.Thread(target=stop_soon)
    t.start()
    t0 = time.monotonic()
    for e in run:
        got.append(e)
    t.join()
    assert time.monotonic() - t0 < 10
    assert "dest-down" in [e.kind for e in got]
    assert not run.running and run.error is None
    # on_stop="remove": the run's services are gone from the table.
    table = run.table()
    assert table is not None and len(table.services) == 0


def test_the_callback_runner(listener: Listener) -> None:
    seen: list[str] = []

    class Stop(Exception):
        pass

    def on_event(e: health.Event) -> None:
        seen.append(e.kind)
        if e.kind == "dest-down":
            raise Stop

    listener.stop()
    with pytest.raises(Stop):
        health.run(config(listener.port), on_event, memory=State(), reconcile_period=0.3)
    assert seen[-1] == "dest-down"


def test_supervisor_options_are_checked() -> None:
    with pytest.raises(ValueError):
        health.Supervisor(config(1), memory=State(), on_stop="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        health.Supervisor(config(1), memory=State(), reconcile_period=0)


def test_exports() -> None:
    assert ipvs.health is health
    assert health.Event is ipvs._ipvs.HealthEvent
    assert os.path.basename(sys.modules["ipvs.health"].__file__ or "") == "health.py"
