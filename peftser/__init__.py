"""peftser: a benchmark harness for parameter-efficient fine-tuning of speech encoders for SER.

The Python API: ``peftser.load(artifact_dir)`` returns a trained model whose ``predict`` scores
clips (see ``peftser.api``). It is imported on first use, so that ``import peftser`` stays light
for the harness' worker processes.
"""

__version__ = "0.1.0"

_API = ("load", "SERPredictor", "Prediction")
__all__ = [*_API, "__version__"]


def __getattr__(name):
    if name in _API:  # the package's face hands the API on; the API itself sits above the harness it uses
        import importlib

        return getattr(importlib.import_module("peftser.loading" if name == "load" else "peftser.api"), name)
    raise AttributeError(f"module 'peftser' has no attribute {name!r}")
