"""The commands every run has (``run``, ``resume``, ``show``, ``report``) and the helpers the other
commands share. Commands that only make sense for some problem kinds live with them (see
:data:`evoforge.cli.app.COMMANDS`)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from evoforge.cli.app import REPORTS, app, console, fail, out


# -- configs --------------------------------------------------------------------------------------
def load_yaml(text: str) -> Any:
    """A config's YAML text as Python values: YAML's safe loader, refusing a mapping that gives a key
    twice (YAML lets the last one win silently: a config with a section given twice ran the second
    and ignored the first). Keys a ``<<`` merge brings in may still be overridden, as YAML means."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                    try:
                        first = seen.get(key)
                    except TypeError:  # an unhashable key: the constructor says so below
                        continue
                    if first is not None:
                        where = f"line {line}" if first == line else f"lines {first} and {line}"
                        raise yaml.constructor.ConstructorError(
                            None, None, f"{key!r} given twice ({where})", key_node.start_mark
                        )
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  (a safe loader)


def load_config(
    path: Path | None,
    overrides: list[str],
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    name: Any = None,
):
    """The one way every command turns input into a run config: read the YAML at ``path`` (None: an
    empty one), fill in the top-level ``defaults`` it lacks (and a ``name(raw)`` if it has none),
    apply ``key.sub=value`` overrides, the seed and ``extra`` settings, and validate. Any problem is
    a :class:`UserError` of one line."""
    import yaml
    from pydantic import ValidationError

    from evoforge.engine.config import (
        ConfigError,
        RunConfig,
        apply_overrides,
        format_validation_error,
    )

    raw: Any = {}
    if path is not None:
        if path.is_dir():
            fail(f"{path} is a directory, not a config file")
        if not path.is_file():
            fail(f"config file not found: {path}")
        try:
            raw = load_yaml(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None)
            fail(f"{path}: not valid YAML{where}" + (f": {problem}" if problem else ""))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{path}: cannot read ({exc})")
        if raw is None and defaults is not None:
            raw = {}  # an empty file: the defaults alone
        if not isinstance(raw, dict):
            fail(f"{path}: the config must be a YAML mapping")
    for key, value in (defaults or {}).items():
        raw.setdefault(key, value)
    try:
        raw = apply_overrides(raw, overrides)
    except ConfigError as exc:
        fail(str(exc))
    if seed is not None:
        raw["seed"] = seed
    raw.update(extra or {})
    if name is not None:
        raw.setdefault("name", name(raw))
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        where = f"{path}: " if path is not None else ""
        fail(f"{where}{format_validation_error(exc)}")


def _check_buildable(config) -> None:
    """The engine's own check of everything a config alone cannot vouch for (the problem builds, the
    strategy fits its space, objectives, memory), before a backend starts or anything is written."""
    from evoforge.engine import loggers
    from evoforge.engine.loop import ConfigError, prepare

    try:
        loggers.check(config.logging)  # their packages, folder and tracking store
        prepare(config)
    except ConfigError as exc:
        fail(str(exc))


