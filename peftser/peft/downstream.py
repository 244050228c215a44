"""The baseline: the whole upstream frozen, only the downstream model trains."""

from __future__ import annotations

from dataclasses import dataclass

from peftser.peft.base import Method
from peftser.registry import METHODS


@METHODS.register("downstream")
@dataclass
class Downstream(Method):

    def modify(self, upstream) -> None:
        """Nothing to add: ``apply`` has already frozen the upstream."""
