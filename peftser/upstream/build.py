"""Building a registered upstream: the family builders and transformers configs (imports torch)."""

from __future__ import annotations

import zlib
from functools import partial
from typing import Callable

import torch

from transformers import Data2VecAudioConfig, HubertConfig, Wav2Vec2Config, WavLMConfig, WhisperConfig

from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream.base import Upstream
from peftser.upstream.spec import UpstreamSpec
from peftser.upstream.wav2vec2 import build_wav2vec2
from peftser.upstream.whisper import build_whisper

FAMILY_BUILDERS: dict[str, Callable[..., Upstream]] = {
    "whisper": build_whisper,
    "wav2vec2": build_wav2vec2,
    "wavlm": build_wav2vec2,
    "hubert": build_wav2vec2,
    "data2vec_audio": build_wav2vec2,
}


FAMILY_CONFIGS = {
    "whisper": WhisperConfig,
    "wav2vec2": Wav2Vec2Config,
    "wavlm": WavLMConfig,
    "hubert": HubertConfig,
    "data2vec_audio": Data2VecAudioConfig,
}


def check_upstream_args(name: str, args: dict) -> None:
    """A ValueError for an override that the upstream's transformers config does not have
    (those configs accept any key, so a typo such as ``dropuot`` would pass silently)."""
    load_builtins()
    entry = UPSTREAMS.get(name)
    if not isinstance(entry, UpstreamSpec):
        return  # a registered function takes the overrides it knows
    config_class = FAMILY_CONFIGS[entry.family]
    known = set(config_class().to_dict())
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"upstream {name!r}: {config_class.__name__} has no option(s) {unknown}")


def build_upstream(name: str, *, pretrained: bool | None = None, checkpoint_dir=None, **overrides) -> Upstream:
    """The registered upstream ``name``, with ``.pretrained`` saying whether it has real weights.

    ``pretrained=None`` means the entry's default: real weights for a spec with a checkpoint,
    random ones for a spec without; a registered function receives None and decides itself.
    ``overrides`` are transformers config values (e.g. ``dropout=0.1``).
    """
    load_builtins()
    entry = UPSTREAMS.get(name)
    if isinstance(entry, UpstreamSpec):
        if pretrained is None:
            pretrained = entry.checkpoint is not None
        build = partial(FAMILY_BUILDERS[entry.family], entry)
    else:
        build = entry
    # Whatever is initialised at random is a fixed function of the name, so an artifact trained on
    # a random-weight upstream (tests, the demo grid) reloads onto the same frozen encoder. Only the
    # CPU generator (where models are built) is seeded and restored: torch.manual_seed would also
    # reseed the GPUs' generators, which fork_rng(devices=[]) does not restore, and every dropout
    # mask of a GPU training would then follow the upstream's name instead of the training's seed.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(zlib.crc32(name.encode()))
        upstream = build(pretrained=pretrained, checkpoint_dir=checkpoint_dir, **overrides)
    if getattr(upstream, "pretrained", None) is None:
        upstream.pretrained = pretrained
    return upstream
