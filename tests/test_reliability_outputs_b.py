"""What the command line prints stays parseable: one line per file, nothing after the reader goes away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from peftser.benchmark.artifact import artifact_config, save_artifact
from peftser.cli import main
from peftser.model import build_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    directory = tmp_path_factory.mktemp("artifact")
    model = build_model("demo_whisper_tiny", "downstream", head_hidden=16)
    save_artifact(model, directory, artifact_config(model, "demo_whisper_tiny", {}, 1.0))
    return directory


def test_a_file_name_with_a_newline_or_tab_stays_one_field_of_one_line(artifact, tmp_path, capsys, own_cache):
    named = tmp_path / "two\nlines\tand\\tab.wav"
    sf.write(named, (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 16000)
    missing = tmp_path / "gone\n.wav"
    assert main(["--predict", str(artifact), str(named), str(missing)]) == 2
    out, err = capsys.readouterr()
    (line,) = out.strip().split("\n")
    assert line.split("\t")[0] == str(tmp_path / "two\\nlines\\tand\\\\tab.wav") and len(line.split("\t")) == 3
    assert err.split("\n")[0] == f"error: {tmp_path}/gone\\n.wav: audio file is missing"


@pytest.mark.slow  # a process of its own, whose reader closes the pipe
def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    child = subprocess.Popen([sys.executable, str(ROOT / "run_benchmark.py"), "--params"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # as `| head -0` would, before the first line is written
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141 and err == ""
