"""The leaderboard's markdown tables, rendered from a board (each a section's markdown: see sections.py).

Tables follow the paper: UAR per corpus (methods x backbones), the overall Table V analogue,
gender fairness (Table VI), trainable parameters (Table IV) and the Section VI ablations, with
the paired comparisons against the baseline after Tables V and VI (their markdown is in
render_paired). A table never averages over missing trainings without saying so: cells show
``(k/n)`` when only k of n trainings have a result, and missing, failed and unreadable records are listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

import numpy as np

from peftser.benchmark.markdown import escape, table as markdown_table
from peftser.benchmark.report import stats
from peftser.benchmark.report.board import (
    FAMILY_TITLES,
    STD_DDOF,
    Board,
    Group,
    backbone_sort_key,
    corpus_sort_key,
    families,
    mean_std,
    overall,
    pretraining_overlap,
)
from peftser.benchmark.report.paired import FAIRNESS, UAR, PairedStats, Table
from peftser.benchmark.report.render_paired import HIGHER, LOWER, marker, section, tests


# -- cells ---------------------------------------------------------------------------------------
def _count(n: int, full: int) -> str:
    return "" if n == full else f" ({n}/{full})"


def _uar_cell(board: Board, group: Group) -> str:
    runs = board.runs.get(group, [])
    full = len(board.full_trainings(group))
    if not runs:
        return "–" + (f" (0/{full})" if full else "")
    mean, std = mean_std([r.uar for r in runs])
    return f"{mean:.2f} ± {std:.2f}{_count(len(runs), full)}"


def _fairness_cell(board: Board, group: Group, marks: Sequence[str] = ("", "")) -> str:
    means, full = board.fairness(group), len(board.full_trainings(group))
    if means is None:
        return "–" + (f" (0/{full})" if full else "")
    return (f"{means.demographic_parity:.2f}{marks[0]} / {means.equality_of_odds:.2f}{marks[1]}"
            f" / {_optional_pct(means.reference_demographic_parity)}{_count(means.trainings, full)}")


def _optional_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _fairness_overall_cell(board: Board, variant: str, upstream: str, corpora: Sequence[str],
                           marks: Sequence[str]) -> str:
    """Mean over the corpora of the corpus means, like the Table V statistic; only when every corpus has one."""
    means = [m for m in (board.fairness((t, variant, upstream)) for t in corpora) if m is not None]
    if len(means) < len(corpora):
        return f"incomplete ({len(means)}/{len(corpora)} corpora)"
    dp, eo = np.mean([m.demographic_parity for m in means]), np.mean([m.equality_of_odds for m in means])
    references = [m.reference_demographic_parity for m in means]
    reference = None if None in references else float(np.mean(references))
    return f"{dp:.2f}{marks[0]} / {eo:.2f}{marks[1]} / {_optional_pct(reference)}"


def _format_params(values: Collection[int]) -> str:
    def one(n: int) -> str:
        if n >= 1e6:
            return f"{n / 1e6:.2f} M"
        if n >= 1e3:
            return f"{n / 1e3:.1f} k"
        return str(n)

    if not values:
        return "–"
    low, high = min(values), max(values)
    return one(low) if low == high else f"{one(low)} to {one(high)}"


# -- markdown ------------------------------------------------------------------------------------
_table = markdown_table  # every cell escaped: grid names, variants and deviation texts cannot break a table


def _image(plots: Collection[str], name: str, caption: str) -> list[str]:
    return [f"![{caption}]({name})", ""] if name in plots else []


def overall_section(board: Board, paired: PairedStats | None, baseline: str) -> list[str]:
    variants, lines = board.main_variants(), ["## Overall UAR (Table V analogue)", ""]
    for family, corpora in families(board.main_tasks()).items():
        backbones = board.backbones(variants)
        versus = _table_of(paired.uar if paired else [], FAMILY_TITLES[family])
        rows = []
        for v in variants:
            cells = [overall(board, v, b, corpora).cell() for b in backbones]
            if versus is not None:
                cells = [cell + marker(versus.get((b, v), UAR, versus.scopes[0])) for cell, b in zip(cells, backbones)]
            rows.append([v] + cells)
        lines += [f"### {FAMILY_TITLES[family]}", "", _table(["method"] + backbones, rows), ""]
        lines.append(
            f"Each cell: the mean over the {len(corpora)} corpora ({', '.join(corpora)}) of the corpus' mean test"
            f" UAR over its trainings, ± the population standard deviation (ddof={STD_DDOF}) of those"
            f" {len(corpora)} corpus means (the paper's Table V statistic). It is computed only when every"
            " corpus has results; otherwise the cell says how many corpora do."
        )
        if any(overall(board, v, b, corpora).partial for v in variants for b in backbones):
            lines.append("† some corpus mean in this cell is over fewer trainings than expected"
                         " (see the per-corpus tables).")
        if versus is not None:
            lines.append(
                f"{HIGHER} / {LOWER}: UAR higher / lower than the baseline ({baseline}) on the same backbone with a"
                f" Holm-adjusted p < {stats.ALPHA}. Tested: the null hypothesis that on every training (fold or"
                " seed) the method's and the baseline's UAR are exchangeable, by a two-sided exact sign-flip"
                " permutation test of the corpus-balanced mean paired difference, Holm-corrected across the"
                f" {tests(versus)} comparisons of this table (see \"Method vs baseline (paired)\")."
                + ("" if any(c.direction for c in versus.comparisons) else " No cell of this table reaches it.")
            )
        lines.append("")
    return lines


def _table_of(tables: Sequence[Table], scope: str) -> Table | None:
    return next((t for t in tables if scope in t.scopes), None)


def _versus_section(title: str, tables: Sequence[Table], per_corpus: Table | None, baseline: str,
                    missing: str | None, image: list[str]) -> list[str]:
    lines = [f"## {title}", ""]
    if missing:
        return lines + [missing, ""]
    return lines + section(tables, per_corpus, baseline, image)


def paired_uar_section(paired: PairedStats | None, baseline: str, missing: str | None,
                        plots: Collection[str]) -> list[str]:
    return _versus_section("Method vs baseline (paired)", paired.uar if paired else [],
                           paired.uar_per_corpus if paired else None, baseline, missing,
                           _image(plots, "forest_uar.png", f"UAR difference to {baseline} with 95 % CI, per backbone"))


def paired_fairness_section(paired: PairedStats | None, baseline: str, missing: str | None) -> list[str]:
    return _versus_section("Fairness vs baseline (paired)", paired.fairness if paired else [],
                           paired.fairness_per_corpus if paired else None, baseline, missing, [])


def per_corpus_section(board: Board, plots: Collection[str]) -> list[str]:
    variants = board.main_variants()
    backbones = board.backbones(variants)
    lines = ["## UAR per corpus", ""]
    for task in board.main_tasks():
        rows = [[v] + [_uar_cell(board, (task, v, b)) for b in backbones] for v in variants]
        lines += [f"### {task}", "", _table(["method"] + backbones, rows), ""]
        lines += overlap_lines(board, task)
        lines += _image(plots, f"uar_by_backbone_{task}.png", f"UAR on {task} by backbone and method")
    lines += [
        f"Test UAR (%) at the epoch with the best dev UAR: mean ± population standard deviation"
        f" (numpy's default, ddof={STD_DDOF}) over the corpus' trainings, which are the protocol's fixed"
        " set of folds or seeds rather than a sample of them. (k/n): only k of the n expected trainings"
        " have a result; –: no result.",
        "",
    ]
    return lines


def overlap_lines(board: Board, task: str) -> list[str]:
    """The contamination note of a corpus' table: backbones whose pre-training data includes it."""
    overlap = pretraining_overlap(board, task)
    if not overlap:
        return []
    named = "; ".join(f"`{upstream}` ({', '.join(corpora)})" for upstream, corpora in overlap.items())
    return [f"Pre-training overlap: {named} saw this corpus in pre-training (its registry entry says so), so its"
            " scores here are not on unseen speech.", ""]


