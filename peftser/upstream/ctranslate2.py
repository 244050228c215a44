"""Whisper encoders from CTranslate2 model folders (the format faster-whisper downloads and ships).

A CTranslate2 folder holds ``model.bin``, a flat list of named arrays, and a ``config.json`` of
decoding options without the model's sizes; the sizes are read off the arrays' shapes. The
reader is written here because ctranslate2 offers no Python API that returns a model's weights
(it only runs them), and the format is small: the layout below is the one
``ctranslate2.specs.model_spec.ModelSpec._serialize`` writes and ``src/models/model.cc`` reads.

    uint32 binary version (1-6)
    if version >= 2: string spec name ("WhisperSpec"), uint32 spec revision
    uint32 variable count, then per variable:
        string name, uint8 rank, rank x uint32 shape,
        version >= 4: uint8 dtype id, uint32 byte count | older: uint8 item size, uint32 item count
        the bytes
    if version >= 3: uint32 alias count, then per alias: string alias, string target
    (strings: uint16 length including a trailing NUL, the UTF-8 bytes, the NUL; little-endian)

Only the encoder's arrays are read (and the decoder arrays some of them alias); int8 and int16
weights are dequantized with their ``weight_scale`` (CTranslate2 stores ``round(w * scale)``).

The number of mel bins (80, or 128 for large-v3 and turbo) is the first convolution's input
width. faster-whisper's folders also ship the transformers ``preprocessor_config.json`` its
converter copies (faster-whisper reads ``feature_size`` there); when present, it must agree with
the weights and with the log-mel the harness computes (16 kHz, 400-sample window, 160-sample hop).
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import BinaryIO

import torch
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

MODEL_FILE = "model.bin"
PREPROCESSOR_FILE = "preprocessor_config.json"
# The log-mel the harness computes (peftser.upstream.whisper): what a folder's preprocessor must ask for.
LOG_MEL = {"sampling_rate": 16_000, "n_fft": 400, "hop_length": 160}
WHISPER_SPEC = "WhisperSpec"
LATEST_BINARY_VERSION = 6
# The DataType enum of CTranslate2's include/ctranslate2/types.h, in its order.
DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
ITEM_SIZE_DTYPES = {4: torch.float32, 2: torch.int16, 1: torch.int8}  # binary versions 1-3


def is_ctranslate2_folder(path: str | Path) -> bool:
    """Whether ``path`` is a CTranslate2 model folder (transformers folders have no ``model.bin``)."""
    return (Path(path) / MODEL_FILE).is_file()


class _Reader:
    """Little-endian fields of one open model.bin, with the file named in every error."""

    def __init__(self, handle: BinaryIO, path: Path):
        self.handle, self.path = handle, path

    def read(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ValueError(f"{self.path}: file ends early (needed {size} bytes at offset {self.handle.tell() - len(data)})")
        return data

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("H")
        if length == 0:
            raise ValueError(f"{self.path}: invalid string length 0 at offset {self.handle.tell() - 2}")
        return self.read(length)[:-1].decode("utf-8")


def read_model_bin(path: str | Path, prefix: str = "") -> tuple[str, dict[str, torch.Tensor]]:
    """The spec name and the arrays of ``path`` whose names start with ``prefix``, as stored.

    Aliases (CTranslate2 stores an array once and names its duplicates, including across the
    encoder and decoder) are resolved; arrays outside ``prefix`` are skipped without reading.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        reader = _Reader(handle, path)
        (version,) = reader.unpack("I")
        if not 1 <= version <= LATEST_BINARY_VERSION:
            raise ValueError(
                f"{path}: not a CTranslate2 model or a newer format (binary version {version}; "
                f"this reader knows 1-{LATEST_BINARY_VERSION})"
            )
        spec = reader.string() if version >= 2 else ""
        if version >= 2:
            reader.unpack("I")  # spec revision: Whisper's 1-3 name and shape the encoder's arrays alike
        (count,) = reader.unpack("I")
        located = {}  # name -> (shape, dtype, offset)
        for _ in range(count):
            name = reader.string()
            (rank,) = reader.unpack("B")
            shape = reader.unpack(f"{rank}I")
            if version >= 4:
                dtype_id, size = reader.unpack("BI")
                if dtype_id >= len(DTYPES):
                    raise ValueError(f"{path}: array {name!r} has unknown dtype id {dtype_id}")
                dtype = DTYPES[dtype_id]
            else:
                item_size, items = reader.unpack("BI")
                dtype, size = ITEM_SIZE_DTYPES.get(item_size), item_size * items
                if dtype is None:
                    raise ValueError(f"{path}: array {name!r} has unknown item size {item_size}")
            expected = dtype.itemsize * math.prod(shape)
            if size != expected:
                raise ValueError(f"{path}: array {name!r} of shape {list(shape)} has {size} bytes, expected {expected}")
            located[name] = (shape, dtype, handle.tell())
            handle.seek(size, 1)
        aliases = {}
        if version >= 3:
            (alias_count,) = reader.unpack("I")
            for _ in range(alias_count):
                alias, target = reader.string(), reader.string()
                aliases[alias] = target
                # As CTranslate2 does: an aliased weight's quantization scale is the target's.
                aliases[alias + "_scale"] = target + "_scale"
        arrays = {}
        for name in [*located, *aliases]:
            target = aliases.get(name, name)
            if name.startswith(prefix) and target in located:
                shape, dtype, offset = located[target]
                handle.seek(offset)
                data = bytearray(reader.read(dtype.itemsize * math.prod(shape)))
                arrays[name] = torch.frombuffer(data, dtype=dtype).reshape(shape) if data else torch.zeros(shape, dtype=dtype)
    return spec, arrays


