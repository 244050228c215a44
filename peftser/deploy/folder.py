"""An export folder: the exported weights (``model.safetensors`` or ``model.onnx``) beside
``model_config.json``, written whole or not at all, and read back by ``peftser.load``.

The config keeps the artifact's own fields (upstream, method and its arguments, head, classes,
``max_seconds``, the cell it was trained as) and adds what the export is: ``format``, ``merged``,
the weights' name and sha256, and ``export`` (what was checked against what, the largest
difference, the versions that wrote and checked it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from peftser.benchmark.artifact import check_weights, config_problem, sha256_file

EXPORT_CONFIG = "model_config.json"
FORMATS = {"safetensors": "model.safetensors", "onnx": "model.onnx"}
# The artifact config's fields an export carries over (not its frozen fingerprint or weights' sha256).
CARRIED = ("cell", "key", "upstream", "upstream_args", "pretrained", "method", "method_args", "head", "classes",
           "max_seconds", "peftser_version")


def is_export(directory: str | Path) -> bool:
    """Whether ``directory`` holds an export (its ``model_config.json``) rather than an artifact."""
    return (Path(directory) / EXPORT_CONFIG).is_file()


def check_destination(out_dir: Path) -> None:
    """A ValueError before any work when ``out_dir`` already holds something: an export never mixes with other files."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"--to {out_dir}: the folder exists and is not empty; export into a new or empty folder")


def write_export(out_dir: str | Path, fmt: str, config: dict, write_weights: Callable[[Path], None],
                 check: Callable[[Path], dict]) -> dict:
    """Write the weights (``write_weights(path)``) into a hidden folder beside ``out_dir``, run
    ``check(path)`` on them (what it returns is the config's ``export.check``; it raises when the
    export is unsound), then write the config and rename the folder into place. Whatever fails
    leaves nothing at ``out_dir``; returns the config written."""
    out_dir = Path(out_dir)
    check_destination(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial"))
    try:
        weights = partial / FORMATS[fmt]
        write_weights(weights)
        checked = check(weights)
        config = {**config, "format": fmt, "weights": weights.name, "weights_sha256": sha256_file(weights),
                  "export": {**config.get("export", {}), "check": checked}}
        (partial / EXPORT_CONFIG).write_text(json.dumps(config, indent=2))
        os.chmod(partial, 0o777 & ~_umask())
        if out_dir.exists():
            out_dir.rmdir()  # empty (check_destination): the rename needs it gone
        os.replace(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return config


def read_export_config(directory: Path, verify: bool = True) -> dict:
    """The folder's ``model_config.json``, checked as an artifact's config is (and its weights'
    sha256 unless ``verify=False``); a ValueError names the file and what is wrong."""
    path = directory / EXPORT_CONFIG
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(config, dict) or config.get("format") not in FORMATS:
        raise ValueError(f"{path}: format must be one of {sorted(FORMATS)}, got {config.get('format') if isinstance(config, dict) else config!r}")
    missing = [k for k in (*CARRIED[2:-1], "weights", "merged") if k not in config]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a peftser export config")
    if config["weights"] != FORMATS[config["format"]]:
        raise ValueError(f"{path}: weights is {config['weights']!r}, not {FORMATS[config['format']]!r}")
    why = config_problem(config)
    if why:
        raise ValueError(f"{path}: {why}")
    if not (directory / config["weights"]).is_file():
        raise FileNotFoundError(f"{directory} is not a peftser export: {config['weights']} is missing")
    if verify:
        check_weights(directory, config.get("weights_sha256"), config["weights"], EXPORT_CONFIG)
    return config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
