"""One entry, one place: an upstream of a known family added in one file (here, this test) shows up
in --list, --params, a model card, the leaderboard's markdown and JSON, with the facts it carries;
an upstream pre-trained on a corpus is flagged wherever that corpus is scored."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from peftser.benchmark.card import check_card, write_model_card
from peftser.benchmark.report.leaderboard import write_leaderboard
from peftser.benchmark.report.section import Section
from peftser.benchmark.report.sections import SECTIONS
from peftser.cli import main
from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import NO_DROPOUT, PreTraining, UpstreamSpec, _wav2vec2
from fake_records import make_cell, make_record, save

NEW = "toy_wav2vec2_extended"
# A wav2vec 2.0 twin declared as pre-trained on the synthetic CREMA-D: the contamination flag's test case.
SPEC = UpstreamSpec(
    NEW, "wav2vec2", None, {**_wav2vec2(2, 32, 2, 64, 16, 16, 4, 0.0), **NO_DROPOUT},
    licence="mit", table="extended",
    pretraining=(PreTraining("synthetic CREMA-D", 1.5, task="synthetic_crema_d"), PreTraining("LibriSpeech", 960)),
)
FOLDS = ("fold1", "fold2", "fold3", "fold4", "fold5")


@pytest.fixture
def new_upstream():
    load_builtins()
    with UPSTREAMS.temporary(NEW, SPEC):
        yield NEW


def _records(results, upstreams=(NEW, "demo_whisper_tiny"), tasks=("synthetic_crema_d", "synthetic_msp_podcast")):
    cells = []
    for i, upstream in enumerate(upstreams):
        for task in tasks:
            trainings = FOLDS if task == "synthetic_crema_d" else ("seed1", "seed2", "seed3")
            for j, training in enumerate(trainings):
                cell = make_cell(upstream, "lora", task, training)
                save(results, make_record(cell, 50.0 + i + j))
                cells.append(cell)
    return cells


def test_a_new_upstream_is_seen_in_list_and_params(new_upstream, capsys):
    assert main(["--list", "--json"]) == 0
    assert NEW in json.loads(capsys.readouterr().out)["upstreams"]
    assert main(["--params", "--only", f"upstream={NEW}", "--only", "method=lora"]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith(f"| {NEW} ")]
    assert len(rows) == 3  # Table II, its facts, Table IV
    assert "| mit " in rows[1] and "synthetic CREMA-D 2 h, LibriSpeech 960 h" in rows[1]


def test_params_refuses_an_only_it_cannot_use(capsys):
    assert main(["--params", "--only", "training=fold1"]) == 2
    assert "--only training=fold1: with --params, give upstream=NAME, method=NAME or task=NAME" in capsys.readouterr().err
    assert main(["--params", "--task-arg", "classes=native"]) == 2
    assert "--task-arg with --params needs --only task=NAME" in capsys.readouterr().err
    assert main(["--params", "--only", "task=crema_d", "--task-arg", "classes=six"]) == 2
    assert "option classes='six' must be one of paper, native" in capsys.readouterr().err


@pytest.mark.parametrize("task, args, outputs", [
    ("iemocap", [], 4), ("crema_d", ["--task-arg", "classes=native"], 6), ("iemocap_dims", [], 3),
    ("iemocap_dims", ["--task-arg", "dims=valence"], 1),
])
def test_params_counts_the_head_of_a_tasks_outputs(task, args, outputs, capsys):
    # The head's last linear has one output per class (or dimension): 256 x outputs + outputs.
    only = ["--only", "upstream=whisper_tiny", "--only", "method=downstream"]
    assert main(["--params", *only, "--json"]) == 0
    four = json.loads(capsys.readouterr().out)[0]["head_params"]
    assert main(["--params", *only, "--only", f"task={task}", *args, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["task"] == task and len(row["outputs"]) == outputs
    assert row["head_params"] - four == (256 + 1) * (outputs - 4)


def test_a_new_upstream_is_in_the_leaderboard_with_its_contamination_flag(new_upstream, tmp_path):
    results = tmp_path / "results"
    cells = _records(results)
    write_leaderboard(results, expected_cells=cells)
    markdown = (results / "leaderboard.md").read_text()
    data = json.loads((results / "leaderboard.json").read_text())
    # The paper's order puts the twin of whisper_tiny first; the new encoder follows.
    assert "| method   | demo_whisper_tiny   | toy_wav2vec2_extended   |" in markdown
    crema = markdown.split("### synthetic_crema_d")[1].split("###")[0]
    podcast = markdown.split("### synthetic_msp_podcast")[1].split("###")[0]
    assert f"Pre-training overlap: `{NEW}` (synthetic_crema_d) saw this corpus in pre-training" in crema
    assert "Pre-training overlap" not in podcast  # only the corpus it was pre-trained on is flagged
    assert data["pretraining_overlap"] == {"synthetic_crema_d": {NEW: ["synthetic_crema_d"]}}
    assert {g["upstream"] for g in data["groups"]} == {NEW, "demo_whisper_tiny"}


def test_a_leaderboard_without_overlap_has_no_flag(tmp_path):
    results = tmp_path / "results"
    write_leaderboard(results, expected_cells=_records(results, upstreams=("demo_whisper_tiny",)))
    assert "Pre-training overlap" not in (results / "leaderboard.md").read_text()
    assert "pretraining_overlap" not in json.loads((results / "leaderboard.json").read_text())


@pytest.mark.parametrize("task, flagged", [("synthetic_crema_d", True), ("synthetic_msp_podcast", False)])
def test_a_card_states_the_entrys_licence_and_flags_its_pretraining_corpus(new_upstream, tmp_path, task, flagged):
    record = make_record(make_cell(NEW, "lora", task, "fold1" if flagged else "seed1"), 60.0)
    folder = tmp_path / "artifact"
    folder.mkdir()
    card = check_card(write_model_card(folder, record))
    assert card.data.license == "mit"
    assert ("**Pre-training overlap:** the encoder's registry entry says its pre-training data includes "
            "synthetic_crema_d" in card.text) == flagged


def test_the_paper_backbones_cards_licences_come_from_their_entries(tmp_path):
    # mms_300m had no licence before its entry carried one; its weights are non-commercial.
    folder = tmp_path / "artifact"
    folder.mkdir()
    card = check_card(write_model_card(folder, make_record(make_cell("mms_300m", "lora", "iemocap", "fold1"), 60.0)))
    assert card.data.license == "cc-by-nc-4.0" and card.data.base_model == "facebook/mms-300m"


def test_the_readme_upstream_table_states_each_entrys_facts():
    from peftser.upstream import SPECS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    header = "| upstream | checkpoint | layout | encoder params | layers | hidden | LayerDrop | pre-trained on"
    table = readme.split(header)[1].split("\n\n")[0].splitlines()[2:]
    rows = {line.split(" | ")[0][3:-1]: [c.strip(" |") for c in line.split(" | ")] for line in table}
    listed = [s for s in SPECS if s.table]
    assert list(rows) == [s.name for s in listed]  # every listed entry, in its entry order
    for spec in listed:
        assert rows[spec.name][-2:] == [spec.pretraining_text(), spec.licence_note], spec.name


def test_no_fixture_is_defined_twice_and_no_test_module_imports_another():
    defined = Counter()
    for path in Path(__file__).resolve().parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                "fixture" in ast.unparse(d) for d in node.decorator_list
            ):
                defined[node.name] += 1
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_"):
                raise AssertionError(f"{path.name} imports the test module {node.module}")
    assert [name for name, n in defined.items() if n > 1] == []


class TrainingsPerBackbone(Section):
    """A section written outside the package: how many trainings each backbone has, with a plot."""

    name = "trainings_per_backbone"

    def counts(self, view):
        return {b: sum(len(runs) for (_, _, up), runs in view.board.runs.items() if up == b) for b in view.board.backbones()}

    def markdown(self, view):
        lines = ["## Trainings per backbone", ""] + [f"- {b}: {n}" for b, n in self.counts(view).items()] + [""]
        return lines + (["![trainings](trainings.png)", ""] if "trainings.png" in view.plots else [])

    def json(self, view):
        return {"trainings_per_backbone": self.counts(view)}

    def plots(self, view, directory):
        from matplotlib.figure import Figure

        figure = Figure(figsize=(2, 2))
        figure.add_subplot().bar(list(self.counts(view)), list(self.counts(view).values()))
        figure.savefig(directory / "trainings.png")
        return ["trainings.png"]


def test_a_section_added_from_outside_is_in_the_markdown_the_json_and_the_plots(tmp_path):
    results = tmp_path / "results"
    cells = _records(results, upstreams=("demo_whisper_tiny",))
    with SECTIONS.temporary(TrainingsPerBackbone(), after="cost"):
        write_leaderboard(results, expected_cells=cells)
    markdown = (results / "leaderboard.md").read_text()
    data = json.loads((results / "leaderboard.json").read_text())
    assert "## Trainings per backbone\n\n- demo_whisper_tiny: 8\n\n![trainings](trainings.png)" in markdown
    assert markdown.index("## Cost per backbone") < markdown.index("## Trainings per backbone") < markdown.index("## Missing")
    assert data["trainings_per_backbone"] == {"demo_whisper_tiny": 8}
    assert (results / "trainings.png").read_bytes()[:4] == b"\x89PNG"
    assert "trainings_per_backbone" not in SECTIONS.names()  # gone after the block
    write_leaderboard(results, expected_cells=cells)
    assert "Trainings per backbone" not in (results / "leaderboard.md").read_text()


def test_a_section_is_checked_when_registered():
    with pytest.raises(TypeError, match="must be a Section instance"):
        SECTIONS.register(lambda view: [])
    with pytest.raises(ValueError, match="'cost' is empty or already registered"):
        SECTIONS.register(type("Again", (Section,), {"name": "cost"})())
    with pytest.raises(KeyError, match="unknown leaderboard section 'nowhere'"):
        SECTIONS.register(TrainingsPerBackbone(), after="nowhere")


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-corpus.md"


@pytest.fixture
def my_corpus(capsys, cache):
    """The guide's worked example, run as written: its corpus and twin registered, read (the twin
    generated into the test's cache), and removed afterwards."""
    from peftser.registry import TASKS

    load_builtins()
    blocks = GUIDE.read_text(encoding="utf-8").split("```python\n")[1:]
    code = [block.split("```")[0] for block in blocks]
    assert len(code) == 2
    namespace: dict = {}
    try:
        for block in code:
            exec(compile(block, str(GUIDE), "exec"), namespace)
        yield namespace, capsys.readouterr().out
    finally:
        for name in ("my_corpus", "synthetic_my_corpus"):
            if name in TASKS:
                TASKS.unregister(name)


