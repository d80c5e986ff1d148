"""The run loop: the one place that knows strategies, problems, backends and the store.

Per generation:

1. ``ask`` the strategy (generator derived from (seed, generation, "ask"));
2. look every genome up in the run store by content id: a genome evaluated
   before (an elite, a duplicate, or work done before a crash) is not
   evaluated again;
3. evaluate the rest on the backend, each with a seed derived from
   (seed, "eval", genome id), and commit every chunk as it arrives;
4. convert fitness to maximisation, make failures worst, ``tell``;
5. update the hall of fame and the problem context, record the generation's
   statistics and, every ``checkpoint_interval`` seconds and after the last
   generation, write the checkpoint atomically.

A run killed at any point resumes from its last checkpoint, re-asks the
generations since (same state, same generators) and finds their finished
evaluations in the store, so it ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.backends import Backend, Job
from evoforge.core.genome import (
    Genome,
    GenomeBatch,
    SeedChainDecoder,
    batch_blobs,
    genome_id,
    is_batch,
)
from evoforge.core.hall_of_fame import Entry, HallOfFame
from evoforge.core.pareto import objective_matrix, pareto_front
from evoforge.core.problem import InputError, Lineage, Problem, TestResult, load_transitions
from evoforge.core.rng import derive_rng, derive_seed, derive_seeds
from evoforge.core.shaping import nan_to_worst
from evoforge.core.strategy import Strategy
from evoforge.engine import loggers
from evoforge.engine.asynchronous import async_round
from evoforge.engine.config import ConfigError, RunConfig
from evoforge.engine.evaluation import build_problem, evaluation_job
from evoforge.engine.records import (
    GenerationStats,
    RunFailedError,
    RunResult,
    check_descriptors,
    check_memory,
    check_objectives,
    check_transitions,
    descriptor_columns,
    hof_summary,
    load_run_config,
    read_result,
    versions,
)
from evoforge.engine.registry import choose_space, get_strategy, make_backend
from evoforge.engine.state import LoopState
from evoforge.store.run_store import RunStore, StoreError

__all__ = ["run", "resume", "prepare", "ConfigError", "RunFailedError", "StoreError"]

Callback = Callable[[str, dict[str, Any]], None]


def prepare(config: RunConfig) -> tuple[Problem, Strategy, tuple[str, ...]]:
    """The problem (built, or reused within this process), the strategy over its search space, and
    the metrics a multi-objective strategy minimises: everything a run needs that a config alone
    cannot vouch for. :class:`ConfigError`, one line, if any of it fails; nothing is written. The
    one place a run is checked before it starts (the CLI calls it before starting a backend)."""
    try:
        problem = build_problem(config.problem, fresh_files=True)
    except InputError as exc:  # a dataset or table that cannot be used: its own one-line message
        raise ConfigError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001  (a missing dependency, a user's problem class failing)
        raise ConfigError(f"cannot build the problem: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    try:
        strategy_class = get_strategy(config.strategy.name)
        space = problem.space_for(choose_space(strategy_class, type(problem)))
        strategy = strategy_class(config.strategy, space)
        check_memory(strategy.population_size, problem.dim)
        # multi-objective strategies (NSGA-II) are told the fitness plus these metrics, each minimised
        objectives = check_objectives(config, problem)
        check_descriptors(strategy, problem)  # quality-diversity strategies: told the descriptors too
        check_transitions(strategy, problem)  # strategies with an RL learner: shown the transitions
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return problem, strategy, objectives


class _Loop:
    store: RunStore  # given by _drive, once the loop has been built
    backend: Backend

    def __init__(self, config: RunConfig, callback: Callback | None):
        self.config = config
        self.callback = callback or (lambda event, data: None)
        self.problem, self.strategy, self.objectives = prepare(config)
        self.sign = 1.0 if self.problem.direction == "maximize" else -1.0
        self.decode = SeedChainDecoder(self.problem.initial_params)
        self.shared = self.problem.shared_inputs() or None
        self._submitted: dict[int, int] = {}  # asynchronous mode: ask number -> retries, while running
        self._ready: list[tuple[int, Any]] = []  # asynchronous mode: finished, not yet told
        self._timing = (0.0, 0)  # seconds and count of this process's evaluations

    @property
    def population_size(self) -> int:
        return self.strategy.population_size

    # -- state ----------------------------------------------------------------------------------
    def _fresh_state(self) -> LoopState:
        return LoopState(
            generation=0,
            strategy=self.strategy.init(derive_rng(self.config.seed, "init")),
            hof=HallOfFame(self.config.hall_of_fame),
            context=self.problem.initial_context(),
        )

    def _retest(self, entry: Entry, purpose: str, cases: int) -> TestResult:
        """``entry`` re-evaluated on ``cases`` fresh cases drawn for ``purpose`` (validate or test)."""
        seed = derive_seed(self.config.seed, purpose)
        again = self.problem.validate if purpose == "validate" else self.problem.test
        return again(self.decode(entry.genome), seed, cases, entry.context)

    def _validate_hof(
        self, hof: HallOfFame, validated: dict[str, float], only_reaching: float | None
    ) -> None:
        """Validation scores (into ``validated``) for hall-of-fame members: all, or those whose fitness
        reaches a target."""
        due = [
            e for e in hof
            if e.genome_id not in validated and (only_reaching is None or e.score >= self.sign * only_reaching)
        ]  # fmt: skip
        if not due:
            return
        scores = self.problem.validate_all(
            [self.decode(e.genome) for e in due],
            derive_seed(self.config.seed, "validate"),
            self.config.validation_episodes,
            [e.context for e in due],
        )
        for entry, result in zip(due, scores, strict=True):
            validated[entry.genome_id] = result.score

    def _reported(self, s: LoopState) -> Entry:
        """The individual a run reports: the first solver if the task was solved, else the best on
        validation if validation is on, else the best seen."""
        hof: HallOfFame = s.hof
        if s.solver is not None:
            gid = s.solver
            stored = self.store.lookup([gid])[gid]
            entry = next((e for e in hof if e.genome_id == gid), None)
            if entry is not None:
                return entry
            genome = self.store.genome_of(gid)
            return Entry(
                gid, stored.fitness, self.sign * stored.fitness, stored.generation, genome, s.context
            )
        if not self.config.validation_episodes:
            if hof.best is None:
                raise RunFailedError("every evaluation failed; nothing to report")
            return hof.best
        scored = [
            (self.sign * s.validated[e.genome_id], -k, e)
            for k, e in enumerate(hof)
            if e.genome_id in s.validated
        ]
        return max(scored, key=lambda t: (t[0], t[1]))[2]

    # -- evaluation -----------------------------------------------------------------------------
    def _job(
        self,
        context: dict[str, Any],
        genomes: list[Genome],
        ids: list[str],
        parents: list[tuple],
        batch: GenomeBatch | None = None,
    ) -> Job:
        chunk = self.problem.candidates_per_chunk
        if self.config.stop.seconds is not None:
            # a time budget stops between chunks: four per worker, so it stops within about a
            # quarter of a generation (chunks cost a few milliseconds each to ship)
            quarter = math.ceil(len(genomes) / (4 * max(1, self.backend.slots)))
            chunk = quarter if chunk is None else min(chunk, quarter)
        return evaluation_job(
            self.config.problem,
            context,
            genomes,
            self._seeds(ids),
            timeout=self.config.evaluation.timeout,
            shared=self.shared,
            chunk_size=chunk,
            lineage=self._lineage(ids, parents),
            batch=batch,
        )

    def _lineage(self, ids: list[str], parents: list[tuple]) -> Lineage | None:
        """For a problem that inherits trained state or records transitions: its folder in the run
        directory (``states/`` or ``transitions/``, one file per evaluated candidate, by content id),
        the candidates' ids and their parents'."""
        if not (self.problem.inherits or self.problem.records_transitions):
            return None
        folder = self.store.path / ("states" if self.problem.inherits else "transitions")
        folder.mkdir(exist_ok=True)
        return Lineage(str(folder), list(ids), [tuple(p) for p in parents])

    def _observe(self, state: Any, ids: list[str], fresh: set[int]) -> Any:
        """Hand a strategy with a learner the transitions of the candidates evaluated in this
        generation (read from their files, so a generation finished after a crash sees the same)."""
        folder = str(self.store.path / "transitions")
        return self.strategy.observe(
            state, [load_transitions(folder, gid) if i in fresh else None for i, gid in enumerate(ids)]
        )

    def _prune_transitions(self) -> None:
        """Delete the transition files of generations every kept checkpoint already holds (the
        learner's replay buffer has them); later ones stay for a resume to replay."""
        folder = self.store.path / "transitions"
        kept = self.store.checkpoint_generations()
        if not kept or not folder.is_dir():
            return
        files = {p.stem: p for p in folder.glob("*.npz")}
        for gid, stored in self.store.lookup(list(files)).items():
            if stored.generation < min(kept):  # a checkpoint of n covers generations 0..n-1
                files[gid].unlink(missing_ok=True)

    def _seeds(self, ids: list[str]) -> list[int]:
        """Each candidate's evaluation seed, derived from the run seed and its content id (so identical
        genomes share it, whatever the worker); none for problems whose evaluations ignore it."""
        if self.problem.deterministic:
            return [0] * len(ids)
        return derive_seeds(self.config.seed, ("eval",), [int(gid, 16) for gid in ids]).tolist()

    @staticmethod
    def _row(idx: int, gid: str, genome: Genome, parents: tuple, result: Any, wall: float) -> dict:
        """A store row; ``genome`` may be its ``(encoding, blob)`` already (a batch's genome)."""
        return {
            "idx": idx,
            "genome_id": gid,
            "genome": genome,
            "parents": parents,
            "fitness": result.fitness,
            "error": result.error,
            "metrics": result.metrics,
            "wall_seconds": wall,
            "aux": result.aux,
        }

    def _evaluate(
        self,
        gen: int,
        context: dict,
        items: list[tuple[int, str, Genome, tuple]],
        known: dict,
        deadline: float | None = None,
        batch: GenomeBatch | None = None,
    ) -> tuple[float, bool]:
        """Evaluate ``items`` (idx, id, genome, parents) on the backend, committing each chunk as it
        arrives; failures are retried (``evaluation.retries``) before they are recorded. Once
        ``deadline`` (``time.perf_counter``) passes, nothing more starts: the chunks running finish
        and the rest are left out. Returns (evaluation seconds, whether some were left out). With
        ``batch``, an item's genome is its row in the batch, and its store form comes from there."""
        eval_seconds = 0.0
        todo = list(items)
        cut = False
        blobs: dict[int, tuple[str, bytes]] = {}
        if batch is not None:
            at = np.array([it[2] for it in todo], np.int64)
            blobs = dict(zip(at.tolist(), batch_blobs(batch.take(at)), strict=True))
        for attempt in range(self.config.evaluation.retries + 1):
            last = attempt == self.config.evaluation.retries
            job = self._job(
                context, [it[2] for it in todo], [it[1] for it in todo], [it[3] for it in todo], batch
            )
            again = []
            for chunk in self.backend.run(job):
                if deadline is not None and not cut and time.perf_counter() >= deadline:
                    cut = self.backend.hold() > 0
                rows = []
                per = chunk.wall_seconds / max(1, len(chunk.indices))
                for j, result in zip(chunk.indices, chunk.results, strict=True):
                    idx, gid, genome, parents = todo[j]
                    if result.error is not None and not last:
                        again.append(todo[j])
                        continue
                    if attempt:
                        result.metrics = dict(result.metrics, attempts=attempt + 1)
                    stored = blobs[genome] if batch is not None else genome
                    rows.append(self._row(idx, gid, stored, parents, result, per))
                    known[gid] = result
                self.store.record_evaluations(gen, rows)
                self.store.flush_if_due()  # costly evaluations are committed as they arrive
                eval_seconds += chunk.wall_seconds
                self.callback("chunk", {"generation": gen, "done": len(rows)})
                self._timed(chunk.wall_seconds, len(chunk.indices))
            if not again or cut:  # out of time, failures awaiting a retry are left out like the rest
                break
            todo = sorted(again, key=lambda it: it[0])
        return eval_seconds, cut

    def _timed(self, seconds: float, n: int) -> None:
        """Account ``n`` evaluations that took ``seconds`` (for the final phase's estimate)."""
        self._timing = (self._timing[0] + seconds, self._timing[1] + n)

    def _reserve(self) -> float:
        """Seconds the final phase is expected to take: the re-evaluations of the reported individual
        (and, with validation, of the hall of fame), one after another in this process, at this run's
        mean seconds per evaluation. A time budget keeps them, so the whole run, final phase counted,
        fits."""
        total, n = self._timing
        if not n:
            return 0.0
        finals = 1 + (self.config.hall_of_fame if self.config.validation_episodes else 0)
        return total / n * finals

    def _deadline(self, s: LoopState, started: float) -> float | None:
        """When candidates stop starting (``time.perf_counter``): ``stop.seconds`` less the run's time
        so far and the final phase's estimate. None without a time budget."""
        budget = self.config.stop.seconds
        if budget is None:
            return None
        return started + budget - s.wall_seconds - self._reserve()

    # -- one generation -------------------------------------------------------------------------
    def _generation(self, s: LoopState, started: float) -> tuple[LoopState, GenerationStats | None]:
        if self.config.asynchronous:
            return async_round(self, s, started)
        gen, seed = s.generation, self.config.seed
        strategy_state, genomes, parents = self.strategy.ask(s.strategy, derive_rng(seed, gen, "ask"))
        centre = self.strategy.mean(strategy_state)
        # a population held as arrays: ids at once, genome objects only for what the hall of fame keeps
        batch: GenomeBatch | None = genomes if is_batch(genomes) else None
        if batch is not None:
            if centre is not None:
                raise ValueError("a strategy that asks for a batch has no distribution mean to evaluate")
            candidates: Any = batch
            ids = batch.ids()
        else:
            candidates = list(genomes) + ([centre] if centre is not None else [])
            ids = [genome_id(g) for g in candidates]

        def genome_at(i: int) -> Genome:
            return batch.genome(i) if batch is not None else candidates[i]

        known: dict[str, Any] = self.store.lookup(ids)
        first = {gid: i for i, gid in reversed(list(enumerate(ids)))}
        # Evaluated in this generation: new genomes, and those a crashed attempt at it already finished.
        fresh = [
            i
            for i, gid in enumerate(ids)
            if first[gid] == i and (gid not in known or known[gid].generation == gen)
        ]
        fresh_set = set(fresh)

        def parents_of(i: int) -> tuple[str, ...]:
            return tuple(parents[i]) if i < len(genomes) else ()

        todo = [
            (i, ids[i], i if batch is not None else candidates[i], parents_of(i))
            for i in fresh
            if ids[i] not in known
        ]
        eval_seconds, cut = 0.0, False
        if todo:
            eval_seconds, cut = self._evaluate(gen, s.context, todo, known, self._deadline(s, started), batch)
        if cut:  # the time budget ran out with candidates not started: the run ends here
            done = [i for i in fresh if ids[i] in known]
            for i in done:
                self._hof_offer(s.hof, ids[i], genome_at, i, known[ids[i]].fitness, gen, s.context)
            elapsed = s.wall_seconds + (time.perf_counter() - started)
            # the generation is not told: a resumed run asks it again and finds these in the store
            partial = s.with_(
                wall_seconds=elapsed,
                stopped_early=True,
                stopped_by="seconds",
                evaluations=s.evaluations + len(done),
            )
            return partial, None
        cached_rows = [
            (i, gid, parents_of(i), known[gid].fitness) for i, gid in enumerate(ids) if i not in fresh_set
        ]
        if cached_rows:
            self.store.record_cached(gen, cached_rows)

        raw = np.array([known[gid].fitness for gid in ids], dtype=np.float64)
        population_raw = raw[: len(genomes)]
        told = nan_to_worst(self.sign * population_raw)
        if self.objectives:
            metrics = [known[gid].metrics for gid in ids[: len(genomes)]]
            matrix = objective_matrix(population_raw, metrics, self.objectives, self.sign)
            told = np.column_stack([nan_to_worst(column) for column in matrix.T])
        if self.strategy.uses_descriptors:
            metrics = [known[gid].metrics for gid in ids[: len(genomes)]]
            told = np.column_stack(
                [told, descriptor_columns(population_raw, metrics, self.problem.descriptor_size)]
            )
        if self.strategy.uses_transitions:
            strategy_state = self._observe(strategy_state, ids[: len(genomes)], fresh_set)
        strategy_state = self.strategy.tell(strategy_state, genomes, told)
        hof: HallOfFame = s.hof
        for i, (gid, fitness) in enumerate(zip(ids, raw.tolist(), strict=True)):
            self._hof_offer(hof, gid, genome_at, i, fitness, gen, s.context)
        return self._wrap_up(
            s,
            strategy_state,
            population_raw,
            [known[ids[i]] for i in fresh],
            fresh_ids=[ids[i] for i in fresh],
            centre=float(raw[-1]) if centre is not None else None,
            cached=len(ids) - len(fresh),
            eval_seconds=eval_seconds,
            started=started,
        )

    def _hof_offer(
        self, hof: HallOfFame, gid: str, genome_at: Callable[[int], Genome], i: int, fitness: float, gen: int,
        context: dict,
    ) -> None:  # fmt: skip
        """:meth:`_hof_add` for candidate ``i``, its genome built only if the hall of fame keeps it."""
        if hof.would_keep(self.sign * fitness):
            hof.add(Entry(gid, float(fitness), self.sign * float(fitness), gen, genome_at(i), context))

    def _hof_add(
        self, hof: HallOfFame, gid: str, genome: Genome, fitness: float, gen: int, context: dict
    ) -> None:
        self._hof_offer(hof, gid, lambda _: genome, 0, fitness, gen, context)

    def _wrap_up(
        self,
        s: LoopState,
        strategy_state: Any,
        population_raw: np.ndarray,
        fresh_results: list[Any],
        fresh_ids: list[str],
        centre: float | None,
        cached: int,
        eval_seconds: float,
        started: float,
        **extra: Any,
    ) -> tuple[LoopState, GenerationStats]:
        """Statistics, context update and stop rules at the end of a generation (or async round)."""
        gen = s.generation
        hof: HallOfFame = s.hof
        context = self.problem.update_context(s.context, [r.aux for r in fresh_results])
        new_steps = sum(float(r.metrics.get("env_steps", 0.0)) for r in fresh_results)
        failed = sum(r.error is not None for r in fresh_results)
        finite = population_raw[np.isfinite(population_raw)]
        scores = nan_to_worst(self.sign * population_raw)
        elapsed = s.wall_seconds + (time.perf_counter() - started)
        stats = GenerationStats(
            generation=gen,
            best=float(population_raw[int(np.argmax(scores))]) if finite.size else math.nan,
            mean=float(finite.mean()) if finite.size else math.nan,
            median=float(np.median(finite)) if finite.size else math.nan,
            worst=float(finite[np.argmin(self.sign * finite)]) if finite.size else math.nan,
            std=float(finite.std()) if finite.size else math.nan,
            best_ever=hof.best.fitness if hof.best else math.nan,
            best_ever_id=hof.best.genome_id if hof.best else None,
            centre=centre,
            evaluations=len(fresh_results),
            cached=cached,
            failed=int(failed),
            env_steps=new_steps,
            eval_seconds=eval_seconds,
            wall_seconds=elapsed,
            strategy=self.strategy.report(strategy_state),
        )
        target = self.config.stop.fitness
        stopped = (
            hof.best is not None and target is not None and self.sign * hof.best.fitness >= self.sign * target
        )
        # The first individual to solve the task (the fittest of the first generation with solvers) is
        # the one a run reports: the fittest individual need not be a solver (DPNV's fitness rewards
        # 1,000 steady steps; solving takes 100,000 steps and the generalisation test).
        solver = s.solver
        if solver is None:
            solvers = [
                (self.sign * r.fitness, -k, gid)
                for k, (r, gid) in enumerate(zip(fresh_results, fresh_ids, strict=True))
                if r.metrics.get("solved", 0.0) >= 1.0 and math.isfinite(r.fitness)
            ]
            solver = max(solvers)[2] if solvers else None
        solved = solver is not None
        budget = self.config.stop
        evaluations_so_far = s.evaluations + len(fresh_results)
        out_of_evaluations = budget.evaluations is not None and evaluations_so_far >= budget.evaluations
        out_of_steps = budget.env_steps is not None and s.env_steps + new_steps >= budget.env_steps
        out_of_time = budget.seconds is not None and elapsed >= budget.seconds - self._reserve()
        validated = dict(s.validated)
        if stopped and self.config.validation_episodes:
            self._validate_hof(hof, validated, only_reaching=target)
            stopped = target is not None and any(
                self.sign * v >= self.sign * target for v in validated.values()
            )
        solved_stop = self.config.stop.solved and solved
        stopped_by = next(
            (name for name, hit in (("fitness", stopped), ("solved", solved_stop),
             ("evaluations", out_of_evaluations), ("env_steps", out_of_steps), ("seconds", out_of_time)) if hit),
            "",
        )  # fmt: skip
        new_state = s.with_(
            generation=gen + 1,
            strategy=strategy_state,
            hof=hof,
            context=context,
            env_steps=s.env_steps + new_steps,
            wall_seconds=elapsed,
            stopped_early=bool(stopped_by),
            stopped_by=stopped_by,
            validated=validated,
            evaluations=evaluations_so_far,
            solved=bool(solved),
            solver=solver,
            **extra,
        )
        return new_state, stats

    # -- the whole run --------------------------------------------------------------------------
    def _resume_point(self) -> LoopState:
        """The state to go on from: the newest readable checkpoint (each damaged one passed over is
        reported), or the initial state. :class:`StoreError` if the run store holds less history than
        that checkpoint records: going on would lose it."""
        damaged: list[str] = []
        tree = self.store.load_checkpoint(damaged)
        for line in damaged:
            fallback = f"gen_{int(tree['generation']):06d}.npz" if tree else "the start"
            self.callback("warning", {"message": f"{line}; resuming from {fallback}"})
        if tree is None:
            return self._fresh_state()
        database = self.store.path / "evoforge.sqlite"
        generations, evaluations = self.store.generation_count(), self.store.counts()["evaluations"]
        if generations < int(tree["generation"]) or evaluations < int(tree["evaluations"]):
            raise StoreError(
                f"{database}: holds {generations} generations and {evaluations} evaluations, but the "
                f"checkpoint records {int(tree['generation'])} and {int(tree['evaluations'])}: the run "
                "store is damaged (nothing was changed)"
            )
        return LoopState.from_tree(tree, self.strategy)

    def execute(self) -> RunResult:
        finished = read_result(self.store)
        if finished is not None:  # written last: the run is complete, every output in place
            return finished
        s = self._resume_point()
        self.store.remove_temporary_files()  # what a kill during an atomic write left
        started = time.perf_counter()
        base_wall = s.wall_seconds
        self.callback(
            "start",
            {
                "generation": s.generation,
                "generations": self.config.generations,
                "direction": self.problem.direction,
                "wall_seconds": s.wall_seconds,
                "evaluations": s.evaluations,
                "stop_seconds": self.config.stop.seconds,
                "stop_evaluations": self.config.stop.evaluations,
                "env_steps": float(s.env_steps),
                "stop_env_steps": self.config.stop.env_steps,
            },
        )
        checkpointed = time.perf_counter()
        while s.generation < self.config.generations and not s.stopped_early:
            s, stats = self._generation(s, started)
            base_wall = s.wall_seconds
            started = time.perf_counter()
            row = None if stats is None else stats.as_dict()  # None: cut short by the time budget
            if stats is not None and row is not None:
                self.store.record_generation(stats.generation, row)
            last = s.generation >= self.config.generations or s.stopped_early
            if last or self.config.asynchronous or started - checkpointed >= self.config.checkpoint_interval:
                self.store.save_checkpoint(
                    s.generation, s.to_tree(self.strategy), self.config.checkpoints_kept
                )
                if self.strategy.uses_transitions:
                    self._prune_transitions()
                if not last:  # the final one is written by _finish, after validation
                    self.store.write_json("hall_of_fame.json", self._hof_summary(s.hof))
                checkpointed = time.perf_counter()
            else:
                self.store.flush_if_due()
            if row is not None:
                self.callback("generation", row)
        return self._finish(s, base_wall + (time.perf_counter() - started))

    def _hof_summary(self, hof: HallOfFame) -> dict[str, Any]:
        return hof_summary(hof, self._pareto(), whole=bool(self.strategy.space.export_name))

    def _pareto(self) -> dict[str, Any] | None:
        """For multi-objective runs: the non-dominated individuals among everything evaluated so far,
        fittest first, with their objective metrics (and whole genomes, for architectures)."""
        if not self.objectives:
            return None
        rows = list({gid: (gid, f, m) for gid, f, m in self.store.evaluations()}.values())
        matrix = objective_matrix(
            np.array([r[1] for r in rows]), [r[2] for r in rows], self.objectives, self.sign
        )
        valid = np.flatnonzero(np.all(np.isfinite(matrix), axis=1))
        front = sorted(valid[pareto_front(matrix[valid])], key=lambda i: (-matrix[i, 0], rows[i][0]))
        entries = []
        for i in front:
            gid, fitness, metrics = rows[i]
            genome = self.store.genome_of(gid)
            entry = {"genome_id": gid, "fitness": fitness, **{n: metrics[n] for n in self.objectives}}
            if genome is not None and self.strategy.space.export_name:
                entry["genome"] = genome.to_json()
            entries.append(entry)
        return {"objectives_minimised": list(self.objectives), "pareto_front": entries}

    def _finish(self, s: LoopState, wall: float) -> RunResult:
        final_started = time.perf_counter()  # the final phase counts in the run's wall time
        hof: HallOfFame = s.hof
        if hof.best is None:
            raise RunFailedError(
                f"every evaluation failed; nothing to report (errors: evoforge show {self.store.path})"
            )
        # an asynchronous run's evaluations still in flight are dropped (never recorded) before the
        # final validation and test, which then have the cores to themselves
        self.backend.discard()
        if self.config.validation_episodes:
            self._validate_hof(s.hof, s.validated, only_reaching=None)
        best = self._reported(s)
        test = self._retest(best, "test", self.config.test_episodes)
        test_score, test_scores = test.score, test.scores
        counts = self.store.counts()
        result = RunResult(
            run_dir=str(self.store.path),
            status="finished",
            best_fitness=best.fitness,
            test_score=float(test_score),
            test_scores=[float(x) for x in test_scores],
            generations=int(s.generation),
            evaluations=counts["evaluations"],
            failed=counts["failed"],
            env_steps=float(s.env_steps),
            wall_seconds=float(wall + time.perf_counter() - final_started),
            best_genome_id=best.genome_id,
            stopped_early=bool(s.stopped_early),
            stopped_by=s.stopped_by,
            validation_score=s.validated.get(best.genome_id),
            test_label=self.problem.test_label,
            validation_cases=len(s.validated) * self.config.validation_episodes,
            test_cases=len(test_scores),
            test_env_steps=float(test.metrics.get("env_steps", 0.0)),
        )
        # Every output is written here, from the final state, so a run resumed after a kill anywhere past
        # its last checkpoint writes the same files as one never interrupted; result.json comes last.
        self.store.write_json("hall_of_fame.json", self._hof_summary(hof))
        export = self.strategy.space.export_name
        if export is not None:  # genomes users take away (architectures): the reported one as a file
            self.store.write_json(export, dict(best.genome.to_json(), genome_id=best.genome_id))
        self.store.write_json("result.json", asdict(result))
        self.callback("finish", asdict(result))
        return result


def _drive(loop: _Loop, backend: Backend | None, open_store: Callable[[], RunStore]) -> RunResult:
    """Give ``loop`` its backend (``backend``, or the config's, closed afterwards) and its store, and
    execute it; the store is closed and work left in flight is dropped whatever happens."""
    from threadpoolctl import threadpool_limits  # here, not at import: kept off the CLI's start-up

    config = loop.config
    own = backend is None
    loop.backend = backend or make_backend(config.backend, config.workers, config.ray_address)
    try:
        loop.store = open_store()
        hooked = loop.callback = loggers.attach(
            config.logging, loop.store.path, config.model_dump(mode="json"), loop.callback
        )
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                return loop.execute()
        except RunFailedError as exc:
            # the run ended with nothing to report: say so where `evoforge show` looks
            loop.store.flush()
            loop.store.write_json("failed.json", {"reason": str(exc), "errors": loop.store.first_errors()})
            raise
        finally:
            loop.store.close()
            getattr(hooked, "close", lambda: None)()
    finally:
        loop.backend.discard()  # work an asynchronous run left in flight
        if own:
            loop.backend.close()


def run(
    config: RunConfig | Mapping[str, Any],
    run_dir: str | Path,
    backend: Backend | None = None,
    callback: Callback | None = None,
) -> RunResult:
    """Run ``config`` (a :class:`RunConfig`, or a mapping validated into one, as a config file would
    be) into a new run directory. The problem and the strategy are built first, so a config that
    cannot run raises before anything is written.

    >>> cfg = RunConfig(problem={"kind": "function", "name": "sphere", "dim": 2},
    ...                 strategy={"name": "cma_es"}, generations=3)
    >>> import tempfile; result = run(cfg, tempfile.mkdtemp() + "/r")
    >>> result.generations
    3
    >>> run({"problem": {"kind": "function", "name": "sphere", "dim": 2}, "strategy": {"name": "cma_es"},
    ...      "generations": 3}, tempfile.mkdtemp() + "/r").generations
    3
    """
    if not isinstance(config, RunConfig):  # a dict as a config file reads: pydantic names what is wrong
        config = RunConfig.model_validate(config)
    loggers.check(config.logging)  # their packages, folder and tracking store
    config_yaml = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    if (Path(run_dir) / "config.yaml").exists():
        raise FileExistsError(f"{run_dir} already holds a run; use 'evoforge resume {run_dir}'")
    loop = _Loop(config, callback)
    meta = {"seed": config.seed, "created": time.time(), "versions": versions()}
    data = loop.problem.data_digest()
    if data is not None:
        meta["data_digest"] = data

    def open_store() -> RunStore:
        store = RunStore.create(Path(run_dir), config_yaml, meta)
        store.claim()
        return store

    return _drive(loop, backend, open_store)


def check_same_data(store: RunStore, problem: Problem) -> None:
    """:class:`ConfigError` if the data ``problem`` was built from is not the data the run started
    with (its digest in meta.json; runs made before digests were recorded are not checked): a resume
    on a changed table or dataset would quietly continue another search."""
    meta = store.read_json("meta.json") or {}
    recorded = meta.get("data_digest")
    if recorded is not None and recorded != problem.data_digest():
        raise ConfigError(
            f"the data of {store.path} changed since the run started ({_data_of(problem)}): a resumed run "
            "needs the data it started with; restore it, or start a new run"
        )


def _data_of(problem: Problem) -> str:
    """What the problem reads, as its config names it (a path, a dataset name)."""
    config = problem.config
    for name in ("path", "data", "dataset"):
        value = getattr(config, name, None)
        if value is not None:
            return str(getattr(value, "path", None) or getattr(value, "name", None) or value)
    return problem.kind


def resume(
    run_dir: str | Path, backend: Backend | None = None, callback: Callback | None = None
) -> RunResult:
    """Continue a run from its last checkpoint (a finished run returns its result again, unchanged).
    :class:`StoreError` if the run directory is damaged; nothing is written then."""
    store = RunStore.open(Path(run_dir))
    try:
        store.claim()  # refused while another process runs it
        config = load_run_config(store)
        loggers.check(config.logging)
        loop = _Loop(config, callback)
        if store.read_json("result.json") is None:  # a finished run's result stands as it is
            check_same_data(store, loop.problem)
        return _drive(loop, backend, lambda: store)
    finally:
        store.close()  # also when the loop or the backend could not be made
