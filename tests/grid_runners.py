"""Stand-in runners and toy grids for the scheduler tests.

The scheduler's spawned workers import a runner by "module:function"; they inherit the parent's
``sys.path``, so ``grid_runners:toy_run`` resolves in workers started from a pytest process. Run
as a script, this module is an orchestrator process for the kill -9 and two-orchestrator tests:
``python grid_runners.py RESULTS_DIR N_CELLS [JOBS_PER_DEVICE]`` (env GRID_TEST_SLEEP, and
GRID_TEST_BARRIER_COUNT for the barrier below).

A toy cell's behaviour comes from its method args: ``sleep`` seconds, ``fail`` ("raise", "exit",
or "wrong_key": return another cell's record) and ``barrier`` (wait until that many distinct
workers have started a cell, so a test can rely on every worker taking part; "cuda": raise the
error of a broken CUDA context). Cells whose label
contains one of the comma-separated strings in GRID_TEST_FAIL raise too (this also works for
grids of real names, whose method arguments are checked). Each run appends
"key worker_pid orchestrator_pid" to the file named by GRID_TEST_LOG, and the runner options it
was given (their repr) to the file named by GRID_TEST_OPTIONS, when set.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Run as a script from anywhere: make the package importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peftser.benchmark.run.slots import Local
from peftser.benchmark.cell import Cell  # noqa: E402
from peftser.benchmark.grids import Grid, MethodEntry, TaskEntry, UpstreamEntry  # noqa: E402

RUNNER = "grid_runners:toy_run"


def toy_grid(n_cells: int, *, methods: list[MethodEntry] | None = None, name: str = "toy") -> Grid:
    """toy_up x methods x toy_task with n_cells trainings; built directly, so no registry is involved."""
    methods = methods or [MethodEntry("toy", args={"sleep": 0.05})]
    trainings = tuple(f"fold{i}" for i in range(1, n_cells + 1))
    return Grid(name=name, upstreams=(UpstreamEntry("toy_up"),), methods=tuple(methods), tasks=(TaskEntry("toy_task", trainings),))


def toy_record(cell: Cell, device: str) -> dict:
    """A well-formed ok record with fixed metrics (the leaderboard can read it)."""
    metrics = {
        "uar": 50.0, "acc": 50.0, "macro_f1": 50.0, "demographic_parity": 5.0, "equality_of_odds": 5.0,
        "confusion": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "n": 4, "notes": [],
    }
    return {
        "status": "ok", "key": cell.key, "label": cell.label, "cell": cell.to_dict(), "config": cell.resolved(),
        "upstream": cell.upstream, "method": cell.method, "variant": cell.variant or cell.method,
        "task": cell.task, "training": cell.training, "seed": 8,
        "test": metrics, "dev": metrics, "best_epoch": 1,
        "history": [{"epoch": 1, "train_loss": 1.0, "dev_loss": 1.0, "dev_uar": 50.0, "lr": 5e-4}],
        "trainable_params": 10, "method_params": 0, "head_params": 10, "upstream_params": 100,
        "artifact": {"path": f"artifacts/{cell.key}", "bytes": 0},
        "wall_time_s": 0.05, "device": device, "precision": "fp32", "versions": {},
        "predictions": [
            {"key": f"u{i}", "label": e, "pred": e, "gender": g}
            for i, (e, g) in enumerate(zip(("neutral", "happy", "sad", "angry"), ("female", "male", "female", "male")))
        ],
        # What the worker saw, for the device-assignment test.
        "seen_cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def _barrier(count: int) -> None:
    folder = Path(os.environ["GRID_TEST_BARRIER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier: only {len(list(folder.iterdir()))} of {count} workers arrived")
        time.sleep(0.02)


def toy_run(cell: Cell, *, device: str, results_dir: Path, options) -> dict:
    """The stand-in for run_cell; never touches torch or CUDA."""
    if os.environ.get("GRID_TEST_OPTIONS"):
        with open(os.environ["GRID_TEST_OPTIONS"], "a") as log:
            log.write(f"{options!r}\n")
    args = cell.method_args
    if args.get("barrier"):
        _barrier(int(args["barrier"]))
    time.sleep(float(args.get("sleep", 0.05)))
    with open(os.environ["GRID_TEST_LOG"], "a") as log:
        log.write(f"{cell.key} {os.getpid()} {os.getppid()}\n")
    fail = args.get("fail")
    failing = [part for part in os.environ.get("GRID_TEST_FAIL", "").split(",") if part]
    if fail == "raise" or any(part in cell.label for part in failing):
        raise RuntimeError(f"toy failure in {cell.label}")
    if fail == "exit":
        os._exit(3)
    if fail == "cuda":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    if fail == "wrong_key":
        return {**toy_record(cell, device), "key": "0000000000000000"}
    return toy_record(cell, device)


def log_lines(path: Path) -> list[tuple[str, int, int]]:
    """(key, worker pid, orchestrator pid) per run the stand-in runner logged."""
    if not path.exists():
        return []
    return [(k, int(w), int(o)) for k, w, o in (line.split() for line in path.read_text().splitlines())]


if __name__ == "__main__":
    from peftser.benchmark.run.orchestrator import run_grid

    results, n_cells = sys.argv[1], int(sys.argv[2])
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    sleep = float(os.environ.get("GRID_TEST_SLEEP", "0.05"))
    barrier = int(os.environ.get("GRID_TEST_BARRIER_COUNT", "0"))
    grid = toy_grid(n_cells, methods=[MethodEntry("toy", args={"sleep": sleep, "barrier": barrier})])
    run_grid(grid, results_dir=results, backend=Local("cpu", jobs), runner=RUNNER, leaderboard=False)
