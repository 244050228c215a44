"""``--manifest TASK``: a task's kept utterances and their split in every training, as CSV.

One row per kept utterance (key, path, speaker, gender, label, then one column per training
holding train, dev, test or nothing), plus a printed summary: counts per class against the
release the paper used, split sizes per training, and every utterance left out, by reason, with
each unusable audio file named.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
from tabulate import tabulate

from peftser.downstream.task import GENDERS, Task, Training
from peftser.downstream.tasks import make_task
from peftser.downstream.audio import check_cache_writable
from peftser.files import check_writable_file, write_output_file, writing

COLUMNS = ("key", "path", "speaker", "gender", "label")


def manifest_rows(task: Task) -> tuple[list[str], list[list[str]]]:
    """The CSV header and one row per kept utterance."""
    trainings = task.trainings()
    roles = {t.name: _roles(t) for t in trainings}
    # Segments of longer files (manifest and EmoBox corpora) add their start and end seconds.
    segments = any(u.segment for u in task.utterances)
    rated = _rated(task)  # an attribute task: its ratings, on the corpus' scale, after the label
    header = [*COLUMNS, *(("start", "end") if segments else ()), *rated, *(t.name for t in trainings)]
    rows = [
        [u.key, str(u.path), u.speaker, u.gender, u.label, *(_span(u) if segments else ()),
         *(f"{r:g}" for r in u.ratings[:len(rated)]),
         *(roles[t.name].get(u.key, "") for t in trainings)]
        for u in task.utterances
    ]
    return header, rows


def _span(utterance) -> tuple[str, str]:
    return ("", "") if utterance.segment is None else tuple(f"{s:g}" for s in utterance.segment)


def write_manifest(task: Task, out_path: str | Path) -> str:
    """Write the task's manifest CSV to ``out_path`` (a file, a link to one, or a device or FIFO,
    never replaced by a file); return the summary to print."""
    header, rows = manifest_rows(task)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out_path = Path(out_path)
    with writing("the manifest"):
        write_output_file(out_path, text.getvalue(), "--out")
    return f"wrote {len(rows)} utterances to {out_path}\n\n" + summary(task)


def summary(task: Task) -> str:
    """Counts per class, split sizes per training, and what was skipped and why."""
    expected_total, expected_counts = task.expected() if hasattr(task, "expected") else (None, {})
    utterances = task.utterances
    total_note = "" if expected_total is None else f" (expected {expected_total})"
    parts = [f"task {task.name}: {len(utterances)} utterances kept from {task.root}{total_note}"]
    rated = _rated(task)
    parts.append(_ratings_table(task, utterances) if rated else _class_table(utterances, expected_counts, task.classes))
    parts.append(_training_table(task.trainings()))
    parts.append(_skipped_section(task))
    return "\n\n".join(parts) + "\n"


def _roles(training: Training) -> dict[str, str]:
    return {u.key: role for role in ("train", "dev", "test") for u in getattr(training, role)}


def _rated(task: Task) -> tuple[str, ...]:
    return tuple(task.classes) if getattr(task, "kind", "categorical") == "attributes" else ()


def _ratings_table(task: Task, utterances) -> str:
    """Per dimension: rated utterances, mean, std, min and max on the corpus' scale."""
    low, high = task.scale
    rows = []
    for d, dim in enumerate(task.classes):
        values = np.array([u.ratings[d] for u in utterances], dtype=float)
        figures = [values.mean(), values.std(), values.min(), values.max()] if len(values) else ["", "", "", ""]
        rows.append([dim, len(values), *figures, f"{low:g}-{high:g}"])
    return tabulate(rows, headers=["dimension", "utterances", "mean", "std", "min", "max", "scale"],
                    tablefmt="github", floatfmt=".3f")


def _class_table(utterances, expected_counts: dict[str, int], classes) -> str:
    by_class = Counter(u.label for u in utterances)
    by_class_gender = Counter((u.label, u.gender) for u in utterances)
    header = ["class", "utterances", *GENDERS] + (["expected"] if expected_counts else [])
    rows = []
    for label in classes:
        row = [label, by_class[label], *(by_class_gender[(label, g)] for g in GENDERS)]
        rows.append(row + ([expected_counts.get(label, "")] if expected_counts else []))
    return tabulate(rows, headers=header, tablefmt="github")


def _training_table(trainings: list[Training]) -> str:
    rows = []
    for t in trainings:
        sizes = [len(getattr(t, role)) for role in ("train", "dev", "test")]
        speakers = [len({u.speaker for u in getattr(t, role)}) for role in ("train", "dev", "test")]
        rows.append([t.name, t.seed, *sizes, *speakers])
    header = ["training", "seed", "train", "dev", "test", "train speakers", "dev speakers", "test speakers"]
    return tabulate(rows, headers=header, tablefmt="github")


def _skipped_section(task: Task) -> str:
    flawed = getattr(task, "flawed_audio", [])
    kept = "" if not flawed else (
        "\n\nkept with flawed audio (dev and test score them made finite and padded to 25 ms; training skips them):\n"
        + "\n".join(f"  {err}" for err in flawed)
    )
    if not task.skipped:
        return "skipped: none" + kept
    table = tabulate(sorted(task.skipped.items()), headers=["skipped because", "utterances"], tablefmt="github")
    bad = getattr(task, "bad_audio", [])
    if not bad:
        return table + kept
    return table + "\n\nunusable audio files:\n" + "\n".join(f"  {err}" for err in bad) + kept


def manifest_command(task_name: str, *, out, data_root=None, task_root=None, strict: bool = False,
                     task_options: dict | None = None) -> int:
    """``--manifest TASK [--data-root DIR | --task-root DIR] --out FILE.csv [--strict]``: write it, print the counts."""
    if not out:
        raise ValueError("--manifest needs --out FILE.csv")
    check_writable_file(out, "--out")  # before the corpus is read
    check_cache_writable()
    task = make_task(task_name, data_root=data_root, root=task_root, strict=strict, **(task_options or {}))
    print(write_manifest(task, out), end="")
    return 0
