"""LoRA and its relatives from Hugging Face peft, on the feed-forward linears of every layer.

The paper puts LoRA on the feed-forward layers (WavLM's attention reads its projection weights
directly, so LoRA there would never run). The reference code used loralib with lora_alpha = 1,
so the update is scaled by alpha / r = 1/8, not peft's usual alpha = 2r.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from peftser.peft.base import Method, ffn_linear_names
from peftser.registry import METHODS


class PeftMethod(Method):
    """A peft tuner injected into the upstream's feed-forward linears."""

    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules: list[str]):
        """The tuner's ``peft.PeftConfig`` (peft is imported inside: it imports torch)."""
        raise NotImplementedError

    def modify(self, upstream) -> None:
        from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING

        modules = ffn_linear_names(upstream, tuple(self.targets))
        config = self.peft_config(upstream, modules)
        # The tuner injects its layers into upstream.model in place and marks them trainable; it is
        # kept (not a module of the model, so in no state dict) for its merge.
        self._tuner = PEFT_TYPE_TO_TUNER_MAPPING[config.peft_type](upstream.model, config, adapter_name="default")

    def merge(self, upstream) -> bool:
        """peft's own ``merge_and_unload``: each tuned linear gets its update folded into its weight
        (checked for NaN/inf) and becomes the plain linear it wrapped."""
        tuner = self.__dict__.get("_tuner")
        if tuner is None or tuner.model is not upstream.model:
            raise ValueError(f"{self.name}: merge needs the upstream this method was applied to")
        tuner.merge_and_unload(safe_merge=True)
        del self._tuner  # its layers are gone: a second merge would find nothing to fold
        return True


@METHODS.register("lora")
@dataclass
class Lora(PeftMethod):
    rank: int = 8
    alpha: float = 1.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules):
        from peft import LoraConfig

        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=modules, bias="none")


@METHODS.register("dora")
@dataclass
class Dora(Lora):
    """Weight-decomposed LoRA: LoRA's direction update plus a trainable magnitude per output."""

    def peft_config(self, upstream, modules):
        config = super().peft_config(upstream, modules)
        config.use_dora = True
        return config


@METHODS.register("loha")
@dataclass
class LoHa(PeftMethod):
    rank: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules):
        from peft import LoHaConfig

        return LoHaConfig(r=self.rank, alpha=self.alpha, target_modules=modules)


@METHODS.register("lokr")
@dataclass
class LoKr(PeftMethod):
    rank: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules):
        from peft import LoKrConfig

        return LoKrConfig(r=self.rank, alpha=self.alpha, target_modules=modules)


@METHODS.register("ia3")
@dataclass
class IA3(PeftMethod):
    """Learned rescaling: of the first linear's output and of the second linear's input."""

    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules):
        from peft import IA3Config

        second = [m for m in modules if m.endswith(upstream.ffn_linears[1])]
        return IA3Config(target_modules=modules, feedforward_modules=second)


@METHODS.register("vera")
@dataclass
class Vera(PeftMethod):
    """Frozen shared random projections (regenerated from the seed) with trainable scaling vectors."""

    rank: int = 256
    projection_seed: int = 0
    targets: tuple[str, ...] = ("ffn_in", "ffn_out")

    def peft_config(self, upstream, modules):
        from peft import VeraConfig

        with warnings.catch_warnings():
            # Artifacts hold only trainable weights; the projections are regenerated from the seed.
            warnings.filterwarnings("ignore", message="Specified to not save vera_A")
            return VeraConfig(
                r=self.rank, target_modules=modules, projection_prng_key=self.projection_seed, save_projection=False
            )
