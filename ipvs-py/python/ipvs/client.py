"""The client: every operation of the Rust blocking client.

Each call validates what it sends (raising :class:`~ipvs.errors.ValidationError`
before anything reaches the kernel), then talks to the kernel with the GIL
released. A client is one netlink socket; it is safe to share between
threads (calls are serialized on the socket), or open one per thread for
calls in parallel.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Iterable, Union, cast

from . import _ipvs
from .errors import IpvsError
from .model import (
    AddressLike,
    DaemonState,
    Destination,
    Info,
    Service,
    ServiceEntry,
    ServiceKey,
    SyncDaemon,
    Timeouts,
    _key,
)
from .ops import (
    AddDestination,
    AddService,
    BatchResult,
    DeleteDestination,
    DeleteService,
    Flush,
    Operation,
    SetTimeouts,
    StartDaemon,
    StopDaemon,
    UpdateDestination,
    UpdateService,
    Zero,
)

__all__ = ["Client", "NetnsLike"]

NetnsLike = Union[str, "os.PathLike[str]", int, None]
"""A network namespace: a name made by ``ip netns add`` (``"lb"``), a path
(``"/proc/1234/ns/net"``), an open file descriptor on one, or ``None`` for
the caller's own."""


def _netns_path(netns: NetnsLike) -> str | None:
    if netns is None:
        return None
    if isinstance(netns, bool):
        raise TypeError("netns: expected a name, a path or a file descriptor, got bool")
    if isinstance(netns, int):
        if netns < 0:
            raise ValueError(f"netns: {netns} is not a file descriptor")
        return f"/proc/self/fd/{netns}"
    path = os.fspath(netns)
    if not isinstance(path, str):
        raise TypeError("netns: expected a str path, got bytes")
    if isinstance(netns, str) and "/" not in netns:
        if not netns or netns in (".", ".."):
            raise ValueError(f"netns: {netns!r} is not a namespace name")
        return os.path.join("/run/netns", netns)
    return path


