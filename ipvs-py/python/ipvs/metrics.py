"""Prometheus metrics of the IPVS table, as text: the exposition Rust's
``ipvs::metrics`` renders (the names, labels and values that
``ipvsctl run --listen`` serves at ``/metrics``), for a Python program that
serves its own ``/metrics``::

    import ipvs
    with ipvs.Client() as client:
        body = ipvs.metrics.exposition(client)
    # answer with Content-Type: ipvs.metrics.CONTENT_TYPE

Per service and destination: the kernel's 64-bit connection, packet and byte
counters and rates; per destination active, inactive and persistent
connections and the weight. ``node_exporter=True`` adds node_exporter's
``node_ipvs_*`` names and labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _ipvs

if TYPE_CHECKING:
    from .client import Client
    from .state import State

__all__ = ["CONTENT_TYPE", "OPENMETRICS_CONTENT_TYPE", "exposition"]

#: The content type of :func:`exposition`'s text (Prometheus text format 0.0.4).
CONTENT_TYPE: str = _ipvs.METRICS_CONTENT_TYPE
#: The content type with ``openmetrics=True``.
OPENMETRICS_CONTENT_TYPE: str = _ipvs.METRICS_OPENMETRICS_CONTENT_TYPE


def exposition(
    source: Client | State, *, node_exporter: bool = False, openmetrics: bool = False
) -> str:
    """The table as Prometheus text: the kernel's, read now through a
    :class:`~ipvs.Client` (the GIL released; a failed read raises as the
    client's calls do), or the services of a :class:`~ipvs.State`.

    :param node_exporter: add node_exporter's ``node_ipvs_*`` names.
    :param openmetrics: the OpenMetrics text format (ends with ``# EOF``).
    """
    from .client import Client

    if isinstance(source, Client):
        return _ipvs.metrics_text(source._native, node_exporter, openmetrics)
    return _ipvs.metrics_text_of_state(source, node_exporter, openmetrics)
