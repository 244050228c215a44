"""What a corpus declares about its synthetic twin, beside its reader: the twin's speakers, clips
per speaker and the writer of its layout (``Corpus.twin``), and what that writer is given (every
``Recording``, and ``CorpusFiles`` to write through; given no root, it only lists the paths it
would write: a dry run).

The synthetic package (``tasks/synthetic``) does the rest for every corpus that declares one: it
synthesises the clips, has the writer lay them out with their label files as the corpus does, and
registers ``synthetic_<name>``, the corpus' own reader reading them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import soundfile

from peftser.downstream.task import EMOTIONS
from peftser.files import writing
from peftser.sample_rate import SAMPLE_RATE


# -- what a layout writer is given: the clips, and where to put the files -------------------------
@dataclass(frozen=True)
class Recording:
    """One generated clip and who said it."""

    speaker: str
    gender: str
    index: int  # the clip's number within its speaker
    emotion: str
    wave: np.ndarray
    attributes: tuple[float, float, float] = (0.5, 0.5, 0.5)  # arousal, valence, dominance in [0, 1]

    def rated(self, low: float, high: float) -> tuple[str, str, str]:
        """Arousal, valence and dominance on a corpus' rating scale, as its label file writes them."""
        return tuple(f"{low + a * (high - low):.4f}" for a in self.attributes)


class CorpusFiles:
    """Where a layout writer puts a corpus' files: under ``root`` on disk, or, with no root, only
    in the list of paths (a dry run, which tells what the generator owns in a folder)."""

    def __init__(self, root: Path | None):
        self.root = root
        self.written: list[str] = []  # paths relative to the root, "/"-separated

    def wav(self, relative: str, wave: np.ndarray) -> None:
        if self.root is not None:
            # Encoded in memory: libsndfile's own file writer syncs to disk on close, ten times slower.
            buffer = io.BytesIO()
            soundfile.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            self._put(relative, buffer.getvalue())
        self.written.append(relative)

    def text(self, relative: str, text: str) -> None:
        if self.root is not None:
            self._put(relative, text.encode("utf-8"))
        self.written.append(relative)

    def _put(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        with writing("the synthetic corpus", path):  # a full disk names the file and says so
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@dataclass(frozen=True)
class Twin:
    """A corpus' synthetic twin: its speakers (id, gender), clips per speaker and layout writer.

    The writer is given every clip (``Recording``: speaker, gender, index, emotion, wave and
    attribute ratings) and writes the corpus' files through ``CorpusFiles.wav`` and ``.text``; a
    change to what it writes must bump ``synthetic.lifecycle.GENERATOR_VERSION``.
    """

    speakers: tuple[tuple[str, str], ...]
    per_speaker: int
    write: Callable[[CorpusFiles, list[Recording]], None]
    # Path patterns of the files older generator versions wrote, so that such a corpus whose marker
    # predates the list of files is still recognised file by file (and replaced).
    legacy: tuple[str, ...] = ()
    # Class attributes the twin's reader takes instead of the corpus' (a fixed list of actors to
    # fold over becomes the twin's own).
    overrides: dict[str, Any] = field(default_factory=dict)

    def emotion(self, speaker_index: int, clip_index: int) -> str:
        """Emotions rotate within and across speakers, so every class is (nearly) equally common."""
        return EMOTIONS[(clip_index + speaker_index) % len(EMOTIONS)]

    def total(self) -> int:
        """Clips in the corpus."""
        return len(self.speakers) * self.per_speaker

    def counts(self) -> dict[str, int]:
        """Clips per class."""
        counts = dict.fromkeys(EMOTIONS, 0)
        for s in range(len(self.speakers)):
            for i in range(self.per_speaker):
                counts[self.emotion(s, i)] += 1
        return counts


def alternating(ids: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Speakers ``ids``, female and male in turn."""
    return tuple((s, ("female", "male")[i % 2]) for i, s in enumerate(ids))
