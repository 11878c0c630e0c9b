"""The command line: ``python -m attention analyze | explain | profile | video``.

Bad input of any kind exits with code 2 and one line on stderr, because these
commands are run by people and by scripts, and neither wants a traceback. That
includes bad options: argparse's usage block is replaced by one ``error:`` line.
The CLI is an entry point: it loads models with ``models/`` and hands them to
the ``attention`` library, so it sits above both.
"""

from __future__ import annotations

import argparse
import logging
import sys

from attention.errors import InputError
from models.options import OneLineParser

from . import analyze, explain, profile, video

LOGGER = logging.getLogger("attention")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m attention", description="Show what the attention modules of a network do to images and videos."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for command in (analyze, explain, profile, video):
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 2 bad input or options (one ``error:`` line on stderr), 1 a bug (one line too)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or one error line already written
        return exit_.code if isinstance(exit_.code, int) else 2
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.captureWarnings(True)  # library warnings go through logging, so stderr stays one line
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # file names that are not valid UTF-8
    try:
        return int(args.run(args))
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except OSError as error:
        filename = getattr(error, "filename", None)
        where = f" ({filename})" if filename else ""
        sys.stderr.write(f"error: {' '.join(str(error.strerror or error).split())}{where}\n")
        return 2
    except MemoryError:
        sys.stderr.write("error: out of memory; try fewer images per pass (--batch-size) or a smaller model\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as error:  # a bug: still one line for the user, the traceback with -v
        if verbose:
            LOGGER.exception("internal error")
        reason = " ".join(str(error).split())[:200]
        sys.stderr.write(f"error: internal error ({type(error).__name__}: {reason}); -v shows the traceback\n")
        return 1
