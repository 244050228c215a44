"""The reference side of ``reference_side_by_side.py``: times the PEFT-SER authors' own code.

Run with the reference's Python (transformers 4.30.2, loralib), never the harness's:

    REFERENCE_PYTHON reference_driver.py --reference-repo PEFT_SER_CHECKOUT steps ...
    REFERENCE_PYTHON reference_driver.py --reference-repo PEFT_SER_CHECKOUT train ...

The reference is imported from its checkout at run time; nothing of it is copied here. A few
run-time stand-ins let it run on a CPU machine without the hub, and each changes no arithmetic of
a training step:

- ``Tensor.cuda`` returns the tensor itself: the wrappers call ``.cuda()`` unconditionally.
- ``from_pretrained`` of the hub ids builds the model from the configuration the harness embeds for
  the same upstream, with random weights (no download), and Whisper's feature extractor with its
  default (80-bin) settings, which are whisper-tiny's.
- ``torchaudio``: no build matches torch 2.13, and the reference only imports ``compliance.kaldi``
  (unused) and calls ``load`` in its data loader, here read with soundfile.
- ``holisticai`` and ``aif360``: fairness metrics imported by its evaluation module and never
  called in training; their pinned releases do not install on Python 3.11.

Each command prints one JSON object on its last line of stdout.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import resource
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

# The reference's names for the harness's upstreams and methods. Its "finetune" freezes the whole
# backbone (no parameter is new, so none is left trainable): the harness's "downstream".
WRAPPERS = {"whisper_tiny": ("whisper", "WhisperWrapper"), "wavlm_base_plus": ("wavlm_plus", "WavLMWrapper")}
PRETRAIN_NAMES = {"whisper_tiny": "whisper_tiny", "wavlm_base_plus": "wavlm_plus"}
METHODS = {"downstream": "finetune", "lora": "lora"}


def install_stand_ins() -> None:
    """The run-time stand-ins listed in the module docstring, before the reference is imported."""
    torch.Tensor.cuda = lambda self, *args, **kwargs: self

    torchaudio = _stand_in("torchaudio")
    compliance = _stand_in("torchaudio.compliance")
    compliance.kaldi = _stand_in("torchaudio.compliance.kaldi")
    torchaudio.compliance = compliance
    torchaudio.load = _load_wav
    sys.modules.update({"torchaudio": torchaudio, "torchaudio.compliance": compliance,
                        "torchaudio.compliance.kaldi": compliance.kaldi})

    for name in ("holisticai", "holisticai.bias", "holisticai.bias.metrics", "aif360", "aif360.sklearn", "aif360.sklearn.metrics"):
        sys.modules[name] = _stand_in(name)
    metrics = sys.modules["holisticai.bias.metrics"]
    metrics.multiclass_equality_of_opp = metrics.multiclass_statistical_parity = _never_called
    aif = sys.modules["aif360.sklearn.metrics"]
    aif.statistical_parity_difference = aif.equal_opportunity_difference = _never_called


def _stand_in(name: str) -> types.ModuleType:
    # A spec, so that transformers' check for optional packages sees a module (and, finding no
    # installed distribution of it, treats it as absent).
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def _load_wav(path):
    """torchaudio.load's result for a WAV file: float32 [channels, samples] and the sample rate."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), rate


def _never_called(*args, **kwargs):
    raise NotImplementedError("fairness metrics are not part of the timed training")


def use_random_weights(config: dict) -> None:
    """Make the wrappers' ``from_pretrained`` calls build ``config``'s model with random weights."""
    import transformers

    def random_model(cls):
        def from_pretrained(name, *args, **kwargs):
            model_config = cls.config_class(**{**config, **kwargs})
            return cls(model_config)
        return from_pretrained

    transformers.WhisperModel.from_pretrained = random_model(transformers.WhisperModel)
    transformers.WavLMModel.from_pretrained = random_model(transformers.WavLMModel)
    transformers.AutoFeatureExtractor.from_pretrained = lambda name, *a, **k: transformers.WhisperFeatureExtractor(
        feature_size=config.get("num_mel_bins", 80)
    )


def import_reference(repo: Path) -> None:
    """Put the reference's folders on the path, as its own scripts do for themselves."""
    for folder in ("", "model", "dataloader", "experiment"):
        sys.path.insert(0, str(repo / folder))


def reference_args(upstream: str, method: str, lora_rank: int) -> argparse.Namespace:
    """The argument namespace the reference's wrappers read (its parse_finetune_args' fields)."""
    return argparse.Namespace(
        pretrain_model=PRETRAIN_NAMES[upstream], finetune_method=METHODS[method], lora_rank=lora_rank,
        adapter_hidden_dim=128, embedding_prompt_dim=5, use_conv_output=False, downstream_model="rnn",
    )


def build_reference_model(upstream: str, method: str, lora_rank: int) -> nn.Module:
    module_name, class_name = WRAPPERS[upstream]
    wrapper = getattr(__import__(module_name), class_name)
    return wrapper(reference_args(upstream, method, lora_rank), output_class_num=4)


def reference_optimizer(model: nn.Module, lr: float = 5e-4) -> torch.optim.Optimizer:
    """The reference's optimiser (finetune_emotion.py): Adam over the trainable parameters."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4, betas=(0.9, 0.98))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def trainable_summary(model: nn.Module) -> dict:
    """How many parameters train, and which kinds, to check both sides train the same ones."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    return {
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "trainable_lora_tensors": sum("lora_" in n for n in names),
        "trainable_backbone_tensors": sum(n.startswith("backbone_model") for n in names),
    }


