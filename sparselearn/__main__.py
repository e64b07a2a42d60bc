"""``python -m sparselearn ARGS`` is the ``sparselearn ARGS`` command (:mod:`sparselearn.cli`)."""

import sys

try:
    from sparselearn.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting: one line, no traceback
    sys.stderr.write("sparselearn: interrupted while starting; nothing was written\n")
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
