"""The one sample rate every stage exchanges: corpora are decoded to it, encoders read it (16 kHz mono)."""

SAMPLE_RATE = 16_000