def steps_command(args) -> dict:
    """Median seconds of the reference's training step (its train_epoch body) after a warm-up."""
    use_random_weights(json.loads(args.config))
    torch.manual_seed(0)
    model = build_reference_model(args.upstream, args.method, args.lora_rank).train()
    optimizer = reference_optimizer(model)
    samples = int(args.seconds * 16000)
    x = 0.1 * torch.randn(args.batch, samples)
    length = torch.full((args.batch,), samples)
    y = torch.randint(0, 4, (args.batch,))
    criterion = nn.CrossEntropyLoss(torch.full((4,), 0.25))  # class weights, as train_epoch passes them

    times = []
    for step in range(args.steps + 1):
        start = time.perf_counter()
        # The body of train_epoch in the reference's experiment/finetune_emotion.py.
        model.zero_grad()
        optimizer.zero_grad()
        outputs = model(x, length=length)
        loss = criterion(outputs, y)
        loss.backward()
        optimizer.step()
        if step:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    return {"sec_per_step": statistics.median(times), "step_times": times, "peak_memory_mb": peak_rss_mb(),
            "threads": torch.get_num_threads(), **trainable_summary(model)}


def train_command(args) -> dict:
    """One training driven through the reference's own data loader, train_epoch and validate_epoch
    on a split written in its layout; the fold loop of its __main__ reduced to this one fold."""
    use_random_weights(json.loads(args.config))
    import finetune_emotion as reference
    from dataloader import load_finetune_audios, return_weights, set_finetune_dataloader
    from utils import set_seed

    started = time.perf_counter()
    run = reference_args(args.upstream, args.method, args.lora_rank)
    train_list, dev_list, test_list = load_finetune_audios(args.split_dir, audio_path=args.audio_dir, dataset=args.dataset, fold_idx=1)
    weights = return_weights(args.split_dir, dataset=args.dataset, fold_idx=1)
    loaders = [set_finetune_dataloader(run, files, is_train=split == "train")
               for split, files in (("train", train_list), ("dev", dev_list), ("test", test_list))]
    set_seed(8)
    model = build_reference_model(args.upstream, args.method, args.lora_rank)
    optimizer = reference_optimizer(model, args.learning_rate)
    # The reference also passes verbose=True, an argument torch 2.13 no longer has (it only printed).
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", patience=5, factor=0.5, min_lr=5e-5)
    reference.fold_idx, reference.scheduler = 1, scheduler  # globals its epoch functions read

    train_s = eval_s = 0.0
    best_dev_uar, history = -1.0, []
    for epoch in range(args.epochs):
        reference.epoch = epoch
        t0 = time.perf_counter()
        train_result = reference.train_epoch(loaders[0], model, "cpu", optimizer, weights)
        t1 = time.perf_counter()
        dev_result = reference.validate_epoch(loaders[1], model, "cpu", weights)
        test_result = reference.validate_epoch(loaders[2], model, "cpu", weights, split="Test")
        t2 = time.perf_counter()
        train_s, eval_s = train_s + t1 - t0, eval_s + t2 - t1
        if best_dev_uar < dev_result["uar"]:  # the reference saves the best epoch's weights
            best_dev_uar = dev_result["uar"]
            torch.save(reference.lora.lora_state_dict(model) if args.method == "lora" else model.state_dict(),
                       str(Path(args.out_dir) / "fold_1.pt"))
        history.append({"epoch": epoch + 1, "train_loss": float(train_result["loss"]),
                        "dev_uar": float(dev_result["uar"]), "test_uar": float(test_result["uar"])})
    return {"loop_s": time.perf_counter() - started, "train_s": train_s, "eval_s": eval_s, "history": history,
            "split_sizes": [len(train_list), len(dev_list), len(test_list)], "peak_memory_mb": peak_rss_mb(),
            **trainable_summary(model)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-repo", required=True, type=Path, help="checkout of usc-sail/peft-ser")
    parser.add_argument("--config", required=True, help="the upstream's transformers configuration, as JSON")
    parser.add_argument("--upstream", required=True, choices=sorted(WRAPPERS))
    parser.add_argument("--method", required=True, choices=sorted(METHODS))
    parser.add_argument("--lora-rank", type=int, default=8)
    commands = parser.add_subparsers(dest="command", required=True)
    steps = commands.add_parser("steps", help="time training steps on random audio")
    steps.add_argument("--batch", type=int, default=4)
    steps.add_argument("--seconds", type=float, default=6.0)
    steps.add_argument("--steps", type=int, default=3)
    train = commands.add_parser("train", help="one whole training on a split in the reference's layout")
    train.add_argument("--split-dir", required=True, help="holds DATASET_fold1.json")
    train.add_argument("--audio-dir", required=True, help="holds DATASET/<clip>.wav")
    train.add_argument("--out-dir", required=True, help="where the best epoch's weights are saved")
    train.add_argument("--dataset", default="crema_d")
    train.add_argument("--epochs", type=int, default=2)
    train.add_argument("--learning-rate", type=float, default=5e-4)
    args = parser.parse_args(argv)

    install_stand_ins()
    import_reference(args.reference_repo.resolve())
    result = {"steps": steps_command, "train": train_command}[args.command](args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
