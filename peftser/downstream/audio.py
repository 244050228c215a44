"""Audio preparation: decode once to 16 kHz mono float32, cache on disk, never decode again.

A clip is decoded with soundfile, downmixed by the channel mean and resampled with soxr (the
reference code's torchaudio preprocessing does the same: mean over channels, then resample).
The result is saved as ``<cache_dir>/<aa>/<sha1>.npy`` where the hash covers the file's resolved
path, size and modification time, so an edited file is decoded afresh and an unchanged one never
is. A file found bad leaves a ``.bad`` note with the reason beside it, so checking a corpus twice
costs two ``stat`` calls per file.

Some clips decode but are flawed: all zeros, NaN or infinite samples, or shorter than one encoder
frame. The reference code keeps them in every split, so they are cached (made finite) with a
``.flaw`` note beside the entry: training skips them, while dev and test score them as
``load_audio(..., repair=True)`` gives them (docs/protocol.md, section 9). A ``.src`` note beside each entry names the file it was decoded
from, so that entries of moved, deleted or edited files can be found and removed
(``peftser.downstream.cache``). A small in-process LRU layer serves the clips a trainer reads
every epoch without touching the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG

import numpy as np

from peftser.downstream.decode import REPAIRABLE, AudioError, Decoded, Segment, decode, pad_to_min
from peftser.files import atomic_write, check_writable_dir, writing
from peftser.sample_rate import SAMPLE_RATE  # noqa: F401  (this module's API too)

# Bump when the decoding recipe changes so stale cache entries are never read.
RECIPE = "16k-mono-mean-soxr-hq-v3"  # v3: a WAV cut off partway is refused
SOURCE_NOTE = ".src"  # beside each entry: the source_identity it was decoded from (JSON)
FLAW_NOTE = ".flaw"  # beside an entry of a flawed clip: its kind and what is wrong
# Upper bound of the in-process layer; a corpus larger than this still works, from disk.
MEMORY_CACHE_BYTES = 512 * 2**20


def default_cache_dir() -> Path:
    """The cache root: $PEFTSER_CACHE, else ~/.cache/peftser."""
    configured = os.environ.get("PEFTSER_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "peftser"


def _audio_cache_dir(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir() / "audio16k"


def _cache_purpose() -> str:
    where = "$PEFTSER_CACHE" if os.environ.get("PEFTSER_CACHE") else "~/.cache/peftser; $PEFTSER_CACHE moves it"
    return f"the audio cache ({where})"


def check_cache_writable() -> Path:
    """Before any work starts: the audio cache can be written (an OutputError saying it is the cache)."""
    return check_writable_dir(_audio_cache_dir(None), _cache_purpose())




class _MemoryCache:
    """A byte-bounded LRU of decoded clips (with their flaws), safe to share between threads."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Decoded] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Decoded | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, item: Decoded) -> None:
        with self._lock:
            if key in self._items or item[0].nbytes > MEMORY_CACHE_BYTES:
                return
            self._items[key] = item
            self._bytes += item[0].nbytes
            while self._bytes > MEMORY_CACHE_BYTES:
                _, (dropped, _) = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_memory = _MemoryCache()


def clear_memory_cache() -> None:
    """Forget the clips held in this process (the disk cache stays)."""
    _memory.clear()


def _source_stat(path: Path) -> os.stat_result:
    """The audio file's stat, or an AudioError when it is missing or not a readable regular file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise AudioError(path, "missing", "audio file is missing") from None
    except OSError as err:
        raise AudioError(path, "unreadable", f"audio file cannot be read ({err.strerror or err})") from None
    except ValueError as err:  # a NUL byte in the name: no such file can exist
        raise AudioError(path, "unreadable", f"audio file name cannot be used ({err})") from None
    if not S_ISREG(stat.st_mode):
        raise AudioError(path, "unreadable", "is not a regular file")
    return stat


@lru_cache(maxsize=4096)
def _resolved_folder(folder: str) -> str:
    # Resolving a path costs a system call per component: done on every read of a clip, it took
    # about a tenth of a demo training. A corpus' folders stay where they are during a run, so
    # each is resolved once per process; the file itself is resolved anew when it is a link.
    return os.path.realpath(folder)


def _resolved(path: Path) -> str:
    """``path.resolve()``, with its folder's resolution remembered."""
    if path.is_symlink():
        return str(path.resolve())
    return os.path.join(_resolved_folder(os.path.abspath(path.parent)), path.name)


