"""Label sets on the board: trainings over different label sets are never averaged together.

A group's task part is the task's name, or, for trainings over another label set than the task's
default (CREMA-D's native six), the name with the count of classes; other corpora are averaged
only with corpora of the same label set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import import_module
from importlib.util import find_spec

from peftser.benchmark.cell import Cell
from peftser.registry import TASKS


@lru_cache(maxsize=None)
def _default_classes(task: str) -> tuple[str, ...]:
    """A task's classes under its default arguments (the paper's four for a task not registered here)."""
    from peftser.downstream.task import EMOTIONS

    if find_spec("peftser.downstream.tasks") is not None:
        import_module("peftser.downstream.tasks")  # registers the tasks
    return tuple(TASKS.get(task).classes_for({})) if task in TASKS else EMOTIONS


def label_set_group(task: str, classes: Sequence[str] | None) -> str:
    """The task part of a group: the task's name, or, for trainings scored over another label set
    than its default (CREMA-D's native six), the name with the count of classes, so that the board
    never averages trainings whose label sets differ."""
    if classes is None or tuple(classes) == _default_classes(task):
        return task
    return f"{task} ({len(classes)} classes)"


def cell_classes(cell: Cell) -> tuple[str, ...] | None:
    """The classes an expected cell trains over when its task arguments may choose them; None otherwise."""
    if not cell.task_args or cell.task not in TASKS:
        return None
    return tuple(TASKS.get(cell.task).classes_for(dict(cell.task_args)))


def group_label_set(task: str) -> tuple[str, ...]:
    """The label set of a board group's task: its registered default, or, for a group named with
    its count of classes (``label_set_group``), a set of its own."""
    return (task,) if re.fullmatch(r".+ \(\d+ classes\)", task) else _default_classes(task)


def chance_uar(task: str) -> float:
    """The UAR (%) of guessing on a board group's task: 100 over its number of classes."""
    counted = re.fullmatch(r".+ \((\d+) classes\)", task)
    return 100.0 / (int(counted.group(1)) if counted else len(_default_classes(task)))


def chance_line(tasks: Iterable[str]) -> tuple[float, str]:
    """Chance averaged over ``tasks`` (as a curve averaging them is), and its legend."""
    chances = [chance_uar(task) for task in tasks]
    value = sum(chances) / len(chances)
    return value, f"chance ({value:.3g} %)"
