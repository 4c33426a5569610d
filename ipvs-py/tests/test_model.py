"""The model, its serde form, validation and the exceptions: no kernel needed."""

from __future__ import annotations

import copy
import dataclasses
import errno
import ipaddress
import json
import os
import pickle

import pytest

import ipvs
from ipvs import (
    AddDestination,
    AddService,
    AddressFamily,
    AddressKey,
    BatchResult,
    Connections,
    DaemonState,
    DeleteDestination,
    DeleteService,
    Destination,
    Flush,
    ForwardMethod,
    FwmarkKey,
    Info,
    Operation,
    Persistence,
    Protocol,
    Scheduler,
    Service,
    ServiceEntry,
    ServiceFlags,
    ServiceKey,
    SetTimeouts,
    StartDaemon,
    Stats,
    StopDaemon,
    SyncDaemon,
    Timeouts,
    Tunnel,
    TunnelChecksum,
    TunnelType,
    UpdateDestination,
    UpdateService,
    ValidationError,
    Version,
    Zero,
)
from ipvs import _ipvs, errors

KEY = ServiceKey.tcp("192.0.2.10", 80)
KEY6 = ServiceKey.tcp("2001:db8::10", 443)
K = {"protocol": "tcp", "address": "192.0.2.10", "port": 80}


def rust(kind: str, value: object) -> object:
    """The value's dict, through Rust's deserialize + serialize."""
    return json.loads(_ipvs.normalize(kind, json.dumps(value)))


# --------------------------------------------------------------------------
# The serde form: the same documents as ipvs-py/src/tests.rs pins in Rust.

GOLDEN = [
    (
        "service",
        Service(
            KEY,
            Scheduler.WRR,
            persistence=600,
            flags=ServiceFlags.ONE_PACKET,
            persistence_engine="sip",
        ),
        {
            **K,
            "scheduler": "wrr",
            "persistence": {"timeout": 600, "netmask": {"v4": "255.255.255.255"}},
            "flags": 4,
            "persistence_engine": "sip",
        },
    ),
    (
        "service",
        Service(ServiceKey.fwmark(7, AddressFamily.IPV6), "my", persistence=60),
        {
            "fwmark": 7,
            "family": "ipv6",
            "scheduler": "my",
            "persistence": {"timeout": 60, "netmask": {"v6": 128}},
        },
    ),
    (
        "service_key",
        AddressKey(99, "2001:db8::1", 0),
        {"protocol": {"other": 99}, "address": "2001:db8::1", "port": 0},
    ),
    (
        "destination",
        Destination("192.0.2.21", 80),
        {"address": "192.0.2.21", "port": 80, "forward": "masquerade", "weight": 1},
    ),
    (
        "destination",
        Destination(
            "2001:db8::21",
            8080,
            Tunnel.gue(6080, TunnelChecksum.REMOTE),
            weight=3,
            upper_threshold=10,
            lower_threshold=5,
        ),
        {
            "address": "2001:db8::21",
            "port": 8080,
            "forward": {"tunnel": {"type": "gue", "port": 6080, "checksum": "remote"}},
            "weight": 3,
            "upper_threshold": 10,
            "lower_threshold": 5,
        },
    ),
    (
        "destination",
        Destination("192.0.2.22", 80, ForwardMethod.TUNNEL),
        {"address": "192.0.2.22", "port": 80, "forward": {"tunnel": {"type": "ipip"}}, "weight": 1},
    ),
    (
        "destination",
        Destination("192.0.2.23", 80, Tunnel.gre(TunnelChecksum.CHECKSUM)),
        {
            "address": "192.0.2.23",
            "port": 80,
            "forward": {"tunnel": {"type": "gre", "checksum": "checksum"}},
            "weight": 1,
        },
    ),
    (
        "destination",
        Destination("192.0.2.24", 80, ForwardMethod.DIRECT_ROUTE, weight=0),
        {"address": "192.0.2.24", "port": 80, "forward": "direct_route", "weight": 0},
    ),
    (
        "destination",
        Destination("192.0.2.25", 80, 6),
        {"address": "192.0.2.25", "port": 80, "forward": {"other": 6}, "weight": 1},
    ),
    ("timeouts", Timeouts.KERNEL_DEFAULTS, {"tcp": 900, "tcp_fin": 120, "udp": 300}),
    (
        "info",
        Info(Version.from_raw(0x010201), 4096),
        {"version": {"major": 1, "minor": 2, "patch": 1}, "connection_table_size": 4096},
    ),
    (
        "daemon",
        SyncDaemon(DaemonState.BACKUP, "eth0", 5),
        {"state": "backup", "interface": "eth0", "sync_id": 5},
    ),
    (
        "daemon",
        SyncDaemon("backup", "eth0", 5, max_len=1400, group="ff02::81", port=8848, ttl=2),
        {
            "state": "backup",
            "interface": "eth0",
            "sync_id": 5,
            "max_len": 1400,
            "group": "ff02::81",
            "port": 8848,
            "ttl": 2,
        },
    ),
    ("daemon", SyncDaemon(3, "eth0", 1), {"state": {"other": 3}, "interface": "eth0", "sync_id": 1}),
    ("operation", DeleteService(KEY), {"delete_service": K}),
    (
        "operation",
        AddDestination(KEY, Destination("192.0.2.21", 80)),
        {"add_destination": [K, {"address": "192.0.2.21", "port": 80, "forward": "masquerade", "weight": 1}]},
    ),
    ("operation", DeleteDestination(KEY, "192.0.2.21", 80), {"delete_destination": [K, "192.0.2.21:80"]}),
    (
        "operation",
        DeleteDestination(KEY6, "2001:db8::21", 8443),
        {
            "delete_destination": [
                {"protocol": "tcp", "address": "2001:db8::10", "port": 443},
                "[2001:db8::21]:8443",
            ]
        },
    ),
    ("operation", Zero(), {"zero": None}),
    ("operation", Zero(KEY), {"zero": K}),
    ("operation", Flush(), "flush"),
    ("operation", StopDaemon(DaemonState.MASTER), {"stop_daemon": "master"}),
    ("operation", SetTimeouts(Timeouts(tcp=1)), {"set_timeouts": {"tcp": 1, "tcp_fin": 0, "udp": 0}}),
]


