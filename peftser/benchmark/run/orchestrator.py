"""Run a grid: pick the cells still to do, schedule them over the devices, write the leaderboard.

``python run_benchmark.py --grid NAME|PATH [--only K=V ...] [--devices 0,1|cpu]
[--jobs-per-device N] [--retry-failed] [--results DIR] [--data-root DIR]`` calls ``main``; the
results directory defaults to ``results/<grid name>``. The cells run on this machine's devices
(the local scheduler) or, with ``--backend slurm``, as a Slurm job array (peftser.benchmark.run.slurm).
Resuming is the default: a cell with an ok record is skipped, a failed one is kept and skipped
unless ``--retry-failed``; killing a run at any moment loses at most the cells in flight.

When the grid has an ``evaluate:`` section, a second phase scores every trained cell again
(peftser.benchmark.evaluation): the same backend runs the evaluations, with the same resume and
claim rules, after the trainings (``--evaluate-only`` runs only them, ``--no-evaluate`` none).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence, TextIO

from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.grids import Grid, GridError, load_grid, with_train
from peftser.benchmark.machine import machine_info
from peftser.benchmark.record import CorruptRecordError
from peftser.benchmark.run.runner import DEFAULT_RUNNER, RunnerOptions, SchedulerError
from peftser.benchmark.run.scheduler import Scheduler
from peftser.benchmark.run.slots import DeviceError, Local, Slot
from peftser.benchmark.run.slurm import SlurmBackend, SlurmError, SlurmOptions
from peftser.benchmark.store import ResultStore, write_json_atomic
from peftser.downstream.audio import check_cache_writable

RESULTS_ROOT = Path("results")  # default results directory: RESULTS_ROOT/<grid name>
EVALUATION_RUNNER = "peftser.benchmark.run.evaluation:run_evaluation"


@dataclass
class EvaluationSummary:
    """What the evaluation phase of a run did."""

    planned: int = 0  # evaluations the grid asks of the selected cells
    untrained: int = 0  # of those: their cell has no successful training yet, so not run
    ran: int = 0
    ok: int = 0
    failed: int = 0
    failed_total: int = 0  # failed evaluation records among the planned ones at the end

    def line(self) -> str:
        untrained = f", {self.untrained} waiting for their cell's training" if self.untrained else ""
        return f"evaluations: {self.planned} planned; ran {self.ran} ({self.ok} ok, {self.failed} failed){untrained}; {self.failed_total} failed overall"


@dataclass
class RunSummary:
    """What one run of a grid did, and where the grid stands afterwards."""

    grid: str
    cells: int  # in the grid after --only
    skipped: int  # already recorded when the run started (ok, or failed and not retried)
    ran: int
    ok: int  # of the cells run now
    failed: int  # of the cells run now
    elsewhere: int  # recorded meanwhile by another orchestrator on the same directory
    failed_total: int  # failed records among the grid's cells at the end
    missing: int  # cells of the selection with no record at the end
    wall_time_s: float
    leaderboard: Path | None = None
    queued: int = 0  # of the missing: submitted to a cluster and not waited for (--no-wait)
    evaluations: EvaluationSummary | None = None  # None when the grid asks for none (or --no-evaluate)

    def line(self) -> str:
        """One line for the terminal (two with evaluations)."""
        queued = f" ({self.queued} queued on the cluster)" if self.queued else ""
        line = (
            f"grid {self.grid}: {self.cells} cells; ran {self.ran} ({self.ok} ok, {self.failed} failed), "
            f"{self.skipped} already recorded, {self.elsewhere} recorded by another process; "
            f"{self.failed_total} failed and {self.missing} missing{queued} overall; {self.wall_time_s:.1f} s"
        )
        return line + ("\n" + self.evaluations.line() if self.evaluations else "")


def run_grid(
    grid: Grid | str | Path,
    *,
    results_dir: str | Path | None = None,
    backend: Local | SlurmOptions | None = None,
    options: RunnerOptions | None = None,
    only: Sequence[str] = (),
    retry_failed: bool = False,
    train: dict[str, Any] | None = None,
    runner: str | None = None,
    leaderboard: bool = True,
    stream: TextIO | None = None,
    evaluate: bool = True,
    evaluate_only: bool = False,
    evaluation_runner: str | None = None,
) -> RunSummary:
    """Run every cell of ``grid`` (narrowed by ``only``) that has no record yet; see the module doc.

    ``results_dir`` defaults to results/<grid name>. ``backend`` is where the cells run:
    ``Local(devices, jobs_per_device)`` (the default) or ``SlurmOptions(...)``, a Slurm job array.
    ``options`` go to every runner call (data root, checkpoint folder, strict). ``leaderboard=False``
    skips regenerating the leaderboard at the end. ``evaluate=False`` skips the grid's evaluations,
    ``evaluate_only=True`` the trainings.
    """
    start = time.monotonic()
    stream = stream or sys.stderr
    runner = runner or DEFAULT_RUNNER
    backend = Local() if backend is None else backend
    if not isinstance(backend, (Local, SlurmOptions)):
        raise SchedulerError(f"the backend must be Local(...) or SlurmOptions(...), got {backend!r}")
    on_slurm = isinstance(backend, SlurmOptions)
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    if train:  # command-line training overrides (--precision, --epochs) apply to every cell
        grid = with_train(grid, train)
    results_dir = Path(results_dir) if results_dir is not None else RESULTS_ROOT / grid.name
    cells = grid.cells(only)
    # Every check that can fail comes before anything is started or written.
    store = ResultStore(results_dir)
    runner_options = options or RunnerOptions()
    evaluations = grid.evaluations(cells) if evaluate else []
    if evaluate_only and not evaluations:
        raise GridError(f"--evaluate-only: grid {grid.name!r} has no evaluate section (or --no-evaluate was given)")
    slots = [] if on_slurm else backend.slots()

    def engine_for(runner_spec: str, suffix: str = "") -> Any:
        """The backend's engine for one phase: the trainings, or the evaluations (suffix "-eval")."""
        if on_slurm:
            return SlurmBackend(store, backend, runner=runner_spec, runner_options=runner_options,
                                retry_failed=retry_failed, name=f"peftser-{grid.name}{suffix}", stream=stream)
        return Scheduler(store, slots, runner=runner_spec, runner_options=runner_options, retry_failed=retry_failed,
                         stream=stream)

    engine = engine_for(runner)
    if on_slurm:
        where, setup = engine.describe(), {"slurm": engine.note()}
    else:
        where, setup = _describe_slots(slots), {"slots": [{"device": s.device, "threads": s.threads} for s in slots]}
    evaluation_engine = engine_for(evaluation_runner or EVALUATION_RUNNER, "-eval") if evaluations else None
    store.grid_entries()  # a damaged grids.json fails now, not after the last cell
    store.check_writable({c.task for c in cells}, claims=True, evaluations=bool(evaluations))
    if not on_slurm:
        check_cache_writable()  # the workers decode audio into it (Slurm tasks use their nodes' caches)
    store.remember_grid(grid)  # now, so that --leaderboard knows its cells even if this run is cut short
    todo = [] if evaluate_only else [c for c in cells if store.should_run(c, retry_failed=retry_failed)]
    before = _statuses(store, cells)
    kept = 0 if retry_failed else before.count("failed")
    # --evaluate-only runs no cell: those without a record are untrained, not "already recorded"
    untrained = before.count(None) if evaluate_only else 0
    print(_header(grid, len(cells), len(todo), kept, where, untrained), file=stream, flush=True)
    result = engine.run(todo)
    evaluated = _evaluate(evaluation_engine, store, evaluations, retry_failed, stream) if evaluation_engine else None
    after = _statuses(store, cells)
    summary = RunSummary(
        grid=grid.name,
        cells=len(cells),
        skipped=len(cells) - len(todo) - untrained,
        ran=result.ok + result.failed,
        ok=result.ok,
        failed=result.failed,
        elsewhere=result.elsewhere,
        failed_total=after.count("failed"),
        missing=after.count(None),
        wall_time_s=0.0,
        queued=result.queued,
        evaluations=evaluated,
    )
    if leaderboard and not result.queued:  # with cells still queued, a re-run or --leaderboard writes it
        summary.leaderboard = _write_leaderboard(results_dir, grid)
    summary.wall_time_s = time.monotonic() - start
    _write_run_note(results_dir, summary, setup)
    print(summary.line(), file=stream, flush=True)
    return summary


