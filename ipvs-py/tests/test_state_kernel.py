"""States and plans against a real kernel with IPVS, as root: run in the
guest, ``scripts/guest run 'python3 -m pytest -q ipvs-py/tests/test_state_kernel.py'``.

Every test works in a network namespace of its own (``ip netns add``),
deleted afterwards, and uses documentation addresses only.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Callable

import pytest

import ipvs
from ipvs import (
    AddDestination,
    AddService,
    Destination,
    DestinationExists,
    ForwardMethod,
    Plan,
    Reconciler,
    SchedulerNotFound,
    Service,
    ServiceKey,
    ServiceNotFound,
    State,
    Timeouts,
    ValidationError,
    diff,
)

from conftest import assert_releases_the_gil, kernel_skip_reason

_reason = kernel_skip_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

Ipvsadm = Callable[..., str]

# What ipvsadm 1.31 saves (-S -n) for this table, byte for byte.
ACTUAL = """\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 9
-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 198.51.100.3:53 -i -w 1 --tun-type ipip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 198.51.100.4:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
"""

# Every kind of change from ACTUAL: a service updated, destinations added,
# updated and deleted, a service deleted, one added, a fwmark service kept.
DESIRED = """\
-A -t 192.0.2.10:80 -s rr -p 300
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 4
-a -t 192.0.2.10:80 -r 198.51.100.5:80 -g -w 1
-A -t 203.0.113.20:8080 -s lc
-a -t 203.0.113.20:8080 -r 198.51.100.6:8080 -m -w 2
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 198.51.100.4:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
"""


def saved(ipvsadm: Ipvsadm) -> State:
    """The namespace's table as ``ipvsadm -S -n`` saves it."""
    return State.from_rules(ipvsadm("-S", "-n"))


def test_read_diff_apply_and_diff_again_is_empty(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=ACTUAL)
    actual = State.read(client)
    assert actual.timeouts is not None  # read with the table
    assert actual.with_timeouts(None).config_eq(State.from_rules(ACTUAL))
    assert actual.services[0].service.stats is not None  # the kernel's counters came too
    assert all(d.connections is not None for s in actual for d in s.destinations)

    desired = State.from_rules(DESIRED).with_timeouts(Timeouts(600, 0, 45))
    plan = diff(actual, desired)
    s = plan.summary
    assert (s.set_timeouts, s.update_services, s.add_services, s.delete_services) == (1, 1, 1, 1)
    assert (s.add_destinations, s.update_destinations, s.delete_destinations) == (2, 1, 1)

    report = plan.apply(client, actual)
    assert report.ok and report.unchanged is False, str(report)
    assert report.applied == plan.ops
    assert report.failed == () and report.not_attempted == () and report.in_doubt == ()
    assert report.rollback is None
    assert str(report).startswith(f"{len(plan)} applied, 0 failed, 0 not attempted")
    report.raise_for_error()

    after = State.read(client)
    assert after.timeouts is not None
    assert (after.timeouts.tcp, after.timeouts.udp) == (600, 45)
    assert after.timeouts.tcp_fin == actual.timeouts.tcp_fin  # 0 left it alone
    again = diff(after, desired)
    assert again.empty, again.to_rules()
    # ipvsadm sees exactly the desired table.
    assert ipvsadm("-S", "-n") == desired.to_rules(ipvsadm=True)


