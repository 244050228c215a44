"""Grids: the packaged full/ablation/demo grids, user YAML files, --only filters and cell keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from peftser.benchmark.cell import Cell
from peftser.benchmark.grids import GridError, load_grid
from peftser.registry import GRIDS

BACKBONES = ["whisper_tiny", "whisper_base", "whisper_small", "wav2vec2_base", "wavlm_base_plus"]
METHOD_NAMES = ["downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora"]
CORPORA = {"iemocap": 5, "msp_improv": 6, "crema_d": 5, "msp_podcast": 3}
KEY = "629d1fa7e450308b"  # of demo_whisper_tiny/downstream/synthetic_crema_d/fold1 with the paper's training


pytestmark = pytest.mark.usefixtures("registries")  # user grids below use the built-in names


def write_grid(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


SMALL = """
name: small
upstreams: [demo_whisper_tiny, demo_whisper_base]
methods:
  - downstream
  - {method: adapter, variant: adapter_b32, args: {bottleneck: 32}}
tasks: [synthetic_crema_d, synthetic_msp_podcast]
"""
METHODS_AT = "methods:\n  - downstream\n  - {method: adapter, variant: adapter_b32, args: {bottleneck: 32}}\n"


def with_methods(*lines: str) -> str:
    """SMALL with its methods list replaced."""
    return SMALL.replace(METHODS_AT, "methods:\n" + "".join(f"  - {line}\n" for line in lines))


# -- packaged grids --------------------------------------------------------------------------------
def test_packaged_grids_are_registered_by_file_stem():
    assert {"full", "ablation", "demo"} <= set(GRIDS.names())


def test_full_grid_is_the_papers_table_v():
    cells = load_grid("full").cells()
    assert len(cells) == 475
    assert len({c.key for c in cells}) == 475
    assert sorted({c.upstream for c in cells}) == sorted(BACKBONES)
    assert sorted({c.method for c in cells}) == sorted(METHOD_NAMES)
    for corpus, n in CORPORA.items():
        assert len({c.training for c in cells if c.task == corpus}) == n
    assert all(c.train == {} for c in cells)  # the paper's hyperparameters
    adapter = next(c for c in cells if c.method == "adapter")
    assert adapter.method_args["bottleneck"] == 128
    assert next(c for c in cells if c.method == "lora").method_args["rank"] == 8
    assert next(c for c in cells if c.method == "embedding_prompt").method_args["prompt_length"] == 5


def test_demo_grid_has_the_full_shape_on_tiny_backbones():
    grid = load_grid("demo")
    cells = grid.cells()
    assert len(cells) == 475
    assert sorted({c.upstream for c in cells}) == sorted(f"demo_{b}" for b in BACKBONES)
    assert sorted({c.method for c in cells}) == sorted(METHOD_NAMES)
    assert {c.task for c in cells} == {f"synthetic_{t}" for t in CORPORA}
    notes = " ".join(grid.footnotes())
    for departure in ("epochs 3 (paper: 30)", "lr 0.003 (paper: 0.0005)", "augment False (paper: True)", "max_seconds 1.0 (paper: 6.0)"):
        assert departure in notes


def test_ablation_grid_varies_one_size_per_method_and_shares_the_full_grids_cells():
    cells = load_grid("ablation").cells()
    variants = {c.variant for c in cells}
    assert variants == {
        "embedding_prompt_l1", "embedding_prompt_l3", "embedding_prompt_l5",
        "adapter_b32", "adapter_b64", "adapter_b128", "lora_r8", "lora_r16", "lora_r32",
    }
    assert len(cells) == 9 * 5 * 19
    by_variant = {c.variant: c.method_args for c in cells}
    assert by_variant["adapter_b32"]["bottleneck"] == 32 and by_variant["lora_r16"]["rank"] == 16
    assert by_variant["embedding_prompt_l3"]["prompt_length"] == 3
    # The paper's settings are one configuration, so both grids address the same records.
    full_keys = {c.key for c in load_grid("full").cells()}
    shared = {c.variant for c in cells if c.key in full_keys}
    assert shared == {"adapter_b128", "lora_r8", "embedding_prompt_l5"}


def test_unknown_grid_name_lists_the_known_ones():
    with pytest.raises(GridError, match="Known grids: .*ablation.*demo.*full"):
        load_grid("ful")


# -- user grids ------------------------------------------------------------------------------------
def test_user_grid_by_path_expands_the_product(tmp_path):
    grid = load_grid(write_grid(tmp_path, SMALL))
    cells = grid.cells()
    assert len(cells) == 2 * 2 * (5 + 3)
    assert cells[0] == Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1")
    assert cells[-1] == Cell(
        "demo_whisper_base", "adapter", "synthetic_msp_podcast", "seed3", method_args={"bottleneck": 32}, variant="adapter_b32"
    )


def test_task_and_upstream_entries_take_args_and_a_subset_of_trainings(tmp_path):
    grid = load_grid(write_grid(tmp_path, """
