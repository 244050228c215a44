"""The leaderboard's sections beyond the paper: cross-corpus transfer and noise robustness."""

from __future__ import annotations

from collections.abc import Collection

from peftser.benchmark.markdown import table as markdown_table
from peftser.benchmark.report.board import Board, mean_std
from peftser.benchmark.report.evaluations import ARROW, CLEAN, Evaluations, condition_title, noise_table, transfer_table
from peftser.benchmark.report.render_paired import method_text, overall_table, per_corpus_table, tests

BEYOND = "Beyond the paper, which reports in-corpus UAR only"


_table = markdown_table


def _mean_std(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _image(plots: Collection[str], name: str, caption: str) -> list[str]:
    return [f"![{caption}]({name})", ""] if name in plots else []


def _matrices(evaluations: Evaluations, board: Board, plots: Collection[str]) -> list[str]:
    corpora, digits = evaluations.corpora(), evaluations.digits
    lines = []
    for backbone in evaluations.backbones():
        lines += [f"### {backbone}", ""]
        for variant in evaluations.variants(board):
            rows = [[f"**{train}**"] + [_mean_std(evaluations.transfer_cell(backbone, variant, train, test, board), digits)
                                         + (" (in-corpus)" if train == test else "") for test in corpora]
                    for train in corpora]
            lines += [f"{variant}, trained on (rows) and tested on (columns):", "", _table(["train \\ test"] + corpora, rows), ""]
        lines += _image(plots, f"{evaluations.plot_prefix}cross_corpus_{backbone}.png",
                        f"Cross-corpus {evaluations.metric.title} of {backbone}")
    return lines


def _mean_transfer(evaluations: Evaluations, board: Board) -> list[str]:
    backbones, digits = evaluations.backbones(), evaluations.digits
    rows = []
    for variant in evaluations.variants(board):
        cells = []
        for backbone in backbones:
            summary = evaluations.mean_transfer(backbone, variant)
            cells.append("–" if summary is None else f"{summary[0]:.{digits}f} ± {summary[1]:.{digits}f}")
        rows.append([variant] + cells)
    return [f"### {evaluations.transfer_title}", "",
            "Mean ± std over the off-diagonal train → test pairs of each pair's mean over trainings.", "",
            _table(["method"] + backbones, rows), ""]


def shared_labels(evaluations: Evaluations) -> list[str]:
    """The pairs whose label sets differ, with the classes or dimensions both name, one line each."""
    return [f"- {train}{ARROW}{test}: {', '.join(classes)}" for (train, test), classes in sorted(evaluations.shared.items())]


def transfer_tables(evaluations: Evaluations, board: Board, plots: Collection[str], baseline: str) -> list[str]:
    """The matrices, the mean transfer score and its paired comparison with the baseline."""
    lines = _matrices(evaluations, board, plots) + _mean_transfer(evaluations, board)
    table = transfer_table(evaluations, board, baseline)
    if table is not None and tests(table):
        lines += [f"### {table.title}", "", overall_table(table), "",
                  method_text(table, baseline).replace("(corpus and fold or seed)", "(train → test corpus pair and training)")
                  .replace("over corpora of each corpus'", "over corpus pairs of each pair's"), ""]
    return lines


def cross_corpus_section(evaluations: Evaluations, board: Board, plots: Collection[str], baseline: str) -> list[str]:
    """Markdown of the cross-corpus matrices, the mean transfer UAR and its paired comparison."""
    if not evaluations.transfer:
        return []
    lines = [
        "## Cross-corpus transfer (beyond the paper)", "",
        f"_{BEYOND}._ Each trained cell is scored on each other corpus' transfer set: the utterances that "
        "corpus' own trainings are tested on (every utterance once for a fold corpus, the official test set "
        "for MSP-Podcast; a grid may fix a subset, named in its footnotes). A model trained on one corpus has "
        "heard no speaker of another, and every method hears the same clips. Each cell: test UAR, mean ± std "
        "over the trainings of the row's corpus; the diagonal is the in-corpus test UAR of the tables above.", "",
    ]
    if evaluations.shared:  # pairs whose label sets differ are scored on the classes both name
        lines += ["Pairs whose label sets differ are scored on the classes both name, on the test utterances "
                  "labelled with one of them, the model's other outputs ignored:", ""]
        lines += shared_labels(evaluations) + [""]
    return lines + transfer_tables(evaluations, board, plots, baseline)


def noise_section(evaluations: Evaluations, board: Board, plots: Collection[str], baseline: str) -> list[str]:
    """Markdown of UAR per noise and SNR, the drop from clean, and the paired comparison at each SNR."""
    conditions = evaluations.conditions()
    if not conditions:
        return []
    lines = [
        "## Noise robustness (beyond the paper)", "",
        f"_{BEYOND}._ Each trained cell's test split (or the grid's fixed subset of it) is scored again with "
        "additive noise at each SNR: white Gaussian noise, and speech-shaped noise (pink noise under a random "
        "2-8 Hz syllable-rate envelope). The noise is a fixed function of the utterance, the noise type and the "
        "SNR, so every method and backbone hears the same noisy clips. Clean is the cell's own test "
        "predictions on the same utterances. Each cell: UAR, the mean over corpora of each corpus' mean over "
        "trainings, and in brackets its change from clean in points.", "",
    ]
    return lines + noise_tables(evaluations, board, plots, baseline)


def noise_tables(evaluations: Evaluations, board: Board, plots: Collection[str], baseline: str) -> list[str]:
    """Per backbone the score at each noise and SNR with its change from clean, then the paired comparisons."""
    conditions, digits, metric = evaluations.conditions(), evaluations.digits, evaluations.metric
    headers = ["method", CLEAN] + [condition_title(*c) for c in conditions]
    lines = []
    for backbone in evaluations.backbones():
        rows = []
        for variant in evaluations.variants(board):
            clean = evaluations.noise_summary(backbone, variant, CLEAN, None)
            cells = [variant, "–" if clean is None else f"{clean[0]:.{digits}f}"]
            for noise, snr in conditions:
                summary = evaluations.noise_summary(backbone, variant, noise, snr)
                drop = evaluations.noise_drop(backbone, variant, noise, snr)
                cells.append("–" if summary is None
                             else f"{summary[0]:.{digits}f}" + ("" if drop is None else f" ({drop:+.{digits}f})"))
            rows.append(cells)
        lines += [f"### {backbone}", "", _table(headers, rows), ""]
        lines += _image(plots, f"{evaluations.plot_prefix}noise_{backbone}.png", f"{metric.title} against SNR on {backbone}")
    table = noise_table(evaluations, board, baseline)
    if table is not None and tests(table):
        lines += [f"### {table.title}", "", per_corpus_table(table, metric), "",
                  f"Each cell: Δ {metric.title} = method − {baseline} at that noise and SNR, in {evaluations.metric.unit}, "
                  f"with its 95 % CI (stratified by corpus) and p Holm-adjusted across the {tests(table)} tests of this table.",
                  ""]
    return lines


def evaluation_problems(evaluations: Evaluations, title: str = "Evaluations not in the tables") -> list[str]:
    """Failed and unreadable evaluation records, and how many of the planned ones are recorded."""
    lines = []
    if evaluations.planned is not None and evaluations.recorded < evaluations.planned:
        lines += [f"- Evaluations: {evaluations.recorded} of the {evaluations.planned} planned are recorded."]
    for record in evaluations.failed:
        error = (str(record.get("error") or "").splitlines() or [""])[0]
        lines += [f"- Evaluation failed: {record['label']}: {error}"]
    lines += [f"- Evaluation record {source}: {why}" for source, why in evaluations.unreadable]
    lines += [f"- {n} evaluation record(s) left out of the tables, kept in evaluations/: {why}."
              for why, n in evaluations.left_out.items()]
    return [f"## {title}", "", *lines, ""] if lines else []