@pytest.mark.parametrize("kind,value,doc", GOLDEN, ids=[f"{g[0]}-{i}" for i, g in enumerate(GOLDEN)])
def test_golden_serde_form(kind: str, value: object, doc: object) -> None:
    assert value.to_dict() == doc  # type: ignore[attr-defined]
    assert rust(kind, doc) == doc
    back = type(value).from_dict(doc) if kind != "operation" else Operation.from_dict(doc)  # type: ignore[attr-defined]
    assert back == value


STATS = Stats(*range(1, 11))


def samples() -> list[tuple[str, object]]:
    svc = Service(KEY6, Scheduler.SH, persistence=Persistence(30, 64), flags=ServiceFlags.SH_PORT | 0x400)
    dst = Destination("192.0.2.21", 0, Tunnel.ipip(), connections=Connections(1, 2, 3), stats=STATS)
    return [
        ("service", svc),
        ("service", Service(KEY, persistence=Persistence(10, "255.255.255.0"), stats=STATS)),
        ("service", Service(ServiceKey.sctp("198.51.100.1", 9999), Scheduler.NONE)),
        ("service", Service(ServiceKey.udp("203.0.113.1", 53), "weird-sched")),
        ("service_key", ServiceKey.fwmark(1)),
        ("destination", dst),
        ("destination", Destination("2001:db8::2", 1, ForwardMethod.LOCAL, upper_threshold=5)),
        ("destination", Destination("2001:db8::2", 1, ForwardMethod.BYPASS, lower_threshold=5)),
        ("stats", STATS),
        ("connections", Connections(7, 8, 9)),
        ("version", Version(1, 2, 1)),
        ("entry", ServiceEntry(svc, [dst, Destination("198.51.100.9", 80)])),
        ("operation", AddService(svc)),
        ("operation", UpdateService(svc)),
        ("operation", UpdateDestination(KEY, dst)),
        ("operation", StartDaemon(SyncDaemon(DaemonState.MASTER, "lo", 255, group="239.1.1.1"))),
        ("operation", StopDaemon("backup")),
        ("operation", DeleteService(ServiceKey.fwmark(9, "ipv6"))),
    ]


