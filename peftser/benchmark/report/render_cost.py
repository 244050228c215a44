"""The leaderboard's cost table in markdown (its numbers come from cost.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peftser.benchmark.markdown import table as markdown_table
from peftser.benchmark.report.cost import CostRow, cost_rows

if TYPE_CHECKING:
    from peftser.benchmark.report.board import Board

NONE = "–"  # no figure: the leaderboard's mark for an empty cell


def _of(text: str, k: int, n: int) -> str:
    """A figure over k of the row's n trainings says so."""
    return text if k == n else f"{text} ({k}/{n})"


def _hours(row: CostRow) -> str:
    if row.device_hours is None:
        return NONE
    hours = f"{row.device_hours:.3f}" if row.device_hours < 10 else f"{row.device_hours:.1f}"
    return _of(hours, row.timed, row.trainings)


def _memory(row: CostRow) -> str:
    return NONE if row.peak_memory_mb is None else _of(f"{row.peak_memory_mb:.0f}", row.measured, row.trainings)


def _throughput(row: CostRow) -> tuple[str, str]:
    if row.train_clips_per_s is None or row.share_of_bound is None:
        return NONE, NONE
    return (_of(f"{row.train_clips_per_s:.1f}", row.metered, row.trainings),
            _of(f"{row.share_of_bound:.1%}", row.metered, row.trainings))


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def _params(row: CostRow) -> str:
    low, high = row.trainable_params
    return _count(low) if low == high else f"{_count(low)} to {_count(high)}"


def _size(row: CostRow) -> str:
    if row.artifact_bytes is None:
        return NONE
    mb = row.artifact_bytes / 2**20
    return _of(f"{mb:.2f} MB" if mb >= 0.1 else f"{row.artifact_bytes / 2**10:.1f} kB", row.sized, row.trainings)


def cost_section(board: "Board", heading: str = "## Cost per backbone and method") -> list[str]:
    """The "Cost" section's lines; none for a board without ok trainings. The attribute board
    (report.attributes), whose runs carry their costs too, gets its own under its own heading."""
    rows = cost_rows(board)
    if not rows:
        return []
    headers = ["backbone", "method", "trainings", "device", "device-hours", "median peak memory (MB)",
               "median training clips/s", "median share of bound", "trainable", "median artifact"]
    table = [[r.upstream, r.variant, str(r.trainings), ", ".join(r.devices) or NONE, _hours(r), _memory(r),
              *_throughput(r), _params(r), _size(r)] for r in rows]
    return [
        heading, "",
        markdown_table(headers, table), "",
        "Device-hours: the trainings' wall times summed (each whole training: reading its corpus,"
        " training, scoring, saving). Peak memory: on a GPU the peak memory the allocator reserved; on"
        " a CPU how far the worker's resident memory rose above its live memory at the training's"
        " start (the kernel's high-water mark, reset per training after the allocator handed back"
        " what earlier trainings freed). Training clips/s: clips trained on per"
        " second of the training passes. Share of bound: the passes' matrix arithmetic (counted on"
        " one step, scaled by the padded input) per second, over the device's matmul throughput"
        " probed by the worker. Trainable: the method's and the head's parameters. Artifact: the"
        " saved weights and config. (k/n): a figure over k of the n trainings, the others' records"
        f" predate it; {NONE}: no training has it.",
        "",
    ]
