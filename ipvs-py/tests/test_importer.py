"""ipvs.importer on the test files of the Rust crate (ipvs/tests/data/import):
Python gets exactly what the Rust goldens say (the table as rules, the
warnings with file and line, the failover settings), and keepalived.conf
written from a state reads back to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ipvs
from ipvs import ServiceKey, State, importer

DATA = Path(__file__).resolve().parents[2] / "ipvs" / "tests" / "data" / "import"
KEEPALIVED = sorted(p for d in ("host", "guest", "other") for p in (DATA / "keepalived" / d).glob("*.conf"))
PIRANHA = sorted((DATA / "piranha").glob("*.cf"))


def warnings_text(loaded: importer.Import) -> str:
    root = f"{DATA}/"
    return "".join(f"{w}\n".replace(root, "") for w in loaded.warnings)


def failover_text(loaded: importer.Import) -> str:
    if loaded.failover is None:
        return "none\n"
    return json.dumps(loaded.failover.to_dict(), indent=2) + "\n"


@pytest.mark.parametrize("path", KEEPALIVED + PIRANHA, ids=lambda p: p.name)
def test_files_load_as_the_rust_goldens_say(path: Path) -> None:
    loaded = ipvs.load_keepalived(path) if path.suffix == ".conf" else ipvs.load_piranha(path)
    assert loaded.state.to_rules() == path.with_suffix(".rules").read_text()
    assert warnings_text(loaded) == path.with_suffix(".warnings").read_text()
    assert failover_text(loaded) == path.with_suffix(".failover").read_text()
    for w in loaded.warnings:
        assert w.line >= 1 and w.column >= 1 and w.file.startswith(str(DATA))
        assert str(w) == f"{w.file}:{w.line}:{w.column}: {w.kind}: {w.key}: {w.message}"
        assert w.kind in ("unknown key", "not carried over", "corrected", "inactive")


def test_there_are_test_files() -> None:
    assert len(KEEPALIVED) >= 10 and len(PIRANHA) >= 4


def test_a_warning_names_file_line_and_key() -> None:
    loaded = ipvs.load_piranha(DATA / "piranha" / "p1-nat-web.cf")
    lm = [w for w in loaded.warnings if w.key == "load_monitor"]
    assert len(lm) == 1
    assert (Path(lm[0].file).name, lm[0].line, lm[0].kind) == ("p1-nat-web.cf", 55, "not carried over")
    assert loaded.failover is not None and loaded.failover.instance == "lvs"


def test_format_by_name_and_text() -> None:
    assert importer.format_of("/etc/sysconfig/ha/lvs.cf") == "piranha"
    assert importer.format_of("keepalived.conf") == "keepalived"
    assert importer.format_of("lb.yaml") is None
    with pytest.raises(ValueError):
        importer.load(DATA / "piranha" / "p1-nat-web.cf")
    text = "virtual_server 192.0.2.10 80 {\n  lvs_sched wrr\n  lvs_method DR\n  protocol TCP\n  real_server 192.0.2.21 80 {\n    weight 3\n  }\n}\n"
    loaded = importer.loads(text, "keepalived", "/etc/keepalived/keepalived.conf")
    assert loaded.state.to_rules() == "-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 3\n"
    assert loaded.warnings == () and loaded.failover is None


def test_errors_name_file_line_and_column() -> None:
    with pytest.raises(importer.LoadError) as e:
        importer.loads("virtual_server 192.0.2.10 80 {\n  lvs_sched wrr\n", "keepalived", "/cfg/keepalived.conf")
    assert e.value.file == "/cfg/keepalived.conf" and e.value.kind == "syntax"
    assert e.value.line is not None and e.value.column is not None
    assert str(e.value).startswith(f"/cfg/keepalived.conf:{e.value.line}:{e.value.column}: ")
    with pytest.raises(importer.LoadError) as e:
        importer.loads("server web1 {\n}\n", "piranha", "/cfg/lvs.cf")
    assert (e.value.line, e.value.column) == (1, 1)
    with pytest.raises(importer.LoadError) as e:
        ipvs.load_keepalived("/nonexistent/keepalived.conf")
    assert e.value.kind == "read" and e.value.line is None and e.value.errno is not None


@pytest.mark.parametrize("path", KEEPALIVED + PIRANHA, ids=lambda p: p.name)
def test_written_keepalived_conf_reads_back(path: Path) -> None:
    loaded = importer.load(path, "keepalived" if path.suffix == ".conf" else "piranha")
    state = loaded.state
    text = ipvs.write_keepalived(state, loaded.failover)
    back = importer.loads(text, "keepalived", "/tmp/keepalived.conf")
    assert back.state.config_eq(state)
    assert back.warnings == ()
    assert back.failover == loaded.failover


def test_write_errors_name_the_service() -> None:
    state = State.from_rules("-A -t 192.0.2.10:80 -s rr\n")
    with pytest.raises(importer.WriteError) as e:
        importer.write_keepalived(state)
    assert e.value.service == ServiceKey.tcp("192.0.2.10", 80)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("path", KEEPALIVED + PIRANHA, ids=lambda p: p.name)
def test_run_config_is_the_rust_golden(path: Path) -> None:
    """The health settings come along: the whole run configuration, as Rust
    writes it (`NAME.health`)."""
    loaded = importer.load(path, "keepalived" if path.suffix == ".conf" else "piranha")
    assert loaded.run_config.to_yaml() == path.with_suffix(".health").read_text()


@pytest.mark.parametrize("path", KEEPALIVED, ids=lambda p: p.name)
def test_keepalived_conf_with_checkers_reads_back(path: Path, tmp_path: Path) -> None:
    config = importer.load_keepalived(path).run_config
    text = importer.write_keepalived_run(config)
    out = tmp_path / "keepalived.conf"
    out.write_text(text)
    back = importer.load(out)
    assert back.warnings == ()
    # The same checks (the writer sorts the services) and the same text again.
    assert sorted(map(repr, back.run_config.checks())) == sorted(map(repr, config.checks()))
    assert importer.write_keepalived_run(back.run_config) == text


def test_checkers_become_checks() -> None:
    loaded = importer.load_keepalived(DATA / "keepalived" / "host" / "h2-checkers.conf")
    kinds = {check.type for _, _, _, check in loaded.run_config.checks()}
    assert {"dns", "udp", "exec"} <= kinds, kinds