@pytest.mark.parametrize("kind,value", samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_rust_reads_and_writes_the_same_document(kind: str, value: object) -> None:
    doc = value.to_dict()  # type: ignore[attr-defined]
    assert rust(kind, doc) == doc
    cls = Operation if kind == "operation" else ServiceKey if kind == "service_key" else type(value)
    assert cls.from_dict(json.loads(json.dumps(doc))) == value  # type: ignore[attr-defined]


TO_RUST = {"service", "service_key", "destination", "timeouts", "daemon", "operation"}
FROM_RUST = {"service", "service_key", "destination", "timeouts", "info", "daemon", "entry"}
ALL_VALUES = [(k, v) for k, v, _ in GOLDEN] + samples()


@pytest.mark.parametrize(
    "kind,value", [kv for kv in ALL_VALUES if kv[0] in TO_RUST], ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_client_reads_python_values_as_to_dict_writes_them(kind: str, value: object) -> None:
    """What the client sends (the extension reads attributes) is what to_dict() says."""
    assert json.loads(_ipvs.to_json(kind, value)) == value.to_dict()  # type: ignore[arg-type, attr-defined]


@pytest.mark.parametrize(
    "kind,value", [kv for kv in ALL_VALUES if kv[0] in FROM_RUST], ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_client_builds_python_values_as_from_dict_does(kind: str, value: object) -> None:
    """What the client returns (built by the extension) equals from_dict() of the same document."""
    built = _ipvs.from_json(kind, json.dumps(value.to_dict()))  # type: ignore[arg-type, attr-defined]
    assert type(built) is type(value)
    assert built == value and hash(built) == hash(value) and repr(built) == repr(value)
    for field in dataclasses.fields(value):  # type: ignore[arg-type]
        assert type(getattr(built, field.name)) is type(getattr(value, field.name)), field.name


def test_the_client_refuses_what_is_not_a_model_value() -> None:
    with pytest.raises(TypeError):
        _ipvs.to_json("service", KEY)
    with pytest.raises(TypeError):
        _ipvs.to_json("operation", Service(KEY))
    with pytest.raises(TypeError):
        _ipvs.validate_destination(Destination("192.0.2.1", 80), "192.0.2.10:80")  # type: ignore[arg-type]


def test_reading_applies_serde_defaults() -> None:
    d = Destination.from_dict({"address": "192.0.2.21", "port": 80})
    assert d == Destination("192.0.2.21", 80)
    assert d.forward is ForwardMethod.MASQUERADE and d.weight == 1
    s = Service.from_dict({"fwmark": 3, "family": "ipv4", "scheduler": "rr", "ignored": True})
    assert s == Service(ServiceKey.fwmark(3), Scheduler.RR)
    assert Tunnel.from_dict({"type": "gue", "port": 1}).checksum is TunnelChecksum.NONE


def test_json_helpers() -> None:
    s = Service(KEY, Scheduler.RR, persistence=300)
    assert Service.from_json(s.to_json()) == s
    d = Destination("192.0.2.21", 80, weight=5)
    assert Destination.from_json(d.to_json().encode()) == d


def test_missing_field_names_it() -> None:
    with pytest.raises(ValidationError) as e:
        Destination.from_dict({"address": "192.0.2.21"})
    assert e.value.field == "port"
    with pytest.raises(ValidationError) as e:
        Service.from_dict(K)
    assert e.value.field == "scheduler"


def test_rust_refuses_a_malformed_document() -> None:
    with pytest.raises(ValueError):
        _ipvs.normalize("destination", '{"address": "nope", "port": 80}')
    with pytest.raises(ValueError):
        _ipvs.normalize("no-such-kind", "{}")


# --------------------------------------------------------------------------
# Values: addresses, enums, equality, hashing, reprs.


def test_addresses_are_ipaddress_objects() -> None:
    assert KEY.address == ipaddress.IPv4Address("192.0.2.10")
    assert isinstance(KEY6.address, ipaddress.IPv6Address)
    d = Destination(ipaddress.ip_address("2001:db8::5"), 80)
    assert d.address == ipaddress.IPv6Address("2001:db8::5")
    assert d.socket_address == (ipaddress.IPv6Address("2001:db8::5"), 80)
    assert str(d) == "[2001:db8::5]:80"
    assert KEY.family is AddressFamily.IPV4 and KEY6.family is AddressFamily.IPV6
    assert SyncDaemon("master", "eth0", group="224.0.0.81").group == ipaddress.IPv4Address("224.0.0.81")


def test_enums() -> None:
    assert Scheduler.WRR is Scheduler.WEIGHTED_ROUND_ROBIN
    assert Scheduler("mh") is Scheduler.MAGLEV_HASHING
    assert Scheduler.from_name("twos") is Scheduler.TWO_CHOICE
    assert Scheduler.from_name("custom") == "custom"
    assert len(Scheduler.kernel_schedulers()) == 14
    assert Service(KEY, "wlc").scheduler is Scheduler.WLC
    assert Service(KEY, "custom").scheduler == "custom"
    assert Service(KEY).scheduler is Scheduler.WEIGHTED_LEAST_CONNECTION
    assert Protocol.TCP.number == 6 and Protocol.from_number(132) is Protocol.SCTP
    assert Protocol.from_number(99) == 99
    assert AddressKey("udp", "192.0.2.1", 1).protocol is Protocol.UDP
    assert AddressKey(17, "192.0.2.1", 1).protocol is Protocol.UDP
    assert ForwardMethod.DIRECT_ROUTE.raw == 3 and ForwardMethod.from_raw(2) is ForwardMethod.TUNNEL
    assert Destination("192.0.2.1", 1, "direct_route").forward is ForwardMethod.DIRECT_ROUTE
    assert Destination("192.0.2.1", 1, 3).forward is ForwardMethod.DIRECT_ROUTE
    assert DaemonState.BACKUP.raw == 2 and SyncDaemon(1, "x").state is DaemonState.MASTER
    assert repr(Scheduler.RR) == "Scheduler.ROUND_ROBIN" and str(Scheduler.RR) == "rr"
    assert ServiceFlags.SH_FALLBACK == ServiceFlags.SCHED1 == 8
    assert Service(KEY, flags=ServiceFlags.ONE_PACKET).one_packet


def test_tunnels() -> None:
    gue = Destination("192.0.2.1", 80, Tunnel.gue(6080))
    assert gue.forward is ForwardMethod.TUNNEL and gue.tunnel == Tunnel(TunnelType.GUE, 6080)
    assert Destination("192.0.2.1", 80, ForwardMethod.TUNNEL).tunnel == Tunnel.ipip()
    assert Destination("192.0.2.1", 80, tunnel=Tunnel.gre()).forward is ForwardMethod.TUNNEL
    assert Destination("192.0.2.1", 80).tunnel is None
    # Changing the method drops the tunnel options.
    assert gue.replace(forward=ForwardMethod.DIRECT_ROUTE).tunnel is None
    with pytest.raises(ValidationError) as e:
        Destination("192.0.2.1", 80, ForwardMethod.MASQUERADE, tunnel=Tunnel.ipip())
    assert e.value.field == "tunnel"
    with pytest.raises(ValidationError) as e:
        Tunnel(TunnelType.IPIP, port=5)
    assert e.value.field == "forward"
    with pytest.raises(ValidationError):
        Tunnel(TunnelType.GRE, port=5)


def test_persistence_defaults_to_the_host_mask() -> None:
    assert Service(KEY, persistence=60).persistence == Persistence(60, "255.255.255.255")
    assert Service(KEY6, persistence=60).persistence == Persistence(60, 128)
    assert Service(KEY6, persistence=Persistence(60, 48)).persistence == Persistence(60, 48)
    mask = Persistence(1, "255.255.0.0").netmask
    assert mask == ipaddress.IPv4Address("255.255.0.0")


def test_equality_and_hashing() -> None:
    a = Service(KEY, Scheduler.RR, persistence=600)
    b = Service(ServiceKey.tcp(ipaddress.IPv4Address("192.0.2.10"), 80), "rr", persistence=600)
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(scheduler=Scheduler.WRR)
    assert len({a, b, a.replace(stats=STATS)}) == 2
    assert a.replace(stats=STATS).config() == a
    assert ServiceKey.fwmark(1) != ServiceKey.fwmark(1, "ipv6")
    assert ServiceKey.fwmark(1) != KEY
    keys = {KEY: 1, ServiceKey.tcp("192.0.2.10", 80): 2}
    assert len(keys) == 1
    d = Destination("192.0.2.1", 80, stats=STATS, connections=Connections(1, 0, 0))
    assert d.config() == Destination("192.0.2.1", 80)
    assert hash(d) == hash(copy.deepcopy(d))
    e1 = ServiceEntry(a, [Destination("192.0.2.1", 80)])
    assert e1 == ServiceEntry(b, (Destination("192.0.2.1", 80),)) and hash(e1)
    svc, dests = e1
    assert svc == a and dests == (Destination("192.0.2.1", 80),)
    assert Version(1, 2, 1) < Version(1, 10, 0) and str(Version(1, 2, 1)) == "1.2.1"
    assert Version.from_raw(0x010201).to_raw() == 0x010201


def test_values_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KEY.port = 81  # type: ignore[misc]
    s = Service(KEY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.scheduler = Scheduler.RR  # type: ignore[misc]
    assert dataclasses.replace(s, scheduler=Scheduler.RR).scheduler is Scheduler.RR


def test_reprs_are_readable_and_evaluate_back() -> None:
    ns = {name: getattr(ipvs, name) for name in ipvs.__all__}
    values = [
        KEY,
        KEY6,
        ServiceKey.fwmark(7),
        ServiceKey.fwmark(7, AddressFamily.IPV6),
        Service(KEY, Scheduler.RR, persistence=600),
        Service(KEY6, Scheduler.MH, flags=ServiceFlags.MH_FALLBACK, persistence=Persistence(5, 64)),
        Service(KEY, "custom", persistence_engine="sip", stats=STATS),
        Destination("192.0.2.21", 80),
        Destination("192.0.2.21", 80, ForwardMethod.DIRECT_ROUTE, weight=3),
        Destination("2001:db8::1", 80, Tunnel.gue(6080, TunnelChecksum.REMOTE), upper_threshold=9),
        Destination("192.0.2.21", 80, Tunnel.gre()),
        Destination("192.0.2.21", 80, Tunnel.ipip(), connections=Connections(1, 2, 3)),
        Timeouts(1, 2, 3),
        Info(Version(1, 2, 1), 4096),
        SyncDaemon(DaemonState.MASTER, "eth0", 5, group="224.0.0.81", ttl=2),
        ServiceEntry(Service(KEY), [Destination("192.0.2.21", 80)]),
        AddService(Service(KEY)),
        DeleteDestination(KEY, "192.0.2.21", 80),
        Zero(),
        StopDaemon(DaemonState.BACKUP),
    ]
    for v in values:
        text = repr(v)
        assert "IPv4Address" not in text and "object at" not in text, text
        assert eval(text, ns) == v, text  # noqa: S307
    assert repr(KEY) == "ServiceKey.tcp('192.0.2.10', 80)"
    assert str(KEY) == "TCP 192.0.2.10:80" and str(KEY6) == "TCP [2001:db8::10]:443"
    assert str(ServiceKey.fwmark(7)) == "FWM 7"
    assert repr(Destination("192.0.2.21", 80, ForwardMethod.DIRECT_ROUTE, weight=3)) == (
        "Destination('192.0.2.21', 80, ForwardMethod.DIRECT_ROUTE, weight=3)"
    )


def test_operation_strings() -> None:
    assert str(AddDestination(KEY, Destination("192.0.2.21", 80))) == (
        "add destination 192.0.2.21:80 to TCP 192.0.2.10:80"
    )
    assert str(DeleteDestination(KEY, Destination("192.0.2.21", 8080))) == (
        "delete destination 192.0.2.21:8080 of TCP 192.0.2.10:80"
    )
    assert str(Zero()) == "zero all counters" and str(Flush()) == "flush"
    svc = Service(KEY)
    assert DeleteService(svc) == DeleteService(KEY)


# --------------------------------------------------------------------------
# Validation: types, ranges (Python side) and the Rust crate's checks.


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda: ServiceKey.tcp("192.0.2.1", 65536), "port"),
        (lambda: ServiceKey.tcp("192.0.2.1", -1), "port"),
        (lambda: ServiceKey.tcp("not-an-address", 80), "address"),
        (lambda: ServiceKey.fwmark(1 << 32), "fwmark"),
        (lambda: ServiceKey.fwmark(1, "ipv5"), "family"),
        (lambda: AddressKey("icmp", "192.0.2.1", 1), "protocol"),
        (lambda: Destination("192.0.2.1", 80, weight=1 << 32), "weight"),
        (lambda: Destination("192.0.2.1", 80, "teleport"), "forward"),
        (lambda: Persistence(-1), "timeout"),
        (lambda: Persistence(1, "255.255.255.256"), "netmask"),
        (lambda: Persistence(1, 300), "netmask"),
        (lambda: Stats(bytes_in=1 << 64), "bytes_in"),
        (lambda: Timeouts(udp=-5), "udp"),
        (lambda: SyncDaemon("master", "eth0", max_len=70000), "max_len"),
        (lambda: SyncDaemon("master", "eth0", ttl=256), "ttl"),
        (lambda: SyncDaemon("leader", "eth0"), "state"),
        (lambda: Tunnel.gue(6080, "sometimes"), "checksum"),
        (lambda: Service(KEY, flags=-1), "flags"),
    ],
)
def test_constructors_name_the_bad_field(make, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as e:
        make()
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}: ")
    assert isinstance(e.value, ValueError) and isinstance(e.value, ipvs.IpvsError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ServiceKey.tcp(3221225994, 80),
        lambda: ServiceKey.tcp("192.0.2.1", "80"),
        lambda: ServiceKey.tcp("192.0.2.1", True),
        lambda: Destination("192.0.2.1", 80, weight=1.5),
        lambda: Service("192.0.2.1:80"),
        lambda: Service(KEY, 5),
        lambda: Service(KEY, persistence_engine=5),
        lambda: ServiceEntry(Service(KEY), ["192.0.2.1"]),
        lambda: AddService(KEY),
    ],
)
def test_wrong_types_raise_type_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        make()


