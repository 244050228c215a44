"""A synthetic corpus on disk: generated once per seed and generator version, recognised by a
marker that lists every file written, replaced only when its folder holds nothing else."""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import shutil
import warnings
from pathlib import Path

from filelock import FileLock

from peftser.downstream.audio import default_cache_dir
from peftser.downstream.tasks.synthetic.recordings import make_recordings
from peftser.downstream.tasks.twin import CorpusFiles
from peftser.downstream.tasks.twin import Twin
from peftser.files import write_text_atomic, writing
from peftser.registry import TASKS

SEED = 0
# Bump whenever generated audio or layout changes: corpora of another version are regenerated.
GENERATOR_VERSION = 8  # 8: attribute ratings in the label files (audio and classes as in 7)
MARKER = "synthetic.json"


def _shape_or_none(name: str) -> Twin | None:
    # A generated corpus is named after the twin task that reads it (an attribute twin reads another's).
    cls = TASKS.get(name) if name in TASKS else None
    generated_name = getattr(cls, "generated_name", None)
    return cls.twin if generated_name is not None and generated_name() == name else None


def shape(name: str) -> Twin:
    """The shape of the generated corpus ``name``, as the corpus whose twin it is declares it."""
    found = _shape_or_none(name)
    if found is None:
        raise KeyError(f"{name!r} is not a generated corpus (a registered corpus' synthetic twin)")
    return found


