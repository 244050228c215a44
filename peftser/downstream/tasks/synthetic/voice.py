"""The synthetic corpus' voice: a small source-filter speech synthesiser, in numpy.

Each clip is a glottal pulse train (Rosenberg pulses) at the speaker's F0 with a phrase
intonation contour (declination plus pitch accents) and aspiration noise, shaped per syllable by
a cascade of vowel formant resonators scaled by the speaker's vocal-tract length, with consonant
noise bursts, pauses and background noise. Speakers differ by gender (F0 and formant ranges),
loudness, speaking rate, pitch range, microphone colour and how strongly they express emotion.
What it models is acted emotional speech of short phrases (2-4 syllables, about a second)
recorded at a fixed gain in a quiet room, by actors who express emotions strongly
(expressiveness 0.75-1): angry is loud, fast, high and tense (short open phase, bright
spectrum); happy is high with a wide pitch range; sad is slow, low, quiet, narrow-ranged and
breathy, with long pauses; neutral is the speaker's baseline. Per-utterance variation keeps the
classes overlapping. The cues are deliberately clearer than in real corpora, so that a short
demo schedule on tiny random-weight encoders learns something.

Any change to the audio this writes must bump ``lifecycle.GENERATOR_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from peftser.downstream.audio import SAMPLE_RATE

CLIP_QUANTUM_S = 0.25  # clip lengths are whole multiples of this


@dataclass(frozen=True)
class Voice:
    """A speaker's habitual voice."""

    f0: float  # Hz
    formant_scale: float  # shorter vocal tract -> higher formants
    level_db: float
    rate: float  # syllable-rate multiplier
    pitch_range: float  # semitones
    expressiveness: float  # 0..1: how much emotion moves this speaker's prosody
    colour: float  # first-order microphone/channel tilt


@dataclass(frozen=True)
class Prosody:
    """How an emotion moves prosody at full expressiveness, relative to the speaker's baseline."""

    f0_shift: float  # semitones
    range_scale: float
    rate_scale: float
    level_db: float
    open_quotient: float  # glottal open phase: low = tense and bright, high = lax and breathy
    breathiness: float
    pause_prob: float


PROSODY = {
    "neutral": Prosody(0.0, 0.7, 1.0, 0.0, 0.60, 0.05, 0.20),
    "happy": Prosody(5.0, 2.5, 1.15, 4.0, 0.50, 0.05, 0.10),
    "sad": Prosody(-3.0, 0.35, 0.6, -8.0, 0.78, 0.30, 0.60),
    "angry": Prosody(3.0, 1.3, 1.45, 10.0, 0.32, 0.02, 0.0),
    # Beyond the paper's four, for the six-class EmoBox-layout twin: fear high, fast and breathy,
    # disgust low, slow and tense.
    "fear": Prosody(6.0, 1.8, 1.3, 2.0, 0.55, 0.25, 0.30),
    "disgust": Prosody(-2.0, 0.9, 0.75, 4.0, 0.38, 0.10, 0.40),
}
# Adult male vowel formants F1-F3 (Peterson & Barney averages), Hz.
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (570, 840, 2410), (440, 1020, 2240), (660, 1720, 2410), (490, 1350, 1690))
BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)
REFERENCE_RMS = 0.05  # speech level at 0 dB


def make_voice(rng: np.random.Generator, gender: str) -> Voice:
    """A random speaker of the given gender."""
    female = gender == "female"
    return Voice(
        f0=rng.uniform(175, 240) if female else rng.uniform(95, 140),
        formant_scale=rng.normal(1.17 if female else 1.0, 0.04),
        level_db=rng.normal(0.0, 1.5),
        rate=rng.normal(1.0, 0.1),
        pitch_range=rng.uniform(2.0, 3.5),
        expressiveness=rng.uniform(0.75, 1.0),
        colour=rng.uniform(-0.2, 0.4),
    )


