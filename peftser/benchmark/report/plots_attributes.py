"""The attribute tasks' PNG plot: mean CCC by backbone and method, one chart per task (as the UAR
charts of the categorical corpora, on the attribute board)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from peftser.benchmark.report.attributes import AttributeBoard, ccc_plot_name
from peftser.benchmark.report.board import mean_std
from peftser.benchmark.report.plots import _colors, _save


def _plot_ccc_by_backbone(board: AttributeBoard, task: str, path: Path) -> bool:
    variants = [v for v in board.variants() if any(board.values((task, v, b), "mean_ccc") for b in board.backbones())]
    backbones = [b for b in board.backbones() if any(board.values((task, v, b), "mean_ccc") for v in variants)]
    if not variants or not backbones:
        return False
    colors = _colors(board.variants())
    fig = Figure(figsize=(max(6.0, 1.5 * len(backbones) + 2.5), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x, width = np.arange(len(backbones)), 0.8 / len(variants)
    for i, variant in enumerate(variants):
        summaries = [mean_std(values) if (values := board.values((task, variant, b), "mean_ccc")) else (np.nan, np.nan)
                     for b in backbones]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, [s[0] for s in summaries], width,
               yerr=[s[1] for s in summaries], capsize=2, label=variant, color=colors[variant])
    ax.axhline(0.0, color="grey", linestyle=":", label="no agreement (CCC 0)")
    ax.set_xticks(x, backbones, rotation=15, ha="right")
    ax.set_ylabel("test mean CCC over the dimensions")
    ax.set_title(f"{task}: mean CCC by backbone and method (mean ± std over trainings)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return True


def ccc_by_backbone_plots(board: AttributeBoard, directory: Path) -> list[str]:
    """One bar chart per attribute task: mean CCC by backbone and method."""
    return [ccc_plot_name(t) for t in board.tasks() if _plot_ccc_by_backbone(board, t, directory / ccc_plot_name(t))]
