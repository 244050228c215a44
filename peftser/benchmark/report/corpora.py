"""What the registries say about a leaderboard's corpora: each task's CorpusInfo and trainings
(class attributes, no data read), the paper's corpora in its order, and each corpus' family
("paper", "synthetic" twin, "other"). The leaderboard never names a corpus itself.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from importlib.util import find_spec

from peftser.registry import TASKS


@lru_cache(maxsize=None)
def _tasks_loaded() -> bool:
    """Whether the tasks package is there (and now imported, so that TASKS holds the built-ins)."""
    if find_spec("peftser.downstream.tasks") is None:
        return False
    import_module("peftser.downstream.tasks")
    return True


def registered_trainings(task: str) -> tuple[str, ...] | None:
    """A registered task's training names (class attribute, no data read), if the task is known."""
    return tuple(TASKS.get(task).training_names) if _tasks_loaded() and task in TASKS else None


def _imported_tasks() -> list[str]:
    """The registered tasks whose classes are imported (none when the tasks package is not installed)."""
    return TASKS.imported() if _tasks_loaded() else []


def task_info(task: str):
    """A registered task's CorpusInfo (class attribute, no data read), or None."""
    return getattr(TASKS.get(task), "info", None) if _tasks_loaded() and task in TASKS else None


def registered_sources(task: str) -> tuple[str, ...]:
    """The single-corpus tasks a registered pooled task is made of (none for any other)."""
    if registered_trainings(task) is None:
        return ()
    return tuple(s.name for s in getattr(TASKS.get(task), "sources", ()) or ())


def paper_corpora() -> tuple[str, ...]:
    """The paper's corpora in its order: the registered tasks whose CorpusInfo gives a paper_order
    (registered with their class, not lazily: a report must not look up every lazy entry)."""
    tasks = _imported_tasks()
    infos = {name: task_info(name) for name in tasks}
    return tuple(sorted((n for n, i in infos.items() if i and i.paper_order), key=lambda n: infos[n].paper_order))


def twin(corpus: str) -> str | None:
    """The registered synthetic twin of a corpus."""
    return next((n for n in _imported_tasks() if (info := task_info(n)) and info.twin_of == corpus), None)


def corpus_family(task: str) -> str:
    """"paper" (one of the four corpora), "synthetic" (their demo analogues) or "other", as the
    task's CorpusInfo says."""
    info = task_info(task)
    if info is not None and info.paper_order:
        return "paper"
    if info is not None and info.twin_of in paper_corpora():
        return "synthetic"
    return "other"
