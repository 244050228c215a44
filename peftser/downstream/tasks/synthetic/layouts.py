"""A synthetic corpus' clips and the files its layout writer puts them in.

Each corpus with a twin declares its shape (``tasks.twin.Twin``: speakers, clips per speaker) and
a writer that lays the generated clips out as the real corpus does, with its label files, so that
the real reader reads them. The label files carry each clip's arousal, valence and dominance (a
function of its prosody, ``voice.attributes``) in the corpus' own attribute fields and scale. A
writer given no root only lists the paths it would write (a dry run).

Any change to the files the writers write must bump ``lifecycle.GENERATOR_VERSION``.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from peftser.downstream.audio import SAMPLE_RATE
from peftser.downstream.tasks.synthetic.voice import make_voice, synthesize_rated
from peftser.files import writing

if TYPE_CHECKING:
    from peftser.downstream.tasks.twin import Twin


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


def make_recordings(name: str, shape: Twin, seed: int, *, audio: bool = True) -> list[Recording]:
    """Every clip of the corpus ``name`` of that ``shape``; without ``audio``, placeholders with the
    same speakers and labels."""
    stream = zlib.crc32(name.encode())  # independent random streams per task, speaker and clip
    recordings = []
    for s, (speaker, gender) in enumerate(shape.speakers):
        voice = make_voice(np.random.default_rng([seed, stream, s]), gender) if audio else None
        for i in range(shape.per_speaker):
            emotion = shape.emotion(s, i)
            wave, rated = (synthesize_rated(np.random.default_rng([seed, stream, s, i + 1]), voice, emotion) if audio
                           else (np.zeros(1), (0.5, 0.5, 0.5)))
            recordings.append(Recording(speaker, gender, i, emotion, wave, rated))
    return recordings