def _write_run_note(results_dir: Path, summary: RunSummary, setup: dict[str, Any]) -> None:
    """results_dir/last_run.json: what the latest run did, on what (``setup``), and how long it took."""
    note = {
        **asdict(summary),
        "leaderboard": None if summary.leaderboard is None else str(summary.leaderboard.name),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **setup,
        "machine": machine_info(),  # torch's fields only if this process imported torch (peftser.benchmark.machine)
    }
    write_json_atomic(results_dir / "last_run.json", note)


def _evaluate(engine: Any, store: ResultStore, evaluations: list[Evaluation], retry_failed: bool, stream: TextIO) -> EvaluationSummary:
    """The evaluation phase: every planned evaluation whose cell trained and that has no record yet.

    An evaluation of a cell without a successful training waits (it is not recorded: the cell
    may train in a later run); one that cannot run for another reason is recorded as failed
    with the reason, and nothing else stops.
    """
    sources = list({e.source.key: e.source for e in evaluations}.values())
    trained = {c.key for c, status in zip(sources, _statuses(store, sources)) if status == "ok"}
    ready = [e for e in evaluations if e.source.key in trained]
    stale = [e for e in ready if _scored_other_weights(store, e)]
    todo = [e for e in ready if store.should_run(e, retry_failed=retry_failed)]
    summary = EvaluationSummary(planned=len(evaluations), untrained=len(evaluations) - len(ready))
    if summary.untrained:
        print(f"{summary.untrained} evaluation(s) wait for their cell's training (no ok record yet)", file=stream, flush=True)
    again = f" ({len(stale)} scored an artifact since replaced: run again)" if stale else ""
    print(f"evaluations: {len(evaluations)} planned, {len(ready) - len(todo)} already recorded, {len(todo)} to run{again}",
          file=stream, flush=True)
    result = engine.run(todo)
    summary.ran, summary.ok, summary.failed = result.ok + result.failed, result.ok, result.failed
    summary.failed_total = _statuses(store, ready).count("failed")
    return summary


