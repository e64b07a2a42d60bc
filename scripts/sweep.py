#!/usr/bin/env python
"""``python scripts/sweep.py ARGS`` is ``sparselearn sweep ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn sweep --help``.
"""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
