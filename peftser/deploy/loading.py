"""An export folder read back: a torch model for ``safetensors``, onnxruntime behind the same call
for ``onnx``. Apart from folder.py, which the two writers use, so that no module imports its own user."""

from __future__ import annotations

from pathlib import Path

from peftser.deploy.folder import read_export_config


def load_export(directory: str | Path, *, device: str = "cpu", verify: bool = True):
    """(model, config) of an export folder: a torch model for ``safetensors``, onnxruntime behind
    the same call for ``onnx`` (CPU only)."""
    directory = Path(directory)
    config = read_export_config(directory, verify)
    if config["format"] == "onnx":
        from peftser.deploy.onnx import OnnxModel

        if device != "cpu":
            raise ValueError(f"{directory}: an ONNX export runs on onnxruntime's CPU provider here, not on {device}")
        return OnnxModel(directory / config["weights"]), config
    from peftser.deploy.standalone import load_standalone

    return load_standalone(directory / config["weights"], config).to(device).eval(), config
