"""ONNX export: the whole model (front end included) as one graph with dynamic batch and time axes,
whose onnxruntime logits match torch's within 1e-4 on padded batches and single clips.

One export per family, the paper's five methods spread over them (the model's head is in every
graph), the real whisper_tiny_en for one, the command line with the model card for one;
``benchmarks/onnx_matrix.py`` runs every family x method pair. An export that cannot be traced is
refused with one line and leaves no file."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
import pytest

import peftser
import upstream_twins  # noqa: F401 (registers the tiny twins of every family)
from deploy_artifacts import clips, logits, make_artifact
from peftser.benchmark.card import check_card
from peftser.cli import main
from peftser.deploy.command import export
from peftser.deploy.onnx import ExportRefused, OnnxModel, onnx_inputs
from peftser.peft.base import Method
from peftser.registry import METHODS

pytestmark = pytest.mark.slow  # each export traces the model: seconds, not milliseconds


def _agrees_with_torch(artifact, exported, max_seconds: float) -> float:
    """The largest logit difference between the ONNX export (onnxruntime) and the artifact (torch),
    on clips of other lengths than the export's own check: padded batches of 3, and one by one."""
    waves = clips(max_seconds, 0.8 * max_seconds, 0.5, 0.03, seed=7)
    onnx_model, torch_model = peftser.load(exported, device="cpu"), peftser.load(artifact, device="cpu")
    assert isinstance(onnx_model.model, OnnxModel)
    worst = 0.0
    for batch_size in (3, 1):
        worst = max(worst, float((logits(onnx_model, waves, batch_size) - logits(torch_model, waves, batch_size)).abs().max()))
    return worst


def _dynamic_axes(path) -> list[list[str]]:
    graph = onnx.load(str(path)).graph
    return [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input]


@pytest.mark.parametrize("upstream, method", [
    ("twin_wav2vec2_large", "parallel_adapter"),  # the two-layer twins: tracing time grows with the layers
    ("twin_wavlm_base", "adapter"),
    ("twin_data2vec_audio", "embedding_prompt"),
])
def test_onnx_logits_match_torch_on_each_wave_family(tmp_path, upstream, method):
    artifact = make_artifact(tmp_path, upstream, method)
    written = export(artifact, tmp_path / "onnx", "onnx")
    assert written["export"]["check"]["max_abs_logit_difference"] <= 1e-4 and written["export"]["opset"] >= 17
    batch, time = _dynamic_axes(tmp_path / "onnx" / "model.onnx")[0]
    assert batch and time and _dynamic_axes(tmp_path / "onnx" / "model.onnx")[1] == [batch]
    assert _agrees_with_torch(artifact, tmp_path / "onnx", 1.0) <= 1e-4


def test_onnx_of_the_real_whisper_tiny_en_matches_torch(tmp_path):
    artifact = make_artifact(tmp_path, "whisper_tiny_en", "downstream", max_seconds=2.0, pretrained=True)
    written = export(artifact, tmp_path / "onnx", "onnx")
    assert written["pretrained"] is True and written["export"]["check"]["max_abs_logit_difference"] <= 1e-4
    assert _agrees_with_torch(artifact, tmp_path / "onnx", 2.0) <= 1e-4
    # What a caller without peftser computes: onnx_inputs, then onnxruntime.
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    waves = clips(2.5, 1.0)
    direct = session.run(["logits"], onnx_inputs(waves, 2.0))[0]
    assert np.abs(direct - logits(peftser.load(artifact, device="cpu"), waves).numpy()).max() <= 1e-4


def test_onnx_export_of_a_trained_lora_cell_on_the_command_line_with_its_card(demo_results, tmp_path, capsys):
    results, record = demo_results
    artifact = results / record["artifact"]["path"]
    assert main(["--export", str(artifact), "--to", str(tmp_path / "onnx"), "--format", "onnx"]) == 0
    assert "model.onnx and model_config.json (demo_whisper_tiny/lora, merged)" in capsys.readouterr().out
    config = json.loads((tmp_path / "onnx" / "model_config.json").read_text())
    assert _agrees_with_torch(artifact, tmp_path / "onnx", 1.0) <= 1e-4
    card = check_card(tmp_path / "onnx" / "README.md")
    check = config["export"]["check"]
    assert f"opset {config['export']['opset']}" in card.text
    assert f"onnxruntime {config['export']['versions']['onnxruntime']}" in card.text
    assert f"largest logit difference {check['max_abs_logit_difference']:.2g} (tolerance 0.0001)" in card.text
    assert "merged into the encoder's linears" in card.text
    # The exported model predicts the record's test labels as the artifact does.
    predictor = peftser.load(tmp_path / "onnx")
    assert predictor.cell.key == record["key"] and predictor.labels == tuple(config["classes"])


@dataclass
class BranchingGate(Method):
    """A method whose hook branches on the waves' values: no graph can hold that."""

    def modify(self, upstream) -> None:
        def gate(module, args):
            waves, lengths = args
            return (waves * 0.5 if bool(waves.abs().max() > 1.0) else waves, lengths)

        upstream.register_forward_pre_hook(gate)  # at the graph's start: the tracer fails at once


@pytest.fixture
def branching_gate():
    METHODS.register("branching_gate")(BranchingGate)  # for this test only: other tests list the methods
    yield
    del METHODS._entries["branching_gate"]


def test_an_export_the_tracer_cannot_hold_is_refused_in_one_line_and_leaves_nothing(tmp_path, branching_gate):
    artifact = make_artifact(tmp_path, "demo_whisper_tiny", "branching_gate")
    with pytest.raises(ExportRefused) as refused:
        export(artifact, tmp_path / "onnx", "onnx")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("demo_whisper_tiny/branching_gate cannot be exported to ONNX: ")
    assert "data-dependent" in message and message.endswith("nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.name]