def test_the_corpus_guide_runs_and_its_corpus_reads_speaker_independently(my_corpus):
    namespace, out = my_corpus
    assert out.splitlines() == ["fold1 4 4 8", "fold2 4 4 8", "{\"excluded: label 'fear'\": 1}", "32 [16, 16]"]
    for task in (namespace["task"], namespace["twin"]):
        for training in task.trainings():
            test_speakers = {u.speaker for u in training.test}
            assert not test_speakers & {u.speaker for u in training.train + training.dev}
    twin = namespace["twin"]  # the twin: the corpus' own reader on the clips its writer laid out
    assert type(twin).__qualname__ == "SyntheticMyCorpus" and isinstance(twin, namespace["MyCorpus"])
    assert {u.speaker for u in twin.utterances} == set(namespace["SPEAKERS"])
    assert Counter(u.label for u in twin.utterances) == twin.expected_counts == dict.fromkeys(twin.classes, 8)
    assert twin.info.twin_of == "my_corpus"


def test_a_corpus_added_in_one_module_is_in_list_params_a_card_and_the_leaderboard(my_corpus, tmp_path, capsys):
    assert main(["--list", "--json"]) == 0
    assert {"my_corpus", "synthetic_my_corpus"} <= set(json.loads(capsys.readouterr().out)["tasks"])
    assert main(["--params", "--only", "upstream=demo_whisper_tiny", "--only", "method=lora", "--only", "task=my_corpus"]) == 0
    assert "Trainable parameters (Table IV, heads for my_corpus: 4 outputs (neutral, happy, sad, angry))" in capsys.readouterr().out
    record = make_record(make_cell("demo_whisper_tiny", "lora", "my_corpus", "fold1"), 60.0)
    folder = tmp_path / "artifact"
    folder.mkdir()
    card = check_card(write_model_card(folder, record))
    assert card.data.datasets == ["My Corpus"] and card.data.language == ["en"]
    assert "My Corpus (read sentences by 4 speakers (2 women, 2 men))" in card.text
    assert "licences of their own: My Corpus: CC-BY 4.0 (cite Me et al., My Corpus, 2025)." in card.text
    results = tmp_path / "results"
    cells = [make_cell("demo_whisper_tiny", m, "my_corpus", f) for m in ("downstream", "lora") for f in ("fold1", "fold2")]
    for i, cell in enumerate(cells):
        save(results, make_record(cell, 50.0 + i))
    write_leaderboard(results, expected_cells=cells)
    markdown = (results / "leaderboard.md").read_text()
    data = json.loads((results / "leaderboard.json").read_text())
    assert "### my_corpus" in markdown and "### Other corpora" in markdown
    assert {g["task"] for g in data["groups"]} == {"my_corpus"}
    assert data["overall"][0]["family"] == "Other corpora" and data["overall"][0]["corpora"] == ["my_corpus"]


