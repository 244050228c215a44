"""Artifacts refuse what would give wrong answers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

import peftser
from peftser.benchmark.artifact import load_artifact
from peftser.cli import main
from peftser.downstream.audio import AudioError




pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def edited(artifact, tmp_path, edit):
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    config = json.loads((copy / "adapter_config.json").read_text())
    edit(config)
    (copy / "adapter_config.json").write_text(json.dumps(config))
    return copy


def wav(path, scale: float, subtype: str = "FLOAT"):
    rng = np.random.default_rng(0)
    sf.write(path, (scale * rng.standard_normal(8000)).astype(np.float32), 16000, subtype=subtype)
    return path


# -- 3: samples far outside [-1, 1] --------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e30, 1e37])
def test_predict_refuses_a_file_whose_samples_are_far_outside_audio_range(artifact, tmp_path, capsys, scale):
    huge, good = wav(tmp_path / "huge.wav", scale), wav(tmp_path / "good.wav", 0.1)
    assert main(["--predict", str(artifact), str(huge), str(good)]) == 2
    out, err = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(good)]
    assert f"error: {huge}: samples reach" in err and "far outside the [-1, 1] of audio" in err and "nan" not in out.lower()


def test_the_api_raises_or_reports_samples_far_outside_audio_range(artifact):
    model = peftser.load(artifact, device="cpu")
    samples = np.full(8000, 3e37, dtype=np.float32)
    with pytest.raises(AudioError, match=r"input 0: samples reach 3e\+37, far outside the \[-1, 1\] of audio"):
        model.predict(samples, sample_rate=16000)
    bad, fine = model.predict([samples, 0.1 * np.ones(8000, np.float32)], sample_rate=16000, errors="report")
    assert bad.label is None and "far outside" in bad.error and fine.label is not None


# -- 4: a missing checksum -----------------------------------------------------------------------
def test_a_deleted_checksum_is_an_error_unless_skipped_explicitly(artifact, tmp_path, capsys):
    copy = edited(artifact, tmp_path, lambda c: c.pop("weights_sha256"))
    with pytest.raises(ValueError, match="has no weights_sha256"):
        peftser.load(copy, device="cpu")
    with pytest.raises(ValueError, match="has no weights_sha256"):
        load_artifact(copy)
    assert peftser.load(copy, device="cpu", verify=False).labels
    clip = wav(tmp_path / "a.wav", 0.1)
    assert main(["--predict", str(copy), str(clip)]) == 2
    assert "has no weights_sha256" in capsys.readouterr().err
    assert main(["--predict", str(copy), str(clip), "--no-verify"]) == 0


def test_no_verify_belongs_to_predict_only(capsys):
    assert main(["--leaderboard", "--no-verify"]) == 2
    assert "--no-verify applies to --predict and --export, not --leaderboard" in capsys.readouterr().err


def test_no_verify_still_refuses_a_config_that_cannot_build_the_model(artifact, tmp_path):
    copy = edited(artifact, tmp_path, lambda c: c["head"].update(hidden=-5))
    with pytest.raises(ValueError, match="head.hidden is -5"):
        peftser.load(copy, device="cpu", verify=False)


_CELL = {"upstream": "demo_whisper_tiny", "method": "lora", "task": "crema_d", "training": "fold1"}


# -- 10: the config's values ---------------------------------------------------------------------
BAD = [
    ("head", lambda c: c.update(head="big"), "head is 'big'"),
    ("head.hidden", lambda c: c["head"].update(hidden=-5), "head.hidden is -5"),
    ("head.hidden text", lambda c: c["head"].update(hidden="16"), "head.hidden is '16'"),
    ("head.dropout", lambda c: c["head"].update(dropout=1.5), "head.dropout is 1.5"),
    ("max_seconds 0", lambda c: c.update(max_seconds=0), "max_seconds is 0"),
    ("max_seconds -1", lambda c: c.update(max_seconds=-1), "max_seconds is -1"),
    ("max_seconds null", lambda c: c.update(max_seconds=None), "max_seconds is None"),
    ("method_args rank", lambda c: c["method_args"].update(rank="x"), "method_args: rank must be"),
    ("method_args unknown", lambda c: c["method_args"].update(colour=1), "method_args: method 'lora' has no argument"),
    ("method_args list", lambda c: c.update(method_args=[1]), "method_args is [1]"),
    ("weights_sha256 number", lambda c: c.update(weights_sha256=123), "weights_sha256 is 123"),
    ("one class", lambda c: c.update(classes=["neutral"]), "classes is ['neutral']"),
    ("six classes", lambda c: c.update(classes=c["classes"] + ["fear", "disgust"]), "classes is"),
    # An artifact names the cell it was trained as: its classes must be that task's, in order.
    ("reordered classes", lambda c: c.update(classes=c["classes"][::-1], cell=_CELL), "not task crema_d's classes"),
    ("upstream_args", lambda c: c.update(upstream_args="x"), "upstream_args is 'x'"),
    ("pretrained", lambda c: c.update(pretrained="yes"), "pretrained is 'yes'"),
    ("not an object", None, "holds list"),
]


@pytest.mark.parametrize("what,edit,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_config_value_is_one_line_naming_the_field(artifact, tmp_path, capsys, what, edit, message):
    if edit is None:
        copy = edited(artifact, tmp_path, lambda c: None)
        (copy / "adapter_config.json").write_text("[1, 2]")
    else:
        copy = edited(artifact, tmp_path, edit)
    with pytest.raises(ValueError, match="adapter_config.json") as err:
        load_artifact(copy)
    assert message in str(err.value)
    assert main(["--predict", str(copy), str(wav(tmp_path / "a.wav", 0.1))]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and message in err_text


# -- integer PCM and the scale of samples --------------------------------------------------------
def _speechlike(n: int = 8000) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (0.3 * np.sin(np.arange(n) * 2 * np.pi * 220 / 16000) * rng.uniform(0.2, 1.0, n)).astype(np.float32)


@pytest.mark.parametrize("dtype, offset, full_scale", [
    (np.int16, 0, 2**15), (np.int32, 0, 2**31), (np.int8, 0, 2**7), (np.uint8, 128, 2**7),
])
def test_integer_pcm_is_scored_as_its_decoded_file_is(artifact, tmp_path, dtype, offset, full_scale):
    model = peftser.load(artifact, device="cpu")
    pcm = np.round(_speechlike() * (full_scale - 1) + offset).astype(dtype)
    decoded = ((pcm.astype(np.float64) - offset) / full_scale).astype(np.float32)
    expected = model.predict(decoded, sample_rate=16000).probabilities
    for given in (pcm, torch.from_numpy(pcm)):
        assert model.predict(given, sample_rate=16000).probabilities == pytest.approx(expected, abs=1e-6)
    if dtype is np.int16:  # the same samples written as a 16-bit WAV and decoded by the harness
        sf.write(tmp_path / "pcm16.wav", pcm, 16000, subtype="PCM_16")
        assert model.predict(tmp_path / "pcm16.wav").probabilities == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("samples", [np.ones(8000, np.int64), np.ones(8000, bool), np.ones(8000, np.complex64)])
def test_arrays_that_are_not_audio_samples_are_refused_by_position(artifact, samples):
    model = peftser.load(artifact, device="cpu")
    with pytest.raises(AudioError, match=f"input 1: samples of dtype {samples.dtype} are not audio"):
        model.predict([_speechlike(), samples], sample_rate=16000)


@pytest.mark.parametrize("scale", [32767.0, 1e10])
def test_float_samples_far_outside_audio_range_get_no_label(artifact, scale):
    model = peftser.load(artifact, device="cpu")
    assert model.predict(_speechlike(), sample_rate=16000).label is not None
    [loud] = model.predict([_speechlike() * scale], sample_rate=16000, errors="report")
    assert loud.label is None and "far outside the [-1, 1] of audio" in loud.error
