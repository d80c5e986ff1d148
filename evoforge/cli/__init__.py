"""The ``evoforge`` command: one Typer application; each module adds its commands to it."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from evoforge.cli import dashboard, demo, runs  # noqa: F401  (each registers its commands on app)
from evoforge.cli.app import COMMANDS, EXIT_USAGE, UserError, app, console

for _module in dict.fromkeys(COMMANDS.values()):  # the commands of each problem kind
    importlib.import_module(_module)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted: resume with 'evoforge resume RUN_DIR'")
        sys.exit(130)
    except Exception as exc:
        _exit_for(exc)
        raise
    # outside standalone mode typer returns an exit code instead of raising it: Ctrl-C (130) returned
    # here and the process ended with 0
    if code == 130:
        console.print("interrupted")
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)


def _exit_for(exc: Exception) -> None:
    """Print ``exc`` as one line and exit, for every error a user can meet (the engine's error classes
    are imported here, on the way out, so a command that needs no engine never imports it)."""
    from evoforge.backends.base import BackendLostError
    from evoforge.engine.records import RunFailedError
    from evoforge.store.run_store import StoreError

    def say(what: str, text: str, code: int) -> None:
        console.print(f"[red]evoforge: {what}:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(code)

    if isinstance(exc, (UserError, StoreError)):
        say("error", str(exc), EXIT_USAGE)
    if isinstance(exc, RunFailedError):
        say("run failed", str(exc), 1)
    if isinstance(exc, BackendLostError):
        say(
            "run stopped",
            f"{exc}; the work in flight was not recorded: continue with 'evoforge resume RUN_DIR' "
            "(--backend to choose another)",
            1,
        )
    # Usage errors (unknown command or option, bad option value) from typer's click layer;
    # typer >= 0.29 vendors click, older versions use the click package: match by duck type.
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        say("error", exc.format_message(), EXIT_USAGE)
