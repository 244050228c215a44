"""The cells of the demo-sized trainings that conftest's ``demo_results`` and ``pooled_results``
train once per session (records saved as a grid run leaves them) for the tests of the Python API,
the model cards, the costs and the pooled corpus."""

from __future__ import annotations

from peftser.benchmark.cell import Cell

# The demo grid's schedule and LoRA: DEMO_CELL is the demo grid's cell of that name (a few seconds).
DEMO_TRAIN = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "augment": False, "max_seconds": 1.0}
DEMO_CELL = Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1",
                 method_args={"rank": 8, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]}, train=DEMO_TRAIN)
POOLED_CELL = Cell("demo_whisper_tiny", "lora", "synthetic_pooled_four", "release",
                   method_args={"rank": 16, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]},
                   train={**DEMO_TRAIN, "epochs": 1, "include_input_state": True})
