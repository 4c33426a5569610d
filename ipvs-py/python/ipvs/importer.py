"""Existing clusters brought in: Piranha's ``lvs.cf`` and keepalived's
``keepalived.conf`` read into a :class:`~ipvs.State` with their failover
settings, and keepalived.conf written from a state (the Rust crate's
``ipvs::import``).

Everything the result cannot hold is a :class:`LoadWarning` naming the
file, line and key; a file that cannot be read raises :class:`LoadError`
naming file, line and column::

    import ipvs

    loaded = ipvs.load_keepalived("/etc/keepalived/keepalived.conf")
    for w in loaded.warnings:
        print(w)                 # keepalived.conf:12:9: not carried over: SMTP_CHECK: ...
    print(loaded.state.to_rules())
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

from . import _ipvs
from .errors import IpvsError
from .failover import Settings
from .health import RunConfig
from .model import ServiceKey
from .state import State

__all__ = [
    "Import",
    "LoadWarning",
    "LoadError",
    "WriteError",
    "load",
    "loads",
    "load_keepalived",
    "load_piranha",
    "write_keepalived",
    "write_keepalived_run",
    "format_of",
]

LoadWarning = _ipvs.LoadWarning
Format = Literal["piranha", "keepalived"]


class LoadError(IpvsError, ValueError):
    """A file that cannot be loaded: :attr:`file`, :attr:`line` and
    :attr:`column` say where (None for a file that cannot be read),
    :attr:`kind` what: ``read``, ``syntax``, ``value``, ``include``,
    ``conflict`` or ``unsupported``."""

    kind: str
    file: str | None
    line: int | None
    column: int | None

    def __init__(
        self,
        message: str,
        *,
        kind: str = "other",
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column


class WriteError(IpvsError, ValueError):
    """A state keepalived.conf cannot express as it is (a scheduler it does
    not take, a service without destinations...): :attr:`service` and
    :attr:`dest` say which."""

    service: ServiceKey | None
    dest: str | None
    reason: str

    def __init__(
        self,
        message: str,
        *,
        service: ServiceKey | None = None,
        dest: str | None = None,
        reason: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.service = service
        self.dest = dest
        self.reason = reason or message


def _from_native(kind: str, message: str, details: str) -> IpvsError:
    """Build the exception for a Rust error (called by the extension)."""
    d = json.loads(details)
    if kind == "Write":
        service = d.get("service")
        return WriteError(
            message,
            service=None if service is None else ServiceKey.from_dict(service),
            dest=d.get("dest"),
            reason=d.get("reason", ""),
        )
    return LoadError(
        message,
        kind=d.get("kind", "other"),
        file=d.get("file"),
        line=d.get("line"),
        column=d.get("column"),
        errno=d.get("errno"),
    )


@dataclass(frozen=True, slots=True)
class Import:
    """What a file brought in."""

    state: State
    """The IPVS table: services, destinations, timeouts. Validated."""
    failover: Settings | None
    """The director failover settings, if the file has them. Validated."""
    warnings: tuple[LoadWarning, ...]
    """What was dropped or corrected, in file order."""
    run_config: RunConfig
    """What :class:`ipvs.health.Supervisor` runs: the table with the health
    settings (keepalived's checkers, quorum, sorry server; nanny's checks)
    and the failover settings. Not validated: ``run_config.validate()``
    checks programs and regexes, as starting a run does."""


def _import(
    loaded: tuple[State, Settings | None, list[LoadWarning], RunConfig],
) -> Import:
    state, failover, warnings, run_config = loaded
    return Import(state, failover, tuple(warnings), run_config)


def load(path: str | os.PathLike[str], format: Format | None = None) -> Import:
    """Load `path` in `format`, by default the one its name says (``lvs.cf``:
    piranha, ``keepalived.conf``: keepalived).

    :raises LoadError: naming file, line and column.
    :raises ValueError: no `format`, and the name says none.
    """
    return _import(_ipvs.import_load(os.fspath(path), format))


def loads(text: str, format: Format, path: str = "-") -> Import:
    """Load `text` in `format`, as if read from `path` (which names it in
    warnings and errors; keepalived's ``include`` is relative to it).

    :raises LoadError: naming file, line and column.
    """
    return _import(_ipvs.import_loads(text, format, path))


def load_keepalived(path: str | os.PathLike[str]) -> Import:
    """Load a keepalived.conf (its ``include`` files too)."""
    return load(path, "keepalived")


def load_piranha(path: str | os.PathLike[str]) -> Import:
    """Load a Piranha lvs.cf."""
    return load(path, "piranha")


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format a file's name says, or None."""
    f = _ipvs.import_format_of(os.fspath(path))
    if f == "piranha":
        return "piranha"
    if f == "keepalived":
        return "keepalived"
    return None


def write_keepalived(state: State, failover: Settings | None = None) -> str:
    """`state` (with `failover`'s ``vrrp_instance`` and sync daemon) as
    keepalived.conf that keepalived 2.2 reads as this table, and that
    :func:`load_keepalived` reads back to the same state.

    :raises WriteError: something keepalived.conf cannot express.
    """
    return _ipvs.keepalived_write(state, failover)


def write_keepalived_run(config: RunConfig) -> str:
    """A run's whole configuration (table, health and failover settings)
    as keepalived.conf, each check a checker; :func:`load_keepalived`
    reads it back to the same configuration.

    :raises WriteError: something keepalived.conf cannot express (slow
        start, ``rise`` above 1, TCP send/expect and file checks...).
    """
    return _ipvs.keepalived_write_run(config)
