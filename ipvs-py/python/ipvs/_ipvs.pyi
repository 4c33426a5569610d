"""The native half of :mod:`ipvs` (Rust, pyo3). Use :class:`ipvs.Client` and
the model rather than this module: its functions take and return the model's
objects, trusting that their constructors checked them."""

import os
from typing import Iterable, Literal

from .model import Destination, Info, Service, ServiceEntry, ServiceKey, SyncDaemon, Timeouts
from .ops import Operation

__version__: str

_NormalizeKind = Literal[
    "service", "service_key", "destination", "forward", "tunnel", "persistence", "netmask",
    "stats", "connections", "timeouts", "info", "version", "daemon", "daemon_state",
    "operation", "operations", "entry", "entries",
]

def normalize(kind: _NormalizeKind, json: str) -> str:
    """Deserialize `json` as the Rust type `kind` and serialize it back: the
    Rust serde form of the document.

    :raises ValueError: `json` is not a document of that type.
    """

def to_json(
    kind: Literal["service", "service_key", "destination", "timeouts", "daemon", "operation"],
    value: object,
) -> str:
    """The Rust serde JSON of a model value, read the way the client reads it."""

def from_json(
    kind: Literal["service", "service_key", "destination", "timeouts", "info", "daemon", "entry"],
    json: str,
) -> object:
    """A model value built the way the client builds what the kernel reports."""

def validate_service(service: Service) -> None:
    """Rust's ``Service::validate``; raises :class:`ipvs.ValidationError`."""

def validate_service_key(key: ServiceKey) -> None:
    """Rust's ``ServiceKey::validate``; raises :class:`ipvs.ValidationError`."""

def validate_destination(destination: Destination, key: ServiceKey) -> None:
    """Rust's ``Destination::validate``; raises :class:`ipvs.ValidationError`."""

def validate_daemon(daemon: SyncDaemon) -> None:
    """Rust's ``SyncDaemon::validate``; raises :class:`ipvs.ValidationError`."""

class Client:
    """The Rust blocking client. Every kernel call releases the GIL."""

    def __new__(
        cls,
        netns: str | os.PathLike[str] | None = None,
        timeout: float | None = 30.0,
        dump_attempts: int = 5,
    ) -> Client: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def family_id(self) -> int: ...
    def execute(self, op: Operation) -> None: ...
    def apply(self, ops: Iterable[Operation]) -> list[Exception | None]: ...
    def service(self, key: ServiceKey) -> Service: ...
    def services(self) -> list[Service]: ...
    def destinations(self, key: ServiceKey) -> list[Destination]: ...
    def snapshot(self) -> list[ServiceEntry]: ...
    def timeouts(self) -> Timeouts: ...
    def info(self) -> Info: ...
    def daemons(self) -> list[SyncDaemon]: ...
