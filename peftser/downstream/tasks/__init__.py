"""The registered tasks: the paper's SER corpora read from their release layouts, their attribute
tasks, the corpora pooled, and synthetic twins of them all.

Importing this package imports every module in it. Each corpus module registers its corpus (and
its attribute task, when the corpus ships ratings) in ``TASKS`` and declares its synthetic twin and
its place in the pooled release split; the ``synthetic`` package registers a twin
(``synthetic_<name>``) of every task with one, and ``pooled`` pools the corpora that state a split
(``pooled_four``, ``synthetic_pooled_four``). A new corpus is one new module here
(docs/adding-a-corpus.md). ``make_task`` builds one from a name.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

from peftser.downstream.task import Task
from peftser.downstream.tasks.manifest import register_task_files
from peftser.registry import TASK_FILES_ENV, TASKS, after_load, load_builtins

for _module in pkgutil.iter_modules(__path__):  # each corpus module registers its own tasks
    importlib.import_module(f"{__name__}.{_module.name}")


@after_load
def _register_task_files() -> None:
    """Corpora described by a YAML, no Python, named in the environment (each file read once)."""
    if os.environ.get(TASK_FILES_ENV):
        register_task_files(os.environ[TASK_FILES_ENV])


def task_classes(name: str, options: dict | None = None) -> tuple[str, ...]:
    """The ordered classes of task ``name`` with task arguments ``options`` (a ValueError for an
    argument the task does not take), without reading data."""
    load_builtins()
    cls = TASKS.get(name)
    if hasattr(cls, "check_options"):
        cls.check_options(dict(options or {}))
    return cls.classes_for(dict(options or {}))


def make_task(
    name: str, *, data_root: str | Path | None = None, root: str | Path | None = None, strict: bool = False, **options
) -> Task:
    """The task ``name`` reading its corpus from ``root`` (default: ``data_root``/its folder).

    Synthetic tasks need neither: they generate their corpus under the cache on first use.
    """
    load_builtins()  # the user's plugins may register tasks
    cls = TASKS.get(name)
    generated = getattr(cls, "generated", False)
    layout = getattr(cls, "layout", "") or f"the {name} corpus"
    if root is None and getattr(cls, "audio_root", None) is not None:  # a task file names its audio folder
        root = cls.audio_root
    if root is None and not generated:
        if data_root is None:
            raise ValueError(
                f"task {name!r} reads a licensed corpus: give --data-root DIR holding {cls.default_dir}/ "
                f"({layout}), or --task-root pointing at the corpus folder itself"
            )
        root = Path(data_root) / cls.default_dir
    if not generated and not Path(root).is_dir():
        raise FileNotFoundError(f"task {name!r}: corpus folder {root} does not exist; expected {layout}")
    return cls(root, strict=strict, **options)
