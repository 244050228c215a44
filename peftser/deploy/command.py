"""``--export ARTIFACT --to DIR [--format safetensors|onnx]``: an artifact as a deployable model."""

from __future__ import annotations

from pathlib import Path

from peftser.deploy.folder import CARRIED, EXPORT_CONFIG, check_destination


def export(artifact_dir: str | Path, out_dir: str | Path, fmt: str = "safetensors", *, checkpoint_dir=None,
           verify: bool = True) -> dict:
    """Export the artifact in ``artifact_dir`` into ``out_dir`` (on the CPU) and write its model
    card there when the artifact has a run record; returns the export's config."""
    from peftser.api import find_record
    from peftser.benchmark.artifact import load_artifact

    artifact_dir, out_dir = Path(artifact_dir), Path(out_dir)
    if fmt not in ("safetensors", "onnx"):
        raise ValueError(f"--format must be safetensors or onnx, got {fmt!r}")
    check_destination(out_dir)  # before the encoder is built
    if not artifact_dir.is_dir():
        raise FileNotFoundError(f"{artifact_dir} is not a peftser artifact: no such folder")
    model, artifact = load_artifact(artifact_dir, device="cpu", checkpoint_dir=checkpoint_dir, verify=verify)
    config = {key: artifact[key] for key in CARRIED if key in artifact}
    if fmt == "onnx":
        from peftser.deploy.onnx import export_onnx

        written = export_onnx(model, config, out_dir)
    else:
        from peftser.deploy.standalone import export_standalone

        written = export_standalone(model, config, out_dir)
    record = find_record(artifact_dir, artifact)
    if record is not None:
        from peftser.benchmark.card import write_model_card

        write_model_card(out_dir, record, export=written)
    return written


def export_command(artifact_dir: str, out_dir: str | None, fmt: str = "safetensors", *, checkpoint_dir=None,
                   verify: bool = True) -> int:
    """The command line's ``--export``: one line saying what was written and how well it matched."""
    if out_dir is None:
        raise ValueError("--export needs --to DIR, the folder to write the exported model into")
    written = export(artifact_dir, out_dir, fmt, checkpoint_dir=checkpoint_dir, verify=verify)
    check = written["export"]["check"]
    how = "merged" if written["merged"] else "its modules kept"
    print(f"{out_dir}: {written['weights']} and {EXPORT_CONFIG} ({written['upstream']}/{written['method']}, {how}); "
          f"largest logit difference from the artifact {check['max_abs_logit_difference']:.2g} "
          f"(tolerance {check['tolerance']:g})")
    return 0
