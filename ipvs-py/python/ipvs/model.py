"""The typed IPVS model: services, destinations, schedulers, forwarding
methods, stats, timeouts and sync daemons.

Every class is a frozen (immutable, hashable) dataclass; addresses are
:mod:`ipaddress` objects; names are :class:`enum.Enum` members. ``to_dict()``
and ``from_dict()`` produce and read exactly the serde JSON form of the Rust
crate (``ipvs-netlink``), so documents move freely between the two.

Constructors check types and integer ranges (``TypeError`` for a wrong type,
:class:`~ipvs.errors.ValidationError` naming the field for a bad value).
What the kernel would refuse is checked by ``validate()`` (the Rust crate's
own validation), which every client call runs before sending anything.
"""

from __future__ import annotations

import enum
import ipaddress
import json
from dataclasses import dataclass
import re
from typing import Any, ClassVar, Iterator, Mapping, Tuple, TypeVar, Union, cast

from . import _ipvs
from .errors import ValidationError

__all__ = [
    "IPAddress",
    "AddressLike",
    "Protocol",
    "AddressFamily",
    "Scheduler",
    "ServiceFlags",
    "ForwardMethod",
    "TunnelType",
    "TunnelChecksum",
    "Tunnel",
    "DaemonState",
    "ServiceKey",
    "AddressKey",
    "FwmarkKey",
    "Persistence",
    "Stats",
    "Connections",
    "Service",
    "Destination",
    "Timeouts",
    "Version",
    "Info",
    "SyncDaemon",
    "ServiceEntry",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
"""An IPv4 or IPv6 address object."""

AddressLike = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
"""What address parameters accept: an address object or its text form."""

_IPv4 = ipaddress.IPv4Address
_IPv6 = ipaddress.IPv6Address


# --------------------------------------------------------------------------
# Checks shared by the constructors.


def _int(field: str, value: Any, bits: int) -> int:
    """An unsigned integer of `bits` bits."""
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{field}: expected an int, got {type(value).__name__}")
        value = int(value)
    if value < 0 or value >> bits:
        raise ValidationError(
            field, f"{value} is out of range (0 to {(1 << bits) - 1})", kind="OutOfRange"
        )
    return cast(int, value)


def _opt_int(field: str, value: Any, bits: int) -> int | None:
    return None if value is None else _int(field, value, bits)


def _addr(field: str, value: Any) -> IPAddress:
    """An address object from an address object or its text."""
    cls = type(value)
    if cls is _IPv4 or cls is _IPv6:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise ValidationError(
                field, f"{value!r} is not an IPv4 or IPv6 address", kind="BadAddress"
            ) from None
    if isinstance(value, (_IPv4, _IPv6)):
        return value
    raise TypeError(
        f"{field}: expected an IP address (str, IPv4Address or IPv6Address), "
        f"got {type(value).__name__}"
    )


def _str(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    return value


def _inst(field: str, value: Any, cls: type, name: str | None = None) -> Any:
    if not isinstance(value, cls):
        raise TypeError(
            f"{field}: expected {name or cls.__name__}, got {type(value).__name__}"
        )
    return value


_T = TypeVar("_T")


def _to_dict(kind: str, value: object) -> dict[str, Any]:
    """The Rust crate's serde form of a model value (Rust reads the value
    as the client does and writes it)."""
    return cast("dict[str, Any]", json.loads(_ipvs.to_json(kind, value)))


def _document_error(kind: str, e: ValueError) -> ValidationError:
    """A serde refusal as a ValidationError naming the field when serde does."""
    text = str(e)
    found = re.search(r"(missing|unknown) field `(\w+)`", text)
    if found:
        return ValidationError(found.group(2), text, kind="Missing" if found.group(1) == "missing" else "Unknown")
    return ValidationError(kind, text, kind="BadDocument")


def _from_dict(kind: str, d: Any, cls: type[_T]) -> _T:
    """A model value read from its serde form by the Rust crate, built as
    the client builds what the kernel reports."""
    try:
        value = _ipvs.from_json(kind, json.dumps(d, default=str))
    except ValueError as e:
        raise _document_error(kind, e) from None
    return cast(_T, value)


def _repr(obj: Any, positional: tuple[Any, ...], keywords: dict[str, Any]) -> str:
    """`Class(pos, ..., key=value, ...)` with addresses as strings."""

    def show(v: Any) -> str:
        if isinstance(v, (_IPv4, _IPv6)):
            return repr(str(v))
        if isinstance(v, tuple):
            inner = ", ".join(show(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        return repr(v)

    parts = [show(v) for v in positional]
    parts += [f"{k}={show(v)}" for k, v in keywords.items()]
    return f"{type(obj).__name__}({', '.join(parts)})"


def _setattrs(obj: Any, **values: Any) -> None:
    for k, v in values.items():
        object.__setattr__(obj, k, v)


def _sock(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


class _Enum(enum.Enum):
    """An enum whose repr is `Class.MEMBER` and whose str is its value."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _coerce(cls, field: str, value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
            member = cls.__members__.get(value.upper())
            if member is not None:
                return member
            choices = ", ".join(repr(m.value) for m in cls)
            raise ValidationError(field, f"{value!r} is not one of {choices}", kind="UnknownName")
        raise TypeError(f"{field}: expected {cls.__name__} or str, got {type(value).__name__}")


# --------------------------------------------------------------------------
# Names.


class Protocol(_Enum):
    """A layer-4 protocol of a virtual service.

    A protocol number the kernel reports that is not one of these is kept as
    a plain ``int`` (Rust's ``Protocol::Other``).
    """

    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"

    @property
    def number(self) -> int:
        """The IP protocol number (6, 17, 132)."""
        return _PROTO_NUMBERS[self]

    @classmethod
    def from_number(cls, number: int) -> Protocol | int:
        """The protocol for an IP protocol number, or the number itself."""
        return _PROTO_BY_NUMBER.get(number, number)

    @classmethod
    def _coerce(cls, field: str, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.from_number(_int(field, value, 16))
        return super()._coerce(field, value)


_PROTO_NUMBERS = {Protocol.TCP: 6, Protocol.UDP: 17, Protocol.SCTP: 132}
_PROTO_BY_NUMBER = {v: k for k, v in _PROTO_NUMBERS.items()}


class AddressFamily(_Enum):
    """An address family (of a firewall-mark service)."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"

    @classmethod
    def of(cls, address: IPAddress) -> AddressFamily:
        """The family of an address."""
        return cls.IPV4 if address.version == 4 else cls.IPV6


class Scheduler(_Enum):
    """A connection scheduler, by the name the kernel knows it by.

    The schedulers shipped with Linux are members (each with a short alias:
    ``Scheduler.WRR is Scheduler.WEIGHTED_ROUND_ROBIN``); any other name is
    kept as a plain ``str`` (Rust's ``Scheduler::Other``). ``NONE`` binds no
    scheduler.
    """

    ROUND_ROBIN = "rr"
    WEIGHTED_ROUND_ROBIN = "wrr"
    LEAST_CONNECTION = "lc"
    WEIGHTED_LEAST_CONNECTION = "wlc"
    LOCALITY_BASED_LEAST_CONNECTION = "lblc"
    LOCALITY_BASED_LEAST_CONNECTION_REPLICATION = "lblcr"
    DESTINATION_HASHING = "dh"
    SOURCE_HASHING = "sh"
    SHORTEST_EXPECTED_DELAY = "sed"
    NEVER_QUEUE = "nq"
    WEIGHTED_FAILOVER = "fo"
    WEIGHTED_OVERFLOW = "ovf"
    MAGLEV_HASHING = "mh"
    TWO_CHOICE = "twos"
    NONE = "none"
    RR = "rr"
    WRR = "wrr"
    LC = "lc"
    WLC = "wlc"
    LBLC = "lblc"
    LBLCR = "lblcr"
    DH = "dh"
    SH = "sh"
    SED = "sed"
    NQ = "nq"
    FO = "fo"
    OVF = "ovf"
    MH = "mh"
    TWOS = "twos"

    @classmethod
    def kernel_schedulers(cls) -> list[Scheduler]:
        """Every scheduler shipped with the kernel (not ``NONE``)."""
        return [s for s in cls if s is not cls.NONE]

    @classmethod
    def from_name(cls, name: str) -> Scheduler | str:
        """The scheduler for a kernel name; other names are returned as is."""
        try:
            return cls(name)
        except ValueError:
            return name

    @classmethod
    def _coerce(cls, field: str, value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return _SCHED_BY_NAME.get(value, value)
        raise TypeError(f"{field}: expected Scheduler or str, got {type(value).__name__}")


_SCHED_BY_NAME = {s.value: s for s in Scheduler}


class ServiceFlags(enum.IntFlag):
    """Service flag bits (``IP_VS_SVC_F_*``); unknown bits are kept.

    ``PERSISTENT`` follows :attr:`Service.persistence` and ``HASHED`` is the
    kernel's: services read back carry neither in :attr:`Service.flags`. The
    scheduler flags mean what the scheduler makes of them; the aliases name
    them for ``sh`` and ``mh``.
    """

    PERSISTENT = 0x1
    HASHED = 0x2
    ONE_PACKET = 0x4
    SCHED1 = 0x8
    SCHED2 = 0x10
    SCHED3 = 0x20
    SH_FALLBACK = 0x8
    SH_PORT = 0x10
    MH_FALLBACK = 0x8
    MH_PORT = 0x10

    def __repr__(self) -> str:
        value = int(self)
        parts = []
        for name in ("PERSISTENT", "HASHED", "ONE_PACKET", "SCHED1", "SCHED2", "SCHED3"):
            bit = ServiceFlags.__members__[name].value
            if value & bit:
                parts.append(f"ServiceFlags.{name}")
                value &= ~bit
        if value or not parts:
            parts.append(f"ServiceFlags({value:#x})")
        return " | ".join(parts)


class ForwardMethod(_Enum):
    """How the director forwards packets to a destination.

    A value the kernel reports that is none of these is kept as a plain
    ``int`` (Rust's ``ForwardMethod::Other``); validation refuses it.
    """

    MASQUERADE = "masquerade"
    """NAT (``ipvsadm -m``)."""
    LOCAL = "local"
    """The director itself."""
    TUNNEL = "tunnel"
    """IPIP, GUE or GRE tunnelling (``-i``); see :class:`Tunnel`."""
    DIRECT_ROUTE = "direct_route"
    """Direct routing / gatewaying (``-g``)."""
    BYPASS = "bypass"
    """Bypass."""

    @property
    def raw(self) -> int:
        """The kernel's value (``IP_VS_CONN_F_*``)."""
        return _FWD_RAW[self]

    @classmethod
    def from_raw(cls, raw: int) -> ForwardMethod | int:
        """The method for a kernel value, or the value itself."""
        return _FWD_BY_RAW.get(raw, raw)

    @classmethod
    def _coerce(cls, field: str, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.from_raw(_int(field, value, 32))
        return super()._coerce(field, value)


_FWD_RAW = {
    ForwardMethod.MASQUERADE: 0,
    ForwardMethod.LOCAL: 1,
    ForwardMethod.TUNNEL: 2,
    ForwardMethod.DIRECT_ROUTE: 3,
    ForwardMethod.BYPASS: 4,
}
_FWD_BY_RAW = {v: k for k, v in _FWD_RAW.items()}


class TunnelType(_Enum):
    """The encapsulation of a tunnelled destination."""

    IPIP = "ipip"
    GUE = "gue"
    GRE = "gre"


class TunnelChecksum(_Enum):
    """Checksum handling of a GUE or GRE tunnel."""

    NONE = "none"
    """No checksum (``--tun-nocsum``)."""
    CHECKSUM = "checksum"
    """A checksum in the encapsulation header (``--tun-csum``)."""
    REMOTE = "remote"
    """Remote checksum offload (``--tun-remcsum``, GUE only)."""


class DaemonState(_Enum):
    """The role of a connection-sync daemon.

    Another value the kernel reports is kept as a plain ``int``.
    """

    MASTER = "master"
    BACKUP = "backup"

    @property
    def raw(self) -> int:
        """The kernel's value (1, 2)."""
        return 1 if self is DaemonState.MASTER else 2

    @classmethod
    def _coerce(cls, field: str, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = _int(field, value, 32)
            return {1: cls.MASTER, 2: cls.BACKUP}.get(value, value)
        return super()._coerce(field, value)


# --------------------------------------------------------------------------
# Tunnels.


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Tunnel:
    """The encapsulation of a tunnelled destination (``ipvsadm --tun-*``).

    Build one with :meth:`ipip`, :meth:`gue` or :meth:`gre`.
    """

    type: TunnelType
    """IPIP, GUE or GRE."""
    port: int
    """The UDP port of the real server's GUE receiver (GUE only, non-zero)."""
    checksum: TunnelChecksum
    """Checksum handling (GUE and GRE; ``REMOTE`` for GUE only)."""

    def __init__(
        self,
        type: TunnelType | str = TunnelType.IPIP,
        port: int = 0,
        checksum: TunnelChecksum | str = TunnelChecksum.NONE,
    ) -> None:
        kind = TunnelType._coerce("forward", type)
        port = _int("port", port, 16)
        checksum = TunnelChecksum._coerce("checksum", checksum)
        if kind is TunnelType.IPIP and (port or checksum is not TunnelChecksum.NONE):
            raise ValidationError(
                "forward", "an IPIP tunnel has neither a port nor checksum options",
                kind="IpipOptions",
            )
        if kind is TunnelType.GRE and port:
            raise ValidationError("forward", "a GRE tunnel has no port", kind="GrePort")
        _setattrs(self, type=kind, port=port, checksum=checksum)

    @classmethod
    def ipip(cls) -> Tunnel:
        """IP in IP (``--tun-type ipip``, the default)."""
        return cls(TunnelType.IPIP)

    @classmethod
    def gue(cls, port: int, checksum: TunnelChecksum | str = TunnelChecksum.NONE) -> Tunnel:
        """Generic UDP Encapsulation to `port` (``--tun-type gue --tun-port``)."""
        return cls(TunnelType.GUE, port, checksum)

    @classmethod
    def gre(cls, checksum: TunnelChecksum | str = TunnelChecksum.NONE) -> Tunnel:
        """GRE (``--tun-type gre``)."""
        return cls(TunnelType.GRE, 0, checksum)

    def __repr__(self) -> str:
        if self.type is TunnelType.IPIP:
            return "Tunnel.ipip()"
        cs = "" if self.checksum is TunnelChecksum.NONE else repr(self.checksum)
        if self.type is TunnelType.GUE:
            return f"Tunnel.gue({self.port}{', ' + cs if cs else ''})"
        return f"Tunnel.gre({cs})"

    def to_dict(self) -> dict[str, Any]:
        """The serde form: ``{"type": "gue", "port": 6080, "checksum": "none"}``."""
        return _to_dict("tunnel", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tunnel:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("tunnel", d, Tunnel)


# --------------------------------------------------------------------------
# Service keys.


class ServiceKey:
    """What identifies a virtual service: an :class:`AddressKey` (protocol,
    address, port) or a :class:`FwmarkKey` (firewall mark and family).

    >>> ServiceKey.tcp("192.0.2.10", 80)
    ServiceKey.tcp('192.0.2.10', 80)
    >>> str(ServiceKey.fwmark(7))
    'FWM 7'
    """

    __slots__ = ()

    @staticmethod
    def tcp(address: AddressLike, port: int) -> AddressKey:
        """A TCP service."""
        return AddressKey(Protocol.TCP, address, port)

    @staticmethod
    def udp(address: AddressLike, port: int) -> AddressKey:
        """A UDP service."""
        return AddressKey(Protocol.UDP, address, port)

    @staticmethod
    def sctp(address: AddressLike, port: int) -> AddressKey:
        """An SCTP service."""
        return AddressKey(Protocol.SCTP, address, port)

    @staticmethod
    def fwmark(fwmark: int, family: AddressFamily | str = AddressFamily.IPV4) -> FwmarkKey:
        """A firewall-mark service (IPv4 unless `family` says otherwise)."""
        return FwmarkKey(fwmark, family)

    @property
    def family(self) -> AddressFamily:
        """The service's address family."""
        raise NotImplementedError

    def __str__(self) -> str:
        """``TCP 192.0.2.10:80``, ``FWM 7``, ``FWM 7 IPv6`` (as ``ipvsctl`` prints it)."""
        return _ipvs.display("service_key", self)

    def to_dict(self) -> dict[str, Any]:
        """The serde form (untagged)."""
        return _to_dict("service_key", self)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ServiceKey:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("service_key", d, ServiceKey)

    def validate(self) -> None:
        """Raise :class:`~ipvs.errors.ValidationError` if the kernel would
        refuse this key (an unbalanced protocol, firewall mark 0)."""
        _ipvs.validate_service_key(self)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class AddressKey(ServiceKey):
    """A service on an address and port, for one protocol."""

    protocol: Protocol | int
    """TCP, UDP or SCTP (another number only as the kernel reports it)."""
    address: IPAddress
    """The virtual IP address."""
    port: int
    """The port; 0 means every port (and needs persistence)."""

    def __init__(self, protocol: Protocol | str | int, address: AddressLike, port: int) -> None:
        _setattrs(
            self,
            protocol=Protocol._coerce("protocol", protocol),
            address=_addr("address", address),
            port=_int("port", port, 16),
        )

    @property
    def family(self) -> AddressFamily:
        return AddressFamily.IPV4 if self.address.version == 4 else AddressFamily.IPV6

    def __repr__(self) -> str:
        if isinstance(self.protocol, Protocol):
            return f"ServiceKey.{self.protocol.value}({str(self.address)!r}, {self.port})"
        return _repr(self, (self.protocol, self.address, self.port), {})



@dataclass(frozen=True, slots=True, init=False, repr=False)
class FwmarkKey(ServiceKey):
    """A service matching packets that carry a firewall mark."""

    fwmark: int  # type: ignore[assignment]  # (ServiceKey.fwmark() makes one)
    """The mark (non-zero)."""
    family: AddressFamily
    """The family of the packets the service matches."""

    def __init__(self, fwmark: int, family: AddressFamily | str = AddressFamily.IPV4) -> None:
        _setattrs(
            self,
            fwmark=_int("fwmark", fwmark, 32),
            family=AddressFamily._coerce("family", family),
        )

    def __repr__(self) -> str:
        if self.family is AddressFamily.IPV4:
            return f"ServiceKey.fwmark({self.fwmark})"
        return f"ServiceKey.fwmark({self.fwmark}, {self.family!r})"



def _key(field: str, value: Any) -> ServiceKey:
    if isinstance(value, ServiceKey):
        return value
    if isinstance(value, Service):
        return value.key
    raise TypeError(f"{field}: expected a ServiceKey, got {type(value).__name__}")


# --------------------------------------------------------------------------
# Counters.


@dataclass(frozen=True, slots=True)
class Stats:
    """Traffic counters and per-second rates of a service or destination,
    as the kernel reports them (rates estimated every two seconds)."""

    connections: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    cps: int = 0
    pps_in: int = 0
    pps_out: int = 0
    bps_in: int = 0
    bps_out: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = (
        "connections", "packets_in", "packets_out", "bytes_in", "bytes_out",
        "cps", "pps_in", "pps_out", "bps_in", "bps_out",
    )

    def __post_init__(self) -> None:
        for name in Stats.FIELDS:
            _setattrs(self, **{name: _int(name, getattr(self, name), 64)})

    def to_dict(self) -> dict[str, int]:
        """The serde form (every counter)."""
        return _to_dict("stats", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Stats:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("stats", d, Stats)


@dataclass(frozen=True, slots=True)
class Connections:
    """Connection counts of a destination, as the kernel reports them."""

    active: int = 0
    """Established connections (``ActiveConn``)."""
    inactive: int = 0
    """Other connections (``InActConn``)."""
    persistent: int = 0
    """Persistence templates pointing at the destination."""

    def __post_init__(self) -> None:
        for name in ("active", "inactive", "persistent"):
            _setattrs(self, **{name: _int(name, getattr(self, name), 32)})

    def to_dict(self) -> dict[str, int]:
        """The serde form."""
        return _to_dict("connections", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Connections:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("connections", d, Connections)


# --------------------------------------------------------------------------
# Services.

Netmask = Union[ipaddress.IPv4Address, int]
"""A persistence netmask: an IPv4 mask, or an IPv6 prefix length (1 to 128)."""


def _netmask(value: Any) -> Netmask | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return _int("netmask", value, 8)
    if isinstance(value, str):
        try:
            return ipaddress.IPv4Address(value)
        except ValueError:
            raise ValidationError(
                "netmask", f"{value!r} is not an IPv4 mask", kind="BadNetmask"
            ) from None
    if isinstance(value, _IPv4):
        return value
    raise TypeError(
        "netmask: expected an IPv4Address or str (IPv4 mask) or an int (IPv6 prefix length), "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Persistence:
    """Persistence: connections from one client (or client network) go to the
    same destination for `timeout` seconds after the last one.

    `netmask` groups clients: an IPv4 mask (``"255.255.255.0"``) for IPv4
    services, a prefix length (``64``) for IPv6 ones. ``None`` means one
    client per group (/32 or /128); a :class:`Service` fills it in.
    """

    timeout: int
    """Seconds a persistence template outlives its last connection."""
    netmask: Netmask | None
    """The client grouping mask."""

    def __init__(self, timeout: int, netmask: Netmask | str | None = None) -> None:
        _setattrs(self, timeout=_int("timeout", timeout, 32), netmask=_netmask(netmask))

    def __repr__(self) -> str:
        return _repr(self, (self.timeout,), {} if self.netmask is None else {"netmask": self.netmask})

    def to_dict(self) -> dict[str, Any]:
        """The serde form: ``{"timeout": 600, "netmask": {"v4": "255.255.255.255"}}``."""
        return _to_dict("persistence", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Persistence:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("persistence", d, Persistence)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Service:
    """A virtual service: what the director balances.

    >>> svc = Service(ServiceKey.tcp("192.0.2.10", 80), Scheduler.WRR, persistence=600)
    >>> svc.persistence
    Persistence(600, netmask='255.255.255.255')

    `persistence` takes a :class:`Persistence` or a timeout in seconds.
    Services read from the kernel carry :attr:`stats`; ``config()`` drops
    them, to compare with a service as written.
    """

    key: ServiceKey
    """What identifies the service."""
    scheduler: Scheduler | str
    """The connection scheduler (another module's name as a ``str``)."""
    persistence: Persistence | None
    """Persistence, if the service is persistent."""
    flags: ServiceFlags
    """Flag bits other than PERSISTENT and HASHED: one-packet, scheduler flags."""
    persistence_engine: str | None
    """The persistence engine, such as ``"sip"``."""
    stats: Stats | None
    """Traffic counters, on services read from the kernel."""

    def __init__(
        self,
        key: ServiceKey,
        scheduler: Scheduler | str = Scheduler.WEIGHTED_LEAST_CONNECTION,
        *,
        persistence: Persistence | int | None = None,
        flags: ServiceFlags | int = ServiceFlags(0),
        persistence_engine: str | None = None,
        stats: Stats | None = None,
    ) -> None:
        key = _key("key", key)
        if persistence is not None:
            if not isinstance(persistence, Persistence):
                persistence = Persistence(persistence)
            if persistence.netmask is None:
                host: Netmask = _IPv4("255.255.255.255") if key.family is AddressFamily.IPV4 else 128
                persistence = Persistence(persistence.timeout, host)
        _setattrs(
            self,
            key=key,
            scheduler=Scheduler._coerce("scheduler", scheduler),
            persistence=persistence,
            flags=ServiceFlags(_int("flags", flags, 32)),
            persistence_engine=None
            if persistence_engine is None
            else _str("persistence_engine", persistence_engine),
            stats=None if stats is None else _inst("stats", stats, Stats),
        )

    @property
    def family(self) -> AddressFamily:
        """The service's address family."""
        return self.key.family

    @property
    def one_packet(self) -> bool:
        """Whether one-packet scheduling is on."""
        return bool(self.flags & ServiceFlags.ONE_PACKET)

    @property
    def scheduler_name(self) -> str:
        """The scheduler's kernel name."""
        s = self.scheduler
        return s.value if isinstance(s, Scheduler) else s

    def config(self) -> Service:
        """This service without what only the kernel reports (stats)."""
        return self if self.stats is None else self.replace(stats=None)

    def replace(self, **changes: Any) -> Service:
        """A copy with some fields changed (like :func:`dataclasses.replace`)."""
        fields: dict[str, Any] = {
            "key": self.key,
            "scheduler": self.scheduler,
            "persistence": self.persistence,
            "flags": self.flags,
            "persistence_engine": self.persistence_engine,
            "stats": self.stats,
        }
        fields.update(changes)
        return Service(**fields)

    def __repr__(self) -> str:
        kw: dict[str, Any] = {}
        if self.persistence is not None:
            kw["persistence"] = self.persistence
        if self.flags:
            kw["flags"] = self.flags
        if self.persistence_engine is not None:
            kw["persistence_engine"] = self.persistence_engine
        if self.stats is not None:
            kw["stats"] = self.stats
        return _repr(self, (self.key, self.scheduler), kw)

    def validate(self) -> None:
        """Raise :class:`~ipvs.errors.ValidationError` (naming the field) for
        anything the kernel would refuse or misread."""
        _ipvs.validate_service(self)

    def to_dict(self) -> dict[str, Any]:
        """The serde form: the key's fields, then ``scheduler`` and the set options."""
        return _to_dict("service", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Service:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("service", d, Service)

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Service:
        """Read a JSON document in the serde form."""
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------
# Destinations.


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Destination:
    """A destination (real server) of a virtual service.

    >>> Destination("192.0.2.21", 80, ForwardMethod.DIRECT_ROUTE, weight=3)
    Destination('192.0.2.21', 80, ForwardMethod.DIRECT_ROUTE, weight=3)
    >>> Destination("192.0.2.22", 80, Tunnel.gue(6080)).forward
    ForwardMethod.TUNNEL

    `forward` takes a :class:`ForwardMethod` or, for tunnelling, a
    :class:`Tunnel` (``ForwardMethod.TUNNEL`` alone is an IPIP tunnel).
    Destinations read from the kernel carry :attr:`connections` and
    :attr:`stats`; ``config()`` drops them.
    """

    address: IPAddress
    """The real server's address (another family than the service's only when tunnelling)."""
    port: int
    """The real server's port (the kernel uses the service's for DR and tunnels)."""
    forward: ForwardMethod | int
    """How packets reach it."""
    tunnel: Tunnel | None
    """The tunnel settings, when `forward` is TUNNEL (else ``None``)."""
    weight: int
    """Relative weight, 0 to 2**31-1; 0 stops new connections (quiesced)."""
    upper_threshold: int
    """Stop sending new connections above this many (0: no limit)."""
    lower_threshold: int
    """Resume below this many after hitting the upper threshold (0: unset)."""
    connections: Connections | None
    """Connection counts, on destinations read from the kernel."""
    stats: Stats | None
    """Traffic counters, on destinations read from the kernel."""

    def __init__(
        self,
        address: AddressLike,
        port: int,
        forward: ForwardMethod | Tunnel | str | int | None = None,
        *,
        tunnel: Tunnel | None = None,
        weight: int = 1,
        upper_threshold: int = 0,
        lower_threshold: int = 0,
        connections: Connections | None = None,
        stats: Stats | None = None,
    ) -> None:
        if isinstance(forward, Tunnel):
            if tunnel is not None and tunnel != forward:
                raise ValidationError("tunnel", "given twice, differently", kind="TunnelTwice")
            tunnel, forward = forward, ForwardMethod.TUNNEL
        elif forward is None:
            forward = ForwardMethod.MASQUERADE if tunnel is None else ForwardMethod.TUNNEL
        else:
            forward = ForwardMethod._coerce("forward", forward)
        if forward is ForwardMethod.TUNNEL:
            tunnel = Tunnel.ipip() if tunnel is None else _inst("tunnel", tunnel, Tunnel)
        elif tunnel is not None:
            raise ValidationError(
                "tunnel", f"tunnel options need forward=ForwardMethod.TUNNEL, not {forward!r}",
                kind="TunnelWithoutTunnelling",
            )
        _setattrs(
            self,
            address=_addr("address", address),
            port=_int("port", port, 16),
            forward=forward,
            tunnel=tunnel,
            weight=_int("weight", weight, 32),
            upper_threshold=_int("upper_threshold", upper_threshold, 32),
            lower_threshold=_int("lower_threshold", lower_threshold, 32),
            connections=None
            if connections is None
            else _inst("connections", connections, Connections),
            stats=None if stats is None else _inst("stats", stats, Stats),
        )

    @property
    def family(self) -> AddressFamily:
        """The address family of the destination's address."""
        return AddressFamily.IPV4 if self.address.version == 4 else AddressFamily.IPV6

    @property
    def socket_address(self) -> tuple[IPAddress, int]:
        """``(address, port)``."""
        return (self.address, self.port)

    def config(self) -> Destination:
        """This destination without what only the kernel reports."""
        if self.connections is None and self.stats is None:
            return self
        return self.replace(connections=None, stats=None)

    def replace(self, **changes: Any) -> Destination:
        """A copy with some fields changed (like :func:`dataclasses.replace`)."""
        fields: dict[str, Any] = {
            "address": self.address,
            "port": self.port,
            "forward": self.forward,
            "tunnel": self.tunnel,
            "weight": self.weight,
            "upper_threshold": self.upper_threshold,
            "lower_threshold": self.lower_threshold,
            "connections": self.connections,
            "stats": self.stats,
        }
        if "forward" in changes and "tunnel" not in changes:
            fields["tunnel"] = None
        fields.update(changes)
        return Destination(**fields)

    def __repr__(self) -> str:
        pos: tuple[Any, ...] = (self.address, self.port)
        if self.forward is ForwardMethod.TUNNEL:
            pos += (self.tunnel,)
        elif self.forward is not ForwardMethod.MASQUERADE:
            pos += (self.forward,)
        kw: dict[str, Any] = {}
        if self.weight != 1:
            kw["weight"] = self.weight
        if self.upper_threshold:
            kw["upper_threshold"] = self.upper_threshold
        if self.lower_threshold:
            kw["lower_threshold"] = self.lower_threshold
        if self.connections is not None:
            kw["connections"] = self.connections
        if self.stats is not None:
            kw["stats"] = self.stats
        return _repr(self, pos, kw)

    def __str__(self) -> str:
        return _ipvs.display("destination", self)

    def validate(self, service: ServiceKey | Service) -> None:
        """Raise :class:`~ipvs.errors.ValidationError` (naming the field) for
        anything the kernel would refuse, as a destination of `service`."""
        key = _key("service", service)
        _ipvs.validate_destination(self, key)

    def to_dict(self) -> dict[str, Any]:
        """The serde form."""
        return _to_dict("destination", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Destination:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("destination", d, Destination)

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Destination:
        """Read a JSON document in the serde form."""
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------
# Namespace-wide settings.


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connection-table timeouts in seconds (``ipvsadm --set tcp tcpfin udp``).

    When setting, 0 leaves a value unchanged; the kernel's defaults are 900,
    120 and 300 seconds.
    """

    tcp: int = 0
    """Established TCP connections."""
    tcp_fin: int = 0
    """TCP connections after a FIN."""
    udp: int = 0
    """UDP "connections"."""

    UNCHANGED: ClassVar[Timeouts]
    """Leaves every timeout as it is."""
    KERNEL_DEFAULTS: ClassVar[Timeouts]
    """The kernel's defaults (900, 120, 300)."""

    def __post_init__(self) -> None:
        for name in ("tcp", "tcp_fin", "udp"):
            _setattrs(self, **{name: _int(name, getattr(self, name), 32)})

    def to_dict(self) -> dict[str, int]:
        """The serde form."""
        return _to_dict("timeouts", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Timeouts:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("timeouts", d, Timeouts)


Timeouts.UNCHANGED = Timeouts()
Timeouts.KERNEL_DEFAULTS = Timeouts(900, 120, 300)


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """An IPVS version (``0x010201`` is 1.2.1); ordered."""

    major: int
    minor: int
    patch: int

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            _setattrs(self, **{name: _int(name, getattr(self, name), 8)})

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @classmethod
    def from_raw(cls, raw: int) -> Version:
        """From the kernel's packed form."""
        return cls((raw >> 16) & 0xFF, (raw >> 8) & 0xFF, raw & 0xFF)

    def to_raw(self) -> int:
        """The kernel's packed form."""
        return self.major << 16 | self.minor << 8 | self.patch

    def to_dict(self) -> dict[str, int]:
        """The serde form."""
        return _to_dict("version", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Version:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("version", d, Version)


@dataclass(frozen=True, slots=True)
class Info:
    """What the kernel says about its IPVS (``ipvsadm --version``)."""

    version: Version
    """The IPVS version."""
    connection_table_size: int
    """Buckets of the connection hash table."""

    def __post_init__(self) -> None:
        _inst("version", self.version, Version)
        _setattrs(
            self, connection_table_size=_int("connection_table_size", self.connection_table_size, 32)
        )

    def to_dict(self) -> dict[str, Any]:
        """The serde form."""
        return _to_dict("info", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Info:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("info", d, Info)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class SyncDaemon:
    """A connection-synchronisation daemon: its configuration when starting
    one, its state when listing them.

    Unset options take the kernel's defaults (group 224.0.0.81, port 8848,
    TTL 1, maximum length from the MTU); the kernel reports them all.
    """

    state: DaemonState | int
    """Master or backup."""
    interface: str
    """The interface it multicasts on."""
    sync_id: int
    """The sync id (0 to 255) that pairs masters and backups."""
    max_len: int | None
    """The largest sync message, in bytes."""
    group: IPAddress | None
    """The multicast group, IPv4 or IPv6."""
    port: int | None
    """The UDP port."""
    ttl: int | None
    """The multicast TTL."""

    def __init__(
        self,
        state: DaemonState | str | int,
        interface: str,
        sync_id: int = 0,
        *,
        max_len: int | None = None,
        group: AddressLike | None = None,
        port: int | None = None,
        ttl: int | None = None,
    ) -> None:
        _setattrs(
            self,
            state=DaemonState._coerce("state", state),
            interface=_str("interface", interface),
            sync_id=_int("sync_id", sync_id, 32),
            max_len=_opt_int("max_len", max_len, 16),
            group=None if group is None else _addr("group", group),
            port=_opt_int("port", port, 16),
            ttl=_opt_int("ttl", ttl, 8),
        )

    def __repr__(self) -> str:
        kw = {
            k: getattr(self, k)
            for k in ("max_len", "group", "port", "ttl")
            if getattr(self, k) is not None
        }
        return _repr(self, (self.state, self.interface, self.sync_id), kw)

    def validate(self) -> None:
        """Raise :class:`~ipvs.errors.ValidationError` for a configuration the
        kernel would refuse."""
        _ipvs.validate_daemon(self)

    def to_dict(self) -> dict[str, Any]:
        """The serde form (unset options left out)."""
        return _to_dict("daemon", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SyncDaemon:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("daemon", d, SyncDaemon)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class ServiceEntry:
    """A service and its destinations, as :meth:`ipvs.Client.snapshot` reads
    them; unpacks as ``service, destinations``."""

    service: Service
    destinations: Tuple[Destination, ...]

    def __init__(self, service: Service, destinations: Any = ()) -> None:
        _setattrs(
            self,
            service=_inst("service", service, Service),
            destinations=tuple(_inst("destinations", d, Destination) for d in destinations),
        )

    def __iter__(self) -> Iterator[Any]:
        yield self.service
        yield self.destinations

    def __repr__(self) -> str:
        return _repr(self, (self.service, self.destinations), {})

    def to_dict(self) -> dict[str, Any]:
        """The serde form: ``{"service": {...}, "destinations": [...]}``."""
        return _to_dict("entry", self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceEntry:
        """Read the serde form (as the Rust crate does)."""
        return _from_dict("entry", d, ServiceEntry)