class Client:
    """A connection to the kernel's IPVS, in one network namespace.

    >>> with ipvs.Client() as client:                        # doctest: +SKIP
    ...     client.add_service(Service(ServiceKey.tcp("192.0.2.10", 80), Scheduler.RR))
    ...     for service, destinations in client.snapshot():
    ...         print(service.key, len(destinations))

    :param netns: the network namespace to open the socket in: a name made by
        ``ip netns add`` (``"lb"`` is ``/run/netns/lb``), a path such as
        ``/proc/PID/ns/net``, an open file descriptor on one, or ``None`` for
        the caller's. The socket stays in that namespace for its whole life;
        no thread of the process changes namespace.
    :param timeout: seconds to wait for a reply before raising
        :class:`~ipvs.errors.Timeout`; ``None`` waits forever.
    :param dump_attempts: how many times a listing interrupted by concurrent
        changes is retried before :class:`~ipvs.errors.DumpInterrupted`.
    :raises IpvsNotAvailable: the kernel has no IPVS (or ``ip_vs`` is not loaded).
    :raises SocketError: the namespace cannot be opened, or the socket not made.
    """

    __slots__ = ("_native", "__weakref__")

    def __init__(
        self,
        netns: NetnsLike = None,
        timeout: float | None = 30.0,
        *,
        dump_attempts: int = 5,
    ) -> None:
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout: expected seconds or None, got {type(timeout).__name__}")
        self._native = _ipvs.Client(
            _netns_path(netns), None if timeout is None else float(timeout), int(dump_attempts)
        )

    @classmethod
    def in_netns(cls, name: str, timeout: float | None = 30.0) -> Client:
        """A client in the namespace made by ``ip netns add NAME``."""
        if not isinstance(name, str) or "/" in name or not name:
            raise ValueError(f"in_netns: {name!r} is not a namespace name")
        return cls(name, timeout)

    # -- lifetime -------------------------------------------------------

    def close(self) -> None:
        """Close the socket. Later calls raise ``ValueError``; calls in progress
        on other threads finish first."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ipvs.Client {'closed' if self.closed else 'open'}>"

    @property
    def family_id(self) -> int:
        """The generic-netlink id the kernel gave the IPVS family."""
        return self._native.family_id

    # -- changes --------------------------------------------------------

    def execute(self, op: Operation) -> None:
        """Apply one operation."""
        if not isinstance(op, Operation):
            raise TypeError(f"expected an Operation, got {type(op).__name__}")
        self._native.execute(op)

    def add_service(self, service: Service) -> None:
        """Add a service.

        :raises ServiceExists: it exists.
        :raises SchedulerNotFound, SchedulerOrPersistenceEngineNotFound,
            PersistenceEngineNotFound: no such module (with an engine the kernel
            does not say which of the two it missed).
        """
        self.execute(AddService(service))

    def update_service(self, service: Service) -> None:
        """Change a service's scheduler, flags, persistence or engine in place.

        :raises ServiceNotFound: no such service.
        """
        self.execute(UpdateService(service))

    def delete_service(self, key: ServiceKey | Service) -> None:
        """Delete a service and its destinations.

        :raises ServiceNotFound: no such service.
        """
        self.execute(DeleteService(key))

    def add_destination(self, key: ServiceKey | Service, destination: Destination) -> None:
        """Add a destination to a service.

        :raises ServiceNotFound: no such service.
        :raises DestinationExists: the service has it already.
        """
        self.execute(AddDestination(key, destination))

    def update_destination(self, key: ServiceKey | Service, destination: Destination) -> None:
        """Change a destination's forwarding, weight or thresholds in place.

        :raises DestinationNotFound: the service has no such destination.
        """
        self.execute(UpdateDestination(key, destination))

    def delete_destination(
        self,
        key: ServiceKey | Service,
        address: AddressLike | Destination,
        port: int | None = None,
    ) -> None:
        """Remove a destination: ``delete_destination(key, "192.0.2.21", 80)``
        or ``delete_destination(key, destination)``.

        :raises DestinationNotFound: the service has no such destination.
        """
        self.execute(DeleteDestination(key, address, port))

    def flush(self) -> None:
        """Delete every service of the namespace."""
        self.execute(Flush())

    def zero(self, key: ServiceKey | Service | None = None) -> None:
        """Zero the counters of one service, or of every service."""
        self.execute(Zero(key))

    def set_timeouts(self, timeouts: Timeouts) -> None:
        """Set the connection timeouts that are non-zero."""
        self.execute(SetTimeouts(timeouts))

    def start_daemon(self, daemon: SyncDaemon) -> None:
        """Start a connection-sync daemon.

        :raises DaemonExists: one in that state runs already.
        :raises InterfaceNotFound: no such interface.
        """
        self.execute(StartDaemon(daemon))

    def stop_daemon(self, state: DaemonState | str | int) -> None:
        """Stop the connection-sync daemon in `state`.

        :raises DaemonNotFound: none in that state runs.
        """
        self.execute(StopDaemon(state))

    def apply(self, ops: Iterable[Operation]) -> BatchResult:
        """Apply many operations with as few system calls as fit.

        Every operation is validated first: if one is invalid, nothing is
        sent and :class:`~ipvs.errors.ValidationError` names its ``index``.
        Otherwise each is attempted, in order, and the result holds ``None``
        or the exception of each.
        """
        ops = ops if isinstance(ops, (list, tuple)) else list(ops)
        for i, op in enumerate(ops):
            if not isinstance(op, Operation):
                raise TypeError(f"operation {i}: expected an Operation, got {type(op).__name__}")
        results = self._native.apply(ops)
        return BatchResult(cast("list[IpvsError | None]", results))

    # -- reads ----------------------------------------------------------

    def service(self, key: ServiceKey | Service) -> Service:
        """One service, with its stats.

        :raises ServiceNotFound: no such service.
        """
        return self._native.service(_key("key", key))

    def services(self) -> list[Service]:
        """Every service of the namespace, with stats."""
        return self._native.services()

    def destinations(self, key: ServiceKey | Service) -> list[Destination]:
        """The destinations of a service, with connection counts and stats
        (an unknown service has none)."""
        return self._native.destinations(_key("key", key))

    def snapshot(self) -> list[ServiceEntry]:
        """Every service with its destinations (``for service, dests in ...``)."""
        return self._native.snapshot()

    def timeouts(self) -> Timeouts:
        """The connection timeouts."""
        return self._native.timeouts()

    def info(self) -> Info:
        """The IPVS version and connection table size."""
        return self._native.info()

    def daemons(self) -> list[SyncDaemon]:
        """The running connection-sync daemons."""
        return self._native.daemons()
