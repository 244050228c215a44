"""Hugging Face model cards for trained artifacts, written from their run records.

Each artifact folder gets a ``README.md``: a metadata header built with huggingface_hub's
``ModelCardData`` and ``EvalResult`` (base model, licence, library, tags, datasets and a
model-index with the test UAR, accuracy and macro F1), and a body saying what was trained, under
which protocol and deviations, how fair it is by gender, how to load it, and where it stops.

    python -m peftser.benchmark.card RESULTS_DIR      # a card in every artifact folder of a results folder
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from peftser.benchmark.markdown import escape
from peftser.benchmark.card_attributes import (
    attribute_objective, attribute_results, attribute_results_section, is_attribute_record,
)

CARD = "README.md"
UNKNOWN_LICENCE = "unknown"

METRICS = (("uar", "UAR", "recall", "macro"), ("acc", "accuracy", "accuracy", None), ("macro_f1", "macro F1", "f1", "macro"))


def _info(task: str):
    """A registered task's CorpusInfo, or None."""
    from peftser.registry import TASKS, load_builtins

    load_builtins()
    return TASKS.get(task).info if task in TASKS else None


def _corpus(task: str) -> tuple[str, str, str | None]:
    """(dataset name, speakers, language) of a single-corpus task, from its registered CorpusInfo."""
    info = _info(task)
    return (info.title, info.speakers, info.language) if info else (task, "not described here", None)


def _corpus_licences(sources: list[str]) -> str:
    """Each source corpus' licence and citation, as its CorpusInfo states them."""
    parts = []
    for source in sources:
        info = _info(source)
        if info and info.licence:
            parts.append(f"{info.title}: {info.licence}" + (f" (cite {info.citation})" if info.citation else ""))
    return "; ".join(parts)


def _sources(task: str) -> list[str]:
    """The single-corpus tasks a task is made of (itself, or a pooled task's sources)."""
    from peftser.registry import TASKS, load_builtins

    load_builtins()
    cls = TASKS.get(task) if task in TASKS else None
    sources = getattr(cls, "sources", None)
    if not sources:
        return [task]
    return [s.name for s in sources]


def _spec(upstream: str):
    from peftser.upstream import spec_of

    return spec_of(upstream)


def _checkpoint(upstream: str) -> str | None:
    spec = _spec(upstream)
    return spec.checkpoint if spec else None


def _base_model(upstream: str) -> str | None:
    """The hub model a card names as its base: the entry's own, else its checkpoint."""
    spec = _spec(upstream)
    return (spec.base_model or spec.checkpoint) if spec else None


def licence_of(upstream: str) -> str:
    """The licence id its registry entry states for the upstream's weights, or "unknown"."""
    spec = _spec(upstream)
    return (spec.licence if spec else None) or UNKNOWN_LICENCE


def _overlap(upstream: str, sources: list[str]) -> list[str]:
    """The corpora of the card's task that the upstream's entry says it was pre-trained on."""
    spec = _spec(upstream)
    return spec.pretrained_on(set(sources)) if spec else []


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def card_data(record: dict[str, Any]) -> ModelCardData:
    """The metadata header of a record's card."""
    base = _base_model(record["upstream"])
    test = record["test"]
    sources = _sources(record["task"])
    corpora = [_corpus(s) for s in sources]
    languages = sorted({c[2] for c in corpora if c[2]})
    split = f"{record['training']} test"
    results = attribute_results(record, " + ".join(c[0] for c in corpora)) if is_attribute_record(record) else [
        EvalResult(task_type="audio-classification", task_name="Speech emotion recognition", dataset_type=record["task"],
                   dataset_name=" + ".join(c[0] for c in corpora), dataset_config=record["training"], dataset_split="test",
                   metric_type=kind, metric_name=f"{name} ({split}, %)", metric_config=config, metric_value=round(float(test[key]), 4))
        for key, name, kind, config in METRICS
    ]
    for source, metrics in (test.get("per_source") or {}).items():
        results.append(EvalResult(
            task_type="audio-classification", task_name="Speech emotion recognition", dataset_type=source,
            dataset_name=_corpus(source)[0], dataset_config=record["training"], dataset_split="test",
            metric_type="recall", metric_name=f"UAR ({source} part of the {split}, %)", metric_config="macro",
            metric_value=round(float(metrics["uar"]), 4),
        ))
    return ModelCardData(
        model_name=f"peftser {record['label']}",
        base_model=base,
        library_name="peftser",
        license=licence_of(record["upstream"]),
        language=languages or None,
        datasets=[c[0] for c in corpora],
        pipeline_tag="audio-classification",
        tags=["speech-emotion-recognition", record["method"], "peft", "audio-classification"],
        metrics=["ccc"] if is_attribute_record(record) else ["recall", "accuracy", "f1"],
        eval_results=results,
    )


