"""Artifacts refuse what would give wrong answers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

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


# -- 3: non-finite scores ------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e30, 1e37])
def test_predict_refuses_a_file_whose_scores_are_not_finite(artifact, tmp_path, capsys, scale):
    huge, good = wav(tmp_path / "huge.wav", scale), wav(tmp_path / "good.wav", 0.1)
    assert main(["--predict", str(artifact), str(huge), str(good)]) == 2
    out, err = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(good)]
    assert f"error: {huge}: the model's scores are not finite" in err and "nan" not in out.lower()


def test_the_api_raises_or_reports_non_finite_scores(artifact):
    model = peftser.load(artifact, device="cpu")
    samples = np.full(8000, 3e37, dtype=np.float32)
    with pytest.raises(AudioError, match="input 0: the model's scores are not finite"):
        model.predict(samples, sample_rate=16000)
    bad, fine = model.predict([samples, 0.1 * np.ones(8000, np.float32)], sample_rate=16000, errors="report")
    assert bad.label is None and "not finite" in bad.error and fine.label is not None


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
    assert "--no-verify applies to --predict, not --leaderboard" in capsys.readouterr().err


def test_no_verify_still_refuses_a_config_that_cannot_build_the_model(artifact, tmp_path):
    copy = edited(artifact, tmp_path, lambda c: c["head"].update(hidden=-5))
    with pytest.raises(ValueError, match="head.hidden is -5"):
        peftser.load(copy, device="cpu", verify=False)


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
    ("reordered classes", lambda c: c.update(classes=c["classes"][::-1]), "classes is"),
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
