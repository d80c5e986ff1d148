"""The ``evoforge`` command: one Typer application; each module adds its commands to it."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from evoforge.cli import demo, nas, runs  # noqa: F401  (each registers its commands on app)
from evoforge.cli.app import EXIT_USAGE, UserError, app, console

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    from evoforge.backends.base import BackendLostError
    from evoforge.engine.loop import RunFailedError
    from evoforge.store.run_store import StoreError

    try:
        app(standalone_mode=False)
    except (UserError, StoreError) as exc:
        console.print(f"[red]evoforge: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except RunFailedError as exc:
        console.print(f"[red]evoforge: run failed:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except BackendLostError as exc:
        console.print(
            f"[red]evoforge: run stopped:[/] {escape(str(exc))}; the work in flight was not recorded: "
            "continue with 'evoforge resume RUN_DIR' (--backend to choose another)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted: resume with 'evoforge resume RUN_DIR'")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (unknown command or option, bad option value) from typer's click layer;
        # typer >= 0.29 vendors click, older versions use the click package: match by duck type.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            console.print(
                f"[red]evoforge: error:[/] {escape(exc.format_message())}", highlight=False, soft_wrap=True
            )
            sys.exit(EXIT_USAGE)
        raise
