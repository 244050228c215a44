"""An upstream entry and the facts it carries: its architecture, and what a card, ``--params``, the
leaderboard and the README say about it (licence, table, where its size comes from, and what it
was pre-trained on). Imports no torch, so that reports read the facts without building anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TABLES = ("paper", "extended")  # the tables an encoder is listed in, in this order: Table II, then the extended grid's


@dataclass(frozen=True)
class PreTraining:
    """One corpus an encoder's weights saw before the harness froze them, as its paper states it."""

    corpus: str  # as the model's paper names it, e.g. "LibriSpeech"
    hours: float | None = None  # None: the paper's figure is not stated here
    task: str | None = None  # the registered task reading the same corpus, if any (what the contamination flag matches)

    def text(self) -> str:
        return self.corpus if self.hours is None else f"{self.corpus} {self.hours:,.0f} h"


@dataclass(frozen=True)
class UpstreamSpec:
    """A registered encoder: its checkpoint, the architecture to build it without weights, and its facts."""

    name: str
    family: str  # "whisper" | "wav2vec2" | "wavlm" | "hubert" | "data2vec_audio"
    # Hugging Face id or local folder (transformers or CTranslate2); "package:MODULE/PATH" for a
    # folder shipped inside an installed Python package; None for random-weight (demo/test) encoders.
    checkpoint: str | None
    config: dict[str, Any] = field(default_factory=dict)  # transformers config kwargs
    # Zero mean, unit variance of the wave (the paper's reference feeds the raw wave): False; True
    # or "clip": over each clip's own samples; "batch": as the authors' release calls its processor
    # on a padded training batch, over the whole batch, padding included (each clip alone under
    # exact padding, as the processor on one clip).
    normalize_waveform: bool | str = False
    # The padded frames masked as keys (and zeroed before the positional convolution) in training
    # too, as the release's large-model wrappers pass masks derived from the lengths.
    attention_mask_in_training: bool = False
    paper_params_m: float | None = None  # encoder parameters in Table II, millions
    extra: str | None = None  # the optional dependency group of peftser that installs a "package:" checkpoint
    # -- facts, read by the cards, --params, the leaderboard and the README's table
    licence: str | None = None  # the weights' licence id as its publisher states it; None: unknown (cards say so)
    licence_note: str = ""  # the README's wording (where the licence is stated, what is not confirmed)
    base_model: str | None = None  # the hub model a non-hub checkpoint is a copy of (a card's base_model)
    table: str = ""  # "paper" (Table II), "extended" (beyond the paper) or "" (twins, tests): where it is listed
    twin_of: str | None = None  # the encoder a random-weight twin stands for: it sorts as that one
    params_source: str = ""  # where paper_params_m comes from
    pretraining: tuple[PreTraining, ...] = ()  # what the weights saw before; empty for random weights
    pretraining_note: str = ""  # said after the corpora: the total as the paper states it, what is not confirmed

    def __post_init__(self):
        if self.normalize_waveform not in (False, True, "clip", "batch"):
            raise ValueError(
                f"upstream {self.name!r}: normalize_waveform is {self.normalize_waveform!r}; expected false, true, \"clip\" or \"batch\""
            )

    def pretraining_text(self) -> str:
        """The pre-training data in one phrase ("" for random weights)."""
        corpora = ", ".join(p.text() for p in self.pretraining)
        return f"{corpora} ({self.pretraining_note})" if corpora and self.pretraining_note else corpora

    def pretrained_on(self, tasks: set[str] | frozenset[str]) -> list[str]:
        """The registered tasks among ``tasks`` that this encoder's pre-training data includes."""
        return sorted({p.task for p in self.pretraining if p.task in tasks})
