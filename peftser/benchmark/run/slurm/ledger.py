"""The submission ledger, slurm/jobs/<job id>.json: which cell each submitted task runs."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from peftser.benchmark.cell import Cell
from peftser.benchmark.run.slurm.options import SlurmOptions
from peftser.files import write_json_atomic

JOBS_DIR = Path("slurm") / "jobs"


class Ledger:
    """slurm/jobs/<job id>.json: the cell each submitted task runs, so that a later run knows what is queued."""

    def __init__(self, root: Path):
        self.folder = Path(root) / JOBS_DIR

    def add(self, jobs: Sequence[tuple[str, Cell]], *, submitted_at: float, options: SlurmOptions) -> Path:
        """Note one submission: (job id, cell) per task."""
        entry = {
            "submitted": datetime.fromtimestamp(submitted_at, timezone.utc).isoformat(timespec="seconds"),
            "submitted_at": submitted_at,
            "options": options.describe(),
            "tasks": {job_id: {"key": cell.key, "label": cell.label} for job_id, cell in jobs},
        }
        return write_json_atomic(self.folder / f"{jobs[0][0]}.json", entry)

    def tasks(self) -> dict[str, list[str]]:
        """cell key -> the ids of every task submitted for it, oldest first."""
        entries = []
        for path in self.folder.glob("*.json"):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                entries.append((float(entry["submitted_at"]), entry["tasks"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                warnings.warn(f"submission note {path} is unreadable ({exc}); its cells count as not queued", stacklevel=2)
        by_key: dict[str, list[str]] = {}
        for _, tasks in sorted(entries, key=lambda e: e[0]):
            for job_id, task in tasks.items():
                by_key.setdefault(task["key"], []).append(job_id)
        return by_key
