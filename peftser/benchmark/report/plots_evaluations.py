"""Plots of the evaluations beyond the paper: a cross-corpus heatmap and score-against-SNR curves per
backbone (UAR for the categorical cells, mean CCC for the attribute cells: the Evaluations say which)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from peftser.benchmark.report.board import Board
from peftser.benchmark.report.evaluations import CLEAN, Evaluations
from peftser.benchmark.report.plots import MARKERS, _colors, _save


def _heatmap(evaluations: Evaluations, board: Board, backbone: str, path: Path) -> bool:
    variants, corpora = evaluations.variants(board), evaluations.corpora()
    if not any(k[0] == backbone for k in evaluations.transfer):
        return False
    fig = Figure(figsize=(3.2 * len(variants) + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(1, len(variants), squeeze=False)[0]
    image, (low, high) = None, evaluations.plot_range
    for ax, variant in zip(axes, variants):
        grid = np.array([[np.mean(v) if (v := evaluations.transfer_cell(backbone, variant, a, b, board)) else np.nan
                          for b in corpora] for a in corpora])
        image = ax.imshow(grid, vmin=low, vmax=high, cmap="viridis")
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(j, i, evaluations.heat_format.format(value), ha="center", va="center",
                        color="white" if value < low + 0.6 * (high - low) else "black", fontsize=8)
        short = [c.replace("synthetic_", "s_") for c in corpora]
        ax.set_xticks(range(len(corpora)), short, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(corpora)), short, fontsize=7)
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("tested on", fontsize=8)
    axes[0].set_ylabel("trained on", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label=evaluations.plot_label)
    fig.suptitle(f"{backbone}: cross-corpus {evaluations.metric.title} (mean over trainings; diagonal in-corpus)")
    _save(fig, path)
    return True


def _curves(evaluations: Evaluations, board: Board, backbone: str, path: Path) -> bool:
    conditions = evaluations.conditions()
    kinds = list(dict.fromkeys(k for k, _ in conditions))
    variants = evaluations.variants(board)
    if not kinds or not any(k[0] == backbone for k in evaluations.noise):
        return False
    colors = _colors(variants)
    chance, legend = evaluations.chance({k[2] for k in evaluations.noise if k[0] == backbone})
    fig = Figure(figsize=(5.0 * len(kinds) + 1.5, 4.0), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False, sharey=True)[0]
    for ax, kind in zip(axes, kinds):
        snrs = sorted({s for k, s in conditions if k == kind}, reverse=True)
        x = np.arange(len(snrs) + 1)  # clean first, then SNRs from high to low
        for i, variant in enumerate(variants):
            points = [evaluations.noise_summary(backbone, variant, CLEAN, None)]
            points += [evaluations.noise_summary(backbone, variant, kind, s) for s in snrs]
            ax.plot(x, [np.nan if p is None else p[0] for p in points], marker=MARKERS[i % len(MARKERS)],
                    color=colors[variant], label=variant)
        ax.axhline(chance, color="grey", linestyle=":", label=legend)
        ax.set_xticks(x, [CLEAN] + [f"{s:g} dB" for s in snrs])
        ax.set_title(f"{kind} noise")
        ax.set_xlabel("SNR")
    axes[0].set_ylabel(f"{evaluations.plot_label}, mean over corpora")
    axes[-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{backbone}: {evaluations.metric.title} against SNR")
    _save(fig, path)
    return True


def write_evaluation_plots(evaluations: Evaluations | None, board: Board, directory: Path) -> list[str]:
    """The heatmaps and curves the evaluations allow, into ``directory``; the file names written."""
    if not evaluations:
        return []
    written = []
    for backbone in evaluations.backbones():
        prefix = evaluations.plot_prefix
        for name, draw in ((f"{prefix}cross_corpus_{backbone}.png", _heatmap), (f"{prefix}noise_{backbone}.png", _curves)):
            if draw(evaluations, board, backbone, directory / name):
                written.append(name)
    return written
