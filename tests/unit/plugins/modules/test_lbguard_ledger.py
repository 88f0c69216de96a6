"""Unit tests of the release ledger module's actions on a real temporary folder."""

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.lbguard.core.plugins.module_utils import lbguard_ledger_store as ledger_store
from ansible_collections.lbguard.core.plugins.module_utils._ledger import confirm as ledger_confirm
from ansible_collections.lbguard.core.plugins.module_utils._ledger import lock as ledger_lock
from ansible_collections.lbguard.core.plugins.module_utils._ledger import releases as ledger_releases


class ModuleFailed(Exception):
    """Raised by FakeModule.fail_json, as AnsibleModule would exit."""


class FakeModule:
    """The part of AnsibleModule the ledger actions use."""

    def __init__(self, check_mode=False, diff=False, **params):
        defaults = {"root": None, "engine": None, "config_path": None, "run_id": None, "owner": "tester", "stale_after": 1800,
                    "force": False, "release": None, "status": None, "metadata": {}, "keep": 10,
                    "takeover": None, "service": "haproxy", "status_url": None, "confirm_timeout": 0}
        self.params = {**defaults, **params}
        self.check_mode = check_mode
        self._diff = diff

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
    ledger = ledger_store.Ledger(root, params.get("engine"))
    handler = {"lock": ledger_lock.do_lock, "unlock": ledger_lock.do_unlock, "adopt": ledger_releases.do_adopt,
               "record": ledger_releases.do_record, "mark": ledger_releases.do_mark,
               "restore": ledger_releases.do_restore, "begin": ledger_confirm.do_begin,
               "confirm": ledger_confirm.do_confirm}[action]
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
    ledger = ledger_store.Ledger(root)
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


# ------------------------------------------------------------------ lock takeover


def test_a_named_dead_run_lock_is_taken_over_and_no_other(root):
    run("lock", root, run_id="killed-run", owner="alice")
    with pytest.raises(ModuleFailed, match="takeover of run other-run refused.*killed-run of alice"):
        run("lock", root, run_id="new-run", takeover="other-run")
    taken, _ = run("lock", root, run_id="new-run", owner="bob", takeover="killed-run")
    assert taken["changed"] and taken["taken_over"]["run_id"] == "killed-run"
    assert json.load(open(os.path.join(root, "lock")))["run_id"] == "new-run"


def test_a_refused_lock_names_both_ways_out(root):
    run("lock", root, run_id="killed-run")
    with pytest.raises(ModuleFailed, match="lbguard_takeover_lock=killed-run.*lbguard_unlock_run_id=killed-run"):
        run("lock", root, run_id="new-run")


# ------------------------------------------------------------------ commit-confirmed and reconcile


@pytest.fixture
def timers(monkeypatch):
    """Record the systemd timer calls instead of making them; the restorer is run by hand."""
    calls = []
    monkeypatch.setattr(ledger_confirm, "_start_timer", lambda unit, seconds, argv, description: calls.append(
        ("start", unit, seconds, argv)))
    monkeypatch.setattr(ledger_confirm, "_stop_timer", lambda unit: calls.append(("stop", unit)))
    return calls


def begin(root, config, **params):
    return run("begin", root, engine="haproxy", config_path=str(config), run_id=params.pop("run_id", "run-1"),
               **params)


def deployed(root, config, data, run_id="run-1", timeout=60):
    """A run that armed, wrote and recorded a new release, and then died before confirming."""
    begun, _ = begin(root, config, run_id=run_id, confirm_timeout=timeout)
    config.write_bytes(data)
    recorded, ledger = run("record", root, engine="haproxy", config_path=str(config))
    return begun, recorded, ledger


def run_restorer(ledger, reload_command):
    """Run the restorer the module wrote, as the timer would, with a harmless reload command."""
    pending = json.load(open(ledger.pending_path))
    pending["reload_command"] = reload_command
    json.dump(pending, open(ledger.pending_path, "w"))
    return subprocess.run([sys.executable, ledger.restorer_path, ledger.pending_path], capture_output=True, text=True)


