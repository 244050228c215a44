"""The Slurm backend's logic without Slurm: options, chunking, which cells are submitted, resuming.

Tasks run through submitit's "local" executor (each a separate process that unpickles its own
CellTask, as on a cluster); sbatch and squeue are stand-in scripts, and what Slurm would say about
queued tasks comes from a stand-in queue. tests/test_slurm.py runs the backend against a real Slurm.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("submitit")

from grid_runners import RUNNER, log_lines, toy_grid, toy_record  # noqa: E402
from peftser.benchmark.run.slots import Local
from peftser import cli  # noqa: E402
from peftser.benchmark.run import orchestrator, slurm  # noqa: E402
from peftser.benchmark.run.slurm import (  # noqa: E402
    CellTask,
    Ledger,
    SlurmBackend,
    SlurmError,
    SlurmOptions,
    chunked,
    parse_max_array_size,
    parse_time,
    run_task,
)
from peftser.benchmark.run.runner import RunnerOptions  # noqa: E402
from peftser.benchmark.store import ResultStore  # noqa: E402

OPTIONS = SlurmOptions(gpus_per_task=0, time_min=20)


pytestmark = pytest.mark.usefixtures("toy_env")  # the stand-in runner's log and import path (conftest)


class ProcessQueue:
    """squeue's answer for submitit's local executor, whose job ids are process ids."""

    def alive(self, job_ids):
        return {j for j in job_ids if _running(int(j.split("_")[0]))}


class FixedQueue:
    """squeue's answer as a test sets it: these task ids are still queued."""

    def __init__(self, queued=()):
        self.queued = set(queued)

    def alive(self, job_ids):
        return set(job_ids) & self.queued


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"  # a finished child not yet reaped is a zombie


def backend(results: Path, queue=None, **kwargs) -> SlurmBackend:
    kwargs = {"stream": io.StringIO(), "poll_seconds": 0.05, "lost_grace_seconds": 0.5, **kwargs}
    return SlurmBackend(
        ResultStore(results), kwargs.pop("options", OPTIONS), runner=RUNNER, cluster="local", queue=queue or FixedQueue(), **kwargs
    )


def ran(tmp_path: Path) -> list[str]:
    return [key for key, _, _ in log_lines(tmp_path / "runs.log")]


# -- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, minutes",
    [("90", 90), ("30:30", 31), ("2:00:00", 120), ("1-0", 1440), ("1-2:30", 1590), ("0-0:11:01", 12)],
)
def test_slurm_time_formats_in_minutes_rounded_up(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: parse_time("2h"), r"--slurm-time: cannot read '2h'"),
        (lambda: SlurmOptions(time_min=parse_time("10")), r"more than 10 minutes, got 10"),
        (lambda: SlurmOptions(gpus_per_task=-1), r"--slurm-gpus-per-task must be 0 or more"),
        (lambda: SlurmOptions(gpus_per_task=2), r"--slurm-gpus-per-task 2: a cell trains on one GPU, so a task uses 1"),
        (lambda: SlurmOptions(cpus_per_task=0), r"--slurm-cpus-per-task must be at least 1, got 0"),
        (lambda: SlurmOptions(extra={"cpus-per-task": "4"}), r"--slurm-extra cpus-per-task=...: use --slurm-cpus-per-task"),
        (lambda: SlurmOptions(mem="lots"), r"--slurm-mem: cannot read 'lots'"),
        (lambda: SlurmOptions(extra={"array": "0-3"}), r"--slurm-extra array=...: the backend sets --array itself"),
        (lambda: SlurmOptions(array_parallelism=0), r"--slurm-array-parallelism must be at least 1"),
    ],
)
def test_bad_slurm_options_are_clear_errors(make, message):
    with pytest.raises(SlurmError, match=message):
        make()


def test_runner_options_reach_tasks_with_absolute_folders(tmp_path, monkeypatch):
    # A task may start on a node whose working directory is not the submission's.
    monkeypatch.chdir(tmp_path)
    given = backend(tmp_path / "results", runner_options=RunnerOptions("corpora", "weights", strict=True)).runner_options
    assert given == RunnerOptions(str(tmp_path / "corpora"), str(tmp_path / "weights"), strict=True)
    assert backend(tmp_path / "results").runner_options == RunnerOptions()


