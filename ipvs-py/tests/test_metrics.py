"""ipvs.metrics: the table's Prometheus text, rendered by Rust's
``ipvs::metrics``. The state tests run anywhere; the kernel test runs in the
guest (``scripts/guest run 'python3 -m pytest -q ipvs-py/tests'``) and is
skipped elsewhere."""

from __future__ import annotations

import re

import pytest

import ipvs
from ipvs import Destination, ForwardMethod, Scheduler, Service, ServiceKey, State

from conftest import kernel_skip_reason

RULES = """\
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 3
-a -t 192.0.2.10:80 -r 198.51.100.3:80 -m -w 0
-A -f 7 -s rr
"""


def series(text: str) -> dict[str, float]:
    """Every sample line of an exposition: ``name{labels}`` -> value."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_a_state_as_prometheus_text() -> None:
    text = ipvs.metrics.exposition(State.from_rules(RULES))
    s = series(text)
    web = 'family="ipv4",protocol="tcp",address="192.0.2.10",port="80",fwmark=""'
    assert s[f'ipvs_destination_weight{{{web},server_address="198.51.100.2",server_port="80"}}'] == 3
    assert s[f'ipvs_destination_weight{{{web},server_address="198.51.100.3",server_port="80"}}'] == 0
    assert s["ipvs_services"] == 2 and s["ipvs_destinations"] == 2
    assert "# TYPE ipvs_destination_connections_total counter" in text
    assert not any(k.startswith("node_ipvs_") for k in s)
    node = series(ipvs.metrics.exposition(State.from_rules(RULES), node_exporter=True))
    assert sum(v for k, v in node.items() if k.startswith("node_ipvs_backend_weight{")) == 3
    om = ipvs.metrics.exposition(State.from_rules(RULES), openmetrics=True)
    assert om.endswith("# EOF\n")
    assert ipvs.metrics.CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    assert ipvs.metrics.OPENMETRICS_CONTENT_TYPE.startswith("application/openmetrics-text")


def test_an_empty_state() -> None:
    s = series(ipvs.metrics.exposition(State()))
    assert s["ipvs_services"] == 0 and s["ipvs_up"] == 1


@pytest.mark.kernel
@pytest.mark.skipif(kernel_skip_reason() is not None, reason=kernel_skip_reason() or "")
def test_the_kernel_table_as_prometheus_text(client: ipvs.Client) -> None:
    key = ServiceKey.tcp("192.0.2.10", 80)
    client.add_service(Service(key, Scheduler.WRR))
    client.add_destination(key, Destination("198.51.100.2", 80, ForwardMethod.MASQUERADE, weight=3))
    client.add_destination(key, Destination("198.51.100.3", 80, ForwardMethod.MASQUERADE, weight=5))
    text = ipvs.metrics.exposition(client, node_exporter=True)
    s = series(text)
    assert s["ipvs_up"] == 1 and s["ipvs_services"] == 1 and s["ipvs_destinations"] == 2
    weights = {
        m[1]: v
        for k, v in s.items()
        if (m := re.match(r'ipvs_destination_weight\{.*server_address="([^"]+)"', k))
    }
    assert weights == {"198.51.100.2": 3, "198.51.100.3": 5}
    # The same series as the state read from the kernel renders.
    own = set(series(ipvs.metrics.exposition(State.read(client))))
    assert own == {k for k in s if not k.startswith("node_ipvs_")}
    client.close()
    with pytest.raises(ValueError):
        ipvs.metrics.exposition(client)
