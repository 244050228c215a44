"""peftser.load on a tampered config names the field; predict's errors blame what is wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import peftser
from peftser.benchmark.artifact import artifact_config, save_artifact
from peftser.model import build_model


def _edited(downstream_artifact, tmp_path, **fields):
    copy = tmp_path / "downstream_artifact"
    shutil.copytree(downstream_artifact, copy)
    config = json.loads((copy / "adapter_config.json").read_text())
    (copy / "adapter_config.json").write_text(json.dumps({**config, **fields}))
    return copy


CELL = {"upstream": "demo_whisper_tiny", "method": "downstream", "task": "synthetic_crema_d", "training": "fold1"}


@pytest.mark.parametrize("fields, why", [
    ({"cell": "garbage"}, "cell is 'garbage', not a mapping"),
    ({"cell": {"upstream": 1}}, "cell.upstream is 1, not a name"),
    ({"cell": {**CELL, "method": "lora"}}, "cell.method is 'lora', but the artifact's method is 'downstream'"),
    ({"max_seconds": 1e306}, "max_seconds is 1e+306, not a number of seconds in (0, 3600]"),
])
def test_load_names_the_tampered_field(downstream_artifact, tmp_path, fields, why):
    with pytest.raises(ValueError) as caught:
        peftser.load(_edited(downstream_artifact, tmp_path, **fields))
    assert str(caught.value) == f"{tmp_path / 'downstream_artifact' / 'adapter_config.json'}: {why}"


def test_load_accepts_a_config_naming_its_cell(downstream_artifact, tmp_path):
    model = peftser.load(_edited(downstream_artifact, tmp_path, cell=CELL))
    assert model.cell.label == "demo_whisper_tiny/downstream/synthetic_crema_d/fold1"
    assert model.predict(0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32), sample_rate=16000).label in model.labels


def test_nan_weights_are_refused_at_load_not_blamed_on_the_audio(tmp_path):
    import torch

    model = build_model("demo_whisper_tiny", "downstream", head_hidden=16)
    name, weight = next(iter(model.trainable_state_dict().items()))
    with torch.no_grad():
        weight.fill_(float("nan"))
    save_artifact(model, tmp_path, artifact_config(model, "demo_whisper_tiny", {}, 1.0))  # its checksum matches
    with pytest.raises(ValueError, match=rf"adapter.safetensors: the trained weights '{name}' hold NaN or infinite values"):
        peftser.load(tmp_path)


def test_a_string_array_is_reported_at_its_position(downstream_artifact):
    model = peftser.load(downstream_artifact)
    clip = 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    good, strings, other = model.predict([clip, np.array(["a", "b"]), 7], sample_rate=16000, errors="report")
    assert good.label in model.labels
    assert strings.error.startswith("input 1: samples of dtype <U1 are not audio") and strings.label is None
    assert other.error == "input 2: expected a path, a 1-D numpy array or torch tensor, got int"
    with pytest.raises(peftser.api.AudioError, match="^input 1: samples of dtype <U1 are not audio"):
        model.predict([clip, np.array(["a", "b"])], sample_rate=16000)


def test_a_pair_with_a_float_rate_is_one_input(downstream_artifact):
    model = peftser.load(downstream_artifact)
    clip = 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    one = model.predict((clip, 16000.0))
    assert one.label in model.labels and one == model.predict(clip, sample_rate=16000)