def generate(name: str, root: str | Path, *, seed: int = SEED) -> Path:
    """Write the synthetic corpus ``name`` into ``root``, a new or empty folder (deterministic in ``seed``).

    The marker written last lists every file written, so that the corpus can later be replaced
    without touching anything else in its folder.
    """
    root = Path(root)
    twin = shape(name)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; the {name} generator writes only into a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    out = CorpusFiles(root)
    recordings = make_recordings(name, twin, seed)
    twin.write(out, recordings)
    marker = {"task": name, "version": GENERATOR_VERSION, "seed": seed, "utterances": len(recordings), "files": sorted(out.written)}
    with writing("the synthetic corpus", root / MARKER):
        (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return root


def planned_files(name: str) -> list[str]:
    """The files (relative paths) this generator version writes for ``name``, without writing them."""
    out = CorpusFiles(None)
    twin = shape(name)
    twin.write(out, make_recordings(name, twin, SEED, audio=False))
    return sorted(out.written)


def _read_marker(root: Path) -> dict | None:
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_complete(root: Path, name: str, seed: int) -> bool:
    marker = _read_marker(root)
    return marker is not None and (marker.get("task"), marker.get("version"), marker.get("seed")) == (name, GENERATOR_VERSION, seed)


def _generated_files(marker: dict, present: set[str] = frozenset()) -> set[str] | None:
    """The files the marker's generator wrote (of those ``present``, for a marker without a file
    list), or None when that cannot be known."""
    if isinstance(marker.get("files"), list):
        return {*marker["files"], MARKER}
    twin = _shape_or_none(str(marker.get("task")))
    if twin is not None and marker.get("version") == GENERATOR_VERSION:
        return {*planned_files(marker["task"]), MARKER}  # a marker written before markers listed files
    if twin is not None and twin.legacy:
        # An older version's corpus: its files by the patterns of the names the twin's writers have
        # kept while the number of clips changed.
        return {f for f in present if any(fnmatch.fnmatchcase(f, pattern) for pattern in twin.legacy)} | {MARKER}
    return None


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _what(marker: dict) -> str:
    return f"a generated {marker.get('task')} corpus (generator version {marker.get('version')}, seed {marker.get('seed')})"


def _check_replaceable(root: Path, name: str) -> dict | None:
    """The marker of the corpus that ``root`` holds, when it may be replaced by ``name``; a
    FileExistsError when it holds anything the generator did not write (the folder is not touched)."""
    if not root.exists():
        return None
    present = _files_under(root)
    marker = _read_marker(root)
    if marker is None:
        if present:
            examples = ", ".join(sorted(present)[:3])
            raise FileExistsError(f"{root} holds files that are not a generated {name} corpus (e.g. {examples}); "
                                  "it is left as it is: pick another root")
        return None
    owned = _generated_files(marker, present)
    if owned is None:
        raise FileExistsError(f"{root} holds {_what(marker)} that does not list its files; it is left as it is: "
                              f"delete it yourself or pick another root for {name}")
    foreign = sorted(present - owned)
    if foreign:
        raise FileExistsError(
            f"{root} holds {_what(marker)} and {len(foreign)} file(s) the generator did not write "
            f"(e.g. {', '.join(foreign[:3])}); it is left as it is: move those files or pick another root for {name}"
        )
    return marker


def _remove_generated(folder: Path) -> None:
    """Delete the generator's own files in ``folder``, then the folders they leave empty; never anything else."""
    marker = _read_marker(folder)
    owned = set() if marker is None else (_generated_files(marker, _files_under(folder)) or set())
    for relative in sorted(owned - {MARKER}):
        (folder / relative).unlink(missing_ok=True)
    (folder / MARKER).unlink(missing_ok=True)  # last: a half-cleaned folder still says what is the generator's
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    if any(folder.iterdir()):
        warnings.warn(f"{folder} was left in place: it holds files the generator did not write", stacklevel=3)
    else:
        folder.rmdir()


def _clear_scratch(root: Path) -> None:
    """Folders a killed generator left beside ``root``: its scratch copy and a swapped-out corpus."""
    for stale in root.parent.glob(f"{glob.escape(root.name)}.partial-*"):
        if stale.name.rsplit("-", 1)[1].isdigit():
            shutil.rmtree(stale)  # written only by a generator, which starts it empty
    for stale in root.parent.glob(f"{glob.escape(root.name)}.old-*"):
        if stale.name.rsplit("-", 1)[1].isdigit():
            _remove_generated(stale)


def ensure_generated(name: str, root: str | Path, *, seed: int = SEED) -> Path:
    """Generate ``name`` under ``root`` unless it is there already; one process at a time.

    A folder holding another task, seed or generator version is regenerated beside it and swapped
    in, but only when it holds nothing the generator did not write; otherwise it is refused.
    """
    root = Path(root)
    if _is_complete(root, name, seed):
        _list_files_in_marker(root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    # An OS-level lock: a generator killed midway releases it, and its scratch folder is removed.
    with FileLock(str(root) + ".lock"):
        if _is_complete(root, name, seed):
            return root
        _clear_scratch(root)
        replaced = _check_replaceable(root, name)
        partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
        try:
            generate(name, partial, seed=seed)
        except BaseException:  # a full disk, Ctrl-C: the scratch copy's space is given back now
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if not root.exists():
            os.replace(partial, root)  # readers see the whole corpus or none of it
            return root
        if replaced is not None:
            warnings.warn(f"replacing {_what(replaced)} in {root} with {name}", stacklevel=2)
        # Two renames: portable Python has no atomic exchange of two folders. A reader that looks
        # in between finds no marker, waits for this lock and then sees the new corpus.
        old = root.with_name(f"{root.name}.old-{os.getpid()}")
        os.replace(root, old)
        os.replace(partial, root)
        _remove_generated(old)
    return root


def _list_files_in_marker(root: Path) -> None:
    # Markers written before they listed their files get the list now, while this generator
    # version can still say what it wrote; a later version could not.
    marker = _read_marker(root)
    if marker is None or "files" in marker:
        return
    try:
        write_text_atomic(root / MARKER, json.dumps({**marker, "files": planned_files(marker["task"])}, indent=2) + "\n")
    except OSError:
        pass  # a read-only corpus folder is still usable; its marker stays as it is


def default_root(name: str) -> Path:
    """Where a synthetic corpus lives unless told otherwise: <cache>/synthetic/<name>."""
    return default_cache_dir() / "synthetic" / name
