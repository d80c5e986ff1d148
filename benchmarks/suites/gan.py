"""GANs on the 8-Gaussian ring and the 25-Gaussian grid: the evolved GAN against the default GAN and
the best hand-tuned setting, every one trained from scratch with the same fresh seeds at the same
budget of generator steps, and E-GAN's (mu, lambda) selection against elitism.

    python benchmarks/harness.py gan --set task=ring8      (or task=grid25)

* default: ``evoforge.spaces.gan.default_gan()`` (torch's Adam defaults, non-saturating loss).
* hand-tuned: four published recipes (DCGAN's Adam at 2e-4 with beta1 0.5; WGAN-GP with 5 critic steps
  and betas (0.5, 0.9); SNGAN's hinge loss with spectral normalisation; LSGAN at 1e-3); the best by
  mean fitness on ``selection_seeds`` training seeds is "the best hand-tuned setting".
* evolved: ``examples/gan-ring.yaml`` on this task (its search trains each candidate once, with
  seeds derived from the run seed), then its reported GAN; the search runs in ``RESULTS/gan-TASK-run``
  and resumes there if a session stopped it.
* E-GAN: the default GAN's settings trained E-GAN style with 1 and 2 parents, selection among the
  children alone (comma) or children and parents (plus).

Every contender is then trained ``seeds`` times with the test seeds 1000..1000+seeds-1, which neither
the selection nor the search used; reported per contender: modes covered per seed, the share of
high-quality samples, and in how many seeds every mode is covered. The search's wall time on 2 cores
is its cost.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from common import evolved_gan, example

from evoforge.engine.config import apply_overrides

TEST_SEED = 1000


def hand_tuned() -> dict[str, dict]:
    from evoforge.spaces.gan import default_gan

    base = default_gan()
    return {
        "dcgan_adam": base.with_genes(g_lr=2e-4, d_lr=2e-4, beta1=0.5),
        "wgan_gp": base.with_genes(
            loss="wgan_gp", gp_weight=10.0, d_steps=5, g_lr=1e-4, d_lr=1e-4, beta1=0.5, beta2=0.9
        ),
        "sngan_hinge": base.with_genes(
            loss="hinge", d_norm="spectral", g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.9
        ),
        "lsgan": base.with_genes(loss="least_squares", g_lr=1e-3, d_lr=1e-3, beta1=0.5),
    }


def _train(args: tuple) -> dict:
    """One training run in a worker: (problem config, genome JSON, seed) -> its scores."""
    import torch

    from evoforge.problems.gan import GanConfig, GanProblem
    from evoforge.spaces.gan import GanGenome

    torch.set_num_threads(1)
    config, genome, seed = args
    problem = GanProblem(GanConfig.model_validate(config))
    started = time.perf_counter()
    try:
        out = problem.score_run(GanGenome.from_json(genome), seed, test=True)
    except Exception as exc:  # a diverging GAN: recorded, scored worst
        out = {"fitness": float("nan"), "modes": 0.0, "quality": 0.0, "error": str(exc)[:200]}
    return dict(out, seconds=time.perf_counter() - started)


def run(settings: dict, save) -> dict:
    task, steps, seeds = settings["task"], int(settings["steps"]), int(settings["seeds"])
    base = {"kind": "gan", "data": task, "steps": steps}
    results = save.previous or {}
    pool = ProcessPoolExecutor(2)

    def trained(config: dict, genome, seed_list: list[int]) -> list[dict]:
        return list(pool.map(_train, [(config, genome.to_json(), s) for s in seed_list]))

    from evoforge.spaces.gan import default_gan

    if "default" not in results:
        results["default"] = {
            "genome": default_gan().to_json(),
            "runs": trained(base, default_gan(), _tests(seeds)),
        }
        save(results)
    if "hand_tuned" not in results:
        selection = {}
        for name, genome in hand_tuned().items():
            runs = trained(base, genome, list(range(int(settings["selection_seeds"]))))
            selection[name] = statistics.mean(
                r["fitness"] if r["fitness"] == r["fitness"] else -1.0 for r in runs
            )
        best = max(selection, key=selection.get)
        results["hand_tuned"] = {
            "selection": selection,
            "chosen": best,
            "genome": hand_tuned()[best].to_json(),
            "runs": trained(base, hand_tuned()[best], _tests(seeds)),
        }
        save(results)
    if "evolved" not in results:
        from evoforge.spaces.gan import GanGenome

        raw = apply_overrides(yaml.safe_load(example("gan-ring").read_text()), list(settings["overrides"]))
        raw["problem"] = dict(raw["problem"], data=task, steps=steps)
        raw["test_episodes"] = 1
        work = Path(save.out).parent / f"gan-{task}-run"
        result, data = evolved_gan(raw, work)
        genome = GanGenome.from_json(data)
        results["evolved"] = {
            "genome": genome.to_json(),
            "search_seconds": result.wall_seconds,
            "evaluations": result.evaluations,
            "failed": result.failed,
            "runs": trained(base, genome, _tests(seeds)),
        }
        save(results)
    for parents in (1, 2):
        for selection in ("comma", "plus"):
            key = f"egan_{selection}_{parents}"
            if key not in results:
                config = dict(base, training="egan", egan={"parents": parents, "selection": selection})
                results[key] = {
                    "genome": default_gan().to_json(),
                    "runs": trained(config, default_gan(), _tests(seeds)),
                }
                save(results)
    pool.shutdown()
    return results


def _tests(seeds: int) -> list[int]:
    return [TEST_SEED + k for k in range(seeds)]


def table(results: dict, settings: dict) -> str:
    from evoforge.problems.gan import toy_data
    from evoforge.spaces.gan import GanGenome

    modes = len(toy_data(settings["task"]).modes)
    lines = [
        f"{settings['task']}, {settings['steps']} generator steps per GAN; every contender trained with the test seeds "
        f"{TEST_SEED}..{TEST_SEED + int(settings['seeds']) - 1} (used by no selection or search).",
        "",
        "| contender | modes covered per seed | mean high-quality share | seeds with every mode | seconds per training | setting |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        runs = entry["runs"]
        label = name + (f" ({entry['chosen']})" if name == "hand_tuned" else "")
        lines.append(
            f"| {label} | {', '.join(str(int(r['modes'])) for r in runs)} | "
            f"{statistics.mean(r['quality'] for r in runs):.1%} | {sum(r['modes'] == modes for r in runs)} / {len(runs)} | "
            f"{statistics.median(r['seconds'] for r in runs):.1f} | {GanGenome.from_json(entry['genome'])} |"
        )
    if "evolved" in results:
        e = results["evolved"]
        lines += [
            "",
            f"Search: {e['evaluations']} GANs trained in {e['search_seconds'] / 60:.1f} minutes on 2 cores ({e['failed']} failed).",
        ]
        runs = e["runs"]
        need = modes if modes == 8 else modes - 1
        quality = 0.8 if modes == 8 else 0.0
        met = all(r["modes"] >= need and r["quality"] >= quality for r in runs)
        goal = f"{need} of {modes} modes" + (
            f" with at least {quality:.0%} high-quality samples" if quality else ""
        )
        lines.append(
            f"Goal (the evolved GAN covers {goal} in every seed): " + ("met." if met else "**missed**.")
        )
    return "\n".join(lines)
