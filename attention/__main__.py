"""``python -m attention``: the command line, which lives in ``cli.py`` at the repository root.

The command line is an entry point: it loads checkpoints from ``models/`` and
hands them to this library, so its code sits above both, not in here.
"""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