RUST_CHECKS = [
    (lambda: Service(KEY, "a-very-long-scheduler-name").validate(), "scheduler", "NameTooLong"),
    (lambda: Service(KEY, "").validate(), "scheduler", "BadName"),
    (lambda: Service(KEY, "r\0r").validate(), "scheduler", "BadName"),
    (lambda: Service(KEY, persistence_engine="").validate(), "persistence_engine", "BadName"),
    (lambda: Service(AddressKey(1, "192.0.2.1", 1)).validate(), "protocol", "UnsupportedProtocol"),
    (lambda: ServiceKey.fwmark(0).validate(), "fwmark", "ZeroFwmark"),
    (lambda: Service(ServiceKey.tcp("192.0.2.1", 0)).validate(), "port", "ZeroPortWithoutPersistence"),
    (lambda: Service(KEY, persistence=Persistence(5, 64)).validate(), "netmask", "BadNetmask"),
    (lambda: Service(KEY6, persistence=Persistence(5, "255.0.0.0")).validate(), "netmask", "BadNetmask"),
    (lambda: Service(KEY6, persistence=Persistence(5, 0)).validate(), "netmask", "BadNetmask"),
    (lambda: Destination("192.0.2.1", 1, weight=1 << 31).validate(KEY), "weight", "WeightOutOfRange"),
    (
        lambda: Destination("192.0.2.1", 1, upper_threshold=1 << 31).validate(KEY),
        "upper_threshold",
        "ThresholdOutOfRange",
    ),
    (
        lambda: Destination("192.0.2.1", 1, upper_threshold=10, lower_threshold=20).validate(KEY),
        "lower_threshold",
        "ThresholdOrder",
    ),
    (lambda: Destination("192.0.2.1", 1, 5).validate(KEY), "forward", "UnknownForwardMethod"),
    (lambda: Destination("192.0.2.1", 1, Tunnel.gue(0)).validate(KEY), "forward", "GueWithoutPort"),
    (
        lambda: Destination("192.0.2.1", 1, Tunnel.gre(TunnelChecksum.REMOTE)).validate(KEY),
        "forward",
        "RemoteChecksumOnGre",
    ),
    (lambda: Destination("2001:db8::1", 1).validate(KEY), "address", "MixedFamily"),
    (lambda: SyncDaemon(7, "eth0").validate(), "state", "UnknownDaemonState"),
    (lambda: SyncDaemon("master", "eth0", 256).validate(), "sync_id", "SyncIdOutOfRange"),
    (lambda: SyncDaemon("master", "eth0", group="192.0.2.1").validate(), "group", "NotMulticast"),
    (lambda: SyncDaemon("master", "an-interface-name-too-long").validate(), "interface", "NameTooLong"),
]


