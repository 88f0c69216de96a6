"""Unit tests of plugins/modules/lbguard_ledger_info.py: it reads what lbguard_ledger keeps, and only reads."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.lbguard.core.plugins.modules import lbguard_ledger_info as info
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import unverified_because
from test_lbguard_ledger import run


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_a_host_never_deployed_reads_as_empty(tmp_path: Path) -> None:
    assert info.ledger_info(str(tmp_path / "ledger"), "haproxy") == {
        "current": None, "last_verified": None, "current_release": None, "live_sha256": None, "releases": [],
        "lock": None, "pending": None, "expired": None, "holds": {}}
    assert not (tmp_path / "ledger").exists()


def test_the_holds_of_the_engine_are_read(tmp_path: Path) -> None:
    (tmp_path / "ledger" / "nginx").mkdir(parents=True)
    hold = {"action": "maint", "by": "alice", "reason": "patching"}
    (tmp_path / "ledger" / "nginx" / "holds.json").write_text(json.dumps({"shop/web2": hold}))
    assert info.ledger_info(str(tmp_path / "ledger"), "nginx")["holds"] == {"shop/web2": hold}
    assert info.ledger_info(str(tmp_path / "ledger"), "haproxy")["holds"] == {}


def test_it_reads_releases_pointers_and_lock_and_changes_nothing(tmp_path: Path) -> None:
    root, config = tmp_path / "ledger", tmp_path / "haproxy.cfg"
    config.write_bytes(b"global\n")
    adopted, _ = run("adopt", str(root), config_path=str(config), engine="haproxy")
    config.write_bytes(b"global\n    maxconn 10\n")
    recorded, _ = run("record", str(root), config_path=str(config), engine="haproxy", metadata={"model_digest": "d"})
    run("lock", str(root), run_id="r-1")
    before = tree(root)
    found = info.ledger_info(str(root), "haproxy")
    assert (found["current"], found["last_verified"]) == (recorded["release"], adopted["release"])
    assert [release["id"] for release in found["releases"]] == [adopted["release"], recorded["release"]]
    assert found["releases"][1]["model_digest"] == "d"
    assert found["lock"]["run_id"] == "r-1"
    assert tree(root) == before
    # Without the releases' metadata (each carries a model): the pointers, the lock and the holds only.
    light = info.ledger_info(str(root), "haproxy", releases=False, config_path=str(config))
    assert light["releases"] == [] and light["current"] == recorded["release"] and light["lock"]["run_id"] == "r-1"
    # The live release's metadata, and whether the live file is still it byte for byte.
    assert light["current_release"]["model_digest"] == "d"
    assert light["live_sha256"] == light["current_release"]["config_sha256"]
    config.write_bytes(b"global\n    maxconn 11\n")
    assert info.ledger_info(str(root), "haproxy", config_path=str(config))["live_sha256"] != \
        light["current_release"]["config_sha256"]


# ------------------------------------------- does a deploy change nothing here?


def verified_release(tmp_path: Path) -> tuple[Path, Path, str]:
    """A ledger whose live release passed verification with model digest "d"; its root, live file and release."""
    root, config = tmp_path / "ledger", tmp_path / "haproxy.cfg"
    config.write_bytes(b"global\n")
    run("adopt", str(root), config_path=str(config), engine="haproxy")
    config.write_bytes(b"global\n    maxconn 10\n")
    recorded, _ = run("record", str(root), config_path=str(config), engine="haproxy", metadata={"model_digest": "d"})
    run("mark", str(root), engine="haproxy", release=recorded["release"], status="passed", metadata={})
    return root, config, recorded["release"]


def unverified(root: Path, config: Path, digest: str = "d") -> str | None:
    return unverified_because(info.ledger_info(str(root), "haproxy", releases=False, config_path=str(config)),
                                   digest)


def test_a_verified_untouched_release_of_this_model_needs_nothing_but_verification(tmp_path: Path) -> None:
    root, config, _ = verified_release(tmp_path)
    assert unverified(root, config) is None


def test_each_reason_to_deploy_in_full_is_named(tmp_path: Path) -> None:
    root, config, release = verified_release(tmp_path)
    assert unverified(root, config, "e") == f"release {release} runs model d, not e"
    run("lock", str(root), run_id="r-9")
    assert unverified(root, config) == "run r-9 holds the deploy lock"
    run("unlock", str(root), run_id="r-9")
    (root / "haproxy" / "pending.json").write_text("{}")
    assert unverified(root, config) == "a commit-confirm rollback timer is pending"
    (root / "haproxy" / "pending.json").unlink()
    config.write_bytes(b"global\n    maxconn 11\n")
    assert unverified(root, config) == f"the live file is no longer release {release}'s file"
    recorded, _ = run("record", str(root), config_path=str(config), engine="haproxy", metadata={"model_digest": "d"})
    assert unverified(root, config) == f"release {recorded['release']} has verification status pending, not passed"
    assert unverified(tmp_path / "empty", config) == "no release is live in the ledger"
