"""The native half of :mod:`ipvs` (Rust, pyo3): JSON in the Rust serde form
in and out. Use :class:`ipvs.Client` and the model rather than this."""

import os

__version__: str

def normalize(kind: str, json: str) -> str:
    """Deserialize `json` as the Rust type `kind` (``"service"``,
    ``"service_key"``, ``"destination"``, ``"forward"``, ``"tunnel"``,
    ``"persistence"``, ``"netmask"``, ``"stats"``, ``"connections"``,
    ``"timeouts"``, ``"info"``, ``"version"``, ``"daemon"``,
    ``"daemon_state"``, ``"operation"``, ``"operations"``, ``"entry"``,
    ``"entries"``) and serialize it back.

    :raises ValueError: `json` is not a document of that type.
    """

def validate_service(json: str) -> None:
    """Rust's ``Service::validate``; raises :class:`ipvs.ValidationError`."""

def validate_service_key(json: str) -> None:
    """Rust's ``ServiceKey::validate``; raises :class:`ipvs.ValidationError`."""

def validate_destination(json: str, key_json: str) -> None:
    """Rust's ``Destination::validate``; raises :class:`ipvs.ValidationError`."""

def validate_daemon(json: str) -> None:
    """Rust's ``SyncDaemon::validate``; raises :class:`ipvs.ValidationError`."""

class Client:
    """The Rust blocking client. Every call releases the GIL."""

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
    def execute(self, op_json: str) -> None: ...
    def apply(self, ops_json: str) -> list[Exception | None]: ...
    def service(self, key_json: str) -> str: ...
    def services(self) -> str: ...
    def destinations(self, key_json: str) -> str: ...
    def snapshot(self) -> str: ...
    def timeouts(self) -> str: ...
    def info(self) -> str: ...
    def daemons(self) -> str: ...
