"""Method vs baseline, paired by training: which comparisons a table makes, and their statistics.

A side of a comparison is one variant on one backbone in one board (results directory). Its
training units are (corpus, training) pairs, matched across the two sides by the training name; a
unit on one side only is left out of the statistics and counted. A table of comparisons gets one
Holm correction across all of its tests, so a marker in it survives the table's multiplicity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from peftser.benchmark.report import stats
from peftser.benchmark.report.board import FAMILY_TITLES, Board, corpus_sort_key, families

Unit = tuple[str, str]  # (task, training)
DEFAULT_BASELINE = "downstream"  # head only: what every PEFT method adds to


@dataclass(frozen=True)
class Metric:
    """A test metric of the run records, and which direction is better."""

    name: str
    title: str
    lower_is_better: bool
    unit: str = "points"  # what a difference of two values is in

    @property
    def better(self) -> str:
        """What P(improve) means for this metric."""
        return "P(fairer)" if self.lower_is_better else "P(improve)"


UAR = Metric("uar", "UAR", lower_is_better=False)
DEMOGRAPHIC_PARITY = Metric("demographic_parity", "demographic parity", lower_is_better=True)
EQUALITY_OF_ODDS = Metric("equality_of_odds", "equality of odds", lower_is_better=True)
FAIRNESS = (DEMOGRAPHIC_PARITY, EQUALITY_OF_ODDS)


@dataclass(frozen=True)
class Side:
    """One variant on one backbone of a board; ``source`` names its results directory when two are compared."""

    board: Board
    upstream: str
    variant: str
    source: str = ""

    def values(self, metric: Metric, tasks: Iterable[str]) -> dict[Unit, float]:
        """The metric per training unit of the given corpora; undefined values (None) are left out.

        A training recorded twice (listed in the leaderboard's problems) counts once, as its mean.
        """
        found = defaultdict(list)
        for task in tasks:
            for run in self.board.runs.get((task, self.variant, self.upstream), []):
                value = getattr(run, metric.name)
                if value is not None:
                    found[(task, run.training)].append(value)
        return {unit: float(np.mean(v)) for unit, v in found.items()}

    def has_runs(self) -> bool:
        """Whether the side has any successful training."""
        return any(self.board.runs.get((task, self.variant, self.upstream)) for task in self.board.tasks())

    def describe(self) -> dict[str, str]:
        """The side as JSON fields."""
        return {"upstream": self.upstream, "variant": self.variant, **({"results": self.source} if self.source else {})}


@dataclass(frozen=True)
class Comparison:
    """One method against its baseline for one metric over some corpora (a family or one corpus)."""

    row: tuple[str, ...]  # what the table row shows, e.g. (backbone, method)
    metric: Metric
    scope: str  # a corpus family's title, or the corpus
    corpora: tuple[str, ...]
    method: Side
    baseline: Side
    method_only: tuple[str, ...]  # units without a paired baseline value, "task/training"
    baseline_only: tuple[str, ...]
    result: stats.Paired | None  # None when no unit is paired
    p_holm: float | None = None

    @property
    def unmatched(self) -> int:
        """Units left out because only one side has a value for them."""
        return len(self.method_only) + len(self.baseline_only)

    @property
    def significant(self) -> bool:
        """The Holm-adjusted p of the table is below ALPHA."""
        return self.p_holm is not None and self.p_holm < stats.ALPHA

    @property
    def direction(self) -> int:
        """+1 when the metric is significantly higher than the baseline's, -1 lower, 0 otherwise.

        0 too when some corpus of the scope has no pair: a table's marker speaks for all its corpora.
        """
        if not self.significant or self.result is None or self.result.strata < len(self.corpora):
            return 0
        return 1 if self.result.effect > 0 else -1

    def to_dict(self) -> dict:
        """Every number of the comparison, for leaderboard.json and --compare --json."""
        r = self.result
        return {
            "metric": self.metric.name, "lower_is_better": self.metric.lower_is_better,
            "difference": "method - baseline", "scope": self.scope, "corpora": list(self.corpora),
            "method": self.method.describe(), "baseline": self.baseline.describe(),
            "paired_units": 0 if r is None else r.units,
            "paired_corpora": 0 if r is None else r.strata,
            "unmatched": {"method_only": list(self.method_only), "baseline_only": list(self.baseline_only)},
            "effect": None if r is None else r.effect,
            "ci": None if r is None else list(r.ci),
            "p": None if r is None else r.p,
            "p_exact": None if r is None else r.exact,
            "p_holm": self.p_holm,
            "smallest_possible_p": None if r is None else r.smallest_p,
            "p_improve": None if r is None else r.p_improve,
            "p_improve_ci": None if r is None else list(r.p_improve_ci),
            "direction": self.direction,  # the tables' marker: +1 / -1 significantly higher / lower, else 0
        }


def compare(method: Side, baseline: Side, metric: Metric, corpora: Sequence[str], scope: str,
            row: tuple[str, ...]) -> Comparison:
    """Pair the two sides' units over the corpora and compute the statistics (Holm comes per table)."""
    mine, theirs = method.values(metric, corpora), baseline.values(metric, corpora)
    strata = defaultdict(list)
    for unit in sorted(mine.keys() & theirs.keys(), key=_unit_key):
        strata[unit[0]].append(mine[unit] - theirs[unit])
    result = stats.paired(list(strata.values()), lower_is_better=metric.lower_is_better) if strata else None
    return Comparison(
        row=row, metric=metric, scope=scope, corpora=tuple(corpora), method=method, baseline=baseline,
        method_only=tuple(_label(u) for u in sorted(mine.keys() - theirs.keys(), key=_unit_key)),
        baseline_only=tuple(_label(u) for u in sorted(theirs.keys() - mine.keys(), key=_unit_key)),
        result=result,
    )


def _unit_key(unit: Unit) -> tuple:
    return (corpus_sort_key(unit[0]), unit[1])


def _label(unit: Unit) -> str:
    return f"{unit[0]}/{unit[1]}"


@dataclass(frozen=True)
class Table:
    """Comparisons shown together, with Holm's correction across all of them."""

    title: str
    headers: tuple[str, ...]  # of the row cells
    metrics: tuple[Metric, ...]
    scopes: tuple[str, ...]
    comparisons: tuple[Comparison, ...]

    def get(self, row: tuple[str, ...], metric: Metric, scope: str) -> Comparison | None:
        """The comparison of one row, metric and scope, if the table has it."""
        return next((c for c in self.comparisons if (c.row, c.metric, c.scope) == (row, metric, scope)), None)

    def rows(self) -> list[tuple[str, ...]]:
        """The rows, in the order of the comparisons."""
        return list(dict.fromkeys(c.row for c in self.comparisons))

    def to_dict(self) -> dict:
        """The table as JSON: its title, how many tests Holm counted, and each comparison."""
        tested = sum(c.result is not None for c in self.comparisons)
        return {"title": self.title, "holm_tests": tested, "comparisons": [c.to_dict() for c in self.comparisons]}


Pair = tuple[tuple[str, ...], Side, Side]  # (row cells, method side, baseline side)


def table(title: str, headers: tuple[str, ...], pairs: Sequence[Pair], metrics: Sequence[Metric],
          scopes: Sequence[tuple[str, Sequence[str]]]) -> Table:
    """Every pair x metric x scope (title, corpora), Holm-adjusted across the table."""
    comparisons = [compare(method, baseline, metric, corpora, scope, row)
                   for row, method, baseline in pairs for scope, corpora in scopes for metric in metrics]
    return holm_table(title, headers, metrics, comparisons, tuple(s for s, _ in scopes))


def holm_table(title: str, headers: tuple[str, ...], metrics: Sequence[Metric], comparisons: Sequence[Comparison],
               scopes: tuple[str, ...] | None = None) -> Table:
    """A table of comparisons made (a side is anything with ``values`` and ``describe``), with Holm's
    correction across all of them; its scopes default to theirs, in their order of appearance."""
    adjusted = stats.holm([None if c.result is None else c.result.p for c in comparisons])
    comparisons = [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted)]
    scopes = tuple(dict.fromkeys(c.scope for c in comparisons)) if scopes is None else scopes
    return Table(title, tuple(headers), tuple(metrics), scopes, tuple(comparisons))