@pytest.mark.parametrize("check,field,kind", RUST_CHECKS, ids=[c[2] + "-" + c[1] for c in RUST_CHECKS])
def test_rust_validation_names_the_field(check, field: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as e:
        check()
    assert (e.value.field, e.value.kind) == (field, kind)
    assert e.value.index is None
    assert str(e.value) == f"{field}: {e.value.message}"
    assert e.value.errno is None and e.value.kernel_message is None


def test_valid_values_pass() -> None:
    Service(KEY, Scheduler.RR).validate()
    Service(ServiceKey.tcp("192.0.2.1", 0), persistence=60).validate()
    Service(KEY6, persistence=Persistence(5, 64)).validate()
    Destination("2001:db8::1", 1, Tunnel.ipip()).validate(KEY)  # mixed families need tunnelling
    Destination("192.0.2.1", 1, Tunnel.gue(1, TunnelChecksum.REMOTE)).validate(Service(KEY))
    SyncDaemon(DaemonState.MASTER, "eth0", 255, group="ff02::81").validate()
    ServiceKey.fwmark(1).validate()


# --------------------------------------------------------------------------
# Exceptions.


def test_hierarchy() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.IpvsError), name
        assert getattr(ipvs, name) is cls
    assert issubclass(ipvs.ServiceExists, ipvs.AlreadyExists)
    assert issubclass(ipvs.DestinationNotFound, ipvs.NotFound)
    assert issubclass(ipvs.ValidationError, ValueError)