def test_command_line_options_become_executor_parameters():
    args = cli.parser().parse_args([
        "--grid", "demo", "--backend", "slurm", "--slurm-partition", "gpu", "--slurm-time", "2:00:00",
        "--slurm-mem", "32G", "--slurm-array-parallelism", "8", "--slurm-extra", "account=speech", "exclusive=true",
        "time-min=1:00:00", "comment=0123", "qos=no", "mail-user=null",
    ])
    options = cli.backend(args)
    assert options.device == "cuda:0" and options.wait
    assert options.executor_parameters("peftser-demo") == {
        "name": "peftser-demo", "timeout_min": 120, "gpus_per_node": 1, "cpus_per_task": 8, "slurm_partition": "gpu",
        "slurm_array_parallelism": 8, "slurm_mem": "32G",
        # Text as typed (YAML would read 1:00:00 as 3600, 0123 as 83, no as False, null as None);
        # True: a bare #SBATCH --exclusive
        "slurm_additional_parameters": {"account": "speech", "exclusive": True, "time-min": "1:00:00", "comment": "0123",
                                        "qos": "no", "mail-user": "null"},
    }
    cpu = cli.backend(cli.parser().parse_args(["--grid", "demo", "--backend", "slurm", "--slurm-gpus-per-task", "0", "--no-wait"]))
    assert cpu.device == "cpu" and not cpu.wait
    assert cpu.executor_parameters("x")["gpus_per_node"] is None  # no --gpus-per-node=0 for GPU-less clusters
    more = cli.backend(cli.parser().parse_args(["--grid", "demo", "--backend", "slurm", "--slurm-cpus-per-task", "16"]))
    assert more.executor_parameters("x")["cpus_per_task"] == 16
    assert cli.backend(cli.parser().parse_args(["--grid", "demo"])) == Local()  # --backend local


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grid", "demo", "--slurm-partition", "gpu"], "error: --slurm-partition applies to --backend slurm"),
        (["--grid", "demo", "--no-wait"], "error: --no-wait applies to --backend slurm"),
        # Falsy values are given too: they must not be dropped while the grid runs locally.
        (["--grid", "demo", "--slurm-array-parallelism", "0"], "error: --slurm-array-parallelism applies to --backend slurm"),
        (["--grid", "demo", "--backend", "local", "--slurm-gpus-per-task", "0"], "error: --slurm-gpus-per-task applies to --backend slurm"),
        (["--grid", "demo", "--slurm-cpus-per-task", "4"], "error: --slurm-cpus-per-task applies to --backend slurm"),
        (["--grid", "demo", "--backend", "slurm", "--slurm-gpus-per-task", "2"], "error: --slurm-gpus-per-task 2: a cell trains on one GPU"),
        (["--grid", "demo", "--slurm-extra", "account=x"], "error: --slurm-extra applies to --backend slurm"),
        (["--grid", "demo", "--backend", "slurm", "--devices", "0"], "error: --devices applies to --backend local"),
        (["--grid", "demo", "--backend", "slurm", "--slurm-time", "5"], "error: --slurm-time must be more than 10 minutes"),
        (["--grid", "demo", "--backend", "slurm", "--slurm-extra", "account"], "error: --slurm-extra expects KEY=VALUE"),
    ],
)
def test_misused_slurm_options_exit_2_with_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().startswith(message)

def test_without_slurm_on_path_the_backend_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SlurmError, match=r"sbatch, srun, squeue not found on PATH; run it where jobs are submitted"):
        SlurmBackend(ResultStore(tmp_path), OPTIONS, runner=RUNNER)


# -- the queue -------------------------------------------------------------------------------------
def fake_squeue(folder: Path, script: str) -> None:
    squeue = folder / "squeue"
    squeue.write_text("#!/bin/sh\n" + script)
    squeue.chmod(0o755)