def _scored_other_weights(store: ResultStore, evaluation: Evaluation) -> bool:
    try:
        record = store.load_record(evaluation)
    except CorruptRecordError:
        return False  # should_run runs it again, for that reason
    return record is not None and record["status"] == "ok" and store.scored_other_weights(evaluation, record)


def _statuses(store: ResultStore, cells: list[Cell]) -> list[str | None]:
    """Each cell's record status; None for no record (or an unreadable one, which will run again)."""
    statuses: list[str | None] = []
    for cell in cells:
        try:
            record = store.load_record(cell)
        except CorruptRecordError:
            record = None
        statuses.append(None if record is None else record["status"])
    return statuses


def _describe_slots(slots: list[Slot]) -> str:
    devices: dict[str, int] = {}
    for slot in slots:
        devices[slot.device] = devices.get(slot.device, 0) + 1
    where = ", ".join(f"{d} x{n}" for d, n in devices.items())
    return f"{where} ({slots[0].threads} CPU thread(s) per worker)"


def _header(grid: Grid, n_cells: int, n_todo: int, kept: int, where: str, untrained: int = 0) -> str:
    if untrained:  # --evaluate-only
        text = f"grid {grid.name}: {n_cells} cells, {n_cells - untrained} recorded, {untrained} not trained (--evaluate-only trains none)"
    else:
        text = f"grid {grid.name}: {n_cells} cells, {n_cells - n_todo} already recorded, {n_todo} to run on {where}"
    if kept:
        text += f"; {kept} failed earlier and kept (--retry-failed runs them again)"
    return text


def _write_leaderboard(results_dir: Path, grid: Grid) -> Path:
    # Imported here: the leaderboard pulls in plotting, which a run only needs at its very end.
    # The one rule of --leaderboard: the cells of every grid in grids.json (``grid`` is among them).
    from peftser.benchmark.report.leaderboard import write_results_leaderboard

    return write_results_leaderboard(results_dir)[0]


def grid_command(grid: str | Path, **options: Any) -> int:
    """``--grid``: run it (``options`` as ``run_grid`` takes them).

    Returns the exit status: 0 when every cell of the selection has an ok record (or, with
    --no-wait, is queued on the cluster), 1 when some failed or are missing, 2 on a bad
    grid/option. Ctrl-C and SIGTERM reach the caller as KeyboardInterrupt once the workers stopped.
    """
    try:
        summary = run_grid(grid, **options)
    except (GridError, DeviceError, SchedulerError, SlurmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # With --no-wait the cells still queued on the cluster are missing, but not failed.
    evaluations_failed = summary.evaluations is not None and summary.evaluations.failed_total > 0
    return 0 if summary.failed_total == 0 and summary.missing <= summary.queued and not evaluations_failed else 1
