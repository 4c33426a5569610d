"""ipvs.failover on the host: settings validated in Rust and their errors,
the roles' words, keepalived's configuration as Rust renders it, and the
checks of the host. (Running failover needs IPVS: test_health_kernel.py.)"""

from __future__ import annotations

import json
import os

import pytest

import ipvs
from ipvs import failover
from ipvs.failover import Role, Settings, SettingsError

VIP = "198.51.100.100/24"


def test_settings_defaults_and_serde_form() -> None:
    s = Settings("eth0", 51, 150, [VIP])
    assert (s.instance, s.interface, s.virtual_router_id, s.priority) == ("ipvs", "eth0", 51, 150)
    assert (s.advert_interval, s.preempt, s.preempt_delay, s.vips) == (1.0, True, 0.0, [VIP])
    assert (s.sync_interface, s.sync_id) == ("eth0", 51)
    d = s.to_dict()
    assert list(d) == [
        "instance", "interface", "virtual_router_id", "priority", "advert_interval", "preempt",
        "preempt_delay", "vips", "sync", "on_fault", "on_stop", "keepalived",
    ]
    assert d["keepalived"] == {"mode": "run", "binary": "keepalived"}
    assert (d["on_fault"], d["on_stop"]) == ("backup", "stopped")
    assert Settings.from_dict(d) == s and hash(Settings.from_dict(d)) == hash(s)
    assert Settings.from_json(json.dumps(d)) == s
    other = Settings("eth0", 51, 100, [VIP], sync={"interface": "eth1", "sync_id": 7}, preempt=False)
    assert other != s
    assert (other.sync_interface, other.sync_id, other.preempt) == ("eth1", 7, False)
    # The run file's failover block is the same settings.
    config = ipvs.health.from_dict(
        {"services": [], "failover": {"interface": "eth0", "virtual_router_id": 51, "priority": 150, "vips": [VIP]}}
    )
    assert config.failover == s


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"virtual_router_id": 0}, "virtual_router_id", "out of range 1..=255"),
        ({"virtual_router_id": 256}, "virtual_router_id", "out of range 1..=255"),
        ({"priority": 255}, "priority", "out of range 1..=254"),
        ({"vips": []}, "vips", "empty"),
        ({"vips": [VIP, "2001:db8::1/64"]}, "vips", "same family"),
        ({"vips": ["198.51.100.1/33"]}, "vips", "is not a virtual IP"),
        ({"advert_interval": 0}, "advert_interval", "out of range"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"on_fault": "sleep"}, "on_fault", "unknown variant"),
        ({"priority": -1}, "priority", "expected u32"),
    ],
)
def test_bad_settings_name_their_field(fields: dict[str, object], field: str, words: str) -> None:
    doc: dict[str, object] = {"interface": "eth0", "virtual_router_id": 51, "priority": 150, "vips": [VIP]}
    doc.update(fields)
    with pytest.raises(SettingsError) as e:
        Settings.from_dict(doc)
    assert e.value.field == field
    assert words in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, ipvs.IpvsError)


def test_host_checks() -> None:
    with pytest.raises(SettingsError) as e:
        Settings("nosuch-if0", 51, 150, [VIP]).check_host()
    assert e.value.field == "interface" and "no interface" in str(e.value)
    missing = Settings("lo", 51, 150, [VIP], keepalived={"mode": "run", "binary": "/nonexistent/keepalived"})
    with pytest.raises(SettingsError) as e:
        missing.check_host()
    assert e.value.field == "keepalived.binary" and "apt-get install keepalived" in str(e.value)
    # Attached to someone else's keepalived: nothing to install.
    Settings("lo", 51, 150, [VIP], keepalived={"mode": "attach", "fifo": "/run/k.fifo"}).check_host()


def test_roles_are_the_rust_words() -> None:
    assert failover.roles() == [r.value for r in Role] == ["MASTER", "BACKUP", "FAULT", "STOP"]
    assert str(Role.BACKUP) == "BACKUP"
    s = Settings("eth0", 51, 150, [VIP])
    assert s.sync_daemons_for(Role.MASTER) == ["master"]
    assert s.sync_daemons_for("BACKUP") == ["backup"]
    assert s.sync_daemons_for(Role.FAULT) == ["backup"]
    assert s.sync_daemons_for(Role.STOP) == []
    assert Settings("eth0", 51, 150, [VIP], on_fault="stopped").sync_daemons_for("FAULT") == []
    with pytest.raises(ValueError):
        s.sync_daemons_for("LEADER")


def test_keepalived_config_is_rendered_by_rust() -> None:
    s = Settings("eth0", 51, 150, [VIP], unicast={"src_ip": "198.51.100.10", "peers": ["198.51.100.11"]})
    text = s.keepalived_config("/run/ipvs-failover/ipvs/notify.fifo")
    assert "vrrp_notify_fifo /run/ipvs-failover/ipvs/notify.fifo\n" in text
    assert "vrrp_instance ipvs {" in text
    for line in ("interface eth0", "virtual_router_id 51", "priority 150", "unicast_src_ip 198.51.100.10"):
        assert f"    {line}\n" in text, line
    assert VIP in text


def test_failover_needs_ipvs_here() -> None:
    # The host has no IPVS: starting failover raises the client's error, typed.
    if os.path.exists("/proc/net/ip_vs"):
        pytest.skip("this kernel has IPVS: test_health_kernel.py runs failover")
    s = Settings("lo", 51, 150, [VIP], keepalived={"mode": "attach", "fifo": "/nonexistent.fifo"})
    with pytest.raises(ipvs.IpvsNotAvailable):
        failover.Failover(s)
