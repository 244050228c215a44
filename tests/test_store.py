"""The result store: atomic records, the resume rule, and claims that die with their holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from peftser.benchmark.cell import Cell
from grid_runners import toy_record
from peftser.benchmark.record import CorruptRecordError, failed_record
from peftser.benchmark.store import ResultStore, write_json_atomic

REPO = Path(__file__).resolve().parents[1]


def make_cell(training: str = "fold1", **method_args) -> Cell:
    return Cell(upstream="toy_up", method="toy", task="toy_task", training=training, method_args=method_args)


def record_for(cell: Cell, status: str = "ok") -> dict:
    """A record that keeps the record contract (the store writes no other)."""
    if status == "failed":
        return failed_record(cell, "RuntimeError: boom", "Traceback ...", device="cpu", wall_time_s=0.0)
    return toy_record(cell, "cpu")


def test_write_json_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "deep" / "r.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2, "uar": np.float32(61.5), "confusion": np.eye(2, dtype=int)})
    assert json.loads(path.read_text()) == {"a": 2, "uar": 61.5, "confusion": [[1, 0], [0, 1]]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_write_json_atomic_keeps_old_file_when_object_cannot_be_written(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError, match="object"):
        write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_layout_of_records_and_artifacts(tmp_path):
    store, cell = ResultStore(tmp_path), make_cell()
    assert store.record_path(cell) == tmp_path / "records" / "toy_task" / f"{cell.key}.json"
    assert store.artifact_dir(cell) == tmp_path / "artifacts" / cell.key
    assert not store.has_record(cell) and store.load_record(cell) is None
    saved = store.save_record(record_for(cell))
    assert saved == store.record_path(cell)
    assert store.has_record(cell)
    assert store.load_record(cell)["key"] == cell.key


def test_records_and_failed(tmp_path):
    store = ResultStore(tmp_path)
    ok, bad = make_cell("fold1"), make_cell("fold2")
    store.save_record(record_for(ok))
    store.save_record(record_for(bad, "failed"))
    assert sorted(r["key"] for r in store.records()) == sorted([ok.key, bad.key])
    assert [r["key"] for r in store.failed()] == [bad.key]


def test_save_record_rejects_records_without_identity(tmp_path):
    with pytest.raises(ValueError, match="ok record without upstream, method, training.*, key"):
        ResultStore(tmp_path).save_record({"status": "ok", "task": "toy_task"})
    nan = {**record_for(make_cell()), "test": {**record_for(make_cell())["test"], "uar": float("nan")}}
    with pytest.raises(ValueError, match="test.uar is nan, not a percentage from 0 to 100"):  # nothing unreadable is ever written
        ResultStore(tmp_path).save_record(nan)
    with pytest.raises(ValueError, match="status"):
        ResultStore(tmp_path).save_record({"status": "done", "key": "k", "task": "t"})


def test_corrupt_record_is_reported_not_hidden(tmp_path):
    store, cell = ResultStore(tmp_path), make_cell()
    path = store.record_path(cell)
    path.parent.mkdir(parents=True)
    path.write_text('{"status": "ok", "key": ')  # a half-written file from some other tool
    with pytest.raises(CorruptRecordError, match=str(path)):
        store.load_record(cell)
    with pytest.warns(UserWarning, match="cannot be read as JSON"):
        assert list(store.records()) == []
    with pytest.warns(UserWarning, match="run again"):
        assert store.should_run(cell)


def test_resume_rule(tmp_path):
    store = ResultStore(tmp_path)
    new, ok, bad = make_cell("fold1"), make_cell("fold2"), make_cell("fold3")
    store.save_record(record_for(ok))
    store.save_record(record_for(bad, "failed"))
    assert store.should_run(new) and store.should_run(new, retry_failed=True)
    assert not store.should_run(ok) and not store.should_run(ok, retry_failed=True)
    assert not store.should_run(bad)
    assert store.should_run(bad, retry_failed=True)
    failed_at = store.record_path(bad).stat().st_mtime
    # A failure recorded during the current run is not retried within it.
    assert not store.should_run(bad, retry_failed=True, failed_before=failed_at)
    assert store.should_run(bad, retry_failed=True, failed_before=failed_at + 1)


def test_claim_is_exclusive_until_released(tmp_path):
    store, cell = ResultStore(tmp_path), make_cell()
    claim = store.claim(cell)
    assert claim is not None and claim.held
    assert (tmp_path / "locks" / f"{cell.key}.lock").exists()
    assert store.claim(cell) is None
    assert store.claim(make_cell("fold2")) is not None  # other cells are independent
    claim.release()
    assert not claim.held
    with store.claim(cell) as again:
        assert again.held
    assert store.claim(cell) is not None


def test_claim_of_a_killed_process_expires(tmp_path):
    cell = make_cell()
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from peftser.benchmark.store import ResultStore; from test_store import make_cell;"
            f"c = ResultStore({str(tmp_path)!r}).claim(make_cell()); print('held' if c else 'refused', flush=True);"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        store = ResultStore(tmp_path)
        assert store.claim(cell) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        claim = store.claim(cell)
        while claim is None and time.monotonic() < deadline:
            time.sleep(0.05)
            claim = store.claim(cell)
        assert claim is not None and claim.held
    finally:
        holder.kill()
        holder.wait()
