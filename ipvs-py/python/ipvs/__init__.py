"""Linux IPVS (the kernel's layer-4 load balancer, LVS) from Python.

A typed model (:mod:`ipvs.model`), a client over generic netlink
(:class:`Client`, backed by the Rust crate ``ipvs-netlink``), batches of
operations (:mod:`ipvs.ops`) and one exception class per error
(:mod:`ipvs.errors`)::

    import ipvs
    from ipvs import Client, Destination, ForwardMethod, Scheduler, Service, ServiceKey

    key = ServiceKey.tcp("192.0.2.10", 80)
    with Client() as client:
        client.add_service(Service(key, Scheduler.WRR, persistence=600))
        client.add_destination(key, Destination("198.51.100.2", 80, ForwardMethod.DIRECT_ROUTE, weight=2))
        for service, destinations in client.snapshot():
            print(service.key, [str(d) for d in destinations])
"""

from . import errors, model, ops
from . import cluster  # noqa: E402  (ipvs.cluster: real servers, director, balance)
from ._ipvs import __version__
from .client import Client, NetnsLike
from .errors import (
    AlreadyExists,
    DaemonExists,
    DaemonNotFound,
    DecodeError,
    DestinationExists,
    DestinationNotFound,
    DumpInterrupted,
    InterfaceNotFound,
    InvalidArgument,
    IpvsError,
    IpvsNotAvailable,
    KernelError,
    NotAttempted,
    NotFound,
    PermissionDenied,
    PersistenceEngineNotFound,
    SchedulerNotFound,
    ServiceExists,
    ServiceNotFound,
    SocketError,
    Timeout,
    ValidationError,
)
from .model import (
    AddressFamily,
    AddressKey,
    AddressLike,
    Connections,
    DaemonState,
    Destination,
    ForwardMethod,
    FwmarkKey,
    Info,
    IPAddress,
    Netmask,
    Persistence,
    Protocol,
    Scheduler,
    Service,
    ServiceEntry,
    ServiceFlags,
    ServiceKey,
    Stats,
    SyncDaemon,
    Timeouts,
    Tunnel,
    TunnelChecksum,
    TunnelType,
    Version,
)
from .ops import (
    AddDestination,
    AddService,
    BatchResult,
    DeleteDestination,
    DeleteService,
    Flush,
    Operation,
    SetTimeouts,
    StartDaemon,
    StopDaemon,
    UpdateDestination,
    UpdateService,
    Zero,
)

__all__ = [
    "__version__",
    "errors",
    "model",
    "ops",
    "cluster",
    # client
    "Client",
    "NetnsLike",
    # model
    "AddressFamily",
    "AddressKey",
    "AddressLike",
    "Connections",
    "DaemonState",
    "Destination",
    "ForwardMethod",
    "FwmarkKey",
    "Info",
    "IPAddress",
    "Netmask",
    "Persistence",
    "Protocol",
    "Scheduler",
    "Service",
    "ServiceEntry",
    "ServiceFlags",
    "ServiceKey",
    "Stats",
    "SyncDaemon",
    "Timeouts",
    "Tunnel",
    "TunnelChecksum",
    "TunnelType",
    "Version",
    # operations
    "Operation",
    "AddService",
    "UpdateService",
    "DeleteService",
    "AddDestination",
    "UpdateDestination",
    "DeleteDestination",
    "SetTimeouts",
    "Zero",
    "Flush",
    "StartDaemon",
    "StopDaemon",
    "BatchResult",
    # errors
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
