"""Atomic writes: whole files only, no temporary left behind, the mode of a normal file."""

import json
import os
import stat

import numpy as np
import pytest

from peftser.files import atomic_write, write_json_atomic, write_text_atomic


def test_files_get_the_umask_mode_not_mkstemps_owner_only(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "a" / "leaderboard.md", "# Leaderboard\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "# Leaderboard\n"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_json_atomic(tmp_path / "record.json", {"uar": np.float32(50.0), "n": np.int64(4)})
    assert json.loads(path.read_text()) == {"uar": 50.0, "n": 4}

    def crash(handle):
        handle.write(b"half a fi")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"uar": 50.0, "n": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
