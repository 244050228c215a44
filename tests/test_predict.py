"""--predict: every good file scored, each bad one on its own line, long clips said, no cache entries."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from peftser.cli import main

pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def clip(path, seconds: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)
    return path


def test_mixed_files_score_the_good_ones_and_name_each_bad_one(artifact, tmp_path, capsys):
    good = [clip(tmp_path / "a.wav", 0.5), clip(tmp_path / "b.wav", 0.8, seed=1)]
    not_audio = tmp_path / "notaudio.wav"
    not_audio.write_text("hello")
    missing = tmp_path / "missing.wav"
    assert main(["--predict", str(artifact), str(good[0]), str(not_audio), str(missing), str(good[1])]) == 2
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in good]
    for line in lines:
        probs = [float(part.split()[1]) for part in line.split("\t")[2].split("  ")]
        assert len(probs) == 4 and abs(sum(probs) - 1) < 1e-2
    errors = err.strip().splitlines()
    assert errors == [
        f"error: {not_audio}: audio file cannot be decoded " + errors[0].split("cannot be decoded ", 1)[1],
        f"error: {missing}: audio file is missing",
        "error: 2 of 4 file(s) could not be scored",
    ]


def test_a_clip_longer_than_max_seconds_says_it_was_cut(artifact, tmp_path, capsys):
    long, short = clip(tmp_path / "long.wav", 3.0), clip(tmp_path / "short.wav", 0.5)
    assert main(["--predict", str(artifact), str(long), str(short)]) == 0
    long_line, short_line = capsys.readouterr().out.strip().splitlines()
    assert long_line.endswith("\tscored its first 1 s of 3.0 s (the model's max_seconds)")
    assert len(short_line.split("\t")) == 3


def test_predictions_leave_nothing_in_the_audio_cache(artifact, tmp_path, cache, capsys):
    assert main(["--predict", str(artifact), str(clip(tmp_path / "a.wav", 2.0))]) == 0
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_a_flipped_bit_in_the_weights_is_caught_on_load(artifact, tmp_path, capsys):
    import json
    import shutil

    from peftser.benchmark.artifact import load_artifact

    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    weights = bytearray((copy / "adapter.safetensors").read_bytes())
    weights[-3] ^= 0x01  # one bit of the last tensor's data: still a valid safetensors file
    (copy / "adapter.safetensors").write_bytes(bytes(weights))
    config = json.loads((copy / "adapter_config.json").read_text())
    assert len(config["weights_sha256"]) == 64
    with pytest.raises(ValueError, match=r"adapter.safetensors is damaged or was replaced: its sha256 .* differs"):
        load_artifact(copy)
    assert main(["--predict", str(copy), str(clip(tmp_path / "a.wav", 0.5))]) == 2
    assert "is damaged or was replaced" in capsys.readouterr().err
    load_artifact(artifact)  # the intact one loads
