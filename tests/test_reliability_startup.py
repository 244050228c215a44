"""Start-up: SIGTERM while importing, and plugins that fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from peftser.cli import main
from peftser.registry import METHODS, PLUGINS_ENV, load_builtins

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}", PLUGINS_ENV: "", "PEFTSER_CACHE": str(tmp_path / "cache")}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--list"], ["--params"]])
def test_sigterm_while_a_plugin_is_imported_ends_with_143_and_one_line(tmp_path, mode):
    started = tmp_path / "importing"
    (tmp_path / "slow_plugin.py").write_text(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(REPO / "run_benchmark.py"), "--plugin", "slow_plugin", *mode],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), proc.stderr.read() if proc.poll() is not None else "the plugin was never imported"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.splitlines() == ["terminated (SIGTERM): the job stopped; what it had not finished is not recorded"]


STOPPED_WHILE_PARSING = """
import os, signal, sys, time
import peftser.cli as cli
build = cli.parser
def parser():  # SIGTERM arrives while the command line is read, before any mode runs
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    return build()
cli.parser = parser
sys.exit(cli.main(["--list"]))
"""


def test_sigterm_before_the_mode_starts_is_handled_too(tmp_path):
    done = subprocess.run([sys.executable, "-c", STOPPED_WHILE_PARSING], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 143, done.stderr
    assert done.stderr.splitlines() == ["terminated (SIGTERM): the job stopped; what it had not finished is not recorded"]


PLUGINS = {
    "raises_runtime": ("raise RuntimeError('no GPU here')", "failed while being imported: RuntimeError: no GPU here"),
    "raises_value": ("raise ValueError('bad table')", "failed while being imported: ValueError: bad table"),
    "bad_syntax": ("def broken(:\n    pass", "has a syntax error: "),
    "exits": ("import sys\nsys.exit(3)", "called sys.exit(3) while being imported"),
    "duplicate": (
        "from peftser.registry import METHODS\nfrom dataclasses import dataclass\nfrom peftser.peft.base import Method\nMETHODS.register('lora', dataclass(type('Mine', (Method,), {})))",
        "failed while being imported: ValueError: method 'lora' is already registered",
    ),
}


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_a_failing_plugin_is_one_line_naming_it(tmp_path, monkeypatch, capsys, name):
    code, message = PLUGINS[name]
    module = f"broken_plugin_{name}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(code) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, "")
    load_builtins()  # the built-ins first, so that what is restored below is them
    try:
        with METHODS.preserved():
            assert main(["--plugin", module, "--list"]) == 2
    finally:
        sys.modules.pop(module, None)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: plugin module '{module}' (from --plugin or ${PLUGINS_ENV}) ") and message in err
