#!/usr/bin/env python
"""``python scripts/evaluate.py ARGS`` is ``sparselearn evaluate ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn evaluate --help``.
"""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
