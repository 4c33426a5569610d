"""Against a real kernel with IPVS, as root: run in the guest,
``scripts/guest run 'python3 -m pytest -q ipvs-py/tests'``.

Every test works in a network namespace of its own (``ip netns add``),
deleted afterwards, and uses documentation addresses only.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Callable

import pytest

import ipvs
from ipvs import (
    AddDestination,
    AddService,
    DaemonState,
    DeleteDestination,
    DeleteService,
    Destination,
    Flush,
    ForwardMethod,
    Persistence,
    Scheduler,
    Service,
    ServiceEntry,
    ServiceFlags,
    ServiceKey,
    SetTimeouts,
    SyncDaemon,
    Timeouts,
    Tunnel,
    TunnelChecksum,
    UpdateDestination,
    UpdateService,
    Zero,
)

from conftest import assert_releases_the_gil, kernel_skip_reason, run

_reason = kernel_skip_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

KEY = ServiceKey.tcp("192.0.2.10", 80)
Ipvsadm = Callable[..., str]


def table(entries: list[ServiceEntry]) -> dict[Service, frozenset[Destination]]:
    """A snapshot without the kernel's counters, order-free."""
    return {e.service.config(): frozenset(d.config() for d in e.destinations) for e in entries}


# --------------------------------------------------------------------------
# ipvsadm cross-checks. The table of /work/shared/IPVS-NOTES.md, as ipvsadm
# 1.31 saves it, and the same table in the model.

SAVED = """\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 192.0.2.23:53 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
"""


def model_table() -> dict[Service, frozenset[Destination]]:
    web = ServiceKey.tcp("192.0.2.10", 80)
    dns = ServiceKey.udp("192.0.2.10", 53)
    sip = ServiceKey.sctp("192.0.2.10", 9999)
    v6 = ServiceKey.tcp("2001:db8::10", 443)
    mark = ServiceKey.fwmark(7)
    return {
        Service(web, Scheduler.WRR, persistence=600): frozenset(
            {Destination("192.0.2.21", 80, ForwardMethod.DIRECT_ROUTE, weight=9)}
        ),
        Service(
            dns,
            Scheduler.SH,
            flags=ServiceFlags.ONE_PACKET | ServiceFlags.SH_FALLBACK | ServiceFlags.SH_PORT,
        ): frozenset({Destination("192.0.2.23", 53, Tunnel.ipip())}),
        Service(sip, Scheduler.LC, persistence=30, persistence_engine="sip"): frozenset(),
        Service(v6, Scheduler.RR, persistence=Persistence(60, 64)): frozenset(
            {Destination("2001:db8::21", 8443, weight=3)}
        ),
        Service(mark, Scheduler.MH, flags=ServiceFlags.MH_FALLBACK): frozenset(
            {Destination("192.0.2.24", 0, Tunnel.gue(6080, TunnelChecksum.REMOTE), weight=2)}
        ),
    }


def lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def test_what_ipvsadm_wrote_reads_back_as_the_model(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=SAVED)
    assert table(client.snapshot()) == model_table()


def test_what_the_client_writes_ipvsadm_saves_identically(
    client: ipvs.Client, ipvsadm: Ipvsadm
) -> None:
    for service, dests in model_table().items():
        client.add_service(service)
        for d in dests:
            client.add_destination(service.key, d)
    assert lines(ipvsadm("-S", "-n")) == lines(SAVED)


