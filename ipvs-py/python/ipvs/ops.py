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
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence, overload

from .errors import IpvsError, ValidationError
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
    _other_from_dict,
    _other_to_dict,
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

    def to_dict(self) -> Any:
        """The serde form (externally tagged: ``{"add_service": {...}}``, ``"flush"``)."""
        raise NotImplementedError

    @staticmethod
    def from_dict(d: Any) -> Operation:
        """Read the serde form."""
        if d == "flush":
            return Flush()
        if not isinstance(d, Mapping) or len(d) != 1:
            raise ValidationError("operation", f"{d!r} is not an operation document", kind="BadOperation")
        ((tag, v),) = d.items()
        if tag == "add_service":
            return AddService(Service.from_dict(v))
        if tag == "update_service":
            return UpdateService(Service.from_dict(v))
        if tag == "delete_service":
            return DeleteService(ServiceKey.from_dict(v))
        if tag == "add_destination":
            return AddDestination(ServiceKey.from_dict(v[0]), Destination.from_dict(v[1]))
        if tag == "update_destination":
            return UpdateDestination(ServiceKey.from_dict(v[0]), Destination.from_dict(v[1]))
        if tag == "delete_destination":
            host, _, port = str(v[1]).rpartition(":")
            return DeleteDestination(ServiceKey.from_dict(v[0]), host.strip("[]"), int(port))
        if tag == "set_timeouts":
            return SetTimeouts(Timeouts.from_dict(v))
        if tag == "zero":
            return Zero(None if v is None else ServiceKey.from_dict(v))
        if tag == "start_daemon":
            return StartDaemon(SyncDaemon.from_dict(v))
        if tag == "stop_daemon":
            return StopDaemon(_other_from_dict(DaemonState, "state", v))
        raise ValidationError("operation", f"unknown operation {tag!r}", kind="BadOperation")


@dataclass(frozen=True, slots=True, repr=False)
class AddService(Operation):
    """Add a service."""

    service: Service

    def __post_init__(self) -> None:
        _inst("service", self.service, Service)

    def __str__(self) -> str:
        return f"add service {self.service.key}"

    def to_dict(self) -> Any:
        return {"add_service": self.service.to_dict()}


@dataclass(frozen=True, slots=True, repr=False)
class UpdateService(Operation):
    """Change a service's scheduler, flags, persistence or engine in place."""

    service: Service

    def __post_init__(self) -> None:
        _inst("service", self.service, Service)

    def __str__(self) -> str:
        return f"update service {self.service.key}"

    def to_dict(self) -> Any:
        return {"update_service": self.service.to_dict()}


@dataclass(frozen=True, slots=True, init=False, repr=False)
class DeleteService(Operation):
    """Delete a service and its destinations."""

    key: ServiceKey

    def __init__(self, key: ServiceKey | Service) -> None:
        _setattrs(self, key=_key("key", key))

    def __str__(self) -> str:
        return f"delete service {self.key}"

    def to_dict(self) -> Any:
        return {"delete_service": self.key.to_dict()}


@dataclass(frozen=True, slots=True, init=False, repr=False)
class AddDestination(Operation):
    """Add a destination to a service."""

    key: ServiceKey
    destination: Destination

    def __init__(self, key: ServiceKey | Service, destination: Destination) -> None:
        _setattrs(
            self, key=_key("key", key), destination=_inst("destination", destination, Destination)
        )

    def __str__(self) -> str:
        return f"add destination {self.destination} to {self.key}"

    def to_dict(self) -> Any:
        return {"add_destination": [self.key.to_dict(), self.destination.to_dict()]}


@dataclass(frozen=True, slots=True, init=False, repr=False)
class UpdateDestination(Operation):
    """Change a destination's forwarding, weight or thresholds in place."""

    key: ServiceKey
    destination: Destination

    def __init__(self, key: ServiceKey | Service, destination: Destination) -> None:
        _setattrs(
            self, key=_key("key", key), destination=_inst("destination", destination, Destination)
        )

    def __str__(self) -> str:
        return f"update destination {self.destination} of {self.key}"

    def to_dict(self) -> Any:
        return {"update_destination": [self.key.to_dict(), self.destination.to_dict()]}


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

    def __str__(self) -> str:
        return f"delete destination {_sock(self.address, self.port)} of {self.key}"

    def to_dict(self) -> Any:
        return {"delete_destination": [self.key.to_dict(), _sock(self.address, self.port)]}


@dataclass(frozen=True, slots=True, repr=False)
class SetTimeouts(Operation):
    """Set the connection timeouts that are non-zero."""

    timeouts: Timeouts

    def __post_init__(self) -> None:
        _inst("timeouts", self.timeouts, Timeouts)

    def __str__(self) -> str:
        t = self.timeouts
        return f"set timeouts tcp {t.tcp} tcpfin {t.tcp_fin} udp {t.udp}"

    def to_dict(self) -> Any:
        return {"set_timeouts": self.timeouts.to_dict()}


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Zero(Operation):
    """Zero the counters of one service, or of every service (``key=None``)."""

    key: ServiceKey | None

    def __init__(self, key: ServiceKey | Service | None = None) -> None:
        _setattrs(self, key=None if key is None else _key("key", key))

    def __str__(self) -> str:
        return "zero all counters" if self.key is None else f"zero counters of {self.key}"

    def to_dict(self) -> Any:
        return {"zero": None if self.key is None else self.key.to_dict()}


@dataclass(frozen=True, slots=True, repr=False)
class Flush(Operation):
    """Delete every service."""

    def __str__(self) -> str:
        return "flush"

    def to_dict(self) -> Any:
        return "flush"


@dataclass(frozen=True, slots=True, repr=False)
class StartDaemon(Operation):
    """Start a connection-sync daemon."""

    daemon: SyncDaemon

    def __post_init__(self) -> None:
        _inst("daemon", self.daemon, SyncDaemon)

    def __str__(self) -> str:
        return f"start {self.daemon.state} sync daemon on {self.daemon.interface}"

    def to_dict(self) -> Any:
        return {"start_daemon": self.daemon.to_dict()}


@dataclass(frozen=True, slots=True, init=False, repr=False)
class StopDaemon(Operation):
    """Stop the connection-sync daemon in `state`."""

    state: DaemonState | int

    def __init__(self, state: DaemonState | str | int) -> None:
        _setattrs(self, state=DaemonState._coerce("state", state))

    def __str__(self) -> str:
        return f"stop {self.state} sync daemon"

    def to_dict(self) -> Any:
        return {"stop_daemon": _other_to_dict(self.state)}


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
