"""The benchmark harness: one entry point for every suite.

    python benchmarks/harness.py SUITE [--set key=value ...]

reads the suite's settings from ``benchmarks/configs/SUITE.yaml`` (overridden by ``--set``, values
parsed as YAML), runs ``benchmarks/suites/SUITE.py``'s ``run(settings, save)``, writes everything it
returns to ``benchmarks/results/SUITE.json`` (``SUITE-NAME.json`` for a suite with a ``name`` or
``task`` setting) with the date, the command, the machine and the settings, and prints the suite's
table (``table(results, settings)``) as Markdown for BENCHMARKS.md.

A suite saves partial results as it goes through the ``save`` callback it is given, so a long run
that is stopped keeps what it measured; ``save.previous`` holds the results of an unfinished run of
the same suite with the same settings (else None), so a suite can resume where that run stopped.

    python benchmarks/harness.py SUITE --until 20:45

stops a suite, its results so far saved, where its next step would end after that time of day (or
ISO date and time): a step is what a suite does between two saves, and the next is taken to last as
long as the longest so far, or as the suite expects (``save.expect(seconds)`` before a step). A queue of benchmarks given the time a session has left so ends a step
it can finish, not one a machine reset would lose half-done; the same command resumes.

    python benchmarks/harness.py SUITE --child ARG ...

runs ``child(*ARGS)`` of the suite and prints its JSON answer: how a suite measures in a fresh
interpreter (``common.run_child``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import NoReturn

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # suites import benchmarks/common.py


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def refuse(message: str) -> NoReturn:
    """Bad input to the harness: one line on stderr, exit 2."""
    print(message, file=sys.stderr)
    sys.exit(2)


def load_suite(name: str):
    """``benchmarks/suites/NAME.py`` as the module ``suites.NAME``: importable by name, so process
    pools can pickle its functions."""
    if not (HERE / "suites" / f"{name}.py").is_file():
        known = ", ".join(sorted(p.stem for p in (HERE / "suites").glob("*.py")))
        refuse(f"harness: no suite {name!r} (known: {known})")
    return importlib.import_module(f"suites.{name}")


def settings_for(name: str, overrides: list[str]) -> dict:
    path = HERE / "configs" / f"{name}.yaml"
    settings = yaml.safe_load(path.read_text()) if path.is_file() else {}
    for item in overrides:
        key, eq, text = item.partition("=")
        if not key or not eq:
            refuse(f"harness: --set {item!r} is not KEY=VALUE")
        try:
            settings[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            refuse(f"harness: --set {key}: not YAML ({' '.join(str(exc.problem).split())})")
    return settings


def deciding(suite, settings: dict) -> dict:
    """The settings that decide a suite's results: all of them, unless the suite narrows them (its
    ``deciding``: a catalogue's entries for methods not run decide nothing)."""
    return getattr(suite, "deciding", lambda s: s)(settings)


class DeadlineError(Exception):
    """A suite's next step would end after ``--until``: its results so far are saved, unfinished."""


class Recorder:
    """The ``save`` callback: writes the record atomically; ``previous`` is an unfinished run's
    results with the same settings, if one was saved. With ``until`` (a time, seconds since the
    epoch) a save raises :class:`DeadlineError` once the next step, taken to last as long as the longest
    step so far (the time between two saves), would end after it."""

    def __init__(self, out: Path, record: dict, same: bool, until: float | None = None, clock=time.time):
        self.out, self.record = out, record
        self.previous = None
        if out.is_file() and same:
            old = json.loads(out.read_text())
            if not old.get("finished"):
                self.previous = old.get("results")
        self.until, self.clock = until, clock
        self.last, self.longest = clock(), 0.0

    def expect(self, seconds: float | None) -> None:
        """A suite about to start a step it expects to take ``seconds`` (its own estimate: the same
        method's time on another seed, an arm's budget; None: none) raises :class:`DeadlineError` here
        if the step would end after ``--until``, and so never starts it."""
        if self.until is not None and seconds is not None and self.clock() + seconds > self.until:
            raise DeadlineError(
                f"its next step (about {seconds:.0f} s, its own estimate) would end after --until"
            )

    def __call__(self, results: dict, finished: bool = False) -> None:
        self.record["results"] = results
        self.record["finished"] = finished
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.record, indent=1) + "\n")
        tmp.replace(self.out)
        if finished or self.until is None:
            return
        now = self.clock()
        self.longest, self.last = max(self.longest, now - self.last), now
        if now + self.longest > self.until:
            raise DeadlineError(
                f"its next step (about {self.longest:.0f} s, the longest so far) would end after --until"
            )


def until_time(text: str) -> float:
    """``--until``: HH:MM (its next occurrence, local time) or an ISO date and time, as seconds since
    the epoch."""
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            now = datetime.datetime.now()
            at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return (at if at > now else at + datetime.timedelta(days=1)).timestamp()
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HH:MM or an ISO date and time") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "results",
        help="folder of the results (a trial run: elsewhere)",
    )
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="measure again a suite whose record with these settings is finished (default: print it)",
    )
    parser.add_argument(
        "--until",
        type=until_time,
        help="stop, results saved, where the next step would end after this time (HH:MM or ISO)",
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help="internal: one measurement of the suite")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    if args.child is not None:
        print(json.dumps(suite.child(*args.child)), flush=True)
        return
    settings = settings_for(args.suite, args.set)
    # a suite run for one of its tasks keeps its results apart: results/SUITE-NAME.json
    label = settings.get("name") or settings.get("task")
    name = f"{args.suite}-{label}" if label else args.suite
    out = args.results / f"{name}.json"
    done = json.loads(out.read_text()) if out.is_file() else {}
    same = bool(done) and deciding(suite, done.get("settings", {})) == deciding(suite, settings)
    if done.get("results") and not same and not args.rerun:
        # measurements made with other settings are never replaced silently (a catalogue entry added
        # to a suite's config made a queue start a half-measured task again, its results discarded)
        refuse(f"{out}: holds results measured with other settings; --rerun replaces them, or "
               "--set name=... keeps both")  # fmt: skip
    if done.get("finished") and same and not args.rerun:
        # a finished measurement is never overwritten by running the command again (a queue of
        # benchmarks resumed session after session did that to a day's work): --rerun to measure anew
        print(f"<!-- {done['command']} ({done['date']}): finished, from {out}; --rerun measures again -->")
        print(suite.table(done["results"], settings))
        return
    record = {
        "suite": args.suite,
        "date": datetime.date.today().isoformat(),
        "command": " ".join(
            ["python", "benchmarks/harness.py", args.suite, *(f"--set {o}" for o in args.set)]
        ),
        "machine": machine(),
        "settings": settings,
        "results": {},
    }
    save = Recorder(out, record, same and not args.rerun, args.until)
    try:
        results = suite.run(settings, save)
    except DeadlineError as exc:
        print(f"{out}: stopped, {exc}; the same command resumes", file=sys.stderr)
        return
    save(results, finished=True)
    print(f"<!-- {record['command']} ({record['date']}) -->")
    print(suite.table(results, settings))


if __name__ == "__main__":
    main()