NATIVE = [
    ("IpvsNotAvailable", errno.ENOENT, {}, ipvs.IpvsNotAvailable, {}),
    ("PermissionDenied", errno.EPERM, {}, ipvs.PermissionDenied, {}),
    ("ServiceExists", errno.EEXIST, {"service": K}, ipvs.ServiceExists, {"service": KEY}),
    ("ServiceNotFound", errno.ESRCH, {"service": K}, ipvs.ServiceNotFound, {"service": KEY}),
    (
        "DestinationExists",
        errno.EEXIST,
        {"service": K, "address": "2001:db8::1", "port": 80},
        ipvs.DestinationExists,
        {"service": KEY, "address": ipaddress.ip_address("2001:db8::1"), "port": 80},
    ),
    (
        "DestinationNotFound",
        errno.ENOENT,
        {"service": K, "address": "192.0.2.1", "port": 80},
        ipvs.DestinationNotFound,
        {"address": ipaddress.ip_address("192.0.2.1")},
    ),
    ("SchedulerNotFound", errno.ENOENT, {"name": "x"}, ipvs.SchedulerNotFound, {"name": "x"}),
    ("PersistenceEngineNotFound", errno.ENOENT, {"name": "y"}, ipvs.PersistenceEngineNotFound, {"name": "y"}),
    (
        "SchedulerOrPersistenceEngineNotFound",
        errno.ENOENT,
        {"scheduler": "rr", "persistence_engine": "y"},
        ipvs.SchedulerOrPersistenceEngineNotFound,
        {"scheduler": "rr", "persistence_engine": "y"},
    ),
    ("InterfaceNotFound", errno.ENODEV, {"name": "z"}, ipvs.InterfaceNotFound, {"name": "z"}),
    ("DaemonExists", errno.EEXIST, {"state": "master"}, ipvs.DaemonExists, {"state": DaemonState.MASTER}),
    ("DaemonNotFound", errno.ESRCH, {"state": {"other": 9}}, ipvs.DaemonNotFound, {"state": 9}),
    ("InvalidArgument", errno.EINVAL, {"command": "NEW_DEST"}, ipvs.InvalidArgument, {"command": "NEW_DEST"}),
    ("Kernel", errno.EBUSY, {"command": "FLUSH"}, ipvs.KernelError, {"command": "FLUSH"}),
    ("NotAttempted", None, {"reason": "r"}, ipvs.NotAttempted, {"reason": "r"}),
    ("Timeout", errno.ETIMEDOUT, {"seconds": 1.5}, ipvs.Timeout, {"seconds": 1.5}),
    ("DumpInterrupted", None, {"attempts": 5}, ipvs.DumpInterrupted, {"attempts": 5}),
    ("Decode", None, {}, ipvs.DecodeError, {}),
    ("Io", errno.ECONNREFUSED, {}, ipvs.SocketError, {}),
    ("SomethingNew", None, {}, ipvs.IpvsError, {}),
]


