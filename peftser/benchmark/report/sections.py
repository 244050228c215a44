"""The leaderboard as its sections: ``SECTIONS`` in the order of leaderboard.md, the built-in ones
registered here, and ``render``, ``leaderboard_json`` and ``write_plots``, which iterate over
them (a section is a ``section.Section``). The tables of the paper's Tables IV-VI are only
written when the board has a method's default configuration (an ablation-only directory has none).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from peftser.benchmark.report import plots as figures
from peftser.benchmark.report import render as md
from peftser.benchmark.report import render_json as js
from peftser.benchmark.report.attribute_evaluations import (
    attribute_evaluation_plots,
    attribute_evaluation_sections,
    attribute_evaluations_json,
)
from peftser.benchmark.report.attributes import attribute_section, attributes_json
from peftser.benchmark.report.evaluations import evaluations_json
from peftser.benchmark.report.plots_attributes import ccc_by_backbone_plots
from peftser.benchmark.report.plots_evaluations import write_evaluation_plots
from peftser.benchmark.report.render_cost import cost_section
from peftser.benchmark.report.render_evaluations import cross_corpus_section, evaluation_problems, noise_section
from peftser.benchmark.report.board import Board
from peftser.benchmark.report.paired import DEFAULT_BASELINE, PairedStats
from peftser.benchmark.report.section import Section, Sections, View


class Summary(Section):
    name, json_rank = "summary", 0

    def markdown(self, view: View) -> list[str]:
        return md.summary_section(view.board, view.expected_rule)

    def json(self, view: View) -> dict:
        return js.summary_json(view.board)


class Overall(Section):
    """The Table V analogue: the mean of corpus means per method and backbone."""

    name, json_rank = "overall", 2

    def markdown(self, view: View) -> list[str]:
        return md.overall_section(view.board, view.paired, view.baseline) if view.main else []

    def json(self, view: View) -> dict:
        return js.overall_json(view.board)


class PairedUar(Section):
    name, json_rank = "paired_uar", 3

    def markdown(self, view: View) -> list[str]:
        if not view.main:
            return []
        return md.paired_uar_section(view.paired, view.baseline, view.missing_paired, view.plots)

    def json(self, view: View) -> dict:
        return js.paired_json(view.paired, view.baseline)

    def plots(self, view: View, directory: Path) -> list[str]:
        return figures.forest_plot(view.paired, view.baseline, directory)


class PerCorpus(Section):
    """UAR per corpus (with the pre-training overlap of each corpus' backbones); every group in the JSON."""

    name, json_rank = "per_corpus", 1

    def markdown(self, view: View) -> list[str]:
        return md.per_corpus_section(view.board, view.plots) if view.main else []

    def json(self, view: View) -> dict:
        return js.groups_json(view.board)

    def plots(self, view: View, directory: Path) -> list[str]:
        return figures.uar_by_backbone_plots(view.board, directory)


class Fairness(Section):
    """The Table VI analogue (its numbers are in the JSON's groups)."""

    name = "fairness"

    def markdown(self, view: View) -> list[str]:
        return md.fairness_section(view.board, view.plots, view.paired, view.baseline) if view.main else []

    def plots(self, view: View, directory: Path) -> list[str]:
        return figures.fairness_vs_uar_plot(view.board, directory)


class PairedFairness(Section):
    """Fairness against the baseline (its numbers are in the JSON's paired entry)."""

    name = "paired_fairness"

    def markdown(self, view: View) -> list[str]:
        return md.paired_fairness_section(view.paired, view.baseline, view.missing_paired) if view.main else []


class Params(Section):
    """The Table IV analogue."""

    name = "params"

    def markdown(self, view: View) -> list[str]:
        return md.params_section(view.board, view.plots) if view.main else []

    def plots(self, view: View, directory: Path) -> list[str]:
        return figures.uar_vs_params_plot(view.board, directory)


class Ablation(Section):
    name = "ablation"

    def markdown(self, view: View) -> list[str]:
        return md.ablation_section(view.board, view.plots)

    def plots(self, view: View, directory: Path) -> list[str]:
        return figures.ablation_plots(view.board, directory)


class Cost(Section):
    name, json_rank = "cost", 4

    def markdown(self, view: View) -> list[str]:
        return cost_section(view.board)

    def json(self, view: View) -> dict:
        return js.cost_json(view.board)


class Evaluations(Section):
    """Beyond the paper: cross-corpus transfer and noise robustness of the trained cells."""

    name, json_rank = "evaluations", 5

    def markdown(self, view: View) -> list[str]:
        found = view.board.evaluations
        if not found:
            return []
        return (cross_corpus_section(found, view.board, view.plots, view.baseline)
                + noise_section(found, view.board, view.plots, view.baseline) + evaluation_problems(found))

    def json(self, view: View) -> dict:
        return evaluations_json(view.board.evaluations, view.board, view.baseline) if view.board.evaluations else {}

    def plots(self, view: View, directory: Path) -> list[str]:
        return write_evaluation_plots(view.board.evaluations, view.board, directory)


class Attributes(Section):
    """Beyond the paper: the attribute tasks (arousal, valence, dominance), scored by CCC, never
    mixed with the UAR tables; then their cells' cross-corpus and noise evaluations."""

    name, json_rank = "attributes", 4.5

    def markdown(self, view: View) -> list[str]:
        board = view.board.attributes
        if not board:
            return []
        return (attribute_section(board, view.baseline, view.plots) + cost_section(board, "### Cost of the attribute trainings")
                + attribute_evaluation_sections(board, view.plots, view.baseline))

    def json(self, view: View) -> dict:
        board = view.board.attributes
        if not board:
            return {}
        return {"attributes": {**attributes_json(board, view.baseline), **attribute_evaluations_json(board, view.baseline)}}

    def plots(self, view: View, directory: Path) -> list[str]:
        board = view.board.attributes
        return ccc_by_backbone_plots(board, directory) + attribute_evaluation_plots(board, directory) if board else []


class Problems(Section):
    name = "problems"

    def markdown(self, view: View) -> list[str]:
        return md.problems_section(view.board)


class Notes(Section):
    name = "notes"

    def markdown(self, view: View) -> list[str]:
        return md.notes_section(view.board)


class Footnotes(Section):
    name = "footnotes"

    def markdown(self, view: View) -> list[str]:
        return md.footnotes_section(view.footnotes)


SECTIONS = Sections()
for _section in (Summary(), Overall(), PairedUar(), PerCorpus(), Fairness(), PairedFairness(), Params(), Ablation(),
                 Cost(), Evaluations(), Attributes(), Problems(), Notes(), Footnotes()):
    SECTIONS.register(_section)


def markdown(view: View) -> str:
    """The whole leaderboard markdown: every section's lines in order."""
    lines = [line for section in SECTIONS for line in section.markdown(view)]
    return "\n".join(lines).rstrip() + "\n"


def json_data(view: View) -> dict[str, Any]:
    """leaderboard.json's object: every section's entries, in the sections' JSON order."""
    data: dict[str, Any] = {}
    for section in sorted(SECTIONS, key=lambda s: s.json_rank):
        data.update(section.json(view))
    return data


def write_plots(view: View, directory: Path) -> list[str]:
    """Every section's plots, drawn into ``directory``; the file names written."""
    return [name for section in SECTIONS for name in section.plots(view, directory)]


def render(board: Board, footnotes: Sequence[str], plots: Collection[str], paired: PairedStats | None = None,
           baseline: str = DEFAULT_BASELINE, expected_rule: str | None = None) -> str:
    """The whole leaderboard markdown; ``plots`` are the image files written beside it, and
    ``expected_rule`` the header's sentence on where the expected cells came from.

    ``paired`` holds the comparisons of every method against ``baseline`` (see paired.py); without
    them the "vs baseline" sections say why. The markdown is every registered section's, in order
    (below).
    """
    return markdown(View(board, paired, baseline, set(plots), tuple(footnotes), expected_rule))


def leaderboard_json(board: Board, paired: PairedStats | None, baseline: str) -> str:
    """The JSON text: every registered section's entries (record counts, per-group and overall
    numbers, the paired comparisons, costs, evaluations; see above)."""
    data = json_data(View(board, paired, baseline))
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"

