"""Audio preparation: 16 kHz mono float32, decoded once and cached, clear errors for bad files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from peftser.downstream import audio, decode
from peftser.downstream.audio import AudioError, check_audio, clear_memory_cache, default_cache_dir, load_audio


pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def tone(rate: int, seconds: float, freq: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(wave: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PEFTSER_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("PEFTSER_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "peftser"


def test_resamples_to_16k_and_keeps_the_signal(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(44100, 0.5, 440.0), 44100, subtype="FLOAT")
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == 8000  # 0.5 s at 16 kHz
    assert dominant_frequency(wave) == pytest.approx(440.0, abs=5.0)
    # Resampling keeps the level: RMS of a 0.5 sine is 0.354 (edges aside).
    assert np.sqrt(np.mean(wave[500:-500] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_stereo_is_downmixed_by_the_channel_mean(tmp_path):
    left, right = tone(16000, 0.25, 300.0, 0.6), tone(16000, 0.25, 1000.0, 0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-6)


def test_stereo_at_another_rate_is_downmixed_then_resampled(tmp_path):
    left, right = tone(8000, 0.5, 200.0, 0.4), tone(8000, 0.5, 200.0, 0.2)
    path = tmp_path / "stereo8k.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    wave = load_audio(path)
    assert len(wave) == 8000
    assert dominant_frequency(wave) == pytest.approx(200.0, abs=5.0)
    assert np.abs(wave[1000:-1000]).max() == pytest.approx(0.3, rel=0.03)


def test_max_seconds_keeps_the_start(tmp_path):
    path = tmp_path / "long.wav"
    samples = np.linspace(-0.5, 0.5, 48000, dtype=np.float32)
    soundfile.write(str(path), samples, 16000, subtype="FLOAT")
    cut = load_audio(path, max_seconds=1.0)
    np.testing.assert_array_equal(cut, samples[:16000])
    assert len(load_audio(path)) == 48000  # the cache holds the whole clip
    with pytest.raises(ValueError, match="max_seconds"):
        load_audio(path, max_seconds=0)


def test_second_load_reads_the_disk_cache_without_decoding(tmp_path, monkeypatch, cache):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(22050, 0.3, 330.0), 22050)
    first = load_audio(path)
    assert len(list(cache.rglob("*.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(soundfile, "read", no_decoding)
    monkeypatch.setattr(decode.soxr, "resample", no_decoding)
    clear_memory_cache()
    np.testing.assert_array_equal(load_audio(path), first)
    assert check_audio(path) is None


def test_second_load_in_process_does_not_touch_the_disk(tmp_path, monkeypatch):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(16000, 0.3, 330.0), 16000)
    first = load_audio(path)

    def no_disk(*args, **kwargs):
        raise AssertionError("read from disk")

    monkeypatch.setattr(np, "load", no_disk)
    monkeypatch.setattr(soundfile, "read", no_disk)
    np.testing.assert_array_equal(load_audio(path), first)


def test_returned_clip_is_a_copy(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(16000, 0.2, 330.0), 16000)
    wave = load_audio(path)
    wave[:] = 0.0  # e.g. an in-place time mask
    assert np.abs(load_audio(path)).max() > 0.4


def test_a_changed_file_is_decoded_again(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(16000, 0.2, 330.0), 16000)
    load_audio(path)
    soundfile.write(str(path), tone(16000, 0.4, 330.0), 16000)
    os.utime(path, ns=(1, 2_000_000_000))  # a different mtime even on coarse clocks
    assert len(load_audio(path)) == 6400


def test_explicit_cache_dir_is_used(tmp_path, cache):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(16000, 0.2, 330.0), 16000)
    load_audio(path, cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine").rglob("*.npy"))) == 1
    assert not cache.exists()


def write_bad(tmp_path, kind: str):
    path = tmp_path / f"{kind}.wav"
    if kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"this is not audio at all, just text" * 10)
    elif kind == "no_frames":
        soundfile.write(str(path), np.zeros((0, 1), dtype=np.float32), 16000)
    elif kind == "all_zero":
        soundfile.write(str(path), np.zeros(1600, dtype=np.float32), 16000)
    elif kind == "nan":
        samples = tone(16000, 0.1, 300.0)
        samples[50] = np.nan
        soundfile.write(str(path), samples, 16000, subtype="FLOAT")
    elif kind == "inf":
        samples = tone(16000, 0.1, 300.0)
        samples[10] = np.inf
        soundfile.write(str(path), samples, 16000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "kind, error_kind, words",
    [
        ("missing", "missing", "missing"),
        ("empty_file", "empty", "empty (0 bytes)"),
        ("garbage", "unreadable", "cannot be decoded"),
        ("no_frames", "empty", "no samples"),
        ("all_zero", "silent", "all zeros"),
        ("nan", "nan/inf", "NaN or infinite"),
        ("inf", "nan/inf", "NaN or infinite"),
    ],
)
def test_bad_audio_gives_a_clear_error(tmp_path, kind, error_kind, words):
    path = tmp_path / "missing.wav" if kind == "missing" else write_bad(tmp_path, kind)
    with pytest.raises(AudioError, match=re.escape(words)) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)
    assert caught.value.kind == error_kind
    assert isinstance(caught.value, ValueError)
    assert words in check_audio(path)
    # The verdict is remembered; asking again gives the same answer without decoding.
    clear_memory_cache()
    with pytest.raises(AudioError, match=re.escape(words)):
        load_audio(path)


def test_check_audio_passes_a_good_file_and_caches_it(tmp_path, cache):
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), tone(44100, 0.2, 330.0), 44100)
    assert check_audio(path) is None
    assert len(list(cache.rglob("*.npy"))) == 1


def test_audio_shorter_than_one_encoder_frame_is_a_clear_error(tmp_path, monkeypatch):
    from peftser.downstream.audio import AudioError, load_audio

    monkeypatch.setenv("PEFTSER_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "click.wav"
    soundfile.write(str(path), np.full(300, 0.1, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="too short|under the") as err:
        load_audio(path)
    assert err.value.kind == "too short" and str(path) in str(err.value)


def test_flawed_clips_are_kept_and_repaired_for_scoring(tmp_path):
    """Dev and test score what the reference keeps: all zeros as they are, NaN made finite (a clip
    whose first sample is NaN is all zeros, as the reference zeroes it; other non-finite samples
    become zero), a clip under one wav2vec 2.0 frame zero-padded at its end to 400 samples."""
    signal = tone(16000, 0.1, 300.0)
    nan_first = signal.copy()
    nan_first[0] = np.nan
    short = np.full(300, 0.1, dtype=np.float32)
    files = {name: tmp_path / f"{name}.wav" for name in ("nan_first", "short")}
    soundfile.write(str(files["nan_first"]), nan_first, 16000, subtype="FLOAT")
    soundfile.write(str(files["short"]), short, 16000, subtype="FLOAT")
    files |= {kind: write_bad(tmp_path, kind) for kind in ("all_zero", "nan", "inf")}
    with_nan, with_inf = signal.copy(), signal.copy()
    with_nan[50], with_inf[10] = 0.0, 0.0
    expected = {
        "all_zero": np.zeros(1600, dtype=np.float32),
        "nan": with_nan,
        "inf": with_inf,
        "nan_first": np.zeros_like(signal),
        "short": np.concatenate([short, np.zeros(100, dtype=np.float32)]),
    }
    kinds = {"all_zero": "silent", "nan": "nan/inf", "inf": "nan/inf", "nan_first": "nan/inf", "short": "too short"}
    for name, path in files.items():
        problem = audio.audio_problem(path)
        assert problem.kind == kinds[name] and problem.repairable
        for _ in range(2):  # decoded, then from the disk cache with its note
            clear_memory_cache()
            with pytest.raises(AudioError):
                load_audio(path)  # training's read: the flaw, as before
            np.testing.assert_array_equal(load_audio(path, repair=True), expected[name])
    assert not audio.audio_problem(write_bad(tmp_path, "garbage")).repairable


def test_a_flawed_clip_judged_unusable_by_an_older_cache_is_decoded_again(tmp_path, cache):
    path = write_bad(tmp_path, "nan")
    assert audio.audio_problem(path).kind == "nan/inf"
    (npy,) = cache.rglob("*.npy")
    npy.unlink()
    npy.with_suffix(".flaw").unlink()
    npy.with_suffix(".bad").write_text("nan/inf\taudio contains NaN or infinite samples")  # the old verdict
    clear_memory_cache()
    assert audio.audio_problem(path).repairable and np.isfinite(load_audio(path, repair=True)).all()
    assert npy.exists() and npy.with_suffix(".flaw").exists() and not npy.with_suffix(".bad").exists()


def test_a_wav_cut_off_partway_is_counted_as_truncated(tmp_path):
    whole = tmp_path / "whole.wav"
    soundfile.write(str(whole), tone(16000, 1.0, 300.0), 16000, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # e.g. a copy interrupted midway
    with pytest.raises(AudioError, match=r"cut off: 15978 of the 32000 data bytes its header declares") as caught:
        load_audio(cut)
    assert caught.value.kind == "truncated"
    assert len(load_audio(whole)) == 16000


def test_a_streamed_wav_without_a_length_is_not_truncated(tmp_path):
    path = tmp_path / "streamed.wav"
    soundfile.write(str(path), tone(16000, 0.5, 300.0), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # what a writer to a pipe leaves
    path.write_bytes(bytes(data))
    assert len(load_audio(path)) == 8000