def _export_lines(export: dict[str, Any]) -> list[str]:
    """The card's section on an exported model: its format, what became of the method, the check
    against the artifact and the versions that wrote and checked it."""
    info = export.get("export") or {}
    check = info.get("check") or {}
    if export["format"] == "onnx":
        what = (f"ONNX graph `{export['weights']}`, opset {info.get('opset')}, dynamic batch and time axes; inputs "
                "`waves` (16 kHz mono float32, zero-padded, each clip cut to the training cut) and `lengths` "
                "(valid samples); output `logits`; the log-mel or wave front end is inside the graph")
    else:
        what = f"standalone `{export['weights']}`: encoder, method and head in one file"
    method = ("merged into the encoder's linears (peft's `merge_and_unload`)" if export["merged"]
              else "kept as modules (it cannot be folded into a linear)" if export["method"] != "downstream"
              else "none besides the head")
    versions = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())
    return [
        "## Export", "",
        "| | |", "|---|---|",
        f"| format | {what} |",
        f"| method `{export['method']}` | {method} |",
        f"| check | against {check.get('against')}, {check.get('clips')} clips, {check.get('ways')}"
        f"{' on ' + check['runtime'] if check.get('runtime') else ''}: largest logit difference "
        f"{check.get('max_abs_logit_difference', float('nan')):.2g} (tolerance {check.get('tolerance')}) |",
        f"| versions | {versions} |",
        "",
    ]


def _body(record: dict[str, Any], directory: Path, deviations: list[str], export: dict[str, Any] | None = None) -> str:
    cell = record.get("cell") or {}
    config = record.get("config") or {}
    train = config.get("train") or {}
    test = record["test"]
    checkpoint = _checkpoint(record["upstream"])
    sources = _sources(record["task"])
    overlap = _overlap(record["upstream"], [record["task"], *sources])
    corpora = [_corpus(s) for s in sources]
    where = (record.get("artifact") or {}).get("path") or directory.name  # relative to its results folder
    sizes = record.get("split_sizes") or {}
    lines = [f"# peftser {escape(record['label'])}", ""]
    lines += [
        f"A speech emotion recogniser for {_classes_text(record)}: the frozen encoder " if not is_attribute_record(record) else
        f"A speech emotion attribute regressor ({', '.join(record['test']['ccc'])}): the frozen encoder "
        f"`{record['upstream']}` ({checkpoint or 'random weights, no checkpoint'}) adapted with "
        f"`{record['method']}`, and a weighted-sum head, trained by the peftser benchmark harness, a "
        "reproduction of PEFT-SER (Feng & Narayanan, ACII 2023).", "",
        "## What was trained", "",
        "| | |", "|---|---|",
        f"| cell | `{escape(record['label'])}` (key `{record['key']}`) |",
        f"| encoder | `{record['upstream']}`, frozen; base model `{_base_model(record['upstream']) or 'none'}` |",
        f"| method | `{record['method']}` {escape(config.get('method_args') or cell.get('method_args') or '')} |",
        f"| task | `{record['task']}`, training `{record['training']}`, seed {record.get('seed')} |",
        f"| parameters | {record.get('trainable_params')} trained ({record.get('method_params')} method, "
        f"{record.get('head_params')} head) on {record.get('upstream_params')} frozen |",
        f"| utterances | {', '.join(f'{n} {role}' for role, n in sizes.items()) or 'not recorded'} |",
        "",
        "## Protocol", "",
        f"The paper's protocol as the harness runs it: Adam at lr {train.get('lr')} with ReduceLROnPlateau on the dev "
        f"loss, batch {train.get('batch_size')}, {train.get('epochs')} epochs, clips cut to {train.get('max_seconds')} s, "
        + (attribute_objective(record) if is_attribute_record(record) else
           f"class-weighted cross entropy, the test set scored once with the weights of the best dev-UAR epoch "
           f"(here epoch {record.get('best_epoch')}, dev UAR {_pct((record.get('dev') or {}).get('uar'))} %)."), "",
    ]
    departures = list(deviations) + [f"Training option {d}." for d in record.get("deviations") or []]
    if departures:
        lines += ["Where it departs from the paper:", ""] + [f"- {escape(d, line_start=True)}" for d in departures] + [""]
    else:
        lines += ["No departure from the paper's training values is recorded.", ""]
    lines += attribute_results_section(record) if is_attribute_record(record) else _category_results(test)
    if test.get("notes"):
        lines += [f"- {note}" for note in test["notes"]] + [""]
    lines += _usage(record, where, train, corpora, overlap, export)
    return "\n".join(lines)


