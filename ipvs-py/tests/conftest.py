"""Fixtures for the kernel tests: a network namespace per test, a client in
it, and ipvsadm run inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from typing import Callable, Iterator

import pytest

import ipvs


def kernel_skip_reason() -> str | None:
    """Why the kernel tests cannot run here, or None."""
    if not os.path.exists("/proc/net/ip_vs"):
        return (
            "no IPVS in this kernel (/proc/net/ip_vs is missing): run them in the guest, "
            "scripts/guest run 'python3 -m pytest -q ipvs-py/tests'"
        )
    if os.geteuid() != 0:
        return "IPVS needs root (CAP_NET_ADMIN in the initial user namespace)"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    return None


def run(*argv: str, check: bool = True, input: str | None = None) -> str:
    """Run a command; its stdout. A failure shows its stderr."""
    r = subprocess.run(argv, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def ticks_beside(work: Callable[[], object]) -> tuple[float, float, int]:
    """Run `work` in another thread while this one ticks every millisecond:
    the longest gap between ticks (from the start to the tick that sees the
    work done), the work's time, and the ticks. What `work` raises is
    raised here."""
    done = threading.Event()
    took: list[float] = []
    raised: list[BaseException] = []

    def run_work() -> None:
        t0 = time.perf_counter()
        try:
            work()
        except BaseException as e:
            raised.append(e)
        finally:
            took.append(time.perf_counter() - t0)
            done.set()

    t = threading.Thread(target=run_work)
    ticks = [time.perf_counter()]
    t.start()
    while not done.is_set():
        time.sleep(0.001)
        ticks.append(time.perf_counter())
    t.join()
    if raised:
        raise raised[0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return max(gaps, default=took[0]), took[0], len(ticks)


def assert_releases_the_gil(name: str, work: Callable[[], object]) -> None:
    """`work` lets this thread run: no gap between its ticks is half the
    work's time. A guest whose virtual CPU stalls can make one gap that
    long (seen once in CI: 0.28 s of 0.55 s), so it runs up to three times;
    a GIL held through the work fails every time."""
    tries = []
    for _ in range(3):
        gap, took, ticks = ticks_beside(work)
        tries.append((round(gap, 4), round(took, 4), ticks))
        if ticks > 10 and gap < took / 2:
            return
    pytest.fail(f"{name}: each try's longest gap, time and ticks: {tries}")


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace (``ip netns add``), with ``lo`` up; deleted after."""
    name = f"ipvs-py-{uuid.uuid4().hex[:10]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        # Services hold scheduler modules; flushing first lets the namespace go at once.
        run("ip", "netns", "exec", name, "ipvsadm", "-C", check=False)
        run("ip", "netns", "del", name, check=False)


@pytest.fixture
def client(netns: str) -> Iterator[ipvs.Client]:
    """A client in the test's namespace."""
    with ipvs.Client(netns, timeout=30) as c:
        yield c


@pytest.fixture
def ipvsadm(netns: str) -> Callable[..., str]:
    """``ipvsadm ARGS...`` in the test's namespace; its stdout."""
    if shutil.which("ipvsadm") is None:
        pytest.skip("ipvsadm is not installed")

    def call(*args: str, input: str | None = None, check: bool = True) -> str:
        return run("ip", "netns", "exec", netns, "ipvsadm", *args, input=input, check=check)

    return call
