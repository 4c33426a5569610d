"""States, diffs, plans, ipvsadm rules and config files: no kernel needed."""

from __future__ import annotations

import datetime
import ipaddress
import json
import pickle
from pathlib import Path

import pytest

import ipvs
from ipvs import (
    AddDestination,
    AddService,
    Connections,
    DeleteDestination,
    DeleteService,
    Destination,
    DestinationNotFound,
    DrainDestination,
    DrainOptions,
    DrainTracker,
    ForwardMethod,
    Plan,
    PlanSummary,
    Reconciler,
    RulesError,
    Scheduler,
    Service,
    ServiceExists,
    ServiceKey,
    ServiceNotFound,
    ServiceState,
    SetTimeouts,
    State,
    StateError,
    Stats,
    Timeouts,
    Tunnel,
    UpdateDestination,
    UpdateService,
    Zero,
    diff,
)

WEB = ServiceKey.tcp("192.0.2.10", 80)
DNS = ServiceKey.udp("192.0.2.10", 53)
V6 = ServiceKey.tcp("2001:db8::10", 443)
MARK = ServiceKey.fwmark(7)

RULES = """\
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


def web(scheduler: Scheduler = Scheduler.WRR, *dests: Destination) -> ServiceState:
    return ServiceState(Service(WEB, scheduler, persistence=600), dests)


def d(last: int, weight: int = 1, **kw: object) -> Destination:
    return Destination(f"198.51.100.{last}", 80, ForwardMethod.DIRECT_ROUTE, weight=weight, **kw)  # type: ignore[arg-type]


def with_conns(state: State, active: int) -> State:
    return State(
        [
            ServiceState(s.service, [x.replace(connections=Connections(active, 0, 0)) for x in s.destinations])
            for s in state
        ],
        state.timeouts,
    )


# --------------------------------------------------------------------------
# State as a value.


def test_a_state_is_a_value() -> None:
    a = State([web(Scheduler.WRR, d(1, 9), d(2))], Timeouts(900, 120, 300))
    b = State([(Service(WEB, Scheduler.WRR, persistence=600), [d(1, 9), d(2)])], Timeouts(900, 120, 300))
    assert a == b and hash(a) == hash(b)
    assert a != State([web(Scheduler.WRR, d(2), d(1, 9))], Timeouts(900, 120, 300))  # order counts for ==
    assert a.config_eq(State([web(Scheduler.WRR, d(2), d(1, 9))], Timeouts(900, 120, 300)))
    assert not a.config_eq(State([web(Scheduler.WRR, d(2), d(1, 8))], Timeouts(900, 120, 300)))
    assert len(a) == 1 and a.destination_count == 2
    assert a.service(WEB) is a.services[0] and a.service(DNS) is None
    assert a.services[0].destination("198.51.100.1", 80) == d(1, 9)
    assert a.services[0].destination("198.51.100.1", 81) is None
    service, dests = a.services[0]
    assert service.key == WEB and dests == (d(1, 9), d(2))
    with pytest.raises(dataclasses_frozen_error()):
        a.timeouts = None  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(a)) == a
    assert State() == State() and len(State()) == 0 and State().timeouts is None


def dataclasses_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_repr_evaluates_back() -> None:
    a = State([web(Scheduler.WRR, d(1, 9))], Timeouts(1, 2, 3))
    ns = {name: getattr(ipvs, name) for name in ipvs.__all__}
    ns["IPv4Address"] = ipaddress.IPv4Address
    text = repr(a)
    assert text.startswith("State([ServiceState(Service(ServiceKey.tcp('192.0.2.10', 80)")
    assert eval(text, ns) == a


def test_the_constructor_checks_types() -> None:
    with pytest.raises(TypeError, match=r"services\[0\]"):
        State(["-A -t 192.0.2.10:80"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ServiceState(Service(WEB), ["198.51.100.1"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        State(timeouts=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="desired: expected State"):
        diff(State(), "nothing")  # type: ignore[arg-type]


def test_config_drops_stats_and_sorts() -> None:
    stats = Stats(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    s = State(
        [
            ServiceState(Service(MARK, "mh"), [Destination("198.51.100.4", 0, ForwardMethod.DIRECT_ROUTE)]),
            ServiceState(
                Service(WEB, "rr", stats=stats),
                [d(2, connections=Connections(5, 1, 0), stats=stats), d(1)],
            ),
        ]
    )
    c = s.config()
    assert [x.key for x in c] == [WEB, MARK]  # address services before fwmark ones
    assert c.services[0].service.stats is None
    assert c.services[0].destinations == (d(1), d(2))
    assert s.sorted().services[0].destinations[1].connections == Connections(5, 1, 0)
    assert c.config_eq(s) and c != s


# --------------------------------------------------------------------------
# Serde form, JSON, YAML, TOML.


def test_dict_and_json_are_the_rust_serde_form() -> None:
    s = State([web(Scheduler.WRR, d(1, 9))], Timeouts(900, 120, 300))
    doc = s.to_dict()
    assert doc == {
        "timeouts": {"tcp": 900, "tcp_fin": 120, "udp": 300},
        "services": [
            {
                "protocol": "tcp",
                "address": "192.0.2.10",
                "port": 80,
                "scheduler": "wrr",
                "persistence": {"timeout": 600, "netmask": {"v4": "255.255.255.255"}},
                "destinations": [
                    {"address": "198.51.100.1", "port": 80, "forward": "direct_route", "weight": 9}
                ],
            }
        ],
    }
    # The Python side's own serde forms agree with it.
    assert doc["services"][0] == s.services[0].to_dict()
    assert ServiceState.from_dict(doc["services"][0]) == s.services[0]
    assert State.from_dict(doc) == s
    assert json.loads(s.to_json()) == doc
    assert State.from_json(s.to_json()) == s
    assert State.from_json(s.to_json().encode()) == s
    assert "timeouts" not in State([web()]).to_dict()


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml", "rules"])
def test_every_format_round_trips(fmt: str) -> None:
    s = State.from_rules(RULES).with_timeouts(Timeouts(900, 120, 300))
    text = s.dumps(fmt)  # type: ignore[arg-type]
    back = State.loads(text, fmt)  # type: ignore[arg-type]
    assert back.config_eq(s), text
    if fmt != "rules":
        assert back == s  # same order too


def test_yaml_and_toml_read_as_documented() -> None:
    yaml = """