def fairness_section(board: Board, plots: Collection[str], paired: PairedStats | None, baseline: str) -> list[str]:
    variants, tasks = board.main_variants(), board.main_tasks()
    per_corpus = paired.fairness_per_corpus if paired else None
    by_family = families(tasks)
    overall_columns = {family: "mean over corpora" if len(by_family) == 1 else f"mean, {family} corpora"
                       for family in by_family}

    def marks(versus: Table | None, row: tuple[str, str], scope: str) -> list[str]:
        return [marker(versus.get(row, m, scope)) if versus else "" for m in FAIRNESS]

    lines = ["## Fairness by gender (Table VI analogue)", ""]
    for backbone in board.backbones(variants):
        rows = []
        for v in variants:
            row = [v] + [_fairness_cell(board, (t, v, backbone), marks(per_corpus, (backbone, v), t)) for t in tasks]
            for family, corpora in by_family.items():
                versus = _table_of(paired.fairness if paired else [], FAMILY_TITLES[family])
                row.append(_fairness_overall_cell(board, v, backbone, corpora,
                                                  marks(versus, (backbone, v), FAMILY_TITLES[family])))
            rows.append(row)
        lines += [f"### {backbone}", "", _table(["method"] + tasks + list(overall_columns.values()), rows), ""]
    lines.append(
        "Each cell: demographic parity / equality of odds / the reference's demographic parity (%, lower"
        " is fairer) on the test set, mean over the trainings where both genders are present; (k/n) as"
        " above. Demographic parity is holisticai's multiclass statistical parity, 1/2 sum_c"
        " |P(pred=c | f) - P(pred=c | m)|; the reference's demographic parity is its evaluation code's own"
        " function, max_c |P(pred=c and true=c | f) - P(pred=c and true=c | m)| (\"–\" for records"
        " written before it was computed); which of the two the paper's Table VI reports is not known."
        " Mean over corpora: the mean of the corpus means, computed only when every corpus has one."
    )
    if paired is not None:
        n_overall = sum(tests(t) for t in paired.fairness)
        significant = any(c.direction for t in paired.tables() if t.metrics == FAIRNESS for c in t.comparisons)
        lines.append(
            f"{LOWER} / {HIGHER} after a value: lower (fairer) / higher than the baseline ({baseline}) on the same"
            f" backbone with a Holm-adjusted p < {stats.ALPHA} (two-sided exact sign-flip test of the paired"
            " differences over the trainings; Holm across the"
            f" {n_overall} tests of the mean-over-corpora column{'s' if len(by_family) > 1 else ''}, and"
            f" separately across the {tests(per_corpus) if per_corpus else 0} per-corpus tests, which with 3 to 6"
            " trainings per corpus can rarely reach it; see \"Fairness vs baseline (paired)\")."
            + ("" if significant else " No value of these tables reaches it.")
        )
    lines.append("")
    return lines + _image(plots, "fairness_vs_uar.png", "Fairness against UAR")


