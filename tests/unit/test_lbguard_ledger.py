"""Unit tests of the release ledger module's actions on a real temporary folder."""

import json
import os
import time

import pytest

import lbguard_ledger as ledger_module


class ModuleFailed(Exception):
    """Raised by FakeModule.fail_json, as AnsibleModule would exit."""


class FakeModule:
    """The part of AnsibleModule the ledger actions use."""

    def __init__(self, check_mode=False, **params):
        defaults = {"root": None, "engine": None, "config_path": None, "run_id": None, "owner": "tester", "stale_after": 1800,
                    "force": False, "release": None, "status": None, "metadata": {}, "keep": 10}
        self.params = {**defaults, **params}
        self.check_mode = check_mode

    def fail_json(self, msg, **kwargs):
        raise ModuleFailed(msg)


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "ledger")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_bytes(b"global\n    maxconn 100\n")
    return path


def run(action, root, check_mode=False, **params):
    ledger = ledger_module.Ledger(root, params.get("engine"))
    handler = {"lock": ledger_module.do_lock, "unlock": ledger_module.do_unlock, "adopt": ledger_module.do_adopt,
               "record": ledger_module.do_record, "mark": ledger_module.do_mark,
               "restore": ledger_module.do_restore}[action]
    return handler(FakeModule(check_mode=check_mode, root=root, **params), ledger), ledger


def test_adopt_record_restore_round_trip_is_byte_exact(root, config):
    original = config.read_bytes()
    adopted, ledger = run("adopt", root, config_path=str(config))
    assert adopted["changed"] and ledger.current == ledger.last_verified == adopted["release"]

    config.write_bytes(b"global\n    maxconn 200\n\x00odd bytes\r\n")
    recorded, ledger = run("record", root, config_path=str(config), metadata={"model_digest": "abc"})
    assert recorded["changed"] and recorded["previous"] == adopted["release"]
    assert ledger.current == recorded["release"] and ledger.last_verified == adopted["release"]
    assert ledger.meta(recorded["release"])["model_digest"] == "abc"

    restored, ledger = run("restore", root, config_path=str(config), release=recorded["previous"])
    assert restored["changed"]
    assert config.read_bytes() == original
    assert ledger.current == adopted["release"]


def test_record_of_unchanged_file_makes_no_release(root, config):
    run("adopt", root, config_path=str(config))
    again, ledger = run("record", root, config_path=str(config))
    assert not again["changed"]
    assert len(ledger.ids()) == 1


def test_mark_passed_moves_last_verified(root, config):
    run("adopt", root, config_path=str(config))
    config.write_bytes(b"new\n")
    recorded, _ = run("record", root, config_path=str(config))
    marked, ledger = run("mark", root, release=recorded["release"], status="passed", metadata={"change_id": "c1"})
    assert marked["changed"] and ledger.last_verified == recorded["release"]
    assert ledger.meta(recorded["release"])["verification"]["change_id"] == "c1"
    failed, ledger = run("mark", root, release=recorded["release"], status="failed")
    assert ledger.meta(recorded["release"])["verification"]["status"] == "failed"


def test_prune_keeps_current_and_last_verified(root, config):
    adopted, _ = run("adopt", root, config_path=str(config))
    for n in range(6):
        config.write_bytes(f"config {n}\n".encode())
        run("record", root, config_path=str(config), keep=3)
    ledger = ledger_module.Ledger(root)
    ids = ledger.ids()
    assert len(ids) == 4  # three newest, plus the last verified (the adopted one)
    assert adopted["release"] in ids and ledger.current == ids[-1]


def test_second_lock_is_refused_with_the_holder(root):
    run("lock", root, run_id="run-1", owner="alice")
    with pytest.raises(ModuleFailed, match="another deploy holds the lock.*run run-1 of alice"):
        run("lock", root, run_id="run-2", owner="bob")
    same, _ = run("lock", root, run_id="run-1")
    assert not same["changed"]


def test_stale_lock_is_reported_not_taken_over(root):
    run("lock", root, run_id="old-run", owner="alice")
    lock_path = os.path.join(root, "lock")
    data = json.load(open(lock_path))
    data["started_epoch"] = time.time() - 7200
    json.dump(data, open(lock_path, "w"))
    with pytest.raises(ModuleFailed, match="stale deploy lock.*old-run.*unlock.yml"):
        run("lock", root, run_id="new-run", stale_after=1800)
    assert json.load(open(lock_path))["run_id"] == "old-run"


def test_unlock_refuses_a_foreign_lock_unless_forced(root):
    run("lock", root, run_id="run-1")
    with pytest.raises(ModuleFailed, match="belongs to run run-1"):
        run("unlock", root, run_id="run-2")
    forced, _ = run("unlock", root, run_id="run-2", force=True)
    assert forced["changed"] and not os.path.exists(os.path.join(root, "lock"))


def test_check_mode_writes_nothing(root, config):
    run("adopt", root, check_mode=True, config_path=str(config))
    run("lock", root, check_mode=True, run_id="r")
    assert not os.path.exists(root)


def test_restore_of_unknown_release_names_the_known_ones(root, config):
    adopted, _ = run("adopt", root, config_path=str(config))
    with pytest.raises(ModuleFailed, match=f"no release 'r99999'.*{adopted['release']}"):
        run("restore", root, config_path=str(config), release="r99999")


def test_each_engine_has_its_own_history_but_the_host_one_lock(root, tmp_path):
    haproxy_cfg = tmp_path / "haproxy.cfg"
    nginx_cfg = tmp_path / "nginx.conf"
    haproxy_cfg.write_bytes(b"haproxy\n")
    nginx_cfg.write_bytes(b"nginx\n")
    adopted_haproxy, _ = run("adopt", root, config_path=str(haproxy_cfg), engine="haproxy")
    adopted_nginx, _ = run("adopt", root, config_path=str(nginx_cfg), engine="nginx")
    assert adopted_haproxy["changed"] and adopted_nginx["changed"]
    assert os.path.isdir(os.path.join(root, "haproxy", "releases"))
    assert os.path.isdir(os.path.join(root, "nginx", "releases"))
    run("lock", root, run_id="run-1", engine="haproxy")
    with pytest.raises(ModuleFailed, match="another deploy holds the lock"):
        run("lock", root, run_id="run-2", engine="nginx")