def _resonator(freq: float, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """A two-pole resonance with unit gain at DC (a Klatt formant)."""
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    a = np.array([1.0, -2.0 * r * np.cos(2.0 * np.pi * freq / SAMPLE_RATE), r * r])
    return np.array([a.sum()]), a


def _cascade(freqs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    b, a = np.ones(1), np.ones(1)
    for freq, bandwidth in zip(freqs, BANDWIDTHS):
        rb, ra = _resonator(min(freq, 0.45 * SAMPLE_RATE), bandwidth)
        b, a = np.convolve(b, rb), np.convolve(a, ra)
    return b, a


def _rosenberg(phase: np.ndarray, open_quotient: float) -> np.ndarray:
    """Glottal flow over one period (phase in [0, 1)): opening, closing, then closed."""
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    opening = 0.5 * (1.0 - np.cos(np.pi * phase / rise))
    closing = np.cos(np.pi * np.clip(phase - rise, 0.0, fall) / (2.0 * fall))
    return np.where(phase < rise, opening, np.where(phase < rise + fall, closing, 0.0))


@dataclass(frozen=True)
class _Utterance:
    f0: float
    pitch_range: float
    rate: float
    level_db: float
    open_quotient: float
    breathiness: float
    pause_prob: float


def _utterance_prosody(rng: np.random.Generator, voice: Voice, emotion: str) -> _Utterance:
    p, e = PROSODY[emotion], voice.expressiveness
    return _Utterance(
        f0=voice.f0 * 2.0 ** ((e * p.f0_shift + rng.normal(0.0, 0.8)) / 12.0),
        pitch_range=voice.pitch_range * (1.0 + e * (p.range_scale - 1.0)) * rng.lognormal(0.0, 0.25),
        rate=voice.rate * (1.0 + e * (p.rate_scale - 1.0)) * rng.normal(1.0, 0.08),
        level_db=voice.level_db + e * p.level_db + rng.normal(0.0, 1.5),
        open_quotient=float(np.clip(0.6 + e * (p.open_quotient - 0.6) + rng.normal(0.0, 0.03), 0.3, 0.8)),
        breathiness=p.breathiness * rng.lognormal(0.0, 0.3),
        pause_prob=p.pause_prob,
    )


def _seconds(x: float) -> int:
    return max(1, int(round(x * SAMPLE_RATE)))


def _timeline(rng: np.random.Generator, u: _Utterance) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
    """Length in samples, vowel spans and consonant spans: syllables, pauses, edge silences."""
    t = _seconds(rng.uniform(0.05, 0.15))
    vowels, consonants = [], []
    n_syllables = int(rng.integers(2, 5))
    for index in range(n_syllables):
        if rng.random() < 0.7:
            length = _seconds(rng.uniform(0.03, 0.07) / u.rate)
            consonants.append((t, t + length))
            t += length
        length = _seconds(rng.uniform(0.09, 0.2) / u.rate)
        vowels.append((t, t + length))
        t += length
        if index < n_syllables - 1 and rng.random() < u.pause_prob:
            t += _seconds(rng.uniform(0.06, 0.2) / u.rate)
    return t + _seconds(rng.uniform(0.05, 0.15)), vowels, consonants


def _envelope(length: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(length)
    attack, release = min(attack, length // 2), min(release, length // 2)
    env[:attack] = np.linspace(0.0, 1.0, attack, endpoint=False)
    if release:
        env[length - release :] = np.linspace(1.0, 0.0, release)
    return env


def _pitch_contour(rng: np.random.Generator, u: _Utterance, n: int, vowels: list[tuple[int, int]]) -> np.ndarray:
    """F0 in Hz per sample: declination, one accent on some syllables, slow wobble."""
    semitones = np.linspace(0.3, -0.5, n) * u.pitch_range
    for start, end in vowels:
        if rng.random() < 0.5:
            width = end - start
            lo, hi = max(0, start - width // 2), min(n, end + width // 2)
            semitones[lo:hi] += rng.uniform(0.3, 1.0) * u.pitch_range * np.hanning(hi - lo)
    wobble = lfilter([0.002], [1.0, -0.998], rng.normal(0.0, 1.0, n))
    return u.f0 * 2.0 ** ((semitones + 3.0 * wobble) / 12.0)


def attributes(voice: Voice, u: _Utterance) -> tuple[float, float, float]:
    """(arousal, valence, dominance) in [0, 1] of an utterance, a fixed function of its prosody.

    No draw of its own, so adding ratings left every clip as it was. Arousal follows loudness and
    speaking rate; valence the pitch contour (raised, wide-ranged pitch is positive, lowered,
    flat pitch negative), less for a tense voice; dominance loudness and a tense voice.
    """
    shift = 12.0 * np.log2(u.f0 / voice.f0)  # semitones above the speaker's habitual pitch
    spread = np.log2(u.pitch_range / voice.pitch_range)
    tension = 0.6 - u.open_quotient  # > 0: a pressed, bright voice
    raw = (u.level_db / 8.0 + 2.0 * (u.rate - 1.0),
           spread + shift / 6.0 - 4.0 * tension,
           u.level_db / 8.0 + 4.0 * tension)
    return tuple(float(0.5 + 0.5 * np.tanh(r / 1.5)) for r in raw)


def synthesize(rng: np.random.Generator, voice: Voice, emotion: str) -> np.ndarray:
    """One utterance of ``voice`` speaking with ``emotion``: float32 samples at 16 kHz."""
    return synthesize_rated(rng, voice, emotion)[0]


def synthesize_rated(rng: np.random.Generator, voice: Voice, emotion: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """``synthesize``'s clip and its ``attributes`` (arousal, valence, dominance in [0, 1])."""
    u = _utterance_prosody(rng, voice, emotion)
    n, vowels, consonants = _timeline(rng, u)
    f0 = _pitch_contour(rng, u, n, vowels)
    flow = _rosenberg(np.cumsum(f0 / SAMPLE_RATE) % 1.0, u.open_quotient)
    source = np.diff(flow, prepend=0.0) + u.breathiness * flow * rng.normal(0.0, 1.0, n)
    speech = np.zeros(n + _seconds(0.05))
    for start, end in vowels:
        formants = VOWELS[int(rng.integers(len(VOWELS)))] + (3500.0,)
        b, a = _cascade(tuple(f * voice.formant_scale for f in formants))
        segment = source[start:end] * _envelope(end - start, _seconds(0.015), _seconds(0.03))
        # Filter with a tail so the resonances ring out instead of being cut.
        speech[start : end + _seconds(0.05)] += lfilter(b, a, np.pad(segment, (0, _seconds(0.05))))[: len(speech) - start]
    vowel_rms = np.sqrt(np.mean(speech**2)) + 1e-9
    for start, end in consonants:
        b, a = _resonator(rng.uniform(2500, 6000) * np.sqrt(voice.formant_scale), rng.uniform(1500, 2500))
        # Differenced noise: frication has little energy below the resonance.
        noise = np.diff(rng.normal(0.0, 1.0, end - start + 1))
        burst = lfilter(b, a, noise) * _envelope(end - start, _seconds(0.005), _seconds(0.02))
        burst_gain = (0.5 - 0.4 * u.open_quotient) * vowel_rms / (np.sqrt(np.mean(burst**2)) + 1e-9)
        speech[start:end] += burst_gain * burst
    speech = lfilter([1.0, -voice.colour], [1.0], speech[:n])
    speech *= REFERENCE_RMS * 10.0 ** (u.level_db / 20.0) / (np.sqrt(np.mean(speech**2)) + 1e-9)
    # Trailing silence up to a whole quarter second: clips then share a few lengths, so the
    # evaluation batches (clips sorted by length) hold little padding.
    total = -(-n // _seconds(CLIP_QUANTUM_S)) * _seconds(CLIP_QUANTUM_S)
    speech = np.pad(speech, (0, total - n))
    background = lfilter([1.0], [1.0, -0.95], rng.normal(0.0, 1.0, total))
    background *= REFERENCE_RMS * 10.0 ** (-rng.uniform(28.0, 35.0) / 20.0) / np.sqrt(np.mean(background**2))
    wave = speech + background
    peak = np.abs(wave).max()
    return (wave * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32), attributes(voice, u)
