"""Atomic file writes, used for every file the harness produces (records, cache, tables, artifacts),
and the checks that an output can be written at all, made before any work starts.

A reader (a resumed run, another orchestrator, a worker) sees the old file or the whole new one,
never a part, even if the writer is killed midway. A write that fails names the file it was for.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, durable: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    ``durable`` also flushes the file and its folder to disk (for run records, which must survive
    a crash of the machine, not only of the process).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # name the file being written, not the temporary's random name
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
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
    except OSError as err:  # a full disk, above all: name the file, not the temporary
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
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


class OutputError(OSError):
    """A file or folder the harness must write but cannot; the message names it and what it is for."""


def describe_os_error(err: OSError) -> str:
    """One line naming the path and what went wrong, e.g. ``/data/x: Permission denied``."""
    if isinstance(err, OutputError):
        return str(err)
    if not err.filename:
        return _reason(err) if _disk_full(err) else str(err)
    return f"{err.filename}: {_reason(err)}"


@contextmanager
def writing(what: str, path: str | Path | None = None) -> Iterator[None]:
    """Say what a failed write was for: ``the audio cache: cannot write /x/y.npy: No space left on device``;
    ``path`` names the file when the error does not (a write() that fails names none)."""
    try:
        yield
    except OSError as err:
        if path is not None and not err.filename and not isinstance(err, OutputError):
            raise OutputError(f"{what}: cannot write {path}: {_reason(err)}") from None
        raise OutputError(f"{what}: {describe_os_error(err)}") from None


def check_writable_dir(path: str | Path, what: str) -> Path:
    """Create the folder ``path`` if needed and prove that a file can be written in it.

    A real write, not ``os.access``: access() answers for the real user id, and ACLs, network
    file systems and root's override of file modes make it answer wrongly.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"{what} {path} is not a folder (it, or a folder above it, is a file)") from None
    except OSError as err:
        raise OutputError(f"{what} {path} cannot be written: {_reason(err)}") from None
    return path


def check_writable_file(path: str | Path, what: str) -> Path:
    """``path`` must name a file (not a folder) whose folder can be written, or a character device
    or FIFO (``/dev/stdout``, a named pipe) that ``write_output_file`` writes into."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give the name of a file to write")
    if _written_through(path, what):
        return path
    check_writable_dir(Path(os.path.realpath(path)).parent, f"the folder of {what}")
    return path


def write_output_file(path: str | Path, text: str, what: str) -> Path:
    """Write a file the user named (``--out``) without replacing anything but a regular file.

    A regular file (or none) is replaced atomically; a symbolic link is followed and its target
    written, the link left in place; a character device or FIFO is written into as a shell's
    ``>`` would (no temporary file can be renamed over one without destroying it, and a reader
    of a pipe sees the text as it is written). Anything else is refused.
    """
    path = Path(path)
    if not _written_through(path, what):
        return write_text_atomic(os.path.realpath(path), text)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    return path


def _written_through(path: Path, what: str) -> bool:
    """True for a character device or FIFO; False for a regular file or nothing; else an error."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links: the target is what gets written
    except FileNotFoundError:
        return False
    except OSError as err:
        raise OutputError(f"{what} {path} cannot be written: {_reason(err)}") from None
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    kind = "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    raise OutputError(f"{what} {path} is {kind}; give the name of a file to write")


def _disk_full(err: OSError) -> bool:
    # numpy's writers report a short write as "N requested and M written", without an errno
    return err.errno in (errno.ENOSPC, errno.EDQUOT) or (err.errno is None and "requested and" in str(err))


def _reason(err: OSError) -> str:
    if _disk_full(err):
        what = err.strerror or str(err)
        return f"{what} (the disk is full{' for this user: quota exceeded' if err.errno == errno.EDQUOT else ''})"
    return err.strerror or str(err)
