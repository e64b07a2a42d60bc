#!/usr/bin/env python
"""``python scripts/train.py ARGS`` is ``sparselearn train ARGS``.

The command lives in :mod:`sparselearn.cli` (so an installed wheel has it too); see
``sparselearn train --help``.
"""

import sys

try:
    from sparselearn.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting: one line, no traceback
    sys.stderr.write("sparselearn: interrupted while starting; nothing was written\n")
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
