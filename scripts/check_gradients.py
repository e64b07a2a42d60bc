#!/usr/bin/env python
"""``python scripts/check_gradients.py ARGS`` is ``sparselearn check-gradients ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn check-gradients --help``.
"""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["check-gradients", *sys.argv[1:]]))
