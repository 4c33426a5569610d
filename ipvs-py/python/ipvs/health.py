"""Health checking that drives the table: the checks, policies, events and
run loop of the Rust crate's ``ipvs::health``, from Python.

- :class:`RunConfig`: the file of ``ipvsctl run`` (a state file with
  ``health:`` blocks per service and ``check:`` per destination, in YAML,
  JSON or TOML; plain ipvsadm rules run unchecked). :func:`load`,
  :func:`loads` and :func:`from_dict` read one and validate it whole: a bad
  one raises :class:`ConfigError` naming the service, destination and field
  before anything starts.
- :class:`ServiceHealth`: a service's policy (:meth:`RunConfig.health`):
  remove or quiesce on failure, slow start, quorum and sorry server,
  initial state.
- :class:`Check`: one check (``tcp``, ``tcp_send_expect``, ``http``,
  ``udp``, ``dns``, ``exec``, ``file``) with its timing;
  :meth:`Check.probe` runs its probe once (an :class:`Outcome`).
- :class:`Monitor`: the policy engine without I/O: outcomes in
  (:meth:`Monitor.record`), transitions and the effective desired state
  out (:meth:`Monitor.desired`); one probe per distinct real server.
- :class:`Supervisor`: the run loop (Rust's ``Supervisor``) on threads of
  its own: makes the table what the configuration says, runs the checks,
  reconciles, and yields every transition as an :class:`Event`.

::

    from ipvs import health

    config = health.load("/etc/ipvs/run.yaml")
    with health.Supervisor(config) as run:
        for event in run:          # blocks; Ctrl-C stops it
            print(event)           # dest-down service="TCP 192.0.2.10:80" dest=...

Everything here is the Rust implementation: the file format, the
validation, the probes, the policy and the events' words.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator, Literal, Mapping

from . import _ipvs
from .client import Client
from .errors import IpvsError
from .model import ServiceKey
from .state import State, StateError

__all__ = [
    "Check",
    "Outcome",
    "RunConfig",
    "ServiceHealth",
    "Monitor",
    "Event",
    "Supervisor",
    "ConfigError",
    "RunError",
    "load",
    "loads",
    "from_dict",
    "run",
]

Check = _ipvs.Check
Outcome = _ipvs.Outcome
RunConfig = _ipvs.RunConfig
ServiceHealth = _ipvs.ServiceHealth
Monitor = _ipvs.Monitor
Event = _ipvs.HealthEvent

Format = Literal["json", "yaml", "toml", "rules"]


class ConfigError(StateError):
    """A run file that does not load: an unknown check type, a zero interval,
    a timeout above the interval, a regular expression that does not
    compile, a program that does not exist, an unknown field... Raised
    before anything starts. (The table part of the file raises the plain
    :class:`~ipvs.StateError`, as a state file does.)

    :attr:`service` and :attr:`dest` say where, :attr:`field` is dotted from
    there (``health.check.interval``, ``check.type``)."""

    dest: str | None
    """The destination (``address:port``), if the setting is in one."""
    problem: str
    """What is wrong, without where."""

    def __init__(
        self, message: str, *, dest: str | None = None, problem: str = "", **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.dest = dest
        self.problem = problem or message


class RunError(IpvsError):
    """A run that stopped with an error (the table could not be set up at
    start), or did not answer in time."""


def _from_native(kind: str, message: str, details: str) -> IpvsError:
    """Build the exception for a Rust error (called by the extension)."""
    d = json.loads(details)
    if kind == "Run":
        return RunError(message)
    service = d.get("service")
    return ConfigError(
        message,
        kind=kind,
        service=None if service is None else ServiceKey.from_dict(service),
        dest=d.get("dest"),
        field=d.get("field"),
        problem=d.get("problem", ""),
    )


def load(path: str | os.PathLike[str]) -> RunConfig:
    """Read a run file, its format by its extension (``.yaml``/``.yml``,
    ``.json``, ``.toml``; anything else: ipvsadm rules).

    :raises ConfigError: a setting that is not valid, or the file cannot be read.
    :raises StateError: the table part does not parse or is not valid.
    """
    return RunConfig.load(os.fspath(path))


def loads(text: str, format: Format = "yaml") -> RunConfig:
    """Read a run file's text in `format`.

    :raises ConfigError: a setting that is not valid.
    :raises StateError: the table part does not parse or is not valid.
    """
    return RunConfig.loads(text, format)


def from_dict(document: Mapping[str, Any]) -> RunConfig:
    """Read a run file's document (what its YAML or JSON parses to); values
    that JSON does not have (addresses, paths) are passed as ``str()``.

    :raises ConfigError: a setting that is not valid.
    :raises StateError: the table part is not valid.
    """
    return RunConfig.loads(json.dumps(document, default=str), "json")


def _config(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str]) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return from_dict(config)
    return load(config)


class Supervisor:
    """A health-checked run of a table (Rust's ``ipvs::health::Supervisor``),
    started at once on threads of its own.

    `config` is a :class:`RunConfig`, a run file's path or its document.
    The table is the kernel's (through `client`, or a new :class:`~ipvs.Client`),
    or, with `memory`, a table in memory holding that state (for tests and
    dry runs; see :meth:`table` and :meth:`set_table`).

    Iterating yields every :class:`Event` as it happens and ends when the
    run has stopped (raising :class:`RunError` if it failed); waits release
    the GIL and look at signals every 100 ms. :meth:`stop` stops the run,
    its probes and threads (bounded); so does leaving a ``with`` block.

    :param reconcile_period: seconds between reconciles that read the whole
        table and repair drift (transitions reconcile at once).
    :param on_stop: ``"leave"`` the table as it is, or ``"remove"`` every
        service the run manages.
    :param drain: destinations leaving the table with connections drain
        (weight 0) for at most this many seconds first; None: removed at once.
    :param event_capacity: events kept for a slow reader; beyond, the oldest
        are lost (counted in :attr:`missed`).
    :raises ConfigError: `config` does not load (nothing started).
    """

    def __init__(
        self,
        config: RunConfig | Mapping[str, Any] | str | os.PathLike[str],
        *,
        client: Client | None = None,
        memory: State | None = None,
        reconcile_period: float = 5.0,
        on_stop: Literal["leave", "remove"] = "leave",
        drain: float | None = None,
        event_capacity: int = 4096,
    ) -> None:
        self._run = _ipvs.HealthRun(
            _config(config),
            client=None if client is None else client._native,
            memory=memory,
            reconcile_period=reconcile_period,
            on_stop=on_stop,
            drain=drain,
            event_capacity=event_capacity,
        )

    def __iter__(self) -> Iterator[Event]:
        return self._run

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event within `timeout` seconds (None: forever); None if
        none came, or the run has ended and every event was read."""
        return self._run.next_event(timeout)

    @property
    def running(self) -> bool:
        """Whether the run is running."""
        return self._run.running

    @property
    def error(self) -> str | None:
        """Why the run ended, if it failed."""
        return self._run.error

    @property
    def missed(self) -> int:
        """Events lost because the reader was more than `event_capacity` behind."""
        return self._run.missed

    def desired(self, timeout: float = 10.0) -> State | None:
        """The effective desired state now: the configured table with the
        checks' verdicts applied (None once stopped)."""
        return self._run.desired(timeout)

    def reload(
        self,
        config: RunConfig | Mapping[str, Any] | str | os.PathLike[str],
        timeout: float = 30.0,
    ) -> tuple[int, int, int, int] | None:
        """Run `config` from now on; probes unchanged keep their state.
        ``(probes started, stopped, kept, operations applied)``, None once
        stopped.

        :raises ConfigError: `config` does not load; the running one stays.
        """
        return self._run.reload(_config(config), timeout)

    def reload_file(
        self, path: str | os.PathLike[str], timeout: float = 30.0
    ) -> tuple[int, int, int, int] | None:
        """Load `path` in the run and run it (as ``ipvsctl run`` on SIGHUP).

        :raises ConfigError: the file does not load; the running
            configuration stays (and a ``reload-failed`` event says why).
        """
        return self._run.reload_file(os.fspath(path), timeout)

    def table(self) -> State | None:
        """A memory table's state now (None on the kernel's table)."""
        return self._run.table()

    def set_table(self, state: State) -> None:
        """Replace a memory table's state, as an operator with ipvsadm would
        behind the run's back."""
        self._run.set_table(state)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the run (what it does on stop included), its probes and its
        threads, waiting at most `timeout` seconds for the run. Events not
        read yet can still be read."""
        self._run.stop(timeout)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike[str],
    on_event: Callable[[Event], object],
    **options: Any,
) -> None:
    """Run `config` until the run stops or Ctrl-C, calling `on_event` for each
    event (in this thread); then stop it. `options` are :class:`Supervisor`'s.

    :raises ConfigError: `config` does not load (nothing started).
    :raises RunError: the run failed.
    """
    with Supervisor(config, **options) as supervisor:
        for event in supervisor:
            on_event(event)
