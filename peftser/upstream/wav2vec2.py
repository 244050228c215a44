"""wav2vec 2.0 and WavLM encoders: a convolutional front end on the raw wave, then transformer layers."""

from __future__ import annotations

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

from peftser.upstream.base import Tap, Upstream, UpstreamSpec, load_pretrained

# The model's own SpecAugment is off: the protocol has its own augmentation (PROTOCOL.md, "Known
# traps"). LayerDrop keeps the config's value: the layer loop applies it as the reference did.
PROTOCOL_OVERRIDES = {"mask_time_prob": 0.0, "mask_feature_prob": 0.0, "apply_spec_augment": False}


class Wav2Vec2Upstream(Upstream):
    family = "wav2vec2"
    ffn_linears = ("feed_forward.intermediate_dense", "feed_forward.output_dense")

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.encoder.layers

    @property
    def stable_layer_norm(self) -> bool:
        return bool(self.model.config.do_stable_layer_norm)

    def frontend(self, waves, lengths):
        if self.spec.normalize_waveform:
            waves = normalize(waves, lengths)
        model = self.model
        features = model.feature_extractor(waves.to(model.feature_projection.projection.weight.dtype))
        x, _ = model.feature_projection(features.transpose(1, 2))
        encoder = model.encoder
        x = x + encoder.pos_conv_embed(x)
        if not self.stable_layer_norm:  # base models normalise before the layers, large ones after
            x = encoder.layer_norm(x)
        x = encoder.dropout(x)
        frame_lengths = model._get_feat_extract_output_lengths(lengths).to(torch.long)
        return x, frame_lengths.clamp(min=1, max=x.shape[1])

    def run_layer(self, index, layer, x, state):
        return layer(x, attention_mask=None)

    def finalize(self, x):
        return self.model.encoder.layer_norm(x) if self.stable_layer_norm else x

    @property
    def layerdrop(self):
        return float(self.model.config.layerdrop)  # 0.1 in wav2vec2-base(-960h), 0.05 in wavlm-base-plus

    @property
    def pre_norm(self):
        return self.stable_layer_norm  # large checkpoints normalise before each block, base ones after

    def attention_residual(self, layer):
        return Tap(layer.final_layer_norm if self.pre_norm else layer.layer_norm, "input")

    def ffn_output(self, layer):
        return Tap(layer.feed_forward, "output")

    def ffn_residual(self, layer):
        return Tap(layer, "output") if self.pre_norm else Tap(layer.final_layer_norm, "input")


class WavLMUpstream(Wav2Vec2Upstream):
    family = "wavlm"

    def may_skip(self, index):
        return index > 0  # the first layer computes the relative position bias the others reuse

    def run_layer(self, index, layer, x, state):
        # The first layer computes the relative position bias; the others reuse it.
        x, state["position_bias"] = layer(x, attention_mask=None, position_bias=state.get("position_bias"), index=index)
        return x


def normalize(waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over each wave's valid samples (as the checkpoint's feature extractor)."""
    mask = torch.arange(waves.shape[-1], device=waves.device)[None, :] < lengths[:, None]
    n = lengths.clamp(min=1)[:, None].to(waves.dtype)
    mean = (waves * mask).sum(-1, keepdim=True) / n
    var = (((waves - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    return (waves - mean) / torch.sqrt(var + 1e-7) * mask


_FAMILIES = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2Upstream), "wavlm": (WavLMConfig, WavLMModel, WavLMUpstream)}


def build_wav2vec2(spec: UpstreamSpec, *, pretrained: bool, checkpoint_dir=None, **overrides) -> Wav2Vec2Upstream:
    """A wav2vec 2.0 or WavLM model from its checkpoint, or with random weights from ``spec.config``."""
    config_cls, model_cls, upstream_cls = _FAMILIES[spec.family]
    overrides = {**PROTOCOL_OVERRIDES, **overrides}
    if pretrained:
        model = load_pretrained(model_cls, spec, checkpoint_dir, **overrides)
    else:
        model = model_cls(config_cls(**{**spec.config, **overrides}))
    # Frozen for real: without this flag the front end marks the wave as requiring gradient in
    # training mode, and every step back-propagates through the whole CNN for nothing.
    model.freeze_feature_encoder()
    return upstream_cls(spec, model)
