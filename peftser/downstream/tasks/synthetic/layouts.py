"""The synthetic corpora's shapes and their files, written in the real corpora's layouts.

Each task has a shape (speakers, clips per speaker, the emotion of each clip) and a writer that
lays the generated clips out as the real corpus does, with its label files, so that the real
readers read them. The label files carry each clip's arousal, valence and dominance (a function
of its prosody, ``voice.attributes``) in the corpus' own attribute fields and scale. A writer given no root only lists the paths it would write (a dry run).

Any change to the files these write must bump ``lifecycle.GENERATOR_VERSION``.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from peftser.downstream.audio import SAMPLE_RATE
from peftser.downstream.task import EMOTIONS
from peftser.downstream.tasks.synthetic.voice import make_voice, synthesize_rated
from peftser.files import writing


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


@dataclass(frozen=True)
class Shape:
    """A synthetic corpus: its speakers (id, gender), clips per speaker and layout writer."""

    speakers: tuple[tuple[str, str], ...]
    per_speaker: int
    write: Callable[[CorpusFiles, list[Recording]], None]

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


_CODES = {"neutral": "N", "happy": "H", "sad": "S", "angry": "A"}  # MSP and CREMA-D vote codes
_IEMOCAP_CODES = {"neutral": ("neu",), "happy": ("hap", "exc"), "sad": ("sad",), "angry": ("ang",)}


def write_iemocap(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Session<k>/dialog/EmoEvaluation/<dialog>.txt and Session<k>/sentences/wav/<dialog>/<id>.wav."""
    dialogs: dict[tuple[str, str], list[str]] = {}
    for rec in recordings:
        session = int(rec.speaker[3:5])
        dialog = f"Ses{session:02d}{'FM'[rec.index % 2]}_impro01"  # both speakers act in both dialogs
        utt_id = f"{dialog}_{rec.speaker[-1]}{rec.index:03d}"
        out.wav(f"Session{session}/sentences/wav/{dialog}/{utt_id}.wav", rec.wave)
        start = 2.0 * rec.index
        code = _IEMOCAP_CODES[rec.emotion][rec.index // 2 % len(_IEMOCAP_CODES[rec.emotion])]
        arousal, valence, dominance = rec.rated(1.0, 5.0)
        block = (f"[{start:.4f} - {start + len(rec.wave) / SAMPLE_RATE:.4f}]\t{utt_id}\t{code}\t[{valence}, {arousal}, {dominance}]\n"
                 f"C-E1:\t{rec.emotion.capitalize()};\t()\nA-E1:\tval 3; act 3; dom  3;\t()\n\n")
        dialogs.setdefault((f"Session{session}", dialog), []).append(block)
    for (session, dialog), blocks in dialogs.items():
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        out.text(f"{session}/dialog/EmoEvaluation/{dialog}.txt", header + "".join(blocks))


def write_msp_improv(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Evalution.txt and Audio/session<k>/<sentence>/<P|R|S|T>/MSP-IMPROV-*.wav."""
    lines = []
    for rec in recordings:
        code = _CODES[rec.emotion]
        sentence, kind = f"S{rec.index % 15 + 1:02d}{code}", "PRST"[rec.index % 4]
        stem = f"IMPROV-{sentence}-{rec.speaker}-{kind}-{'FM' if rec.gender == 'female' else 'MF'}{rec.index:02d}"
        out.wav(f"Audio/session{int(rec.speaker[1:])}/{sentence}/{kind}/MSP-{stem}.wav", rec.wave)
        arousal, valence, dominance = rec.rated(1.0, 5.0)
        lines.append(f"UTD-{stem}.avi; {code}; A:{arousal}; V:{valence}; D:{dominance}; N:5;\n"
                     f"{rec.emotion.capitalize()}; A:3.000000; V:3.000000; D:3.000000;\n\n")
    out.text("Evalution.txt", "".join(lines))


_CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")


def write_crema_d(out: CorpusFiles, recordings: list[Recording]) -> None:
    """AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, VideoDemographics.csv, summaryTable.csv."""
    table = [",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n"]
    actors: dict[str, str] = {}
    for number, rec in enumerate(recordings, start=1):
        code = _CODES[rec.emotion]
        intended = {"neutral": "NEU", "happy": "HAP", "sad": "SAD", "angry": "ANG"}[rec.emotion]
        level = "XX" if rec.emotion == "neutral" else ("LO", "MD", "HI")[rec.index % 3]
        name = f"{rec.speaker}_{_CREMA_SENTENCES[rec.index % len(_CREMA_SENTENCES)]}_{intended}_{level}"
        out.wav(f"AudioWAV/{name}.wav", rec.wave)
        table.append(f"{number},{name},{code},60,{code},60,{code},60\n")
        actors[rec.speaker] = rec.gender
    out.text("processedResults/summaryTable.csv", "".join(table))
    demographics = ["ActorID,Age,Sex,Race,Ethnicity\n"]
    demographics += [f"{a},40,{g.capitalize()},Unknown,Unknown\n" for a, g in sorted(actors.items())]
    out.text("VideoDemographics.csv", "".join(demographics))


def write_msp_podcast(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Labels/labels_concensus.csv and Audios/MSP-PODCAST_<podcast>_<segment>.wav."""
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"]
    for rec in recordings:
        code = _CODES[rec.emotion]
        name = f"MSP-PODCAST_{int(rec.speaker):04d}_{rec.index + 1:04d}.wav"
        out.wav(f"Audios/{name}", rec.wave)
        arousal, valence, dominance = rec.rated(1.0, 7.0)
        rows.append(f"{name},{code},{arousal},{valence},{dominance},{rec.speaker},{rec.gender.capitalize()},{_podcast_split(rec.speaker)}\n")
    out.text("Labels/labels_concensus.csv", "".join(rows))


def _alternating(ids: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((s, ("female", "male")[i % 2]) for i, s in enumerate(ids))


# Podcast speakers 1-28 are Train, 29-36 Validation, 37-48 Test1.
_PODCAST_SPLITS = ((28, "Train"), (36, "Validation"), (48, "Test1"))


def _podcast_split(speaker: str) -> str:
    return next(split for last, split in _PODCAST_SPLITS if int(speaker) <= last)


SHAPES: dict[str, Shape] = {
    # 5 sessions x (one actress, one actor), like IEMOCAP.
    "synthetic_iemocap": Shape(
        tuple((f"Ses{k:02d}{g}", "female" if g == "F" else "male") for k in range(1, 6) for g in "FM"), 32, write_iemocap
    ),
    # 6 sessions x (one actress, one actor), like MSP-IMPROV.
    "synthetic_msp_improv": Shape(
        tuple((f"{g}{k:02d}", "female" if g == "F" else "male") for k in range(1, 7) for g in "FM"), 26, write_msp_improv
    ),
    # 40 actors, the CREMA-D fold rule over actors 1001-1040.
    "synthetic_crema_d": Shape(_alternating([str(a) for a in range(1001, 1041)]), 8, write_crema_d),
    # A fixed speaker-independent Train/Validation/Test1 split, like MSP-Podcast.
    "synthetic_msp_podcast": Shape(_alternating([str(s) for s in range(1, 49)]), 7, write_msp_podcast),
}


def make_recordings(name: str, seed: int, *, audio: bool = True) -> list[Recording]:
    """Every clip of ``name``; without ``audio``, placeholders with the same speakers and labels."""
    shape = SHAPES[name]
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
