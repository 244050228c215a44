"""``--cache-info`` and ``--cache-prune``: where the audio cache is, how big, and what in it is stale.

The audio cache only grows on its own: an edited, moved or copied corpus is decoded again under
new keys, and nothing removes the entries of the old files. Each entry's ``.src`` note names the
file it was decoded from, so an entry is *stale* when that file is gone or changed, or when it
was decoded by another recipe; entries without a note were written before notes existed
(*unknown*). Pruning removes both (they are decoded again if ever needed) and temporaries left
by writes killed more than a day ago. The synthetic corpora under the cache are listed, not pruned.

Only files the cache itself writes count: ``audio16k/<aa>/<sha1>.{npy,bad,src}`` with ``aa`` the
hash's first two digits, and their ``.<name>.*.tmp`` temporaries. Anything else is left alone, and
no symbolic link to a folder is followed (a linked folder is skipped and said so).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from peftser.downstream.audio import FLAW_NOTE, RECIPE, SOURCE_NOTE, default_cache_dir

ENTRY_SUFFIXES = (".npy", ".bad", FLAW_NOTE, SOURCE_NOTE)
_SUFFIX = "|".join(re.escape(s[1:]) for s in ENTRY_SUFFIXES)
ENTRY_NAME = re.compile(rf"([0-9a-f]{{40}})\.({_SUFFIX})")  # what audio.py names an entry
TEMPORARY_NAME = re.compile(rf"\.([0-9a-f]{{40}})\.({_SUFFIX})\..+\.tmp")  # and its atomic write's temporary
FOLDER_NAME = re.compile(r"[0-9a-f]{2}")
LEFTOVER_AGE_S = 24 * 3600  # a temporary file older than this belongs to no live write


@dataclass
class Part:
    """Files of one kind in the cache and their size."""

    entries: int = 0
    bytes: int = 0
    files: list[Path] = field(default_factory=list)

    def add(self, files: list[Path], size: int) -> None:
        self.entries += 1
        self.bytes += size
        self.files += files


@dataclass
class Survey:
    """The audio cache, sorted by whether its entries are still of use."""

    root: Path
    live: Part = field(default_factory=Part)
    stale: Part = field(default_factory=Part)
    unknown: Part = field(default_factory=Part)
    leftovers: Part = field(default_factory=Part)
    synthetic: dict[str, int] = field(default_factory=dict)  # corpus folder -> bytes
    skipped: list[str] = field(default_factory=list)  # linked folders, one line each


def survey(cache_root: Path | None = None) -> Survey:
    """Look at every file of the cache under ``cache_root`` (default: $PEFTSER_CACHE or ~/.cache/peftser)."""
    root = Path(cache_root) if cache_root is not None else default_cache_dir()
    result = Survey(root)
    entries: dict[Path, list[Path]] = defaultdict(list)
    audio = root / "audio16k"
    now = time.time()
    for path in _cache_files(audio, result.skipped):
        if TEMPORARY_NAME.fullmatch(path.name):
            if now - path.lstat().st_mtime > LEFTOVER_AGE_S:
                result.leftovers.add([path], path.lstat().st_size)
        else:
            entries[path.with_suffix("")].append(path)
    for stem, files in entries.items():
        size = sum(f.stat().st_size for f in files)
        _part(result, stem.with_suffix(SOURCE_NOTE)).add(files, size)
    synthetic = root / "synthetic"
    for folder in sorted(synthetic.iterdir()) if synthetic.is_dir() else []:
        if folder.is_dir():
            result.synthetic[folder.name] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return result


def _linked(path: Path, skipped: list[str]) -> bool:
    if path.is_symlink():
        skipped.append(f"skipped {path}: a symbolic link, not followed (the cache writes none)")
        return True
    return False


def _cache_files(audio: Path, skipped: list[str]) -> list[Path]:
    """The regular files under ``audio`` named as the cache names its entries and temporaries, in
    folders named as the cache names them; linked folders (``audio`` itself too) are skipped."""
    if _linked(audio, skipped) or not audio.is_dir():
        return []
    files = []
    for folder in sorted(audio.iterdir()):
        if _linked(folder, skipped) or not FOLDER_NAME.fullmatch(folder.name) or not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            entry = ENTRY_NAME.fullmatch(path.name) or TEMPORARY_NAME.fullmatch(path.name)
            if entry and entry.group(1)[:2] == folder.name and not path.is_symlink() and path.is_file():
                files.append(path)
    return files


def _part(result: Survey, note: Path) -> Part:
    try:
        source = json.loads(note.read_text())
    except FileNotFoundError:
        return result.unknown
    except (OSError, ValueError):
        return result.stale  # a damaged note: the entry cannot be trusted to match its file
    try:
        stat = os.stat(source["path"])
    except (OSError, KeyError, TypeError):
        return result.stale
    same = (source.get("recipe"), source.get("size"), source.get("mtime_ns")) == (RECIPE, stat.st_size, stat.st_mtime_ns)
    return result.live if same else result.stale


def remove_stale(found: Survey) -> tuple[int, int]:
    """Delete the stale and unknown entries and old temporaries; (entries, bytes) removed."""
    removed = 0
    for part in (found.stale, found.unknown, found.leftovers):
        for path in part.files:
            path.unlink(missing_ok=True)
        removed += part.bytes
    for folder in sorted({path.parent for part in (found.stale, found.unknown, found.leftovers) for path in part.files}):
        try:
            if not any(folder.iterdir()):
                folder.rmdir()  # a hash folder the cache made, emptied by this prune
        except OSError:
            pass  # a writer put a new entry in it meanwhile
    return found.stale.entries + found.unknown.entries + found.leftovers.entries, removed


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def report(found: Survey) -> str:
    """What --cache-info prints."""
    where = "$PEFTSER_CACHE" if os.environ.get("PEFTSER_CACHE") else "the default; $PEFTSER_CACHE moves it"
    lines = [f"cache: {found.root} ({where})", f"audio (decoded 16 kHz clips, 64 kB per second of audio): {found.root / 'audio16k'}"]
    rows = (
        ("in use", found.live, "their source files are unchanged"),
        ("stale", found.stale, "source file moved, deleted or edited, or decoded by another recipe; "
                               "a corpus on an unmounted disk counts as moved"),
        ("unknown", found.unknown, "written before entries named their source file"),
        ("interrupted writes", found.leftovers, f"temporary files older than {LEFTOVER_AGE_S // 3600} h"),
    )
    for name, part, why in rows:
        lines.append(f"  {name}: {part.entries} entr{'y' if part.entries == 1 else 'ies'}, {_size(part.bytes)} ({why})")
    reclaim = found.stale.bytes + found.unknown.bytes + found.leftovers.bytes
    lines.append(f"  --cache-prune would remove all but 'in use': {_size(reclaim)}")
    if found.synthetic:
        corpora = ", ".join(f"{name} {_size(size)}" for name, size in found.synthetic.items())
        lines.append(f"synthetic corpora (kept by --cache-prune): {found.root / 'synthetic'}: {corpora}")
    total = found.live.bytes + reclaim + sum(found.synthetic.values())
    lines.append(f"total: {_size(total)}")
    return "\n".join(lines)


def cache_command(*, prune: bool = False) -> int:
    """``--cache-info`` prints the survey; ``--cache-prune`` (``prune``) removes what is of no use."""
    found = survey()
    for line in found.skipped:
        print(line)
    if prune:
        entries, size = remove_stale(found)
        print(f"removed {entries} stale or unknown cache entr{'y' if entries == 1 else 'ies'} ({_size(size)}) from "
              f"{found.root / 'audio16k'}; kept {found.live.entries} in use ({_size(found.live.bytes)})")
    else:
        print(report(found))
    return 0