def dequantize(arrays: dict[str, torch.Tensor], source: str | Path = "") -> dict[str, torch.Tensor]:
    """Float32 arrays: each int8/int16 ``X`` divided by its ``X_scale`` (per output row, or one scalar)."""
    out = {}
    for name, value in arrays.items():
        if name.endswith("_scale") and name[: -len("_scale")] in arrays:
            continue
        scale = arrays.get(name + "_scale")
        if scale is not None:
            # int8: one scale per output row (a conv weight's rows are flattened over in, kernel); int16: one scalar.
            value = value.float() / scale.float().reshape(-1, *[1] * (value.dim() - 1))
        elif not value.is_floating_point() and value.dim() > 0:
            raise ValueError(f"{source}: array {name!r} is {value.dtype} without a {name}_scale to dequantize it")
        out[name] = value.float() if value.is_floating_point() else value
    return out


def _needed(arrays: dict[str, torch.Tensor], source):
    def need(name: str) -> torch.Tensor:
        if name not in arrays:
            raise ValueError(f"{source}: no encoder array {'encoder/' + name!r}")
        return arrays[name]

    return need


def whisper_encoder_config(arrays: dict[str, torch.Tensor], source: str | Path = "") -> dict:
    """The WhisperConfig sizes of the encoder whose (``encoder/``-stripped) arrays are given."""
    need = _needed(arrays, source)
    d_model, mel_bins, _ = need("conv1/weight").shape
    layers = len({m.group(1) for m in map(re.compile(r"layer_(\d+)/").match, arrays) if m})
    heads = int(need("num_heads"))
    if heads <= 0 or d_model % heads:
        raise ValueError(f"{source}: {heads} attention heads do not divide the model width {d_model}")
    ffn = need("layer_0/ffn/linear_0/weight").shape[0] if layers else 4 * d_model
    return {
        "d_model": d_model,
        "encoder_layers": layers,
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "num_mel_bins": mel_bins,
        "max_source_positions": need("position_encodings/encodings").shape[0],
        "decoder_layers": 1,  # only the encoder is built; the decoder sizes keep the config valid
        "decoder_attention_heads": heads,
        "decoder_ffn_dim": ffn,
    }


