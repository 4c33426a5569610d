"""Building an LVS cluster around IPVS: what the real servers and the
director need besides the IPVS table, and a report on how evenly the table
spreads the load (the Rust ``ipvs::cluster`` module).

- :class:`RealServerSetup`: the VIP on ``lo`` (direct routing) or on
  ``tunl0`` (IPIP or GUE tunnelling), the ARP sysctls, relaxed ``rp_filter``
  for tunnels, the tunnel module and the GUE port.
- :class:`DirectorSetup`: the VIP on its interface, IP forwarding for NAT,
  and optionally the IPVS services themselves.
- :class:`BalanceReport`: each destination's share of new connections
  against its share of weight, and why they differ (:class:`Reason`).

Every setup works through rtnetlink, generic netlink and ``/proc/sys`` (no
``ip``, no ``sysctl``), in any network namespace, and has three calls, each
run with the GIL released:

- ``apply()`` is idempotent: a second run changes nothing
  (:attr:`Outcome.is_noop`).
- ``teardown()`` removes exactly what ``apply()`` added and puts each sysctl
  back to the value it had before (not to 0), from a durable journal (in
  `journal_dir`), so it works from another process and after a crash.
- ``status()`` says what is in place and what is missing (:class:`Status`).

::

    from ipvs.cluster import RealServerSetup, TunnelMode

    rs = RealServerSetup.tun("192.0.2.10", TunnelMode.IPIP, netns="rs1")
    print(rs.apply())
    assert rs.status().is_complete
    rs.teardown()

Errors of the setups are :class:`ClusterError` (an :class:`ipvs.IpvsError`,
with :attr:`~ipvs.IpvsError.errno`); an IPVS call that fails inside a
director's ``apply()`` raises the same :mod:`ipvs.errors` class as the
client would.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, Sequence, Union

from . import _ipvs
from .client import NetnsLike, _netns_path
from .errors import IpvsError, NotFound, ValidationError
from .model import (
    AddressLike,
    Destination,
    IPAddress,
    Scheduler,
    Service,
    ServiceKey,
    Tunnel,
    TunnelType,
    _addr,
    _int,
)

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "DEFAULT_JOURNAL_DIR",
    "TunnelMode",
    "RealServerSetup",
    "DirectorSetup",
    "ServiceSpec",
    "Check",
    "Status",
    "Outcome",
    "BalanceReport",
    "DestinationBalance",
    "ReasonKind",
    "Reason",
    "PersistenceReason",
    "QuiescedReason",
    "LongLivedConnectionsReason",
    "OverloadedReason",
    "SchedulerIgnoresWeightsReason",
    "HashingSchedulerReason",
    "LoadBasedSchedulerReason",
    "FewConnectionsReason",
    "OtherReason",
    "wait_for_connections",
    "ClusterError",
    "NetnsError",
    "SysctlError",
    "ModuleUnavailable",
    "NoSuchInterface",
    "JournalError",
    "UnsupportedSetup",
]

DEFAULT_JOURNAL_DIR: str = _ipvs.CLUSTER_DEFAULT_JOURNAL_DIR
"""Where the setups keep their journals unless told otherwise (``/run/ipvs-netlink``)."""


# --------------------------------------------------------------------------
# Errors.


class ClusterError(IpvsError):
    """A setup, teardown or status call failed (Rust's ``cluster::Error``).

    :attr:`kind` names the Rust variant (``"Netns"``, ``"Sysctl"``,
    ``"SysctlMissing"``, ``"SysctlRejected"``, ``"NoSuchInterface"``,
    ``"ModuleUnavailable"``, ``"Journal"``, ``"Netlink"``, ``"Io"``,
    ``"Decode"``, ``"Unsupported"``); :attr:`details` holds its fields.
    """

    kind: str
    """The Rust variant's name."""
    details: dict[str, Any]
    """The variant's fields (``{"sysctl": "net.ipv4.conf.eth9.arp_ignore"}``)."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "Other",
        details: Mapping[str, Any] | None = None,
        errno: int | None = None,
        kernel_message: str | None = None,
    ) -> None:
        super().__init__(message, errno=errno, kernel_message=kernel_message)
        self.kind = kind
        self.details = dict(details or {})


class NetnsError(ClusterError):
    """Entering the network namespace failed (it does not exist: ``ENOENT``)."""

    @property
    def netns(self) -> str:
        """The namespace, as given."""
        return str(self.details.get("netns", ""))


class SysctlError(ClusterError):
    """A sysctl could not be read or written, does not exist
    (``kind == "SysctlMissing"``: a missing interface, or a kernel without
    it), or the kernel kept another value (``"SysctlRejected"``)."""

    @property
    def sysctl(self) -> str:
        """The sysctl (``net.ipv4.conf.all.arp_ignore``)."""
        return str(self.details.get("sysctl", ""))


class ModuleUnavailable(ClusterError):
    """A kernel module (``ipip``, ``fou``) or the feature it brings is missing."""

    @property
    def module(self) -> str:
        """The module."""
        return str(self.details.get("module", ""))


class NoSuchInterface(ClusterError, NotFound):
    """No interface of that name in the namespace."""

    @property
    def interface(self) -> str:
        """The interface's name."""
        return str(self.details.get("interface", ""))


class JournalError(ClusterError):
    """The journal could not be read or written."""

    @property
    def path(self) -> str:
        """The file or directory."""
        return str(self.details.get("path", ""))


class UnsupportedSetup(ClusterError, ValueError):
    """The setup asks for something the library does not do."""


_ERROR_CLASSES: dict[str, type[ClusterError]] = {
    "Netns": NetnsError,
    "Sysctl": SysctlError,
    "SysctlMissing": SysctlError,
    "SysctlRejected": SysctlError,
    "ModuleUnavailable": ModuleUnavailable,
    "NoSuchInterface": NoSuchInterface,
    "Journal": JournalError,
    "Unsupported": UnsupportedSetup,
}


def _error_from_native(kind: str, message: str, errno: int | None, details: str) -> ClusterError:
    """Build the exception for a Rust ``cluster::Error`` (called by the extension)."""
    d = json.loads(details)
    cls = _ERROR_CLASSES.get(kind, ClusterError)
    return cls(
        message, kind=kind, details=d, errno=errno, kernel_message=d.get("kernel_message")
    )


# --------------------------------------------------------------------------
# Argument checks.


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return value


def _interface(name: str, value: Any) -> str:
    """An interface name the kernel can have (``dev_valid_name``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    raw = value.encode()
    if not raw or len(raw) > 15 or value in (".", "..") or any(
        c in value for c in "/: \t\n\x00"
    ):
        raise ValidationError(
            name, f"{value!r} is not an interface name (1 to 15 bytes, no '/', ':' or spaces)",
            kind="BadName",
        )
    return value


def _dir(name: str, value: Any) -> str:
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name}: expected a str path, got bytes")
    if not path:
        raise ValidationError(name, "empty path", kind="BadPath")
    return path


def _netns(value: NetnsLike) -> str | None:
    return _netns_path(value)


# --------------------------------------------------------------------------
# Results.


@dataclass(frozen=True)
class Check:
    """One item a setup manages, and whether it is in place."""

    item: str
    """What it is (``address 192.0.2.10/32 on lo``, ``sysctl net.ipv4.conf.all.arp_ignore``)."""
    wanted: str
    """What the setup wants (``present``, ``1``, ``0 or 2``)."""
    actual: str
    """What the system has now (``absent``, ``0``)."""
    ok: bool
    """Whether `actual` satisfies `wanted`."""
    recorded: bool
    """Whether the setup's journal holds it (so a teardown will undo it)."""

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> Check:
        return cls(d["item"], d["wanted"], d["actual"], d["ok"], d["recorded"])


@dataclass(frozen=True)
class Status:
    """What ``status()`` found: every item, in the order ``apply()`` handles them."""

    owner: str
    """Who asked (``real-server 192.0.2.10``, ``director 192.0.2.10``)."""
    checks: tuple[Check, ...]
    """Every item."""
    _text: str = field(default="", repr=False, compare=False)

    @property
    def is_complete(self) -> bool:
        """Whether everything is in place."""
        return all(c.ok for c in self.checks)

    @property
    def in_place(self) -> tuple[Check, ...]:
        """The items in place."""
        return tuple(c for c in self.checks if c.ok)

    @property
    def missing(self) -> tuple[Check, ...]:
        """The items missing."""
        return tuple(c for c in self.checks if not c.ok)

    @property
    def nothing_recorded(self) -> bool:
        """Whether the journal holds none of it (nothing to tear down)."""
        return not any(c.recorded for c in self.checks)

    def __str__(self) -> str:
        return self._text or f"{self.owner}: {'complete' if self.is_complete else 'incomplete'}"

    @classmethod
    def _native(cls, answer: tuple[str, str]) -> Status:
        d = json.loads(answer[0])
        return cls(d["owner"], tuple(Check._from(c) for c in d["checks"]), answer[1])


@dataclass(frozen=True)
class Outcome:
    """What ``apply()`` or ``teardown()`` did."""

    owner: str
    """Who acted."""
    changed: tuple[str, ...]
    """What was changed, in order (``set sysctl net.ipv4.conf.all.arp_ignore 0 -> 1``)."""
    unchanged: tuple[str, ...]
    """What was left alone, and why (``... already 1``, ``... not ours``)."""
    journal: str
    """The journal file used."""
    _text: str = field(default="", repr=False, compare=False)

    @property
    def is_noop(self) -> bool:
        """Whether nothing was changed (a second ``apply()`` returns this)."""
        return not self.changed

    def __str__(self) -> str:
        return self._text or f"{self.owner}: {len(self.changed)} change(s)"

    @classmethod
    def _native(cls, answer: tuple[str, str]) -> Outcome:
        d = json.loads(answer[0])
        return cls(
            d["owner"], tuple(d["changed"]), tuple(d["unchanged"]), str(d["journal"]), answer[1]
        )


# --------------------------------------------------------------------------
# Setups.


@dataclass(frozen=True)
class TunnelMode:
    """The encapsulation a tunnelling real server takes: :attr:`IPIP`, or
    :meth:`gue` with the UDP port the director sends to."""

    type: TunnelType
    """``TunnelType.IPIP`` or ``TunnelType.GUE``."""
    port: int = 0
    """The GUE receive port (GUE only)."""

    IPIP: ClassVar[TunnelMode]
    """IP in IP: the ``ipip`` module and its ``tunl0``."""

    def __post_init__(self) -> None:
        if self.type is TunnelType.IPIP:
            if self.port:
                raise ValidationError("port", "an IPIP tunnel has no port", kind="IpipOptions")
        elif self.type is TunnelType.GUE:
            # Port 0 is refused where the Rust crate refuses it: when the
            # setup is planned (apply, status), before anything changes.
            _int("port", self.port, 16)
        else:
            raise ValidationError(
                "tunnel", f"a real server takes IPIP or GUE, not {self.type!r}",
                kind="Unsupported",
            )

    @classmethod
    def ipip(cls) -> TunnelMode:
        """IP in IP."""
        return cls(TunnelType.IPIP)

    @classmethod
    def gue(cls, port: int) -> TunnelMode:
        """Generic UDP Encapsulation, received on `port` (module ``fou``)."""
        return cls(TunnelType.GUE, port)

    @classmethod
    def coerce(cls, value: TunnelMode | Tunnel | str) -> TunnelMode:
        """A mode from a :class:`TunnelMode`, the :class:`ipvs.Tunnel` of the
        director's destinations (IPIP or GUE), or text: ``"ipip"``,
        ``"gue:6080"``."""
        if isinstance(value, TunnelMode):
            return value
        if isinstance(value, Tunnel):
            return cls(value.type, value.port)
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "ipip":
                return cls.IPIP
            if text.startswith("gue:"):
                try:
                    port = int(text[4:])
                except ValueError:
                    raise ValidationError(
                        "tunnel", f"{value!r}: the GUE port is not a number", kind="BadPort"
                    ) from None
                return cls.gue(port)
            raise ValidationError(
                "tunnel", f"{value!r} is neither 'ipip' nor 'gue:PORT'", kind="UnknownName"
            )
        raise TypeError(
            f"tunnel: expected TunnelMode, Tunnel or str, got {type(value).__name__}"
        )

    def __str__(self) -> str:
        return "ipip" if self.type is TunnelType.IPIP else f"gue:{self.port}"


TunnelMode.IPIP = TunnelMode(TunnelType.IPIP)


class RealServerSetup:
    """What a real server needs to answer for a VIP it gets from an IPVS
    director by direct routing (`tunnel` ``None``) or tunnelling:

    - the VIP as a host address (/32, /128) on ``lo`` (DR) or ``tunl0``
      (TUN), added *after* the ARP settings so that the server never
      answers ARP for it;
    - ``arp_ignore=1`` and ``arp_announce=2`` on ``all`` and on that
      interface, plus each of `arp_interfaces` (IPv4 only);
    - for TUN: ``tunl0`` (module ``ipip``), up, ``rp_filter`` 0 (2 with
      `rp_filter_loose`) on ``tunl0`` and ``all``; for GUE also module
      ``fou`` and a GUE receive port. IPv4 VIPs only.

    A value already acceptable is left alone (and never restored by the
    teardown). `netns` is a namespace name (``ip netns add``), a path or a
    file descriptor; `journal_dir` is where the journal goes.

    >>> rs = RealServerSetup.dr("192.0.2.10", netns="rs1", journal_dir="/run/my-lb")
    >>> rs.owner, rs.vip_interface
    ('real-server 192.0.2.10', 'lo')
    """

    __slots__ = (
        "_vip", "_tunnel", "_netns", "_journal_dir", "_rp_filter_loose", "_arp_interfaces",
        "_native",
    )

    def __init__(
        self,
        vip: AddressLike,
        tunnel: TunnelMode | Tunnel | str | None = None,
        *,
        netns: NetnsLike = None,
        journal_dir: str | os.PathLike[str] = DEFAULT_JOURNAL_DIR,
        rp_filter_loose: bool = False,
        arp_interfaces: Iterable[str] = (),
    ) -> None:
        self._vip = _addr("vip", vip)
        self._tunnel = None if tunnel is None else TunnelMode.coerce(tunnel)
        self._netns = _netns(netns)
        self._journal_dir = _dir("journal_dir", journal_dir)
        self._rp_filter_loose = _bool("rp_filter_loose", rp_filter_loose)
        if isinstance(arp_interfaces, str):
            raise TypeError("arp_interfaces: expected an iterable of names, got str")
        self._arp_interfaces = tuple(_interface("arp_interfaces", i) for i in arp_interfaces)
        t = self._tunnel
        self._native = _ipvs.ClusterRealServer(
            str(self._vip),
            None if t is None else "ipip" if t.type is TunnelType.IPIP else "gue",
            0 if t is None else t.port,
            self._netns,
            self._journal_dir,
            self._rp_filter_loose,
            list(self._arp_interfaces),
        )

    @classmethod
    def dr(cls, vip: AddressLike, **options: Any) -> RealServerSetup:
        """A direct-routing real server (options as for the constructor)."""
        return cls(vip, None, **options)

    @classmethod
    def tun(
        cls, vip: AddressLike, tunnel: TunnelMode | Tunnel | str = TunnelMode.IPIP,
        **options: Any,
    ) -> RealServerSetup:
        """A tunnelling real server (IPIP unless told otherwise)."""
        return cls(vip, tunnel, **options)

    @property
    def vip(self) -> IPAddress:
        """The VIP."""
        return self._vip

    @property
    def tunnel(self) -> TunnelMode | None:
        """The tunnel, or ``None`` for direct routing."""
        return self._tunnel

    @property
    def netns(self) -> str | None:
        """The namespace file the setup acts in (``None``: the caller's)."""
        return self._netns

    @property
    def journal_dir(self) -> str:
        """The journal's directory."""
        return self._journal_dir

    @property
    def rp_filter_loose(self) -> bool:
        """Whether strict ``rp_filter`` becomes 2 rather than 0 (tunnels)."""
        return self._rp_filter_loose

    @property
    def arp_interfaces(self) -> tuple[str, ...]:
        """Interfaces that get the ARP sysctls besides ``all`` and the VIP's."""
        return self._arp_interfaces

    @property
    def owner(self) -> str:
        """The name this setup has in the journal (``real-server 192.0.2.10``)."""
        return str(self._native.owner)

    @property
    def vip_interface(self) -> str:
        """The interface the VIP goes on: ``lo`` or ``tunl0``."""
        return str(self._native.vip_interface)

    def apply(self) -> Outcome:
        """Put everything in place; a second call changes nothing.

        :raises ClusterError: a system call failed (nothing is left half
            recorded: the journal holds whatever was changed).
        """
        return Outcome._native(self._native.apply())

    def status(self) -> Status:
        """What is in place and what is missing."""
        return Status._native(self._native.status())

    def teardown(self) -> Outcome:
        """Undo what ``apply()`` did, from the journal: each sysctl back to
        its prior value, unless someone changed it since."""
        return Outcome._native(self._native.teardown())

    def __repr__(self) -> str:
        opts = ""
        if self._netns is not None:
            opts += f", netns={self._netns!r}"
        if self._journal_dir != DEFAULT_JOURNAL_DIR:
            opts += f", journal_dir={self._journal_dir!r}"
        if self._rp_filter_loose:
            opts += ", rp_filter_loose=True"
        if self._arp_interfaces:
            opts += f", arp_interfaces={self._arp_interfaces!r}"
        mode = "" if self._tunnel is None else f", {str(self._tunnel)!r}"
        return f"RealServerSetup({str(self._vip)!r}{mode}{opts})"


@dataclass(frozen=True)
class ServiceSpec:
    """An IPVS service and the destinations a :class:`DirectorSetup` gives it."""

    service: Service
    destinations: tuple[Destination, ...] = ()


_ServiceLike = Union[ServiceSpec, "tuple[Service, Iterable[Destination]]"]


class DirectorSetup:
    """What an IPVS director needs:

    - the VIP on `interface` (a host address unless `prefix_len` says
      otherwise), added *last*, once the services are ready, and removed
      *first* by the teardown, so nothing answers for it afterwards;
    - with `nat`, ``net.ipv4.ip_forward=1`` (``net.ipv6.conf.all.forwarding=1``
      for an IPv6 VIP);
    - optionally the IPVS `services` themselves (:class:`ServiceSpec` or
      ``(Service, destinations)`` pairs): ``apply()`` creates the missing
      ones and adds missing destinations, ``teardown()`` deletes what it
      created. For direct routing and tunnels the destinations take the
      service's port.

    Idempotent, journaled and reversible like :class:`RealServerSetup`.

    >>> from ipvs import Destination, ForwardMethod, Scheduler, Service, ServiceKey
    >>> key = ServiceKey.tcp("192.0.2.10", 80)
    >>> lb = DirectorSetup("192.0.2.10", "eth0", nat=True).with_service(
    ...     Service(key, Scheduler.WRR), [Destination("198.51.100.2", 8080, weight=2)])
    >>> lb.owner
    'director 192.0.2.10'
    """

    __slots__ = (
        "_vip", "_interface", "_prefix_len", "_nat", "_services", "_netns", "_journal_dir",
        "_native",
    )

    def __init__(
        self,
        vip: AddressLike,
        interface: str,
        *,
        nat: bool = False,
        prefix_len: int | None = None,
        services: Iterable[_ServiceLike] = (),
        netns: NetnsLike = None,
        journal_dir: str | os.PathLike[str] = DEFAULT_JOURNAL_DIR,
    ) -> None:
        self._vip = _addr("vip", vip)
        self._interface = _interface("interface", interface)
        self._nat = _bool("nat", nat)
        full = 32 if self._vip.version == 4 else 128
        if prefix_len is None:
            self._prefix_len = full
        else:
            self._prefix_len = _int("prefix_len", prefix_len, 8)
            if self._prefix_len > full:
                raise ValidationError(
                    "prefix_len", f"{self._prefix_len} is above {full} for {self._vip}",
                    kind="OutOfRange",
                )
        specs = []
        for i, s in enumerate(services):
            if isinstance(s, ServiceSpec):
                spec = s
            elif isinstance(s, tuple) and len(s) == 2:
                spec = ServiceSpec(s[0], tuple(s[1]))
            else:
                raise TypeError(
                    f"services[{i}]: expected ServiceSpec or (Service, destinations), "
                    f"got {type(s).__name__}"
                )
            if not isinstance(spec.service, Service):
                raise TypeError(
                    f"services[{i}]: expected a Service, got {type(spec.service).__name__}"
                )
            for d in spec.destinations:
                if not isinstance(d, Destination):
                    raise TypeError(
                        f"services[{i}]: expected Destinations, got {type(d).__name__}"
                    )
            specs.append(spec)
        self._netns = _netns(netns)
        self._journal_dir = _dir("journal_dir", journal_dir)
        self._native = _ipvs.ClusterDirector(
            str(self._vip),
            self._interface,
            self._prefix_len,
            self._nat,
            [(s.service, list(s.destinations)) for s in specs],
            self._netns,
            self._journal_dir,
        )
        # As the setup will apply them (DR and tunnel destinations on the service's port).
        self._services = tuple(
            ServiceSpec(s.service, tuple(self._native.destinations(i)))
            for i, s in enumerate(specs)
        )

    def with_service(
        self, service: Service, destinations: Iterable[Destination] = ()
    ) -> DirectorSetup:
        """A copy of this setup that also manages `service` and its `destinations`."""
        return DirectorSetup(
            self._vip,
            self._interface,
            nat=self._nat,
            prefix_len=self._prefix_len,
            services=(*self._services, ServiceSpec(service, tuple(destinations))),
            netns=self._netns,
            journal_dir=self._journal_dir,
        )

    @property
    def vip(self) -> IPAddress:
        """The VIP."""
        return self._vip

    @property
    def interface(self) -> str:
        """The interface the VIP goes on."""
        return self._interface

    @property
    def prefix_len(self) -> int:
        """The VIP's prefix length."""
        return self._prefix_len

    @property
    def nat(self) -> bool:
        """Whether the setup turns IP forwarding on."""
        return self._nat

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        """The services it manages, with their destinations as it adds them."""
        return self._services

    @property
    def netns(self) -> str | None:
        """The namespace file the setup acts in (``None``: the caller's)."""
        return self._netns

    @property
    def journal_dir(self) -> str:
        """The journal's directory."""
        return self._journal_dir

    @property
    def owner(self) -> str:
        """The name this setup has in the journal (``director 192.0.2.10``)."""
        return str(self._native.owner)

    def apply(self) -> Outcome:
        """Forwarding, the IPVS services, then the VIP; a second call changes nothing.

        :raises ClusterError: a system call failed.
        :raises ipvs.IpvsError: an IPVS call failed (``SchedulerNotFound``, ...).
        """
        return Outcome._native(self._native.apply())

    def status(self) -> Status:
        """What is in place and what is missing (services and destinations included)."""
        return Status._native(self._native.status())

    def teardown(self) -> Outcome:
        """Undo what ``apply()`` did: the VIP first, then the services it
        created and the destinations it added, then forwarding."""
        return Outcome._native(self._native.teardown())

    def __repr__(self) -> str:
        opts = ""
        if self._nat:
            opts += ", nat=True"
        if self._prefix_len != (32 if self._vip.version == 4 else 128):
            opts += f", prefix_len={self._prefix_len}"
        if self._services:
            opts += f", services=<{len(self._services)}>"
        if self._netns is not None:
            opts += f", netns={self._netns!r}"
        if self._journal_dir != DEFAULT_JOURNAL_DIR:
            opts += f", journal_dir={self._journal_dir!r}"
        return f"DirectorSetup({str(self._vip)!r}, {self._interface!r}{opts})"


# --------------------------------------------------------------------------
# The balance report.


class ReasonKind(enum.Enum):
    """Why a share differs from what the weights say (Rust's ``Reason`` variants)."""

    PERSISTENCE = "persistence"
    QUIESCED = "quiesced"
    LONG_LIVED_CONNECTIONS = "long_lived_connections"
    OVERLOADED = "overloaded"
    SCHEDULER_IGNORES_WEIGHTS = "scheduler_ignores_weights"
    HASHING_SCHEDULER = "hashing_scheduler"
    LOAD_BASED_SCHEDULER = "load_based_scheduler"
    FEW_CONNECTIONS = "few_connections"
    OTHER = "other"

    def __repr__(self) -> str:
        return f"ReasonKind.{self.name}"


@dataclass(frozen=True)
class Reason:
    """A reason of a :class:`BalanceReport` or one of its destinations. Each
    kind is a subclass with its own fields; ``str()`` explains it."""

    kind: ClassVar[ReasonKind] = ReasonKind.OTHER
    text: str = field(default="", repr=False, compare=False, kw_only=True)
    """The explanation, as the Rust side words it."""

    def __str__(self) -> str:
        return self.text or self.kind.value


@dataclass(frozen=True)
class PersistenceReason(Reason):
    """The service is persistent: a client's connections all go where its
    first one went, so the split follows the clients, not the weights."""

    kind: ClassVar[ReasonKind] = ReasonKind.PERSISTENCE
    timeout: int
    """The persistence timeout, in seconds."""
    templates: int
    """Persistence templates pointing at the destination (or the service's, summed)."""


@dataclass(frozen=True)
class QuiescedReason(Reason):
    """Weight 0 (quiesced, not removed) and still getting connections."""

    kind: ClassVar[ReasonKind] = ReasonKind.QUIESCED
    connections: int
    """New connections it got anyway."""
    templates: int
    """Persistence templates still pointing at it."""


@dataclass(frozen=True)
class LongLivedConnectionsReason(Reason):
    """Few, long connections carry the traffic: connections are balanced,
    packets are not (IPVS balances connections, never requests)."""

    kind: ClassVar[ReasonKind] = ReasonKind.LONG_LIVED_CONNECTIONS
    traffic_share: float
    """The destination's share of incoming packets."""
    connection_share: float
    """Its share of new connections."""
    active: int
    """Its established connections now."""


@dataclass(frozen=True)
class OverloadedReason(Reason):
    """The destination reached its upper threshold, so the scheduler skipped it."""

    kind: ClassVar[ReasonKind] = ReasonKind.OVERLOADED
    upper_threshold: int
    connections: int


@dataclass(frozen=True)
class SchedulerIgnoresWeightsReason(Reason):
    """The scheduler ignores weights (other than 0), so shares are even."""

    kind: ClassVar[ReasonKind] = ReasonKind.SCHEDULER_IGNORES_WEIGHTS
    scheduler: Scheduler | str


@dataclass(frozen=True)
class HashingSchedulerReason(Reason):
    """The scheduler hashes addresses: few clients split unevenly."""

    kind: ClassVar[ReasonKind] = ReasonKind.HASHING_SCHEDULER
    scheduler: Scheduler | str


@dataclass(frozen=True)
class LoadBasedSchedulerReason(Reason):
    """The scheduler follows current connection counts, not a fixed ratio."""

    kind: ClassVar[ReasonKind] = ReasonKind.LOAD_BASED_SCHEDULER
    scheduler: Scheduler | str


@dataclass(frozen=True)
class FewConnectionsReason(Reason):
    """Too few connections to judge."""

    kind: ClassVar[ReasonKind] = ReasonKind.FEW_CONNECTIONS
    total: int
    """New connections seen."""


@dataclass(frozen=True)
class OtherReason(Reason):
    """A reason this version of the package does not know."""

    name: str
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)


