"""``evoforge dashboard``: serve the live web view of run directories."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

import typer

from evoforge.cli.app import app, console, fail

__all__ = ["dashboard", "run_directories"]


def run_directories(paths: list[Path]) -> list[Path]:
    """The run directories named: each path is a run directory, or a folder whose sub-folders that
    are run directories are all taken (in name order). Anything else is a user error."""
    found: list[Path] = []
    for path in paths:
        if (path / "config.yaml").is_file():
            found.append(path)
            continue
        if not path.is_dir():
            why = "no such directory" if not path.exists() else "a file, not a directory"
            fail(f"{path} is not an evoforge run directory ({why})")
        inside = sorted(p for p in path.iterdir() if (p / "config.yaml").is_file())
        if not inside:
            fail(f"{path} is not an evoforge run directory and holds none (no config.yaml)")
        found.extend(inside)
    return list(dict.fromkeys(found))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def dashboard(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories, or folders holding run directories."),
    port: int = typer.Option(8760, "--port", min=0, max=65535, help="TCP port (0: any free one)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (this machine only by default)."
    ),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow a --host that other machines can reach (the page has no login)."
    ),
    refresh: float = typer.Option(2.0, "--refresh", min=0.2, help="Seconds between a page's updates."),
) -> None:
    """A live web view of runs: their list, fitness curves, hall of fame, lineage and failures.
    It only reads the run directories (SQLite opened read-only), so it can watch runs while they go."""
    dirs = run_directories(run_dirs)
    if not _loopback(host):
        if not allow_remote:
            fail(f"--host {host} can be reached from other machines and the dashboard has no login; "
                 "add --allow-remote to serve it there anyway")  # fmt: skip
    sock = _listen(host, port)
    port = sock.getsockname()[1]  # the one chosen, with --port 0
    if not _loopback(host):
        console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it sees these runs")
    try:
        import uvicorn

        from evoforge.dashboard.app import create_app
    except ImportError as exc:
        fail(f"the dashboard needs the 'dashboard' extra (pip install 'evoforge[dashboard]'): {exc}")
    url_host = f"[{host}]" if ":" in host else host
    console.print(f"evoforge dashboard of {len(dirs)} run(s): http://{url_host}:{port}/  (Ctrl+C to stop)")
    server = uvicorn.Server(uvicorn.Config(create_app(dirs, refresh), log_level="warning"))
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` before anything is printed, so a port in use or an unknown host
    is one line (uvicorn would log it after the address was announced, exit 3), and ``--port 0``
    announces the port it got."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        fail(f"--host {host}: not an address of this machine ({exc.strerror or exc})")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = "in use; choose another with --port (0: any free one)" if exc.errno == errno.EADDRINUSE else ""
        fail(f"cannot listen on {host}:{port}: {why or exc.strerror or exc}")
    sock.listen(2048)  # uvicorn's backlog: a request sent once the address is printed waits, not refused
    return sock
