"""The training hyperparameters, the paper's by default (docs/protocol.md, "Training")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def _checked(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the option's default, or a ValueError naming the option."""
    def bad() -> ValueError:
        return ValueError(f"training option {name} must be {type(default).__name__} like {default!r}, got {value!r}")

    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise bad()
        return tuple(_checked(name, v, d) for v, d in zip(value, default))
    if isinstance(default, bool) or isinstance(value, bool):
        if type(value) is not type(default):
            raise bad()
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or value < (0 if name == "plateau_patience" else 1):
            raise bad()
        return value
    if isinstance(default, float):
        if not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if not isinstance(value, type(default)):
        raise bad()
    return value


# Options that enter a cell's key only when set (see TrainConfig.identity).
KEYED_WHEN_SET = frozenset({"per_clip_log_mel", "attribute_loss"})
# Options the paper has no value for (its tasks are categorical): a change is from the harness' default.
BEYOND_THE_PAPER = frozenset({"attribute_loss"})


@dataclass(frozen=True)
class TrainConfig:
    """One training's hyperparameters; every default is the paper's (Section V-A, reference code)."""

    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.98)
    epochs: int = 30
    plateau_factor: float = 0.5  # ReduceLROnPlateau on dev loss
    plateau_patience: int = 5
    min_lr: float = 5e-5
    max_seconds: float = 6.0  # audio cut
    augment: bool = True  # training audio only
    snr_db: tuple[float, float] = (10.0, 30.0)  # Gaussian noise
    time_mask: tuple[float, float] = (0.10, 0.15)  # one faded mask of int(n*low) to int(n*high) samples (audiomentations' TimeMask)
    class_weighted: bool = True  # inverse training frequency
    head_hidden: int = 256
    head_dropout: float = 0.1
    include_input_state: bool = False  # layer sum over the transformer outputs only, as the reference
    layerdrop: bool = True  # the checkpoint config's LayerDrop in training, as the reference ran it
    length_bucketing: bool = False  # True: batches of similar length (faster; the padding a clip sees changes)
    mask_padding: bool = False  # True: padding kept out of every clip's computation in training too (as in evaluation)
    # True: Whisper's training log-mel of each clip alone (evaluation's); the reference's is that of
    # the zero-padded batch row (docs/protocol.md, section 8)
    per_clip_log_mel: bool = False
    precision: str = "fp32"  # "bf16" autocast where the GPU supports it
    attribute_loss: str = "ccc"  # attribute tasks: 1 - CCC over the batch, or "mse"

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "TrainConfig":
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        defaults = cls()
        for name, value in values.items():
            values[name] = _checked(name, value, getattr(defaults, name))
        if values.get("precision", "fp32") not in ("fp32", "bf16"):
            raise ValueError(f"training option precision must be fp32 or bf16, got {values['precision']!r}")
        if values.get("attribute_loss", "ccc") not in ("ccc", "mse"):
            raise ValueError(f"training option attribute_loss must be ccc or mse, got {values['attribute_loss']!r}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def identity(self) -> dict[str, Any]:
        """``to_dict`` without the options added after cell keys were first fixed while they keep
        their default, so that every cell recorded before such an option existed keeps its key."""
        defaults = TrainConfig()
        return {k: v for k, v in self.to_dict().items() if k not in KEYED_WHEN_SET or getattr(self, k) != getattr(defaults, k)}

    def departures(self) -> list[str]:
        """Every option that differs from the paper's value, as "name ours (paper: theirs)"."""
        paper, ours = TrainConfig().to_dict(), self.to_dict()
        return [f"{k} {ours[k]} ({'default' if k in BEYOND_THE_PAPER else 'paper'}: {paper[k]})"
                for k in paper if ours[k] != paper[k]]