def _category_results(test: dict[str, Any]) -> list[str]:
    lines = [
        "## Results (test)", "",
        "| UAR % | accuracy % | macro F1 % | utterances |", "|---|---|---|---|",
        f"| {_pct(test['uar'])} | {_pct(test['acc'])} | {_pct(test['macro_f1'])} | {test.get('n')} |", "",
    ]
    if test.get("per_source"):
        lines += ["Per source corpus:", "", "| corpus | UAR % | accuracy % | macro F1 % | utterances |", "|---|---|---|---|---|"]
        lines += [f"| {s} | {_pct(m['uar'])} | {_pct(m['acc'])} | {_pct(m['macro_f1'])} | {m.get('n')} |"
                  for s, m in test["per_source"].items()]
        lines.append("")
    lines += [
        "## Fairness (test, by speaker gender; lower is fairer)", "",
        "| demographic parity % | equality of odds % | reference's demographic parity % |", "|---|---|---|",
        f"| {_pct(test.get('demographic_parity'))} | {_pct(test.get('equality_of_odds'))} "
        f"| {_pct(test.get('reference_demographic_parity'))} |", "",
        "Demographic parity is the statistical parity difference; the reference evaluation code's own "
        "demographic parity function computes a different quantity (peftser's docs/protocol.md, section 7).", "",
    ]
    return lines


def _usage(record: dict[str, Any], where: str, train: dict[str, Any], corpora: list, overlap: list[str],
           export: dict[str, Any] | None) -> list[str]:
    checkpoint = _checkpoint(record["upstream"])
    licence = licence_of(record["upstream"])
    rated = is_attribute_record(record)
    return [
        "## How to use it", "",
        "```python",
        "import peftser",
        "",
        f'model = peftser.load("{where}")  # this folder',
        'print(model.predict(["clip.wav"])[0].values)' if rated else 'print(model.predict(["clip.wav"])[0].label)',
        "```", "",
        "Any sample rate and channel count is accepted (files are decoded, averaged over channels and "
        f"resampled to 16 kHz); clips longer than {train.get('max_seconds')} s are scored on their start. "
        + ("The folder holds only the trained weights: the frozen encoder is rebuilt from its registry entry."
         if export is None else "The folder holds the whole model; nothing is downloaded."), "",
        *(_export_lines(export) if export is not None else []),
        "## Limits", "",
        f"- Trained and tested on {', '.join(f'{c[0]} ({c[1]})' for c in corpora)}; "
        f"language: {', '.join(sorted({c[2] for c in corpora if c[2]})) or 'none (synthetic, no words)'}.",
        *([f"- **Pre-training overlap:** the encoder's registry entry says its pre-training data includes "
            f"{', '.join(overlap)}, a corpus this model is scored on: its test scores are not on unseen speech."]
          if overlap else []),
        (f"- Dimensions {', '.join(record['test']['ccc'])} only, on the training corpus' rating scale."
         if rated else f"- {_classes_text(record, only=True)}. Other emotions are forced into one of them."),
        "- Its speakers are those of the corpus; test speakers are unseen in training, but accents, recording "
        "conditions and spontaneous speech beyond the corpus are untested. Gender is the corpora's binary metadata.",
        "- Not for decisions about people: emotion labels are perceived or acted categories, and the numbers above "
        "come from one training.",
        "",
        "## Licence", "",
        (f"`{licence}`, the licence of the base checkpoint `{checkpoint}`." if licence != UNKNOWN_LICENCE else
         f"unknown: no licence is known for the base checkpoint `{checkpoint or 'none'}`; check it before use."),
        "The corpora it was trained on have licences of their own"
        + (f": {_corpus_licences(_sources(record['task']))}." if _corpus_licences(_sources(record["task"])) else "."),
        "",
    ]


