"""Update rules of optimizers as genomes: a small expression over the gradient and its moments, plus
the hyperparameters of those moments, weight decay, clipping and the learning-rate schedule.

A step of the rule, for every parameter tensor ``theta`` with gradient ``grad``::

    g     = clip_by_global_norm(grad) + l2 * theta       (each part optional)
    m     = beta1 * m + (1 - beta1) * g                  (momentum "ema"; "sum": beta1 * m + g)
    v     = beta2 * v + (1 - beta2) * g^2
    u     = expr(g, m, m_prev)                            (m_prev: m before this step's update)
    theta = theta * (1 - lr_t * weight_decay) - lr_t * u

``expr`` is a tree of nested tuples ``(op, *constants, *children)``:

==========  =====================================  ==========================================
op          meaning                                written
==========  =====================================  ==========================================
g           the gradient                           ``("g",)``
m, m_prev   first moment (bias-corrected if on)    ``("m",)``
norm        x / (sqrt(v_hat) + eps)                ``("norm", x)``
sign        elementwise sign                       ``("sign", x)``
scale       c * x                                  ``("scale", c, x)``
clip        clamp to [-c, c]                       ``("clip", c, x)``
add, mul    elementwise sum, product               ``("add", x, y)``
interp      w * x + (1 - w) * y                    ``("interp", w, x, y)``
==========  =====================================  ==========================================

so SGD with momentum is ``("m",)`` with momentum "sum", Adam is ``("norm", ("m",))`` with bias
correction, RMSprop ``("norm", ("g",))`` without, signSGD ``("sign", ("g",))`` and Lion (Chen et al.
2023, Algorithm 2) ``("sign", ("interp", beta1, ("m_prev",), ("g",)))`` with ``m``'s decay as
beta2. :data:`KNOWN` holds these with their usual defaults.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evoforge.core.genome import register_genome
from evoforge.core.space import SearchSpace

__all__ = [
    "UpdateRule",
    "RuleSpace",
    "RuleSpaceConfig",
    "KNOWN",
    "ARITY",
    "CONSTANTS",
    "known_rule",
    "expr_depth",
    "expr_size",
]

#: children of each op
ARITY = {
    "g": 0,
    "m": 0,
    "m_prev": 0,
    "norm": 1,
    "sign": 1,
    "scale": 1,
    "clip": 1,
    "add": 2,
    "mul": 2,
    "interp": 2,
}
#: constants of each op (before its children)
CONSTANTS = {"scale": 1, "clip": 1, "interp": 1}
LEAVES = tuple(op for op, n in ARITY.items() if n == 0)

Schedule = Literal["constant", "step", "warmup_cosine"]


def _parse(node: Any, where: str) -> tuple:
    """``node`` (nested lists or tuples) as a canonical tuple tree, or ``ValueError`` naming the
    first bad node by its path (``expr.1.0``)."""
    if not isinstance(node, list | tuple) or not node or not isinstance(node[0], str):
        raise ValueError(f"{where}: a node is [op, *constants, *children], got {node!r}")
    op = node[0]
    if op not in ARITY:
        raise ValueError(f"{where}: unknown op {op!r} (ops: {', '.join(ARITY)})")
    n_const, n_child = CONSTANTS.get(op, 0), ARITY[op]
    if len(node) != 1 + n_const + n_child:
        raise ValueError(f"{where}: {op} takes {n_const} constant(s) and {n_child} child(ren)")
    consts = []
    for k, c in enumerate(node[1 : 1 + n_const], 1):
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            raise ValueError(f"{where}.{k}: {op}'s constant must be a finite number, got {c!r}")
        consts.append(float(c))
    if op == "clip" and consts[0] <= 0:
        raise ValueError(f"{where}.1: clip's bound must be > 0, got {consts[0]}")
    children = [_parse(child, f"{where}.{1 + n_const + k}") for k, child in enumerate(node[1 + n_const :])]
    return (op, *consts, *children)


def _children(node: tuple) -> tuple:
    return node[1 + CONSTANTS.get(node[0], 0) :]


def expr_depth(node: tuple) -> int:
    """Levels of the tree (a leaf is 1)."""
    return 1 + max((expr_depth(c) for c in _children(node)), default=0)


def expr_size(node: tuple) -> int:
    """Nodes in the tree."""
    return 1 + sum(expr_size(c) for c in _children(node))


def _uses(node: tuple, op: str) -> bool:
    return node[0] == op or any(_uses(c, op) for c in _children(node))


@register_genome
class UpdateRule(BaseModel):
    """An optimizer's update rule (see the module docstring for the step it defines).

    >>> rule = known_rule("adam")
    >>> rule.expr, rule.bias_correction
    (('norm', ('m',)), True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    encoding: ClassVar[str] = "update_rule"

    expr: tuple = Field(description="The update direction u as an expression tree.")
    lr: float = Field(1e-3, gt=0, le=100, description="Base learning rate.")
    beta1: float = Field(0.9, ge=0, lt=1, description="Decay of the first moment m.")
    momentum: Literal["ema", "sum"] = Field(
        "ema", description="m = beta1 m + (1 - beta1) g (ema, Adam) or beta1 m + g (sum, SGD momentum)."
    )
    beta2: float = Field(0.999, ge=0, lt=1, description="Decay of the second moment v.")
    eps: float = Field(1e-8, gt=0, le=1, description="Added to sqrt(v) in norm.")
    bias_correction: bool = Field(False, description="Divide m by 1 - beta1^t and v by 1 - beta2^t.")
    weight_decay: float = Field(0.0, ge=0, le=10, description="Decoupled: theta *= 1 - lr_t wd.")
    l2: float = Field(0.0, ge=0, le=10, description="Coupled: g += l2 theta (torch's weight_decay).")
    clip_norm: float | None = Field(None, gt=0, description="Clip the gradient's global norm to this.")
    schedule: Schedule = Field("constant", description="Learning-rate schedule over total_steps.")
    warmup: float = Field(0.0, ge=0, le=0.5, description="warmup_cosine: warmup as a fraction of steps.")

    @field_validator("expr", mode="before")
    @classmethod
    def _expr(cls, value: Any) -> tuple:
        return _parse(value, "expr")

    # -- what the rule needs ------------------------------------------------------------------
    @property
    def uses_m(self) -> bool:
        return _uses(self.expr, "m")

    @property
    def uses_m_prev(self) -> bool:
        return _uses(self.expr, "m_prev")

    @property
    def uses_v(self) -> bool:
        return _uses(self.expr, "norm")

    def lr_factor(self, step: int, total_steps: int | None) -> float:
        """The schedule's multiplier of ``lr`` at ``step`` (counted from 1)."""
        if self.schedule == "constant":
            return 1.0
        if total_steps is None:
            raise ValueError(f"the {self.schedule} schedule needs total_steps")
        t, total = min(step, total_steps), max(1, total_steps)
        if self.schedule == "step":  # x0.1 after half and after three quarters of the steps
            return 0.1 ** ((t > total // 2) + (t > (3 * total) // 4))
        warm = round(self.warmup * total)
        if t <= warm:
            return t / warm
        return 0.5 * (1.0 + math.cos(math.pi * (t - warm) / max(1, total - warm)))

    # -- genome protocol ------------------------------------------------------------------------
    def to_json(self) -> dict:
        out = {"encoding": self.encoding, **self.model_dump()}
        out["expr"] = json.loads(json.dumps(self.expr))
        return out

    @classmethod
    def from_json(cls, data: dict) -> UpdateRule:
        """The rule of a JSON object; ``ValueError`` with one line naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"an update rule is a JSON object, got {type(data).__name__}")
        data = dict(data)
        data.pop("genome_id", None)  # as written in best_optimizer.json
        if data.pop("encoding", cls.encoding) != cls.encoding:
            raise ValueError(f"not an update rule (encoding is not {cls.encoding!r})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "rule"
            msg = first["msg"].removeprefix("Value error, ")
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None

    def expressed(self) -> dict[str, Any]:
        """The genes this rule's step reads: a moment's decay only where the expression uses it,
        bias correction only where something is corrected, warmup only for warmup_cosine."""
        out = self.to_json()
        uses_m = self.uses_m or self.uses_m_prev
        if not uses_m:
            del out["beta1"], out["momentum"]
        if not self.uses_v:
            del out["beta2"], out["eps"]
        if not ((uses_m and self.momentum == "ema") or self.uses_v):
            del out["bias_correction"]
        if self.schedule != "warmup_cosine":
            del out["warmup"]
        return out

    def content_bytes(self) -> bytes:
        """What the content id hashes: the expressed genes, so rules that step alike share an id."""
        return json.dumps(self.expressed(), sort_keys=True).encode()

    def replace(self, **changes: Any) -> UpdateRule:
        """A copy with ``changes`` applied and validated."""
        data = self.to_json()
        data.update(changes)
        return UpdateRule.from_json(data)

    # -- readable forms ---------------------------------------------------------------------------
    def math(self) -> str:
        """The rule as a few lines of math."""
        bc = self.bias_correction
        lines = []
        if self.clip_norm is not None:
            lines.append(f"g ← g · min(1, {self.clip_norm:g} / ‖g‖)")
        if self.l2:
            lines.append(f"g ← g + {self.l2:g}·θ")
        if self.uses_m or self.uses_m_prev:
            if self.momentum == "ema":
                lines.append(f"m ← {self.beta1:g}·m + {1 - self.beta1:g}·g")
            else:
                lines.append(f"m ← {self.beta1:g}·m + g")
        if self.uses_v:
            lines.append(f"v ← {self.beta2:g}·v + {1 - self.beta2:g}·g²")
        m = "m̂" if bc and self.momentum == "ema" else "m"
        denom = f"(√{'v̂' if bc else 'v'} + {self.eps:g})"
        lines.append(f"u = {_write(self.expr, 'math', {'g': 'g', 'm': m, 'm_prev': m + '_prev'}, denom)}")
        if bc and (self.uses_m or self.uses_m_prev or self.uses_v):
            corr = []
            if self.momentum == "ema" and (self.uses_m or self.uses_m_prev):
                corr.append(f"m̂ = m / (1 − {self.beta1:g}^t)")
            if self.uses_v:
                corr.append(f"v̂ = v / (1 − {self.beta2:g}^t)")
            lines.append(", ".join(corr))
        decay = f"(1 − η_t·{self.weight_decay:g})·θ" if self.weight_decay else "θ"
        lines.append(f"θ ← {decay} − η_t·u")
        sched = {
            "constant": f"η_t = {self.lr:g}",
            "step": f"η_t = {self.lr:g} × 0.1 after 1/2 and after 3/4 of the steps",
            "warmup_cosine": f"η_t = {self.lr:g}, linear warmup over {self.warmup:.0%} of the steps, "
            "then cosine decay to 0",
        }[self.schedule]
        lines.append(sched)
        return "\n".join(lines)

    def python_source(self, class_name: str = "EvolvedOptimizer") -> str:
        """A standalone Python module (needs only torch) defining ``class_name``, a
        ``torch.optim.Optimizer`` that applies this rule tensor by tensor."""
        bc_m = self.bias_correction and self.momentum == "ema"
        code = _write(self.expr, "python", {"g": "g", "m": "m_hat", "m_prev": "m_prev"})
        uses_m, uses_prev, uses_v = self.uses_m, self.uses_m_prev, self.uses_v
        body = []
        if self.clip_norm is not None:
            body += [
                "        grads = [p.grad for p in params]",
                "        gnorm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))",
                f"        coef = torch.clamp({self.clip_norm!r} / (gnorm + 1e-6), max=1.0)",
            ]
        body += ["        for p in params:", "            state = self.state[p]"]
        body.append(
            "            g = p.grad * coef" if self.clip_norm is not None else "            g = p.grad"
        )
        if self.l2:
            body.append(f"            g = g + {self.l2!r} * p")
        if uses_m or uses_prev:
            body.append('            m = state.setdefault("m", torch.zeros_like(p))')
        if uses_prev:
            corr = f" / ((1 - {self.beta1!r} ** (t - 1)) if t > 1 else 1.0)" if bc_m else ""
            body.append(f"            m_prev = m.clone(){corr}")
        if uses_m or uses_prev:
            if self.momentum == "ema":
                body.append(f"            m.mul_({self.beta1!r}).add_(g, alpha={1 - self.beta1!r})")
            else:
                body.append(f"            m.mul_({self.beta1!r}).add_(g)")
        if uses_m:
            body.append(
                f"            m_hat = m / (1 - {self.beta1!r} ** t)" if bc_m else "            m_hat = m"
            )
        if uses_v:
            body.append('            v = state.setdefault("v", torch.zeros_like(p))')
            body.append(f"            v.mul_({self.beta2!r}).addcmul_(g, g, value={1 - self.beta2!r})")
            v_hat = f"v / (1 - {self.beta2!r} ** t)" if self.bias_correction else "v"
            body.append(f"            denom = torch.sqrt({v_hat}) + {self.eps!r}")
        if self.weight_decay:
            body.append(f"            p.mul_(1 - lr * {self.weight_decay!r})")
        body.append(f"            p.sub_(lr * ({code}))")
        factor = {
            "constant": "1.0",
            "step": "0.1 ** ((t_ > total // 2) + (t_ > (3 * total) // 4))",
            "warmup_cosine": "t_ / warm if t_ <= warm else "
            "0.5 * (1 + math.cos(math.pi * (t_ - warm) / max(1, total - warm)))",
        }[self.schedule]
        math_doc = "\n".join("    " + line for line in self.math().splitlines())
        lines = [
            '"""An optimizer found by evoforge. Its update rule:',
            "",
            math_doc,
            "",
            "A searched rule's lr is relative to Adam's: the rate where Adam's best is 1e-3.",
            '"""',
            "",
            "import math",
            "",
            "import torch",
            "",
            "",
            f"class {class_name}(torch.optim.Optimizer):",
            f"    def __init__(self, params, lr={self.lr!r}, total_steps=None):",
            "        super().__init__(params, {'lr': lr, 'total_steps': total_steps})",
            "",
            "    @torch.no_grad()",
            "    def step(self, closure=None):",
            "        loss = None",
            "        if closure is not None:",
            "            with torch.enable_grad():",
            "                loss = closure()",
            "        for group in self.param_groups:",
            "            params = [p for p in group['params'] if p.grad is not None]",
            "            if params:",
            "                group['step'] = group.get('step', 0) + 1",
            "                self._step(group, params)",
            "        return loss",
            "",
            "    def _step(self, group, params):",
            "        t = group['step']",
            "        total = group['total_steps'] or 1",
            f"        warm = round({self.warmup!r} * total)",
            "        t_ = min(t, total)",
            f"        lr = group['lr'] * ({factor})",
            *body,
            "",
        ]
        return "\n".join(lines)


#: how each op is written, as math and as Python (``{0}``, ``{1}``: children; ``{c}``: the constant)
_WRITTEN = {
    "math": {
        "norm": "{0} / {denom}",
        "sign": "sign({0})",
        "scale": "{c}·{0}",
        "clip": "clip({0}, ±{c})",
        "add": "({0} + {1})",
        "mul": "({0} ⊙ {1})",
        "interp": "({c}·{0} + {1 - c}·{1})",
    },
    "python": {
        "norm": "{0} / denom",
        "sign": "torch.sign({0})",
        "scale": "{c} * {0}",
        "clip": "torch.clamp({0}, -{c}, {c})",
        "add": "({0} + {1})",
        "mul": "({0} * {1})",
        "interp": "({0} * {c} + {1} * {1 - c})",
    },
}


def _write(node: tuple, style: str, leaves: dict[str, str], denom: str = "") -> str:
    """``node`` written in ``style`` ("math" or "python"), leaves named by ``leaves``."""
    op = node[0]
    if op in leaves:
        return leaves[op]
    args = [_write(child, style, leaves, denom) for child in _children(node)]
    number = (lambda x: f"{x:g}") if style == "math" else repr
    consts = {}
    if op in CONSTANTS:
        consts = {"c": number(node[1]), "1 - c": number(1 - node[1])}
    template = _WRITTEN[style][op]
    for key, value in consts.items():
        template = template.replace("{" + key + "}", value)
    return template.replace("{denom}", denom).format(*args)


def known_rule(name: str, **changes: Any) -> UpdateRule:
    """One of :data:`KNOWN` with ``changes`` (``lr``, ``beta1``, ...) applied.

    >>> known_rule("sgd", lr=0.1).lr
    0.1
    """
    if name not in KNOWN:
        raise ValueError(f"unknown optimizer {name!r} (known: {', '.join(KNOWN)})")
    return KNOWN[name].replace(**changes) if changes else KNOWN[name]


#: the hand-designed optimizers as rules, with torch's (and Lion's paper's) defaults
KNOWN: dict[str, UpdateRule] = {
    "sgd": UpdateRule(expr=("g",), lr=1e-2),
    "sgd_momentum": UpdateRule(expr=("m",), lr=1e-2, beta1=0.9, momentum="sum"),
    "nesterov": UpdateRule(expr=("add", ("g",), ("scale", 0.9, ("m",))), lr=1e-2, beta1=0.9, momentum="sum"),
    "adam": UpdateRule(expr=("norm", ("m",)), bias_correction=True),
    "adamw": UpdateRule(expr=("norm", ("m",)), bias_correction=True, weight_decay=1e-2),
    "rmsprop": UpdateRule(expr=("norm", ("g",)), lr=1e-2, beta2=0.99),
    "signsgd": UpdateRule(expr=("sign", ("g",)), lr=1e-3),
    "lion": UpdateRule(expr=("sign", ("interp", 0.9, ("m_prev",), ("g",))), lr=1e-4, beta1=0.99),
}


# -- the search space -------------------------------------------------------------------------------
class RuleSpaceConfig(BaseModel):
    """What an update-rule search may build."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(4, ge=1, le=8, description="Levels of the expression tree.")
    max_nodes: int = Field(12, ge=1, le=64, description="Nodes of the expression tree.")
    ops: tuple[str, ...] = Field(tuple(ARITY), min_length=1, description="Ops the search may use.")
    lr_range: tuple[float, float] = Field(
        (1e-5, 0.1), description="Learning rates (log-uniform; optimizer search: relative to Adam's 1e-3)."
    )
    schedules: tuple[Schedule, ...] = Field(("constant", "step", "warmup_cosine"), min_length=1)
    known_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of random individuals that are a hand-designed rule (KNOWN) instead.",
    )

    @field_validator("ops")
    @classmethod
    def _ops(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [op for op in value if op not in ARITY]
        if unknown:
            raise ValueError(f"unknown ops {unknown} (ops: {', '.join(ARITY)})")
        if not any(ARITY[op] == 0 for op in value):
            raise ValueError("ops need at least one leaf (g, m or m_prev)")
        return value


class RuleSpace(SearchSpace):
    """Random update rules, their mutation and crossover (genetic programming over the expression,
    Gaussian steps in log space over the hyperparameters).

    >>> space = RuleSpace(RuleSpaceConfig())
    >>> rule = space.sample(np.random.default_rng(0))
    >>> space.valid(rule) and space.valid(space.mutate(rule, np.random.default_rng(1)))
    True
    """

    encoding = "update_rule"
    offers = frozenset({"sample", "mutate", "crossover"})
    describes = "update rule"
    export_name = "best_optimizer.json"

    def __init__(self, config: RuleSpaceConfig | None = None):
        self.config = config or RuleSpaceConfig()
        ops = self.config.ops
        self._by_arity = {k: tuple(op for op in ops if ARITY[op] == k) for k in (0, 1, 2)}

    # -- validity ---------------------------------------------------------------------------------
    def violation(self, rule: UpdateRule) -> str | None:
        """Why ``rule`` is outside this space, or None."""
        if expr_depth(rule.expr) > self.config.max_depth:
            return f"expression depth {expr_depth(rule.expr)} > max_depth {self.config.max_depth}"
        if expr_size(rule.expr) > self.config.max_nodes:
            return f"expression of {expr_size(rule.expr)} nodes > max_nodes {self.config.max_nodes}"
        return None

    def valid(self, rule: UpdateRule) -> bool:
        return self.violation(rule) is None

    # -- sampling -----------------------------------------------------------------------------------
    def _constant(self, op: str, rng: np.random.Generator) -> float:
        if op == "interp":
            return round(float(rng.uniform(0.0, 1.0)), 4)
        if op == "clip":
            return round(float(np.exp(rng.uniform(np.log(0.01), np.log(10.0)))), 4)
        sign = -1.0 if rng.random() < 0.2 else 1.0  # scale: mostly a step size, sometimes a difference
        return round(sign * float(np.exp(rng.uniform(np.log(0.1), np.log(10.0)))), 4)

    def _tree(self, rng: np.random.Generator, depth: int) -> tuple:
        """A random tree of at most ``depth`` levels (grow method: leaves likelier further down)."""
        inner = [op for k in (1, 2) for op in self._by_arity[k]]
        if depth <= 1 or not inner or rng.random() < 0.3 + 0.6 / depth:
            return (str(rng.choice(self._by_arity[0])),)
        op = str(rng.choice(inner))
        consts = [self._constant(op, rng)] if op in CONSTANTS else []
        return (op, *consts, *(self._tree(rng, depth - 1) for _ in range(ARITY[op])))

    def _hyper(self, rng: np.random.Generator) -> dict[str, Any]:
        lo, hi = self.config.lr_range
        return {
            "lr": float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
            "beta1": _beta(rng, 1e-3),
            "momentum": str(rng.choice(("ema", "sum"))),
            "beta2": _beta(rng, 1e-4),
            "eps": float(10 ** rng.uniform(-10, -3)),
            "bias_correction": bool(rng.random() < 0.5),
            "weight_decay": 0.0 if rng.random() < 0.5 else float(10 ** rng.uniform(-4, -1)),
            "l2": 0.0 if rng.random() < 0.8 else float(10 ** rng.uniform(-5, -2)),
            "clip_norm": None if rng.random() < 0.7 else float(10 ** rng.uniform(-1, 1)),
            "schedule": str(rng.choice(self.config.schedules)),
            "warmup": round(float(rng.uniform(0.0, 0.2)), 3),
        }

    def sample(self, rng: np.random.Generator) -> UpdateRule:
        """A random rule within the space (or, with ``known_fraction``, a hand-designed one)."""
        if rng.random() < self.config.known_fraction:
            fits = [r for r in KNOWN.values() if self.valid(r) and _ops_in(r.expr, self.config.ops)]
            if fits:
                return fits[int(rng.integers(len(fits)))]
        for _ in range(100):
            rule = UpdateRule(expr=self._tree(rng, self.config.max_depth), **self._hyper(rng))
            if self.valid(rule):
                return rule
        return UpdateRule(expr=(self._by_arity[0][0],), **self._hyper(rng))

    # -- variation -----------------------------------------------------------------------------------
    def mutate(self, rule: UpdateRule, rng: np.random.Generator) -> UpdateRule:
        """One expressed change: half the time to the expression (a new subtree, an op swapped for one of the same
        arity, a constant moved, a unary op inserted above a node, or a node replaced by its child), half
        the time to one hyperparameter."""
        for _ in range(20):
            child = self._mutate_expr(rule, rng) if rng.random() < 0.5 else self._mutate_hyper(rule, rng)
            if child.content_bytes() != rule.content_bytes() and self.valid(child):
                return child
        return self._mutate_hyper(rule, rng)

    def _mutate_expr(self, rule: UpdateRule, rng: np.random.Generator) -> UpdateRule:
        paths = _paths(rule.expr)
        path = paths[int(rng.integers(len(paths)))]
        node = _get(rule.expr, path)
        kind = str(rng.choice(("subtree", "swap", "constant", "insert", "hoist")))
        if kind == "subtree":
            new = self._tree(rng, max(1, self.config.max_depth - len(path)))
        elif kind == "swap":
            same = [op for op in self._by_arity[ARITY[node[0]]] if op != node[0]]
            if not same:
                return rule
            op = str(rng.choice(same))
            consts = [node[1]] if op in CONSTANTS and node[0] in CONSTANTS else []
            if op in CONSTANTS and not consts:
                consts = [self._constant(op, rng)]
            new = (op, *consts, *_children(node))
        elif kind == "constant":
            if node[0] not in CONSTANTS:
                return rule
            c = node[1]
            if node[0] == "interp":
                c = float(np.clip(c + rng.normal(0, 0.1), 0.0, 1.0))
            else:
                c = c * float(np.exp(rng.normal(0, 0.5)))
            new = (node[0], round(c, 4), *_children(node))
        elif kind == "insert":
            unary = self._by_arity[1]
            if not unary:
                return rule
            op = str(rng.choice(unary))
            new = (op, *([self._constant(op, rng)] if op in CONSTANTS else []), node)
        else:  # hoist
            kids = _children(node)
            if not kids:
                return rule
            new = kids[int(rng.integers(len(kids)))]
        return rule.replace(expr=_set(rule.expr, path, new))

    def _mutate_hyper(self, rule: UpdateRule, rng: np.random.Generator) -> UpdateRule:
        gene = str(
            rng.choice(
                ("lr", "lr", "beta1", "momentum", "beta2", "eps", "bias_correction")
                + ("weight_decay", "l2", "clip_norm", "schedule", "warmup")
            )
        )
        fresh = self._hyper(rng)
        value: Any = fresh[gene]
        if gene == "lr":  # a step of up to about x3 either way, kept in range
            lo, hi = self.config.lr_range
            value = float(np.clip(rule.lr * np.exp(rng.normal(0, 0.7)), lo, hi))
        elif gene in ("beta1", "beta2"):  # a step in log(1 - beta)
            old = getattr(rule, gene)
            value = float(np.clip(1 - (1 - old) * np.exp(rng.normal(0, 0.7)), 0.0, 0.9999))
        elif gene in ("momentum", "bias_correction"):
            value = {"ema": "sum", "sum": "ema", True: False, False: True}[getattr(rule, gene)]
        return rule.replace(**{gene: value})

    def crossover(self, a: UpdateRule, b: UpdateRule, rng: np.random.Generator) -> UpdateRule:
        """A subtree of ``b`` grafted in place of a subtree of ``a`` (retried until it fits the space),
        and each hyperparameter from either parent."""
        ja, jb = a.to_json(), b.to_json()
        hyper = {k: ja[k] if rng.random() < 0.5 else jb[k] for k in ja if k not in ("expr", "encoding")}
        expr = a.expr
        pa, pb = _paths(a.expr), _paths(b.expr)
        for _ in range(10):
            where = pa[int(rng.integers(len(pa)))]
            graft = _get(b.expr, pb[int(rng.integers(len(pb)))])
            candidate = _set(a.expr, where, graft)
            if (
                expr_depth(candidate) <= self.config.max_depth
                and expr_size(candidate) <= self.config.max_nodes
            ):
                expr = candidate
                break
        return UpdateRule(expr=expr, **hyper)


def _beta(rng: np.random.Generator, smallest: float) -> float:
    """A decay rate: 1 - beta log-uniform over [smallest, 1] (so 0.9, 0.99 and 0.999 are as likely)."""
    return round(float(1 - 10 ** rng.uniform(np.log10(smallest), 0)), 6)


def _ops_in(node: tuple, ops: tuple[str, ...]) -> bool:
    return node[0] in ops and all(_ops_in(c, ops) for c in _children(node))


def _paths(node: tuple, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Every node's path (child indices from the root)."""
    out = [prefix]
    for k, child in enumerate(_children(node)):
        out += _paths(child, (*prefix, k))
    return out


def _get(node: tuple, path: tuple[int, ...]) -> tuple:
    for k in path:
        node = _children(node)[k]
    return node


def _set(node: tuple, path: tuple[int, ...], new: tuple) -> tuple:
    if not path:
        return new
    n_const = 1 + CONSTANTS.get(node[0], 0)
    head, kids = node[:n_const], list(node[n_const:])
    kids[path[0]] = _set(kids[path[0]], path[1:], new)
    return (*head, *kids)
