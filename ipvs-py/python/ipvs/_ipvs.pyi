"""The native half of :mod:`ipvs` (Rust, pyo3). Use :class:`ipvs.Client` and
the model rather than this module: its functions take and return the model's
objects, trusting that their constructors checked them."""

import os
from typing import Iterable, Literal, final

from .model import Destination, IPAddress, Info, Service, ServiceEntry, ServiceKey, SyncDaemon, Timeouts
from .ops import Operation

__version__: str
__all__ = [
    "Client",
    "normalize",
    "validate_service",
    "validate_service_key",
    "validate_destination",
    "validate_daemon",
    "to_json",
    "from_json",
    "display",
    "_synthetic_snapshot",
    "Plan",
    "Reconciler",
    "diff",
    "tracker_dumps",
    "tracker_loads",
    "summary_text",
    "draining_text",
    "state_read",
    "state_loads",
    "state_dumps",
    "state_validate",
    "state_config",
    "state_sorted",
    "state_config_eq",
    "rules_parse",
    "inverse_of",
    "ClusterRealServer",
    "ClusterDirector",
    "cluster_balance_report",
    "CLUSTER_DEFAULT_JOURNAL_DIR",
    "metrics_text",
    "metrics_text_of_state",
    "METRICS_CONTENT_TYPE",
    "METRICS_OPENMETRICS_CONTENT_TYPE",
    "__version__",
]

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

def to_json(kind: str, value: object) -> str:
    """The Rust serde JSON of a model value of `kind` (``"service"``,
    ``"destination"``, ``"operation"``...), read the way the client reads it."""

def from_json(kind: str, json: str) -> object:
    """A model value of `kind` read from serde JSON by Rust, built the way the
    client builds what the kernel reports.

    :raises ValueError: `json` is not a document of that kind (serde's words).
    """

def display(kind: str, value: object) -> str:
    """The Rust ``Display`` of a model value of `kind` (``"operation"``,
    ``"service_key"``, ``"destination"``, ``"daemon_state"``)."""

def _synthetic_snapshot(services: int, dests: int, build: bool) -> list[ServiceEntry] | None:
    """For the benchmarks: a table built in Rust, as a snapshot returns it
    (``build``) or not at all."""

def validate_service(service: Service) -> None:
    """Rust's ``Service::validate``; raises :class:`ipvs.ValidationError`."""

def validate_service_key(key: ServiceKey) -> None:
    """Rust's ``ServiceKey::validate``; raises :class:`ipvs.ValidationError`."""

def validate_destination(destination: Destination, key: ServiceKey) -> None:
    """Rust's ``Destination::validate``; raises :class:`ipvs.ValidationError`."""

def validate_daemon(daemon: SyncDaemon) -> None:
    """Rust's ``SyncDaemon::validate``; raises :class:`ipvs.ValidationError`."""

