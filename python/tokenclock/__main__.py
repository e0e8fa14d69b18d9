"""``python -m tokenclock``: the ``tokenclock`` command (see :mod:`tokenclock.cli`)."""

import sys

from tokenclock.cli import main

if __name__ == "__main__":
    sys.exit(main())