timeouts: {tcp: 900, tcp_fin: 0, udp: 0}
services:
  - protocol: tcp
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    destinations:
      - {address: 198.51.100.1, port: 80, forward: direct_route, weight: 3}
      - address: 198.51.100.2
        port: 80
        forward: {tunnel: {type: gue, port: 6080}}
"""
    s = State.from_yaml(yaml)
    assert s.timeouts == Timeouts(900, 0, 0)
    svc = s.services[0]
    assert svc.service == Service(WEB, Scheduler.WRR)
    assert svc.destinations[0] == d(1, 3)
    assert svc.destinations[1].tunnel == Tunnel.gue(6080)
    toml = """
[[services]]
protocol = "tcp"
address = "192.0.2.10"
port = 80
scheduler = "wrr"

[[services.destinations]]
address = "198.51.100.1"
port = 80
forward = "direct_route"
weight = 3
"""
    t = State.from_toml(toml)
    assert t == State([ServiceState(Service(WEB, Scheduler.WRR), [d(1, 3)])])
    assert "[[services.destinations]]" in t.to_toml()


def test_load_and_dump_files(tmp_path: Path) -> None:
    s = State.from_rules(RULES)
    for name in ("t.json", "t.yaml", "t.yml", "t.toml", "t.rules"):
        s.dump(tmp_path / name)
        assert State.load(tmp_path / name).config_eq(s), name
    (tmp_path / "t.json").write_text(s.to_yaml())
    with pytest.raises(StateError) as e:
        State.load(tmp_path / "t.json")
    assert e.value.kind == "Json" and e.value.line == 1
    assert State.load(tmp_path / "t.json", format="yaml") == s
    with pytest.raises(ValueError, match="cannot tell the format"):
        State.load(tmp_path / "t.txt")
    with pytest.raises(ValueError, match="format"):
        s.dumps("xml")  # type: ignore[arg-type]


def test_config_errors_say_where() -> None:
    with pytest.raises(StateError) as e:
        State.from_json('{"services": [\n  {"protocol": "tcp", "address": "192.0.2.10", "port": "x"}]}')
    assert e.value.kind == "Json" and e.value.line == 2 and isinstance(e.value, ValueError)
    assert not isinstance(e.value, RulesError)
    with pytest.raises(StateError) as e:
        State.from_yaml("services:\n  - protocol: tcp\n    address: [oops\n")
    assert e.value.kind == "Yaml" and e.value.line is not None and e.value.line >= 3
    with pytest.raises(StateError) as e:
        State.from_toml('[[services]]\nprotocol = "tcp"\naddress = "192.0.2.10"\nport = 80\nscheduler = rr\n')
    assert e.value.kind == "Toml" and (e.value.line, e.value.column) == (5, 13), e.value
    # A wrong type inside a service: TOML places it at the service's table.
    with pytest.raises(StateError) as e:
        State.from_toml('\n[[services]]\nprotocol = "tcp"\naddress = "192.0.2.10"\nport = 80\nscheduler = 5\n')
    assert e.value.kind == "Toml" and (e.value.line, e.value.column) == (2, 1), e.value


def test_validation_names_what_is_wrong() -> None:
    dup = State([web(), web()])
    with pytest.raises(StateError) as e:
        dup.validate()
    assert e.value.kind == "DuplicateService" and e.value.service == WEB
    with pytest.raises(StateError) as e:
        State([web(Scheduler.RR, d(1), d(1, 5))]).validate()
    assert e.value.kind == "DuplicateDest"
    assert (e.value.address, e.value.port) == (ipaddress.ip_address("198.51.100.1"), 80)
    with pytest.raises(StateError) as e:
        State([web(Scheduler.RR, d(1, upper_threshold=10, lower_threshold=20))]).validate()
    assert e.value.kind == "InvalidDest" and e.value.field == "lower_threshold"
    assert e.value.reason == "ThresholdOrder"
    with pytest.raises(StateError) as e:
        State([ServiceState(Service(ServiceKey.tcp("192.0.2.10", 0), "rr"))]).validate()
    assert e.value.kind == "InvalidService" and e.value.field == "port"
    # Loading validates.
    with pytest.raises(StateError, match="defined twice"):
        State.from_dict({"services": [web().to_dict(), web().to_dict()]})
    State.from_rules(RULES).validate()


# --------------------------------------------------------------------------
# ipvsadm rules.


def test_rules_round_trip_exactly() -> None:
    s = State.from_rules(RULES)
    assert [x.key for x in s] == [WEB, DNS, V6, MARK]
    assert s.services[0].service == Service(WEB, Scheduler.WRR, persistence=600)
    assert s.services[0].destinations == (d(1, 9), d(2))
    assert s.services[3].destinations[0].tunnel is not None
    assert s.to_rules(ipvsadm=True) == RULES
    assert s.to_rules() == RULES  # no timeouts, no thresholds: the same
    assert State.from_rules(s.to_rules()) == s


def test_thresholds_and_timeouts_in_rules() -> None:
    s = State([web(Scheduler.RR, d(1, 2, upper_threshold=100, lower_threshold=10))], Timeouts(900, 0, 300))
    text = s.to_rules()
    assert text.splitlines()[0] == "--set 900 0 300"
    assert "-x 100 -y 10" in text
    assert State.from_rules(text) == s
    ipvsadm = s.to_rules(ipvsadm=True)
    assert "--set" not in ipvsadm and "-x" not in ipvsadm


def test_a_bad_line_raises_rules_error_with_line_and_column() -> None:
    text = "-A -t 192.0.2.10:80 -s rr\n\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -w heavy\n"
    with pytest.raises(RulesError) as e:
        State.from_rules(text)
    err = e.value
    assert (err.line, err.column) == (3, 43)
    assert err.kind == "Rules" and err.reason == "BadValue"
    assert str(err) == 'line 3, column 43: -w: expected a weight (0 to 2147483647), found "heavy"'
    assert err.detail == '-w: expected a weight (0 to 2147483647), found "heavy"'
    assert isinstance(err, StateError) and isinstance(err, ipvs.IpvsError) and isinstance(err, ValueError)
    with pytest.raises(RulesError) as e:
        State.from_rules("-A -t 192.0.2.10:80 -s")
    assert (e.value.line, e.value.column, e.value.reason) == (1, 23, "MissingValue")
    with pytest.raises(RulesError) as e:
        State.loads("-A -t 192.0.2.10:80\n-L -n\n", "rules")
    assert (e.value.line, e.value.reason) == (2, "NotARule")


def test_a_rule_that_cannot_apply_names_its_line() -> None:
    with pytest.raises(RulesError) as e:
        State.from_rules("-A -t 192.0.2.10:80 -s rr\n# comment\n-a -t 192.0.2.11:80 -r 198.51.100.1:80\n")
    err = e.value
    assert (err.line, err.column, err.kind, err.reason) == (3, 1, "Rule", "NoSuchService")
    assert err.service == ServiceKey.tcp("192.0.2.11", 80)
    with pytest.raises(RulesError) as e:
        State.from_rules("-A -t 192.0.2.10:80\n-A -t 192.0.2.10:80 -s rr\n")
    assert (e.value.line, e.value.reason) == (2, "ServiceExists")


def test_parse_rules_checks_without_running() -> None:
    assert ipvs.parse_rules("# saved\n-a -t 192.0.2.10:80 -r 198.51.100.1\n") == [
        (2, "-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1")
    ]
    with pytest.raises(RulesError) as e:
        ipvs.parse_rules("-A -t 192.0.2.10:80 --bogus\n")
    assert e.value.line == 1 and e.value.reason == "UnknownOption"


def test_ipvsadm_restore_semantics() -> None:
    # -E replaces every setting; -d removes; -C clears; -D deletes.
    s = State.from_rules(
        "-A -t 192.0.2.10:80 -s rr -p 60\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m\n"
        "-E -t 192.0.2.10:80 -s wlc\n"
        "-d -t 192.0.2.10:80 -r 198.51.100.1:80\n"
        "-A -u 192.0.2.10:53\n-D -u 192.0.2.10:53\n"
    )
    assert s == State([ServiceState(Service(WEB, Scheduler.WLC), [Destination("198.51.100.2", 80)])])
    assert State.from_rules("-A -t 192.0.2.10:80\n-C\n") == State()


# --------------------------------------------------------------------------
# Diff and plans.


def test_diff_from_nothing_and_back() -> None:
    desired = State.from_rules(RULES).with_timeouts(Timeouts(60, 0, 30))
    plan = diff(State(), desired)
    assert plan.summary == PlanSummary(set_timeouts=1, add_services=4, add_destinations=5)
    assert plan.summary.total == len(plan) == 10
    assert isinstance(plan[0], SetTimeouts) and isinstance(plan[1], AddService)
    assert isinstance(plan[2], AddDestination)
    assert plan and not plan.empty
    after = plan.apply_to(State())
    assert after.config_eq(desired)
    again = diff(after, desired)
    assert again.empty and not again and len(again) == 0 and list(again) == []
    assert str(again.summary) == "no changes"
    # And away: one delete per service (deleting a service takes its destinations).
    back = diff(desired, State())
    assert [type(op) for op in back] == [DeleteService] * 4
    assert back.apply_to(desired) == State(timeouts=desired.timeouts)


def test_changes_are_in_place_and_make_before_break() -> None:
    actual = State([web(Scheduler.WRR, d(1, 9), d(2))])
    desired = State([web(Scheduler.RR, d(3), d(1, 5))])
    plan = diff(actual, desired)
    assert plan.ops == (
        UpdateService(Service(WEB, Scheduler.RR, persistence=600)),
        AddDestination(WEB, d(3)),
        UpdateDestination(WEB, d(1, 5)),
        DeleteDestination(WEB, "198.51.100.2", 80),
    )
    assert plan.to_rules() == (
        "-E -t 192.0.2.10:80 -s rr -p 600\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 1\n"
        "-e -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 5\n"
        "-d -t 192.0.2.10:80 -r 198.51.100.2:80\n"
    )
    assert str(plan) == plan.to_rules()
    assert plan.op_rules() == plan.to_rules().splitlines()
    assert plan.summary == PlanSummary(update_services=1, add_destinations=1, update_destinations=1, delete_destinations=1)
    assert "1 services changed" in str(plan.summary) and "ipvs.Plan" in repr(plan)
    assert diff(plan.apply_to(actual), desired).empty


def test_stats_and_connections_never_cause_an_operation() -> None:
    desired = State([web(Scheduler.WRR, d(1, 9))])
    stats = Stats(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    actual = State(
        [ServiceState(Service(WEB, Scheduler.WRR, persistence=600, stats=stats), [d(1, 9, connections=Connections(3, 4, 5), stats=stats)])]
    )
    assert diff(actual, desired).empty


def test_plan_json_is_the_rust_serde_form_and_round_trips() -> None:
    plan = diff(State([web(Scheduler.RR, d(1))]), State([ServiceState(Service(DNS, "rr"))]))
    doc = plan.to_dict()
    assert doc == {
        "ops": [
            {"op": "add_service", "service": {"protocol": "udp", "address": "192.0.2.10", "port": 53, "scheduler": "rr"}},
            {"op": "delete_service", "service": {"protocol": "tcp", "address": "192.0.2.10", "port": 80}},
        ]
    }
    assert json.loads(plan.to_json()) == doc and "\n" in plan.to_json()
    assert "\n" not in plan.to_json(pretty=False)
    back = Plan.from_json(plan.to_json())
    assert back == plan and back.ops == plan.ops
    assert Plan.from_dict(doc) == plan
    with pytest.raises(ValueError, match="not a plan"):
        Plan.from_json('{"ops": [{"op": "explode"}]}')


def test_plans_from_operations() -> None:
    ops = [
        SetTimeouts(Timeouts(10, 0, 0)),
        AddService(Service(WEB, "rr")),
        AddDestination(WEB, d(1)),
        DrainDestination(WEB, d(1, 5)),
        DeleteDestination(WEB, d(1)),
        DeleteService(WEB),
    ]
    plan = Plan(ops)
    assert plan.ops[3] == DrainDestination(WEB, d(1, 0))  # a drain is at weight 0
    assert plan.ops[3] != UpdateDestination(WEB, d(1, 0))
    assert plan.summary == PlanSummary(1, 1, 0, 1, 1, 0, 1, 1)
    assert plan.to_rules().splitlines()[3] == "-e -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 0"
    assert plan.apply_to(State()) == State(timeouts=Timeouts(10, 0, 0))
    assert Plan() == Plan([]) and Plan().empty
    with pytest.raises(TypeError, match="operation 0"):
        Plan([Zero()])
    with pytest.raises(TypeError, match="operation 1"):
        Plan([AddService(Service(WEB)), "-A -t 192.0.2.10:80"])  # type: ignore[list-item]


def test_in_memory_refusals_are_the_kernels_exceptions() -> None:
    with pytest.raises(ServiceNotFound) as e:
        Plan([UpdateService(Service(WEB, "rr"))]).apply_to(State())
    assert e.value.service == WEB and e.value.errno_name == "ESRCH"
    with pytest.raises(ServiceExists):
        Plan([AddService(Service(WEB, "rr"))]).apply_to(State([web()]))
    with pytest.raises(DestinationNotFound) as e2:
        Plan([DeleteDestination(WEB, "198.51.100.9", 80)]).apply_to(State([web()]))
    assert e2.value.port == 80


def test_inverse_of_a_plan_restores_the_table() -> None:
    actual = State.from_rules(RULES).with_timeouts(Timeouts(900, 120, 300))
    desired = State.from_rules("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.5:80 -m\n")
    plan = diff(actual, desired)
    undo, stuck = ipvs.state._ipvs.inverse_of(actual, plan.ops)
    assert stuck == []
    after = plan.apply_to(actual)
    assert after.config_eq(desired.with_timeouts(actual.timeouts))
    assert Plan._wrap(undo).apply_to(after).config_eq(actual)


# --------------------------------------------------------------------------
# Draining.


def test_without_draining_removed_destinations_go_at_once() -> None:
    actual = with_conns(State([web(Scheduler.RR, d(1), d(2))]), 4)
    plan = diff(actual, State([web(Scheduler.RR, d(1))]))
    assert plan.ops == (DeleteDestination(WEB, d(2)),) and plan.draining == ()


def test_draining_sets_weight_zero_then_deletes() -> None:
    t0 = 1_700_000_000.0
    actual = with_conns(State([web(Scheduler.RR, d(1), d(2, 7))]), 4)
    desired = State([web(Scheduler.RR, d(1))])
    plan = diff(actual, desired, DrainOptions(60, now=t0))
    assert plan.ops == (DrainDestination(WEB, d(2, 0)),)
    assert plan.summary.drain_destinations == 1
    assert plan.to_rules() == "-e -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 0\n"
    (dr,) = plan.draining
    assert (dr.service, dr.address, dr.port) == (WEB, ipaddress.ip_address("198.51.100.2"), 80)
    assert (dr.since, dr.deadline, dr.active, dr.inactive, dr.service_removed) == (t0, t0 + 60, 4, 0, False)
    assert "draining" in str(dr)
    tracker = plan.drain_tracker
    assert len(tracker) == 1 and tracker.since(WEB, "198.51.100.2", 80) == t0
    assert DrainTracker.from_json(tracker.to_json()) == tracker

    # Next round: at weight 0, connections left, before the deadline: wait.
    drained = plan.apply_to(actual)
    wait = diff(drained, desired, DrainOptions(60, now=t0 + 30, tracker=tracker))
    assert wait.empty and len(wait.draining) == 1 and wait.draining[0].since == t0
    # Connections gone: delete.
    gone = diff(with_conns(drained, 0), desired, DrainOptions(60, now=t0 + 31, tracker=tracker))
    assert gone.ops == (DeleteDestination(WEB, d(2)),) and gone.draining == ()
    # Deadline passed: delete whatever is left.
    late = diff(drained, desired, DrainOptions(datetime.timedelta(seconds=60), now=t0 + 61, tracker=tracker))
    assert late.ops == (DeleteDestination(WEB, d(2)),)
    # A bare number is the deadline.
    assert diff(actual, desired, 60).ops == plan.ops


def test_a_removed_service_drains_its_destinations_first() -> None:
    actual = with_conns(State([web(Scheduler.RR, d(1))]), 2)
    plan = diff(actual, State(), DrainOptions(60))
    assert plan.ops == (DrainDestination(WEB, d(1, 0)),)
    assert plan.draining[0].service_removed


def test_drain_options_check_their_values() -> None:
    with pytest.raises(ValueError):
        DrainOptions(-1)
    with pytest.raises(TypeError):
        DrainOptions("60")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        DrainOptions(60, now=datetime.datetime(2024, 1, 1))
    aware = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert DrainOptions(60, now=aware).now == aware.timestamp()


def test_the_reconciler_remembers_drains() -> None:
    t0 = 1_700_000_000.0
    r = Reconciler(drain=60)
    assert r.drain == 60 and len(r.tracker) == 0
    actual = with_conns(State([web(Scheduler.RR, d(1), d(2))]), 3)
    desired = State([web(Scheduler.RR, d(1))])
    p1 = r.plan(actual, desired, now=t0)
    assert p1.ops == (DrainDestination(WEB, d(2, 0)),)
    assert r.tracker.since(WEB, "198.51.100.2", 80) == t0
    drained = p1.apply_to(actual)
    assert r.plan(drained, desired, now=t0 + 10).empty
    assert r.plan(drained, desired, now=t0 + 60).ops == (DeleteDestination(WEB, d(2)),)
    assert len(r.tracker) == 0
    # A tracker restored (after a restart) keeps the drain's start.
    r2 = Reconciler(60)
    r2.tracker = DrainTracker([(WEB, "198.51.100.2", 80, t0)])
    assert r2.plan(drained, desired, now=t0 + 61).ops == (DeleteDestination(WEB, d(2)),)
    # Without draining: deleted at once.
    assert Reconciler().plan(actual, desired).ops == (DeleteDestination(WEB, d(2)),)


# --------------------------------------------------------------------------
# Apply's argument checks (no kernel: they refuse before any call).


def test_apply_refuses_bad_arguments_before_sending() -> None:
    plan = diff(State(), State([web()]))
    with pytest.raises(TypeError):
        plan.apply("client", State())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Reconciler().step("client", State())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DrainTracker([(WEB, "198.51.100.1", 80, None)])  # type: ignore[list-item]


def test_type_stubs_cover_the_native_functions() -> None:
    stub = (Path(ipvs.__file__).parent / "_ipvs.pyi").read_text()
    for name in (
        "diff", "state_read", "state_loads", "state_dumps", "state_validate", "state_config",
        "state_sorted", "state_config_eq", "rules_parse", "inverse_of",
    ):
        assert hasattr(ipvs._ipvs, name), name
        assert f"def {name}(" in stub, name
    for cls in ("Plan", "Reconciler"):
        assert f"class {cls}:" in stub
    assert (Path(ipvs.__file__).parent / "py.typed").exists()


def test_the_module_examples_run() -> None:
    import doctest

    result = doctest.testmod(ipvs.state)
    assert result.attempted >= 5 and result.failed == 0