def test_squeue_decides_which_tasks_still_hold_their_cells(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fake_squeue(tmp_path, 'echo "$@" > "$(dirname "$0")/args"\nprintf "5_0 RUNNING\\n5_1 PENDING\\n5_2 COMPLETED\\n5_3 CANCELLED\\n5_4 TIMEOUT\\n6 REQUEUED\\n"\n')
    alive = slurm.SlurmQueue().alive(["5_0", "5_1", "5_2", "5_3", "5_4", "6", "7_0"])
    assert alive == {"5_0", "5_1", "6"}  # 7_0 is gone from squeue altogether
    assert "--jobs=5,6,7" in (tmp_path / "args").read_text() and "--array" in (tmp_path / "args").read_text()
    fake_squeue(tmp_path, 'echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1\n')
    assert slurm.SlurmQueue().alive(["8_0"]) == set()  # the one job asked about is long gone
    fake_squeue(tmp_path, 'echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1\n')
    monkeypatch.setattr(slurm.queue.time, "sleep", lambda seconds: None)
    with pytest.raises(SlurmError, match=r"squeue failed \(slurm_load_jobs error: Unable to contact slurm controller\); cannot tell"):
        slurm.SlurmQueue().alive(["9_0"])


# -- arrays ----------------------------------------------------------------------------------------
def test_max_array_size_comes_from_scontrol_or_slurms_default():
    config = "Configuration data as of 2024-01-01T00:00:00\nMaxArraySize            = 3\nMaxJobCount = 10000\n"
    assert parse_max_array_size(config) == 3
    assert parse_max_array_size("MinJobAge = 300 sec\n") == 1001


def test_chunks_keep_order_and_cover_every_cell():
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked(list(range(3)), 1001) == [[0, 1, 2]]
    assert chunked([], 5) == []


def test_the_sbatch_script_carries_the_options_and_a_refusal_is_one_clear_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program, script in (("srun", "exit 0"), ("squeue", "exit 0"), ("sbatch", 'cp "$1" "$(dirname "$0")/script"; echo "Submitted batch job 123"')):
        (bin_dir / program).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / program).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    results = tmp_path / "results"
    cells = toy_grid(3).cells()
    options = SlurmOptions(partition="gpu", gpus_per_task=0, time_min=20, array_parallelism=2, mem="8G", extra={"account": "speech"})
    runner = SlurmBackend(ResultStore(results), options, runner=RUNNER, name="peftser-toy", stream=io.StringIO())
    assert runner.submit(cells, submitted_at=time.time()) == ["123_0", "123_1", "123_2"]
    script = (bin_dir / "script").read_text()
    for line in ("--array=0-2%2", "--partition=gpu", "--time=20", "--mem=8G", "--cpus-per-task=8", "--account=speech", "--job-name=peftser-toy",
                 f"--output={results.resolve()}/slurm/logs/%A_%a_0_log.out"):
        assert f"#SBATCH {line}\n" in script
    assert "gpus" not in script  # a CPU-only request asks for no GPUs at all
    assert Ledger(results.resolve()).tasks() == {c.key: [f"123_{i}"] for i, c in enumerate(cells)}

    (bin_dir / "sbatch").write_text("#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n")
    before = sorted((results / "slurm" / "logs").iterdir())
    with pytest.raises(SlurmError, match=r"^sbatch refused the array: sbatch: error: Batch job submission failed: Invalid partition name specified$"):
        runner.submit(cells, submitted_at=time.time())
    assert sorted((results / "slurm" / "logs").iterdir()) == before  # nothing of the refused array is left behind
    assert len(list((results / "slurm" / "jobs").iterdir())) == 1


@pytest.mark.slow
def test_cells_without_a_record_run_as_arrays_of_at_most_max_array_size(tmp_path, monkeypatch):
    # The one test that starts tasks: each is a process that unpickles its CellTask, as on a cluster.
    results = tmp_path / "results"
    grid = toy_grid(3)
    cells = grid.cells()
    store = ResultStore(results)
    store.save_record(toy_record(cells[0], "cpu"))  # done earlier: never submitted again
    before = store.record_path(cells[0]).read_bytes()
    monkeypatch.setattr(
        orchestrator, "SlurmBackend",
        functools.partial(SlurmBackend, cluster="local", queue=ProcessQueue(), max_array_size=1, poll_seconds=0.2),
    )
    stream = io.StringIO()
    summary = orchestrator.run_grid(grid, results_dir=results, runner=RUNNER, stream=stream, backend=OPTIONS, leaderboard=False)

    assert (summary.skipped, summary.ran, summary.ok, summary.missing, summary.queued) == (1, 2, 2, 0, 0)
    assert sorted(ran(tmp_path)) == sorted(c.key for c in cells[1:])  # each once, the recorded one never
    assert store.record_path(cells[0]).read_bytes() == before
    submissions = [json.loads(p.read_text())["tasks"] for p in (results / "slurm" / "jobs").glob("*.json")]
    assert sorted(len(tasks) for tasks in submissions) == [1, 1]  # two cells in arrays of at most 1
    for cell in cells[1:]:
        record = store.load_record(cell)
        assert record["status"] == "ok" and record["worker"]["backend"] == "slurm"
        assert Ledger(results.resolve()).tasks()[cell.key] == [record["worker"]["job_id"]]
        assert (results / record["worker"]["log"]).is_file()  # each task's log under the results directory
    assert json.loads((results / "last_run.json").read_text())["slurm"]["max_array_size"] == 1
    text = stream.getvalue()
    assert "1 already recorded, 2 to run on Slurm (partition (default), 0 GPU(s) and 8 CPUs per task, 20 min" in text
    assert "2/2 recorded (2 ok, 0 failed) | running 0 | pending 0" in text


