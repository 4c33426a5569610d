"""Exceptions: one class per error of the Rust client, under :class:`IpvsError`.

Every exception carries :attr:`~IpvsError.errno` (the kernel's or the
socket's, when there is one) and :attr:`~IpvsError.kernel_message` (the
kernel's extended-ACK text, when it gave one)::

    IpvsError
    ├── IpvsNotAvailable            no IPVS in this kernel / ip_vs not loaded
    ├── PermissionDenied            needs CAP_NET_ADMIN (initial user namespace)
    ├── AlreadyExists
    │   ├── ServiceExists
    │   ├── DestinationExists
    │   └── DaemonExists
    ├── NotFound
    │   ├── ServiceNotFound
    │   ├── DestinationNotFound
    │   ├── SchedulerNotFound
    │   ├── PersistenceEngineNotFound
    │   ├── SchedulerOrPersistenceEngineNotFound   one of the two; the kernel does not say which
    │   ├── DaemonNotFound
    │   └── InterfaceNotFound
    ├── InvalidArgument             EINVAL / ERANGE from the kernel
    ├── KernelError                 any other refusal
    ├── ValidationError (also a ValueError)   refused before sending
    ├── NotAttempted                a batch stopped before this operation
    ├── Timeout
    ├── DumpInterrupted
    ├── DecodeError
    └── SocketError                 a netlink socket error
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import DaemonState, IPAddress, ServiceKey

__all__ = [
    "IpvsError",
    "IpvsNotAvailable",
    "PermissionDenied",
    "AlreadyExists",
    "ServiceExists",
    "DestinationExists",
    "DaemonExists",
    "NotFound",
    "ServiceNotFound",
    "DestinationNotFound",
    "SchedulerNotFound",
    "PersistenceEngineNotFound",
    "SchedulerOrPersistenceEngineNotFound",
    "DaemonNotFound",
    "InterfaceNotFound",
    "InvalidArgument",
    "KernelError",
    "ValidationError",
    "NotAttempted",
    "Timeout",
    "DumpInterrupted",
    "DecodeError",
    "SocketError",
]


class IpvsError(Exception):
    """The base of every error of this package."""

    errno: int | None
    """The errno behind the error (kernel or socket), if any."""
    kernel_message: str | None
    """The kernel's extended-ACK message, if it gave one."""

    def __init__(
        self, message: str, *, errno: int | None = None, kernel_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.errno = errno
        self.kernel_message = kernel_message

    @property
    def message(self) -> str:
        """The error's text."""
        return str(self.args[0]) if self.args else ""

    @property
    def errno_name(self) -> str | None:
        """The errno's symbolic name (``"EEXIST"``), if any."""
        return None if self.errno is None else _errno.errorcode.get(self.errno)

    def __reduce__(self) -> Any:
        # Keyword-only constructor arguments: rebuild from args and __dict__.
        return (_rebuild_error, (type(self), self.args), self.__dict__)

    def __repr__(self) -> str:
        extra = ""
        if self.errno is not None:
            extra += f", errno={self.errno_name or self.errno}"
        if self.kernel_message is not None:
            extra += f", kernel_message={self.kernel_message!r}"
        return f"{type(self).__name__}({self.message!r}{extra})"


class IpvsNotAvailable(IpvsError):
    """The ``IPVS`` generic-netlink family is missing: the ``ip_vs`` module
    is not loaded, or the kernel has no IPVS."""


class PermissionDenied(IpvsError):
    """The kernel refused: IPVS needs CAP_NET_ADMIN in the initial user
    namespace, even to read."""


class AlreadyExists(IpvsError):
    """What was added exists already (EEXIST)."""


class NotFound(IpvsError):
    """What was named does not exist."""


class _ServiceError(IpvsError):
    service: ServiceKey
    """The service."""

    def __init__(self, message: str, *, service: ServiceKey, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.service = service


class ServiceExists(_ServiceError, AlreadyExists):
    """Adding a service that exists (EEXIST)."""


class ServiceNotFound(_ServiceError, NotFound):
    """The service does not exist (ESRCH)."""


class _DestinationError(_ServiceError):
    address: IPAddress
    """The destination's address."""
    port: int
    """The destination's port."""

    def __init__(
        self, message: str, *, service: ServiceKey, address: IPAddress, port: int, **kw: Any
    ) -> None:
        super().__init__(message, service=service, **kw)
        self.address = address
        self.port = port


class DestinationExists(_DestinationError, AlreadyExists):
    """Adding a destination that exists (EEXIST)."""


class DestinationNotFound(_DestinationError, NotFound):
    """The destination does not exist (ENOENT)."""


class _NameError(IpvsError):
    name: str
    """The name."""

    def __init__(self, message: str, *, name: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.name = name


class SchedulerNotFound(_NameError, NotFound):
    """No scheduler module of that name (ENOENT)."""


class PersistenceEngineNotFound(_NameError, NotFound):
    """No persistence engine module of that name (ENOENT)."""


class SchedulerOrPersistenceEngineNotFound(NotFound):
    """No scheduler module or no persistence engine module of those names
    (ENOENT for a service with an engine: the kernel does not say which)."""

    scheduler: str
    """The scheduler's name."""
    persistence_engine: str
    """The persistence engine's name."""

    def __init__(self, message: str, *, scheduler: str, persistence_engine: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.scheduler = scheduler
        self.persistence_engine = persistence_engine


class InterfaceNotFound(_NameError, NotFound):
    """The sync daemon's interface does not exist (ENODEV)."""


class _DaemonError(IpvsError):
    state: DaemonState | int
    """Master or backup."""

    def __init__(self, message: str, *, state: DaemonState | int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.state = state


class DaemonExists(_DaemonError, AlreadyExists):
    """A sync daemon in that state is already running (EEXIST)."""


class DaemonNotFound(_DaemonError, NotFound):
    """No sync daemon in that state is running (ESRCH)."""


class _CommandError(IpvsError):
    command: str
    """The refused command (``"NEW_SERVICE"``, ...)."""

    def __init__(self, message: str, *, command: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.command = command


class InvalidArgument(_CommandError):
    """The kernel found an argument invalid (EINVAL) or out of range (ERANGE)."""


class KernelError(_CommandError):
    """Any other refusal of the kernel."""


class ValidationError(IpvsError, ValueError):
    """A value refused before anything was sent, naming its field.

    Raised by the model's constructors (types aside, which raise
    ``TypeError``), by ``validate()`` and by every client call. In a batch,
    :attr:`index` is the operation's position and nothing was sent.
    """

    field: str
    """The offending field (``"weight"``, ``"lower_threshold"``, ...)."""
    kind: str
    """What is wrong, as the Rust ``ValidationError`` variant's name
    (``"ThresholdOrder"``), or a Python-side check's (``"OutOfRange"``)."""
    index: int | None
    """The operation's index, for an invalid operation of a batch."""

    def __init__(
        self, field: str, message: str, *, kind: str = "Invalid", index: int | None = None
    ) -> None:
        text = f"{field}: {message}" if field else message
        if index is not None:
            text = f"operation {index} of the batch: {text}"
        super().__init__(text)
        self.field = field
        self._message = message
        self.kind = kind
        self.index = index

    @property
    def message(self) -> str:
        """What is wrong with the field (without the field's name)."""
        return self._message

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"ValidationError(field={self.field!r}, message={self._message!r}{idx})"


def _rebuild_error(cls: type[IpvsError], args: tuple[Any, ...]) -> IpvsError:
    return cls.__new__(cls, *args)


class NotAttempted(IpvsError):
    """A batch operation not attempted: the batch stopped before it (a socket
    error or a timeout), so whether earlier ones applied is unknown."""

    reason: str

    def __init__(self, message: str, *, reason: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason


class Timeout(IpvsError):
    """No reply from the kernel within the client's timeout."""

    seconds: float

    def __init__(self, message: str, *, seconds: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.seconds = seconds


class DumpInterrupted(IpvsError):
    """A dump kept being interrupted by concurrent changes."""

    attempts: int

    def __init__(self, message: str, *, attempts: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.attempts = attempts


class DecodeError(IpvsError):
    """The kernel sent something that cannot be decoded."""


class SocketError(IpvsError):
    """A netlink socket error (see :attr:`errno`)."""


def _from_native(
    kind: str, message: str, errno: int | None, kernel_message: str | None, details: str
) -> IpvsError:
    """Build the exception for an error of the Rust client (called by the
    extension)."""
    from .model import DaemonState, ServiceKey

    d = json.loads(details)
    kw: dict[str, Any] = {"errno": errno, "kernel_message": kernel_message}
    if kind == "Validation":
        return ValidationError(d["field"], d["message"], kind=d["kind"], index=d["index"])
    if kind in ("ServiceExists", "ServiceNotFound"):
        cls = ServiceExists if kind == "ServiceExists" else ServiceNotFound
        return cls(message, service=ServiceKey.from_dict(d["service"]), **kw)
    if kind in ("DestinationExists", "DestinationNotFound"):
        dcls = DestinationExists if kind == "DestinationExists" else DestinationNotFound
        return dcls(
            message,
            service=ServiceKey.from_dict(d["service"]),
            address=ipaddress.ip_address(d["address"]),
            port=d["port"],
            **kw,
        )
    if kind in ("SchedulerNotFound", "PersistenceEngineNotFound", "InterfaceNotFound"):
        ncls = {
            "SchedulerNotFound": SchedulerNotFound,
            "PersistenceEngineNotFound": PersistenceEngineNotFound,
            "InterfaceNotFound": InterfaceNotFound,
        }[kind]
        return ncls(message, name=d["name"], **kw)
    if kind == "SchedulerOrPersistenceEngineNotFound":
        return SchedulerOrPersistenceEngineNotFound(
            message, scheduler=d["scheduler"], persistence_engine=d["persistence_engine"], **kw
        )
    if kind in ("DaemonExists", "DaemonNotFound"):
        state = d["state"]
        st = DaemonState._coerce("state", state["other"] if isinstance(state, dict) else state)
        dmcls = DaemonExists if kind == "DaemonExists" else DaemonNotFound
        return dmcls(message, state=st, **kw)
    if kind == "InvalidArgument":
        return InvalidArgument(message, command=d["command"], **kw)
    if kind == "Kernel":
        return KernelError(message, command=d["command"], **kw)
    if kind == "NotAttempted":
        return NotAttempted(message, reason=d["reason"], **kw)
    if kind == "Timeout":
        return Timeout(message, seconds=d["seconds"], **kw)
    if kind == "DumpInterrupted":
        return DumpInterrupted(message, attempts=d["attempts"], **kw)
    simple: dict[str, type[IpvsError]] = {
        "IpvsNotAvailable": IpvsNotAvailable,
        "PermissionDenied": PermissionDenied,
        "Decode": DecodeError,
        "Io": SocketError,
    }
    return simple.get(kind, IpvsError)(message, **kw)
