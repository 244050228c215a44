"""What the command line prints stays parseable: one line per file, nothing after the reader goes away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from peftser.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_a_file_name_with_a_newline_or_tab_stays_one_field_of_one_line(downstream_artifact, tmp_path, capsys, cache):
    named = tmp_path / "two\nlines\tand\\tab.wav"
    sf.write(named, (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 16000)
    missing = tmp_path / "gone\n.wav"
    assert main(["--predict", str(downstream_artifact), str(named), str(missing)]) == 2
    out, err = capsys.readouterr()
    (line,) = out.strip().split("\n")
    assert line.split("\t")[0] == str(tmp_path / "two\\nlines\\tand\\\\tab.wav") and len(line.split("\t")) == 3
    assert err.split("\n")[0] == f"error: {tmp_path}/gone\\n.wav: audio file is missing"


@pytest.mark.slow  # a process of its own, whose reader closes the pipe
def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    child = subprocess.Popen([sys.executable, str(ROOT / "run_benchmark.py"), "--list"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # as `| head -0` would, before the first line is written
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141 and err == ""


def finished_cell(cell, **kwargs):
    """A runner that returns at once (the worker's own error handling is what is tested)."""
    return {"status": "ok"}


@pytest.mark.parametrize("closed_after", ["start", "cell"])
def test_a_worker_whose_orchestrator_is_gone_stops_quietly(closed_after, monkeypatch, tmp_path):
    import multiprocessing as mp
    import os
    import signal

    from peftser.benchmark.run import scheduler
    from peftser.benchmark.run.slots import Slot

    monkeypatch.setattr(scheduler, "after_cell", lambda outcome: False)
    monkeypatch.setattr(scheduler, "_watch_parent", lambda pid: None)  # the test process is the parent
    parent, child = mp.Pipe(duplex=True)
    if closed_after == "cell":
        parent.send("a cell")  # the orchestrator hands out a cell, then is killed before the answer
    parent.close()
    previous = signal.getsignal(signal.SIGINT)
    try:
        slot = Slot(index=0, device="cpu", cuda_visible_devices="", threads=1)
        # BrokenPipeError or ConnectionResetError, raised out of the worker, was a traceback per worker
        scheduler._worker_main(slot, f"{__name__}:finished_cell", child, str(tmp_path), {}, os.getppid())
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow  # a process of its own, killed
@pytest.mark.parametrize("through_the_cli", [False, True])
def test_a_killed_process_leaves_no_leaked_semaphore_warning(tmp_path, through_the_cli):
    # A progress bar drawn in a process started as the grid's workers are (spawn), which then ends
    # without cleanup, as a killed worker or job does.
    code = "import multiprocessing, os; multiprocessing.set_start_method('spawn')"
    code += "; from peftser.cli import main; main(['--list'])" if through_the_cli else ""
    code += "; from tqdm import tqdm; list(tqdm(range(3))); os._exit(1)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    # Plain tqdm leaks its multiprocessing lock (the check can see it); the harness' processes do not.
    assert ("leaked semaphore" in done.stderr) is not through_the_cli
