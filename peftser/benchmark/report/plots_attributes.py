"""The attribute tasks' PNG plot: mean CCC by backbone and method, one chart per task (as the UAR
charts of the categorical corpora, on the attribute board)."""

from __future__ import annotations

from pathlib import Path

from peftser.benchmark.report.attributes import AttributeBoard, ccc_plot_name
from peftser.benchmark.report.plots import _colors, bars_by_backbone


def ccc_by_backbone_plots(board: AttributeBoard, directory: Path) -> list[str]:
    """One bar chart per attribute task: mean CCC by backbone and method."""
    colors = _colors(board.variants())
    written = []
    for task in board.tasks():
        values = {v: {b: board.values((task, v, b), "mean_ccc") for b in board.backbones()} for v in board.variants()}
        if bars_by_backbone(directory / ccc_plot_name(task), values, colors, (0.0, "no agreement (CCC 0)"),
                            "test mean CCC over the dimensions",
                            f"{task}: mean CCC by backbone and method (mean ± std over trainings)"):
            written.append(ccc_plot_name(task))
    return written
