"""Embedding prompts (Eq. 2): l trainable vectors in front of every encoder layer's input.

Written here because Hugging Face peft's prompt methods target text decoders' token embeddings,
not the per-layer hidden states of a speech encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from peftser.peft.base import Method
from peftser.registry import METHODS


@METHODS.register("embedding_prompt")
@dataclass
class EmbeddingPrompt(Method):
    prompt_length: int = 5

    def modify(self, upstream) -> None:
        if self.prompt_length < 1:
            raise ValueError(f"embedding_prompt: prompt_length must be >= 1, got {self.prompt_length}")
        from peftser.peft.layer_prompt import LayerPrompt  # torch, only when a model is built

        for layer in upstream.layers:
            prompt = LayerPrompt(self.prompt_length, upstream.hidden_size)
            layer.add_module("embedding_prompt", prompt)
            layer.register_forward_pre_hook(prompt.prepend, with_kwargs=True)
            layer.register_forward_hook(prompt.remove, with_kwargs=True)
