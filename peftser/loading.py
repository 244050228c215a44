"""``peftser.load``: one trained model (an artifact's or an export's folder, ``peftser.api``), or
several artifacts on one frozen encoder (a list or a dict of folders, ``peftser.deploy.shared``)."""

from __future__ import annotations

from pathlib import Path


def load(artifact_dir: str | Path | list | tuple | dict, device: str | None = None, *, checkpoint_dir=None,
         verify: bool = True):
    """The trained model in ``artifact_dir`` (see ``peftser.api.load``). A list of artifact folders
    (or a dict naming them) gives one predictor holding one frozen encoder for them all,
    ``predict(..., model=name)`` choosing the artifact."""
    if isinstance(artifact_dir, (list, tuple, dict)):
        from peftser.deploy.shared import load_shared

        return load_shared(artifact_dir, device, checkpoint_dir=checkpoint_dir, verify=verify)
    from peftser.api import load as load_one

    return load_one(artifact_dir, device, checkpoint_dir=checkpoint_dir, verify=verify)
