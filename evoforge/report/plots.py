"""Figures of a run: fitness over generations and run time, NEAT species over generations, the
Pareto front of a multi-objective run, a NEAT network, fitness against environment steps (policy
search), the archive of a quality-diversity run, and the behaviours a run found (descriptors).

Everything is drawn with matplotlib's Agg backend (no display needed) from the
run store, so a report can be made of any run, finished or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "plot_fitness",
    "plot_species",
    "plot_pareto",
    "plot_env_steps",
    "plot_archive",
    "plot_behaviours",
    "draw_behaviours",
    "draw_network",
    "layers",
    "pyplot",
]


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fitness(stats: list[dict[str, Any]], out: Path, direction: str = "maximize") -> Path:
    """Best, mean and best-so-far fitness per generation, and the same against run time."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, label in ((axes[0], "generation", "generation"), (axes[1], "wall_seconds", "run time (s)")):
        x = [s[key] for s in stats]
        ax.plot(x, [s["best"] for s in stats], label="best of generation")
        ax.plot(x, [s["mean"] for s in stats], label="mean of generation", alpha=0.7)
        ax.plot(x, [s["best_ever"] for s in stats], label="best so far", linestyle="--")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"fitness ({direction}d)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_env_steps(
    stats: list[dict[str, Any]],
    out: Path,
    lines: dict[str, float | None] | None = None,
    distance: list[float] | None = None,
    shift: float = 0.0,
    returns: list[float] | None = None,
) -> Path:
    """Fitness against environment steps of the search: best of each generation, the search
    distribution's centre where the strategy has one, the best so far, and horizontal ``lines``
    (validation and test scores, the stop target); beside it, with ``distance`` (the best individual's
    distance travelled per generation), how far the fittest policy went: a policy that stands still
    collecting an alive bonus shows as a return without a distance. With a reward ``shift`` the
    fitness is the return less ``shift`` a step; ``returns`` (the environment's return of each
    generation's best) is drawn beside it, on the scale of the validation and test scores."""
    plt = pyplot()
    steps = np.cumsum([s.get("env_steps", 0.0) for s in stats])
    panels = 2 if distance is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels + 1, 4), squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, [s["best"] for s in stats], label="best of generation")
    centre = [(x, s["centre"]) for x, s in zip(steps, stats, strict=True) if s.get("centre") is not None]
    if centre:
        ax.plot(*zip(*centre, strict=True), label="distribution mean", alpha=0.8)
    ax.plot(steps, [s["best_ever"] for s in stats], label="best so far", linestyle="--")
    if returns is not None:
        ax.plot(steps, returns, label="best of generation, the environment's return", alpha=0.8)
    for (name, value), style in zip((lines or {}).items(), (":", "-.", (0, (1, 3))), strict=False):
        if value is not None and np.isfinite(value):
            ax.axhline(value, color="grey", linestyle=style, label=f"{name} {value:.4g}")
    ax.set_xlabel("environment steps of the search")
    ax.set_ylabel(f"return less {shift:g} a step (the search's fitness)" if shift else "return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if distance is not None:
        ax = axes[0][1]
        ax.plot(steps, distance, color="tab:green")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_xlabel("environment steps of the search")
        ax.set_ylabel("distance travelled by the generation's best (x)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_archive(
    descriptors: np.ndarray,
    fitness: np.ndarray,
    stats: list[dict[str, Any]],
    out: Path,
    bounds: list[tuple[float, float]] | None = None,
) -> Path:
    """A quality-diversity run: its elites at their behaviour descriptors (the first two numbers),
    coloured by fitness, and the archive's coverage and QD-score over the generations."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    if len(fitness):
        d = np.asarray(descriptors, dtype=np.float64)
        y = d[:, 1] if d.shape[1] > 1 else np.zeros(len(d))
        points = ax.scatter(d[:, 0], y, c=fitness, cmap="viridis", s=14, marker="s")
        fig.colorbar(points, ax=ax, label="fitness")
    if bounds:  # the archive's box, widened to elites beyond it (they live in its edge cells)
        d = np.asarray(descriptors, dtype=np.float64).reshape(len(fitness), -1)
        for k, setter in enumerate((ax.set_xlim, ax.set_ylim)[: len(bounds)]):
            low, high = bounds[k]
            if len(d) and d.shape[1] > k:
                low, high = min(low, float(d[:, k].min())), max(high, float(d[:, k].max()))
            setter(low, high)
    ax.set_xlabel("descriptor 0")
    ax.set_ylabel("descriptor 1")
    ax.set_title(f"{len(fitness)} elites")
    gens = [s["generation"] for s in stats]
    ax = axes[1]
    ax.plot(gens, [s.get("strategy", {}).get("coverage", np.nan) for s in stats], color="tab:blue")
    ax.set_xlabel("generation")
    ax.set_ylabel("coverage (share of cells filled)", color="tab:blue")
    twin = ax.twinx()
    twin.plot(gens, [s.get("strategy", {}).get("qd_score", np.nan) for s in stats], color="tab:orange")
    twin.set_ylabel("QD-score", color="tab:orange")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def draw_behaviours(ax, descriptors: np.ndarray, world=None, best: np.ndarray | None = None):
    """Draw on ``ax`` every evaluated individual's behaviour (the first two descriptor numbers, in
    the order evaluated: early dark, late bright) over its world (a :class:`BehaviourMap`: walls,
    named points, box), the best individual's as a star; returns (the behaviours' scatter, the
    walls' line collection or None)."""
    from matplotlib.collections import LineCollection

    d = np.asarray(descriptors, dtype=np.float64).reshape(-1, 2)
    walls = None
    if world is not None and world.walls:
        segments = [
            ((x0, y0), (x1, y1)) for x0, y0, x1, y1 in np.asarray(world.walls, dtype=float).reshape(-1, 4)
        ]
        walls = LineCollection(segments, colors="black", linewidths=2.0, zorder=3)
        ax.add_collection(walls)
    points = ax.scatter(d[:, 0], d[:, 1], c=np.arange(len(d)), cmap="viridis", s=4, alpha=0.6, linewidths=0)
    colours = ("tab:blue", "tab:red", "tab:green", "tab:purple")  # a start and a goal: the first two
    for k, (name, (x, y)) in enumerate((world.points if world else {}).items()):
        ax.scatter([x], [y], s=90, color=colours[k % len(colours)], edgecolors="black", zorder=4, label=name)
    if best is not None:
        ax.scatter([best[0]], [best[1]], s=220, marker="*", color="gold", edgecolors="black", zorder=5,
                   label="best")  # fmt: skip
    if world is not None and world.bounds is not None:
        (x0, x1), (y0, y1) = world.bounds
        ax.set_xlim(x0 - 5, x1 + 5)
        ax.set_ylim(y0 - 5, y1 + 5)
        ax.set_aspect("equal")
    return points, walls