def params_section(board: Board, plots: Collection[str]) -> list[str]:
    variants = board.main_variants()
    peft = [v for v in variants if board.method_of.get(v, v) != "downstream"]
    rows = []
    for backbone in board.backbones(variants):
        runs = [r for (t, v, b), rs in board.runs.items() if b == backbone for r in rs]
        encoder = {r.upstream_params for r in runs if r.upstream_params is not None}
        row = [backbone, _format_params(encoder), _format_params({r.head_params for r in runs})]
        row += [_format_params({r.method_params for r in runs if r.variant == v}) for v in peft]
        rows.append(row)
    lines = ["## Trainable parameters (Table IV analogue)", ""]
    lines += [_table(["backbone", "encoder (frozen)", "downstream model"] + peft, rows), ""]
    lines += [
        "Method columns count the method's own parameters (method_params); the downstream model"
        " (head_params) trains with every method and adds to them, as in the paper's Table IV.",
        "",
    ]
    return lines + _image(plots, "uar_vs_params.png", "UAR against trainable parameters")


def ablation_section(board: Board, plots: Collection[str]) -> list[str]:
    ablations = board.ablation_variants()
    if not ablations:
        return []
    lines = ["## Ablations (Section VI)", ""]
    for method, variants in ablations.items():
        tasks = sorted({g[0] for g in board.groups() if g[1] in variants}, key=corpus_sort_key)
        rows = []
        for backbone in board.backbones(variants):
            for v in variants:
                runs = [r for t in tasks for r in board.runs.get((t, v, backbone), [])]
                params = _format_params({r.method_params for r in runs})
                rows.append([backbone, v, params] + [_uar_cell(board, (t, v, backbone)) for t in tasks]
                            + [overall(board, v, backbone, tasks).cell()])
        headers = ["backbone", "variant", "method params"] + tasks + ["mean over corpora"]
        lines += [f"### {escape(method)}", "", _table(headers, rows), ""]
        lines += _image(plots, f"ablation_{method}.png", f"Ablation of {method}")
    lines += [
        "UAR cells as in the per-corpus tables; the last column as in the overall table, over the corpora of"
        " this table.",
        "",
    ]
    return lines


