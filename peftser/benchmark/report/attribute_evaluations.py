"""The attribute cells' evaluations beyond the paper: cross-corpus transfer and noise robustness
scored by mean CCC, in the attribute part of the leaderboard and never in a UAR table.

The categorical tables' making is reused (``evaluations``, ``render_evaluations``,
``plots_evaluations``: the same matrices, drops from clean, paired bootstrap, sign-flip test and
Holm correction). ``AttributeEvaluations`` is an Evaluations whose score is the mean CCC over the
dimensions a result was scored on, recomputed from its stored ratings and predictions, and whose
matrix diagonal is the attribute board's in-corpus test mean CCC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from peftser.benchmark.attribute_metrics import attribute_metrics_from_predictions
from peftser.benchmark.report.attributes import MEAN_CCC, AttributeBoard, task_label
from peftser.benchmark.report.evaluations import Evaluations, evaluations_json
from peftser.benchmark.report.plots_evaluations import write_evaluation_plots
from peftser.benchmark.report.render_evaluations import (
    BEYOND,
    evaluation_problems,
    noise_tables,
    shared_labels,
    transfer_tables,
)
from peftser.downstream.tasks.attributes import is_attribute_task
from peftser.registry import TASKS


class AttributeEvaluations(Evaluations):
    """Per-training mean CCCs of the attribute cells' evaluations, and what failed."""

    metric = MEAN_CCC
    digits = 3
    plot_range = (0.0, 1.0)
    plot_label = "mean CCC"
    transfer_title = "Mean transfer CCC"
    heat_format = "{:.2f}"
    plot_prefix = "attributes_"

    def chance(self, corpora) -> tuple[float, str]:
        return 0.0, "no agreement (CCC 0)"

    def score(self, result: dict[str, Any], record: dict[str, Any]) -> float | None:
        dims = result.get("classes") or record.get("classes")
        return attribute_metrics_from_predictions(result["predictions"], dims)["mean_ccc"]

    def train_task(self, record: dict[str, Any]) -> str:
        return task_label(record["task"], record.get("classes"))

    def test_task(self, record: dict[str, Any], condition: dict[str, Any]) -> str:
        task, args = condition["test_task"], (record.get("evaluation") or {}).get("task_args") or {}
        return task_label(task, TASKS.get(task).classes_for(args)) if is_attribute_task(task) else task

    def in_corpus(self, board: Any, upstream: str, variant: str, task: str) -> list[float]:
        return board.values((task, variant, upstream), "mean_ccc")


def is_attribute_entry(entry: dict | tuple[str, str]) -> bool:
    """Whether an evaluation record (or an unusable file's ``(path, problem)``, by the task folder
    it is in: ``evaluations/<task>/<key>.json``) is an attribute cell's."""
    if isinstance(entry, tuple):
        parts = Path(entry[0]).parts
        return len(parts) > 2 and is_attribute_task(parts[1])
    return entry.get("kind") == "attributes" or is_attribute_task(str(entry.get("task", "")))


def transfer_section(evaluations: AttributeEvaluations, board: AttributeBoard, plots: Collection[str],
                     baseline: str) -> list[str]:
    """Markdown of the attribute transfer matrices, the mean transfer CCC and its paired comparison."""
    if not evaluations.transfer:
        return []
    lines = [
        "## Emotional attributes: cross-corpus transfer (mean CCC, beyond the paper)", "",
        f"_{BEYOND}._ Each trained attribute cell is scored on each other attribute task's transfer set (the "
        "utterances that task's own trainings are tested on; a grid may fix a subset, named in its footnotes), on "
        "the dimensions both tasks rate; categorical and attribute cells are never paired. The model predicts in "
        "[0, 1] units of its training corpus' scale; the predictions are mapped onto the test corpus' own scale "
        "(0 to its lowest rating, 1 to its highest), so RMSE is in the test corpus' units and CCC compares the two "
        "scales end to end. Each cell: mean CCC over the scored dimensions, mean ± std over the trainings of the "
        "row's task; the diagonal is the in-corpus test mean CCC of the attribute tables above.", "",
    ]
    if evaluations.shared:
        lines += ["Pairs rating different dimensions are scored on those both rate, the model's other outputs "
                  "ignored:", "", *shared_labels(evaluations), ""]
    return lines + transfer_tables(evaluations, board, plots, baseline)


def noise_section(evaluations: AttributeEvaluations, board: AttributeBoard, plots: Collection[str],
                  baseline: str) -> list[str]:
    """Markdown of mean CCC per noise and SNR, the drop from clean, and the paired comparison at each SNR."""
    if not evaluations.conditions():
        return []
    lines = [
        "## Emotional attributes: noise robustness (mean CCC, beyond the paper)", "",
        f"_{BEYOND}._ Each trained attribute cell's test split (or the grid's fixed subset of it) is scored again "
        "under the noises of the categorical cells' robustness tables: the same noisy clip for every method and "
        "backbone. Clean is the cell's own test predictions on the same utterances. Each cell: mean CCC, the mean "
        "over tasks of each task's mean over trainings, and in brackets its change from clean in CCC units.", "",
    ]
    return lines + noise_tables(evaluations, board, plots, baseline)


def attribute_evaluation_sections(board: AttributeBoard, plots: Collection[str], baseline: str) -> list[str]:
    """The attribute part's sections beyond its own test sets (nothing without evaluations)."""
    found = board.evaluations
    if not found:
        return []
    return (transfer_section(found, board, plots, baseline) + noise_section(found, board, plots, baseline)
            + evaluation_problems(found, "Attribute evaluations not in the tables"))


def attribute_evaluations_json(board: AttributeBoard, baseline: str) -> dict[str, Any]:
    """The entries of leaderboard.json's ``attributes`` on its evaluations: ``cross_corpus`` and
    ``noise`` (each with ``mean_ccc``), ``paired_evaluations`` and the ``evaluations`` counts."""
    if not board.evaluations:
        return {}
    data = evaluations_json(board.evaluations, board, baseline)
    return {name: data[name] for name in ("cross_corpus", "noise", "paired_evaluations", "evaluations")}


def attribute_evaluation_plots(board: AttributeBoard, directory: Path) -> list[str]:
    """attributes_cross_corpus_<backbone>.png and attributes_noise_<backbone>.png, where the evaluations allow."""
    return write_evaluation_plots(board.evaluations, board, directory)


def split_entries(entries: Iterable[dict | tuple[str, str]]) -> tuple[list, list]:
    """(categorical, attribute) evaluation records and unusable files."""
    categorical: list = []
    rated: list = []
    for entry in entries:
        (rated if is_attribute_entry(entry) else categorical).append(entry)
    return categorical, rated


def planned_keys(planned: Sequence, rated: bool) -> set[str]:
    """The keys of the planned evaluations of attribute cells (``rated``) or of categorical ones."""
    return {e.key for e in planned if is_attribute_task(e.source.task) == rated}