@pytest.mark.parametrize("kind,eno,details,cls,attrs", NATIVE, ids=[n[0] for n in NATIVE])
def test_native_errors_become_classes(kind, eno, details, cls, attrs) -> None:  # type: ignore[no-untyped-def]
    e = errors._from_native(kind, "the message", eno, "kernel says", json.dumps(details))
    assert type(e) is cls
    assert (e.errno, e.kernel_message, str(e)) == (eno, "kernel says", "the message")
    for k, v in attrs.items():
        assert getattr(e, k) == v
    # Exceptions survive pickling (multiprocessing, logging handlers).
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is cls and str(e2) == str(e) and e2.errno == eno
    for k, v in attrs.items():
        assert getattr(e2, k) == v
    assert repr(e).startswith(cls.__name__ + "(")


def test_validation_error_pickles_and_indexes() -> None:
    e = errors._from_native(
        "Validation", "", None, None,
        json.dumps({"field": "weight", "message": "too big", "kind": "WeightOutOfRange", "index": 3}),
    )
    assert isinstance(e, ValidationError)
    assert (e.field, e.message, e.kind, e.index) == ("weight", "too big", "WeightOutOfRange", 3)
    assert str(e) == "operation 3 of the batch: weight: too big"
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.field, e2.message, e2.index, str(e2)) == (e.field, e.message, 3, str(e))