# -- resuming --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_queued_or_claimed_cells_are_not_submitted_again_and_dead_tasks_are(tmp_path):
    results = tmp_path / "results"
    store = ResultStore(results)
    queued, dead, held, new = toy_grid(4).cells()
    Ledger(results.resolve()).add([("41_0", queued), ("41_1", dead)], submitted_at=time.time() - 60, options=OPTIONS)
    runner = backend(results, queue=FixedQueue({"41_0"}))  # 41_1 has left the queue without a record
    with store.claim(held):  # e.g. a local orchestrator training it right now
        busy, fresh = runner.split([queued, dead, held, new])
    assert [c.key for c in busy] == [queued.key, held.key]
    assert [c.key for c in fresh] == [dead.key, new.key]
    assert runner.split([held])[1] == [held]  # its claim was released: free to submit again


@pytest.mark.slow
def test_no_wait_submits_nothing_already_queued_and_reports_the_cells_as_queued(tmp_path, monkeypatch):
    results = tmp_path / "results"
    cells = toy_grid(2).cells()
    Ledger(results.resolve()).add([("41_0", cells[0])], submitted_at=time.time(), options=OPTIONS)
    runner = backend(results, queue=FixedQueue({"41_0"}), options=SlurmOptions(gpus_per_task=0, time_min=20, wait=False))
    submitted = []
    monkeypatch.setattr(runner, "submit", lambda chunk, submitted_at: submitted.append([c.key for c in chunk]))
    assert runner.run(cells).queued == 2
    assert submitted == [[cells[1].key]]
    assert "1 cell(s) already queued or running: not submitted again" in runner.stream.getvalue()


@pytest.mark.slow
def test_a_task_that_ends_without_a_record_is_reported_lost(tmp_path):
    results = tmp_path / "results"
    cell = toy_grid(1).cells()[0]
    Ledger(results.resolve()).add([("77_0", cell)], submitted_at=time.time(), options=OPTIONS)
    log = results / "slurm" / "logs" / "77_0_0_log.err"
    log.parent.mkdir(parents=True)
    log.write_text("training...\nslurmstepd: error: *** JOB 77 ON node1 CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***\n")
    runner = backend(results, queue=FixedQueue())
    result = runner.follow([cell], started=time.time())
    assert (result.ok, result.failed, result.queued) == (0, 0, 0)
    text = runner.stream.getvalue()
    assert f"lost   {cell.label}: task 77_0 ended without a record" in text
    assert "DUE TO TIME LIMIT" in text
    assert "1 cell(s) ended without a record" in text and "| lost 1" in text


@pytest.mark.slow
def test_a_failing_squeue_never_makes_a_cell_lost(tmp_path):
    class FlakyQueue:
        calls = 0

        def alive(self, job_ids):
            self.calls += 1
            if self.calls <= 4:
                raise SlurmError("squeue failed (timeout); cannot tell which submitted cells are still queued")
            return set()

    results = tmp_path / "results"
    cell = toy_grid(1).cells()[0]
    Ledger(results.resolve()).add([("77_0", cell)], submitted_at=time.time(), options=OPTIONS)
    queue = FlakyQueue()
    runner = backend(results, queue=queue, lost_grace_seconds=0.0)
    runner.follow([cell], started=time.time())
    text = runner.stream.getvalue()
    assert queue.calls == 5  # lost only once squeue answered
    assert text.count("warning: squeue failed (timeout)") == 1 and f"lost   {cell.label}" in text


@pytest.mark.slow
def test_a_task_runs_its_cell_through_the_runner_path_and_respects_records_and_claims(tmp_path, monkeypatch):
    results = tmp_path / "results"
    store = ResultStore(results)
    ok_cell, failing = toy_grid(2).cells()
    monkeypatch.setenv("GRID_TEST_FAIL", failing.training)
    task = functools.partial(CellTask, results_dir=str(results), runner=RUNNER, options={}, device="cpu")
    assert run_task(task(ok_cell)) == "ok"
    assert run_task(task(failing)) == "failed"
    failed = store.load_record(failing)
    assert failed["error"].startswith("RuntimeError: toy failure") and "Traceback" in failed["traceback"]
    assert run_task(task(ok_cell)) == "recorded"  # a record exists: nothing runs
    assert run_task(task(failing)) == "recorded"  # a failure is kept ...
    assert run_task(task(failing, retry_failed=True, submitted_at=time.time() + 1)) == "failed"  # ... unless retried
    assert ran(tmp_path).count(failing.key) == 2 and ran(tmp_path).count(ok_cell.key) == 1

    monkeypatch.setattr(slurm.task, "CLAIM_PATIENCE_SECONDS", 0.2)
    other = toy_grid(3).cells()[2]
    with store.claim(other):
        assert run_task(task(other)) == "held"
    assert other.key not in ran(tmp_path)