def source_identity(path: Path, segment: Segment = None) -> dict:
    """What a cache entry is the decoding of: the recipe and the file's resolved path, size and
    time, and for a segment of the file its start and end (each segment is an entry of its own)."""
    stat = _source_stat(path)
    identity = {"recipe": RECIPE, "path": _resolved(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if segment is not None:
        identity["segment"] = [float(segment[0]), float(segment[1])]
    return identity


def _cache_key(identity: dict) -> str:
    text = f"{identity['recipe']}|{identity['path']}|{identity['size']}|{identity['mtime_ns']}"
    if identity.get("segment") is not None:  # whole files keep the keys they always had
        text += "|segment={}-{}".format(*identity["segment"])
    return hashlib.sha1(text.encode()).hexdigest()


def _entry(cache_root: Path, key: str) -> Path:
    return cache_root / key[:2] / key


# Data sizes that writers which do not know the length in advance (pipes, RF64) put in the header.
def _read_bad_note(entry: Path, path: Path, suffix: str = ".bad") -> AudioError | None:
    note = entry.with_suffix(suffix)
    if not note.exists():
        return None
    kind, _, detail = note.read_text().partition("\t")
    if suffix == ".bad" and kind in REPAIRABLE:
        # Written before flawed clips were kept: the clip decodes, so decode it (and drop the note)
        # instead of changing the recipe, which would decode every corpus again.
        return None
    return AudioError(path, kind, detail)


def _decode_and_store(path: Path, entry: Path, identity: dict) -> Decoded:
    # The source note comes first, so every entry says which file it was decoded from (what
    # --cache-prune needs to tell entries of vanished or changed files).
    source = json.dumps(identity).encode()
    try:
        wave, flaw = decode(path, identity.get("segment"))
    except AudioError as err:
        note = f"{err.kind}\t{err.detail}".encode()
        with writing(_cache_purpose()):
            atomic_write(entry.with_suffix(SOURCE_NOTE), lambda h: h.write(source))
            atomic_write(entry.with_suffix(".bad"), lambda h: h.write(note))
        raise
    with writing(_cache_purpose()):
        atomic_write(entry.with_suffix(SOURCE_NOTE), lambda h: h.write(source))
        if flaw is not None:  # before the samples: an entry without its note would pass as sound
            note = f"{flaw.kind}\t{flaw.detail}".encode()
            atomic_write(entry.with_suffix(FLAW_NOTE), lambda h: h.write(note))
        atomic_write(entry.with_suffix(".npy"), lambda h: np.save(h, wave, allow_pickle=False))
        entry.with_suffix(".bad").unlink(missing_ok=True)  # an earlier verdict on a flawed clip
    return wave, flaw


def _load_from_disk(path: Path, entry: Path, identity: dict) -> Decoded:
    npy = entry.with_suffix(".npy")
    if npy.exists():
        try:
            return np.load(npy, allow_pickle=False), _read_bad_note(entry, path, FLAW_NOTE)
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt from the source below
    bad = _read_bad_note(entry, path)
    if bad is not None:
        raise bad
    return _decode_and_store(path, entry, identity)


def load_audio(
    path: str | Path,
    *,
    max_seconds: float | None = None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    repair: bool = False,
    segment: Segment = None,
) -> np.ndarray:
    """The clip as 16 kHz mono float32 (a fresh copy), cut to its first ``max_seconds`` if given.

    A flawed clip (all zeros, NaN or infinite samples, too short) raises its AudioError, unless
    ``repair``: then it is returned as dev and test score it, made finite (``make_finite``) and,
    after the cut, zero-padded to MIN_SAMPLES (``pad_to_min``).

    ``cache=False`` decodes without reading or writing any cache (a one-off clip, e.g. a prediction,
    must not leave a copy in the corpus cache). ``segment`` (start, end seconds) reads that span of
    the file only, cached as an entry of its own.
    """
    path = Path(path)
    if not cache:
        _source_stat(path)
        wave, flaw = decode(path, segment)
    else:
        identity = source_identity(path, segment)
        key = _cache_key(identity)
        item = _memory.get(key)
        if item is None:
            item = _load_from_disk(path, _entry(_audio_cache_dir(cache_dir), key), identity)
            _memory.put(key, item)
        wave, flaw = item
    if flaw is not None and not repair:
        raise flaw
    if max_seconds is not None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        wave = wave[: int(round(max_seconds * SAMPLE_RATE))]
    if repair:
        wave = pad_to_min(wave)
    # A copy, so that in-place augmentation by a caller never alters the cached clip.
    return wave.copy()


def check_audio(path: str | Path, *, cache_dir: str | Path | None = None) -> str | None:
    """Why ``path`` is unusable or flawed audio (e.g. "audio is all zeros (no signal)"), or None if sound.

    The first check of a file decodes it fully (catching all-zero and NaN audio, not only bad
    headers) and leaves the decoded clip in the disk cache, so training never decodes it again;
    later checks only look the cache entry up.
    """
    reason = audio_problem(path, cache_dir=cache_dir)
    return None if reason is None else reason.detail


def audio_problem(path: str | Path, *, cache_dir: str | Path | None = None, segment: Segment = None) -> AudioError | None:
    """The AudioError that loading ``path`` (or its ``segment``) would raise, or None; see
    check_audio. A flawed clip's error is ``repairable``: ``load_audio(..., repair=True)`` gives its samples."""
    path = Path(path)
    try:
        identity = source_identity(path, segment)
        entry = _entry(_audio_cache_dir(cache_dir), _cache_key(identity))
        if entry.with_suffix(".npy").exists():
            return _read_bad_note(entry, path, FLAW_NOTE)
        bad = _read_bad_note(entry, path)
        if bad is not None:
            return bad
        return _decode_and_store(path, entry, identity)[1]
    except AudioError as err:
        return err
