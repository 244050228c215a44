"""The leaderboard's PNG plots, drawn from a board."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from peftser.benchmark.report import stats
from peftser.files import atomic_write
from peftser.benchmark.report.board import (
    FAMILY_TITLES,
    Board,
    families,
    mean_std,
    method_sort_key,
    overall,
)
from peftser.benchmark.report.label_sets import chance_line
from peftser.benchmark.report.paired import DEFAULT_BASELINE, PairedStats, Table

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")


def _colors(names: Sequence[str]) -> dict[str, tuple]:
    palette = colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _save(fig: Figure, path: Path) -> None:
    # Atomic, like every file the harness writes: a reader never sees half a PNG.
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=120, format="png"))


def bars_by_backbone(path: Path, values: dict[str, dict[str, list[float]]], colors: dict[str, tuple],
                     reference: tuple[float, str], ylabel: str, title: str) -> bool:
    """Grouped bars, a group per backbone and a bar per variant: mean ± std of ``values[variant][backbone]``
    (the per-training scores, every variant's backbones in one order), with a dotted line at
    ``reference`` (its value and its legend)."""
    variants = [v for v, by_backbone in values.items() if any(by_backbone.values())]
    order = list(next(iter(values.values()), {}))
    backbones = [b for b in order if any(values[v].get(b) for v in variants)]
    if not variants or not backbones:
        return False
    fig = Figure(figsize=(max(6.0, 1.5 * len(backbones) + 2.5), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x, width = np.arange(len(backbones)), 0.8 / len(variants)
    for i, variant in enumerate(variants):
        summaries = [mean_std(scores) if (scores := values[variant].get(b)) else (np.nan, np.nan) for b in backbones]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, [m for m, _ in summaries], width,
               yerr=[sd for _, sd in summaries], capsize=2, label=variant, color=colors[variant])
    ax.axhline(reference[0], color="grey", linestyle=":", label=reference[1])
    ax.set_xticks(x, backbones, rotation=15, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return True


def _plot_uar_by_backbone(board: Board, task: str, path: Path) -> bool:
    variants = [v for v in board.main_variants() if any(g[0] == task and g[1] == v for g in board.runs)]
    values = {v: {b: [r.uar for r in board.runs.get((task, v, b), [])] for b in board.backbones(variants)} for v in variants}
    return bars_by_backbone(path, values, _colors(board.main_variants()), chance_line([task]),
                            "test UAR (%)", f"{task}: UAR by backbone and method (mean ± std over trainings)")


def _plot_uar_vs_params(board: Board, path: Path) -> bool:
    by_family = families(board.tasks())
    variants = board.main_variants() + [v for vs in board.ablation_variants().values() for v in vs]
    methods = sorted({board.method_of.get(v, v) for v in variants}, key=method_sort_key)
    colors, backbones = _colors(methods), board.backbones()
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(backbones)}
    fig = Figure(figsize=(6.0 * len(by_family) + 3.0, 5), layout="constrained")
    axes = fig.subplots(1, len(by_family), squeeze=False)[0]
    plotted = False
    count_format = EngFormatter(sep="")  # 2.37M, 210k: readable even when the axis spans under a decade
    for ax, (family, corpora) in zip(axes, by_family.items()):
        for variant in variants:
            for backbone in backbones:
                summary = overall(board, variant, backbone, corpora)
                runs = [r for t in corpora for r in board.runs.get((t, variant, backbone), [])]
                if not runs:
                    continue
                color = colors[board.method_of.get(variant, variant)]
                full = summary.complete and not summary.partial
                ax.scatter(np.mean([r.method_params + r.head_params for r in runs]),
                           np.mean(list(summary.corpus_means.values())), marker=markers[backbone], s=50,
                           facecolors=color if full else "none", edgecolors=color)
                plotted = True
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(count_format)
        ax.xaxis.set_minor_formatter(count_format)
        ax.tick_params(axis="x", which="both", labelrotation=45)
        ax.set_xlabel("trainable parameters (method + downstream model, log scale)")
        ax.set_ylabel("UAR (%), mean of corpus means")
        ax.set_title(FAMILY_TITLES[family])
    fig.suptitle("UAR against trainable parameters (one point per method configuration and backbone)")
    handles = [Line2D([], [], linestyle="", marker="o", color=colors[m], label=m) for m in methods]
    handles += [Line2D([], [], linestyle="", marker=markers[b], color="black", label=b) for b in backbones]
    handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="none", color="grey",
                          label="hollow: some corpus or training missing"))
    axes[-1].legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if plotted:
        _save(fig, path)
    return plotted


def _plot_fairness_vs_uar(board: Board, path: Path) -> bool:
    variants = board.main_variants()
    colors, backbones = _colors(variants), board.backbones(variants)
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(backbones)}
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    plotted = False
    metrics = {"demographic_parity": "demographic parity", "equality_of_odds": "equality of odds"}
    for ax, (metric, title) in zip(axes, metrics.items()):
        for group in board.runs:
            means, (_, variant, backbone) = board.fairness(group), group
            if variant not in colors or means is None:
                continue
            ax.scatter(means.uar, getattr(means, metric), color=colors[variant], marker=markers[backbone], s=40, alpha=0.8)
            plotted = True
        ax.set_xlabel("test UAR (%)")
        ax.set_ylabel(f"{title} (%), lower is fairer")
        ax.set_title(title.capitalize())
    handles = [Line2D([], [], linestyle="", marker="o", color=colors[v], label=v) for v in variants]
    handles += [Line2D([], [], linestyle="", marker=markers[b], color="black", label=b) for b in backbones]
    axes[1].legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Gender fairness against UAR: one point per corpus, method and backbone (mean over trainings)")
    if plotted:
        _save(fig, path)
    return plotted


def _plot_ablation(board: Board, method: str, variants: Sequence[str], path: Path) -> bool:
    tasks = [t for t in board.tasks() if any(board.runs.get((t, v, b)) for v in variants for b in board.backbones())]
    if not tasks:
        return False
    backbones = board.backbones(variants)
    colors = _colors(backbones)
    ncols = min(len(tasks), 2)
    nrows = -(-len(tasks) // ncols)
    fig = Figure(figsize=(5.5 * ncols + 1.5, 4.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    x = np.arange(len(variants))
    for ax, task in zip(axes, tasks):
        for backbone in backbones:
            stats = [mean_std([r.uar for r in board.runs[(task, v, backbone)]]) if board.runs.get((task, v, backbone))
                     else (np.nan, np.nan) for v in variants]
            ax.errorbar(x, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", capsize=3,
                        color=colors[backbone], label=backbone)
        ax.set_xticks(x, variants, rotation=15, ha="right")
        ax.set_xlabel(f"{method} configuration")
        ax.set_ylabel("test UAR (%)")
        ax.set_title(task)
    axes[ncols - 1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Ablation of {method}: UAR by configuration (mean ± std over trainings)")
    _save(fig, path)
    return True


def _plot_forest(tables: Sequence[Table], baseline: str, path: Path) -> bool:
    """Per backbone (rows) and corpus family (columns): each method's paired UAR difference and its CI."""
    drawn = [c for t in tables for c in t.comparisons if c.result is not None]
    if not drawn:
        return False
    backbones = list(dict.fromkeys(c.row[0] for c in drawn))  # a backbone without any pair has no panel
    methods = list(dict.fromkeys(row[1] for t in tables for row in t.rows()))
    colors = _colors(methods)
    fig = Figure(figsize=(5.5 * len(tables) + 2.0, (0.35 * len(methods) + 0.9) * len(backbones) + 0.8),
                 layout="constrained")
    axes = fig.subplots(len(backbones), len(tables), squeeze=False, sharex="col")
    for column, table in enumerate(tables):
        for line, backbone in enumerate(backbones):
            ax = axes[line][column]
            ax.axvline(0.0, color="grey", linestyle=":")
            for y, method in enumerate(methods):
                c = table.get((backbone, method), table.metrics[0], table.scopes[0])
                if c is None or c.result is None:
                    continue
                r, color = c.result, colors[method]
                ax.errorbar(r.effect, y, xerr=[[r.effect - r.ci[0]], [r.ci[1] - r.effect]], fmt="o", capsize=3,
                            color=color, markerfacecolor=color if c.direction else "white")
            ax.set_yticks(range(len(methods)), methods)
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.set_title(backbone if len(tables) == 1 else f"{table.scopes[0]}: {backbone}", fontsize="medium")
        axes[-1][column].set_xlabel(f"UAR(method) − UAR({baseline}), points (corpus-balanced, 95 % CI)")
    fig.suptitle(f"Paired UAR difference to {baseline} per backbone; filled: Holm-adjusted p < {stats.ALPHA}")
    _save(fig, path)
    return True


def uar_by_backbone_plots(board: Board, directory: Path) -> list[str]:
    """One bar chart per corpus: UAR by backbone and method."""
    names = [f"uar_by_backbone_{task}.png" for task in board.tasks()]
    return [n for task, n in zip(board.tasks(), names) if _plot_uar_by_backbone(board, task, directory / n)]


def uar_vs_params_plot(board: Board, directory: Path) -> list[str]:
    name = "uar_vs_params.png"
    return [name] if board.runs and _plot_uar_vs_params(board, directory / name) else []


def fairness_vs_uar_plot(board: Board, directory: Path) -> list[str]:
    name = "fairness_vs_uar.png"
    return [name] if board.runs and _plot_fairness_vs_uar(board, directory / name) else []


def forest_plot(paired: PairedStats | None, baseline: str, directory: Path) -> list[str]:
    name = "forest_uar.png"
    return [name] if paired is not None and _plot_forest(paired.uar, baseline, directory / name) else []


def ablation_plots(board: Board, directory: Path) -> list[str]:
    names = []
    for method, variants in board.ablation_variants().items():
        name = f"ablation_{method}.png"
        if _plot_ablation(board, method, variants, directory / name):
            names.append(name)
    return names


def write_plots(board: Board, directory: Path, paired: PairedStats | None = None,
                baseline: str = DEFAULT_BASELINE) -> list[str]:
    """Draw every plot the records (and the paired comparisons) allow into directory; the file names written."""
    return (uar_by_backbone_plots(board, directory) + uar_vs_params_plot(board, directory)
            + fairness_vs_uar_plot(board, directory) + forest_plot(paired, baseline, directory)
            + ablation_plots(board, directory))