def test_begin_arms_a_timer_that_restores_the_last_verified_release(root, config, timers):
    original = config.read_bytes()
    begun, recorded, ledger = deployed(root, config, b"new release\n", timeout=45)
    assert begun["armed"]["restores"] == begun["release"] and begun["armed"]["timeout"] == 45
    assert ("start", "lbguard-confirm-haproxy", 45, [sys.executable, ledger.restorer_path, ledger.pending_path]) \
        in timers
    assert ledger.current == recorded["release"]

    done = run_restorer(ledger, [sys.executable, "-c", "print('reloaded')"])
    assert done.returncode == 0, done.stderr
    assert config.read_bytes() == original
    assert ledger.current == begun["release"] and not os.path.exists(ledger.pending_path)
    expired = json.load(open(ledger.expired_path))
    assert expired["replaced_release"] == recorded["release"] and expired["reload_output"] == "reloaded"

    # The next run records what the timer did and marks the unconfirmed release failed.
    nxt, ledger = begin(root, config, run_id="run-2")
    assert nxt["reconciled"] == [
        f"run run-1 did not confirm within 45 s: the host's timer restored {begun['release']} at "
        f"{expired['expired_at']} (over {recorded['release']})"]
    assert not nxt["reload_needed"] and not os.path.exists(ledger.expired_path)
    assert ledger.meta(recorded["release"])["verification"]["status"] == "failed"


def test_a_failed_reload_by_the_timer_asks_the_next_run_to_reload(root, config, timers):
    _, _, ledger = deployed(root, config, b"new release\n")
    done = run_restorer(ledger, [sys.executable, "-c", "import sys; sys.exit('engine said no')"])
    assert done.returncode == 1
    nxt, _ = begin(root, config, run_id="run-2")
    assert nxt["reload_needed"] and "the timer's reload failed (1): engine said no" in nxt["reconciled"][1]


def test_confirm_disarms_and_the_timer_then_does_nothing(root, config, timers):
    _, recorded, ledger = deployed(root, config, b"new release\n")
    confirmed, ledger = run("confirm", root, engine="haproxy", run_id="run-1")
    assert confirmed["confirmed"] and confirmed["expired"] is None
    assert ("stop", "lbguard-confirm-haproxy") in timers and not os.path.exists(ledger.pending_path)
    done = subprocess.run([sys.executable, ledger.restorer_path, ledger.pending_path], capture_output=True, text=True)
    assert done.returncode == 0 and config.read_bytes() == b"new release\n"
    assert ledger.current == recorded["release"]


def test_confirm_after_the_timer_fired_reports_it_and_leaves_other_runs_timers(root, config, timers):
    _, _, ledger = deployed(root, config, b"new release\n")
    foreign, _ = run("confirm", root, engine="haproxy", run_id="someone-else")
    assert not foreign["confirmed"] and foreign["armed_by"] == "run-1" and os.path.exists(ledger.pending_path)
    run_restorer(ledger, [sys.executable, "-c", "pass"])
    late, _ = run("confirm", root, engine="haproxy", run_id="run-1")
    assert not late["confirmed"] and late["expired"]["run_id"] == "run-1"



def test_confirm_with_a_status_marks_the_release_in_the_same_call_unless_the_timer_restored_first(
        root, config, timers):
    _, recorded, ledger = deployed(root, config, b"new release\n")
    marked, ledger = run("confirm", root, engine="haproxy", run_id="run-1", release=recorded["release"],
                         status="passed", metadata={"change_id": "c-1"})
    assert marked["confirmed"] and marked["changed"] and marked["release"] == recorded["release"]
    assert ledger.last_verified == recorded["release"]
    assert ledger.meta(recorded["release"])["verification"]["change_id"] == "c-1"

    _, late_release, ledger = deployed(root, config, b"newer release\n", run_id="run-2")
    run_restorer(ledger, [sys.executable, "-c", "pass"])
    late, ledger = run("confirm", root, engine="haproxy", run_id="run-2", release=late_release["release"],
                       status="passed")
    assert not late["confirmed"] and late["expired"]["run_id"] == "run-2" and "release" not in late
    assert ledger.meta(late_release["release"])["verification"]["status"] != "passed"
    with pytest.raises(ModuleFailed, match="needs the release to mark"):
        run("confirm", root, engine="haproxy", run_id="run-3", status="passed")

def test_the_next_run_restores_an_unconfirmed_release_before_the_timer(root, config, timers):
    original = config.read_bytes()
    begun, recorded, ledger = deployed(root, config, b"new release\n")
    nxt, ledger = begin(root, config, run_id="run-2")
    assert nxt["reload_needed"] and config.read_bytes() == original
    assert ledger.current == begun["release"] and not os.path.exists(ledger.pending_path)
    assert nxt["reconciled"][0].startswith("run run-1 died before confirming (timer due ")
    assert nxt["reconciled"][0].endswith(f"run run-2 restored {begun['release']} (over {recorded['release']})")
    assert ledger.meta(recorded["release"])["verification"]["status"] == "failed"
    assert timers.count(("stop", "lbguard-confirm-haproxy")) >= 2


