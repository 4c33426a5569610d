"""Whole IPVS tables as values, and the loop that makes the kernel's table
the one wanted: read it, diff it, apply the plan.

- :class:`State`: every service with its destinations (:class:`ServiceState`),
  plus the connection timeouts. Built in code, read from the kernel
  (:meth:`State.read`), from ipvsadm's rules (:meth:`State.from_rules`) or
  from JSON, YAML or TOML (:meth:`State.load`, :meth:`State.loads`).
- :func:`diff`: the smallest :class:`Plan` of operations from one state to
  another; settings change in place, never by delete and add. Removed
  destinations can drain first (:class:`DrainOptions`).
- :meth:`Plan.apply`: send a plan to the kernel in batches and learn
  exactly what was applied (:class:`ApplyReport`), rolling back on failure
  if asked.
- :class:`Reconciler`: the reconcile loop, drains remembered from one round
  to the next.

Everything is the Rust crate's ``ipvs::state`` and ``ipvs::rules``: the
diff, the rules parser and writer, the config formats and the apply all run
in Rust (kernel calls with the GIL released).

>>> from ipvs import Destination, Scheduler, Service, ServiceKey, ServiceState, State, diff
>>> key = ServiceKey.tcp("192.0.2.10", 80)
>>> desired = State([ServiceState(Service(key, Scheduler.WRR), [Destination("192.0.2.21", 80, weight=3)])])
>>> plan = diff(State(), desired)
>>> print(plan.to_rules(), end="")
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 3
>>> diff(plan.apply_to(State()), desired).empty
True
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence, overload

from . import _ipvs
from .errors import IpvsError
from .model import (
    AddressLike,
    Destination,
    IPAddress,
    Service,
    ServiceKey,
    Timeouts,
    _addr,
    _inst,
    _int,
    _key,
    _repr,
    _setattrs,
)
from .ops import Operation, UpdateDestination

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "ServiceState",
    "State",
    "StateError",
    "RulesError",
    "Format",
    "diff",
    "DrainOptions",
    "DrainTracker",
    "Draining",
    "DrainDestination",
    "Plan",
    "PlanSummary",
    "OnError",
    "FailedOperation",
    "Rollback",
    "ApplyReport",
    "Reconciler",
    "Step",
    "parse_rules",
]

Format = Literal["json", "yaml", "toml", "rules"]
"""A state file's format: JSON, YAML, TOML, or ipvsadm's rules (``-S -n``)."""

OnError = Literal["stop", "continue"]
"""After an operation the kernel refuses: send nothing after the batch
that held it (``"stop"``), or attempt every operation (``"continue"``)."""

_EXTENSIONS: dict[str, Format] = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".rules": "rules",
    ".ipvs": "rules",
    ".ipvsadm": "rules",
    ".conf": "rules",
}


# --------------------------------------------------------------------------
# Errors.


class StateError(IpvsError, ValueError):
    """A state that cannot be read or is not valid: a service or destination
    defined twice, one the kernel would refuse, or a document that does not
    parse (JSON, YAML, TOML; ipvsadm rules raise the subclass
    :class:`RulesError`).

    Also a ``ValueError``: it is always about the input, raised before
    anything is sent.
    """

    kind: str
    """What is wrong: ``"DuplicateService"``, ``"DuplicateDest"``,
    ``"InvalidService"``, ``"InvalidDest"``, ``"Rules"`` (a rule that does
    not parse), ``"Rule"`` (one that cannot apply to the rules before it),
    ``"Json"``, ``"Yaml"`` or ``"Toml"``."""
    reason: str | None
    """The finer reason, as the Rust error variant's name (``"BadValue"``,
    ``"ThresholdOrder"``, ``"NoSuchService"``...), when there is one."""
    service: ServiceKey | None
    """The service concerned, if any."""
    address: IPAddress | None
    """The destination's address, if a destination is concerned."""
    port: int | None
    """The destination's port, if a destination is concerned."""
    field: str | None
    """The field the kernel would refuse, for ``InvalidService`` and ``InvalidDest``."""
    line: int | None
    """The line of the document (from 1), when known."""
    column: int | None
    """The column (from 1, in characters), when known."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "Invalid",
        reason: str | None = None,
        service: ServiceKey | None = None,
        address: IPAddress | None = None,
        port: int | None = None,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.service = service
        self.address = address
        self.port = port
        self.field = field
        self.line = line
        self.column = column

    def __repr__(self) -> str:
        where = "" if self.line is None else f", line={self.line}, column={self.column}"
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r}{where})"


class RulesError(StateError):
    """ipvsadm rules that ipvsadm would not take: :attr:`line` and
    :attr:`column` (from 1) say where.

    ``kind`` is ``"Rules"`` for a line that does not parse (``reason`` then
    names what: ``"BadValue"``, ``"UnknownOption"``, ``"MissingValue"``...)
    or ``"Rule"`` for a rule that cannot apply to the ones before it, such
    as ``-a`` for a service never added (``reason``: ``"NoSuchService"``,
    ``"ServiceExists"``...; the column is then 1, the rule's start).
    """

    line: int
    column: int
    detail: str
    """The message without its ``line L, column C:`` prefix."""

    def __init__(self, message: str, *, line: int, column: int, detail: str = "", **kw: Any) -> None:
        super().__init__(message, line=line, column=column, **kw)
        self.detail = detail or message


def _state_error(kind: str, message: str, details: str) -> StateError:
    """Build the exception for a Rust ``StateError`` (called by the extension)."""
    d = json.loads(details)
    kw: dict[str, Any] = {
        "kind": kind,
        "reason": d.get("reason"),
        "line": d.get("line"),
        "column": d.get("column"),
        "field": d.get("field"),
    }
    if "service" in d:
        kw["service"] = ServiceKey.from_dict(d["service"])
    if "address" in d:
        kw["address"] = ipaddress.ip_address(d["address"])
        kw["port"] = d["port"]
    if kind in ("Rules", "Rule"):
        message = f"line {d['line']}, column {d['column']}: {d['message']}"
        return RulesError(message, detail=d.get("message", message), **kw)
    if kind in ("Json", "Yaml", "Toml") and kw["line"] is not None and "line" not in message:
        message = f"{message} (line {kw['line']}, column {kw['column']})"
    return StateError(message, **kw)


# --------------------------------------------------------------------------
# States.


@dataclass(frozen=True, slots=True, init=False, repr=False)
class ServiceState:
    """A virtual service and its destinations.

    In JSON, YAML and TOML the service's fields and ``destinations`` sit
    side by side::

        {"protocol": "tcp", "address": "192.0.2.10", "port": 80, "scheduler": "wrr",
         "destinations": [{"address": "192.0.2.21", "port": 80, "forward": "direct_route", "weight": 3}]}
    """

    service: Service
    """The service."""
    destinations: tuple[Destination, ...]
    """Its destinations (real servers), in the order given."""

    def __init__(self, service: Service, destinations: Iterable[Destination] = ()) -> None:
        _setattrs(
            self,
            service=_inst("service", service, Service),
            destinations=tuple(_inst("destinations", d, Destination) for d in destinations),
        )

    @property
    def key(self) -> ServiceKey:
        """The service's key."""
        return self.service.key

    def destination(self, address: AddressLike, port: int) -> Destination | None:
        """The destination at `address` and `port`, if there is one."""
        a, p = _addr("address", address), _int("port", port, 16)
        for d in self.destinations:
            if d.address == a and d.port == p:
                return d
        return None

    def with_destination(self, destination: Destination) -> ServiceState:
        """A copy with one more destination."""
        return ServiceState(self.service, self.destinations + (destination,))

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``service, destinations``."""
        yield self.service
        yield self.destinations

    def __repr__(self) -> str:
        return _repr(self, (self.service, list(self.destinations)), {})

    def to_dict(self) -> dict[str, Any]:
        """The serde form: the service's fields and ``destinations``."""
        d = self.service.to_dict()
        d["destinations"] = [x.to_dict() for x in self.destinations]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceState:
        """Read the serde form."""
        return cls(Service.from_dict(d), [Destination.from_dict(x) for x in d.get("destinations", ())])


def _make_service_state(service: Service, destinations: tuple[Destination, ...]) -> ServiceState:
    """A ServiceState of values the extension built (no checks needed)."""
    s = object.__new__(ServiceState)
    _setattrs(s, service=service, destinations=destinations)
    return s


def _make_state(services: tuple[ServiceState, ...], timeouts: Timeouts | None) -> State:
    s = object.__new__(State)
    _setattrs(s, services=services, timeouts=timeouts)
    return s


def _format_of(path: str | os.PathLike[str], format: Format | None) -> Format:
    if format is not None:
        if format not in ("json", "yaml", "toml", "rules"):
            raise ValueError(f"format: expected json, yaml, toml or rules, got {format!r}")
        return format
    ext = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return _EXTENSIONS[ext]
    except KeyError:
        raise ValueError(
            f"{os.fspath(path)}: cannot tell the format from {ext or 'no extension'!r}; "
            "pass format='json', 'yaml', 'toml' or 'rules'"
        ) from None


@dataclass(frozen=True, slots=True, init=False, repr=False)
class State:
    """The whole IPVS table of a network namespace: services with their
    destinations, and the connection timeouts. A value: immutable, hashable,
    equal to another with the same services in the same order
    (:meth:`config_eq` compares settings in any order, stats aside).

    ``timeouts=None`` leaves the kernel's timeouts alone; in a
    :class:`~ipvs.Timeouts`, 0 means "whatever the kernel has" (as with
    ``ipvsadm --set``).

    >>> State.from_rules("-A -t 192.0.2.10:80 -s rr\\n").services[0].service
    Service(ServiceKey.tcp('192.0.2.10', 80), Scheduler.ROUND_ROBIN)
    """

    services: tuple[ServiceState, ...]
    """The virtual services, in the order given."""
    timeouts: Timeouts | None
    """The connection timeouts, if this state sets them."""

    def __init__(
        self,
        services: Iterable[ServiceState | tuple[Service, Iterable[Destination]]] = (),
        timeouts: Timeouts | None = None,
    ) -> None:
        items = []
        for i, s in enumerate(services):
            if not isinstance(s, ServiceState):
                if isinstance(s, tuple) and len(s) == 2:
                    s = ServiceState(s[0], s[1])
                else:
                    raise TypeError(
                        f"services[{i}]: expected a ServiceState or (service, destinations), "
                        f"got {type(s).__name__}"
                    )
            items.append(s)
        _setattrs(
            self,
            services=tuple(items),
            timeouts=None if timeouts is None else _inst("timeouts", timeouts, Timeouts),
        )

    # -- reading --------------------------------------------------------

    @classmethod
    def read(cls, client: Client) -> State:
        """The kernel's whole table, in one snapshot: every service with its
        destinations (with stats and connection counts), and the timeouts.
        The GIL is released while the kernel answers."""
        return _ipvs.state_read(client._native)

    @classmethod
    def from_rules(cls, text: str) -> State:
        """The state that running ipvsadm rules (``ipvsadm -S -n`` output,
        or anything ``ipvsadm -R`` takes) on an empty table gives.

        :raises RulesError: a line does not parse, or a rule cannot apply
            (``-a`` before its ``-A``...); ``line`` and ``column`` say where.
        :raises StateError: the result is not valid.
        """
        return _ipvs.state_loads("rules", _text(text))

    @classmethod
    def loads(cls, text: str | bytes, format: Format = "json") -> State:
        """Read a state from JSON, YAML, TOML or ipvsadm rules text, and
        validate it (:meth:`validate`).

        :raises StateError: the text does not parse or is not a valid state
            (``line`` and ``column`` say where, when the parser does);
            :class:`RulesError` for rules.
        """
        if format not in ("json", "yaml", "toml", "rules"):
            raise ValueError(f"format: expected json, yaml, toml or rules, got {format!r}")
        return _ipvs.state_loads(format, _text(text))

    @classmethod
    def load(cls, path: str | os.PathLike[str], format: Format | None = None) -> State:
        """Read a state file; the format comes from the extension
        (``.json``, ``.yaml``/``.yml``, ``.toml``, ``.rules``/``.ipvs``)
        unless given."""
        fmt = _format_of(path, format)
        with open(path, encoding="utf-8") as f:
            return cls.loads(f.read(), fmt)

    @classmethod
    def from_json(cls, text: str | bytes) -> State:
        """:meth:`loads` of JSON."""
        return cls.loads(text, "json")

    @classmethod
    def from_yaml(cls, text: str | bytes) -> State:
        """:meth:`loads` of YAML (enums as maps or plain names, as in JSON:
        ``forward: {tunnel: {type: ipip}}``, ``forward: direct_route``)."""
        return cls.loads(text, "yaml")

    @classmethod
    def from_toml(cls, text: str | bytes) -> State:
        """:meth:`loads` of TOML (``[[services]]`` with ``[[services.destinations]]``)."""
        return cls.loads(text, "toml")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> State:
        """Read the serde form (``{"timeouts": {...}, "services": [...]}``),
        and validate it."""
        return cls.loads(json.dumps(d), "json")

    # -- writing --------------------------------------------------------

    def dumps(self, format: Format = "json") -> str:
        """The state as JSON (pretty-printed), YAML, TOML, or ipvsadm rules
        (:meth:`to_rules`)."""
        if format not in ("json", "yaml", "toml", "rules"):
            raise ValueError(f"format: expected json, yaml, toml or rules, got {format!r}")
        return _ipvs.state_dumps(format, self)

    def dump(self, path: str | os.PathLike[str], format: Format | None = None) -> None:
        """Write a state file; the format comes from the extension unless given."""
        text = self.dumps(_format_of(path, format))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def to_json(self) -> str:
        """The state as pretty-printed JSON (the Rust serde form)."""
        return _ipvs.state_dumps("json", self)

    def to_yaml(self) -> str:
        """The state as YAML, in the shape :meth:`from_yaml` reads."""
        return _ipvs.state_dumps("yaml", self)

    def to_toml(self) -> str:
        """The state as TOML."""
        return _ipvs.state_dumps("toml", self)

    def to_dict(self) -> dict[str, Any]:
        """The serde form: ``{"timeouts": {...}, "services": [...]}`` (no
        ``timeouts`` when ``None``)."""
        d: dict[str, Any] = json.loads(_ipvs.state_dumps("json-compact", self))
        return d

    def to_rules(self, *, ipvsadm: bool = False) -> str:
        """The state as ipvsadm rules, in ipvsadm's listing order: ``--set``
        first if the state sets timeouts, then each service (``-A``) and its
        destinations (``-a``), thresholds included.

        With ``ipvsadm=True``, exactly what ``ipvsadm -S -n`` prints for
        this table: no ``--set`` and no thresholds, which ipvsadm's save
        never writes.
        """
        return _ipvs.state_dumps("ipvsadm" if ipvsadm else "rules", self)

    # -- queries --------------------------------------------------------

    def validate(self) -> None:
        """Check the state as the kernel would: no key twice, and every
        service and destination valid.

        :raises StateError: naming the service (and destination, and field).
        """
        _ipvs.state_validate(self)

    def config(self) -> State:
        """This state sorted in ipvsadm's listing order, without what only
        the kernel reports (stats, connection counts)."""
        return _ipvs.state_config(self)

    def sorted(self) -> State:
        """This state in ipvsadm's listing order (services, then each one's
        destinations)."""
        return _ipvs.state_sorted(self)

    def config_eq(self, other: State) -> bool:
        """Whether two states hold the same settings, in whatever order,
        stats and connection counts aside."""
        return _ipvs.state_config_eq(self, _inst("other", other, State))

    def service(self, key: ServiceKey | Service) -> ServiceState | None:
        """The service with `key`, if there is one."""
        k = _key("key", key)
        for s in self.services:
            if s.service.key == k:
                return s
        return None

    @property
    def destination_count(self) -> int:
        """How many destinations all services have together."""
        return sum(len(s.destinations) for s in self.services)

    def with_service(self, service: ServiceState | Service, destinations: Iterable[Destination] = ()) -> State:
        """A copy with one more service."""
        if isinstance(service, Service):
            service = ServiceState(service, destinations)
        return State(self.services + (_inst("service", service, ServiceState),), self.timeouts)

    def with_timeouts(self, timeouts: Timeouts | None) -> State:
        """A copy with other timeouts."""
        return State(self.services, timeouts)

    def __len__(self) -> int:
        """How many services."""
        return len(self.services)

    def __iter__(self) -> Iterator[ServiceState]:
        return iter(self.services)

    def __repr__(self) -> str:
        kw: dict[str, Any] = {}
        if self.timeouts is not None:
            kw["timeouts"] = self.timeouts
        return _repr(self, (list(self.services),), kw)


def _text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, got {type(text).__name__}")
    return text


def parse_rules(text: str | bytes) -> list[tuple[int, str]]:
    """Check ipvsadm rules without running them: each rule as ``(line,
    rule)``, the rule written back in canonical form (defaults filled in,
    as ``ipvsadm -S -n`` would print it, thresholds included).

    :raises RulesError: a line does not parse.
    """
    return _ipvs.rules_parse(_text(text))


# --------------------------------------------------------------------------
# Draining.


def _seconds_since_epoch(field: str, t: float | datetime.datetime | None) -> float | None:
    if t is None:
        return None
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            raise ValueError(f"{field}: a naive datetime is ambiguous; give it a timezone")
        return t.timestamp()
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise TypeError(f"{field}: expected seconds since the epoch or a datetime, got {type(t).__name__}")
    return float(t)


def _duration(field: str, d: float | datetime.timedelta) -> float:
    if isinstance(d, datetime.timedelta):
        d = d.total_seconds()
    if isinstance(d, bool) or not isinstance(d, (int, float)):
        raise TypeError(f"{field}: expected seconds or a timedelta, got {type(d).__name__}")
    if not d >= 0 or d == float("inf"):
        raise ValueError(f"{field}: {d} is not a number of seconds")
    return float(d)


@dataclass(frozen=True, slots=True)
class Draining:
    """A destination being drained (:attr:`Plan.draining`): at weight 0,
    taking no new connections while its own finish."""

    service: ServiceKey
    """The service."""
    address: IPAddress
    """The destination's address."""
    port: int
    """The destination's port."""
    since: float
    """When the drain started (seconds since the epoch, as ``time.time()``)."""
    deadline: float
    """When it will be deleted whatever its connections."""
    active: int
    """Active connections left."""
    inactive: int
    """Inactive connections left."""
    service_removed: bool
    """Whether the whole service goes away once its destinations are drained."""

    def __str__(self) -> str:
        """As ``ipvsctl`` prints it: ``draining TCP 192.0.2.10:80 ->
        192.0.2.21:80: 3 active, 0 inactive connections; deleted when none
        are left, at the latest in 60 s``."""
        return _ipvs.draining_text(self)


@dataclass(frozen=True, slots=True, init=False)
class DrainTracker:
    """When each draining destination started draining: what one diff hands
    the next (:attr:`Plan.drain_tracker`, :attr:`DrainOptions.tracker`).
    Keep it (:meth:`to_json`) to resume drains after a restart."""

    entries: tuple[tuple[ServiceKey, IPAddress, int, float], ...]
    """``(service, address, port, since)`` of each drain, ``since`` in
    seconds since the epoch."""

    def __init__(self, entries: Iterable[tuple[ServiceKey | Service, AddressLike, int, float]] = ()) -> None:
        items = []
        for key, address, port, since in entries:
            s = _seconds_since_epoch("since", since)
            if s is None:
                raise TypeError("since: expected seconds since the epoch or a datetime, got None")
            items.append((_key("service", key), _addr("address", address), _int("port", port, 16), s))
        _setattrs(self, entries=tuple(items))

    def since(self, service: ServiceKey | Service, address: AddressLike, port: int) -> float | None:
        """When the drain of that destination started, if it is draining."""
        k, a, p = _key("service", service), _addr("address", address), _int("port", port, 16)
        for key, addr, prt, t in self.entries:
            if key == k and addr == a and prt == p:
                return t
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[tuple[ServiceKey, IPAddress, int, float]]:
        return iter(self.entries)

    def to_json(self) -> str:
        """The drain-state file ``ipvsctl --drain-state`` keeps: the two read
        each other's files."""
        return _ipvs.tracker_dumps(self.entries)

    @classmethod
    def from_json(cls, text: str | bytes) -> DrainTracker:
        """Read what :meth:`to_json` or ``ipvsctl --drain-state`` wrote."""
        return cls(_ipvs.tracker_loads(_text(text)))


@dataclass(frozen=True, slots=True, init=False)
class DrainOptions:
    """Draining in :func:`diff`: a destination (or a service's destinations)
    the desired state no longer has, but that still has active or inactive
    connections, is first set to weight 0 (:class:`DrainDestination`) and
    deleted by a later diff, once its connections are gone or `deadline`
    seconds after the drain started.

    `now` is the time of the diff (``None``: now); `tracker` is when the
    drains under way started (the previous plan's
    :attr:`Plan.drain_tracker`). :class:`Reconciler` does that bookkeeping.
    """

    deadline: float
    """The longest drain, in seconds."""
    now: float | None
    """The diff's time, in seconds since the epoch (``None``: the time of the call)."""
    tracker: DrainTracker | None
    """Drains under way."""

    def __init__(
        self,
        deadline: float | datetime.timedelta,
        now: float | datetime.datetime | None = None,
        tracker: DrainTracker | None = None,
    ) -> None:
        _setattrs(
            self,
            deadline=_duration("deadline", deadline),
            now=_seconds_since_epoch("now", now),
            tracker=None if tracker is None else _inst("tracker", tracker, DrainTracker),
        )


def diff(
    actual: State,
    desired: State,
    drain: DrainOptions | float | datetime.timedelta | None = None,
) -> Plan:
    """The operations that turn `actual` into `desired` (Rust's
    ``ipvs::state::diff``).

    Only settings are compared: stats and connection counts never cause an
    operation. A change of key (service key; destination address and port)
    is a delete and an add, anything else an update in place. Order, make
    before break: timeouts, then for each desired service its add or
    update, its destinations' adds, updates, drains and deletes; then the
    deletes of the services `desired` lacks.

    `drain` (a :class:`DrainOptions`, or just the deadline in seconds):
    removed destinations that still have connections drain at weight 0
    instead of being deleted; :attr:`Plan.draining` lists them.
    """
    _inst("actual", actual, State)
    _inst("desired", desired, State)
    if drain is not None and not isinstance(drain, DrainOptions):
        drain = DrainOptions(drain)
    return Plan._wrap(_ipvs.diff(actual, desired, drain))


# --------------------------------------------------------------------------
# Plans.


@dataclass(frozen=True, slots=True, init=False, repr=False)
class DrainDestination(UpdateDestination):
    """Start draining a destination that is going away: its settings at
    weight 0, so it takes no new connections while its own finish. Sent as
    an :class:`~ipvs.UpdateDestination`."""

    def __init__(self, key: ServiceKey | Service, destination: Destination) -> None:
        UpdateDestination.__init__(self, key, destination)
        if self.destination.weight != 0:
            _setattrs(self, destination=self.destination.replace(weight=0))

    def __str__(self) -> str:
        return f"drain destination {self.destination} of {self.key}"


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """How many operations of each kind a plan has."""

    set_timeouts: int = 0
    add_services: int = 0
    update_services: int = 0
    delete_services: int = 0
    add_destinations: int = 0
    update_destinations: int = 0
    drain_destinations: int = 0
    delete_destinations: int = 0

    @property
    def total(self) -> int:
        """Every operation."""
        return sum(getattr(self, f.name) for f in dataclasses.fields(self))

    def __str__(self) -> str:
        """As ``ipvsctl`` prints it: ``3 operations: 1 services added, 2
        destinations added``, or ``no changes``."""
        return _ipvs.summary_text(self)


class Plan(Sequence[Operation]):
    """What :func:`diff` found: the operations to send, in order
    (:class:`~ipvs.SetTimeouts`, :class:`~ipvs.AddService`,
    :class:`~ipvs.UpdateService`, :class:`~ipvs.DeleteService`,
    :class:`~ipvs.AddDestination`, :class:`~ipvs.UpdateDestination`,
    :class:`DrainDestination`, :class:`~ipvs.DeleteDestination`), and the
    destinations draining (:attr:`draining`).

    A sequence of its operations (``len``, iteration, indexing); false when
    empty. ``str()`` is the plan as ipvsadm rules; :meth:`to_json` the Rust
    serde form. ``Plan(ops)`` makes one from operations.
    """

    __slots__ = ("_native", "_ops", "_draining")

    _native: _ipvs.Plan
    _ops: tuple[Operation, ...]
    _draining: tuple[Draining, ...] | None

    def __init__(self, ops: Iterable[Operation] = ()) -> None:
        ops = list(ops)
        for i, op in enumerate(ops):
            if not isinstance(op, Operation):
                raise TypeError(f"operation {i}: expected an Operation, got {type(op).__name__}")
        self._native = _ipvs.Plan(ops)
        self._ops = tuple(self._native.ops())
        self._draining = None

    @classmethod
    def _wrap(cls, native: _ipvs.Plan) -> Plan:
        p = object.__new__(cls)
        p._native = native
        p._ops = tuple(native.ops())
        p._draining = None
        return p

    @property
    def ops(self) -> tuple[Operation, ...]:
        """The operations, in the order to send them."""
        return self._ops

    @property
    def draining(self) -> tuple[Draining, ...]:
        """Destinations draining after this plan (those it starts draining
        and those still waiting), with their connection counts."""
        if self._draining is None:
            self._draining = tuple(self._native.draining())
        return self._draining

    @property
    def drain_tracker(self) -> DrainTracker:
        """The drains under way after this plan, for the next diff's
        :attr:`DrainOptions.tracker`."""
        return DrainTracker(self._native.drain_tracker())

    @property
    def empty(self) -> bool:
        """Whether there is nothing to send (drains may still be waiting)."""
        return not self._ops

    @property
    def summary(self) -> PlanSummary:
        """How many operations of each kind."""
        return PlanSummary(**self._native.summary())

    def __len__(self) -> int:
        return len(self._ops)

    def __bool__(self) -> bool:
        return bool(self._ops)

    @overload
    def __getitem__(self, i: int) -> Operation: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Operation]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self._ops[i]

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self._native == other._native

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ipvs.Plan: {self.summary}>"

    def __str__(self) -> str:
        return self.to_rules()

    def to_rules(self, *, thresholds: bool = True) -> str:
        """The operations as ipvsadm rules, one a line (``--set``, ``-A``,
        ``-E``, ``-D``, ``-a``, ``-e``, ``-d``; a drain is an ``-e`` at
        weight 0); what ``ipvsadm -R`` would do the same with.
        ``thresholds=False`` leaves out ``-x``/``-y``, as ipvsadm's save does."""
        return self._native.rules(thresholds)

    def op_rules(self) -> list[str]:
        """Each operation as one ipvsadm rule."""
        return self._native.op_rules()

    def to_json(self, *, pretty: bool = True) -> str:
        """The plan as JSON, the Rust serde form:
        ``{"ops": [{"op": "add_service", "service": {...}}, ...], "draining": [...]}``."""
        return self._native.to_json(pretty)

    def to_dict(self) -> dict[str, Any]:
        """``json.loads(self.to_json())``."""
        d: dict[str, Any] = json.loads(self._native.to_json(False))
        return d

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """A plan from its JSON (:meth:`to_json`).

        :raises ValueError: not a plan.
        """
        return cls._wrap(_ipvs.Plan.from_json(_text(text)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        """A plan from its serde form."""
        return cls.from_json(json.dumps(d))

    def apply_to(self, state: State) -> State:
        """What the plan does to `state`, in memory, as the kernel would do
        it: a dry run. Settings change; stats and counts of what stays are
        kept.

        :raises ServiceExists, ServiceNotFound, DestinationExists,
            DestinationNotFound: what the kernel would refuse first.
        """
        return _ipvs.Plan.apply_to(self._native, _inst("state", state, State))

    def apply(
        self,
        client: Client,
        actual: State,
        *,
        rollback: bool = False,
        on_error: OnError = "stop",
        chunk: int = 256,
    ) -> ApplyReport:
        """Send the plan to the kernel in batches (many operations per
        system call), with the GIL released, and report what became of each
        operation.

        Every operation is validated before anything is sent (an invalid
        one is reported failed, with a :class:`~ipvs.ValidationError`, and
        the rest not attempted). `actual` is the table the plan was diffed
        from: what a rollback restores.

        :param rollback: if anything was not applied, undo what was (the
            inverse of each applied operation, last first).
        :param on_error: ``"stop"`` (send nothing after the batch holding
            the first refusal; `chunk` operations go per batch) or
            ``"continue"`` (attempt every operation).
        :returns: an :class:`ApplyReport`; it raises nothing for refusals
            (see :meth:`ApplyReport.raise_for_error`).
        """
        from .client import Client as _Client

        _inst("client", client, _Client)
        _inst("actual", actual, State)
        if on_error not in ("stop", "continue"):
            raise ValueError(f"on_error: expected 'stop' or 'continue', got {on_error!r}")
        chunk = _int("chunk", chunk, 32)
        if chunk < 1:
            raise ValueError("chunk: must be at least 1")
        return ApplyReport._from_native(
            self._native.apply(client._native, actual, bool(rollback), on_error, chunk)
        )


# --------------------------------------------------------------------------
# Reports.


@dataclass(frozen=True, slots=True)
class FailedOperation:
    """An operation the kernel (or validation) refused."""

    index: int
    """Its index in the plan (in the rollback's operations, for a rollback's)."""
    op: Operation
    """The operation."""
    error: IpvsError
    """Why: the exception the kernel's refusal is (``ServiceNotFound``...)."""

    def __str__(self) -> str:
        return f"operation {self.index}: {self.op}: {self.error}"


@dataclass(frozen=True, slots=True)
class Rollback:
    """Undoing what a failed apply had applied."""

    ops: tuple[Operation, ...]
    """The inverse operations sent, in the order sent (the last applied operation's first)."""
    applied: tuple[Operation, ...]
    """Those the kernel applied."""
    failed: tuple[FailedOperation, ...]
    """Those it refused."""
    not_invertible: tuple[Operation, ...]
    """Applied operations that could not be inverted (`actual` did not have
    what they changed: it was not the table the plan was diffed from)."""

    @property
    def complete(self) -> bool:
        """Whether everything applied was undone."""
        return not self.failed and not self.not_invertible


class ApplyReport:
    """What :meth:`Plan.apply` did: every operation of the plan is in
    exactly one of :attr:`applied`, :attr:`failed`, :attr:`not_attempted`
    and :attr:`in_doubt`, each in plan order."""

    __slots__ = ("applied", "failed", "not_attempted", "in_doubt", "rollback", "_text", "_json")

    applied: tuple[Operation, ...]
    """Applied by the kernel."""
    failed: tuple[FailedOperation, ...]
    """Refused, by the kernel or (before anything was sent) by validation."""
    not_attempted: tuple[Operation, ...]
    """Never sent."""
    in_doubt: tuple[Operation, ...]
    """Sent, but the socket failed or timed out before the kernel said what
    became of them, and reading the table back could not settle it."""
    rollback: Rollback | None
    """The rollback, if one was asked for and something was not applied."""
    _text: str
    _json: str

    @classmethod
    def _from_native(cls, d: dict[str, Any]) -> ApplyReport:
        r = object.__new__(cls)
        r.applied = tuple(d["applied"])
        r.failed = tuple(FailedOperation(*f) for f in d["failed"])
        r.not_attempted = tuple(d["not_attempted"])
        r.in_doubt = tuple(d["in_doubt"])
        rb = d["rollback"]
        r.rollback = (
            None
            if rb is None
            else Rollback(
                tuple(rb["ops"]),
                tuple(rb["applied"]),
                tuple(FailedOperation(*f) for f in rb["failed"]),
                tuple(rb["not_invertible"]),
            )
        )
        r._text = d["text"]
        r._json = d["json"]
        return r

    @property
    def ok(self) -> bool:
        """Whether the whole plan was applied."""
        return not self.failed and not self.not_attempted and not self.in_doubt

    @property
    def unchanged(self) -> bool:
        """Whether the table is as it was before: nothing was applied, or
        all of it was rolled back."""
        return not self.in_doubt and (
            not self.applied or (self.rollback is not None and self.rollback.complete)
        )

    @property
    def first_error(self) -> IpvsError | None:
        """The first refusal, if any."""
        return self.failed[0].error if self.failed else None

    def raise_for_error(self) -> None:
        """Raise the first refusal, or :class:`~ipvs.NotAttempted` if
        operations were left in doubt or not attempted; nothing if the whole
        plan was applied."""
        if self.failed:
            raise self.failed[0].error
        if self.in_doubt or self.not_attempted:
            from .errors import NotAttempted

            reason = f"{len(self.in_doubt)} operations in doubt, {len(self.not_attempted)} not attempted"
            raise NotAttempted(f"not attempted: {reason}", reason=reason)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        """A summary, then each refusal, and the rollback's outcome."""
        return self._text

    def __repr__(self) -> str:
        return f"<ipvs.ApplyReport: {self._text.splitlines()[0]}>"

    def to_json(self) -> str:
        """The report as JSON (the Rust form: refusals as ``{"index", "op",
        "error": message, "errno"}``)."""
        return self._json


# --------------------------------------------------------------------------
# The reconcile loop.


@dataclass(frozen=True, slots=True)
class Step:
    """One round of the reconcile loop (:meth:`Reconciler.step`)."""

    at: float
    """When the table was read (seconds since the epoch)."""
    plan: Plan
    """The plan from the table read to the desired one."""
    report: ApplyReport
    """What became of it."""

    @property
    def draining(self) -> tuple[Draining, ...]:
        """The destinations draining after this round."""
        return self.plan.draining

    @property
    def settled(self) -> bool:
        """Whether the table is the desired one: the plan was applied whole
        and nothing is left draining."""
        return self.report.ok and not self.plan.draining


class Reconciler:
    """The reconcile loop's memory: diffs that remember the drains under way
    from one round to the next (Rust's ``ipvs::state::Reconciler``).

    ::

        r = Reconciler(drain=300)
        while not (step := r.step(client, desired)).settled:
            print(step.draining)
            time.sleep(1)

    :param drain: the longest drain in seconds (removed destinations with
        connections drain at weight 0 first), or ``None`` to delete at once.
    """

    __slots__ = ("_native", "_drain")

    def __init__(self, drain: float | datetime.timedelta | None = None) -> None:
        self._drain = None if drain is None else _duration("drain", drain)
        self._native = _ipvs.Reconciler(self._drain)

    @property
    def drain(self) -> float | None:
        """The longest drain, in seconds (``None``: no draining)."""
        return self._drain

    def plan(self, actual: State, desired: State, now: float | datetime.datetime | None = None) -> Plan:
        """The plan from `actual` to `desired` at `now`; remembers the
        drains it leaves under way for the next call."""
        return Plan._wrap(
            self._native.plan(
                _inst("actual", actual, State), _inst("desired", desired, State), _seconds_since_epoch("now", now)
            )
        )

    def step(
        self,
        client: Client,
        desired: State,
        *,
        rollback: bool = False,
        on_error: OnError = "stop",
        chunk: int = 256,
    ) -> Step:
        """One round against the kernel: read the table (connection counts
        included), diff it with `desired`, apply the plan (see
        :meth:`Plan.apply`). Kernel calls release the GIL.

        :raises IpvsError: the table could not be read.
        """
        from .client import Client as _Client

        _inst("client", client, _Client)
        if on_error not in ("stop", "continue"):
            raise ValueError(f"on_error: expected 'stop' or 'continue', got {on_error!r}")
        at, native, report = self._native.step(
            client._native, _inst("desired", desired, State), bool(rollback), on_error, _int("chunk", chunk, 32)
        )
        return Step(at, Plan._wrap(native), ApplyReport._from_native(report))

    def run(
        self,
        client: Client,
        desired: State,
        *,
        poll: float = 1.0,
        timeout: float | None = None,
        on_step: Callable[[Step], None] | None = None,
        **apply: Any,
    ) -> Step:
        """Rounds until the table is the desired one and nothing drains
        (:attr:`Step.settled`), a round fails to apply, or `timeout`
        seconds pass; `on_step` sees each round. Returns the last round."""
        t0 = time.monotonic()
        while True:
            step = self.step(client, desired, **apply)
            if on_step is not None:
                on_step(step)
            out_of_time = timeout is not None and time.monotonic() - t0 + poll > timeout
            if step.settled or not step.report.ok or out_of_time:
                return step
            time.sleep(poll)

    @property
    def tracker(self) -> DrainTracker:
        """The drains under way."""
        return DrainTracker(self._native.tracker())

    @tracker.setter
    def tracker(self, tracker: DrainTracker) -> None:
        self._native.set_tracker(_inst("tracker", tracker, DrainTracker).entries)

    def __repr__(self) -> str:
        return f"<ipvs.Reconciler drain={self._drain} draining={len(self.tracker)}>"

