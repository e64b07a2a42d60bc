#!/usr/bin/env python
"""``python scripts/train.py ARGS`` is ``sparselearn train ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn train --help``.
"""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
