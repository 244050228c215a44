"""The scheduler and orchestrator: worker slots, failures, crashes, resuming, sharing a directory."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grid_runners import RUNNER, log_lines, toy_grid
from peftser.benchmark.cell import Cell
from peftser.benchmark.grids import MethodEntry
from peftser import cli
from peftser.benchmark.run import orchestrator as orchestrator_module
from peftser.benchmark.run.orchestrator import run_grid
from peftser.benchmark.run.runner import RunnerOptions, SchedulerError
from peftser.benchmark.run.slots import DeviceError, Local, Slot, make_slots, parse_devices
from peftser.benchmark.store import ResultStore

TESTS = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("toy_env")  # the stand-in runner's log (conftest)


def run(grid, results, devices="cpu", jobs_per_device=2, visible_gpus=None, **kwargs):
    kwargs.setdefault("stream", io.StringIO())
    return run_grid(grid, results_dir=results, backend=Local(devices, jobs_per_device, visible_gpus), runner=RUNNER,
                    leaderboard=False, **kwargs)


def records_of(results: Path) -> list[dict]:
    """Every record file, parsed: a corrupt one fails the test here."""
    return [json.loads(p.read_text()) for p in sorted((results / "records").glob("*/*.json"))]


def runs(tmp_path: Path) -> list[str]:
    return [key for key, _, _ in log_lines(tmp_path / "runs.log")]


# -- devices and slots -----------------------------------------------------------------------------
def test_default_devices_are_every_visible_gpu_or_the_cpu():
    assert parse_devices(None, gpu_count=0) == ["cpu"]
    assert parse_devices(None, gpu_count=2) == ["cuda:0", "cuda:1"]
    assert parse_devices("1,cuda:0", gpu_count=2) == ["cuda:1", "cuda:0"]
    assert parse_devices(["cpu"], gpu_count=0) == ["cpu"]


@pytest.mark.parametrize(
    "devices, message",
    [
        ("cuda:2", r"asks for cuda:2 but this process sees 2 CUDA GPU\(s\): cuda:0, cuda:1"),
        ("0,0", r"lists cuda:0 twice; use --jobs-per-device"),
        ("gpu0", r"cannot read 'gpu0'; use cpu, a GPU index N, or cuda:N"),
    ],
)
def test_bad_devices_are_clear_errors(devices, message):
    with pytest.raises(DeviceError, match=message):
        parse_devices(devices, gpu_count=2)


def test_slots_map_gpus_through_the_inherited_visible_devices_and_share_cores():
    slots = make_slots(["cuda:0", "cuda:1"], 2, cpu_count=8, environ={"CUDA_VISIBLE_DEVICES": "4,6"})
    assert [(s.index, s.device, s.cuda_visible_devices, s.threads) for s in slots] == [
        (0, "cuda:0", "4", 2), (1, "cuda:0", "4", 2), (2, "cuda:1", "6", 2), (3, "cuda:1", "6", 2)
    ]
    assert {s.run_device for s in slots} == {"cuda:0"}  # each worker sees only its own GPU
    (cpu,) = make_slots(["cpu"], 1, cpu_count=2, environ={})
    assert cpu == Slot(0, "cpu", "", 2) and cpu.run_device == "cpu"
    with pytest.raises(DeviceError, match="at least 1"):
        make_slots(["cpu"], 0)


def test_default_slots_are_one_per_gpu_or_one_single_threaded_slot_per_core():
    cpu = make_slots(["cpu"], cpu_count=2, environ={})
    assert [(s.device, s.threads) for s in cpu] == [("cpu", 1), ("cpu", 1)]
    gpus = make_slots(["cuda:0", "cuda:1"], cpu_count=8, environ={})
    assert [(s.device, s.threads) for s in gpus] == [("cuda:0", 4), ("cuda:1", 4)]


def test_missing_gpu_is_an_error_before_anything_starts(tmp_path):
    with pytest.raises(DeviceError, match="cuda:2"):
        run(toy_grid(2), tmp_path / "results", devices=["cuda:0", "cuda:2"], visible_gpus=2)
    assert not (tmp_path / "results").exists() and not runs(tmp_path)


def test_unknown_runner_is_an_error_before_anything_starts(tmp_path):
    with pytest.raises(SchedulerError, match="no_such_module"):
        run_grid(toy_grid(2), results_dir=tmp_path / "results", backend=Local("cpu"), runner="no_such_module:run", leaderboard=False)
    assert not (tmp_path / "results").exists()


# -- running cells ---------------------------------------------------------------------------------
def test_grid_runs_on_two_cpu_slots_and_resumes(tmp_path):
    results = tmp_path / "results"
    grid = toy_grid(6)
    summary = run(grid, results)
    assert (summary.cells, summary.ran, summary.ok, summary.failed, summary.missing) == (6, 6, 6, 0, 0)
    records = records_of(results)
    assert sorted(r["key"] for r in records) == sorted(c.key for c in grid.cells())
    assert {r["status"] for r in records} == {"ok"}
    assert {r["device"] for r in records} == {"cpu"}
    for r in records:
        assert set(r["worker"]) == {"slot", "device", "cuda_visible_devices", "pid"}
        assert r["worker"]["device"] == "cpu" and r["worker"]["cuda_visible_devices"] == ""
        assert r["worker"]["slot"] in (0, 1)
    assert sorted(runs(tmp_path)) == sorted(c.key for c in grid.cells())
    note = json.loads((results / "last_run.json").read_text())
    assert (note["ran"], note["ok"], len(note["slots"])) == (6, 6, 2) and note["wall_time_s"] > 0
    assert {"cpu", "cpus", "platform", "python"} <= set(note["machine"]) and note["machine"]["cpu"]

    again = run(grid, results)
    assert (again.ran, again.skipped) == (0, 6)
    assert len(runs(tmp_path)) == 6  # nothing ran twice


def test_progress_lines_say_done_failed_left(tmp_path):
    stream = io.StringIO()
    run_grid(toy_grid(3), results_dir=tmp_path / "r", backend=Local("cpu", 1), runner=RUNNER,
             leaderboard=False, stream=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("grid toy: 3 cells, 0 already recorded, 3 to run on cpu x1")
    assert lines[1].startswith("[1/3] ok") and "done 1 failed 0 left 2 | eta" in lines[1]
    assert "done 3 failed 0 left 0" in lines[3]
    assert lines[-1].startswith("grid toy: 3 cells; ran 3 (3 ok, 0 failed)")


def test_a_cell_that_raises_is_recorded_failed_and_the_rest_finish(tmp_path):
    results = tmp_path / "results"
    grid = toy_grid(3, methods=[
        MethodEntry("toy"), MethodEntry("toy", "toy_bad", {"fail": "raise"}), MethodEntry("toy", "toy_wrong", {"fail": "wrong_key"}),
    ])
    summary = run(grid, results)
    assert (summary.ok, summary.failed, summary.failed_total) == (3, 6, 6)
    wrong = [r for r in records_of(results) if r["variant"] == "toy_wrong"]
    assert len(wrong) == 3 and {r["status"] for r in wrong} == {"failed"}
    assert all("key is '0000000000000000', expected" in r["error"] for r in wrong)
    failed = [r for r in records_of(results) if r["status"] == "failed" and r["variant"] == "toy_bad"]
    assert len(failed) == 3 and {r["variant"] for r in failed} == {"toy_bad"}
    for r in failed:
        assert r["error"].startswith("RuntimeError: toy failure in toy_up/toy_bad/toy_task/")
        assert "Traceback" in r["traceback"] and "toy_run" in r["traceback"]
        assert r["cell"] == Cell.from_dict(r["cell"]).to_dict() and r["worker"]["pid"]
        assert "test" not in r  # no metrics in a failed record
        assert r["machine"]["cpu"] and r["machine"]["cpus"] >= 1  # what ran it, as in an ok record


def test_a_dying_worker_is_replaced_and_the_grid_finishes(tmp_path):
    results = tmp_path / "results"
    grid = toy_grid(2, methods=[MethodEntry("toy", "toy_exit", {"fail": "exit"}), MethodEntry("toy")])
    # One slot: without a replacement worker nothing after the crash could run.
    summary = run(grid, results, jobs_per_device=1)
    assert (summary.ok, summary.failed, summary.missing) == (2, 2, 0)
    records = records_of(results)
    for r in records:
        if r["variant"] == "toy_exit":
            assert r["status"] == "failed" and "died (exit code 3) while running this cell" in r["error"]
            assert r["machine"]["cpu"]  # written by the orchestrator: without torch's fields on a CPU-only run
        else:
            assert r["status"] == "ok"
    assert len({r["worker"]["pid"] for r in records}) == 3  # two crashed workers, then their replacement


def test_a_broken_cuda_context_retires_its_worker_and_the_next_cell_runs_on_a_fresh_one(tmp_path):
    results = tmp_path / "results"
    grid = toy_grid(2, methods=[MethodEntry("toy", "toy_cuda", {"fail": "cuda"}), MethodEntry("toy")])
    summary = run(grid, results, jobs_per_device=1)  # one slot: every cell after the error would meet the broken context
    assert (summary.ok, summary.failed, summary.missing) == (2, 2, 0)
    records = records_of(results)
    broken = [r for r in records if r["variant"] == "toy_cuda"]
    assert {r["status"] for r in broken} == {"failed"}
    assert all("an illegal memory access was encountered" in r["error"] for r in broken)
    ran = log_lines(tmp_path / "runs.log")
    for (key, pid, _), (_, next_pid, _) in zip(ran, ran[1:]):
        if key in {r["key"] for r in broken}:
            assert next_pid != pid  # the cell after a broken context runs in a new worker process
    assert len({r["worker"]["pid"] for r in records}) == 3  # two retired workers and their replacement


def test_retry_failed_reruns_only_the_failed_cells(tmp_path, monkeypatch):
    results = tmp_path / "results"
    grid = toy_grid(2, methods=[MethodEntry("toy"), MethodEntry("toy", "toy_flaky", {"flaky": True})])
    flaky = {c.key for c in grid.cells(["variant=toy_flaky"])}
    monkeypatch.setenv("GRID_TEST_FAIL", "/toy_flaky/")
    assert run(grid, results).failed == 2
    monkeypatch.delenv("GRID_TEST_FAIL")

    output = io.StringIO()
    kept = run(grid, results, stream=output)  # failed records are kept by default
    assert (kept.ran, kept.skipped, kept.failed_total) == (0, 4, 2)
    assert "2 failed earlier and kept (--retry-failed runs them again)" in output.getvalue()
    assert len(runs(tmp_path)) == 4

    retried = run(grid, results, retry_failed=True)
    assert (retried.ran, retried.ok, retried.failed_total) == (2, 2, 0)
    assert set(runs(tmp_path)[4:]) == flaky and len(runs(tmp_path)) == 6
    assert {r["status"] for r in records_of(results)} == {"ok"}


def test_workers_get_their_own_gpu_without_touching_cuda(tmp_path):
    results = tmp_path / "results"
    # The barrier makes both workers take a cell, whatever the timing.
    grid = toy_grid(4, methods=[MethodEntry("toy", args={"barrier": 2})])
    run(grid, results, devices=["cuda:0", "cuda:1"], jobs_per_device=1, visible_gpus=2)
    records = records_of(results)
    assert {(r["worker"]["device"], r["worker"]["cuda_visible_devices"]) for r in records} == {("cuda:0", "0"), ("cuda:1", "1")}
    for r in records:
        assert r["seen_cuda_visible_devices"] == r["worker"]["cuda_visible_devices"]
        assert r["device"] == "cuda:0"  # the one GPU a worker sees is its cuda:0


def test_the_grid_command_returns_an_exit_status(tmp_path, monkeypatch):
    grid_file = tmp_path / "mine.yaml"
    grid_file.write_text(
        "upstreams: [demo_whisper_tiny]\nmethods: [downstream, adapter]\n"
        "tasks: [{task: synthetic_crema_d, trainings: [fold1, fold2]}]\n"
    )
    monkeypatch.setenv("GRID_TEST_FAIL", "/adapter/")  # the stand-in runner fails these cells
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(orchestrator_module, "DEFAULT_RUNNER", RUNNER)

    def run(*options: str) -> int:
        return cli.main(["--grid", str(grid_file), "--devices", "cpu", *options])

    assert run("--jobs-per-device", "1", "--only", "training=fold1", "--only", "method=downstream") == 0
    # The results directory defaults to results/<grid name>.
    assert [r["label"] for r in records_of(tmp_path / "results" / "mine")] == ["demo_whisper_tiny/downstream/synthetic_crema_d/fold1"]
    elsewhere = ("--results", str(tmp_path / "elsewhere"))
    assert run("--jobs-per-device", "1", "--only", "training=fold1", *elsewhere) == 1  # a failed cell
    assert run("--only", "training=fold9", *elsewhere) == 2  # a bad option
    assert run("--jobs-per-device", "0", *elsewhere) == 2


def test_every_runner_call_gets_the_grids_runner_options(tmp_path, monkeypatch):
    # --data-root, --checkpoint-dir and --strict reach each worker's runner as one RunnerOptions.
    grid_file = tmp_path / "mine.yaml"
    grid_file.write_text("upstreams: [demo_whisper_tiny]\nmethods: [downstream, adapter]\n"
                         "tasks: [{task: synthetic_crema_d, trainings: [fold1]}]\n")
    monkeypatch.setenv("GRID_TEST_OPTIONS", str(tmp_path / "options.log"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(orchestrator_module, "DEFAULT_RUNNER", RUNNER)
    assert cli.main(["--grid", str(grid_file), "--devices", "cpu", "--data-root", "corpora",
                     "--checkpoint-dir", "weights", "--strict", "--no-evaluate"]) == 0
    given = (tmp_path / "options.log").read_text().splitlines()
    assert given == [repr(RunnerOptions(data_root="corpora", checkpoint_dir="weights", strict=True))] * 2


# -- processes sharing a results directory -----------------------------------------------------------
def orchestrator(results: Path, n_cells: int, jobs: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(TESTS / "grid_runners.py"), str(results), str(n_cells), str(jobs)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # an unreaped zombie has already exited


@pytest.mark.slow
def test_kill_9_halfway_then_restart_records_every_cell_once(tmp_path):
    results, n = tmp_path / "results", 12
    first = orchestrator(results, n, 2, GRID_TEST_SLEEP="0.2")
    wait_for(lambda: len(list(results.glob("records/*/*.json"))) >= 3, "the first records")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done_before = {r["key"] for r in records_of(results)}
    assert 3 <= len(done_before) < n
    workers = {pid for _, pid, parent in log_lines(tmp_path / "runs.log") if parent == first.pid}
    wait_for(lambda: not any(alive(pid) for pid in workers), "orphaned workers to exit")

    second = orchestrator(results, n, 2, GRID_TEST_SLEEP="0.2")
    assert second.wait(timeout=120) == 0, second.stderr.read()
    records = records_of(results)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == n and {r["status"] for r in records} == {"ok"}
    # Only records, claim files and (after a kill mid-write) hidden temp files that no reader takes for a record.
    assert not [p for p in results.rglob("*") if p.is_file() and p.suffix not in (".json", ".lock", ".tmp")]
    assert not [p for p in results.rglob("*.tmp") if not p.name.startswith(".")]
    log = runs(tmp_path)
    assert all(log.count(key) == 1 for key in done_before)  # recorded cells were not run again


@pytest.mark.slow
def test_two_orchestrators_on_one_directory_split_the_cells(tmp_path):
    results, n = tmp_path / "results", 10
    env = {"GRID_TEST_SLEEP": "0.05", "GRID_TEST_BARRIER_COUNT": "2"}  # both must be running at once
    procs = [orchestrator(results, n, 1, **env) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    records = records_of(results)
    assert len(records) == n and {r["status"] for r in records} == {"ok"}
    lines = log_lines(tmp_path / "runs.log")
    keys = [key for key, _, _ in lines]
    assert len(keys) == len(set(keys)) == n  # no cell ran twice
    by_orchestrator = {parent for _, _, parent in lines}
    assert by_orchestrator == {p.pid for p in procs}  # both took part
    ran_by = {key: pid for key, pid, _ in lines}
    assert all(r["worker"]["pid"] == ran_by[r["key"]] for r in records)


# -- the real runner ---------------------------------------------------------------------------------
def test_real_cells_run_through_the_real_runner(tmp_path, monkeypatch):
    pytest.importorskip("peftser.benchmark.run.training")
    monkeypatch.setenv("PEFTSER_CACHE", str(tmp_path / "cache"))
    grid_file = tmp_path / "tiny.yaml"
    grid_file.write_text(
        "upstreams: [demo_whisper_tiny]\n"
        "methods: [downstream, {method: lora, args: {rank: 2}}]\n"
        "tasks: [{task: synthetic_crema_d, trainings: [fold1]}]\n"
        "train: {epochs: 3, batch_size: 16}\n"
    )
    results = tmp_path / "results"
    # Command-line overrides reach every cell (here: one epoch instead of the grid's three).
    summary = run_grid(grid_file, results_dir=results, backend=Local("cpu", 2), train={"epochs": 1}, stream=io.StringIO())
    assert (summary.ok, summary.failed) == (2, 0)
    store = ResultStore(results)
    for record in records_of(results):
        assert record["status"] == "ok" and 0 <= record["test"]["uar"] <= 100
        assert len(record["history"]) == 1 and record["config"]["train"]["epochs"] == 1
        assert record["worker"]["slot"] in (0, 1) and record["device"] == "cpu"
        assert (results / record["artifact"]["path"]).is_dir()
        assert store.artifact_dir(Cell.from_dict(record["cell"])) == results / record["artifact"]["path"]
    assert summary.leaderboard == results / "leaderboard.md" and summary.leaderboard.is_file()


def test_the_backend_is_one_object_and_a_string_is_refused(tmp_path):
    # "local"/"slurm" strings beside optional Slurm options were two representations of one choice.
    with pytest.raises(SchedulerError, match=r"the backend must be Local\(...\) or SlurmOptions\(...\), got 'slurm'"):
        run_grid(toy_grid(2), results_dir=tmp_path / "results", backend="slurm", runner=RUNNER, leaderboard=False)
    assert not (tmp_path / "results").exists()
