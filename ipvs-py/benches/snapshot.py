"""A full snapshot from Python next to the same snapshot in Rust, ipvsadm
and pyroute2, on the same table, in one boot: N TCP services with 4 NAT
destinations each.

  <python> ipvs-py/benches/snapshot.py [--services N ...] [--pyroute2 N] [--out FILE]

  --services N  table sizes (default 1000 10000)
  --pyroute2 N  also list with pyroute2 at tables of at most N services
                (default 1000; it needs about 30 ms per service under emulation)
  --repeat R    snapshots per measurement, the best kept (default 1)

Rows, per table: `ipvsadm -Sn` (a whole process; its peak memory is the
process's), the Rust snapshot (`Client::snapshot`, no Python value built)
and the Python one (`ipvs.Client().snapshot()`), each in its own Python
child process timed inside (starting Python in the guest costs seconds; it
is not counted), with the child's peak memory (VmHWM) and its memory before
the call; and pyroute2 (a service dump, then a destination dump per service).

Needs root and a kernel with IPVS: run it in the guest with the real
interpreter, not the pyenv shim:
`scripts/guest run '$(python3 -c "import sys; print(sys.executable)") ipvs-py/benches/snapshot.py'`.
Each table is built in a fresh network namespace (services on 198.18.0.0/15,
destinations on 198.51.100.0/24). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_pyroute2 import Netns, fill  # noqa: E402

# The child: one snapshot, timed inside the process; prints one JSON line.
CHILD = r"""
import json, resource, sys, time
import ipvs

def vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

what, repeat = sys.argv[1], int(sys.argv[2])
c = ipvs.Client(timeout=600)
native = c._native
before = vm("VmRSS")
best = None
for _ in range(repeat):
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if what == "rust":
        services, dests = native._snapshot_counts()
    else:
        snap = c.snapshot()
        services, dests = len(snap), sum(len(e.destinations) for e in snap)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    run = (wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime)
    if best is None or run[0] < best[0]:
        best = run
    if what != "rust":
        del snap
print(json.dumps({"wall": best[0], "user": best[1], "sys": best[2], "services": services,
                  "dests": dests, "rss_before": before, "peak": vm("VmHWM")}))
"""


def run_child(what: str, repeat: int, python: str = sys.executable) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", CHILD, what, str(repeat)],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_ipvsadm() -> dict[str, float]:
    t0 = time.perf_counter()
    p = subprocess.Popen(["ipvsadm", "-Sn"], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"ipvsadm -Sn exited with {p.returncode}")
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "peak": ru.ru_maxrss * 1024}


def run_pyroute2(n: int) -> dict[str, float]:
    import resource

    from vs_pyroute2 import pyroute2_list

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    pyroute2_list(n)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime}


def fmt(r: dict[str, float]) -> str:
    s = f"{r['wall']:.2f} s ({r['user']:.2f} user, {r['sys']:.2f} sys)"
    if "peak" in r:
        s += f", peak {r['peak'] / 2**20:.0f} MB"
        if "rss_before" in r:
            s += f" ({r['rss_before'] / 2**20:.0f} MB before)"
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--pyroute2", type=int, default=1000, metavar="N")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--before", metavar="PYTHON",
                    help="also time the Python snapshot of the package installed for this interpreter")
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    lines = [
        f"Kernel {platform.release()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; one boot; each table in a fresh namespace; "
        f"best of {args.repeat}.",
        "",
        "| services x 4 | step | time (CPU), peak memory | ipvsadm -Sn / this |",
        "|---|---|---|---|",
    ]
    for n in args.services:
        ns = Netns()
        try:
            fill(n)
            rows = [("`ipvsadm -Sn`", run_ipvsadm())]
            rows.append(("Rust `Client::snapshot` (in a Python process)", run_child("rust", args.repeat)))
            rows.append(("Python `Client().snapshot()`", run_child("python", args.repeat)))
            if args.before:
                rows.append(("Python `Client().snapshot()`, before (`--before`)",
                             run_child("python", args.repeat, args.before)))
            if n <= args.pyroute2:
                rows.append(("pyroute2 (service dump + one dest dump per service)", run_pyroute2(n)))
            base = rows[0][1]["wall"]
            for name, r in rows:
                if "dests" in r and r["dests"] != 4 * n:
                    raise SystemExit(f"{name}: {r['dests']} destinations, expected {4 * n}")
                lines.append(f"| {n} | {name} | {fmt(r)} | {base / r['wall']:.2f} |")
            py = rows[2][1]["wall"]
            lines.append(f"| {n} | Python / Rust | {py / rows[1][1]['wall']:.2f}x the time | |")
            if args.before:
                lines.append(f"| {n} | before / now (Python) | {rows[3][1]['wall'] / py:.2f}x the time | |")
            if n <= args.pyroute2:
                lines.append(f"| {n} | pyroute2 / Python | {rows[-1][1]['wall'] / py:.0f}x the time | |")
        finally:
            ns.close()
        print("\n".join(lines[-8:]), flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
