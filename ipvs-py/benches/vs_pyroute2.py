"""The Python package next to pyroute2's IPVS module, on the same table, in
one run, in the same kernel: N TCP services with 4 destinations each.

  python3 ipvs-py/benches/vs_pyroute2.py [--list N] [--add N] [--out FILE]

  --list N   list a table of N services (default 10000), ours (one snapshot)
             and pyroute2 (a service dump, then a destination dump per service)
  --add N    add a table of N services (default 1000; pyroute2 needs about
             a tenth of a second per request under emulation), ours as one
             batch (Client.apply), pyroute2 one request per operation

Needs root and a kernel with IPVS (run it in the guest:
`scripts/guest run 'python3 ipvs-py/benches/vs_pyroute2.py'`). Each step runs
in a fresh network namespace; the tables are built on documentation ranges
(services 198.18.0.0/15, destinations 198.51.100.0/24). Prints a markdown
table of wall and CPU times and the ratio pyroute2 / ours.
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import resource
import subprocess
import sys
import time
import uuid
from socket import IPPROTO_TCP
from typing import Callable

import ipvs

DESTS = 4
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def svc_addr(i: int) -> str:
    return str(ipaddress.IPv4Address(0xC6120000 + i))  # 198.18.0.0 + i


def dest_addr(i: int, j: int) -> str:
    return str(ipaddress.IPv4Address(0xC6336400 + (i * 4 + j) % 250 + 1))  # 198.51.100.x


def ours_ops(n: int) -> list[ipvs.Operation]:
    ops: list[ipvs.Operation] = []
    for i in range(n):
        key = ipvs.ServiceKey.tcp(ipaddress.ip_address(svc_addr(i)), 80)
        ops.append(ipvs.AddService(ipvs.Service(key, ipvs.Scheduler.WRR)))
        for j in range(DESTS):
            d = ipvs.Destination(ipaddress.ip_address(dest_addr(i, j)), 8000 + j, weight=1 + j)
            ops.append(ipvs.AddDestination(key, d))
    return ops


class Netns:
    """A fresh namespace (ip netns add), entered by this process while alive."""

    def __init__(self) -> None:
        self.name = f"bench-py-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        # With lo down the kernel sees no unicast route type for the
        # destinations and refuses NEW_DEST with EINVAL.
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)

    def close(self) -> None:
        _libc.setns(self.home, CLONE_NEWNET)
        os.close(self.home)
        subprocess.run(["ip", "netns", "exec", self.name, "ipvsadm", "-C"], check=False)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def timed(f: Callable[[], object]) -> tuple[float, float, float]:
    """(wall, user, sys) seconds of f() in this process."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    f()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime


def pyroute2_add(n: int) -> None:
    from pyroute2 import IPVS, IPVSDest, IPVSService

    p = IPVS()
    try:
        for i in range(n):
            s = IPVSService(addr=svc_addr(i), port=80, protocol=IPPROTO_TCP, sched_name="wrr")
            p.service("add", service=s)
            for j in range(DESTS):
                d = IPVSDest(addr=dest_addr(i, j), port=8000 + j, weight=1 + j, fwd_method=0)
                p.dest("add", service=s, dest=d)
    finally:
        p.close()


def pyroute2_list(n: int) -> None:
    from pyroute2 import IPVS, IPVSService

    p = IPVS()
    try:
        services = dests = 0
        for msg in p.service("dump"):
            s = IPVSService.from_message(msg)
            services += 1
            dests += len(list(p.dest("dump", service=s)))
    finally:
        p.close()
    assert (services, dests) == (n, n * DESTS), (services, dests)


def ours_add(n: int, ops: list[ipvs.Operation]) -> None:
    with ipvs.Client(timeout=600) as c:
        result = c.apply(ops)
        assert result.ok, result


def ours_list(n: int) -> None:
    with ipvs.Client(timeout=600) as c:
        entries = c.snapshot()
    assert (len(entries), sum(len(e.destinations) for e in entries)) == (n, n * DESTS)


def fill(n: int) -> None:
    ours_add(n, ours_ops(n))


def in_fresh_netns(prepare: Callable[[], None] | None, f: Callable[[], None]):
    ns = Netns()
    try:
        if prepare:
            prepare()
        return timed(f)
    finally:
        ns.close()


def fmt(t: tuple[float, float, float]) -> str:
    return f"{t[0]:.2f} s ({t[1]:.2f} user, {t[2]:.2f} sys)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", type=int, default=10_000, metavar="N")
    ap.add_argument("--add", type=int, default=1_000, metavar="N")
    ap.add_argument("--out", help="also write the report to this file")
    a = ap.parse_args()
    rows = []
    if a.add:
        n = a.add
        ops = ours_ops(n)  # built outside the timing, like pyroute2's objects are not
        ours = in_fresh_netns(None, lambda: ours_add(n, ops))
        theirs = in_fresh_netns(None, lambda: pyroute2_add(n))
        rows.append((f"add {n} services x {DESTS} destinations ({n * (DESTS + 1)} operations)", ours, theirs))
    if a.list:
        n = a.list
        ours = in_fresh_netns(lambda: fill(n), lambda: ours_list(n))
        theirs = in_fresh_netns(lambda: fill(n), lambda: pyroute2_list(n))
        rows.append((f"list {n} services x {DESTS} destinations", ours, theirs))
    import pyroute2

    kernel = open("/proc/sys/kernel/osrelease").read().strip()
    lines = [
        "## Python: `import ipvs` next to pyroute2",
        "",
        f"Kernel {kernel}, pyroute2 {getattr(pyroute2, '__version__', '?')}, Python "
        f"{sys.version.split()[0]}; one run, a fresh network namespace per step; wall time "
        "(user and system CPU of the process). Ratio: pyroute2's wall time over ours.",
        "",
        "| step | ipvs (this package) | pyroute2 | pyroute2 / ipvs |",
        "|---|---|---|---|",
    ]
    for what, ours, theirs in rows:
        lines.append(f"| {what} | {fmt(ours)} | {fmt(theirs)} | {theirs[0] / ours[0]:.1f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