def test_batch_result() -> None:
    err = ipvs.ServiceExists("exists", service=KEY, errno=errno.EEXIST)
    r = BatchResult([None, err, None])
    assert not r.ok and r.succeeded == 2 and len(r) == 3 and r[1] is err
    assert r.failures() == [(1, err)]
    assert list(r) == [None, err, None]
    with pytest.raises(ipvs.ServiceExists):
        r.raise_first()
    assert BatchResult([None]).ok
    BatchResult([]).raise_first()


# --------------------------------------------------------------------------
# Client arguments (no kernel needed for these failures).


def test_client_argument_errors() -> None:
    with pytest.raises(ValueError):
        ipvs.Client(timeout=-1)
    with pytest.raises(TypeError):
        ipvs.Client(timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ipvs.Client.in_netns("a/b")
    with pytest.raises(TypeError):
        ipvs.Client(netns=True)


def test_client_in_a_missing_namespace_is_a_socket_error() -> None:
    with pytest.raises(ipvs.SocketError) as e:
        ipvs.Client("ipvs-py-no-such-netns")
    assert e.value.errno == errno.ENOENT
    assert "/run/netns/ipvs-py-no-such-netns" in str(e.value)


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS")
def test_client_without_ipvs() -> None:
    with pytest.raises(ipvs.IpvsNotAvailable) as e:
        ipvs.Client()
    assert e.value.errno == errno.ENOENT
    assert "modprobe ip_vs" in str(e.value)


def test_version() -> None:
    assert ipvs.__version__ == _ipvs.__version__
    assert ipvs.__version__.count(".") == 2