_REASONS: dict[str, type[Reason]] = {
    cls.kind.value: cls
    for cls in (
        PersistenceReason, QuiescedReason, LongLivedConnectionsReason, OverloadedReason,
        SchedulerIgnoresWeightsReason, HashingSchedulerReason, LoadBasedSchedulerReason,
        FewConnectionsReason,
    )
}


def _reason(d: Mapping[str, Any]) -> Reason:
    d = dict(d)
    name = d.pop("reason")
    text = d.pop("text", "")
    cls = _REASONS.get(name)
    if cls is None:
        return OtherReason(name, d, text=text)
    if "scheduler" in d:
        d["scheduler"] = Scheduler.from_name(d["scheduler"])
    return cls(**d, text=text)


def _socket(text: str) -> tuple[IPAddress, int]:
    host, _, port = text.rpartition(":")
    return ipaddress.ip_address(host.strip("[]")), int(port)


ReasonFilter = Union[ReasonKind, "type[Reason]"]


def _matches(r: Reason, which: ReasonFilter) -> bool:
    if isinstance(which, ReasonKind):
        return r.kind is which
    return isinstance(r, which)


@dataclass(frozen=True)
class DestinationBalance:
    """One destination's part of a :class:`BalanceReport`."""

    address: IPAddress
    port: int
    weight: int
    connections: int
    """New connections in the window."""
    connection_share: float
    """Its share of the service's new connections (0 to 1)."""
    weight_share: float
    """Its share of the total weight."""
    expected_share: float
    """The share the scheduler aims at: the weight share for weighted
    schedulers, an even share for those that ignore weights, 0 for weight 0."""
    packets_in: int
    """Incoming packets in the window."""
    traffic_share: float
    """Its share of incoming packets."""
    active: int
    """Established connections now."""
    inactive: int
    """Other connections now."""
    templates: int
    """Persistence templates pointing at it now."""
    balanced: bool
    """Whether its connection share is within the tolerance of the expected one."""
    reasons: tuple[Reason, ...]
    """Likely reasons, when it is not (or when its traffic is not)."""

    @property
    def socket_address(self) -> tuple[IPAddress, int]:
        """``(address, port)``."""
        return (self.address, self.port)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> DestinationBalance:
        address, port = _socket(d["address"])
        return cls(
            address, port, d["weight"], d["connections"], d["connection_share"],
            d["weight_share"], d["expected_share"], d["packets_in"], d["traffic_share"],
            d["active"], d["inactive"], d["templates"], d["balanced"],
            tuple(_reason(r) for r in d["reasons"]),
        )


