"""Director failover: keepalived's VRRP moves the VIPs, its role drives the
IPVS connection sync daemon (the Rust crate's ``ipvs::failover``).

- :class:`Settings`: the VRRP instance and the sync daemon, validated in
  Rust (:class:`SettingsError` names the field); :meth:`Settings.keepalived_config`
  renders keepalived's configuration.
- :class:`Role`: ``MASTER``, ``BACKUP``, ``FAULT``, ``STOP``.
- :class:`Failover`: runs ``keepalived --vrrp`` as a supervised child (or
  attaches to one already running through its notify FIFO) on threads of
  its own, and yields every role change and sync-daemon change as an
  :class:`Event`.

::

    from ipvs import failover

    settings = failover.Settings("eth0", 51, 150, ["198.51.100.100/24"])
    with failover.Failover(settings) as run:
        for event in run:
            print(event)         # role (none) -> BACKUP (priority 150)
"""

from __future__ import annotations

import enum
import json
from typing import Any, Iterator

from . import _ipvs
from .client import Client
from .errors import IpvsError

__all__ = ["Settings", "Role", "Event", "Failover", "SettingsError", "StartError"]

Event = _ipvs.FailoverEvent


class Role(str, enum.Enum):
    """A director's VRRP role (the words are the Rust crate's and keepalived's)."""

    MASTER = "MASTER"
    """Holds the VIPs: the table is active, the sync daemon sends."""
    BACKUP = "BACKUP"
    """Listens to the master: the table is ready, the sync daemon receives."""
    FAULT = "FAULT"
    """VRRP cannot run (interface down, keepalived gone): no VIPs."""
    STOP = "STOP"
    """VRRP stopped: no VIPs."""

    def __str__(self) -> str:
        return self.value


class SettingsError(IpvsError, ValueError):
    """Failover settings that cannot work, raised before anything starts: a
    virtual router id or priority out of range, VIPs of mixed families or
    outside the interface's, keepalived not installed, the interface
    missing. :attr:`field` names the setting (``priority``, ``vips``,
    ``keepalived.binary``...)."""

    field: str

    def __init__(self, message: str, *, field: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field


class StartError(IpvsError):
    """Failover could not start: its runtime directory, configuration or
    notify FIFO could not be made, or ``keepalived --config-test`` refused
    the configuration."""


def _from_native(kind: str, message: str, details: str) -> IpvsError:
    """Build the exception for a Rust error (called by the extension)."""
    d = json.loads(details)
    if kind == "Settings":
        return SettingsError(message, field=d.get("field", ""))
    return StartError(message)


Settings = _ipvs.FailoverSettings
"""A director's failover settings: the ``failover:`` block of a run file,
validated in Rust (:class:`SettingsError` names the field)."""


class Failover:
    """A running failover (Rust's ``Failover::start``): the settings are
    checked on this host, keepalived started (or attached to) and its role
    followed, each role change bringing the sync daemons to it through
    `client` (or a new :class:`~ipvs.Client`).

    Iterating yields every :class:`Event` since the start and ends once
    stopped; waits release the GIL and look at signals every 100 ms.

    :raises SettingsError: the settings cannot work on this host.
    :raises StartError: the files or keepalived's configuration test failed.
    """

    def __init__(self, settings: Settings, *, client: Client | None = None) -> None:
        self._run = _ipvs.FailoverRun(
            settings, client=None if client is None else client._native
        )

    @property
    def role(self) -> Role | None:
        """The role now (None before keepalived's first report)."""
        r = self._run.role
        return None if r is None else Role(r)

    @property
    def running(self) -> bool:
        """Whether failover runs (not stopped)."""
        return self._run.running

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event within `timeout` seconds (None: forever); None if
        none came, or failover stopped and every event was read."""
        return self._run.next_event(timeout)

    def __iter__(self) -> Iterator[Event]:
        return self._run

    def stop(self, timeout: float = 15.0) -> None:
        """Stop: keepalived (if ours) gets SIGTERM and releases the VIPs,
        the sync daemons become what ``on_stop`` says. Bounded by `timeout`."""
        self._run.stop(timeout)

    def __enter__(self) -> Failover:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def roles() -> list[str]:
    """The roles' words as the Rust crate writes them."""
    return _ipvs.failover_roles()
