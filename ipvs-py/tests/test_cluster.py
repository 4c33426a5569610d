"""ipvs.cluster: the real-server and director setups, and the balance report.

The first half needs no kernel (argument checks, the report's arithmetic on
hand-made destinations, error mapping). The second half works in network
namespaces of a kernel with IPVS, as root: run it in the guest,
``scripts/guest run 'python3 -m pytest -q ipvs-py/tests/test_cluster.py'``;
elsewhere it is skipped with the reason. Documentation addresses only.
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import ipvs
from ipvs import (
    Connections,
    Destination,
    ForwardMethod,
    Scheduler,
    Service,
    ServiceKey,
    Stats,
    Tunnel,
    TunnelType,
)
from ipvs.cluster import (
    BalanceReport,
    ClusterError,
    DirectorSetup,
    FewConnectionsReason,
    JournalError,
    LongLivedConnectionsReason,
    NetnsError,
    NoSuchInterface,
    Outcome,
    PersistenceReason,
    QuiescedReason,
    RealServerSetup,
    ReasonKind,
    SchedulerIgnoresWeightsReason,
    ServiceSpec,
    Status,
    SysctlError,
    TunnelMode,
    UnsupportedSetup,
    _error_from_native,
    wait_for_connections,
)

from conftest import kernel_skip_reason, run

KEY = ServiceKey.tcp("192.0.2.10", 80)
WRR = Service(KEY, Scheduler.WRR)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cluster.py"


def dest(
    addr: str, weight: int, conns: int, packets: int = 0, c: Connections | None = None,
    port: int = 80,
) -> Destination:
    """A destination as the kernel reports it: with counters."""
    return Destination(
        addr, port, weight=weight, stats=Stats(connections=conns, packets_in=packets),
        connections=c or Connections(),
    )


# ==========================================================================
# Host side: no kernel needed.


class TestTunnelMode:
    def test_every_spelling_gives_the_same_mode(self) -> None:
        assert TunnelMode.coerce("ipip") is TunnelMode.IPIP
        assert TunnelMode.coerce(Tunnel.ipip()) == TunnelMode.IPIP == TunnelMode.ipip()
        gue = TunnelMode.gue(6080)
        assert TunnelMode.coerce("gue:6080") == gue
        assert TunnelMode.coerce(Tunnel.gue(6080)) == gue
        assert (gue.type, gue.port, str(gue)) == (TunnelType.GUE, 6080, "gue:6080")

    @pytest.mark.parametrize(
        "value, field",
        [("gue:x", "tunnel"), ("gre", "tunnel"), ("gue:70000", "port")],
    )
    def test_bad_text_is_refused_naming_the_field(self, value: str, field: str) -> None:
        with pytest.raises(ipvs.ValidationError) as e:
            TunnelMode.coerce(value)
        assert e.value.field == field

    def test_what_only_planning_refuses_is_refused_there_as_in_rust(self) -> None:
        """GUE port 0 and a tunnel for an IPv6 VIP: refused where the Rust
        crate refuses them (planning, before anything changes), in its words."""
        assert TunnelMode.coerce("gue:0") == TunnelMode.gue(0)
        for setup, words in [
            (RealServerSetup.tun("192.0.2.10", "gue:0"), "GUE port 0"),
            (RealServerSetup.tun("2001:db8::10", "ipip"), "only IPv4"),
        ]:
            with pytest.raises(UnsupportedSetup, match=words):
                setup.status()
            with pytest.raises(UnsupportedSetup, match=words):
                setup.apply()

    def test_gre_is_no_real_server_tunnel(self) -> None:
        with pytest.raises(ipvs.ValidationError, match="IPIP or GUE"):
            TunnelMode.coerce(Tunnel.gre())
        with pytest.raises(TypeError):
            TunnelMode.coerce(6080)  # type: ignore[arg-type]


class TestRealServerArguments:
    def test_options_as_given(self) -> None:
        rs = RealServerSetup.tun(
            "192.0.2.10", "gue:6080", netns="rs1", journal_dir=Path("/tmp/j"),
            rp_filter_loose=True, arp_interfaces=["eth0"],
        )
        assert rs.vip == ipaddress.IPv4Address("192.0.2.10")
        assert rs.tunnel == TunnelMode.gue(6080)
        assert rs.netns == "/run/netns/rs1"
        assert rs.journal_dir == "/tmp/j"
        assert rs.rp_filter_loose and rs.arp_interfaces == ("eth0",)
        assert (rs.owner, rs.vip_interface) == ("real-server 192.0.2.10", "tunl0")
        assert "gue:6080" in repr(rs) and "/run/netns/rs1" in repr(rs)

    def test_defaults_and_netns_spellings(self) -> None:
        rs = RealServerSetup.dr("2001:db8::10")
        assert rs.tunnel is None and rs.vip_interface == "lo"
        assert rs.netns is None and rs.journal_dir == "/run/ipvs-netlink"
        assert RealServerSetup.dr("192.0.2.10", netns="/proc/1/ns/net").netns == "/proc/1/ns/net"
        assert RealServerSetup.dr("192.0.2.10", netns=7).netns == "/proc/self/fd/7"
        assert RealServerSetup.tun("192.0.2.10").tunnel is TunnelMode.IPIP

    def test_bad_arguments(self) -> None:
        with pytest.raises(ipvs.ValidationError) as e:
            RealServerSetup.dr("192.0.2.300")
        assert e.value.field == "vip"
        with pytest.raises(TypeError):
            RealServerSetup.dr("192.0.2.10", rp_filter_loose=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            RealServerSetup.dr("192.0.2.10", arp_interfaces="eth0")
        with pytest.raises(ipvs.ValidationError) as e:
            RealServerSetup.dr("192.0.2.10", arp_interfaces=["a-very-long-name0"])
        assert e.value.field == "arp_interfaces"
        with pytest.raises(ValueError):
            RealServerSetup.dr("192.0.2.10", netns="..")
        with pytest.raises(TypeError):
            RealServerSetup.dr(None)  # type: ignore[arg-type]


class TestDirectorArguments:
    def test_destinations_take_the_service_port_except_nat(self) -> None:
        dr = Destination("198.51.100.2", 8080, ForwardMethod.DIRECT_ROUTE, weight=2)
        nat = Destination("198.51.100.3", 8080, weight=3)
        lb = DirectorSetup("192.0.2.10", "eth0", nat=True).with_service(WRR, [dr, nat])
        (spec,) = lb.services
        assert spec.service == WRR
        assert [(d.port, d.weight) for d in spec.destinations] == [(80, 2), (8080, 3)]
        assert lb.owner == "director 192.0.2.10" and lb.nat and lb.prefix_len == 32

    def test_with_service_makes_a_copy(self) -> None:
        base = DirectorSetup("2001:db8::10", "eth0", netns="lb", journal_dir="/tmp/j")
        more = base.with_service(Service(ServiceKey.tcp("2001:db8::10", 80), Scheduler.RR))
        assert base.services == () and len(more.services) == 1
        assert (more.netns, more.journal_dir, more.prefix_len) == ("/run/netns/lb", "/tmp/j", 128)
        also = DirectorSetup("192.0.2.10", "eth0", services=[ServiceSpec(WRR), (WRR, [])])
        assert len(also.services) == 2

    def test_bad_arguments(self) -> None:
        with pytest.raises(ipvs.ValidationError) as e:
            DirectorSetup("192.0.2.10", "eth0", prefix_len=33)
        assert e.value.field == "prefix_len"
        DirectorSetup("2001:db8::10", "eth0", prefix_len=64)
        for bad in ("", "has space", "a/b", "x" * 16):
            with pytest.raises(ipvs.ValidationError) as e:
                DirectorSetup("192.0.2.10", bad)
            assert e.value.field == "interface"
        with pytest.raises(TypeError):
            DirectorSetup("192.0.2.10", "eth0", nat="yes")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="services\\[0\\]"):
            DirectorSetup("192.0.2.10", "eth0", services=[WRR])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="Destination"):
            DirectorSetup("192.0.2.10", "eth0").with_service(WRR, ["198.51.100.2"])  # type: ignore[list-item]

    def test_rust_validation_of_services_and_destinations(self) -> None:
        # Thresholds in the wrong order: refused by Rust's Destination::validate.
        bad = Destination("198.51.100.2", 80, upper_threshold=10, lower_threshold=20)
        with pytest.raises(ipvs.ValidationError) as e:
            DirectorSetup("192.0.2.10", "eth0").with_service(WRR, [bad])
        assert e.value.field == "lower_threshold"
        # A family other than the service's, not tunnelling.
        mixed = Destination("2001:db8::2", 80, ForwardMethod.DIRECT_ROUTE)
        with pytest.raises(ipvs.ValidationError) as e:
            DirectorSetup("192.0.2.10", "eth0").with_service(WRR, [mixed])
        assert e.value.field == "address"


class TestBalanceReport:
    def test_wrr_exact_split_is_balanced(self) -> None:
        ds = [dest("198.51.100.2", 1, 10, 50), dest("198.51.100.6", 2, 20, 100),
              dest("198.51.100.10", 3, 30, 150)]
        r = BalanceReport.new(WRR, ds)
        assert r.balanced and r.total_connections == 60 and r.reasons == ()
        assert r.service == KEY and r.scheduler is Scheduler.WRR and r.persistence is None
        for d, share in zip(r.destinations, (1 / 6, 1 / 3, 1 / 2)):
            assert (d.connection_share, d.weight_share, d.expected_share) == pytest.approx(
                (share,) * 3
            )
        assert [d.traffic_share for d in r.destinations] == pytest.approx([1 / 6, 1 / 3, 1 / 2])
        d = r.destination("198.51.100.10")
        assert d is not None and d.socket_address == (ipaddress.ip_address("198.51.100.10"), 80)
        assert r.destination("198.51.100.99") is None and r.destination("198.51.100.2", 81) is None
        text = str(r)
        assert text.startswith("TCP 192.0.2.10:80 wrr: 60 new connections, balanced as the weights say")
        assert "198.51.100.10:80" in text and "<- off" not in text

    def test_off_split_is_not_balanced(self) -> None:
        ds = [dest("198.51.100.2", 1, 30), dest("198.51.100.6", 1, 10)]
        r = BalanceReport.new(WRR, ds)
        assert not r.balanced
        assert [d.balanced for d in r.destinations] == [False, False]
        assert [d.connection_share for d in r.destinations] == [0.75, 0.25]
        assert "NOT balanced" in str(r) and "<- off" in str(r)

    def test_persistence_explains_one_client_on_one_server(self) -> None:
        one = Connections(active=0, inactive=30, persistent=1)
        ds = [dest("198.51.100.2", 1, 0), dest("198.51.100.6", 2, 30, 150, one),
              dest("198.51.100.10", 3, 0)]
        r = BalanceReport.new(Service(KEY, Scheduler.WRR, persistence=300), ds)
        assert not r.balanced and r.persistence == 300
        pinned = r.destinations[1]
        assert pinned.connection_share == 1.0 and pinned.templates == 1
        assert PersistenceReason(timeout=300, templates=1) in pinned.reasons
        (reason,) = pinned.reasons
        assert reason.kind is ReasonKind.PERSISTENCE
        assert "persistence (300 s)" in str(reason)
        assert r.has_reason(ReasonKind.PERSISTENCE) and r.has_reason(PersistenceReason)
        assert not r.has_reason(ReasonKind.QUIESCED)
        assert "persistence (300 s)" in str(r)

    def test_quiesced_destination_with_templates(self) -> None:
        ds = [dest("198.51.100.2", 0, 12, c=Connections(0, 2, 1)), dest("198.51.100.6", 1, 10)]
        r = BalanceReport.new(Service(KEY, Scheduler.WRR, persistence=60), ds)
        assert r.destinations[0].expected_share == 0.0
        assert QuiescedReason(connections=12, templates=1) in r.destinations[0].reasons

    def test_rr_ignores_weights_and_says_so(self) -> None:
        ds = [dest("198.51.100.2", 1, 20), dest("198.51.100.6", 3, 20),
              dest("198.51.100.10", 0, 0)]
        r = BalanceReport.new(Service(KEY, Scheduler.RR), ds)
        assert r.balanced
        assert [d.expected_share for d in r.destinations] == [0.5, 0.5, 0.0]
        assert SchedulerIgnoresWeightsReason(scheduler=Scheduler.RR) in r.reasons
        assert "ignores weights" in str(r.reasons[0])

    def test_keep_alive_shows_as_long_lived_connections(self) -> None:
        ds = [dest("198.51.100.2", 1, 50, 5000, Connections(3, 0, 0)),
              dest("198.51.100.6", 1, 50, 500)]
        r = BalanceReport.new(Service(KEY, Scheduler.RR), ds)
        assert r.balanced
        (reason,) = r.destinations[0].reasons
        assert isinstance(reason, LongLivedConnectionsReason)
        assert reason.active == 3 and reason.traffic_share == pytest.approx(5000 / 5500)

    def test_few_connections(self) -> None:
        r = BalanceReport.new(WRR, [dest("198.51.100.2", 1, 3), dest("198.51.100.6", 1, 3)])
        assert FewConnectionsReason(total=6) in r.reasons

    def test_between_two_readings_counts_the_window_only(self) -> None:
        before = [dest("198.51.100.2", 1, 100)]
        after = [dest("198.51.100.2", 1, 110), dest("198.51.100.6", 1, 10)]
        r = BalanceReport.between(Service(KEY, Scheduler.RR), before, after)
        assert [d.connections for d in r.destinations] == [10, 10]
        assert r.balanced and r.total_connections == 20

    def test_ipv6_destinations_and_no_counters(self) -> None:
        key6 = ServiceKey.tcp("2001:db8::10", 443)
        ds = [Destination("2001:db8::2", 443, weight=1), Destination("2001:db8::3", 443, weight=1)]
        r = BalanceReport.new(Service(key6, Scheduler.WRR), ds)
        assert r.total_connections == 0 and r.balanced
        assert r.destinations[1].socket_address == (ipaddress.ip_address("2001:db8::3"), 443)
        assert r.destination("2001:db8::3", 443) is r.destinations[1]

    def test_types_are_checked(self) -> None:
        with pytest.raises(TypeError):
            BalanceReport.new(KEY, [])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            BalanceReport.between(WRR, [], ["198.51.100.2"])  # type: ignore[list-item]


class TestErrors:
    def test_a_missing_namespace_is_a_netns_error_with_errno(self, tmp_path: Path) -> None:
        rs = RealServerSetup.dr("192.0.2.10", netns="ipvs-py-no-such-ns", journal_dir=tmp_path)
        with pytest.raises(NetnsError) as e:
            rs.status()
        assert isinstance(e.value, ClusterError) and isinstance(e.value, ipvs.IpvsError)
        assert e.value.errno == errno.ENOENT and e.value.kind == "Netns"
        assert e.value.netns == "/run/netns/ipvs-py-no-such-ns"
        assert list(tmp_path.iterdir()) == [], "no journal written"

    def test_native_errors_map_to_classes(self) -> None:
        e = _error_from_native(
            "SysctlMissing", "sysctl net.ipv4.conf.eth9.arp_ignore does not exist", None,
            '{"sysctl": "net.ipv4.conf.eth9.arp_ignore"}',
        )
        assert type(e) is SysctlError and e.sysctl == "net.ipv4.conf.eth9.arp_ignore"
        nif = _error_from_native("NoSuchInterface", 'no interface "eth9"', None,
                                 '{"interface": "eth9"}')
        assert isinstance(nif, NoSuchInterface) and isinstance(nif, ipvs.NotFound)
        assert nif.interface == "eth9"
        uns = _error_from_native("Unsupported", "unsupported: x", None, "{}")
        assert isinstance(uns, UnsupportedSetup) and isinstance(uns, ValueError)
        j = _error_from_native("Journal", "journal /x: bad", None, '{"path": "/x", "detail": "bad"}')
        assert isinstance(j, JournalError) and j.path == "/x"
        nl = _error_from_native(
            "Netlink", "adding address: File exists", errno.EEXIST,
            '{"operation": "adding address", "kernel_message": "exists"}',
        )
        assert type(nl) is ClusterError and nl.errno_name == "EEXIST"
        assert nl.kernel_message == "exists"
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is SysctlError and back.sysctl == e.sysctl and str(back) == str(e)


# ==========================================================================
# Kernel side: network namespaces in a kernel with IPVS, as root.

_reason = kernel_skip_reason()
kernel = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def ns_sh(ns: str, cmd: str) -> str:
    return run("nsenter", f"--net=/run/netns/{ns}", "sh", "-c", cmd)


def sysctl(ns: str, name: str) -> str:
    return ns_sh(ns, f"cat /proc/sys/{name.replace('.', '/')}").strip()


def set_sysctl(ns: str, name: str, value: str) -> None:
    ns_sh(ns, f"echo {value} > /proc/sys/{name.replace('.', '/')}")


def addrs(ns: str, dev: str) -> str:
    return run("ip", "-n", ns, "-o", "addr", "show", "dev", dev)


@kernel
@pytest.mark.kernel
def test_real_server_dr_idempotent_status_and_teardown_restores(
    netns: str, tmp_path: Path
) -> None:
    # Prior values that are not the kernel's defaults, so a teardown that
    # wrote 0 would show.
    prior = {
        "net.ipv4.conf.all.arp_ignore": "0",
        "net.ipv4.conf.all.arp_announce": "1",
        "net.ipv4.conf.lo.arp_announce": "1",
        "net.ipv4.conf.lo.arp_ignore": "0",
    }
    for k, v in prior.items():
        set_sysctl(netns, k, v)
    rs = RealServerSetup.dr("192.0.2.10", netns=netns, journal_dir=tmp_path)

    st = rs.status()
    assert isinstance(st, Status) and not st.is_complete and st.nothing_recorded, str(st)

    first = rs.apply()
    assert isinstance(first, Outcome) and not first.is_noop
    assert len(first.changed) == 5, str(first)  # four sysctls, then the VIP
    assert "net.ipv4.conf.all.arp_announce 1 -> 2" in " ".join(first.changed), str(first)
    assert first.changed[-1] == "added address 192.0.2.10/32 on lo", str(first)
    assert first.journal.startswith(str(tmp_path))
    assert {k: sysctl(netns, k) for k in prior} == {
        "net.ipv4.conf.all.arp_ignore": "1",
        "net.ipv4.conf.all.arp_announce": "2",
        "net.ipv4.conf.lo.arp_announce": "2",
        "net.ipv4.conf.lo.arp_ignore": "1",
    }
    assert "192.0.2.10/32" in addrs(netns, "lo")

    second = rs.apply()
    assert second.is_noop and second.changed == (), str(second)
    st = rs.status()
    assert st.is_complete and st.missing == () and len(st.in_place) == 5, str(st)
    assert all(c.recorded for c in st.checks), str(st)
    assert "complete" in str(st) and "address 192.0.2.10/32 on lo" in str(st)

    down = rs.teardown()
    assert len(down.changed) == 5, str(down)
    assert {k: sysctl(netns, k) for k in prior} == prior, "each sysctl back to its prior value"
    assert "192.0.2.10" not in addrs(netns, "lo"), "VIP removed"
    assert rs.teardown().is_noop, "a second teardown changes nothing"
    assert rs.status().nothing_recorded
    assert list(tmp_path.iterdir()) == [], "journal emptied"


@kernel
@pytest.mark.kernel
def test_real_server_ipip_relaxes_rp_filter_and_restores_it(netns: str, tmp_path: Path) -> None:
    set_sysctl(netns, "net.ipv4.conf.all.rp_filter", "1")
    rs = RealServerSetup.tun(
        "192.0.2.10", TunnelMode.IPIP, netns=netns, journal_dir=tmp_path, rp_filter_loose=True
    )
    done = rs.apply()
    assert not done.is_noop, str(done)
    assert sysctl(netns, "net.ipv4.conf.all.rp_filter") == "2", "loose, as asked"
    assert "192.0.2.10/32" in addrs(netns, "tunl0")
    assert "UP" in run("ip", "-n", netns, "-o", "link", "show", "dev", "tunl0")
    assert rs.apply().is_noop and rs.status().is_complete
    rs.teardown()
    assert sysctl(netns, "net.ipv4.conf.all.rp_filter") == "1"
    assert "192.0.2.10" not in run("ip", "-n", netns, "-o", "addr", "show")


@kernel
@pytest.mark.kernel
def test_director_apply_teardown_releases_the_vip(netns: str, tmp_path: Path) -> None:
    run("ip", "-n", netns, "link", "add", "eth0", "type", "dummy")
    run("ip", "-n", netns, "link", "set", "eth0", "up")
    set_sysctl(netns, "net.ipv4.ip_forward", "0")
    nat = [Destination(f"198.51.100.{i}", 8080, weight=i) for i in (2, 3)]
    lb = DirectorSetup(
        "203.0.113.10", "eth0", nat=True, netns=netns, journal_dir=tmp_path
    ).with_service(Service(ServiceKey.tcp("203.0.113.10", 80), Scheduler.WRR), nat)

    done = lb.apply()
    assert len(done.changed) == 5, str(done)  # forwarding, service, two destinations, VIP
    assert done.changed[-1].startswith("added address 203.0.113.10/32 on eth0"), str(done)
    assert "203.0.113.10/32" in addrs(netns, "eth0")
    assert sysctl(netns, "net.ipv4.ip_forward") == "1"
    with ipvs.Client(netns) as c:
        key = ServiceKey.tcp("203.0.113.10", 80)
        assert sorted((str(d.address), d.port, d.weight) for d in c.destinations(key)) == [
            ("198.51.100.2", 8080, 2), ("198.51.100.3", 8080, 3)]
    assert lb.apply().is_noop
    st = lb.status()
    assert st.is_complete and len(st.checks) == 5, str(st)

    down = lb.teardown()
    assert down.changed[0].startswith("removed address 203.0.113.10/32"), str(down)
    assert "203.0.113.10" not in addrs(netns, "eth0"), "VIP released"
    assert sysctl(netns, "net.ipv4.ip_forward") == "0"
    with ipvs.Client(netns) as c:
        assert c.services() == []
    st = lb.status()
    assert not st.is_complete and st.nothing_recorded


@kernel
@pytest.mark.kernel
def test_director_errors(netns: str, tmp_path: Path) -> None:
    with pytest.raises(NoSuchInterface) as e:
        DirectorSetup("203.0.113.10", "nosuch0", netns=netns, journal_dir=tmp_path).apply()
    assert e.value.interface == "nosuch0"
    # An IPVS error inside a director's apply is the client's exception class.
    run("ip", "-n", netns, "link", "add", "eth0", "type", "dummy")
    odd = Service(ServiceKey.tcp("203.0.113.10", 80), "nosuchsched")
    with pytest.raises(ipvs.SchedulerNotFound):
        DirectorSetup("203.0.113.10", "eth0", netns=netns, journal_dir=tmp_path).with_service(
            odd).apply()
    assert "203.0.113.10" not in addrs(netns, "eth0"), "the VIP comes last: not added"
    DirectorSetup("203.0.113.10", "eth0", netns=netns, journal_dir=tmp_path).teardown()


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("ipvs_cluster_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _namespaces() -> set[str]:
    return {line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()}


@pytest.fixture
def dr_cluster() -> Iterator[Any]:
    """Client, director, three real servers with httpd, on one bridge (the
    example's scaffolding: ``ip``, busybox, curl); removed after."""
    from contextlib import ExitStack

    ex = _example()
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"ipvs-py-dr-{os.getpid()}"
    with ExitStack() as stack:
        topo = ex.Topology("dr", f"pyt{os.getpid() % 100000}")
        stack.callback(topo.close)
        for i, rs in enumerate(topo.rs):
            ex.start_httpd(stack, rs, str(scratch / f"www{i + 1}"), f"rs{i + 1}")
        topo.fetch = ex.fetch
        yield topo
    run("rm", "-rf", str(scratch))


@kernel
@pytest.mark.kernel
def test_balance_report_over_real_traffic_dr_wrr_1_2_3(dr_cluster: Any, tmp_path: Path) -> None:
    c = dr_cluster
    real_servers = [RealServerSetup.dr(c.vip, netns=rs, journal_dir=tmp_path) for rs in c.rs]
    for rs in real_servers:
        rs.apply()
    key = ServiceKey.tcp(c.vip, 80)
    dests = [Destination(a, 80, ForwardMethod.DIRECT_ROUTE, weight=w)
             for a, w in zip(c.real_addrs, (1, 2, 3))]
    lb = DirectorSetup(c.vip, c.lb_if, netns=c.lb, journal_dir=tmp_path).with_service(
        Service(key, Scheduler.WRR), dests)
    try:
        lb.apply()
        assert lb.status().is_complete
        with ipvs.Client(c.lb) as client:
            before = client.destinations(key)
            counts = c.fetch(c.cl, f"http://{c.vip}/", 60)
            assert dict(counts) == {"rs1": 10, "rs2": 20, "rs3": 30}
            after = wait_for_connections(client, key, before, 60)
            report = BalanceReport.between(client.service(key), before, after)
            assert report == BalanceReport.measure(client, key, before)
        assert report.balanced, str(report)
        assert report.total_connections == 60
        assert [report.destination(a).connections for a in c.real_addrs] == [10, 20, 30]
        shares = [report.destination(a).weight_share for a in c.real_addrs]
        assert shares == pytest.approx([1 / 6, 1 / 3, 1 / 2])
        assert "60 new connections, balanced as the weights say" in str(report)
    finally:
        lb.teardown()
        for rs in real_servers:
            rs.teardown()
    assert c.vip not in run("ip", "-n", c.lb, "-o", "addr", "show")
    for rs in c.rs:
        assert c.vip not in addrs(rs, "lo")
    assert list(tmp_path.iterdir()) == [], "journals emptied"


@kernel
@pytest.mark.kernel
@pytest.mark.parametrize("mode, split", [("nat", "rs1 5, rs2 10, rs3 15"),
                                         ("ipip", "rs1 5, rs2 10, rs3 15")])
def test_example_script_runs(mode: str, split: str) -> None:
    before = _namespaces()
    r = subprocess.run(
        [sys.executable, str(EXAMPLE), "--mode", mode, "--requests", "30"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"30 requests, wrr 1:2:3: {split}" in r.stdout, r.stdout
    assert "30 new connections, balanced as the weights say" in r.stdout, r.stdout
    assert _namespaces() == before, "the example deleted its namespaces"