def whisper_encoder_state_dict(arrays: dict[str, torch.Tensor], layers: int, source: str | Path = "") -> dict:
    """transformers ``WhisperEncoder`` weights from CTranslate2's (``encoder/``-stripped, float) arrays."""
    need = _needed(arrays, source)
    state = {
        "conv1.weight": need("conv1/weight"), "conv1.bias": need("conv1/bias"),
        "conv2.weight": need("conv2/weight"), "conv2.bias": need("conv2/bias"),
        "embed_positions.weight": need("position_encodings/encodings"),
        "layer_norm.weight": need("layer_norm/gamma"), "layer_norm.bias": need("layer_norm/beta"),
    }
    for i in range(layers):
        ct2, hf = f"layer_{i}/", f"layers.{i}."
        # q, k and v are stacked in one linear. transformers' k_proj has no bias and the converter
        # writes zeros there; a key bias would add the same q.b_k to every score of a query,
        # which the softmax cancels, so dropping it is exact either way.
        q, k, v = need(ct2 + "self_attention/linear_0/weight").chunk(3)
        q_bias, _, v_bias = need(ct2 + "self_attention/linear_0/bias").chunk(3)
        pairs = {
            "self_attn.q_proj.weight": q, "self_attn.q_proj.bias": q_bias,
            "self_attn.k_proj.weight": k,
            "self_attn.v_proj.weight": v, "self_attn.v_proj.bias": v_bias,
            "self_attn.out_proj.weight": need(ct2 + "self_attention/linear_1/weight"),
            "self_attn.out_proj.bias": need(ct2 + "self_attention/linear_1/bias"),
            "self_attn_layer_norm.weight": need(ct2 + "self_attention/layer_norm/gamma"),
            "self_attn_layer_norm.bias": need(ct2 + "self_attention/layer_norm/beta"),
            "fc1.weight": need(ct2 + "ffn/linear_0/weight"), "fc1.bias": need(ct2 + "ffn/linear_0/bias"),
            "fc2.weight": need(ct2 + "ffn/linear_1/weight"), "fc2.bias": need(ct2 + "ffn/linear_1/bias"),
            "final_layer_norm.weight": need(ct2 + "ffn/layer_norm/gamma"),
            "final_layer_norm.bias": need(ct2 + "ffn/layer_norm/beta"),
        }
        state.update({hf + key: value for key, value in pairs.items()})
    return state


def load_whisper_encoder(folder: str | Path, **overrides) -> WhisperEncoder:
    """The transformers ``WhisperEncoder`` of a CTranslate2 Whisper folder, in float32.

    ``overrides`` are WhisperConfig values (e.g. ``dropout``); the sizes come from the arrays.
    """
    path = Path(folder) / MODEL_FILE
    spec, stored = read_model_bin(path, prefix="encoder/")
    if spec not in (WHISPER_SPEC, ""):
        raise ValueError(f"{path}: holds a CTranslate2 {spec}, not a Whisper model ({WHISPER_SPEC})")
    zeros = sorted(name for name in stored if name.endswith("_zero"))
    if zeros:
        raise ValueError(f"{path}: AWQ-quantized weights ({zeros[0]}, ...) are not supported; convert with int8 or float16")
    arrays = dequantize({name[len("encoder/"):]: value for name, value in stored.items()}, path)
    sizes = whisper_encoder_config(arrays, path)
    clash = sorted(key for key in sizes if key in overrides and overrides[key] != sizes[key])
    if clash:
        raise ValueError(f"{path}: the override(s) {clash} contradict the sizes of the stored encoder")
    check_preprocessor(Path(folder), sizes["num_mel_bins"])
    encoder = WhisperEncoder(WhisperConfig(**{**sizes, **overrides}))
    encoder.load_state_dict(whisper_encoder_state_dict(arrays, sizes["encoder_layers"], path))
    return encoder


def check_preprocessor(folder: Path, mel_bins: int) -> None:
    """A ValueError when the folder's ``preprocessor_config.json`` (if any) asks for other
    features than ``mel_bins`` bins of the harness's log-mel."""
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        return
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from None
    wanted = {"feature_size": mel_bins, **LOG_MEL}
    differ = {key: settings[key] for key, value in wanted.items() if key in settings and settings[key] != value}
    if differ:
        raise ValueError(
            f"{path}: asks for {differ}, but the encoder's weights take {mel_bins} mel bins of a log-mel at "
            f"{LOG_MEL['sampling_rate']} Hz with window {LOG_MEL['n_fft']} and hop {LOG_MEL['hop_length']}"
        )
