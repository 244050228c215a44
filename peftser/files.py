"""Atomic file writes, used for every file the harness produces (records, cache, tables, artifacts).

A reader (a resumed run, another orchestrator, a worker) sees the old file or the whole new one,
never a part, even if the writer is killed midway.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, durable: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    ``durable`` also flushes the file and its folder to disk (for run records, which must survive
    a crash of the machine, not only of the process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp creates the file readable by its owner only; give it the mode of a normal file so
        # that a results folder or cache shared by a group stays readable.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | Path, text: str, *, durable: bool = False) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), durable=durable)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """``obj`` as JSON, durably; numpy values and paths are converted."""
    # Serialise first: an unserialisable object must not leave a temp file or touch the old file.
    return write_text_atomic(path, json.dumps(obj, indent=1, default=_jsonable), durable=True)


def _jsonable(obj: Any) -> Any:
    # Trainers naturally hand back numpy scalars/arrays and paths; JSON knows neither.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # The rename itself is durable only once the directory entry is flushed (POSIX only).
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
