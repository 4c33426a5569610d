"""The cost of building a snapshot's Python values, on the host (no kernel):
a table of N services x 4 destinations built in Rust, with stats and
connection counts as the kernel reports them, then turned into the Python
values `Client.snapshot()` returns.

  python3 ipvs-py/benches/convert.py [--services N] [--repeat R]

Prints the time of the Rust side alone, of the Rust side plus the Python
values, and the difference per destination (best of R runs).
"""

from __future__ import annotations

import argparse
import gc
import time

from ipvs import _ipvs


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = args.services
    rust = best(lambda: _ipvs._synthetic_snapshot(n, 4, False), args.repeat)
    both = best(lambda: _ipvs._synthetic_snapshot(n, 4, True), args.repeat)
    objs = n * 5
    print(f"{n} services x 4: Rust alone {rust * 1e3:.1f} ms, with the Python values "
          f"{both * 1e3:.1f} ms; {(both - rust) / objs * 1e9:.0f} ns per service or destination")


if __name__ == "__main__":
    main()
