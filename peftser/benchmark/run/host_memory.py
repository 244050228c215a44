"""The peak resident memory (RSS) this process grows by over a span of its life, such as one cell.

A worker runs many cells, and ``ru_maxrss`` is a high-water mark over the process' whole life: a
cell that needs less than an earlier one would show the earlier one's peak. So, on Linux, the
kernel's own high-water mark is reset at the span's start by writing "5" to /proc/self/clear_refs
(Linux 4.0 and later; it resets VmHWM, and with it ``ru_maxrss``, to the current RSS) and read back
from /proc/self/status at its end: every page counts, however brief the peak. Where that write is
refused, a thread samples the current RSS every ``SAMPLE_S`` instead, which can miss a peak shorter
than that; without /proc (macOS, Windows) there is no figure. The record names the way taken.

The figure is growth: the peak minus the RSS at the span's start. Memory an earlier cell freed
stays resident in glibc's arenas and would serve this cell without growth (in a demo worker most
cells then grew by 0 to 3 MB), so at the start the allocator first hands its free pages back to the
kernel (glibc's ``malloc_trim``, a few milliseconds; skipped without glibc, and the record's
measure says so). The growth is then what the span allocated beyond the process' live memory at
its start (about 30 MB for a demo cell); the interpreter, torch and the libraries loaded before it
are not in it.
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path

MB = 2**20
SAMPLE_S = 0.01
_STATUS, _CLEAR_REFS, _STATM = Path("/proc/self/status"), Path("/proc/self/clear_refs"), Path("/proc/self/statm")
_sampling: list[threading.Event] = []  # the running sampler's stop signal: a cell that raised never stopped it


def _status_mb(field: str) -> float | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def _return_free_memory() -> bool:
    """Whether the C library handed its free pages back to the kernel (glibc's malloc_trim)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process' own C library
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl without it, Windows)
        return False
    trim(0)
    return True


def _reset_high_water() -> bool:
    """Whether the kernel reset this process' VmHWM to its current RSS."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _current_rss_mb() -> float | None:
    try:
        resident_pages = int(_STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    import resource

    return resident_pages * resource.getpagesize() / MB


class PeakGrowth:
    """Start with ``start()``, end with ``stop()``: the span's peak RSS growth in MB (or None), and
    ``how`` the peak was found ("kernel high-water mark" or "sampled every 10 ms", each with
    ", after malloc_trim" where free memory was handed back first; None without a figure)."""

    def __init__(self) -> None:
        self.how: str | None = None
        self.peak_mb: float | None = None  # the process' peak RSS within the span
        self._base: float | None = None
        self._sampler: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        trimmed = ", after malloc_trim" if _return_free_memory() else ""
        self._base = _current_rss_mb()
        if self._base is None:
            return  # no /proc: no figure
        if _reset_high_water() and _status_mb("VmHWM") is not None:
            self.how = "kernel high-water mark" + trimmed
            return
        while _sampling:  # one sampler per process: an earlier span that never ended stops here
            _sampling.pop().set()
        _sampling.append(self._stopped)
        self.how, self.peak_mb = f"sampled every {SAMPLE_S * 1000:.0f} ms{trimmed}", self._base
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stopped.wait(SAMPLE_S):
            now = _current_rss_mb()
            if now is not None:
                self.peak_mb = max(self.peak_mb or 0.0, now)

    def stop(self) -> float | None:
        """The growth in MB: the span's peak RSS minus its RSS at the start; None without a figure."""
        if self._sampler is not None:
            self._stopped.set()
            self._sampler.join()
            if self._stopped in _sampling:
                _sampling.remove(self._stopped)
            self.peak_mb = max(self.peak_mb or 0.0, _current_rss_mb() or 0.0)  # the span's last moment too
        elif self.how is not None:
            self.peak_mb = _status_mb("VmHWM")
        if self._base is None or self.peak_mb is None:
            return None
        return round(max(self.peak_mb - self._base, 0.0), 1)
