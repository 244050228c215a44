"""Markdown of paired comparisons: the leaderboard's "vs baseline" sections and ``--compare``."""

from __future__ import annotations

from collections.abc import Sequence

from peftser.benchmark.markdown import table as markdown_table
from peftser.benchmark.report import stats
from peftser.benchmark.report.paired import Comparison, Metric, Table

# After a value in the Table V/VI analogues: significantly higher / lower than the baseline.
HIGHER, LOWER = "▲", "▼"


def marker(comparison: Comparison | None) -> str:
    """" ▲" or " ▼" when the table's Holm-adjusted p is below ALPHA, else nothing."""
    direction = 0 if comparison is None else comparison.direction
    return {1: f" {HIGHER}", -1: f" {LOWER}", 0: ""}[direction]


def _number(value: float) -> str:
    return f"{0.0 if abs(value) < 0.005 else value:+.2f}"  # no "-0.00" from a float-noise difference


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _interval(low: float, high: float, fmt=_number) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


def _share(value: float) -> str:
    return f"{value:.2f}"


def _paired_count(c: Comparison) -> str:
    """Paired units, and what is missing: unmatched units, corpora without any pair (Δ is over the rest)."""
    n, corpora = (0, 0) if c.result is None else (c.result.units, c.result.strata)
    notes = [f"{c.unmatched} unmatched"] if c.unmatched else []
    if 0 < corpora < len(c.corpora):
        notes.append(f"{corpora}/{len(c.corpora)} corpora")
    return f"{n} ({', '.join(notes)})" if notes else str(n)


def _effect_cell(c: Comparison | None, per_corpus: bool = False) -> str:
    """Δ [CI] and the marker; per corpus also the Holm-adjusted p and any unmatched units (no column for them)."""
    if c is None or c.result is None:
        return "–" + (f" ({c.unmatched} unmatched)" if per_corpus and c is not None and c.unmatched else "")
    r = c.result
    text = f"{_number(r.effect)} {_interval(*r.ci)}{marker(c)}"
    if per_corpus:
        text += f" p {_p(c.p_holm)}" + (f" ({r.units} paired, {c.unmatched} unmatched)" if c.unmatched else "")
    return text


def _short(metric: Metric) -> str:
    return {"demographic_parity": "DP", "equality_of_odds": "EO"}.get(metric.name, metric.title)


def overall_table(table: Table) -> str:
    """One row per comparison: paired units, effect [CI], p (Holm) and P(improve) [CI] per metric."""
    headers = list(table.headers) + ["paired"]
    for metric in table.metrics:
        headers += [f"Δ {_short(metric)} [95 % CI]", "p (Holm)", f"{metric.better} [95 % CI]"]
    rows = []
    scope = table.scopes[0]
    for row in table.rows():
        first = table.get(row, table.metrics[0], scope)
        cells = list(row) + [_paired_count(first)]
        for metric in table.metrics:
            c = table.get(row, metric, scope)
            r = c.result
            if r is None:
                cells += ["–", "–", "–"]
                continue
            effect = _effect_cell(c)
            if metric != table.metrics[0] and r.units != (first.result.units if first.result else 0):
                effect += f" (n={r.units})"
            cells += [effect, f"{_p(r.p)} ({_p(c.p_holm)})",
                      f"{_share(r.p_improve)} {_interval(*r.p_improve_ci, fmt=_share)}"]
        rows.append(cells)
    return markdown_table(headers, rows)


def per_corpus_table(table: Table, metric: Metric) -> str:
    """One row per method/backbone, one column per corpus: effect [CI] and the Holm-adjusted p."""
    rows = [list(row) + [_effect_cell(table.get(row, metric, scope), per_corpus=True) for scope in table.scopes]
            for row in table.rows()]
    return markdown_table(list(table.headers) + list(table.scopes), rows)


def tests(table: Table) -> int:
    """How many tests Holm's correction counted in a table."""
    return sum(c.result is not None for c in table.comparisons)


def method_text(table: Table, baseline: str) -> str:
    """What an overall table shows and how it was computed."""
    metric = table.metrics[0]
    lines = ["Lower is fairer for both metrics: a negative Δ means the method is fairer than the baseline."
             ] if metric.lower_is_better else []
    table_v = " (for UAR, the difference of the two Table V cells when every training is paired)"
    lines += [
        f"Δ = metric(method) − metric(baseline: {baseline}), in {metric.unit}, per training unit (corpus and fold or"
        " seed); the two sides are matched by training name, and a unit with a result on one side only is left"
        " out and counted (unmatched). Δ is the mean over corpora of each corpus' mean difference"
        + (table_v if metric.name == "uar" else "") + ".",
        f"95 % CI: stratified paired bootstrap ({stats.RESAMPLES:,} resamples of the units within each corpus,"
        f" each corpus' resampled mean rescaled by sqrt(n/(n-1)), seed {stats.SEED}, percentile interval). p: two-sided sign-flip permutation test of Δ, exact over all"
        f" 2^n sign patterns of the n paired differences (Monte Carlo with {stats.MONTE_CARLO_PATTERNS:,} patterns"
        f" above {stats.EXACT_MAX_UNITS} units); in brackets, Holm-adjusted across the {tests(table)} test(s) of"
        f" this table. {metric.better}: the corpus-balanced share of units where the method is"
        f" {'fairer (lower)' if metric.lower_is_better else 'better'} than the baseline (ties count 1/2), with its"
        f" bootstrap interval. {HIGHER} / {LOWER} after Δ: Holm-adjusted p < {stats.ALPHA} with every corpus"
        " paired (a comparison missing a corpus is shown but not marked).",
    ]
    return " ".join(lines)


def small_n_warning(table: Table) -> str:
    """The honest caveat of per-corpus tests: few units cannot reach significance."""
    counts = sorted({c.result.units for c in table.comparisons if c.result is not None})
    smallest = ", ".join(f"{n} units: {stats.smallest_p(n):.4g}" for n in counts)
    return (
        f"Per corpus, each cell: Δ [95 % CI] and p Holm-adjusted across the {tests(table)} test(s) of this table."
        f" A corpus has only 3 to 6 trainings, and the exact test cannot give a p below 2/2^n with n paired"
        f" units (here {smallest or 'no paired units'}): with 5 units even a gain on every training gives"
        " p = 0.0625. A bootstrap interval from so few values is unreliable too. Read these rows for the"
        " size and sign of the effect; the overall table above is the test."
    )


def section(tables: Sequence[Table], per_corpus: Table | None, baseline: str, image: Sequence[str] = ()) -> list[str]:
    """Markdown lines of the overall tables (one per corpus family), ``image``, then the per-corpus tables."""
    lines = []
    for table in tables:
        lines += [f"### {table.title}", "", overall_table(table), "", method_text(table, baseline), ""]
    lines += image
    if per_corpus is not None:
        for metric in per_corpus.metrics:
            title = per_corpus.title if len(per_corpus.metrics) == 1 else f"{metric.title.capitalize()} per corpus"
            lines += [f"### {title}", "", per_corpus_table(per_corpus, metric), ""]
        lines += [small_n_warning(per_corpus), ""]
    return lines
