"""``--backend slurm`` against a real Slurm: a one-node, CPU-only cluster without accounting.

The module's fixture installs Debian's slurm-wlm and munge when absent, starts munged, slurmctld
and slurmd from a slurm.conf in a temporary folder, and stops them by their pids at the end
(tests/slurm_cluster.py). Where that cannot happen (not root, apt unreachable) the test is skipped
with the reason, unless PEFTSER_REQUIRE_SLURM_TEST=1 (CI sets it), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from slurm_cluster import OneNodeSlurm, install_reason

REPO = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("PEFTSER_REQUIRE_SLURM_TEST") == "1"
# Three cells of the demo grid: whisper tiny, downstream head, synthetic CREMA-D folds 1-3.
ONLY = [f"--only={pair}" for pair in ("upstream=demo_whisper_tiny", "method=downstream", "task=synthetic_crema_d",
                                       "training=fold1", "training=fold2", "training=fold3")]

pytestmark = [pytest.mark.slow, pytest.mark.slurm]  # ``pytest -m "not slow"`` is the quick loop


def _unavailable(reason: str) -> None:
    (pytest.fail if REQUIRED else pytest.skip)(f"no Slurm to test against: {reason}")


@pytest.fixture(scope="module")
def cluster(request):
    """A running one-node Slurm; its daemons are stopped by pid when the module's tests are done."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        _unavailable("submitit is not installed (pip install -e '.[test]')")
    reason = install_reason()
    if reason:
        _unavailable(reason)
    # Not under pytest's tmp folders: munged needs every folder above its socket open to others.
    folder = Path(tempfile.mkdtemp(prefix="peftser-slurm-"))
    slurm = OneNodeSlurm(folder)

    def stop() -> None:
        slurm.stop()
        shutil.rmtree(folder, ignore_errors=True)

    request.addfinalizer(stop)  # before start(): a half-started cluster is stopped too
    slurm.start()
    return slurm


def test_a_demo_grid_is_submitted_resumed_resubmitted_and_tabulated_on_slurm(cluster, tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "SLURM_CONF": str(cluster.conf), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}

    def grid(*extra: str, only: list[str] = ONLY) -> subprocess.CompletedProcess:
        command = [
            sys.executable, str(REPO / "run_benchmark.py"), "--grid", "demo", *only, "--results", str(results),
            "--backend", "slurm", "--slurm-partition", "main", "--slurm-gpus-per-task", "0", "--slurm-time", "15",
            "--slurm-mem", "500M", "--slurm-cpus-per-task", "1", *extra,  # the test node has 2 CPUs
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        print(done.stderr)  # shown when the test fails
        return done

    def submissions() -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((results / "slurm" / "jobs").glob("*.json"))]

    # Without accounting there is no sacct: the backend must not need it.
    sacct = subprocess.run(["sacct"], capture_output=True, text=True, env=env)
    assert sacct.returncode != 0 and "accounting storage is disabled" in sacct.stderr.lower()

    # 1. Submitted, held in the queue for an hour by an sbatch option: --no-wait returns at once.
    first = grid("--no-wait", "--no-evaluate", "--slurm-extra", "begin=now+1hour")
    assert first.returncode == 0
    assert "submitted 3 cell(s)" in first.stderr and "3 queued on the cluster" in first.stderr
    (held,) = submissions()
    array_id = next(iter(held["tasks"])).split("_")[0]
    assert not list((results / "records").glob("**/*.json"))  # held: no cell has run

    # 2. Run again while they are queued: nothing is submitted twice.
    second = grid("--no-wait", "--no-evaluate")
    assert second.returncode == 0
    assert "3 cell(s) already queued or running: not submitted again" in second.stderr
    assert len(submissions()) == 1
    assert not (results / "leaderboard.md").exists()  # nothing to tabulate while cells are queued

    # 3. The array dies without a record (as a preempted or timed-out one would): the next run
    #    submits the three cells again, waits for them and writes the leaderboard.
    subprocess.run(["scancel", array_id], env=env, check=True, timeout=60)
    third = grid("--slurm-array-parallelism", "2", "--no-evaluate")
    assert third.returncode == 0
    assert "submitted 3 cell(s)" in third.stderr and "3/3 recorded (3 ok, 0 failed)" in third.stderr
    old, new = submissions()
    assert old == held and sorted(t["key"] for t in new["tasks"].values()) == sorted(t["key"] for t in held["tasks"].values())
    records = [json.loads(p.read_text()) for p in sorted((results / "records" / "synthetic_crema_d").glob("*.json"))]
    assert [r["training"] for r in sorted(records, key=lambda r: r["training"])] == ["fold1", "fold2", "fold3"]
    for record in records:
        assert record["status"] == "ok" and 0.0 <= record["test"]["uar"] <= 100.0
        assert record["worker"]["job_id"] in new["tasks"]  # trained by the second array, not the cancelled one
        assert (results / record["worker"]["log"]).is_file()
        assert (results / "artifacts" / record["key"] / "adapter.safetensors").is_file()
    leaderboard = (results / "leaderboard.md").read_text()
    assert "demo_whisper_tiny" in leaderboard and "synthetic_crema_d" in leaderboard

    # 4. The grid's evaluations of a trained cell run as tasks too (fold1 on the three other synthetic
    #    corpora and under noise: one task each), recorded like cells, and the leaderboard shows them.
    fourth = grid("--evaluate-only", "--slurm-array-parallelism", "2", only=[*ONLY[:3], "--only=training=fold1"])
    assert fourth.returncode == 0
    assert "evaluations: 4 planned; ran 4 (4 ok, 0 failed)" in fourth.stderr
    evaluations = [json.loads(p.read_text()) for p in sorted((results / "evaluations" / "synthetic_crema_d").glob("*.json"))]
    assert len(evaluations) == 4 and all(e["status"] == "ok" and e["worker"]["backend"] == "slurm" for e in evaluations)
    assert {e["training"] for e in evaluations} == {"fold1"}
    assert [json.loads(p.read_text()) for p in sorted((results / "records" / "synthetic_crema_d").glob("*.json"))] == records
    assert "## Cross-corpus transfer (beyond the paper)" in (results / "leaderboard.md").read_text()


def test_a_request_no_node_can_meet_is_refused_before_submitting(cluster, tmp_path):
    # The default --slurm-cpus-per-task is 8; the test node has 2 CPUs: every task would pend forever.
    env = {**os.environ, "SLURM_CONF": str(cluster.conf), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    results = tmp_path / "results"
    command = [sys.executable, str(REPO / "run_benchmark.py"), "--grid", "demo", *ONLY, "--results", str(results),
               "--backend", "slurm", "--slurm-partition", "main", "--slurm-gpus-per-task", "0", "--slurm-time", "15",
               "--no-evaluate"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --slurm-cpus-per-task 8: no node of partition main has more than 2 CPUs, so no task could ever start; "
        "use --slurm-cpus-per-task 2 or less (sinfo)"]
    assert not (results / "slurm" / "jobs").exists()  # nothing was submitted
    queue = subprocess.run(["squeue", "--noheader"], capture_output=True, text=True, env=env, timeout=60)
    assert queue.stdout.strip() == ""
