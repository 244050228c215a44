"""Ctrl-C during --train and SIGTERM to an orchestrator end cleanly, in one line, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peftser.benchmark.run import training
from peftser.cli import main

TESTS = Path(__file__).resolve().parent
TRAIN = ["--train", "demo_whisper_tiny", "downstream", "synthetic_msp_podcast", "seed1", "--epochs", "1"]

ORCHESTRATOR = """
import sys
from grid_runners import RUNNER, toy_grid
from peftser import cli
from peftser.benchmark.run import orchestrator
from peftser.benchmark.grids import MethodEntry

orchestrator.load_grid = lambda name: toy_grid(6, methods=[MethodEntry("toy", args={"sleep": 30})])
orchestrator.DEFAULT_RUNNER = RUNNER
sys.exit(cli.main(["--grid", "toy", "--devices", "cpu", "--jobs-per-device", "1", "--results", sys.argv[1]]))
"""


@pytest.mark.parametrize("how, status, word", [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated (SIGTERM)")])
def test_train_stopped_midway_prints_one_line(tmp_path, capsys, monkeypatch, how, status, word):
    def stopped(*args, **kwargs):
        if how == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises first
        raise AssertionError("SIGTERM was not turned into a clean stop")

    monkeypatch.setattr(training, "run_cell", stopped)
    before = signal.getsignal(signal.SIGTERM)
    assert main([*TRAIN, "--results", str(tmp_path / "results")]) == status
    err = capsys.readouterr().err
    assert err == f"{word}: the job stopped; what it had not finished is not recorded\n"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back


@pytest.mark.slow
def test_sigterm_to_an_orchestrator_stops_its_workers_and_says_so(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
           "GRID_TEST_LOG": str(tmp_path / "runs.log"), "GRID_TEST_BARRIER": str(tmp_path / "barrier")}
    proc = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(results)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180  # a loaded machine takes its time to start a worker
        while not [p for p in results.glob("locks/*.lock") if p.name != "grids.json.lock"]:  # the worker holds a cell
            assert time.monotonic() < deadline and proc.poll() is None, "the worker never started a cell"
            time.sleep(0.05)
        workers = [pid for pid in children(proc.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 1
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=120)
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert status == 143, err
    assert "Traceback" not in err and "leaked" not in err, err
    assert err.strip().splitlines()[-1] == "terminated (SIGTERM): finished cells are recorded; run the same command again to resume"
    assert not list(results.glob("records/*/*.json"))  # the cells in flight are not recorded as failed
    assert not alive(workers[0])  # the worker was stopped (and waited for), not orphaned


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                found.append(int(status.parent.name))
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
