"""Operations: the changes a batch (:meth:`ipvs.Client.apply`) is made of,
one class per variant of the Rust ``Operation`` enum.

>>> from ipvs import AddService, AddDestination, Service, ServiceKey, Destination
>>> key = ServiceKey.tcp("192.0.2.10", 80)
>>> ops = [AddService(Service(key, "rr")), AddDestination(key, Destination("192.0.2.21", 80))]
>>> str(ops[1])
'add destination 192.0.2.21:80 to TCP 192.0.2.10:80'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence, overload

from . import _ipvs
from .errors import IpvsError
from .model import (
    AddressLike,
    DaemonState,
    Destination,
    IPAddress,
    Service,
    ServiceKey,
    SyncDaemon,
    Timeouts,
    _addr,
    _inst,
    _int,
    _key,
    _from_dict,
    _repr,
    _setattrs,
    _sock,
)

__all__ = [
    "Operation",
    "AddService",
    "UpdateService",
    "DeleteService",
    "AddDestination",
    "UpdateDestination",
    "DeleteDestination",
    "SetTimeouts",
    "Zero",
    "Flush",
    "StartDaemon",
    "StopDaemon",
    "BatchResult",
]


class Operation:
    """A change to the kernel's IPVS table (the base of every operation)."""

    __slots__ = ()

    def __repr__(self) -> str:
        values = tuple(getattr(self, f.name) for f in dataclasses.fields(self))  # type: ignore[arg-type]
        return _repr(self, values, {})

    def __str__(self) -> str:
        """What the operation does, in the words ``ipvsctl`` prints
        (``add destination 192.0.2.21:80 to TCP 192.0.2.10:80``)."""
        return _ipvs.display("operation", self)

    def to_dict(self) -> Any:
        """The serde form (externally tagged: ``{"add_service": {...}}``, ``"flush"``)."""
        return json.loads(_ipvs.to_json("operation", self))

    @staticmethod
    def from_dict(d: Any) -> Operation:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("operation", d, Operation)


@dataclass(frozen=True, slots=True, repr=False)
class AddService(Operation):
    """Add a service."""

    service: Service

    def __post_init__(self) -> None:
        _inst("service", self.service, Service)


@dataclass(frozen=True, slots=True, repr=False)
class UpdateService(Operation):
    """Change a service's scheduler, flags, persistence or engine in place."""

    service: Service

    def __post_init__(self) -> None:
        _inst("service", self.service, Service)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class DeleteService(Operation):
    """Delete a service and its destinations."""

    key: ServiceKey

    def __init__(self, key: ServiceKey | Service) -> None:
        _setattrs(self, key=_key("key", key))


@dataclass(frozen=True, slots=True, init=False, repr=False)
class AddDestination(Operation):
    """Add a destination to a service."""

    key: ServiceKey
    destination: Destination

    def __init__(self, key: ServiceKey | Service, destination: Destination) -> None:
        _setattrs(
            self, key=_key("key", key), destination=_inst("destination", destination, Destination)
        )


@dataclass(frozen=True, slots=True, init=False, repr=False)
class UpdateDestination(Operation):
    """Change a destination's forwarding, weight or thresholds in place."""

    key: ServiceKey
    destination: Destination

    def __init__(self, key: ServiceKey | Service, destination: Destination) -> None:
        _setattrs(
            self, key=_key("key", key), destination=_inst("destination", destination, Destination)
        )


@dataclass(frozen=True, slots=True, init=False, repr=False)
class DeleteDestination(Operation):
    """Remove a destination from a service.

    ``DeleteDestination(key, "192.0.2.21", 80)`` or
    ``DeleteDestination(key, destination)``.
    """

    key: ServiceKey
    address: IPAddress
    port: int

    def __init__(
        self, key: ServiceKey | Service, address: AddressLike | Destination, port: int | None = None
    ) -> None:
        if isinstance(address, Destination):
            if port is None:
                port = address.port
            address = address.address
        if port is None:
            raise TypeError("DeleteDestination: port missing")
        _setattrs(
            self, key=_key("key", key), address=_addr("address", address), port=_int("port", port, 16)
        )


@dataclass(frozen=True, slots=True, repr=False)
class SetTimeouts(Operation):
    """Set the connection timeouts that are non-zero."""

    timeouts: Timeouts

    def __post_init__(self) -> None:
        _inst("timeouts", self.timeouts, Timeouts)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Zero(Operation):
    """Zero the counters of one service, or of every service (``key=None``)."""

    key: ServiceKey | None

    def __init__(self, key: ServiceKey | Service | None = None) -> None:
        _setattrs(self, key=None if key is None else _key("key", key))


@dataclass(frozen=True, slots=True, repr=False)
class Flush(Operation):
    """Delete every service."""


@dataclass(frozen=True, slots=True, repr=False)
class StartDaemon(Operation):
    """Start a connection-sync daemon."""

    daemon: SyncDaemon

    def __post_init__(self) -> None:
        _inst("daemon", self.daemon, SyncDaemon)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class StopDaemon(Operation):
    """Stop the connection-sync daemon in `state`."""

    state: DaemonState | int

    def __init__(self, state: DaemonState | str | int) -> None:
        _setattrs(self, state=DaemonState._coerce("state", state))


class BatchResult(Sequence["IpvsError | None"]):
    """What each operation of a batch did: ``None`` for success, else the
    exception it failed with, in the order given.

    Every operation is attempted whatever happened to the ones before it.
    """

    __slots__ = ("results",)

    results: tuple[IpvsError | None, ...]

    def __init__(self, results: Sequence[IpvsError | None]) -> None:
        self.results = tuple(results)

    @property
    def ok(self) -> bool:
        """Whether every operation succeeded."""
        return all(r is None for r in self.results)

    @property
    def succeeded(self) -> int:
        """How many operations succeeded."""
        return sum(r is None for r in self.results)

    def failures(self) -> list[tuple[int, IpvsError]]:
        """``(index, exception)`` of each failed operation."""
        return [(i, r) for i, r in enumerate(self.results) if r is not None]

    def raise_first(self) -> None:
        """Raise the first failure, if any."""
        for r in self.results:
            if r is not None:
                raise r

    def __len__(self) -> int:
        return len(self.results)

    @overload
    def __getitem__(self, i: int) -> IpvsError | None: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[IpvsError | None]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self.results[i]

    def __iter__(self) -> Iterator[IpvsError | None]:
        return iter(self.results)

    def __repr__(self) -> str:
        return f"BatchResult({len(self.results)} operations, {len(self.results) - self.succeeded} failed)"
