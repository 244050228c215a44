"""Deploying an artifact without ONNX: the standalone export (peft methods merged, adapters and
prompts kept) predicts as the artifact does, and one encoder serves several artifacts exactly as
each predicts alone."""

from __future__ import annotations

import json

import pytest
import torch

import peftser
import upstream_twins  # noqa: F401 (registers the tiny twins of every family)
from deploy_artifacts import PAPER_METHODS, clips, logits, make_artifact
from peftser.cli import main
from peftser.deploy.command import export
from peftser.deploy.folder import EXPORT_CONFIG

CLIPS = clips(1.0, 0.7, 0.35, 0.05)  # the last one shorter than a frame of the first convolution's stride


@pytest.mark.parametrize("upstream, method", [
    ("demo_whisper_tiny", "lora"), ("demo_wav2vec2_base", "lora"), ("demo_wavlm_base_plus", "lora"),
    ("twin_hubert_base", "lora"), ("twin_data2vec_audio", "lora"), ("twin_wavlm_large", "lora"),
    ("demo_whisper_tiny", "dora"), ("demo_whisper_tiny", "loha"), ("demo_whisper_tiny", "lokr"),
    ("demo_wav2vec2_base", "ia3"), ("demo_wav2vec2_base", "vera"),
])
def test_peft_methods_merge_into_a_standalone_model_that_predicts_as_the_artifact(tmp_path, upstream, method):
    artifact = make_artifact(tmp_path, upstream, method)
    written = export(artifact, tmp_path / "out")
    assert written["merged"] and written["export"]["check"]["max_abs_logit_difference"] <= 1e-5
    alone, standalone = peftser.load(artifact, device="cpu"), peftser.load(tmp_path / "out", device="cpu")
    # Merged: plain linears with changed weights, no tuner module left.
    names = [n for n, _ in standalone.model.named_modules()]
    assert not any("lora_" in n or "hada_" in n or "lokr_" in n or "ia3_" in n or "vera_" in n or "base_layer" in n for n in names)
    frozen = dict(peftser.load(make_artifact(tmp_path, upstream, "downstream"), device="cpu").model.upstream.named_parameters())
    folded = dict(standalone.model.upstream.named_parameters())
    ffn = [n for n in folded if n.endswith(standalone.model.upstream.ffn_linears[0] + ".weight")]
    assert ffn and all((folded[n] - frozen[n]).abs().max() > 1e-4 for n in ffn)
    # The same clips in padded batches and alone: merged = unmerged within 1e-5.
    for batch_size in (4, 1):
        assert torch.allclose(logits(standalone, CLIPS, batch_size), logits(alone, CLIPS, batch_size), rtol=0, atol=1e-5)


@pytest.mark.parametrize("upstream, method", [
    ("demo_whisper_tiny", "adapter"), ("demo_wavlm_base_plus", "parallel_adapter"), ("twin_hubert_base", "embedding_prompt"),
    ("demo_wav2vec2_base", "downstream"),
])
def test_adapters_and_prompts_keep_their_modules_in_a_standalone_model(tmp_path, upstream, method):
    artifact = make_artifact(tmp_path, upstream, method)
    written = export(artifact, tmp_path / "out")
    assert written["merged"] is False and written["method"] == method
    standalone = peftser.load(tmp_path / "out", device="cpu")
    assert standalone.model.method.name == method
    assert torch.allclose(logits(standalone, CLIPS), logits(peftser.load(artifact, device="cpu"), CLIPS), rtol=0, atol=1e-6)


def test_a_standalone_model_rebuilds_from_its_stored_encoder_config(tmp_path):
    # An encoder whose checkpoint config differs from the registry's sizes still loads: the config
    # travels with the export, and the registry entry gives only the wrapper.
    artifact = make_artifact(tmp_path, "demo_whisper_tiny", "lora")
    export(artifact, tmp_path / "out")
    config = json.loads((tmp_path / "out" / EXPORT_CONFIG).read_text())
    assert config["encoder_config"]["d_model"] == 32 and config["encoder_config"]["encoder_layers"] == 2
    assert config["export"]["versions"]["torch"] == torch.__version__