@dataclass(frozen=True)
class PairedStats:
    """The paired tables of one leaderboard or one --compare: overall per corpus family, and per corpus."""

    uar: list[Table]  # one per corpus family
    uar_per_corpus: Table | None
    fairness: list[Table]  # demographic parity and equality of odds, one table per family
    fairness_per_corpus: Table | None

    def tables(self) -> list[Table]:
        """Every table, in the order they are shown."""
        return [t for t in (*self.uar, self.uar_per_corpus, *self.fairness, self.fairness_per_corpus) if t]

    def to_dict(self) -> dict:
        """The tables as JSON, with the settings of the statistics."""
        return {"statistics": statistics_settings(), "tables": [t.to_dict() for t in self.tables()]}


def statistics_settings() -> dict:
    """The settings every paired table is computed with (bootstrap, confidence level, alpha), as JSON."""
    return {"resamples": stats.RESAMPLES, "seed": stats.SEED, "level": stats.LEVEL, "alpha": stats.ALPHA,
            "exact_max_units": stats.EXACT_MAX_UNITS, "monte_carlo_patterns": stats.MONTE_CARLO_PATTERNS,
            "tie": stats.TIE}


def paired_stats(pairs: Sequence[Pair], tasks: Sequence[str], headers: tuple[str, ...]) -> PairedStats:
    """The overall (corpus-balanced, per family) and per-corpus tables for UAR and the fairness metrics."""
    by_family = [(FAMILY_TITLES[family], corpora) for family, corpora in families(tasks).items()]
    lower = {scope: scope[0].lower() + scope[1:] for scope, _ in by_family}  # "UAR, the paper's four corpora"
    per_corpus = [(task, (task,)) for task in sorted(tasks, key=corpus_sort_key)]
    return PairedStats(
        uar=[table(f"UAR, {lower[scope]}", headers, pairs, (UAR,), [(scope, corpora)]) for scope, corpora in by_family],
        uar_per_corpus=table("UAR per corpus", headers, pairs, (UAR,), per_corpus) if per_corpus else None,
        fairness=[table(f"Fairness, {lower[scope]}", headers, pairs, FAIRNESS, [(scope, corpora)])
                  for scope, corpora in by_family],
        fairness_per_corpus=table("Fairness per corpus", headers, pairs, FAIRNESS, per_corpus) if per_corpus else None,
    )


def baseline_pairs(board: Board, baseline: str) -> list[Pair]:
    """Each main variant but the baseline against the baseline on the same backbone, in table order."""
    variants = [v for v in board.main_variants() if v != baseline]
    pairs = [((backbone, variant), Side(board, backbone, variant), Side(board, backbone, baseline))
             for backbone in board.backbones(board.main_variants()) for variant in variants]
    # A pair with no training on either side is only an expected cell: the tables' (0/n) already say so.
    return [p for p in pairs if p[1].has_runs() or p[2].has_runs()]


def variants_of(board: Board) -> list[str]:
    """Every variant with a record or an expected cell, main ones first."""
    ablations = [v for vs in board.ablation_variants().values() for v in vs]
    return board.main_variants() + ablations
