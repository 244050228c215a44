"""What the trainings cost, per backbone and method (variant): the leaderboard's cost table.

From the run records alone, like every table: device-hours are the records' wall times summed,
peak memory, throughput and share of the bound are the medians of their ``cost`` (records written
before it was measured have none, and count as "no figure"), the trainable parameters and the
artifact's bytes on disk are what the training wrote (``artifact.bytes``: the weights and their
config as the artifact folder holds them; the model card beside them is not counted).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunCost:
    """One training's cost figures, None where its record has none."""

    wall_time_s: float | None
    device: str | None
    trainable_params: int
    artifact_bytes: int | None
    peak_memory_mb: float | None
    train_clips_per_s: float | None
    share_of_bound: float | None


def run_cost(record: dict[str, Any]) -> RunCost:
    """The cost figures of an ok record (already checked against the record contract)."""
    cost = record.get("cost") or {}
    artifact = record.get("artifact")
    size = artifact.get("bytes") if isinstance(artifact, dict) else None
    wall = record.get("wall_time_s")
    return RunCost(
        wall_time_s=float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None,
        device=str(record["device"]).split(":")[0] if record.get("device") else None,
        trainable_params=int(record["method_params"]) + int(record["head_params"]),
        artifact_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
        peak_memory_mb=cost.get("peak_memory_mb"),
        train_clips_per_s=cost.get("train_clips_per_s"),
        share_of_bound=cost.get("share_of_bound"),
    )


@dataclass(frozen=True)
class CostRow:
    """One backbone x variant: its trainings' summed device-hours and median figures, each with how
    many trainings had it (figures are None when none had)."""

    upstream: str
    variant: str
    method: str
    trainings: int
    devices: tuple[str, ...]
    device_hours: float | None
    timed: int
    peak_memory_mb: float | None
    measured: int  # trainings with a peak memory figure
    train_clips_per_s: float | None
    share_of_bound: float | None
    metered: int  # trainings with a throughput and share figure
    trainable_params: tuple[int, int]  # the smallest and largest
    artifact_bytes: float | None
    sized: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream, "variant": self.variant, "method": self.method,
            "trainings": self.trainings, "devices": list(self.devices),
            "device_hours": self.device_hours, "device_hours_trainings": self.timed,
            "median_peak_memory_mb": self.peak_memory_mb, "peak_memory_trainings": self.measured,
            "median_train_clips_per_s": self.train_clips_per_s, "median_share_of_bound": self.share_of_bound,
            "throughput_trainings": self.metered,
            "trainable_params": {"min": self.trainable_params[0], "max": self.trainable_params[1]},
            "median_artifact_bytes": self.artifact_bytes, "artifact_trainings": self.sized,
        }


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def cost_row(upstream: str, variant: str, method: str, costs: list[RunCost]) -> CostRow:
    """The row of one backbone x variant from its trainings' costs (at least one)."""
    if not costs:
        raise ValueError(f"{upstream}/{variant}: a cost row needs at least one training")
    walls = [c.wall_time_s for c in costs if c.wall_time_s is not None]
    peaks = [c.peak_memory_mb for c in costs if c.peak_memory_mb is not None]
    metered = [c for c in costs if c.train_clips_per_s is not None and c.share_of_bound is not None]
    sizes = [c.artifact_bytes for c in costs if c.artifact_bytes is not None]
    params = [c.trainable_params for c in costs]
    return CostRow(
        upstream=upstream, variant=variant, method=method, trainings=len(costs),
        devices=tuple(sorted({c.device for c in costs if c.device})),
        device_hours=sum(walls) / 3600 if walls else None, timed=len(walls),
        peak_memory_mb=_median(peaks), measured=len(peaks),
        train_clips_per_s=_median([c.train_clips_per_s for c in metered]),
        share_of_bound=_median([c.share_of_bound for c in metered]), metered=len(metered),
        trainable_params=(min(params), max(params)),
        artifact_bytes=_median(sizes), sized=len(sizes),
    )


def cost_rows(board: Any) -> list[CostRow]:  # a report.board.Board, which builds on this module
    """A row per backbone and variant with ok trainings, backbones in the paper's order, then the
    variants in their methods' order. A training that counts under several variants (one
    configuration that two grids name differently) counts in each of their rows."""
    by_pair: dict[tuple[str, str], list[RunCost]] = {}
    for (_, variant, upstream), runs in board.runs.items():
        by_pair.setdefault((upstream, variant), []).extend(r.cost for r in runs if r.cost is not None)
    order = {name: i for i, name in enumerate(board.backbones())}
    pairs = sorted(by_pair, key=lambda p: (order.get(p[0], len(order)), board.variant_key(p[1])))
    return [cost_row(u, v, board.method_of.get(v, v), by_pair[(u, v)]) for u, v in pairs if by_pair[(u, v)]]
