"""The whole model as one ONNX graph: 16 kHz waves and their lengths in, logits out, with dynamic
batch and time axes, checked against torch with onnxruntime before it is kept.

The front end is inside the graph: Whisper's log-mel (an ONNX STFT, opset 17 and later), or the
convolutional front end on the raw wave. What the caller computes is what ``onnx_inputs`` does:
each clip as 16 kHz mono float32, cut to the model's ``max_seconds``, zero-padded after its end to
the batch's longest, with its length in samples. LoRA and its peft relatives are merged first
(``standalone.merged_copy``), so the graph is the plain encoder's; adapters and prompts are traced
with their modules. The graph is exported with torch's dynamo exporter (``torch.export``, then
onnxscript's translation); a model the exporter cannot trace, or whose graph does not match torch
within ``ONNX_TOLERANCE`` on a padded batch and on single clips, is refused with one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from peftser.deploy.check import ONNX_TOLERANCE, largest_difference, probe_clips
from peftser.model import SERModel
from peftser.sample_rate import SAMPLE_RATE

OPSET = 18  # STFT needs 17; 18 is the exporter's own (torchlib's) opset
MIN_SAMPLES = 400  # what every encoder takes (audio.MIN_SAMPLES): shorter clips are refused by predict
MAX_SECONDS = 30  # Whisper's position table: the time axis is dynamic up to it
INPUTS, OUTPUT = ("waves", "lengths"), "logits"


class ExportRefused(ValueError):
    """An export that cannot be made or checked: one line saying which model and why."""


def onnx_inputs(clips: list[np.ndarray], max_seconds: float) -> dict[str, np.ndarray]:
    """The graph's inputs for 16 kHz mono float32 clips: each cut to ``max_seconds``, zero-padded
    to the longest (``waves`` [B, S] float32), and its length in samples (``lengths`` [B] int64)."""
    cut = int(round(max_seconds * SAMPLE_RATE))
    clips = [np.asarray(c, dtype=np.float32)[:cut] for c in clips]
    if any(c.ndim != 1 or len(c) < MIN_SAMPLES for c in clips):
        raise ValueError(f"each clip must be 1-D 16 kHz samples, at least {MIN_SAMPLES} of them")
    waves = np.zeros((len(clips), max(len(c) for c in clips)), dtype=np.float32)
    for row, clip in zip(waves, clips):
        row[: len(clip)] = clip
    return {"waves": waves, "lengths": np.array([len(c) for c in clips], dtype=np.int64)}


class OnnxModel(nn.Module):
    """An ONNX export behind the torch model's call, ``model(waves, lengths) -> logits``, run by
    onnxruntime on the CPU, so that ``peftser.load`` predicts with it through the same batching."""

    def __init__(self, path: Path, threads: int | None = None):
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feed = {"waves": waves.detach().cpu().float().numpy(), "lengths": lengths.detach().cpu().long().numpy()}
        return torch.from_numpy(self.session.run([OUTPUT], feed)[0])


def versions() -> dict[str, str]:
    """The libraries that wrote and checked a graph (a ValueError saying how to install them)."""
    try:
        import onnx
        import onnxruntime
        import onnxscript
    except ImportError as err:
        raise ValueError(f"--format onnx needs onnx, onnxscript and onnxruntime ({err.name} is missing): "
                         "pip install -e \".[onnx]\"") from None

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxscript": onnxscript.__version__,
            "onnxruntime": onnxruntime.__version__}


def _one_line(err: BaseException) -> str:
    """The cause of an exporter's error in one line (its messages run to pages)."""
    text = str(err)
    summary = re.search(r"## Exception summary\s+(.+)", text)
    line = (summary[1] if summary else text.strip().splitlines()[0] if text.strip() else type(err).__name__).strip()
    line = re.sub(r"^<class '[\w.]+'>: ", "", line)  # the summary's "<class '...'>: " prefix
    return re.sub(r"\x1b\[[0-9;]*m", "", line)[:300]


def write_graph(model: nn.Module, path: Path, max_seconds: float) -> None:
    """Trace ``model`` (CPU, evaluation) with dynamic batch and time axes into ``path``."""
    example = onnx_inputs(probe_clips(max_seconds, count=2), max_seconds)
    batch = torch.export.Dim("batch", min=1, max=4096)
    time = torch.export.Dim("time", min=MIN_SAMPLES, max=MAX_SECONDS * SAMPLE_RATE)
    # Quiet: the exporter logs every torchvision operator it does not find, and torch.export prints
    # the whole traced graph when it fails; the refusal's one line says why.
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, tuple(torch.from_numpy(example[name]) for name in INPUTS), dynamo=True, opset_version=OPSET,
                input_names=list(INPUTS), output_names=[OUTPUT], dynamic_shapes=({0: batch, 1: time}, {0: batch}),
                external_data=False, verbose=False,
            )
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    program.save(str(path), external_data=False)


def check_graph(reference: SERModel, path: Path, max_seconds: float) -> dict:
    """onnxruntime's logits against torch's, on a padded batch and on each clip alone."""
    clips = probe_clips(max_seconds)
    difference = largest_difference(reference.cpu().eval(), OnnxModel(path), clips)
    if not difference <= ONNX_TOLERANCE:
        raise ValueError(f"onnxruntime's logits differ from torch's by {difference:.2g}, more than {ONNX_TOLERANCE:g}")
    return {"against": "the artifact's model in torch, unmerged", "clips": len(clips),
            "ways": "one padded batch, and each clip alone", "max_abs_logit_difference": difference,
            "tolerance": ONNX_TOLERANCE, "runtime": "onnxruntime CPUExecutionProvider"}


@torch.no_grad()
def export_onnx(model: SERModel, config: dict, out_dir: Path) -> dict:
    """Write ``model`` (an artifact's, with its ``config``) as an ONNX export into ``out_dir``; an
    ExportRefused names the model and why when it cannot be traced or does not match torch."""
    from peftser.deploy.folder import check_destination, write_export
    from peftser.deploy.standalone import merged_copy

    check_destination(Path(out_dir))  # the destination's own problem is not the model's
    what = f"{config['upstream']}/{config['method']}"
    merged, was_merged = merged_copy(model)
    export = {"opset": OPSET, "versions": versions(), "inputs": {"waves": "[batch, samples] float32, 16 kHz",
              "lengths": "[batch] int64, valid samples"}, "outputs": {"logits": "[batch, classes] float32"}}
    try:
        return write_export(out_dir, "onnx", {**config, "merged": was_merged, "export": export},
                            lambda path: write_graph(merged, path, config["max_seconds"]),
                            lambda path: check_graph(model, path, config["max_seconds"]))
    except Exception as err:  # the exporter's and onnxruntime's own error types among them
        raise ExportRefused(f"{what} cannot be exported to ONNX: {_one_line(err)}; nothing was written") from err
