"""``python -m sparselearn ARGS`` is the ``sparselearn ARGS`` command (:mod:`sparselearn.cli`)."""

import sys

from sparselearn.cli import main

if __name__ == "__main__":
    sys.exit(main())
