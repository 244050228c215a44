"""peftser: a benchmark harness for parameter-efficient fine-tuning of speech encoders for SER."""

__version__ = "0.1.0"