PACKAGE = Path(__file__).resolve().parents[1] / "peftser"


def _words(text: str) -> list[str]:
    """Lower-case words of an identifier or path: CremaD, write_crema_d and CREMA-D/ all hold ["crema", "d"]."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", text)]


def _names_in_code(path: Path) -> list[tuple[int, str]]:
    """A module's identifiers and identifier-like strings (task names, class names, paths); its
    docstrings and prose strings (messages, help) are descriptions and are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names += [(node.lineno, node.value)] if node.value and not re.search(r"\s", node.value) else []
        elif isinstance(node, (ast.Name, ast.Attribute, ast.FunctionDef, ast.ClassDef, ast.alias)):
            names.append((getattr(node, "lineno", 0), getattr(node, "id", None) or getattr(node, "attr", None) or node.name))
    return names


def test_only_a_corpus_own_module_names_it():
    """A corpus' twin, pooled split and attribute task live in its module: no other module of the
    package names it in code (its class, task or twin name, its writer, its folder or file names)."""
    import inspect

    from peftser.benchmark.report.corpora import paper_corpora
    from peftser.registry import TASKS

    load_builtins()
    corpora = {name: Path(inspect.getsourcefile(TASKS.get(name))) for name in paper_corpora()}
    assert len(corpora) == 4
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in _names_in_code(path):
            words = _words(text)
            for name, home in corpora.items():
                mine = _words(name)
                if path != home and any(words[i : i + len(mine)] == mine for i in range(len(words))):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r} names {name}")
    assert found == []
