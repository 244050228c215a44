"""--manifest: one CSV row per kept utterance with its role in every training, and every skipped file reported."""

from __future__ import annotations

import csv
import warnings

import pytest
from corpus_fixtures import break_some_audio, build_crema_d, build_iemocap, load_quietly

from peftser.downstream.audio import AudioError
from peftser.downstream.manifest import manifest_command, write_manifest
from peftser.downstream.tasks import make_task

pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def test_manifest_csv_has_one_row_per_kept_utterance_and_its_splits(tmp_path):
    build_crema_d(tmp_path / "CREMA-D")
    task = make_task("crema_d", data_root=tmp_path)
    load_quietly(task)
    out = tmp_path / "out" / "crema_d.csv"
    summary = write_manifest(task, out)
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["key", "path", "speaker", "gender", "label", "fold1", "fold2", "fold3", "fold4", "fold5"]
    assert [r["key"] for r in rows] == [u.key for u in task.utterances]
    by_key = {r["key"]: r for r in rows}
    for training in task.trainings():
        for role in ("train", "dev", "test"):
            assert all(by_key[u.key][training.name] == role for u in getattr(training, role))
    assert by_key["1001_DFA_FEA_HI"]["fold1"] == "test" and by_key["1001_DFA_FEA_HI"]["fold2"] == "train"
    assert f"wrote {len(rows)} utterances" in summary
    assert "| neutral |" in summary and "| fold5 " in summary
    assert "excluded: tie vote" in summary and "expected 4798" in summary


def test_manifest_cli_reports_every_skipped_file(tmp_path, capsys):
    root = tmp_path / "IEMOCAP_full_release"
    build_iemocap(root)
    break_some_audio(root)
    out = tmp_path / "iemocap.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert manifest_command("iemocap", data_root=str(tmp_path), out=str(out)) == 0
    printed = capsys.readouterr().out
    assert "wrote 33 utterances" in printed
    for name in ("Ses01F_impro01_F000.wav: audio file is missing", "Ses01F_impro01_F001.wav: audio file is empty",
                 "Ses01M_script01_1_M006.wav: audio is all zeros"):
        assert name in printed
    assert "bad audio: missing" in printed and "excluded: label 'fru'" in printed
    assert "kept with flawed audio" in printed.split("Ses01F_impro01_F001.wav")[-1]  # the silent clip, kept
    assert len(out.read_text().splitlines()) == 34
    with pytest.raises(AudioError):
        manifest_command("iemocap", data_root=str(tmp_path), out=str(out), strict=True)