def _check_writable(path: Path) -> None:
    """Fail with one line, before any work, if the file ``path`` cannot be written (its folder is
    created if missing); leaves nothing behind."""
    if path.is_dir():
        fail(f"{path} is a directory; give a file name")
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as exc:
        fail(f"cannot write {path} ({exc.strerror or exc})")
    finally:
        if not existed:
            path.unlink(missing_ok=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                pass


# -- progress -------------------------------------------------------------------------------------
class _ProgressView:
    """A run's progress: on a terminal a rich bar (generation, best and mean fitness, elapsed time and
    the time left to whichever stop comes first: the generations, ``stop.evaluations``,
    ``stop.env_steps`` or ``stop.seconds``, the bar filling toward that stop); elsewhere (a log file, a
    pipe) one plain line per generation, flushed as it is written, so a log shows a long run as it
    goes. The generation count is shown out of its total only when the generations are what will end
    the run (a budgeted run sets them out of reach: "gen 3/10000000" said nothing)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.progress: Any = None
        self.task = None
        self.plan: dict[str, Any] = {}
        self.done = 0  # generations finished
        self.wall = 0.0  # the run's seconds at the last generation
        self.evaluations = 0
        self.env_steps = 0.0

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "warning":  # printed even when quiet: something the user must know
            console.print(
                f"[yellow]evoforge: warning:[/] {escape(data['message'])}", highlight=False, soft_wrap=True
            )
            return
        if self.quiet:
            return
        if event == "start":
            self.plan = dict(data)
            self.done, self.wall = data["generation"], data.get("wall_seconds", 0.0)
            self.evaluations = data.get("evaluations", 0)
            self.env_steps = data.get("env_steps", 0.0)
            if console.is_terminal:
                self._start_bar()
        elif event == "generation":
            self.done = data["generation"] + 1
            self.wall = data["wall_seconds"]
            self.evaluations += data["evaluations"]
            self.env_steps += data.get("env_steps", 0.0)
            share, left, ending = self._first_stop()
            if self.progress is not None:
                self.progress.update(
                    self.task,
                    completed=share,
                    gen=self._generations(ending),
                    best=_fmt(data["best_ever"]),
                    mean=_fmt(data["mean"]),
                    left=left,
                )
            else:
                console.print(
                    f"gen {self._generations(ending)}  best {_fmt(data['best_ever'])}  "
                    f"mean {_fmt(data['mean'])}  {self._counts()}elapsed {_clock(self.wall)}  left {left}",
                    highlight=False,
                    soft_wrap=True,
                )
                console.file.flush()
        elif event == "finish" and self.progress is not None:
            self.progress.stop()

    def _start_bar(self) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]gen {task.fields[gen]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("best {task.fields[best]}  mean {task.fields[mean]}"),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[left]}"),
            console=console,
        )
        self.progress.start()
        share, left, ending = self._first_stop()
        self.task = self.progress.add_task(
            "evolve", total=1.0, completed=share, gen=self._generations(ending), best="-", mean="-", left=left
        )

    def _generations(self, ending: str) -> str:
        return f"{self.done}/{self.plan['generations']}" if ending == "generations" else str(self.done)

    def _counts(self) -> str:
        """The evaluations (and environment steps, where there are any), out of their budgets."""
        plan, text = self.plan, f"evaluations {self.evaluations}"
        if plan.get("stop_evaluations") is not None:
            text += f"/{plan['stop_evaluations']}"
        if self.env_steps or plan.get("stop_env_steps") is not None:
            text += f"  env steps {self.env_steps:,.0f}"
            if plan.get("stop_env_steps") is not None:
                text += f"/{plan['stop_env_steps']:,.0f}"
        return text + "  "

    def _first_stop(self) -> tuple[float, str, str]:
        """(the share of it used, the time left to it, its name) for the stop that will end the run
        first, at the rates since this process started it ("-" for the time left while it cannot be
        told)."""
        from evoforge.engine.records import first_stop

        plan = self.plan
        limits = {"generations": plan["generations"], "evaluations": plan.get("stop_evaluations"),
                  "env_steps": plan.get("stop_env_steps"), "seconds": plan.get("stop_seconds")}  # fmt: skip
        now = {"generations": self.done, "evaluations": self.evaluations, "env_steps": self.env_steps,
               "seconds": self.wall}  # fmt: skip
        then = {"generations": plan["generation"], "evaluations": plan.get("evaluations", 0),
                "env_steps": plan.get("env_steps", 0.0), "seconds": plan.get("wall_seconds", 0.0)}  # fmt: skip
        share, seconds, name = first_stop(limits, now, then)
        return share, "-" if seconds is None else f"{_clock(seconds)} ({name})", name

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _clock(seconds: float) -> str:
    """``seconds`` as H:MM:SS.

    >>> _clock(3725.4)
    '1:02:05'
    """
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.6g}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run stands, so it unwinds as Ctrl-C does: the store committed and
    closed, the workers stopped."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


def _execute(fn, run_dir: Path, *args, quiet: bool = False, **kwargs):
    """``fn(*args)`` (a run or a resume of ``run_dir``) with the progress view. Ctrl-C, or SIGTERM (what
    a batch scheduler sends at its time limit), ends it with exit code 130 (143) and the command that
    continues it, the store closed and the workers stopped on the way out."""
    import signal

    from evoforge.backends.base import WorkerSetupError

    view = _ProgressView(quiet)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return fn(*args, callback=view, **kwargs)
    except WorkerSetupError as exc:
        view.close()
        fail(f"{exc}: the problem must load in a fresh process; fix that, then 'evoforge resume {run_dir}'")
    except KeyboardInterrupt as exc:
        view.close()
        word, code = ("terminated", 143) if isinstance(exc, _Terminated) else ("interrupted", 130)
        if (Path(run_dir) / "config.yaml").is_file():
            console.print(
                f"{word}: continue it with 'evoforge resume {run_dir}'", highlight=False, soft_wrap=True
            )
        else:
            console.print(f"{word} before the run started: nothing was written", highlight=False)
        sys.exit(code)
    finally:
        signal.signal(signal.SIGTERM, previous)
        view.close()


def _print_result(result) -> None:
    out.print(
        f"[bold green]finished[/] {result.run_dir}: best fitness {_fmt(result.best_fitness)}, "
        f"{result.test_label} {_fmt(result.test_score)} over {len(result.test_scores)} case{'s' if len(result.test_scores) != 1 else ''}, "
        f"{result.generations} generations, {result.evaluations} evaluations "
        f"({result.failed} failed), {result.wall_seconds:.1f} s"
    )
    if result.env_steps:  # environment steps: the search's, and apart from them the re-evaluations'
        extra = f", validation {result.validation_cases} episodes" if result.validation_cases else ""
        out.print(
            f"environment steps: search {result.env_steps:,.0f}; test {result.test_env_steps:,.0f} "
            f"({result.test_cases} episodes){extra}, not counted in the search's"
        )
    if result.stopped_by == "seconds":
        out.print(
            "stopped by its time budget (stop.seconds): where a wall-time budget stops depends on the "
            "machine's load, so this run is not reproducible from its seed; stop.evaluations or "
            "generations are"
        )


# -- commands -------------------------------------------------------------------------------------


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML config file."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value: key.sub=value (repeatable)."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (overrides the config)."),
    out_dir: Path | None = typer.Option(None, "--out", help="Run directory (default runs/NAME-SEED-TIME)."),
    backend: str | None = typer.Option(None, "--backend", help="serial, process or ray."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (process), or CPUs of a local Ray instance (ray)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join a Ray cluster: auto or HOST:PORT (default: start a local one)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    log_to: list[str] = typer.Option(
        [],
        "--log-to",
        help="Also log to tensorboard=DIR or mlflow=TRACKING_URI (repeatable; 'loggers' extra).",
    ),
) -> None:
    """Start a run from a config file."""
    set_ = [*set_, *map(_log_override, log_to)]
    extra: dict[str, Any] = {}
    if backend is not None:
        extra["backend"] = backend
    if workers is not None:
        extra["workers"] = workers
    if ray_address is not None:
        extra["ray_address"] = ray_address
    launch(load_config(config, set_, seed, extra), out_dir, quiet)


def _log_override(value: str) -> str:
    """``--log-to tensorboard=DIR`` as the override ``logging.tensorboard=DIR``."""
    kind, sep, where = value.partition("=")
    if kind not in ("tensorboard", "mlflow") or not sep or not where:
        fail(f"--log-to {value!r}: expected tensorboard=DIR or mlflow=TRACKING_URI")
    return f"logging.{kind}={where}"


def launch(cfg, out_dir: Path | None, quiet: bool) -> Path:
    """Run a validated config into ``out_dir`` (default runs/NAME-SEED-TIME) on its backend; returns
    the run directory. A directory that already holds a run, a problem that cannot be built or a
    backend that cannot start is a user error, raised before anything is written."""
    from evoforge.engine.loop import run as run_loop

    run_dir = out_dir or Path("runs") / f"{cfg.name}-{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (run_dir / "config.yaml").exists():
        fail(f"{run_dir} already holds a run; use 'evoforge resume {run_dir}' or another --out")
    _check_buildable(cfg)
    chosen = _start_backend(cfg.backend, cfg.workers, cfg.ray_address)
    try:
        result = _execute(run_loop, run_dir, cfg, run_dir, backend=chosen, quiet=quiet)
    finally:
        chosen.close()
    _print_result(result)
    return run_dir


def _start_backend(name: str, workers: int | None, address: str | None):
    """The backend, started (a Ray cluster joined) here so that a failure is one line, not a traceback."""
    from evoforge.engine.registry import make_backend

    try:
        chosen = make_backend(name, workers, address)
        chosen.slots  # noqa: B018  (starts workers or joins the cluster)
    except (ValueError, RuntimeError, ConnectionError) as exc:
        where = f" at {address}" if address else ""
        fail(
            f"cannot start the {name} backend{where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
    return chosen


@app.command()
def resume(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    backend: str | None = typer.Option(
        None, "--backend", help="serial, process or ray (default: the run's)."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes, or local Ray CPUs."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join a Ray cluster: auto or HOST:PORT."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Continue a killed or interrupted run exactly where it stopped."""
    from evoforge.engine.config import ConfigError
    from evoforge.engine.loop import resume as resume_loop
    from evoforge.engine.records import load_run_config

    store = _open_store(run_dir)
    try:
        cfg = load_run_config(store)
    finally:
        store.close()
    _check_buildable(cfg)
    chosen = _start_backend(backend or cfg.backend, workers or cfg.workers, ray_address or cfg.ray_address)
    try:
        result = _execute(resume_loop, run_dir, run_dir, backend=chosen, quiet=quiet)
    except ConfigError as exc:  # the data changed since the run started: nothing was run
        fail(str(exc))
    finally:
        chosen.close()
    _print_result(result)


def _open_store(run_dir: Path):
    """The run store of ``run_dir``, checked; a missing or damaged one is a user error (StoreError)."""
    from evoforge.store.run_store import RunStore

    if not run_dir.is_dir():
        why = "no such directory" if not run_dir.exists() else "a file, not a directory"
        fail(f"{run_dir} is not an evoforge run directory ({why})")
    try:
        return RunStore.open(run_dir)
    except FileNotFoundError as exc:
        fail(str(exc))


def run_problem(run_dir: Path) -> Any:
    """The problem config of the run in ``run_dir`` (a command that needs one kind of run checks its
    ``kind``); a missing or damaged run directory is a user error, in one line."""
    from evoforge.engine.records import load_run_config

    store = _open_store(run_dir)
    try:
        return load_run_config(store).problem  # the one reader of a run's config
    finally:
        store.close()


def summarise(run_dir: Path) -> dict[str, Any]:
    """The machine-readable summary printed by ``evoforge show --json``."""
    from evoforge.engine.records import load_run_config, read_hall_of_fame, read_result, run_status

    store = _open_store(run_dir)
    try:
        cfg = load_run_config(store)
        result = read_result(store)
        hof = read_hall_of_fame(store)
        stats = store.generation_stats()
        counts = store.counts()
        errors = store.first_errors()
        failed = None if result else store.read_json("failed.json")
        status = run_status(store, result, failed, bool(stats))
    finally:
        store.close()
    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "status": status,
        "strategy": cfg.strategy.name,
        "problem": cfg.problem.model_dump(mode="json"),
        "seed": cfg.seed,
        "best_fitness": result.best_fitness
        if result
        else (hof["entries"][0]["fitness"] if hof["entries"] else None),
        "test_score": result.test_score if result else None,
        "test_label": result.test_label if result else None,
        "test_scores": result.test_scores if result else None,
        "generations": len(stats),
        "evaluations": counts["evaluations"],
        "failed": counts["failed"],
        "env_steps": float(sum(s.get("env_steps", 0.0) for s in stats)),
        "wall_seconds": result.wall_seconds
        if result
        else (stats[-1].get("wall_seconds", 0.0) if stats else 0.0),
        "stopped_early": result.stopped_early if result else False,
        "stopped_by": result.stopped_by if result else "",
        "hall_of_fame": hof["entries"],
        "failure": failed["reason"] if failed else None,
        "first_errors": errors,
    }
    return summary


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a run."""
    summary = summarise(run_dir)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"evoforge run {run_dir}", show_header=False)
    for key in (
        "status",
        "strategy",
        "seed",
        "best_fitness",
        "test_score",
        "test_label",
        "generations",
        "evaluations",
        "failed",
        "env_steps",
        "wall_seconds",
        "stopped_by",
    ):
        value = summary[key]
        if key == "env_steps" and not value:
            continue  # not an environment's run (the JSON keeps its 0)
        table.add_row(key, _fmt(value) if isinstance(value, float) else str(value))
    table.add_row("problem", escape(json.dumps(summary["problem"])))
    out.print(table)
    if summary["hall_of_fame"]:
        hof = Table(title="hall of fame")
        for col in ("rank", "fitness", "generation", "genome_id"):
            hof.add_column(col)
        for e in summary["hall_of_fame"]:
            hof.add_row(str(e["rank"]), _fmt(e["fitness"]), str(e["generation"]), e["genome_id"])
        out.print(hof)
    if summary["failure"]:
        out.print(f"[red]run failed:[/] {escape(summary['failure'])}")
    if summary["status"] == "interrupted":
        out.print(f"interrupted: continue it with 'evoforge resume {escape(str(run_dir))}'", soft_wrap=True)
    if summary["first_errors"]:
        errors = Table(title="first errors of failed evaluations")
        errors.add_column("evaluations")
        errors.add_column("error")
        for e in summary["first_errors"]:
            errors.add_row(str(e["count"]), escape(e["error"]))
        out.print(errors)


def _plot_archive(run_dir: Path, config, stats: list[dict[str, Any]], path: Path) -> Path:
    """The elites of a quality-diversity run's last checkpoint, by descriptor, and its coverage."""
    import numpy as np

    from evoforge.engine.loop import prepare
    from evoforge.report.plots import plot_archive

    store = _open_store(run_dir)
    damaged: list[str] = []
    try:
        tree = store.load_checkpoint(damaged)
    finally:
        store.close()
    _, strategy, _ = prepare(config)
    elites = strategy.elites(strategy.state_from_tree(tree["strategy"])) if tree is not None else None
    if elites is None:
        return plot_archive(np.empty((0, 2)), np.empty(0), stats, path)
    kept = elites.occupied
    bounds = getattr(config.strategy, "descriptor_bounds", None)
    return plot_archive(elites.descriptors[kept], elites.fitness[kept], stats, path, bounds)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Where to write the figures (default RUN_DIR/report)."
    ),
    above: float | None = typer.Option(
        None, "--above", help="Multi-objective runs: name the smallest front member with fitness >= this."
    ),
) -> None:
    """Plot a run: fitness over generations, species sizes for NEAT runs, the Pareto front of
    multi-objective runs (with ``--above X``, the smallest member reaching X is named and marked),
    and what the run's problem kind adds (an optimizer search: its best rule as math and as code)."""
    from evoforge.engine.records import load_run_config, read_hall_of_fame
    from evoforge.report.plots import plot_fitness, plot_pareto, plot_species

    store = _open_store(run_dir)
    try:
        stats = store.generation_stats()
        config = load_run_config(store)
        hof = read_hall_of_fame(store)
        points = [(f, m) for _, f, m in store.evaluations()] if "pareto_front" in hof else []
        fitness, behaviours = store.behaviours()
    finally:
        store.close()
    if not stats:
        fail(f"{run_dir} has no finished generation yet")
    from evoforge.engine.registry import get_problem

    cfg = {"problem": config.problem.model_dump(mode="json")}
    direction = get_problem(config.problem.kind).direction
    target = out_dir or run_dir / "report"
    _check_writable(target / "fitness.png")
    target.mkdir(parents=True, exist_ok=True)
    written = [plot_fitness(stats, target / "fitness.png", direction)]
    if any(s.get("strategy", {}).get("species") for s in stats):
        written.append(plot_species(stats, target / "species.png"))
    chosen = None
    if "pareto_front" in hof:
        first = hof["objectives_minimised"][0]
        if above is not None:
            reaching = [e for e in hof["pareto_front"] if e["fitness"] >= above]
            chosen = min(reaching, key=lambda e: e[first], default=None)
        problem = cfg["problem"]
        label = (
            f"validation {problem.get('metric', 'accuracy')} (fitness)"
            if problem["kind"] == "classification"
            else "fitness"
        )
        written.append(
            plot_pareto(
                points, hof["pareto_front"], hof["objectives_minimised"], target / "pareto.png", chosen, label
            )
        )
        if above is not None:
            out.print(
                f"smallest front member with fitness >= {above:g}: "
                + (
                    f"{chosen['genome_id']} ({first} {chosen[first]:,.0f}, fitness {chosen['fitness']:.4f})"
                    if chosen
                    else "none"
                )
            )
    if any("coverage" in s.get("strategy", {}) for s in stats):  # quality diversity: its archive
        written.append(_plot_archive(run_dir, config, stats, target / "archive.png"))
    if len(behaviours):  # where the search looked: every behaviour, over the problem's map if it has one
        import numpy as np

        from evoforge.report.plots import plot_behaviours

        world = get_problem(config.problem.kind).behaviour_map(config.problem)
        finite = np.isfinite(fitness)
        best = None
        if finite.any():
            sign = 1.0 if direction == "maximize" else -1.0
            best = behaviours[np.flatnonzero(finite)[np.argmax(sign * fitness[finite])]]
        written.append(plot_behaviours(behaviours, target / "behaviours.png", world, best))
    extend = REPORTS.get(config.problem.kind)
    if extend is not None:  # what the problem kind adds (an optimizer search: its rule as math and code)
        written.extend(extend(run_dir, target))
    for path in written:
        out.print(f"wrote {path}")