def plot_behaviours(descriptors: np.ndarray, out: Path, world=None, best: np.ndarray | None = None) -> Path:
    """Every evaluated individual's behaviour over the problem's world (:func:`draw_behaviours`):
    where a novelty or quality-diversity search looked, and where a fitness-only one got stuck."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    points, _ = draw_behaviours(ax, descriptors, world, best)
    fig.colorbar(points, ax=ax, label="evaluation (in the order evaluated)")
    if world is not None and (world.points or best is not None):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, fontsize=8)
    ax.set_xlabel("descriptor 0")
    ax.set_ylabel("descriptor 1")
    ax.set_title(f"{len(np.asarray(descriptors).reshape(-1, 2)):,} behaviours")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_species(stats: list[dict[str, Any]], out: Path) -> Path:
    """Stacked species sizes per generation (NEAT runs), species in order of appearance."""
    plt = pyplot()
    gens = [s["generation"] for s in stats]
    ids = sorted({int(k) for s in stats for k in s.get("strategy", {}).get("species", {})})
    sizes = np.array([[s.get("strategy", {}).get("species", {}).get(str(i), 0) for s in stats] for i in ids])
    fig, ax = plt.subplots(figsize=(7, 4))
    if ids:
        ax.stackplot(gens, sizes, linewidth=0.3, edgecolor="white")
    ax.set_xlabel("generation")
    ax.set_ylabel("individuals per species")
    ax.set_title(f"{len(ids)} species over the run")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_pareto(
    points: list[tuple[float, dict[str, float]]],
    front: list[dict[str, Any]],
    objectives: list[str],
    out: Path,
    chosen: dict[str, Any] | None = None,
    fitness_label: str = "fitness",
) -> Path:
    """Fitness (named ``fitness_label`` on the axis) against each minimised objective (log scale):
    every evaluated individual (``(fitness, metrics)``) as a dot, the Pareto front as a staircase of
    larger marks, and the ``chosen`` front member (if any) circled and named."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(objectives), figsize=(5.5 * len(objectives), 4), squeeze=False)
    for ax, name in zip(axes[0], objectives, strict=True):
        xs = [m.get(name, np.nan) for f, m in points if np.isfinite(f)]
        ys = [f for f, m in points if np.isfinite(f)]
        ax.scatter(xs, ys, s=8, alpha=0.35, label=f"evaluated ({len(ys)})")
        on_front = sorted((e[name], e["fitness"]) for e in front)
        if on_front:
            fx, fy = zip(*on_front, strict=True)
            ax.step(fx, fy, where="post", color="C3", alpha=0.6)
            ax.scatter(fx, fy, s=30, color="C3", label=f"Pareto front ({len(on_front)})")
        if chosen is not None:
            ax.scatter([chosen[name]], [chosen["fitness"]], s=160, facecolors="none", edgecolors="k")
            ax.annotate(
                chosen["genome_id"],
                (chosen[name], chosen["fitness"]),
                xytext=(6, -12),
                textcoords="offset points",
            )
        if all(x > 0 for x in xs if np.isfinite(x)):
            ax.set_xscale("log")
        ax.set_xlabel(f"{name} (minimised)")
        ax.set_ylabel(fitness_label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def layers(genome) -> dict[int, int]:
    """Column of every node for drawing: inputs and bias 0, hidden nodes by their longest path from
    an input (recurrent links ignored), outputs in the last column."""
    first = genome.n_inputs + 1
    preds: dict[int, list[int]] = {n: [] for n in genome.nodes}
    for s, d, e in zip(genome.src.tolist(), genome.dst.tolist(), genome.enabled.tolist(), strict=True):
        if e and s != d:
            preds[d].append(s)
    depth: dict[int, int] = {n: 0 for n in range(first)}

    def visit(n: int, seen: frozenset) -> int:
        if n in depth:
            return depth[n]
        inner = [visit(p, seen | {n}) for p in preds[n] if p not in seen]
        depth[n] = 1 + max(inner, default=0)
        return depth[n]

    for n in genome.hidden:
        visit(n, frozenset())
    last = max([depth[h] for h in genome.hidden], default=0) + 1
    for o in genome.outputs:
        depth[o] = last
    return depth


def draw_network(genome, out: Path, title: str = "") -> Path:
    """The network: nodes by layer, enabled connections solid (blue positive, red negative, width by
    |weight|), disabled ones dashed grey."""
    plt = pyplot()
    column = layers(genome)
    by_column: dict[int, list[int]] = {}
    for node in sorted(column):
        by_column.setdefault(column[node], []).append(node)
    pos = {}
    for c, nodes in by_column.items():
        for k, node in enumerate(nodes):
            pos[node] = (c, (k + 1) / (len(nodes) + 1))
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(by_column), 4.5))
    limit = max(1e-9, float(np.max(np.abs(genome.weight)))) if len(genome) else 1.0
    for s, d, w, e in zip(
        genome.src.tolist(), genome.dst.tolist(), genome.weight.tolist(), genome.enabled.tolist(), strict=True
    ):
        (x0, y0), (x1, y1) = pos[s], pos[d]
        if s == d:  # self-loop
            ax.add_patch(plt.Circle((x0, y0 + 0.04), 0.04, fill=False, color="tab:purple"))
            continue
        style = {
            "color": ("tab:blue" if w > 0 else "tab:red") if e else "0.7",
            "linestyle": "-" if e else "--",
            "linewidth": 0.5 + 3.5 * abs(w) / limit if e else 0.8,
            "alpha": 0.85 if e else 0.6,
        }
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "shrinkA": 9, "shrinkB": 9, **style},
        )
    for node, (x, y) in pos.items():
        if node < genome.n_inputs:
            label, color = f"in{node}", "tab:green"
        elif node == genome.n_inputs:
            label, color = "bias", "0.6"
        elif node in genome.outputs:
            label, color = f"out{node - genome.n_inputs - 1}", "tab:orange"
        else:
            label, color = str(node), "white"
        ax.scatter([x], [y], s=420, color=color, edgecolors="black", zorder=3)
        ax.text(x, y, label, ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlim(-0.5, max(by_column) + 0.5)
    ax.set_ylim(0, 1)
    ax.axis("off")
    n_on = int(np.sum(genome.enabled))
    ax.set_title(
        title or f"{len(genome.nodes)} nodes, {n_on} enabled / {len(genome)} connections", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
