"""Registered PEFT methods. Add one with ``@METHODS.register(name)`` on a ``Method`` dataclass."""

from __future__ import annotations

from peftser.peft import adapter, downstream, embedding_prompt, lora  # noqa: F401  (registrations)
from peftser.peft.base import Method, trainable_parameters
from peftser.registry import METHODS, load_builtins


def build_method(name: str, **args) -> Method:
    """The registered method ``name`` with its arguments (paper defaults for the rest)."""
    load_builtins()
    return METHODS.get(name).from_args(**args)


__all__ = ["Method", "build_method", "trainable_parameters"]
