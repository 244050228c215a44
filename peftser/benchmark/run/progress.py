"""The local scheduler's progress display: cells done / failed / left with an ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from peftser.benchmark.cell import Cell
from peftser.benchmark.run.slots import Slot


class Progress:
    """Cells done / failed / left with an ETA: a tqdm bar on a terminal, one line per cell otherwise."""

    def __init__(self, total: int, *, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total = total
        self.ok = self.failed = self.elsewhere = 0
        self.started = time.monotonic()
        self._bar = None
        if total and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, file=self.stream, unit="cell", dynamic_ncols=True)

    @property
    def finished(self) -> int:
        return self.ok + self.failed + self.elsewhere

    def eta(self) -> str:
        if not self.finished:
            return "?"
        seconds = (time.monotonic() - self.started) / self.finished * (self.total - self.finished)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def record(self, cell: Cell, record: dict[str, Any], slot: Slot) -> None:
        """Count one record this run produced."""
        failed = record["status"] == "failed"
        self.failed += failed
        self.ok += not failed
        what = f"{cell.label} ({float(record.get('wall_time_s') or 0.0):.1f} s, {slot.describe()})"
        if failed:
            what += ": " + (str(record.get("error") or "").splitlines() or ["(no error message)"])[0]
        self._advance("failed" if failed else "ok", what)

    def recorded_elsewhere(self, cell: Cell) -> None:
        """Count a cell that another orchestrator recorded while this one waited."""
        self.elsewhere += 1
        self._advance("other", f"{cell.label} (recorded by another process)")

    def _advance(self, status: str, what: str) -> None:
        if self._bar is not None:
            if status == "failed":
                self._bar.write(f"failed {what}", file=self.stream)
            self._bar.set_postfix(failed=self.failed, refresh=False)
            self._bar.update(1)
            return
        left = self.total - self.finished
        print(
            f"[{self.finished}/{self.total}] {status:6} {what} | done {self.ok + self.elsewhere} failed {self.failed} "
            f"left {left} | eta {self.eta()}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