def test_an_export_that_fails_its_check_leaves_nothing(tmp_path, monkeypatch):
    artifact = make_artifact(tmp_path, "demo_whisper_tiny", "lora")
    monkeypatch.setattr("peftser.deploy.standalone.MERGED_TOLERANCE", 0.0)  # rounding alone now fails it
    with pytest.raises(ValueError, match="differ from the artifact's by .*nothing was written"):
        export(artifact, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.name]  # no folder, no hidden partial one


def test_export_refuses_a_folder_that_holds_something_and_damaged_weights_are_refused(tmp_path):
    artifact = make_artifact(tmp_path, "demo_whisper_tiny", "adapter")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="busy: the folder exists and is not empty"):
        export(artifact, tmp_path / "busy")
    export(artifact, tmp_path / "out")
    weights = tmp_path / "out" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors is damaged or was replaced"):
        peftser.load(tmp_path / "out", device="cpu")


def test_the_command_line_exports_and_names_its_errors(tmp_path, capsys):
    artifact = make_artifact(tmp_path, "demo_whisper_tiny", "lora")
    assert main(["--export", str(artifact), "--to", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "model.safetensors and model_config.json (demo_whisper_tiny/lora, merged)" in out
    assert "largest logit difference from the artifact" in out
    assert main(["--predict", str(tmp_path / "out"), "--to", "x"]) == 2
    assert "--to applies to --export, not --predict" in capsys.readouterr().err
    assert main(["--export", str(artifact)]) == 2
    assert "--export needs --to DIR" in capsys.readouterr().err
    assert main(["--export", str(tmp_path / "nothing"), "--to", str(tmp_path / "out2")]) == 2
    assert "nothing is not a peftser artifact: no such folder" in capsys.readouterr().err


# -- one encoder, many adapters --------------------------------------------------------------------
@pytest.mark.parametrize("upstream", ["demo_whisper_tiny", "demo_wavlm_base_plus"])
def test_one_encoder_serves_the_five_methods_as_each_predicts_alone(tmp_path, upstream):
    artifacts = [make_artifact(tmp_path, upstream, m, seed=i) for i, m in enumerate(PAPER_METHODS)]
    shared = peftser.load(artifacts, device="cpu")
    assert shared.names == tuple(a.name for a in artifacts)
    encoder = {id(p) for p in shared.encoder.parameters()}
    labels = set()
    for artifact in artifacts:
        predictor = shared[artifact.name]
        # The encoder's weights are the one encoder's tensors, in every artifact's model.
        frozen = [p for p in predictor.model.upstream.parameters() if not p.requires_grad]
        assert len(frozen) == len(encoder) and all(id(p) in encoder for p in frozen)
        alone = peftser.load(artifact, device="cpu")
        assert torch.equal(logits(predictor, CLIPS), logits(alone, CLIPS))
        got = shared.predict(CLIPS, sample_rate=16000, model=artifact.name)
        assert [p.probabilities for p in got] == [p.probabilities for p in alone.predict(CLIPS, sample_rate=16000)]
        labels.add(tuple(p.label for p in got))
    assert len(labels) > 1  # the artifacts answer differently: each one's own parts are in use


def test_one_encoder_refuses_artifacts_on_other_encoders_and_asks_which_model(tmp_path):
    whisper = make_artifact(tmp_path, "demo_whisper_tiny", "lora")
    other = make_artifact(tmp_path, "demo_wavlm_base_plus", "lora")
    with pytest.raises(ValueError, match=f"artifacts {whisper} and {other} have different encoders: "
                                         r"demo_whisper_tiny \(random weights\) and demo_wavlm_base_plus"):
        peftser.load([whisper, other])
    shared = peftser.load({"a": whisper, "b": make_artifact(tmp_path, "demo_whisper_tiny", "adapter")}, device="cpu")
    with pytest.raises(ValueError, match="predict needs model=NAME to choose the artifact: one of a, b"):
        shared.predict(CLIPS, sample_rate=16000)
    with pytest.raises(KeyError, match="no artifact named 'c'"):
        shared.predict(CLIPS, sample_rate=16000, model="c")
    export(whisper, tmp_path / "standalone")
    with pytest.raises(ValueError, match="is an exported model, which carries its own encoder"):
        peftser.load([whisper, tmp_path / "standalone"])
