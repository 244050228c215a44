"""A standalone model: encoder, method and head in one safetensors file, which ``peftser.load``
rebuilds from ``model_config.json`` alone (no checkpoint download).

LoRA and its peft relatives (DoRA, LoHa, LoKr, IA3, VeRA) are merged into the encoder's linears by
peft's own ``merge_and_unload`` (``Method.merge``): the standalone model is then the plain encoder
with changed weights, as fast as the frozen one. Adapters and prompts cannot be folded into a
linear and keep their modules. The encoder's architecture is its transformers config, stored
whole, so a checkpoint whose config differs from the registry's sizes rebuilds as it was.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from peftser.deploy.check import MERGED_TOLERANCE, largest_difference, probe_clips
from peftser.model import SERModel, build_model


def merged_copy(model: SERModel) -> tuple[SERModel, bool]:
    """A copy of ``model`` (evaluation mode, CPU) with its method merged where the method can be,
    and whether it was."""
    merged = copy.deepcopy(model).cpu().eval()
    return merged, merged.method.merge(merged.upstream)


def encoder_config(model: SERModel) -> dict:
    """The encoder's whole transformers config, from which ``load_standalone`` rebuilds its modules."""
    config = getattr(model.upstream.model, "config", None)
    if config is None:
        raise ValueError(f"{model.upstream.spec.name}: its encoder has no transformers config to rebuild it from")
    return config.to_dict()


def save_weights(model: SERModel, path: Path) -> None:
    """Every tensor of ``model``'s state (frozen encoder, method, head) into ``path``."""
    # Cloned: safetensors refuses tensors that share memory, and a state dict may hold views.
    save_file({name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}, str(path))


def check_merged(reference: SERModel, merged: SERModel, max_seconds: float) -> dict:
    """The standalone model's logits against the artifact's, or a ValueError beyond the tolerance."""
    clips = probe_clips(max_seconds)
    difference = largest_difference(reference.cpu().eval(), merged, clips)
    if not difference <= MERGED_TOLERANCE:
        raise ValueError(f"the merged model's logits differ from the artifact's by {difference:.2g}, "
                         f"more than {MERGED_TOLERANCE:g}; nothing was written")
    return {"against": "the artifact's model in torch, unmerged", "clips": len(clips),
            "ways": "one padded batch, and each clip alone", "max_abs_logit_difference": difference,
            "tolerance": MERGED_TOLERANCE}


def load_standalone(weights: Path, config: dict) -> SERModel:
    """The model of a standalone export: its encoder built from the stored transformers config
    (random weights, then overwritten), the method's modules unless merged, every tensor loaded."""
    model = build_model(
        config["upstream"],
        "downstream" if config["merged"] else config["method"],
        method_args={} if config["merged"] else config["method_args"],
        upstream_args=config.get("encoder_config") or config["upstream_args"],
        pretrained=False,
        head_hidden=config["head"]["hidden"],
        head_dropout=config["head"]["dropout"],
        include_input_state=config["head"].get("include_input_state", False),
        num_classes=len(config["classes"]),
    )
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error type for a damaged file
        raise ValueError(f"{weights} cannot be read: {err}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # names missing, unexpected or misshapen tensors
        raise ValueError(f"{weights} does not fit the model model_config.json describes: {str(err).splitlines()[0]}") from None
    return model.eval()


@torch.no_grad()
def export_standalone(model: SERModel, config: dict, out_dir: Path) -> dict:
    """Write ``model`` (an artifact's, with its ``config``) as a standalone export into ``out_dir``."""
    from peftser.deploy.folder import write_export

    merged, was_merged = merged_copy(model)
    import peft
    import safetensors

    versions = {"torch": torch.__version__, "peft": peft.__version__, "safetensors": safetensors.__version__}
    standalone = {**config, "merged": was_merged, "encoder_config": encoder_config(model), "export": {"versions": versions}}
    return write_export(out_dir, "safetensors", standalone, lambda path: save_weights(merged, path),
                        lambda path: check_merged(model, load_standalone(path, standalone), config["max_seconds"]))
