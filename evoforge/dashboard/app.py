"""The dashboard's web application: HTML pages that fetch JSON from a read-only API.

Every route answers GET only; none writes or deletes anything. Runs are named by their number in the
dashboard's list and genomes by their 16-hex-digit content id, so a request cannot name a file; the
static files are a fixed set (Plotly's JavaScript comes from the installed ``plotly`` package, so the
page works with no internet).

>>> from starlette.testclient import TestClient
>>> TestClient(create_app([])).get("/api/runs").json()
[]
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from evoforge.dashboard.catalog import Catalog, UnknownError

__all__ = ["create_app"]

HERE = Path(__file__).resolve().parent
_GENOME_ID = re.compile(r"^[0-9a-f]{16}$")


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def create_app(run_dirs: list[Path], refresh_seconds: float = 2.0) -> Starlette:
    """The ASGI app serving the dashboard of ``run_dirs`` (pages refresh every ``refresh_seconds``)."""
    catalog = Catalog(run_dirs)
    static = {
        "plotly.min.js": (_plotly_js(), "text/javascript"),
        "app.js": (HERE / "static" / "app.js", "text/javascript"),
        "style.css": (HERE / "static" / "style.css", "text/css"),
    }

    def page(name: str) -> Response:
        html = (HERE / "static" / name).read_text(encoding="utf-8")
        return Response(
            html.replace("{{refresh_ms}}", str(int(refresh_seconds * 1000))), media_type="text/html"
        )

    async def index(request: Request) -> Response:
        return page("index.html")

    def run_page(request: Request) -> Response:
        catalog.run(request.path_params["run"])  # an unknown run is a 404 here too
        return page("run.html")

    async def compare_page(request: Request) -> Response:
        return page("compare.html")

    async def asset(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None:
            raise UnknownError(f"no file {request.path_params['name']!r}")
        path, media = found
        return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})

    def figure(request: Request) -> Response:
        path = catalog.figure(request.path_params["run"], request.path_params["name"])
        return FileResponse(path, media_type="image/png")

    def api(fn):  # plain functions: Starlette runs them in its thread pool, off the event loop
        def endpoint(request: Request) -> Response:
            gid = request.path_params.get("genome_id")
            if gid is not None and not _GENOME_ID.match(gid):
                raise UnknownError(f"not a genome id: {gid!r}")
            return JSONResponse(fn(request, **request.path_params))

        return endpoint

    def since(request: Request) -> int:
        try:
            return max(0, int(request.query_params.get("since", "0")))
        except ValueError:
            raise ValueError("since must be a generation number") from None

    routes = [
        Route("/", index),
        Route("/run/{run:int}", run_page),
        Route("/compare", compare_page),
        Route("/static/{name}", asset),
        Route("/api/runs", api(lambda request: catalog.runs())),
        Route("/api/runs/{run:int}", api(lambda request, run: catalog.run(run))),
        Route("/api/runs/{run:int}/curve", api(lambda request, run: catalog.curve(run, since(request)))),
        Route("/api/runs/{run:int}/failures", api(lambda request, run: catalog.failures(run))),
        Route("/api/runs/{run:int}/behaviours", api(lambda request, run: catalog.behaviours(run, since(request)))),
        Route("/runs/{run:int}/figures/{name}", figure),
        Route("/api/runs/{run:int}/genomes/{genome_id}", api(lambda request, run, genome_id: catalog.genome(run, genome_id))),
        Route("/api/runs/{run:int}/genomes/{genome_id}/lineage",
              api(lambda request, run, genome_id: catalog.lineage(run, genome_id))),
    ]  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": exc.args[0] if exc.args else "not found"}, status_code=404)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": exc.args[0] if exc.args else "bad request"}, status_code=400)

    return Starlette(routes=routes, exception_handlers={UnknownError: not_found, ValueError: bad_request})
