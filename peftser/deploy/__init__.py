"""Deploying a trained artifact: a standalone model (encoder, method and head in one weights file,
LoRA and its peft relatives merged into the encoder's linears), an ONNX graph checked against
onnxruntime, and one frozen encoder serving several artifacts.

    python run_benchmark.py --export results/artifacts/<key> --to exported/             # safetensors
    python run_benchmark.py --export results/artifacts/<key> --to exported/ --format onnx
    peftser.load("exported/")                      # either format predicts like the artifact
    peftser.load(["artifact_a", "artifact_b"])     # one encoder, predict(..., model="artifact_a")

Every export is checked before it is kept: its logits against the artifact's own model on a padded
batch and on each clip alone (``check``); a check that fails, or an exporter that cannot trace the
model, leaves no file behind.
"""
