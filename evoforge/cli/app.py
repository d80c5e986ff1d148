"""The command-line application object, its consoles, and how user errors travel.

Every user error (a bad config, an unknown environment or strategy, a missing
run directory) ends with one line on stderr and exit code 2, and nothing is
written before the input has been validated.
"""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="evoforge: neuroevolution toolkit.")
console = Console(stderr=True)
out = Console()

EXIT_USAGE = 2


class UserError(Exception):
    """An input problem reported as one line and exit code 2."""


def fail(message: str) -> None:
    raise UserError(message)
