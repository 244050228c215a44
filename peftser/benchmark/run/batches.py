"""The input pipeline: which clips form each batch, and a ``DataLoader`` that reads, augments and
pads them off the training loop.

Everything random is drawn in the main process, in order, from the training's seeded generator:
an epoch's shuffle, then one augmentation seed per batch. A batch is then a pure function of its
clips and its seed, so worker processes (on CUDA, where the next batch is prepared while the step
runs) give exactly the batches the main process would; on the CPU there are none, since they
would compete with the model for cores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from peftser.benchmark.run.augment import augment

MAX_WORKERS = 4  # reading and augmenting a batch of 6 s clips takes a fraction of a GPU step


def train_batches(lengths: list[int], batch_size: int, rng: np.random.Generator, *, bucketing: bool = False) -> list[list[int]]:
    """One epoch's batches: the clips shuffled and cut into full batches, the last partial one
    dropped (the reference's DataLoader: shuffle, drop_last). With ``bucketing``, random pools of
    50 batches are sorted by length inside first, so batches hold clips of similar length."""
    order = rng.permutation(len(lengths))
    if bucketing:
        pool = batch_size * 50
        order = np.concatenate(
            [sorted(order[s : s + pool], key=lambda i: lengths[i]) for s in range(0, len(order), pool)]
        ).astype(int)
    batches = [list(order[i : i + batch_size]) for i in range(0, len(order) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))] if bucketing else batches


def augmentation_seeds(rng: np.random.Generator, count: int) -> list[int]:
    """One seed per batch, drawn in order after the epoch's shuffle."""
    return [int(s) for s in rng.integers(2**63, size=count)]


def eval_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Every clip once, sorted by length (longest first) and cut into batches, so that little of a
    batch is padding. Padding never changes a prediction: in evaluation the upstreams keep it out of
    each clip's computation. Longest first, so that a batch too large for the device fails at once."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded waves [B, S] and their lengths [B]."""
    lengths = torch.tensor([len(w) for w in waves])
    batch = np.zeros((len(waves), int(lengths.max())), dtype=np.float32)
    for row, wave in zip(batch, waves):
        row[: len(wave)] = wave
    return torch.from_numpy(batch), lengths


class ClipBatches(Dataset):
    """Item ``(clips, seed)``: the clips read from the decoded-audio cache, augmented clip after clip
    with a generator seeded by ``seed`` (training; ``augmentation`` is the pair of ranges SNR dB,
    mask fraction) and zero-padded; with seed None, the clips as they are. An item names its clips
    itself, so one loader (and its worker processes) serves every pass of a training."""

    def __init__(self, augmentation=None):
        self.augmentation = augmentation

    def __getitem__(self, item) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(waves [B, S], lengths [B], labels [B])."""
        clips, seed = item
        waves = [clip.wave() for clip in clips]
        if seed is not None:
            rng = np.random.default_rng(seed)
            snr_db, mask = self.augmentation
            waves = [augment(wave, rng, snr_db, mask) for wave in waves]
        return (*collate(waves), torch.tensor([clip.label for clip in clips]))


class _Pass(Sampler):
    """The items of the loader's current pass, set before each pass in the main process."""

    def __init__(self):
        self.items: list = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def loader_workers(device: torch.device) -> int:
    """Worker processes for the input pipeline: none on the CPU, a few on CUDA (within the cores
    this process was given)."""
    return min(MAX_WORKERS, torch.get_num_threads()) if device.type == "cuda" else 0


class BatchLoader:
    """One ``DataLoader`` for a whole training: its ``loader_workers(device)`` processes start once
    and prepare every pass's batches (each epoch, each dev and test scoring); a loader per pass
    would start them about 60 times a cell, each start importing torch again."""

    def __init__(self, device: torch.device, *, augmentation=None):
        workers = loader_workers(device)
        self.passes = _Pass()
        self.loader = DataLoader(
            ClipBatches(augmentation),
            batch_size=None,  # an item is already a batch
            sampler=self.passes,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            # Its own generator: the loader's base seed would otherwise be drawn from torch's global
            # one, shifting every dropout and LayerDrop draw of the training.
            generator=torch.Generator(),
            prefetch_factor=2 if workers else None,
            persistent_workers=workers > 0,
        )

    def __call__(self, clips, batches: list[list[int]], *, seeds=None):
        """The batches in order (``ClipBatches``), augmented with ``seeds`` (one per batch) if given.
        Iterate each pass to its end before the next."""
        self.passes.items = [
            (tuple(clips[i] for i in batch), None if seeds is None else seeds[k]) for k, batch in enumerate(batches)
        ]
        return iter(self.loader)


def batch_loader(clips, batches: list[list[int]], device: torch.device, *, seeds=None, augmentation=None):
    """One pass of the batches in order, through a loader of its own (``BatchLoader``)."""
    return BatchLoader(device, augmentation=augmentation)(clips, batches, seeds=seeds)
