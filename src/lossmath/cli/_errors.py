"""How the command line reports a user's mistake: one line on stderr, exit code 2.

Every problem the user can fix (a missing file, a column with text or NaN, an
option out of range, a target outside the loss's domain) raises :class:`UsageError`
with a message that names the file, the column and the value. :func:`lossmath.cli.main`
prints ``lossmath <command>: error: <message>`` and returns 2; ``--debug`` re-raises
so that the traceback is shown.
"""

from __future__ import annotations

import argparse
import difflib
import sys

__all__ = ["EXIT_USAGE", "OneLineParser", "UsageError", "did_you_mean"]

#: Exit status of a usage error (argparse's own).
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake the user can fix; the message is printed as it is, on one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def did_you_mean(value: str, choices) -> str:
    """``"; did you mean 'poisson'?"`` for a near miss, else ``""``."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