def test_apply_failure_reports_exactly_what_was_applied(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    actual = State.read(client)
    assert len(actual) == 0
    desired = State.from_rules(
        "-A -t 192.0.2.10:80 -s rr\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m\n"
        "-A -t 192.0.2.11:80 -s nosuchscheduler\n"
        "-a -t 192.0.2.11:80 -r 198.51.100.2:80 -m\n"
        "-A -t 192.0.2.12:80 -s rr\n"
    )
    plan = diff(actual, desired)
    assert len(plan) == 5

    # One operation per batch: nothing is sent after the refusal.
    report = plan.apply(client, actual, chunk=1)
    assert not report.ok and not report
    assert report.applied == plan.ops[:2]
    assert len(report.failed) == 1
    failed = report.failed[0]
    assert failed.index == 2 and failed.op == plan.ops[2]
    assert isinstance(failed.error, SchedulerNotFound) and failed.error.name == "nosuchscheduler"
    assert report.first_error is failed.error
    assert report.not_attempted == plan.ops[3:]
    assert report.in_doubt == () and report.rollback is None
    with pytest.raises(SchedulerNotFound):
        report.raise_for_error()
    text = str(report)
    assert text.startswith("2 applied, 1 failed, 2 not attempted"), text
    assert "failed: operation 3 `-A -t 192.0.2.11:80 -s nosuchscheduler`" in text
    doc = json.loads(report.to_json())
    assert doc["failed"][0]["index"] == 2 and doc["failed"][0]["errno"] == errno.ENOENT
    assert doc["failed"][0]["op"]["op"] == "add_service" and len(doc["applied"]) == 2
    # The kernel has exactly what the report says was applied.
    assert saved(ipvsadm).config_eq(Plan(report.applied).apply_to(actual.with_timeouts(None)))
    ipvsadm("-C")

    # Carrying on: every operation is attempted.
    report = plan.apply(client, actual, on_error="continue")
    assert [f.index for f in report.failed] == [2, 3]
    assert isinstance(report.failed[1].error, ServiceNotFound)
    assert report.applied == (plan.ops[0], plan.ops[1], plan.ops[4])
    assert report.not_attempted == ()
    assert saved(ipvsadm).config_eq(Plan(report.applied).apply_to(actual.with_timeouts(None)))


def test_a_stale_actual_fails_where_the_kernel_differs(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input="-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m\n")
    stale = State()  # believes the table empty
    plan = diff(stale, State.from_rules("-A -t 192.0.2.12:80 -s rr\n-A -t 192.0.2.10:80 -s rr\n"))
    report = plan.apply(client, stale)
    assert report.applied == plan.ops[:1]
    assert len(report.failed) == 1 and report.failed[0].index == 1
    assert report.failed[0].error.errno_name == "EEXIST"


def test_rollback_restores_the_table(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=ACTUAL)
    ipvsadm("--set", "900", "120", "300")
    before = ipvsadm("-S", "-n")
    actual = State.read(client)
    # DESIRED, then a service whose scheduler does not exist: the last op.
    desired = State.from_rules(DESIRED + "-A -t 203.0.113.30:80 -s nosuchscheduler\n").with_timeouts(
        Timeouts(60, 0, 30)
    )
    plan = diff(actual, desired)
    bad = next(i for i, op in enumerate(plan) if isinstance(op, AddService) and op.service.scheduler_name == "nosuchscheduler")
    report = plan.apply(client, actual, rollback=True, on_error="continue")
    assert [f.index for f in report.failed] == [bad]
    assert len(report.applied) == len(plan) - 1
    rb = report.rollback
    assert rb is not None and rb.complete, str(report)
    assert rb.applied == rb.ops and rb.failed == () and rb.not_invertible == ()
    assert len(rb.ops) >= len(report.applied)
    assert report.unchanged
    assert "rolled back:" in str(report)
    # The kernel's table, timeouts included, is the one before.
    assert ipvsadm("-S", "-n") == before
    after = State.read(client)
    assert after.config_eq(actual) and after.timeouts == Timeouts(900, 120, 300)
    assert diff(after, actual).empty


def test_an_invalid_operation_sends_nothing(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    key = ServiceKey.tcp("192.0.2.10", 80)
    plan = Plan(
        [
            AddService(Service(key, "rr")),
            AddDestination(key, Destination("198.51.100.1", 80, upper_threshold=10, lower_threshold=20)),
        ]
    )
    report = plan.apply(client, State())
    assert report.applied == () and report.not_attempted == plan.ops[:1]
    assert len(report.failed) == 1 and report.failed[0].index == 1
    err = report.failed[0].error
    assert isinstance(err, ValidationError) and err.field == "lower_threshold"
    assert report.unchanged
    assert ipvsadm("-S", "-n") == ""


def test_rules_round_trip_with_ipvsadm(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    # Ours to ipvsadm: what to_rules writes, ipvsadm -R restores and -S saves the same.
    state = State.from_rules(ACTUAL)
    ipvsadm("-R", input=state.to_rules(ipvsadm=True))
    assert ipvsadm("-S", "-n") == state.to_rules(ipvsadm=True) == ACTUAL
    assert State.read(client).with_timeouts(None).config_eq(state)
    ipvsadm("-C")

    # ipvsadm to ours: what we apply, ipvsadm saves as rules that read back as the table.
    desired = State.from_rules(DESIRED)
    assert diff(State.read(client), desired).apply(client, State.read(client)).ok
    out = ipvsadm("-S", "-n")
    assert State.from_rules(out).config_eq(State.read(client).with_timeouts(None))
    assert out == desired.to_rules(ipvsadm=True)
    # Thresholds: ipvsadm -R reads them (its save does not write them).
    with_thresholds = "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1 -x 100 -y 10\n"
    ipvsadm("-C")
    ipvsadm("-R", input=State.from_rules(with_thresholds).to_rules())
    dest = State.read(client).services[0].destinations[0]
    assert (dest.upper_threshold, dest.lower_threshold, dest.forward) == (100, 10, ForwardMethod.MASQUERADE)


def test_ipvsadm_sees_a_plan_as_rules(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    # The plan's rules, run by ipvsadm -R instead of applied by us, give the same table.
    ipvsadm("-R", input=ACTUAL)
    actual = State.read(client)
    desired = State.from_rules(DESIRED)
    plan = diff(actual, desired)
    ipvsadm("-R", input=plan.to_rules())
    assert diff(State.read(client), desired).empty
    with pytest.raises(DestinationExists):
        # Applying it again: the first destination add is refused, as the kernel would.
        Plan([op for op in plan if isinstance(op, AddDestination)]).apply(client, actual).raise_for_error()


def test_the_reconciler_settles(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=ACTUAL)
    desired = State.from_rules(DESIRED)
    r = Reconciler(drain=30)
    step = r.step(client, desired)
    # No connections anywhere: nothing to drain, deleted at once.
    assert step.report.ok and step.settled and step.draining == ()
    assert step.plan.summary.delete_destinations == 1 and step.plan.summary.drain_destinations == 0
    assert abs(step.at - time.time()) < 60
    again = r.step(client, desired)
    assert again.plan.empty and again.settled
    seen = []
    last = r.run(client, desired, poll=0.01, on_step=seen.append)
    assert last.settled and len(seen) == 1
    assert ipvsadm("-S", "-n") == desired.to_rules(ipvsadm=True)


def test_reading_and_applying_release_the_gil(client: ipvs.Client) -> None:
    """The main thread keeps running while another applies, then reads:
    only the conversion to Python values holds the GIL."""
    services = [
        ipvs.ServiceState(Service(ServiceKey.tcp("203.0.113.10", port), "rr"), [Destination("198.51.100.1", port)])
        for port in range(1, 1501)
    ]
    desired = State(services)
    plan = diff(State(), desired)
    reports: list[ipvs.ApplyReport] = []

    def apply() -> None:
        client.flush()
        reports.append(plan.apply(client, State()))

    def read() -> None:
        State.read(client)

    assert_releases_the_gil("apply", apply)
    assert_releases_the_gil("read", read)
    assert all(r.ok for r in reports), reports
    assert diff(State.read(client), desired).empty
