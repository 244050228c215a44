"""``--predict ARTIFACT_DIR FILE.wav ...``: the emotion of each file, from a trained artifact.

The Python API (``peftser.load(...).predict``) on the command line, so that there is one way to
score a clip. A file that cannot be used is reported on its own line and the others are still
scored. Clips are decoded without the audio cache, which is for corpora.
"""

from __future__ import annotations

import sys


def predict_files(artifact_dir, files, *, device: str | None = None, checkpoint_dir=None, verify: bool = True) -> list[dict]:
    """Per file: its path and either ``error`` (why it could not be scored), or the most probable
    ``emotion``, every class' ``probabilities`` (an attribute model: ``values`` per dimension), its length in ``seconds`` and the ``scored_seconds``
    (the model, trained on clips cut to ``max_seconds``, scores a longer clip's start)."""
    from peftser.loading import load

    model = load(artifact_dir, device=device, checkpoint_dir=checkpoint_dir, verify=verify)
    results = []
    for path, p in zip(files, model.predict([str(f) for f in files], errors="report")):
        if p.error is not None:
            results.append({"path": str(path), "error": p.error})
        elif p.values:  # an attribute model: each dimension's value on its corpus' scale
            results.append({"path": str(path), "values": p.values, "seconds": p.seconds, "scored_seconds": p.scored_seconds})
        else:
            results.append({"path": str(path), "emotion": p.label, "probabilities": p.probabilities,
                            "seconds": p.seconds, "scored_seconds": p.scored_seconds})
    return results


def one_line(text: str) -> str:
    """``text`` with backslashes, tabs and line breaks escaped (``\\``, ``\\t``, ``\\n``, ``\\r``), so that a
    file name holding them stays one field of one tab-separated line."""
    if not any(c in text for c in "\\\t\n\r"):
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def predict_command(artifact_dir, files, *, device: str | None = None, checkpoint_dir=None, verify: bool = True) -> int:
    """One tab-separated line per scored file on stdout, one ``error:`` line per other file on
    stderr; exit status 2 when any file could not be scored."""
    if not files:
        raise ValueError("--predict needs an artifact directory and at least one audio file")
    results = predict_files(artifact_dir, files, device=device, checkpoint_dir=checkpoint_dir, verify=verify)
    for r in results:
        if "error" in r:
            print(f"error: {one_line(r['error'])}", file=sys.stderr)
            continue
        if "values" in r:
            line = f"{one_line(r['path'])}\t" + "  ".join(f"{d} {v:.3f}" for d, v in r["values"].items())
        else:
            probs = "  ".join(f"{c} {p:.3f}" for c, p in r["probabilities"].items())
            line = f"{one_line(r['path'])}\t{r['emotion']}\t{probs}"
        if r["scored_seconds"] < r["seconds"]:
            line += f"\tscored its first {r['scored_seconds']:g} s of {r['seconds']:.1f} s (the model's max_seconds)"
        print(line)
    failed = sum("error" in r for r in results)
    if failed:
        print(f"error: {failed} of {len(results)} file(s) could not be scored", file=sys.stderr)
        return 2
    return 0
