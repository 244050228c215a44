"""``--predict ARTIFACT_DIR FILE.wav ...``: the emotion of each file, from a trained artifact."""

from __future__ import annotations

import torch

from peftser.benchmark.artifact import load_artifact
from peftser.benchmark.training import default_device
from peftser.downstream.audio import load_audio


@torch.no_grad()
def predict_files(artifact_dir, files, *, device: str = "cpu", checkpoint_dir=None) -> list[dict]:
    """Per file: its path, the most probable emotion and every class' probability."""
    model, config = load_artifact(artifact_dir, device=device, checkpoint_dir=checkpoint_dir)
    results = []
    for path in files:
        wave = torch.from_numpy(load_audio(path, max_seconds=config["max_seconds"]))[None].to(device)
        probs = torch.softmax(model(wave, torch.tensor([wave.shape[1]], device=device)), dim=-1)[0].cpu()
        classes = config["classes"]
        results.append({"path": str(path), "emotion": classes[int(probs.argmax())], **{c: float(p) for c, p in zip(classes, probs)}})
    return results


def main(args) -> int:
    artifact_dir, *files = args.predict
    if not files:
        raise ValueError("--predict needs an artifact directory and at least one audio file")
    device = args.device or default_device()
    for r in predict_files(artifact_dir, files, device=device, checkpoint_dir=args.checkpoint_dir):
        probs = "  ".join(f"{c} {r[c]:.3f}" for c in r if c not in ("path", "emotion"))
        print(f"{r['path']}\t{r['emotion']}\t{probs}")
    return 0
