"""A synthetic corpus' clips: every speaker's, synthesised from the seed in the shape its corpus
declares (``tasks.twin.Twin``), each with its emotion and its arousal, valence and dominance (a
function of its prosody, ``voice.attributes``), for the corpus' layout writer to lay out.
"""

from __future__ import annotations

import zlib

import numpy as np

from peftser.downstream.tasks.synthetic.voice import make_voice, synthesize_rated
from peftser.downstream.tasks.twin import Recording, Twin


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
