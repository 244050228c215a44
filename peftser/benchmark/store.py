"""The result store: one JSON run record per cell, its artifacts, and claims on cells.

Layout under the results directory::

    records/<task>/<cell.key>.json   the run record (written atomically: a kill mid-write leaves
                                     at most a hidden ``.<name>.*.tmp`` file, never a partial record)
    evaluations/<task>/<key>.json    the record of an evaluation of a trained cell (of ``task``)
    artifacts/<cell.key>/            what the training saved (adapter.safetensors, adapter_config.json)
    locks/<cell.key>.lock            claim files; the lock on them, not the file, is the claim

Claims use OS-level file locks (``filelock.FileLock``: ``flock`` on POSIX, ``msvcrt.locking`` on
Windows), which the operating system drops when the holding process dies, kill -9 included, with
no guessing about stale owners; a ``SoftFileLock`` is only a marker file, which older filelock
releases leave behind when its holder is killed. ``flock`` is not reliable across machines on
some network filesystems, so orchestrators sharing a directory should run on one host.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import FOLDER as EVALUATIONS
from peftser.benchmark.record import CorruptRecordError, is_evaluation, problem, read_record, read_records
from peftser.files import check_writable_dir, write_json_atomic, writing


GRIDS_FILE = "grids.json"  # the grids run into a results directory
ARTIFACT_CONFIG = "adapter_config.json"  # an artifact's config, beside its weights (peftser.benchmark.artifact)


class Claim:
    """An exclusive, process-lifetime hold on one cell; release it once its record is saved."""

    def __init__(self, cell: Cell, lock: FileLock):
        self.cell = cell
        self._lock = lock

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        """Give the cell up (idempotent)."""
        if self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Claim({self.cell.label!r}, held={self.held})"


class ResultStore:
    """Run records, artifacts and claims in one results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- the grids run here (for --leaderboard) ---------------------------------------------------
    def remember_grid(self, grid) -> None:
        """Add ``grid``, as it ran (command-line overrides included), to grids.json.

        The grid itself is stored, not only its file's path, so ``--leaderboard`` works after the
        user's YAML moved; a lock keeps the updates of orchestrators finishing at once.
        """
        from peftser.registry import GRIDS

        file = None if grid.name in GRIDS else (str(Path(grid.source).resolve()) if grid.source else None)
        entry = {"name": grid.name, "file": file, "grid": grid.to_dict()}
        path = self.root / GRIDS_FILE
        lock = self.root / "locks" / f"{GRIDS_FILE}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock, thread_local=False):
            known = self.grid_entries()
            if entry in known:
                return
            # A grid run again with other settings replaces its earlier entry: the latest run defines it.
            others = [e for e in known if (e.get("name"), e.get("file")) != (entry["name"], entry["file"])]
            with writing("the list of grids run here"):
                write_json_atomic(path, [*others, entry])

    def grid_entries(self) -> list[dict[str, Any]]:
        """grids.json's entries ([] when there is none); a ValueError naming the file when it is damaged."""
        path = self.root / GRIDS_FILE
        if not path.exists():
            return []
        if not path.is_file():  # a FIFO would hang the read, a folder fail it
            raise ValueError(f"{path} is not a regular file; it should list the grids run into {self.root}: remove it")
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is damaged (not valid JSON: {exc}); it lists the grids run into "
                             f"{self.root} for --leaderboard: repair or delete it") from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
            raise ValueError(f"{path} is damaged (not a list of grids with names); repair or delete it")
        return entries

    def grids(self) -> list:
        """The grids that ran into this directory (none when only single trainings did)."""
        from peftser.benchmark.grids import Grid, load_grid

        grids = []
        for entry in self.grid_entries():
            if "grid" not in entry:  # written before grids were stored whole
                grids.append(load_grid(entry["file"] or entry["name"]))
                continue
            try:
                grids.append(Grid.from_dict(entry["grid"]))
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{self.root / GRIDS_FILE} is damaged: grid {entry['name']!r} cannot be read ({exc!r})") from None
        return grids

    def check_writable(self, tasks, *, claims: bool = False, evaluations: bool = False) -> None:
        """Before any work starts: every folder this store will write for ``tasks`` can be written
        (an OutputError naming the folder and what it is for, instead of a crash after training)."""
        folders = [(self.root, "the results folder"), (self.root / "artifacts", "the artifacts folder")]
        folders += [(self.root / "records" / task, "the run records folder") for task in sorted(set(tasks))]
        if evaluations:
            folders += [(self.root / EVALUATIONS / task, "the evaluation records folder") for task in sorted(set(tasks))]
        if claims:
            folders.append((self.root / "locks", "the cell claims folder"))
        for folder, what in folders:
            check_writable_dir(folder, what)

    # -- paths ---------------------------------------------------------------------------------
    # A unit of work is a Cell or an Evaluation (peftser.benchmark.evaluation): both have a key, a
    # task and the folder their records are kept in.
    def record_path(self, cell: Cell) -> Path:
        """root/records/<task>/<key>.json (root/evaluations/... for an evaluation)"""
        return self.root / cell.folder / cell.task / f"{cell.key}.json"

    def artifact_dir(self, cell: Cell) -> Path:
        """root/artifacts/<key>"""
        return self.root / "artifacts" / cell.key

    def weights_sha256(self, cell: Cell) -> str | None:
        """The weights checksum the cell's artifact config states; None when there is no readable
        config or it states none. It ties the cell's record, and each evaluation of it, to the
        weights they describe."""
        try:
            config = json.loads((self.artifact_dir(cell) / ARTIFACT_CONFIG).read_text())
        except (OSError, ValueError):
            return None
        sha = config.get("weights_sha256") if isinstance(config, dict) else None
        return sha if isinstance(sha, str) else None

    def scored_other_weights(self, unit: Cell, record: dict[str, Any]) -> bool:
        """Whether ``record``, an evaluation's, scored other weights than its cell's artifact holds now
        (the cell trained again since). Records that note no weights (written before they did, and
        every training's) count as current, as does any when the artifact is gone (nothing to compare)."""
        scored = (record.get("source") or {}).get("weights_sha256") if is_evaluation(record) else None
        current = self.weights_sha256(unit.source) if scored else None
        return bool(scored and current and scored != current)

    def relative(self, path: Path) -> str:
        """``path`` as records note it: relative to the results directory."""
        return Path(path).relative_to(self.root).as_posix()

    def lock_path(self, cell: Cell) -> Path:
        """root/locks/<key>.lock"""
        return self.root / "locks" / f"{cell.key}.lock"

    # -- records -------------------------------------------------------------------------------
    def has_record(self, cell: Cell) -> bool:
        """Whether a record file (ok or failed) exists for the cell."""
        return self.record_path(cell).is_file()

    def load_record(self, cell: Cell) -> dict[str, Any] | None:
        """The cell's record, None when there is none; CorruptRecordError when unreadable."""
        path = self.record_path(cell)
        if not path.is_file():
            return None
        return read_record(path)

    def save_record(self, record: dict[str, Any]) -> Path:
        """Write a record (atomically) where its task and key say it belongs; a ValueError when it
        breaks the record contract, so that nothing unreadable is ever written."""
        why = problem(record)
        if why:
            raise ValueError(f"run record {record.get('key') if isinstance(record, dict) else record!r}: {why}")
        folder = EVALUATIONS if is_evaluation(record) else "records"
        path = self.root / folder / record["task"] / f"{record['key']}.json"
        with writing("the run record"):
            return write_json_atomic(path, record)

    def records(self, folder: str = "records") -> Iterator[dict[str, Any]]:
        """Every usable record, one per cell (per evaluation, with ``folder="evaluations"``); an
        unusable file is reported with a warning, not skipped silently."""
        for entry in read_records(self.root, folder):
            if entry.problem:
                warnings.warn(f"run record {self.root / entry.path}: {entry.problem}", stacklevel=2)
            else:
                yield entry.record

    def failed(self) -> list[dict[str, Any]]:
        """Records of cells whose training failed."""
        return [r for r in self.records() if r["status"] == "failed"]

    def should_run(self, cell: Cell, *, retry_failed: bool = False, failed_before: float | None = None) -> bool:
        """Resume rule: no record -> run; ok -> skip (but an evaluation of weights its cell's artifact
        no longer holds runs again); failed -> run only with ``retry_failed``.

        ``failed_before`` (a time.time() value) limits retrying to failures recorded before it, so a
        run retries what failed in earlier runs but not what failed again during itself.
        """
        path = self.record_path(cell)
        try:
            record = self.load_record(cell)
        except CorruptRecordError as exc:
            warnings.warn(f"{exc}; the cell will run again and replace it", stacklevel=2)
            return True
        if record is None:
            return True
        if record["status"] == "ok":
            return self.scored_other_weights(cell, record)
        if not retry_failed:
            return False
        return failed_before is None or path.stat().st_mtime < failed_before

    # -- claims --------------------------------------------------------------------------------
    def claim(self, cell: Cell) -> Claim | None:
        """Hold the cell for this process, or None when another live process holds it."""
        path = self.lock_path(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=0)  # one attempt; works on every filelock the project allows (>=3.12)
        except Timeout:
            return None
        return Claim(cell, lock)