@final
class Client:
    """The Rust blocking client. Every kernel call releases the GIL."""

    def __new__(
        cls,
        netns: str | os.PathLike[str] | None = None,
        timeout: float | None = ...,
        dump_attempts: int = ...,
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
    def _snapshot_counts(self) -> tuple[int, int]: ...
    def timeouts(self) -> Timeouts: ...
    def info(self) -> Info: ...
    def daemons(self) -> list[SyncDaemon]: ...

# -- ipvs.state (whole tables, diffs, plans): use ipvs.State, ipvs.diff, ipvs.Plan.

from typing import Any as _Any

from .state import Draining as _Draining
from .state import State as _State

_TrackerEntry = tuple[ServiceKey, IPAddress, int, float]

@final
class Plan:
    """A Rust ``ipvs::state::Plan``."""

    def __new__(cls, ops: Iterable[Operation]) -> Plan: ...
    def __len__(self) -> int: ...
    def ops(self) -> list[Operation]: ...
    def draining(self) -> list[_Draining]: ...
    def drain_tracker(self) -> list[_TrackerEntry]: ...
    def summary(self) -> dict[str, int]: ...
    def rules(self, thresholds: bool = True) -> str: ...
    def op_rules(self) -> list[str]: ...
    def to_json(self, pretty: bool = True) -> str: ...
    @staticmethod
    def from_json(text: str) -> Plan: ...
    def apply_to(self, state: _State) -> _State: ...
    def apply(
        self, client: Client, actual: _State, rollback: bool = False, on_error: str = "stop", chunk: int = 256
    ) -> dict[str, _Any]: ...

@final
class Reconciler:
    """A Rust ``ipvs::state::Reconciler``."""

    def __new__(cls, drain: float | None = None) -> Reconciler: ...
    def plan(self, actual: _State, desired: _State, now: float | None = None) -> Plan: ...
    def step(
        self, client: Client, desired: _State, rollback: bool = False, on_error: str = "stop", chunk: int = 256
    ) -> tuple[float, Plan, dict[str, _Any]]: ...
    def tracker(self) -> list[_TrackerEntry]: ...
    def set_tracker(self, entries: Iterable[_TrackerEntry]) -> None: ...

def diff(actual: _State, desired: _State, drain: object | None = None) -> Plan:
    """Rust's ``ipvs::state::diff``; `drain` an ``ipvs.DrainOptions``."""

def state_read(client: Client) -> _State:
    """Rust's ``State::read`` (GIL released)."""

def state_loads(format: Literal["json", "yaml", "toml", "rules"], text: str) -> _State:
    """A validated state from text; raises ``ipvs.StateError`` / ``ipvs.RulesError``."""

def state_dumps(
    format: Literal["json", "json-compact", "yaml", "toml", "rules", "ipvsadm"], state: _State
) -> str:
    """A state as text."""

def state_validate(state: _State) -> None: ...
def state_config(state: _State) -> _State: ...
def state_sorted(state: _State) -> _State: ...
def state_config_eq(a: _State, b: _State) -> bool: ...
def rules_parse(text: str) -> list[tuple[int, str]]: ...
def tracker_dumps(entries: Iterable[_TrackerEntry]) -> str:
    """A drain tracker as the file ``ipvsctl --drain-state`` writes."""

def summary_text(summary: object) -> str:
    """``str()`` of an ``ipvs.PlanSummary``, in the Rust (``ipvsctl``) words."""

def draining_text(draining: _Draining) -> str:
    """``str()`` of an ``ipvs.Draining``, in the Rust (``ipvsctl``) words."""

def tracker_loads(text: str) -> list[_TrackerEntry]:
    """A drain-state file (``ipvsctl --drain-state``'s) as tracker entries."""

def inverse_of(actual: _State, applied: Iterable[Operation]) -> tuple[Plan, list[Operation]]: ...
# --- ipvs.cluster's native half (use ipvs.cluster's classes instead) -------

CLUSTER_DEFAULT_JOURNAL_DIR: str

@final
class ClusterRealServer:
    """Rust's ``cluster::RealServerSetup``; each call releases the GIL and
    answers ``(json, text)``: the serde JSON of the result and its Display."""

    def __new__(
        cls,
        vip: str,
        tunnel: Literal["ipip", "gue"] | None,
        gue_port: int,
        netns: str | None,
        journal_dir: str,
        rp_filter_loose: bool,
        arp_interfaces: list[str],
    ) -> ClusterRealServer: ...
    @property
    def owner(self) -> str: ...
    @property
    def vip_interface(self) -> str: ...
    def apply(self) -> tuple[str, str]: ...
    def status(self) -> tuple[str, str]: ...
    def teardown(self) -> tuple[str, str]: ...

@final
class ClusterDirector:
    """Rust's ``cluster::DirectorSetup``; validates its services and
    destinations as the client does."""

    def __new__(
        cls,
        vip: str,
        interface: str,
        prefix_len: int | None,
        nat: bool,
        services: list[tuple[Service, list[Destination]]],
        netns: str | None,
        journal_dir: str,
    ) -> ClusterDirector: ...
    @property
    def owner(self) -> str: ...
    def destinations(self, index: int) -> list[Destination]: ...
    def apply(self) -> tuple[str, str]: ...
    def status(self) -> tuple[str, str]: ...
    def teardown(self) -> tuple[str, str]: ...

def cluster_balance_report(
    service: Service, before: list[Destination], after: list[Destination]
) -> tuple[str, str]:
    """Rust's ``BalanceReport::between``: ``(json, text)``, each reason with a ``text``."""

# ipvs.metrics
METRICS_CONTENT_TYPE: str
METRICS_OPENMETRICS_CONTENT_TYPE: str

def metrics_text(client: Client, node_exporter: bool = False, openmetrics: bool = False) -> str: ...
def metrics_text_of_state(state: _State, node_exporter: bool = False, openmetrics: bool = False) -> str: ...
