"""Whisper encoders, run on the real input length (docs/protocol.md: at most 6 s, not a 30 s window)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import WhisperConfig, WhisperModel
from transformers.audio_utils import mel_filter_bank
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from peftser.upstream.base import (
    SAMPLE_RATE, Tap, Upstream, UpstreamSpec, check_architecture, load_pretrained, resolve_checkpoint, valid_frames,
)
from peftser.upstream.ctranslate2 import is_ctranslate2_folder, load_whisper_encoder

N_FFT = 400
HOP = 160  # 10 ms frames; the encoder's second conv halves them to 20 ms positions


class LogMel(nn.Module):
    """Whisper's log-mel spectrogram (80 or 128 bins) in torch, equal frame for frame to
    ``WhisperFeatureExtractor(feature_size=bins)`` called as the paper's reference code calls it:
    ``padding="max_length"`` with ``max_length`` = the length of what it is given.

    That call runs a centred STFT on each row it gets: the row's end is reflect-padded (the samples
    before its end, mirrored) by half a window, the extra last frame is dropped, and the maximum
    for the dynamic-range clamp (max - 8) is taken over the ``n // 160`` frames that remain.

    With ``lengths`` (each clip alone, as the reference scores dev and test one clip at a time),
    each clip of a zero-padded batch gets its own reflection after its own end and its own maximum
    over its own frames, so a clip in a batch gets the frames it gets alone; the frames past its
    end are computed from its reflection and then zeros. Without ``lengths`` (the reference's
    training, which hands the extractor the zero-padded batch with ``max_length`` = its longest
    clip), every row is taken whole: a shorter clip's STFT sees the zeros after its end and its
    maximum runs over the whole padded row.
    """

    def __init__(self, num_mel_bins: int = 80):
        super().__init__()
        filters = mel_filter_bank(
            num_frequency_bins=1 + N_FFT // 2,
            num_mel_filters=num_mel_bins,
            min_frequency=0.0,
            max_frequency=SAMPLE_RATE / 2,
            sampling_rate=SAMPLE_RATE,
            norm="slaney",
            mel_scale="slaney",
        )
        self.register_buffer("filters", torch.as_tensor(filters, dtype=torch.float32).T, persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    @torch.autocast("cuda", enabled=False)  # bf16 would round the log-mel far beyond 1e-4
    @torch.autocast("cpu", enabled=False)
    def forward(self, waves: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waves [B, S] (zero-padded), lengths [B] in samples (default: every row whole, S) -> log-mel
        [B, bins, S // 160], in float32 under any autocast."""
        total = waves.shape[-1]
        frames = total // HOP
        if lengths is None:
            lengths = torch.full((waves.shape[0],), total, device=waves.device)
        lengths = lengths.to(waves.device, torch.long)
        # Each clip followed by its own end reflected over half a window (the centred STFT's
        # padding of the clip alone), then zeros: sample i past the end n is x[2(n - 1) - i].
        position = torch.arange(total + N_FFT // 2, device=waves.device)[None, :]
        end = lengths[:, None]
        source = torch.where(position < end, position, 2 * (end - 1) - position)
        inside = (source >= 0) & (position < end + N_FFT // 2)
        padded = torch.gather(waves.float(), 1, source.clamp(min=0, max=total - 1)) * inside
        # In an ONNX graph the STFT runs in float64: onnxruntime's float32 STFT (a plain DFT at this
        # n_fft) puts the log-mel up to 1.5e-4 from torch's FFT; in float64 it agrees to 5e-7.
        wide = torch.float64 if torch.compiler.is_exporting() else torch.float32
        stft = torch.stft(padded.to(wide), N_FFT, HOP, window=self.window.to(wide), center=True, pad_mode="reflect", return_complex=True)
        # |z|^2 as re^2 + im^2: the square root of abs(), undone by ** 2, took longer than the STFT.
        stft = stft[..., :frames]
        power = (stft.real.square() + stft.imag.square()).float()
        mel = torch.log10(torch.clamp(self.filters @ power, min=1e-10))
        # The clamp's maximum over each clip's own frames only (the extractor's, after the drop).
        own = torch.arange(frames, device=waves.device)[None, :] < torch.div(lengths, HOP, rounding_mode="floor")[:, None]
        peak = mel.masked_fill(~own[:, None, :], float("-inf")).amax(dim=(1, 2), keepdim=True)
        mel = torch.maximum(mel, peak - 8.0)
        return (mel + 4.0) / 4.0


class WhisperUpstream(Upstream):
    family = "whisper"
    ffn_linears = ("fc1", "fc2")

    def __init__(self, spec: UpstreamSpec, model: WhisperEncoder):
        super().__init__(spec, model)
        self.log_mel = LogMel(model.config.num_mel_bins)

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.layers

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.d_model)

    @property
    def per_clip_log_mel(self) -> bool:
        """Whether each clip's log-mel is its own alone (evaluation, ``mask_padding``, the training
        option ``per_clip_log_mel``) or its zero-padded batch row's, as the reference trained."""
        return self.exact_padding or self.per_clip_log_mel_in_training

    def frontend(self, waves, lengths):
        mel = self.log_mel(waves, lengths if self.per_clip_log_mel else None)
        enc = self.model
        mel_frames = torch.div(lengths, HOP, rounding_mode="floor")
        # Both convolutions have padding 1: a clip alone sees zeros after its last frame, so with
        # exact padding the frames past each clip's end are zeroed before each of them.
        x = F.gelu(enc.conv1(self._clip_ends(mel, mel_frames).to(enc.conv1.weight.dtype)))
        x = F.gelu(enc.conv2(self._clip_ends(x, mel_frames))).transpose(1, 2)
        positions = x.shape[1]
        table = enc.embed_positions.weight
        if positions > table.shape[0]:
            raise ValueError(
                f"{self.spec.name}: {waves.shape[-1] / SAMPLE_RATE:.1f} s of audio needs {positions} positions, "
                f"the encoder has {table.shape[0]} (30 s); cut the audio shorter"
            )
        # The paper's trick: use the first `positions` rows of the table (the batch's longest clip)
        # instead of padding to 30 s; every clip's valid frames get the positions they get alone.
        x = x + table[:positions]
        x = F.dropout(x, p=enc.dropout, training=self.training)
        frame_lengths = (mel_frames + 1) // 2
        return x, frame_lengths.clamp(min=1, max=positions)

    def _clip_ends(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T] with the frames past each clip's ``frames`` zeroed, under exact padding."""
        return x * valid_frames(frames, x.shape[-1])[:, None, :] if self.exact_padding else x

    def finalize(self, x):
        return self.model.layer_norm(x)

    @property
    def layerdrop(self):
        return float(self.model.config.encoder_layerdrop)  # 0.0 in OpenAI's checkpoints

    pre_norm = True

    def attention_residual(self, layer):
        return Tap(layer.final_layer_norm, "input")

    def ffn_output(self, layer):
        # fc2's output; the reference adds the adapter after the dropout that follows it, which is
        # the same thing in evaluation and with OpenAI's checkpoints (dropout 0.0).
        return Tap(layer.fc2, "output")

    def ffn_residual(self, layer):
        return Tap(layer, "output")


def build_whisper(spec: UpstreamSpec, *, pretrained: bool, checkpoint_dir=None, **overrides) -> WhisperUpstream:
    """A Whisper encoder from its checkpoint (transformers or CTranslate2), or with random weights from ``spec.config``."""
    if pretrained:
        source, _ = resolve_checkpoint(spec, checkpoint_dir)
        if is_ctranslate2_folder(source):
            encoder = load_whisper_encoder(source, **overrides)
            check_architecture(spec, encoder.config, source)  # its sizes come from the stored arrays
        else:
            encoder = load_pretrained(WhisperModel, spec, checkpoint_dir, **overrides).encoder
    else:
        encoder = WhisperEncoder(WhisperConfig(**{**spec.config, **overrides}))
    return WhisperUpstream(spec, encoder)
