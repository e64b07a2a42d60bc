#!/usr/bin/env python
"""``python scripts/visualize.py ARGS`` is ``sparselearn visualize ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn visualize --help``.
"""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["visualize", *sys.argv[1:]]))
