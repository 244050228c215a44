"""Type and range checks of what a grid file sets: method arguments, upstream overrides, training options.

The grid loader calls these, so that a bad value (``rank: "eight"``, ``lr: -1.0``) fails once, when
the grid loads, naming the value and what is allowed, instead of in every cell that uses it.
Written by hand: YAML yields only a handful of value types, and the checks need the harness' own
words for what a value may be (a validation library's generic messages would not name them).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Allowed:
    """What one value may be: a type, an optional interval, optional choices (for a list's items)."""

    kind: type  # int, float, bool, str or list
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False  # high itself excluded
    choices: tuple[str, ...] = ()  # a list's items must be among these (no repeats, not empty)

    def describe(self) -> str:
        """E.g. "an integer >= 1", "a number in [0, 1)", "a list of ffn_in, ffn_out"."""
        if self.kind is list:
            what = "a list"
            if self.choices:
                what += f" of {', '.join(self.choices)} (at least one, no repeats)"
            return what
        names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
        what = names.get(self.kind, f"a {self.kind.__name__}")
        if self.low is not None and self.high is not None:
            return f"{what} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{what} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<' if self.high_open else '<='} {self.high:g}"
        return what

    def accepts(self, value: Any) -> bool:
        if self.kind is list:
            if not isinstance(value, (list, tuple)):
                return False
            if self.choices:
                return bool(value) and len(set(value)) == len(value) and all(v in self.choices for v in value)
            return True
        if not _is_type(value, self.kind):
            return False
        if self.kind in (int, float):
            if not math.isfinite(value):
                return False
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                return False
            if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
                return False
        return True


def _is_type(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):  # YAML's true is no number, and 1 is no boolean
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


FRACTION = (0.0, 1.0)
# A signal-to-noise ratio in dB (augmentation, noise evaluations). Beyond +-100 dB one of the two is
# under a 16-bit recording's resolution (96 dB) anyway; unbounded, 10^(snr/10) overflows a float
# (4000 dB) or scales the noise past any clip's range (-400 dB).
SNR_DB = Allowed(float, -100.0, 100.0)
# The methods' hyperparameters, by name (the paper's vocabulary); a plugin's method arguments of
# these names are held to the same ranges. Types come from the method dataclass' annotations.
METHOD_ARGUMENTS: dict[str, Allowed] = {
    "rank": Allowed(int, low=1),
    "bottleneck": Allowed(int, low=1),
    "prompt_length": Allowed(int, low=1),
    "dropout": Allowed(float, *FRACTION, high_open=True),
    "scale": Allowed(float),
    "alpha": Allowed(float, low=0.0, low_open=True),
    "projection_seed": Allowed(int, low=0),
}
# The training options' ranges; their types are TrainConfig's (checked by TrainConfig.from_dict).
TRAIN_OPTIONS: dict[str, Allowed] = {
    "batch_size": Allowed(int, low=1),
    "lr": Allowed(float, low=0.0, low_open=True),
    "weight_decay": Allowed(float, low=0.0),
    "betas": Allowed(float, *FRACTION, high_open=True),  # each of the two
    "epochs": Allowed(int, low=1),
    "plateau_factor": Allowed(float, *FRACTION, low_open=True, high_open=True),
    "plateau_patience": Allowed(int, low=0),
    "min_lr": Allowed(float, low=0.0),
    "max_seconds": Allowed(float, low=0.0, low_open=True),
    "snr_db": SNR_DB,  # each of the two, low <= high
    "time_mask": Allowed(float, *FRACTION),  # each of the two, low <= high
    "head_hidden": Allowed(int, low=1),
    "head_dropout": Allowed(float, *FRACTION, high_open=True),
}
ORDERED_PAIRS = ("snr_db", "time_mask")  # (low, high) ranges a value is drawn from


def _bad(name: str, allowed: Allowed, value: Any) -> ValueError:
    return ValueError(f"{name} must be {allowed.describe()}, got {value!r}{_yaml_hint(value)}")


def _yaml_hint(value: Any) -> str:
    # YAML 1.1 (PyYAML) reads 1e-3 as text; only 1.0e-3 is a number.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        if "e" in value.lower() and "." not in value:
            mantissa, _, exponent = value.lower().partition("e")
            return f" (YAML reads {value} as text: write {mantissa}.0e{exponent})"
    return ""


def check_method_args(method_class: type, args: dict[str, Any]) -> None:
    """A ValueError for an argument whose value the method cannot take (names assumed known)."""
    try:
        hints = typing.get_type_hints(method_class)
    except (NameError, TypeError):  # a plugin's annotation that cannot be resolved: nothing to check against
        hints = {}
    for name, value in args.items():
        allowed = _allowed_by_annotation(hints.get(name), name)
        if allowed is not None and not allowed.accepts(value):
            raise _bad(name, allowed, value)


def _allowed_by_annotation(annotation: Any, name: str) -> Allowed | None:
    ranged = METHOD_ARGUMENTS.get(name)
    if annotation in (int, float, bool, str):
        if ranged is not None and ranged.kind is annotation:
            return ranged
        return Allowed(annotation)
    if typing.get_origin(annotation) in (tuple, list):
        items = typing.get_args(annotation)
        if name == "targets" and items and items[0] is str:
            from peftser.peft.base import FFN_TARGETS

            return Allowed(list, choices=tuple(FFN_TARGETS))
        return Allowed(list)
    return None  # Optional, unions and other types: left to the method


def check_train_ranges(train: dict[str, Any]) -> None:
    """A ValueError for a training option outside its range (types are TrainConfig's to check)."""
    for name, value in train.items():
        allowed = TRAIN_OPTIONS.get(name)
        if allowed is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not all(allowed.accepts(v) for v in values):
            what = f"two of {allowed.describe()}" if isinstance(value, (list, tuple)) else allowed.describe()
            raise ValueError(f"training option {name} must be {what}, got {value!r}")
        if name in ORDERED_PAIRS and values[0] > values[1]:
            raise ValueError(f"training option {name} is a (low, high) range; got low {values[0]!r} > high {values[1]!r}")


def check_override_types(config_class: type, args: dict[str, Any]) -> None:
    """A ValueError for an upstream override whose type differs from its transformers config default
    (``d_model: "big"``), or a dropout or probability outside [0, 1]; unknown keys are checked elsewhere."""
    defaults = config_class().to_dict()
    for name, value in args.items():
        default = defaults.get(name)
        if default is None:
            continue  # unset by default: any value the config accepts
        allowed = Allowed(_config_kind(default))
        if allowed.kind is float and ("dropout" in name or name.endswith(("_prob", "layerdrop"))):
            allowed = Allowed(float, *FRACTION)
        if not allowed.accepts(value):
            raise ValueError(
                f"{config_class.__name__} option {name} must be {allowed.describe()} like its default {default!r}, "
                f"got {value!r}{_yaml_hint(value)}"
            )


def _config_kind(default: Any) -> type:
    for kind in (bool, int, float, str, list):
        if isinstance(default, kind):
            return kind
    return list if isinstance(default, tuple) else type(default)