def _first_line(text: str, limit: int = 300) -> str:
    """The error's first line (the full text and traceback stay in the record)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] + (" [...]" if len(lines) > 1 else "") if lines else "(no error message)"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _missing(board: Board) -> list[str]:
    """One line per group with missing trainings; a corpus or backbone without any record in one line."""
    lines = []
    for task in board.tasks():
        groups = [g for g in board.groups() if g[0] == task]
        empty = {g for g in groups if not board.runs.get(g) and not board.failed.get(g) and board.full_trainings(g)}
        if len(groups) > 1 and empty == set(groups):
            lines.append(f"- {task}: no record at all ({len(groups)} method/backbone groups)")
            continue
        for backbone in sorted({g[2] for g in groups}, key=backbone_sort_key):
            of_backbone = sorted((g for g in groups if g[2] == backbone), key=lambda g: board.variant_key(g[1]))
            if len(of_backbone) > 1 and empty >= set(of_backbone):
                lines.append(f"- {backbone}/{task}: no record for any of its {len(of_backbone)} methods/variants")
                continue
            for group in of_backbone:
                missing = board.missing_trainings(group)
                if missing:
                    full = len(board.full_trainings(group))
                    lines.append(f"- {backbone}/{group[1]}/{task}: {len(missing)} of {full}: {', '.join(missing)}")
    return lines


def problems_section(board: Board) -> list[str]:
    lines = ["## Missing, failed and unreadable records", ""]
    missing = _missing(board)
    failed = board.failed_records
    lines.append("Missing (expected trainings without a record):" if missing else "Missing: none.")
    lines += missing + [""]
    if failed:
        lines.append(f"Failed ({len(failed)}; full traceback in records/<task>/<key>.json):")
        for record in sorted(failed, key=lambda r: (corpus_sort_key(r["task"]), str(r.get("label", "")))):
            variant = record.get("variant") or record["method"]
            label = f"{record['upstream']}/{variant}/{record['task']}/{record['training']}"
            lines.append(f"- {label} (key {record.get('key', '?')}): {_first_line(record['error'])}")
    else:
        lines.append("Failed: none.")
    lines.append("")
    if board.unreadable:
        lines.append(f"Unreadable records ({len(board.unreadable)}), left out of every table:")
        lines += [f"- {source}: {problem}" for source, problem in board.unreadable]
        lines.append("")
    if board.outside_expected:
        lines.append(f"Records outside the expected grid ({len(board.outside_expected)}), included in the tables:")
        lines += [f"- {label}" for label in board.outside_expected]
        lines.append("")
    duplicates = _duplicates(board)
    if duplicates:
        lines.append("Trainings recorded more than once (configurations that differ under one variant name;"
                     " each record counts in the tables, give them distinct variant names):")
        lines += [f"- {label}: keys {', '.join(keys)}" for label, keys in duplicates.items()]
        lines.append("")
    return lines


def _duplicates(board: Board) -> dict[str, list[str]]:
    keys = defaultdict(list)
    for runs in board.runs.values():
        for run in runs:
            keys[run.label].append(run.key)
    return {label: k for label, k in sorted(keys.items()) if len(k) > 1}


def notes_section(board: Board, limit: int = 5) -> list[str]:
    by_note = defaultdict(list)
    for runs in board.runs.values():
        for run in runs:
            for note in run.notes:
                by_note[note].append(run.label)
    if not by_note:
        return []
    lines = ["## Notes from the test metrics", ""]
    for note, labels in sorted(by_note.items()):
        shown = ", ".join(sorted(labels)[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
        lines.append(f"- {note} ({len(labels)} training(s): {shown})")
    return lines + [""]


def summary_section(board: Board, expected_rule: str | None = None) -> list[str]:
    n_ok, n_failed = board.records["ok"], board.records["failed"]
    n_missing = sum(len(board.missing_trainings(g)) for g in board.groups())
    text = (f"Regenerated from the run records alone: {n_ok} ok, {n_failed} failed, {len(board.unreadable)} unreadable;"
            f" {n_missing} expected training(s) without a record.")
    if n_failed or n_missing or board.unreadable:
        text += " See \"Missing, failed and unreadable records\" below."
    scope = "All metrics are in percent, on the test set at the epoch with the best dev UAR."
    if board.attributes and not board.groups():  # attribute tasks only: their section says what it holds
        return ["# Leaderboard", "", *([expected_rule] if expected_rule else []), ""]
    return ["# Leaderboard", "", text, *([expected_rule] if expected_rule else []), scope, ""]


def footnotes_section(footnotes: Sequence[str]) -> list[str]:
    """The grids' deviations from the paper, numbered."""
    if not footnotes:
        return []
    return ["## Footnotes: deviations from the paper", ""] + [f"{i}. {escape(note, line_start=True)}" for i, note in enumerate(footnotes, 1)] + [""]
