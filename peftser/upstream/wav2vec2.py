"""wav2vec 2.0-style encoders: a convolutional front end on the raw wave, then transformer layers.

One layer loop serves four transformers families that share the layout (convolutional feature
encoder, feature projection, positional convolution, layers with ``attention``, ``layer_norm``,
``feed_forward`` and ``final_layer_norm``): wav2vec 2.0 (with XLS-R and MMS), WavLM, HuBERT and
data2vec-audio. Each runs post-norm (base checkpoints: a layer norm after each residual) or pre-norm
("stable layer norm", large checkpoints: each block normalises its input, one layer norm after the
last layer); data2vec-audio has no pre-norm variant. The families differ only where their modules
differ: WavLM's relative position bias, HuBERT's feature projection, data2vec-audio's stack of
positional convolutions with layer norms.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

from peftser.upstream import dropout, wavlm_attention
from peftser.upstream.base import Tap, Upstream, UpstreamSpec, load_pretrained, valid_frames

# The model's own SpecAugment is off: the protocol has its own augmentation (docs/protocol.md, "Library
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
        # data2vec-audio's config has no such field: its layers are always post-norm.
        return bool(getattr(self.model.config, "do_stable_layer_norm", False))

    def frontend(self, waves, lengths):
        if self.spec.normalize_waveform:
            whole_batch = self.spec.normalize_waveform == "batch" and not self.exact_padding
            waves = normalize(waves, None if whole_batch else lengths)
        model = self.model
        features = self.features(waves.to(model.feature_projection.projection.weight.dtype), lengths)
        x = self.project(features.transpose(1, 2))
        frame_lengths = model._get_feat_extract_output_lengths(lengths).to(torch.long).clamp(min=1, max=x.shape[1])
        if self.masks_keys:
            # The positional convolution then sees zeros past each clip's end, as the clip alone
            # sees its own zero padding (transformers zeroes them the same way given a mask).
            x = x * valid_frames(frame_lengths, x.shape[1])[..., None]
        encoder = model.encoder
        x = x + self.positional(x, frame_lengths)
        if not self.stable_layer_norm:  # base models normalise before the layers, large ones after
            x = encoder.layer_norm(x)
        return encoder.dropout(x), frame_lengths

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """The feature projection: features [B, T, C] -> [B, T, D] (wav2vec 2.0's also returns its normed input)."""
        return self.model.feature_projection(features)[0]

    def positional(self, x: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
        """What the positional convolution adds to ``x`` [B, T, D] (zero past each clip's end under exact padding)."""
        return self.model.encoder.pos_conv_embed(x)

    def features(self, waves, lengths):
        """The convolutional front end: waves [B, S] -> features [B, C, T]."""
        first, *rest = self.model.feature_extractor.conv_layers
        h = waves[:, None]
        # data2vec-audio's config has no such field: every one of its convolutions has a layer norm.
        if self.exact_padding and getattr(self.model.config, "feat_extract_norm", "layer") == "group":
            # The first layer's GroupNorm (one group per channel) normalises over the whole time
            # axis: each clip gets statistics over its own valid frames. The later layers are
            # unpadded convolutions, so their valid frames depend on valid frames only.
            h = first.conv(h)
            valid = _conv_out_length(lengths, first.conv).clamp(min=1, max=h.shape[-1])
            h = first.activation(per_clip(first.layer_norm, h, valid))
        else:
            h = first(h)
        for layer in rest:
            h = layer(h)
        return h

    def finalize(self, x):
        return self.model.encoder.layer_norm(x) if self.stable_layer_norm else x

    @property
    def layerdrop(self):
        return float(self.model.config.layerdrop)  # the checkpoint's: e.g. 0.1 in wav2vec2-base(-960h), 0.05 in wavlm-base-plus

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

    def run_layer(self, index, layer, x, context):
        # The first layer computes the relative position bias; the others reuse it (per pair of
        # positions, so padding never changes it for valid pairs).
        x, context["position_bias"] = layer(
            x, attention_mask=context["attention_mask"], position_bias=context.get("position_bias"), index=index
        )
        return x

    def key_mask(self, valid, dtype):
        # WavLM's attention takes the [B, T] mask of valid keys (it masks where the mask != 1).
        return valid


class HubertUpstream(Wav2Vec2Upstream):
    """HuBERT: wav2vec 2.0's layout, whose feature projection returns the projected features only
    (after an optional layer norm, ``feat_proj_layer_norm``)."""

    family = "hubert"

    def project(self, features):
        return self.model.feature_projection(features)


class Data2VecAudioUpstream(Wav2Vec2Upstream):
    """data2vec-audio: wav2vec 2.0's post-norm layout with a layer norm in every convolution of the
    front end, and a stack of ``num_conv_pos_embeddings`` positional convolutions, each followed by
    a layer norm over channels (no affine) and GELU, in place of one wide convolution."""

    family = "data2vec_audio"

    def positional(self, x, frame_lengths):
        if not self.exact_padding:
            return self.model.encoder.pos_conv_embed(x)
        # Every convolution of the stack is padded by half its kernel: a clip alone sees zeros past
        # its end at each of them, so the frames past each clip's end are zeroed before each one
        # (after the first, they hold the previous convolution's response to the padding).
        valid = valid_frames(frame_lengths, x.shape[1])[:, None, :]
        h = x.transpose(1, 2)
        for layer in self.model.encoder.pos_conv_embed.layers:
            h = layer(h * valid)
        return h.transpose(1, 2)


def _conv_out_length(lengths: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Valid output frames of an unpadded strided convolution over ``lengths`` valid inputs."""
    return torch.div(lengths - conv.kernel_size[0], conv.stride[0], rounding_mode="floor") + 1


def per_clip(norm: nn.GroupNorm, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``norm`` (one group per channel) on ``h`` [B, C, T] with each clip's mean and variance over its
    first ``valid[b]`` frames only, as the clip alone gets them (the frames after are scaled alike).
    The statistics are float32 whatever ``h`` is (bf16 under autocast), as GroupNorm's own are."""
    if torch.compiler.is_exporting():
        var, mean = _masked_var_mean(h.float(), valid)
    else:
        stats = [torch.var_mean(h[b, :, :n].float(), dim=-1, correction=0) for b, n in enumerate(valid.tolist())]
        var = torch.stack([v for v, _ in stats])[..., None]
        mean = torch.stack([m for _, m in stats])[..., None]
    scale = norm.weight[:, None] * torch.rsqrt(var + norm.eps)
    return torch.addcmul(norm.bias[:, None] - mean * scale, h, scale)


def _masked_var_mean(h: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's variance and mean over its first ``valid[b]`` frames, [B, C, 1] each, without a
    loop over the batch: a traced graph (ONNX export) keeps the batch size dynamic. Equal to the
    loop's ``var_mean`` up to float rounding (the sums run over the padded frames' zeros too)."""
    mask = valid_frames(valid, h.shape[-1])[:, None, :].to(h.dtype)
    count = valid.clamp(min=1)[:, None, None].to(h.dtype)
    mean = (h * mask).sum(-1, keepdim=True) / count
    var = ((h - mean).square() * mask).sum(-1, keepdim=True) / count
    return var, mean


def normalize(waves: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero mean, unit variance over each wave's valid samples (as the checkpoint's feature extractor
    on one clip, its padding kept silent); with ``lengths`` None, over the whole padded batch, as
    the extractor given a 2-D tensor takes it for one utterance (the authors' release calls it so)."""
    if lengths is None:
        var, mean = torch.var_mean(waves, correction=0)
        return (waves - mean) / torch.sqrt(var + 1e-7)
    mask = torch.arange(waves.shape[-1], device=waves.device)[None, :] < lengths[:, None]
    n = lengths.clamp(min=1)[:, None].to(waves.dtype)
    mean = (waves * mask).sum(-1, keepdim=True) / n
    var = (((waves - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    return (waves - mean) / torch.sqrt(var + 1e-7) * mask


_FAMILIES = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2Upstream),
    "wavlm": (WavLMConfig, WavLMModel, WavLMUpstream),
    "hubert": (HubertConfig, HubertModel, HubertUpstream),
    "data2vec_audio": (Data2VecAudioConfig, Data2VecAudioModel, Data2VecAudioUpstream),
}


def build_wav2vec2(spec: UpstreamSpec, *, pretrained: bool, checkpoint_dir=None, **overrides) -> Wav2Vec2Upstream:
    """A wav2vec 2.0, WavLM, HuBERT or data2vec-audio model from its checkpoint, or with random weights from ``spec.config``."""
    config_cls, model_cls, upstream_cls = _FAMILIES[spec.family]
    # Only the switches the family's config has: data2vec-audio's has no apply_spec_augment (its
    # masking probabilities at 0 turn SpecAugment off), and from_pretrained hands unknown keys to
    # the model's constructor, which refuses them.
    known = config_cls().to_dict()
    overrides = {**{k: v for k, v in PROTOCOL_OVERRIDES.items() if k in known}, **overrides}
    if pretrained:
        model = load_pretrained(model_cls, spec, checkpoint_dir, **overrides)
    else:
        model = model_cls(config_cls(**{**spec.config, **overrides}))
    # Frozen for real: without this flag the front end marks the wave as requiring gradient in
    # training mode, and every step back-propagates through the whole CNN for nothing.
    # (HubertModel has no freeze_feature_encoder: this is what it does in the others.)
    model.feature_extractor._freeze_parameters()
    if spec.family == "wavlm":
        wavlm_attention.install(model)  # the same attention on contiguous heads: several times faster
    dropout.install(model)  # the same masks, kept as booleans for the backward pass
    return upstream_cls(spec, model)
