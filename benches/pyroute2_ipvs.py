"""pyroute2's side of the kernel benchmark: `add N` builds the same table as
the Rust benchmark (N TCP services x 4 destinations, one request each, as
pyroute2 sends them); `dump N` lists every service and its destinations and
checks the count. Run inside the benchmark's network namespace."""
import ipaddress
import sys
from socket import IPPROTO_TCP

from pyroute2 import IPVS, IPVSDest, IPVSService

DESTS = 4


def service(i):
    addr = str(ipaddress.IPv4Address(0xC6120000 + i))  # 198.18.0.0 + i
    return IPVSService(addr=addr, port=80, protocol=IPPROTO_TCP, sched_name="wrr")


def dest(i, j):
    addr = str(ipaddress.IPv4Address(0xC6336400 + (i * 4 + j) % 250 + 1))
    return IPVSDest(addr=addr, port=8000 + j, weight=1 + j, fwd_method=0)


def main():
    what, n = sys.argv[1], int(sys.argv[2])
    ipvs = IPVS()
    if what == "add":
        for i in range(n):
            s = service(i)
            ipvs.service("add", service=s)
            for j in range(DESTS):
                ipvs.dest("add", service=s, dest=dest(i, j))
    else:
        services = dests = 0
        for msg in ipvs.service("dump"):
            s = IPVSService.from_message(msg)
            services += 1
            dests += len(list(ipvs.dest("dump", service=s)))
        assert services == n and dests == n * DESTS, (services, dests)
    ipvs.close()


main()
