"""The ``lossmath`` command line.

``lossmath losses`` lists the catalogue; ``lossmath check`` checks, live, every
derivative of every loss against ``mpmath`` (400 digits) and finite differences;
``lossmath fit`` fits a GLM (:mod:`._fit`) and ``lossmath predict`` applies a saved
one (:mod:`._predict`, :mod:`._model_file`).

A mistake the user can fix is one line on stderr naming the file, the column and
the value, and exit status 2 (:mod:`._errors`); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console

import lossmath
from lossmath.cli._catalogue import add_catalogue_parsers
from lossmath.cli._errors import EXIT_USAGE, OneLineParser, UsageError
from lossmath.cli._fit import add_fit_parser
from lossmath.cli._predict import add_predict_parser

__all__ = ["main"]


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="lossmath",
        description="Loss functions with exact, numerically stable derivatives.",
    )
    parser.add_argument("--version", action="version", version=f"lossmath {lossmath.__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    add_catalogue_parsers(sub)
    add_fit_parser(sub)
    add_predict_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lossmath`` console script; returns the exit status."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere on the line (``lossmath fit --debug``), not only before the command.
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return 0
    console = Console()
    if not console.is_terminal:
        # Piped or captured output: wide enough that no table cell is cut.
        console = Console(width=max(console.width, 140))
    try:
        return args.run(args, console)
    except UsageError as err:
        if debug:
            raise
        sys.stderr.write(f"lossmath {args.command}: error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write(f"lossmath {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