@dataclass(frozen=True)
class BalanceReport:
    """How evenly a service spreads its load: each destination's share of
    new connections against its share of weight, and the likely reasons
    when they differ. Built from a service and its destinations as the
    kernel reports them (with ``stats`` and ``connections``); touches nothing.

    >>> from ipvs import Connections, Destination, Scheduler, Service, ServiceKey, Stats
    >>> svc = Service(ServiceKey.tcp("192.0.2.10", 80), Scheduler.WRR)
    >>> def dest(addr, weight, conns):
    ...     return Destination(addr, 80, weight=weight, stats=Stats(connections=conns),
    ...                        connections=Connections())
    >>> r = BalanceReport.new(svc, [dest("198.51.100.2", 1, 10), dest("198.51.100.6", 3, 30)])
    >>> r.balanced, r.destinations[1].connection_share, r.destinations[1].weight_share
    (True, 0.75, 0.75)

    The kernel sums its per-CPU counters every two seconds: read the
    destinations after traffic with :func:`wait_for_connections`.
    """

    service: ServiceKey
    scheduler: Scheduler | str
    persistence: int | None
    """The persistence timeout, when persistent."""
    total_connections: int
    """New connections in the window, over every destination."""
    tolerance: float
    """How far (absolute share) a destination may be from its expected share."""
    destinations: tuple[DestinationBalance, ...]
    """Each destination, in the order given."""
    balanced: bool
    """Whether every destination is within tolerance."""
    reasons: tuple[Reason, ...]
    """Reasons that concern the whole service."""
    _text: str = field(default="", repr=False, compare=False)

    @classmethod
    def new(cls, service: Service, destinations: Sequence[Destination]) -> BalanceReport:
        """The report over the kernel's counters since they were last zeroed."""
        return cls.between(service, (), destinations)

    @classmethod
    def between(
        cls,
        service: Service,
        before: Sequence[Destination],
        after: Sequence[Destination],
    ) -> BalanceReport:
        """The report over what happened between two readings of the same
        service's destinations (`before` may be empty; a destination missing
        from it counts from zero)."""
        if not isinstance(service, Service):
            raise TypeError(f"service: expected a Service, got {type(service).__name__}")
        for name, seq in (("before", before), ("after", after)):
            if isinstance(seq, (str, bytes)) or not all(isinstance(d, Destination) for d in seq):
                raise TypeError(f"{name}: expected a sequence of Destinations")
        json_text, text = _ipvs.cluster_balance_report(service, list(before), list(after))
        d = json.loads(json_text)
        return cls(
            ServiceKey.from_dict(d["service"]),
            Scheduler.from_name(d["scheduler"]),
            d["persistence"],
            d["total_connections"],
            d["tolerance"],
            tuple(DestinationBalance._from(x) for x in d["destinations"]),
            d["balanced"],
            tuple(_reason(r) for r in d["reasons"]),
            text,
        )

    @classmethod
    def measure(
        cls, client: Client, key: ServiceKey, before: Sequence[Destination] = ()
    ) -> BalanceReport:
        """The report of a service as `client` reads it now (since `before`)."""
        return cls.between(client.service(key), before, client.destinations(key))

    def destination(self, address: AddressLike, port: int | None = None) -> DestinationBalance | None:
        """The destination at `address` (and `port`, if given)."""
        ip = _addr("address", address)
        for d in self.destinations:
            if d.address == ip and (port is None or d.port == port):
                return d
        return None

    def all_reasons(self) -> tuple[Reason, ...]:
        """The service's reasons, then every destination's."""
        return self.reasons + tuple(r for d in self.destinations for r in d.reasons)

    def has_reason(self, which: ReasonFilter) -> bool:
        """Whether any reason (of the service or a destination) is of this
        kind (a :class:`ReasonKind` or a :class:`Reason` subclass)."""
        return any(_matches(r, which) for r in self.all_reasons())

    def __str__(self) -> str:
        return self._text


def wait_for_connections(
    client: Client,
    key: ServiceKey,
    before: Sequence[Destination],
    count: int,
    *,
    timeout: float = 30.0,
    interval: float = 0.5,
) -> list[Destination]:
    """The destinations of `key` once the kernel's counters show `count`
    more new connections than `before`.

    The kernel sums its per-CPU counters every two seconds (the rate
    estimator), so a reading right after the traffic can be short.

    :raises TimeoutError: the counters did not get there within `timeout` s
        (the message says how far they got).
    """
    service = client.service(key)
    deadline = time.monotonic() + timeout
    while True:
        now = client.destinations(key)
        seen = BalanceReport.between(service, before, now).total_connections
        if seen >= count:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{key}: the kernel counted {seen} of {count} new connections in {timeout} s"
            )
        time.sleep(interval)
