"""``python -m attention`` runs the command line in ``cli/``, so the name users type is the library's own.

This is the one import from the library into an entry point (``tests/test_layering.py`` names it): the
command line loads models with ``models/`` and hands them to this library, so its code sits above both.
"""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
