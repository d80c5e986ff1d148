"""The command-line application object, its consoles, and how user errors travel.

Every user error (a bad config, an unknown environment or strategy, a missing
run directory) ends with one line on stderr and exit code 2, and nothing is
written before the input has been validated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="evoforge: neuroevolution toolkit.",
    rich_markup_mode="markdown",  # docstrings reflowed to the terminal, not broken where the source breaks
)
console = Console(stderr=True)
out = Console()

EXIT_USAGE = 2


class UserError(Exception):
    """An input problem reported as one line and exit code 2."""


def fail(message: str) -> NoReturn:
    raise UserError(message)


#: the modules that add the commands of each problem kind (imported when the command line starts;
#: a problem kind of your own adds its module here)
COMMANDS: dict[str, str] = {
    "classification": "evoforge.cli.nas",  # nas, train-final
    "double_pole": "evoforge.cli.networks",  # draw, export
    "gan": "evoforge.cli.gan",  # sample, what report adds
    "gym": "evoforge.cli.gym",  # play
    "optimizer_search": "evoforge.cli.optimizers",  # what report adds
    "tabular": "evoforge.cli.tabular",  # tabular, predict, what report adds
    "xor": "evoforge.cli.networks",
}

#: what ``evoforge report`` adds for a problem kind: ``fn(run_dir, report_dir)`` -> files written
REPORTS: dict[str, Callable[[Path, Path], list[Path]]] = {}
