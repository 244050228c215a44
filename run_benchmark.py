#!/usr/bin/env python
"""PEFT-SER benchmark entry point; see README.md or ``python run_benchmark.py --help``."""

import sys

from peftser.cli import main

if __name__ == "__main__":
    sys.exit(main())