upstreams: [{upstream: demo_whisper_tiny, args: {dropout: 0.0}}]
methods: [downstream]
tasks: [{task: synthetic_crema_d, args: {label_source: voice_vote}, trainings: [fold2]}]
train: {epochs: 3}
"""))
    (cell,) = grid.cells()
    assert (cell.training, cell.task_args, cell.upstream_args, cell.train) == (
        "fold2", {"label_source": "voice_vote"}, {"dropout": 0.0}, {"epochs": 3}
    )
    assert grid.name == "mine"  # defaults to the file stem
    assert grid.footnotes() == ["Grid 'mine' trains with epochs 3 (paper: 30)."]


@pytest.mark.parametrize(
    "text, message",
    [
        (SMALL.replace("demo_whisper_base]", "demo_whisper_bas]"),
         r"unknown upstream 'demo_whisper_bas'. Did you mean 'demo_whisper_base'\? Known upstreams: .*demo_whisper_tiny"),
        (with_methods("downstrem"), r"unknown method 'downstrem'.*Known methods: .*downstream.*lora"),
        (SMALL.replace("synthetic_msp_podcast]", "synthetic_podcast]"), r"unknown task 'synthetic_podcast'.*Known tasks: .*synthetic_msp_podcast"),
        (SMALL + "epochs: 3\n", r"unknown key\(s\) \['epochs'\]"),
        (SMALL + "train: {epoch: 3}\n", r"train: unknown training option\(s\) \['epoch'\]"),
        ("upstreams: [demo_whisper_tiny]\nmethods: [downstream]\n", r"missing or empty tasks"),
        (SMALL.replace("[synthetic_crema_d, synthetic_msp_podcast]", "[{task: synthetic_crema_d, trainings: [fold9]}]"),
         r"no training\(s\) \['fold9'\]"),
        (SMALL.replace("[synthetic_crema_d, synthetic_msp_podcast]", "[{task: synthetic_crema_d, trainings: [fold1, fold1]}]"),
         r"without repeats"),
        (SMALL.replace("[demo_whisper_tiny, demo_whisper_base]", "[demo_whisper_tiny, demo_whisper_tiny]"),
         r"upstream 'demo_whisper_tiny' is listed twice"),
        (with_methods("adapter", "{method: adapter, args: {bottleneck: 64}}"),
         r"method variant 'adapter' is listed twice \(give each configuration its own 'variant'\)"),
        (with_methods("{method: adapter, variant: b32, args: {bottleneck: 32}}", "{method: adapter, variant: small, args: {bottleneck: 32}}"),
         r"'b32' and 'small' configure 'adapter' identically"),
        (with_methods("{method: adapter, args: {bottlenek: 32}}"), r"method 'adapter': .*bottlenek"),
        (with_methods("{name: adapter}"), r"a name or a mapping with 'method: NAME'"),
        ("upstreams: [demo_whisper_tiny\n", r"not valid YAML"),
        (SMALL.replace("[demo_whisper_tiny, demo_whisper_base]", "[{upstream: demo_whisper_tiny, args: {dropuot: 0.1}}]"),
         r"WhisperConfig has no option\(s\) \['dropuot'\]"),
        (SMALL.replace("[synthetic_crema_d, synthetic_msp_podcast]", "[{task: synthetic_crema_d, args: {bogus: 1}}]"),
         r"has no option 'bogus'"),
        (SMALL + "train: {epochs: x}\n", r"training option epochs must be int"),
    ],
)
def test_bad_grid_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = write_grid(tmp_path, text)
    with pytest.raises(GridError, match=message) as error:
        load_grid(path)
    assert str(path) in str(error.value)


def test_missing_grid_file_is_an_error(tmp_path):
    with pytest.raises(GridError, match="does not exist"):
        load_grid(tmp_path / "nope.yaml")


# -- --only ----------------------------------------------------------------------------------------
def test_only_filters_and_within_a_key_or_across_keys(tmp_path):
    grid = load_grid(write_grid(tmp_path, SMALL))
    assert {c.upstream for c in grid.cells(["upstream=demo_whisper_tiny"])} == {"demo_whisper_tiny"}
    cells = grid.cells(["upstream=demo_whisper_tiny", "task=synthetic_crema_d", "training=fold1", "training=fold3"])
    assert sorted((c.variant or c.method, c.training) for c in cells) == [
        ("adapter_b32", "fold1"), ("adapter_b32", "fold3"), ("downstream", "fold1"), ("downstream", "fold3")
    ]
    # A variant filter matches labelled variants and plain methods by their effective label.
    assert {c.variant for c in grid.cells(["variant=adapter_b32"])} == {"adapter_b32"}
    assert {c.method for c in grid.cells(["variant=downstream"])} == {"downstream"}
    assert {c.variant for c in grid.cells(["method=adapter"])} == {"adapter_b32"}


@pytest.mark.parametrize(
    "only, message",
    [
        (["size=2"], r"unknown key 'size'; use one of upstream, method, variant, task, training"),
        (["task"], r"expects KEY=VALUE"),
        (["task=iemocap"], r"task=iemocap matches no cell of the grid; its tasks are synthetic_crema_d, synthetic_msp_podcast"),
        (["task=synthetic_msp_podcast", "training=fold1"], r"no cell matches all of these together"),
    ],
)
def test_bad_only_filters_are_clear_errors(tmp_path, only, message):
    grid = load_grid(write_grid(tmp_path, SMALL))
    with pytest.raises(GridError, match=message):
        grid.cells(only)


# -- cell identity ---------------------------------------------------------------------------------
def test_cell_keys_are_stable_and_follow_the_configuration(tmp_path):
    first = load_grid(write_grid(tmp_path, SMALL)).cells()
    again = load_grid(write_grid(tmp_path, SMALL, "again.yaml")).cells()
    assert [c.key for c in first] == [c.key for c in again]
    # The key names stored results: the same configuration must keep it across versions.
    assert first[0].key == Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1").key == KEY

    def keys(args: str, name: str) -> list[str]:
        text = SMALL.replace("{bottleneck: 32}", args)
        return [c.key for c in load_grid(write_grid(tmp_path, text, name)).cells()]

    assert keys("{bottleneck: 32, dropout: 0.2}", "a.yaml") == keys("{dropout: 0.2, bottleneck: 32}", "b.yaml")
    changed = load_grid(write_grid(tmp_path, SMALL.replace("{bottleneck: 32}", "{bottleneck: 64}"), "c.yaml")).cells()
    assert {a.key != b.key for a, b in zip(first, changed) if a.method == "adapter"} == {True}
    assert {a.key == b.key for a, b in zip(first, changed) if a.method == "downstream"} == {True}
    longer = load_grid(write_grid(tmp_path, SMALL + "train: {epochs: 2}\n", "d.yaml")).cells()
    assert not {c.key for c in longer} & {c.key for c in first}