def test_a_batch_writes_the_same_table(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ops: list[ipvs.Operation] = []
    for service, dests in model_table().items():
        ops.append(AddService(service))
        ops += [AddDestination(service.key, d) for d in dests]
    result = client.apply(ops)
    assert result.ok and result.succeeded == len(ops) == 9
    assert lines(ipvsadm("-S", "-n")) == lines(SAVED)
    assert table(client.snapshot()) == model_table()


def test_listing_matches_ipvsadm_list(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=SAVED)
    listed = ipvsadm("-L", "-n")
    for service in client.services():
        assert isinstance(service.stats, ipvs.Stats)
        proto, where = str(service.key).split(" ", 1)  # "TCP 192.0.2.10:80", "FWM 7"
        head = f"{proto:<4} {where} {service.scheduler_name}"
        assert head in listed, (head, listed)
        for d in client.destinations(service):
            assert isinstance(d.connections, ipvs.Connections) and isinstance(d.stats, ipvs.Stats)
            assert f"-> {d}" in listed
            row = next(line for line in listed.splitlines() if f"-> {d} " in line)
            assert row.split()[3] == str(d.weight), row


def test_info_and_timeouts_match_ipvsadm(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    info = client.info()
    assert info.version >= ipvs.Version(1, 2, 1)
    assert f"IP Virtual Server version {info.version} (size={info.connection_table_size})" in (
        ipvsadm("-L", "-n")
    )
    assert client.timeouts() == Timeouts.KERNEL_DEFAULTS
    client.set_timeouts(Timeouts(tcp=3600, udp=60))  # tcp_fin 0: unchanged
    assert client.timeouts() == Timeouts(3600, 120, 60)
    assert "Timeout (tcp tcpfin udp): 3600 120 60" in ipvsadm("-L", "--timeout")
    ipvsadm("--set", "10", "20", "30")
    assert client.timeouts() == Timeouts(10, 20, 30)


def test_updates_show_in_ipvsadm(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    svc = Service(KEY, Scheduler.RR)
    dest = Destination("192.0.2.21", 80, weight=1)
    client.add_service(svc)
    client.add_destination(KEY, dest)
    client.update_service(svc.replace(scheduler=Scheduler.WLC, persistence=Persistence(120, "255.255.255.0")))
    client.update_destination(KEY, dest.replace(forward=ForwardMethod.DIRECT_ROUTE, weight=7))
    assert lines(ipvsadm("-S", "-n")) == {
        "-A -t 192.0.2.10:80 -s wlc -p 120 -M 255.255.255.0",
        "-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 7",
    }
    got = client.service(KEY)
    assert got.config() == Service(KEY, "wlc", persistence=Persistence(120, "255.255.255.0"))
    # ipvsadm's edits read back
    ipvsadm("-e", "-t", "192.0.2.10:80", "-r", "192.0.2.21:80", "-g", "-w", "3", "-x", "100", "-y", "10")
    (d,) = client.destinations(KEY)
    assert (d.weight, d.upper_threshold, d.lower_threshold) == (3, 100, 10)
    # Removing persistence and changing flags in place.
    client.update_service(Service(KEY, Scheduler.SH, flags=ServiceFlags.SH_PORT))
    assert client.service(KEY).config() == Service(KEY, Scheduler.SH, flags=ServiceFlags.SH_PORT)
    assert lines(ipvsadm("-S", "-n")) >= {"-A -t 192.0.2.10:80 -s sh -b sh-port"}


def test_deletes_zero_and_flush(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    ipvsadm("-R", input=SAVED)
    assert len(client.services()) == 5
    client.delete_destination(KEY, "192.0.2.21", 80)
    assert client.destinations(KEY) == []
    client.delete_destination(ServiceKey.fwmark(7), Destination("192.0.2.24", 0))
    client.delete_service(ServiceKey.sctp("192.0.2.10", 9999))
    assert len(client.services()) == 4
    client.zero(KEY)
    client.zero()
    assert client.service(KEY).stats == ipvs.Stats()
    client.flush()
    assert client.services() == [] and ipvsadm("-S", "-n").strip() == ""


# --------------------------------------------------------------------------
# Every typed error.


def test_service_errors(client: ipvs.Client) -> None:
    svc = Service(KEY, Scheduler.RR)
    client.add_service(svc)
    with pytest.raises(ipvs.ServiceExists) as e:
        client.add_service(svc)
    assert e.value.errno == errno.EEXIST and e.value.service == KEY
    assert isinstance(e.value, ipvs.AlreadyExists)
    missing = ServiceKey.udp("198.51.100.1", 53)
    for call in (
        lambda: client.update_service(Service(missing, "rr")),
        lambda: client.delete_service(missing),
        lambda: client.service(missing),
        lambda: client.add_destination(missing, Destination("198.51.100.2", 53)),
        lambda: client.zero(missing),
    ):
        with pytest.raises(ipvs.ServiceNotFound) as nf:
            call()
        assert nf.value.errno == errno.ESRCH and nf.value.service == missing
    assert client.destinations(missing) == []  # an empty dump, not an error


def test_destination_errors(client: ipvs.Client) -> None:
    client.add_service(Service(KEY, "rr"))
    d = Destination("192.0.2.21", 8080)
    client.add_destination(KEY, d)
    with pytest.raises(ipvs.DestinationExists) as e:
        client.add_destination(KEY, d)
    assert (e.value.errno, e.value.service, e.value.address, e.value.port) == (
        errno.EEXIST, KEY, ipaddress.ip_address("192.0.2.21"), 8080,
    )
    other = Destination("192.0.2.22", 8080)
    with pytest.raises(ipvs.DestinationNotFound) as nf:
        client.update_destination(KEY, other)
    assert nf.value.errno == errno.ENOENT and nf.value.address == other.address
    with pytest.raises(ipvs.DestinationNotFound):
        client.delete_destination(KEY, other)
    assert isinstance(nf.value, ipvs.NotFound)


def test_module_errors(client: ipvs.Client) -> None:
    with pytest.raises(ipvs.SchedulerNotFound) as e:
        client.add_service(Service(KEY, "nosuch"))
    assert e.value.name == "nosuch" and e.value.errno == errno.ENOENT
    # The kernel does not say which of the two it did not find ...
    with pytest.raises(ipvs.SchedulerOrPersistenceEngineNotFound) as both:
        client.add_service(Service(KEY, "rr", persistence=60, persistence_engine="nosuch"))
    assert (both.value.scheduler, both.value.persistence_engine) == ("rr", "nosuch")
    assert both.value.errno == errno.ENOENT
    # ... unless it looked up only the engine (the scheduler "none" is not).
    with pytest.raises(ipvs.PersistenceEngineNotFound) as pe:
        client.add_service(Service(KEY, "none", persistence=60, persistence_engine="nosuch"))
    assert pe.value.name == "nosuch" and pe.value.errno == errno.ENOENT
    client.add_service(Service(KEY, "rr"))
    with pytest.raises(ipvs.SchedulerNotFound):
        client.update_service(Service(KEY, "nosuch"))


@pytest.fixture
def dummy(netns: str) -> str:
    """A dummy interface, up, in the test's namespace."""
    run("ip", "-n", netns, "link", "add", "ipvs0", "type", "dummy")
    run("ip", "-n", netns, "link", "set", "ipvs0", "up")
    return "ipvs0"


def test_sync_daemons(client: ipvs.Client, ipvsadm: Ipvsadm, dummy: str) -> None:
    assert client.daemons() == []
    client.start_daemon(SyncDaemon(DaemonState.MASTER, dummy, 5))
    (d,) = client.daemons()
    assert (d.state, d.interface, d.sync_id) == (DaemonState.MASTER, dummy, 5)
    assert (d.group, d.port, d.ttl) == (ipaddress.ip_address("224.0.0.81"), 8848, 1)
    assert d.max_len is not None and d.max_len > 0
    listed = ipvsadm("-L", "--daemon")
    assert f"master sync daemon (mcast={dummy}, syncid=5" in listed, listed
    with pytest.raises(ipvs.DaemonExists) as e:
        client.start_daemon(SyncDaemon(DaemonState.MASTER, dummy, 5))
    assert e.value.state is DaemonState.MASTER and e.value.errno == errno.EEXIST
    client.start_daemon(SyncDaemon("backup", dummy, 6, group="239.0.0.7", port=9000))
    assert {x.state for x in client.daemons()} == {DaemonState.MASTER, DaemonState.BACKUP}
    client.stop_daemon(DaemonState.MASTER)
    client.stop_daemon("backup")
    assert client.daemons() == []
    with pytest.raises(ipvs.DaemonNotFound) as nf:
        client.stop_daemon(DaemonState.BACKUP)
    assert nf.value.state is DaemonState.BACKUP and nf.value.errno == errno.ESRCH
    with pytest.raises(ipvs.InterfaceNotFound) as nf2:
        client.start_daemon(SyncDaemon(DaemonState.MASTER, "nosuch0", 1))
    assert nf2.value.name == "nosuch0" and nf2.value.errno == errno.ENODEV


def test_invalid_argument(client: ipvs.Client) -> None:
    # The kernel caps timeouts at INT_MAX / HZ seconds.
    with pytest.raises(ipvs.InvalidArgument) as e:
        client.set_timeouts(Timeouts(tcp=4_000_000_000))
    assert e.value.errno == errno.EINVAL and e.value.command == "SET_CONFIG"
    # Sync daemons and mixed-family destinations do not go together.
    client.add_service(Service(KEY, "rr"))
    client.add_destination(KEY, Destination("2001:db8::21", 80, Tunnel.ipip()))
    with pytest.raises(ipvs.InvalidArgument) as e2:
        client.start_daemon(SyncDaemon(DaemonState.MASTER, "lo", 1))
    assert e2.value.errno == errno.EINVAL and e2.value.command == "NEW_DAEMON"


def test_kernel_error(client: ipvs.Client, netns: str) -> None:
    # A master daemon's socket cannot route to its group through a down interface.
    run("ip", "-n", netns, "link", "add", "ipvs1", "type", "dummy")
    with pytest.raises(ipvs.IpvsError) as e:
        client.start_daemon(SyncDaemon(DaemonState.MASTER, "ipvs1", 1))
    assert type(e.value) is ipvs.KernelError, repr(e.value)
    assert e.value.errno not in (errno.EINVAL, errno.ERANGE, None)
    assert e.value.command == "NEW_DAEMON"


def test_permission_denied(netns: str) -> None:
    code = textwrap.dedent(
        """
        import os, ipvs
        client = ipvs.Client()          # resolving the family needs no privilege
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        try:
            client.services()
        except ipvs.PermissionDenied as e:
            print("PermissionDenied", e.errno)
        """
    )
    out = run("ip", "netns", "exec", netns, sys.executable, "-c", code)
    assert out.split() == ["PermissionDenied", str(errno.EPERM)]


def test_validation_errors_send_nothing(client: ipvs.Client, ipvsadm: Ipvsadm) -> None:
    bad = Destination("192.0.2.21", 80, upper_threshold=10, lower_threshold=20)
    with pytest.raises(ipvs.ValidationError) as e:
        client.add_destination(KEY, bad)
    assert (e.value.field, e.value.kind, e.value.index) == ("lower_threshold", "ThresholdOrder", None)
    with pytest.raises(ipvs.ValidationError) as e:
        client.add_service(Service(ServiceKey.tcp("192.0.2.10", 0), "rr"))
    assert e.value.field == "port"
    ops = [
        AddService(Service(KEY, "rr")),
        AddDestination(KEY, Destination("192.0.2.21", 80)),
        AddDestination(KEY, Destination("2001:db8::1", 80)),
    ]
    with pytest.raises(ipvs.ValidationError) as e:
        client.apply(ops)
    assert (e.value.field, e.value.index) == ("address", 2)
    assert str(e.value).startswith("operation 2 of the batch: address: ")
    assert client.services() == [] and ipvsadm("-S", "-n").strip() == ""


def test_a_batch_reports_each_operation(client: ipvs.Client) -> None:
    other = ServiceKey.tcp("192.0.2.11", 80)
    ops = [
        AddService(Service(KEY, "rr")),
        AddService(Service(KEY, "rr")),  # exists
        AddDestination(KEY, Destination("192.0.2.21", 80)),
        AddDestination(other, Destination("192.0.2.21", 80)),  # no such service
        UpdateDestination(KEY, Destination("192.0.2.21", 80, weight=5)),
        DeleteDestination(KEY, "192.0.2.99", 80),  # no such destination
        SetTimeouts(Timeouts(udp=77)),
        Zero(KEY),
        UpdateService(Service(KEY, "wrr")),
        DeleteService(other),  # no such service
        AddService(Service(other, "nosuch")),  # no such scheduler
    ]
    r = client.apply(ops)
    kinds = [type(x).__name__ if x is not None else None for x in r]
    assert kinds == [
        None, "ServiceExists", None, "ServiceNotFound", None, "DestinationNotFound",
        None, None, None, "ServiceNotFound", "SchedulerNotFound",
    ]
    assert not r.ok and r.succeeded == 6
    assert [i for i, _ in r.failures()] == [1, 3, 5, 9, 10]
    assert r[1].errno == errno.EEXIST and r[3].service == other  # type: ignore[union-attr]
    with pytest.raises(ipvs.ServiceExists):
        r.raise_first()
    (d,) = client.destinations(KEY)
    assert d.weight == 5 and client.service(KEY).scheduler is Scheduler.WRR
    assert client.timeouts().udp == 77
    assert client.apply([]).ok
    assert client.apply([Flush()]).ok and client.services() == []


# --------------------------------------------------------------------------
# Namespaces, lifetime, threads.


def test_namespaces_are_separate(netns: str) -> None:
    other = f"{netns}-b"
    run("ip", "netns", "add", other)
    try:
        with ipvs.Client(netns) as a, ipvs.Client.in_netns(other) as b:
            a.add_service(Service(KEY, "rr"))
            assert [s.key for s in a.services()] == [KEY]
            assert b.services() == []
            # The same namespace by path and by file descriptor.
            with ipvs.Client(f"/run/netns/{netns}") as by_path:
                assert [s.key for s in by_path.services()] == [KEY]
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                with ipvs.Client(fd) as by_fd:
                    assert [s.key for s in by_fd.services()] == [KEY]
            finally:
                os.close(fd)
            import pathlib

            with ipvs.Client(pathlib.Path("/run/netns") / other) as b2:
                assert b2.services() == []
    finally:
        run("ip", "netns", "exec", other, "ipvsadm", "-C", check=False)
        run("ip", "netns", "del", other, check=False)


def test_context_manager_closes(netns: str) -> None:
    with ipvs.Client(netns) as c:
        assert not c.closed and c.family_id > 0
        c.add_service(Service(KEY, "rr"))
    assert c.closed
    with pytest.raises(ValueError):
        c.services()
    c.close()  # twice is fine


def test_a_snapshot_is_the_services_and_their_destinations(client: ipvs.Client) -> None:
    ops: list[ipvs.Operation] = []
    for i in range(300):
        key = ServiceKey.tcp(f"198.18.{i // 250}.{i % 250 + 1}", 80)
        ops.append(AddService(Service(key, "rr")))
        ops += [AddDestination(key, Destination(f"198.19.0.{j + 1}", 80)) for j in range(i % 3)]
    assert client.apply(ops).ok
    snap = client.snapshot()
    services = client.services()
    assert [entry.service for entry in snap] == services
    assert [list(entry.destinations) for entry in snap] == [
        client.destinations(s.key) for s in services
    ]
    assert sum(len(entry.destinations) for entry in snap) == 300


def test_shared_between_threads(client: ipvs.Client) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            key = ServiceKey.tcp(f"198.18.{i}.1", 80)
            client.add_service(Service(key, "rr"))
            for j in range(5):
                client.add_destination(key, Destination(f"198.19.{i}.{j + 1}", 80))
            assert len(client.destinations(key)) == 5
            client.snapshot()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snap = client.snapshot()
    assert len(snap) == 8 and all(len(dests) == 5 for _, dests in snap)


def test_kernel_calls_release_the_gil(client: ipvs.Client) -> None:
    ops: list[ipvs.Operation] = []
    for i in range(1500):
        key = ServiceKey.tcp(f"198.18.{i // 250}.{i % 250 + 1}", 80)
        ops.append(AddService(Service(key, "rr")))
        ops.append(AddDestination(key, Destination("198.19.0.1", 80)))
    assert client.apply(ops).ok
    # The snapshot's 1,501 dumps run without the GIL: this thread keeps
    # ticking.
    assert_releases_the_gil("snapshot", client.snapshot)


# Last: it unloads the modules, which nothing else may be using.
def test_ipvs_not_available_without_the_module() -> None:
    mods = [
        m.split()[0]
        for m in open("/proc/modules").read().splitlines()
        if m.startswith("ip_vs")
    ]
    if "ip_vs" not in mods:
        pytest.skip("ip_vs is built in: it cannot be unloaded")
    # The kernel loads ip_vs by itself when asked for the IPVS family (the
    # module's alias net-pf-16-proto-16-family-IPVS): keep it from loading
    # modules while the client looks.
    helper = "/proc/sys/kernel/modprobe"
    old_helper = open(helper).read()
    try:
        # Namespaces deleted by earlier tests release their services (and
        # the scheduler modules) asynchronously: give them a moment.
        for _ in range(50):
            r = subprocess.run(["modprobe", "-r", *mods], capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        assert r.returncode == 0, f"cannot unload the ip_vs modules: {r.stderr.strip()}"
        with open(helper, "w") as f:
            f.write("/bin/false\n")
        with pytest.raises(ipvs.IpvsNotAvailable) as e:
            ipvs.Client()
        assert e.value.errno == errno.ENOENT
        assert "ip_vs" in str(e.value)
    finally:
        with open(helper, "w") as f:
            f.write(old_helper)
        for m in mods:
            subprocess.run(["modprobe", m], capture_output=True)
    with ipvs.Client() as c:
        assert c.info().version >= ipvs.Version(1, 2, 1)
