"""pooled_four: the four corpora merged with the authors' release split; its synthetic twin's
per-corpus test metrics; the release grid."""

from __future__ import annotations

import csv

import pytest

from corpus_fixtures import build_crema_d, build_iemocap, build_msp_improv, build_msp_podcast
from peftser.benchmark.grids import GRID_DIR, load_grid
from peftser.benchmark.metrics import metrics_from_predictions
from peftser.cli import main
from peftser.downstream.tasks import make_task
from peftser.downstream.tasks.crema_d import CremaD
from peftser.downstream.tasks.folds import kfold_plans
from peftser.downstream.tasks.pooled import PooledFour
from trained_cells import POOLED_CELL

FOLDERS = {"iemocap": "IEMOCAP_full_release", "msp_improv": "MSP-IMPROV", "msp_podcast": "MSP-PODCAST", "crema_d": "CREMA-D"}
BUILDERS = {"iemocap": build_iemocap, "msp_improv": build_msp_improv, "msp_podcast": build_msp_podcast, "crema_d": build_crema_d}
CREMA_DEV = {str(a) for a in range(1059, 1074)}
CREMA_TEST = {str(a) for a in range(1074, 1092)}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The four fixture corpora in their release layouts under one data root, and what each reader must keep."""
    root = tmp_path_factory.mktemp("data")
    return root, {name: BUILDERS[name](root / folder) for name, folder in FOLDERS.items()}


def _release_role(source: str, group: str) -> str:
    dev = {"iemocap": {"Session4"}, "msp_improv": {"session4"}, "msp_podcast": {"Validation"}, "crema_d": CREMA_DEV}
    test = {"iemocap": {"Session5"}, "msp_improv": {"session5"}, "msp_podcast": {"Test1"}, "crema_d": CREMA_TEST}
    return "test" if group in test[source] else "dev" if group in dev[source] else "train"


def test_manifest_puts_exactly_the_release_sessions_sets_and_speakers_in_dev_and_test(corpora, tmp_path, capsys):
    root, expected = corpora
    out = tmp_path / "pooled.csv"
    assert main(["--manifest", "pooled_four", "--data-root", str(root), "--out", str(out)]) == 0
    assert "task pooled_four" in capsys.readouterr().out
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-1] == "release"  # one training
    roles = {row["key"]: row["release"] for row in rows}
    speakers = {row["key"]: row["speaker"] for row in rows}
    wanted = {key: _release_role(source, kept[3]) for source, e in expected.items() for key, kept in e.kept.items()}
    assert roles == wanted  # every kept utterance of every corpus, each in its release role
    by_source = {source: {key: roles[key] for key in e.kept} for source, e in expected.items()}
    groups = {source: {role: {e.kept[k][3] for k, r in by_source[source].items() if r == role} for role in ("train", "dev", "test")}
              for source, e in expected.items()}
    assert groups["iemocap"] == {"train": {"Session1", "Session2", "Session3"}, "dev": {"Session4"}, "test": {"Session5"}}
    assert groups["msp_improv"] == {"train": {"session1", "session2", "session3", "session6"}, "dev": {"session4"}, "test": {"session5"}}
    assert groups["msp_podcast"] == {"train": {"Train"}, "dev": {"Validation"}, "test": {"Test1"}}
    crema = {role: {speakers[k] for k, r in by_source["crema_d"].items() if r == role} for role in ("dev", "test")}
    assert crema == {"dev": CREMA_DEV, "test": CREMA_TEST}
    assert min(int(s) for s in groups["crema_d"]["train"]) == 1001 and max(int(s) for s in groups["crema_d"]["train"]) == 1058


def test_exclusions_are_counted_per_corpus(corpora):
    root, expected = corpora
    task = make_task("pooled_four", data_root=root)
    assert len(task.utterances) == sum(len(e.kept) for e in expected.values())
    for source, e in expected.items():
        for reason, count in e.excluded.items():
            assert task.skipped[f"excluded: {reason} ({source})"] == count
    assert {task.source_of(u) for u in task.utterances} == set(FOLDERS)


def test_a_missing_corpus_is_named_with_its_folder(corpora, tmp_path, capsys):
    root, _ = corpora
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("iemocap", "msp_improv"):
        (partial / FOLDERS[name]).symlink_to(root / FOLDERS[name])
    assert main(["--manifest", "pooled_four", "--data-root", str(partial), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert "2 of the 4 corpus folders not found" in err
    assert f"{partial / 'MSP-PODCAST'} (msp_podcast)" in err and f"{partial / 'CREMA-D'} (crema_d)" in err
    assert "IEMOCAP_full_release (" not in err and "MSP-IMPROV (" not in err
    assert not (tmp_path / "m.csv").exists()


def test_the_crema_d_ranges_are_the_reference_fold5_and_the_synthetic_twin_uses_that_rule():
    last = kfold_plans(CremaD.actors, CremaD.n_folds)[-1]
    real = PooledFour.sources
    # the order they have always been pooled in (it sets the utterance order, so the batches' shuffle)
    assert [s.name for s in real] == ["iemocap", "msp_improv", "msp_podcast", "crema_d"]
    crema = next(s for s in real if s.name == "crema_d")
    assert set(crema.dev) == set(last.dev) == CREMA_DEV and set(crema.test) == set(last.test) == CREMA_TEST
    twin = make_task("synthetic_pooled_four")
    assert [s.name for s in twin.sources] == [f"synthetic_{s.name}" for s in real]
    twin_crema = next(s for s in twin.sources if s.name == "synthetic_crema_d")
    assert twin_crema.test == tuple(str(a) for a in range(1033, 1041)) and twin_crema.dev == tuple(str(a) for a in range(1026, 1033))
    assert [(s.dev, s.test) for s in twin.sources if s.name != "synthetic_crema_d"] == \
        [(s.dev, s.test) for s in real if s.name != "crema_d"]


def test_the_pooled_record_carries_each_corpus_test_metrics(pooled_results):
    _, record = pooled_results
    assert record["training"] == "release" and record["seed"] == 8
    per_source = record["test"]["per_source"]
    assert set(per_source) == {f"synthetic_{name}" for name in FOLDERS}  # the twin's sources keep their own names
    assert sum(m["n"] for m in per_source.values()) == record["test"]["n"]
    task = make_task(POOLED_CELL.task)
    source = {u.key: task.source_of(u) for u in task.training("release").test}
    for name, metrics in per_source.items():
        mine = [p for p in record["predictions"] if source[p["key"]] == name]
        recomputed = metrics_from_predictions(mine)
        assert recomputed["uar"] == metrics["uar"] and recomputed["n"] == metrics["n"] == len(mine)


def test_the_release_grid_loads_with_the_recipe():
    grid = load_grid("release")
    cells = grid.cells()
    assert sorted(c.upstream for c in cells) == [
        "mms_300m_release", "wavlm_base_plus", "wavlm_large_release", "whisper_base", "whisper_small", "whisper_tiny",
    ]
    resolved = cells[0].resolved()
    assert (resolved["method"], resolved["method_args"]["rank"]) == ("lora", 16)
    assert (resolved["task"], resolved["training"]) == ("pooled_four", "release")
    train = resolved["train"]
    assert (train["lr"], train["max_seconds"], train["epochs"], train["include_input_state"]) == (2.5e-4, 10.0, 30, True)
    notes = " ".join(grid.footnotes())
    assert "2.5x10e-4" in notes and "2.5e-3" in notes
    comment = [line for line in (GRID_DIR / "release.yaml").read_text().splitlines() if line.startswith("#")]
    assert any("2.5x10e-4" in line for line in comment)  # the grid's own comment records the reading


def test_options_are_checked_at_grid_load_and_reach_the_crema_d_reader(corpora, tmp_path):
    from peftser.benchmark.grids import GridError, parse_grid

    grid = tmp_path / "g.yaml"
    grid.write_text("upstreams: [demo_whisper_tiny]\nmethods: [lora]\ntasks: [{task: pooled_four, args: {label_source: votes}}]\n")
    with pytest.raises(GridError, match="label_source='votes' must be one of multimodal_vote, voice_vote, filename"):
        parse_grid(grid)
    root, _ = corpora
    voice = make_task("pooled_four", data_root=root, label_source="voice_vote")
    assert voice.readers["crema_d"].option("label_source") == "voice_vote"
    crema = build_crema_d(tmp_path / "voice" / "CREMA-D", label_source="voice_vote")
    assert {u.key for u in voice.utterances if voice.source_of(u) == "crema_d"} == set(crema.kept)


def test_a_corpus_registered_later_with_a_pooled_split_joins_both_pools(task_files):
    """pooled_four reads its sources from the registry when asked: a corpus registered after it
    (a plugin's) that states a split is pooled, and its twin joins the synthetic pool."""
    from peftser.downstream.task import CorpusInfo
    from peftser.downstream.tasks.msp_podcast import MspPodcast
    from peftser.registry import TASKS

    class Later(MspPodcast):
        info = CorpusInfo("Later", "a later corpus in MSP-Podcast's layout")

        @classmethod
        def pooled_split(cls):
            return ("Train",), ("Validation",)

    TASKS.register("later", Later)
    later = PooledFour.sources[-1]  # after the paper's four, which have their pooled_order
    assert later.name == "later" and later.reader is Later and (later.dev, later.test) == (("Train",), ("Validation",))
    twin = make_task("synthetic_pooled_four").sources[-1]
    assert twin.name == "synthetic_later" and issubclass(twin.reader, Later) and twin.reader.generated
    TASKS.unregister("later")
    assert "later" not in {s.name for s in PooledFour.sources}
