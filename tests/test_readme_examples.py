"""Every user-facing code block of the README runs as written, on the synthetic corpora.

The convention: every ```python block and every ```yaml block that is a grid is run; a block that
cannot run on a CPU machine without data is preceded, on the line above, by
``<!-- example: not run (REASON) -->``. The quick start (```bash) is outside this test. A python
block runs as a script of its own, in a folder holding what its placeholders name: the artifact
``results/demo/artifacts/<cell key>`` (a demo-sized training, with its record, as a grid run leaves
it) and two clips, ``clip1.wav`` and ``clip2.wav``. A block whose first line is ``# NAME.py`` is also
saved as NAME.py, the plugin module the README's commands then name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml


ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = re.compile(r"<!-- example: not run \((.+)\) -->")


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    text: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of ``text``, each with the not-run reason on the line above it."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w+)", lines[i])
        if fence:
            end = lines.index("```", i + 1)
            above = NOT_RUN.fullmatch(lines[i - 1].strip()) if i else None
            blocks.append(Block(fence[1], i + 1, "\n".join(lines[i + 1 : end]) + "\n", above[1] if above else None))
            i = end
        i += 1
    return blocks


def is_grid(block: Block) -> bool:
    loaded = yaml.safe_load(block.text)
    return isinstance(loaded, dict) and {"upstreams", "methods", "tasks"} <= set(loaded)


BLOCKS = readme_blocks((ROOT / "README.md").read_text())
PYTHON = [b for b in BLOCKS if b.language == "python" and b.skip_reason is None]
GRIDS = [b for b in BLOCKS if b.language == "yaml" and b.skip_reason is None]


def test_every_python_and_yaml_block_is_run_or_says_why_not():
    assert PYTHON, "the README has python examples"
    for block in BLOCKS:
        if block.language == "yaml" and block.skip_reason is None:
            assert is_grid(block), f"README line {block.line}: a yaml block that is not a grid must be marked not run"
        if block.skip_reason is not None:
            assert block.language in ("python", "yaml"), f"README line {block.line}: only python and yaml blocks are run"


def test_the_parser_finds_blocks_and_their_marks():
    text = "a\n```python\nx = 1\n```\n<!-- example: not run (needs a GPU) -->\n```yaml\nk: 1\n```\n"
    assert readme_blocks(text) == [Block("python", 2, "x = 1\n", None), Block("yaml", 6, "k: 1\n", "needs a GPU")]


def _environment(folder: Path) -> dict:
    paths = [str(ROOT), str(folder), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.fixture
def example_folder(tmp_path, demo_results):
    """A folder where the README's placeholders name real things."""
    results, record = demo_results
    demo = tmp_path / "results" / "demo"
    shutil.copytree(results / "records", demo / "records")
    shutil.copytree(results / "artifacts" / record["key"], demo / "artifacts" / "<cell key>")
    rng = np.random.default_rng(0)
    for name, seconds in (("clip1.wav", 1.5), ("clip2.wav", 0.7)):
        sf.write(tmp_path / name, (0.1 * rng.standard_normal(int(16_000 * seconds))).astype(np.float32), 16_000)
    return tmp_path


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=folder, env=_environment(folder), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_block_runs(block, example_folder):
    first = block.text.splitlines()[0]
    module = re.fullmatch(r"# (\w+)\.py", first)
    if module:
        (example_folder / f"{module[1]}.py").write_text(block.text)
    script = example_folder / f"readme_line{block.line}.py"
    script.write_text(block.text)
    _run([sys.executable, str(script)], example_folder)


@pytest.mark.slow
def test_the_plugin_example_trains_its_new_family(example_folder):
    """The Extending example's plugin, as its command names it, trains the template family."""
    plugin = [b for b in PYTHON if b.text.startswith("# my_entries.py")]
    assert plugin, "the README's Extending example is the plugin module my_entries.py"
    (example_folder / "my_entries.py").write_text(plugin[0].text)
    done = _run([sys.executable, str(ROOT / "run_benchmark.py"), "--plugin", "my_entries", "--train", "example_tiny",
                 "bitfit", "synthetic_crema_d", "fold1", "--epochs", "1", "--results", "plugin-results"], example_folder)
    assert "example_tiny/bitfit/synthetic_crema_d/fold1: test UAR" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("block", GRIDS, ids=[f"line{b.line}" for b in GRIDS])
def test_grid_block_runs(block, example_folder):
    (example_folder / "readme_grid.yaml").write_text(block.text)
    _run([sys.executable, str(ROOT / "run_benchmark.py"), "--grid", "readme_grid.yaml", "--epochs", "1",
          "--results", "grid-results", "--no-evaluate"], example_folder)