def write_model_card(artifact_dir: str | Path, record: dict[str, Any], *, deviations: list[str] | tuple[str, ...] = (),
                     export: dict[str, Any] | None = None) -> Path:
    """Write ``artifact_dir/README.md`` from the artifact's run ``record`` (and the grid's
    ``deviations``); for an exported model, ``export`` is its ``model_config.json``."""
    from peftser.files import write_text_atomic, writing

    directory = Path(artifact_dir)
    if record.get("status") != "ok":
        raise ValueError(f"{directory}: a card needs an ok run record, got status {record.get('status')!r}")
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not an artifact folder: no such folder")
    data = card_data(record)
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(record, directory, list(deviations), export)}")
    path = directory / CARD
    with writing("the model card"):
        write_text_atomic(path, str(card))
    return path


def check_card(path: str | Path) -> ModelCard:
    """The card read back by ``ModelCard.load``, its model-index parsed strictly (a ValueError when
    it is malformed) and the fields every peftser card has present."""
    card = ModelCard.load(path)  # ignore_metadata_errors=False: a bad model-index raises
    data = card.data
    missing = [f for f in ("license", "library_name", "tags", "datasets", "model_name", "eval_results") if not getattr(data, f, None)]
    if missing:
        raise ValueError(f"{path}: the card lacks {', '.join(missing)}")
    return card


def _grid_deviations(results: Path) -> dict[str, list[str]]:
    """Cell key -> the deviations of the grid that ran it (from the results folder's grids.json)."""
    from peftser.benchmark.store import ResultStore

    by_key: dict[str, list[str]] = {}
    for grid in ResultStore(results).grids():
        for cell in grid.cells():
            by_key.setdefault(cell.key, list(grid.deviations))
    return by_key


def write_model_cards(results_dir: str | Path, skipped: list[str] | None = None) -> list[Path]:
    """A card in the artifact folder of every ok record of ``results_dir``; returns the cards written.
    A record a card cannot be written from is warned about, naming its file (and added to ``skipped``)."""
    from peftser.benchmark.record import ATTRIBUTE_CARD_FIELDS, CARD_FIELDS, fields_problem, read_records

    results = Path(results_dir)
    if not (results / "records").is_dir():
        raise FileNotFoundError(f"{results} holds no run records (no records/ folder)")
    deviations = _grid_deviations(results)
    written, skipped = [], [] if skipped is None else skipped
    for entry in read_records(results):
        record = entry.record
        if record is not None and record["status"] != "ok":
            continue
        why = entry.problem or fields_problem(record, ATTRIBUTE_CARD_FIELDS if is_attribute_record(record) else CARD_FIELDS)
        if why is None:
            directory = results / (record.get("artifact") or {}).get("path", f"artifacts/{record['key']}")
            if not _inside(directory, results / "artifacts"):
                # a tampered or foreign record must not make --cards overwrite a README.md elsewhere
                why = f"its artifact path {directory} is not a folder inside {results / 'artifacts'}"
            elif not directory.is_dir():
                why = f"its artifact folder {directory} is missing"
            else:
                try:
                    written.append(write_model_card(directory, record, deviations=deviations.get(record["key"], ())))
                except (KeyError, TypeError, ValueError, AttributeError) as err:  # a field of the wrong shape
                    why = f"{type(err).__name__}: {err}"
        if why is not None:
            skipped.append(f"run record {results / entry.path}: no card written: {why}")
            warnings.warn(skipped[-1], stacklevel=2)
    return written


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies strictly below ``folder``, once ``..`` and symbolic links are resolved."""
    path, folder = path.resolve(), folder.resolve()
    return path != folder and path.is_relative_to(folder)


def cards_command(results_dir: str | Path) -> int:
    """``--cards [--results DIR]``: a model card in every artifact folder of DIR, from its record."""
    skipped: list[str] = []
    cards = write_model_cards(results_dir, skipped)
    print(f"{results_dir}: {len(cards)} model card(s) written" + (f", {len(skipped)} record(s) without one (above)" if skipped else ""))
    return 2 if skipped else 0


def _classes_text(record: dict, only: bool = False) -> str:
    """"four classes (neutral, happy, sad, angry)": the classes a record was trained on (a record
    written before records named them was trained on the paper's four)."""
    from peftser.benchmark.metrics import record_classes

    classes = record_classes(record)
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
    count = str(words.get(len(classes), len(classes)))
    if only:  # the limits' line: "Four classes only: neutral, happy, sad, angry"
        return f"{count.capitalize()} classes only: {', '.join(classes)}"
    return f"{count} classes ({', '.join(classes)})"
