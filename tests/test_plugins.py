"""A user's own method, registered in their own module, used from the CLI and by grid workers."""

from __future__ import annotations

import json
import textwrap

from peftser.cli import main
from peftser.registry import METHODS, PLUGINS_ENV

PLUGIN = '''
from dataclasses import dataclass

from peftser.peft.base import Method
from peftser.registry import METHODS


@METHODS.register("bitfit_plugin")
@dataclass
class BitFit(Method):
    name = "bitfit_plugin"

    def modify(self, upstream):
        for name, p in upstream.named_parameters():
            if name.endswith(".bias"):
                p.requires_grad_(True)
'''

GRID = '''
name: plugin_grid
upstreams: [demo_whisper_tiny]
methods: [bitfit_plugin]
tasks: [{task: synthetic_msp_podcast, trainings: [seed1]}]
train: {epochs: 1, batch_size: 8, head_hidden: 64}
'''


def test_plugin_entries_reach_the_cli_and_the_grid_workers(tmp_path, monkeypatch, capsys):
    (tmp_path / "ser_plugin_demo.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "plugin_grid.yaml").write_text(GRID)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, "")  # restored after the test, whatever --plugin adds
    try:
        assert main(["--plugin", "ser_plugin_demo", "--list", "--json"]) == 0
        assert "bitfit_plugin" in json.loads(capsys.readouterr().out)["methods"]

        results = tmp_path / "results"
        args = ["--plugin", "ser_plugin_demo", "--grid", str(tmp_path / "plugin_grid.yaml"), "--results", str(results), "--devices", "cpu", "--jobs-per-device", "1"]
        assert main(args) == 0  # the worker process imported the plugin too
        (record,) = [json.loads(p.read_text()) for p in (results / "records").rglob("*.json")]
        assert record["status"] == "ok" and record["method"] == "bitfit_plugin" and record["method_params"] > 0
    finally:
        if "bitfit_plugin" in METHODS:
            METHODS.unregister("bitfit_plugin")


def test_a_missing_plugin_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv(PLUGINS_ENV, "")  # restored after the test, whatever --plugin adds
    assert main(["--plugin", "no_such_plugin_module", "--list"]) == 2
    assert "no_such_plugin_module" in capsys.readouterr().err
