"""The corpora a process has read: each task built once per process, not once per unit of work.

Reading a corpus' metadata and forming its folds took about 0.1 s of every demo training (a
tenth of it) and of every evaluation; a worker runs hundreds of units on the same four corpora.
A corpus is taken not to change while a grid runs (its audio still is: the audio cache checks
every file's size and time); ``forget_tasks`` makes the next unit read them again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peftser.downstream.audio import default_cache_dir
from peftser.downstream.task import Task

_TASKS: dict[str, Task] = {}


def worker_task(name: str, *, data_root: str | Path | None = None, root: str | Path | None = None,
                strict: bool = False, **options: Any) -> Task:
    """``make_task(name, ...)``, built on the first call with these arguments and kept."""
    from peftser.downstream.tasks import make_task

    # The cache root is part of the key: a generated (synthetic) corpus lives under it.
    key = json.dumps([name, str(data_root), str(root), strict, sorted(options.items()), str(default_cache_dir())], default=str)
    if key not in _TASKS:
        _TASKS[key] = make_task(name, data_root=data_root, root=root, strict=strict, **options)
    return _TASKS[key]


def forget_tasks() -> None:
    """Read every corpus again on its next use (after editing one in the same process)."""
    _TASKS.clear()
