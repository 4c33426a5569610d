#!/usr/bin/env python3
"""A whole LVS cluster on one machine, in network namespaces, with ipvs.cluster.

A client, a director and three real servers (busybox httpd), on
documentation address ranges only; the director balances them with wrr
1:2:3 in NAT, DR or TUN (IPIP or GUE) mode. The script sends HTTP requests
from the client (curl, one connection each), prints which server answered,
the director's balance report, and tears everything down again::

    sudo python3 ipvs-py/examples/cluster.py --mode dr --requests 60

The cables (namespaces, veth pairs, a bridge, routes) are made with ``ip``:
that is scaffolding. Everything a real deployment would otherwise keep in
shell scripts (the VIP on ``lo``/``tunl0``, the ARP and rp_filter sysctls,
IP forwarding, the VIP on the director, the IPVS service) goes through
:mod:`ipvs.cluster`, and is undone by its teardowns, which restore every
sysctl to the value it had before.

Needs root, a kernel with IPVS, ``ip`` (iproute2), ``nsenter``, ``busybox``
and ``curl``. Exits 0 when every request was answered and the report says
the split follows the weights.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

import ipvs
from ipvs import Destination, ForwardMethod, Scheduler, Service, ServiceKey, Tunnel
from ipvs.cluster import BalanceReport, DirectorSetup, RealServerSetup, wait_for_connections

WEIGHTS = (1, 2, 3)
GUE_PORT = 6080


def sh(*argv: str) -> str:
    """Run a command; its stdout. A failure shows its stderr."""
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def in_ns(ns: str, *argv: str) -> list[str]:
    """`argv` inside the network namespace `ns` (no new mount namespace)."""
    return ["nsenter", f"--net=/run/netns/{ns}", *argv]


class Topology:
    """The namespaces and cables, deleted by :meth:`close`."""

    def __init__(self, mode: str, tag: str) -> None:
        self.namespaces: list[str] = []
        self.cl = self.netns(f"{tag}-cl")
        self.lb = self.netns(f"{tag}-lb")
        self.rs = [self.netns(f"{tag}-rs{i}") for i in (1, 2, 3)]
        self.real_addrs: list[str] = []
        if mode == "nat":
            # Client and VIP on 203.0.113.0/24; each real server on a /30 of
            # its own behind the director, routing back through it.
            self.ip(self.cl, "link", "add", "eth0", "type", "veth", "peer", "name", "cl0",
                    "netns", self.lb)
            self.addr(self.cl, "eth0", "203.0.113.2/24")
            self.addr(self.lb, "cl0", "203.0.113.1/24")
            for i, rs in enumerate(self.rs):
                net = 4 * (i + 1)
                self.ip(rs, "link", "add", "eth0", "type", "veth", "peer", "name", f"rs{i}",
                        "netns", self.lb)
                self.addr(rs, "eth0", f"198.51.100.{net + 2}/30")
                self.ip(rs, "route", "add", "default", "via", f"198.51.100.{net + 1}")
                self.addr(self.lb, f"rs{i}", f"198.51.100.{net + 1}/30")
                self.real_addrs.append(f"198.51.100.{net + 2}")
            self.vip, self.lb_if = "203.0.113.10", "cl0"
        else:
            # One bridge; the VIP inside the hosts' subnet, so the client ARPs
            # for it and only the director may answer.
            sw = self.netns(f"{tag}-sw")
            self.ip(sw, "link", "add", "br0", "type", "bridge")
            self.ip(sw, "link", "set", "br0", "up")
            hosts = [(self.cl, 2), (self.lb, 1)] + list(zip(self.rs, (11, 12, 13)))
            for n, (host, last) in enumerate(hosts):
                self.ip(host, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{n}",
                        "netns", sw)
                self.ip(sw, "link", "set", f"p{n}", "master", "br0")
                self.ip(sw, "link", "set", f"p{n}", "up")
                self.addr(host, "eth0", f"198.51.100.{last}/24")
                if last > 10:
                    self.real_addrs.append(f"198.51.100.{last}")
            self.vip, self.lb_if = "198.51.100.100", "eth0"

    def netns(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    @staticmethod
    def ip(ns: str, *args: str) -> None:
        sh("ip", "-n", ns, *args)

    def addr(self, ns: str, dev: str, cidr: str) -> None:
        self.ip(ns, "addr", "add", cidr, "dev", dev)
        self.ip(ns, "link", "set", dev, "up")

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start_httpd(stack: ExitStack, ns: str, www: str, body: str) -> None:
    """busybox httpd on port 80 in `ns`, serving `body`; stopped on exit."""
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(body + "\n")
    proc = subprocess.Popen(
        in_ns(ns, "busybox", "httpd", "-f", "-p", "80", "-h", www),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.kill()
        proc.wait()

    stack.callback(stop)
    deadline = time.monotonic() + 10
    while subprocess.run(
        in_ns(ns, "curl", "-s", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1/"),
        capture_output=True,
    ).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"httpd in {ns} does not answer")
        time.sleep(0.2)


def fetch(ns: str, url: str, n: int) -> collections.Counter[str]:
    """`n` requests to `url` from `ns`, each on a new connection: who answered how often."""
    out = subprocess.run(
        in_ns(ns, "curl", "-s", "--connect-timeout", "5", "--max-time", "10",
              "-H", "Connection: close", *[url] * n),
        capture_output=True, text=True,
    ).stdout
    return collections.Counter(line.strip() for line in out.splitlines() if line.strip())


def forward_of(mode: str) -> ForwardMethod | Tunnel:
    return {
        "nat": ForwardMethod.MASQUERADE,
        "dr": ForwardMethod.DIRECT_ROUTE,
        "ipip": Tunnel.ipip(),
        "gue": Tunnel.gue(GUE_PORT),
    }[mode]


def demo(mode: str, requests: int) -> bool:
    tag = f"pyex{os.getpid() % 100000}"
    scratch = tempfile.mkdtemp(prefix="ipvs-py-cluster-")
    journal = os.path.join(scratch, "journal")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, scratch, True)
        topo = Topology(mode, tag)
        stack.callback(topo.close)
        for i, rs in enumerate(topo.rs):
            start_httpd(stack, rs, os.path.join(scratch, f"www{i + 1}"), f"rs{i + 1}")

        # The library: real servers first (ARP settings before anybody has
        # the VIP), then the director with its service.
        real_servers = []
        if mode != "nat":
            tunnel = None if mode == "dr" else forward_of(mode)
            for rs in topo.rs:
                setup = RealServerSetup(topo.vip, tunnel, netns=rs, journal_dir=journal)
                stack.callback(lambda s=setup: print(s.teardown()))
                real_servers.append(setup)
                print(setup.apply())
        key = ServiceKey.tcp(topo.vip, 80)
        director = DirectorSetup(
            topo.vip, topo.lb_if, nat=mode == "nat", netns=topo.lb, journal_dir=journal,
        ).with_service(
            Service(key, Scheduler.WRR),
            [Destination(a, 80, forward_of(mode), weight=w)
             for a, w in zip(topo.real_addrs, WEIGHTS)],
        )
        # Teardown order: the director first (the VIP goes, so nobody reaches
        # it), then the real servers (callbacks run last in, first out).
        stack.callback(lambda: print(director.teardown()))
        print(director.apply())
        status = director.status()
        print(status)
        if not status.is_complete:
            return False

        # Traffic, and the balance it made.
        with ipvs.Client(topo.lb) as client:
            before = client.destinations(key)
            counts = fetch(topo.cl, f"http://{topo.vip}/", requests)
            split = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"{requests} requests, wrr {':'.join(map(str, WEIGHTS))}: {split}")
            after = wait_for_connections(client, key, before, sum(counts.values()))
            report = BalanceReport.between(client.service(key), before, after)
        print(report)
        answered = sum(counts.values()) == requests
        if not answered:
            print(f"only {sum(counts.values())} of {requests} requests were answered")
        return answered and report.balanced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["nat", "dr", "ipip", "gue"], default="dr")
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("cluster.py: needs root (network namespaces, IPVS)", file=sys.stderr)
        return 2
    try:
        ok = demo(args.mode, args.requests)
    except (ipvs.IpvsError, RuntimeError, TimeoutError) as e:
        print(f"cluster.py: {e!r}", file=sys.stderr)
        return 1
    print("balanced as the weights say" if ok else "NOT balanced as the weights say")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