def test_a_live_file_that_is_no_release_is_kept_then_replaced(root, config, timers):
    original = config.read_bytes()
    adopted, _ = begin(root, config)
    config.write_bytes(b"written by a run killed before it recorded\n")
    nxt, ledger = begin(root, config, run_id="run-2")
    assert nxt["reload_needed"] and config.read_bytes() == original and ledger.current == adopted["release"]
    kept = [r for r in ledger.ids() if ledger.meta(r)["verification"]["status"] == "unrecorded"]
    assert len(kept) == 1
    assert open(ledger.config_of(kept[0]), "rb").read() == b"written by a run killed before it recorded\n"
    assert "is no release of the ledger" in nxt["reconciled"][0]


def test_a_running_model_that_differs_from_the_live_release_asks_for_a_reload(root, config, timers, monkeypatch):
    begin(root, config)
    config.write_bytes(b"release with a model\n")
    run("record", root, engine="haproxy", config_path=str(config), metadata={"model_digest": "a" * 64})
    monkeypatch.setattr(ledger_confirm, "_running_model", lambda url: "b" * 64)
    nxt, _ = begin(root, config, run_id="run-2", status_url="http://127.0.0.1:8405/lbguard/model")
    assert nxt["reload_needed"] and len(nxt["reconciled"]) == 1
    assert nxt["reconciled"][0].startswith("the running engine reports model bbbbbbbbbbbb, the live release r00002-")
    monkeypatch.setattr(ledger_confirm, "_running_model", lambda url: "a" * 64)
    settled, _ = begin(root, config, run_id="run-3", status_url="http://127.0.0.1:8405/lbguard/model")
    assert not settled["reload_needed"] and settled["reconciled"] == [] and not settled["changed"]


def test_begin_in_check_mode_says_what_it_would_restore_and_writes_nothing(root, config, timers):
    begun, _, ledger = deployed(root, config, b"new release\n")
    before = sorted(os.listdir(ledger.root))
    checked, ledger = run("begin", root, check_mode=True, engine="haproxy", config_path=str(config), run_id="run-2",
                          confirm_timeout=60)
    assert checked["reload_needed"] and f"run run-2 would restore {begun['release']}" in checked["reconciled"][0]
    assert checked["armed"] is None and sorted(os.listdir(ledger.root)) == before
    assert config.read_bytes() == b"new release\n"


def test_a_run_killed_before_it_recorded_leaves_its_file_kept_and_replaced(root, config, timers):
    original = config.read_bytes()
    begun, _ = begin(root, config, confirm_timeout=60)
    config.write_bytes(b"written, never recorded\n")
    nxt, ledger = begin(root, config, run_id="run-2")
    assert nxt["reconciled"][0].startswith("run run-1 died before confirming (timer due ")
    assert nxt["reconciled"][0].endswith(", before it recorded its live file")
    assert "is no release of the ledger" in nxt["reconciled"][1] and nxt["reload_needed"]
    assert config.read_bytes() == original and ledger.current == begun["release"]
    assert not os.path.exists(ledger.pending_path)


def test_a_run_killed_before_it_changed_anything_needs_no_restore(root, config, timers):
    begin(root, config, confirm_timeout=60)
    nxt, ledger = begin(root, config, run_id="run-2")
    assert len(nxt["reconciled"]) == 1 and nxt["reconciled"][0].endswith(", before it changed anything")
    assert not nxt["reload_needed"] and not os.path.exists(ledger.pending_path)


def test_restore_in_diff_mode_shows_what_changes_in_the_live_file(root, config):
    adopted, ledger = run("adopt", root, config_path=str(config))
    with open(config, "ab") as handle:
        handle.write(b"    # hand edit\n")
    checked = ledger_releases.do_restore(FakeModule(check_mode=True, diff=True, root=root, config_path=str(config),
                                                  release=adopted["release"]), ledger)
    assert checked["changed"] and checked["diff"]["before"].endswith("# hand edit\n")
    assert checked["diff"]["after"] == "global\n    maxconn 100\n"
    assert checked["diff"]["after_header"] == f"release {adopted['release']}"
    # Check mode: the file is untouched; without diff mode no diff is returned.
    assert open(config, "rb").read().endswith(b"# hand edit\n")
    done, _ = run("restore", root, config_path=str(config), release=adopted["release"])
    assert done["changed"] and "diff" not in done and open(config, "rb").read() == b"global\n    maxconn 100\n"
