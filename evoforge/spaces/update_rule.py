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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evoforge.core.genome import register_genome

__all__ = ["UpdateRule", "KNOWN", "ARITY", "CONSTANTS", "known_rule", "expr_depth", "expr_size"]

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
        if data.pop("encoding", cls.encoding) != cls.encoding:
            raise ValueError(f"not an update rule (encoding is not {cls.encoding!r})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "rule"
            msg = first["msg"].removeprefix("Value error, ")
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None

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
        lines.append(f"u = {_render(self.expr, bc and self.momentum == 'ema', bc, self.eps)}")
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


def _render(node: tuple, m_hat: bool, v_hat: bool, eps: float) -> str:
    op = node[0]
    args = [_render(c, m_hat, v_hat, eps) for c in _children(node)]
    if op == "g":
        return "g"
    if op in ("m", "m_prev"):
        name = "m̂" if m_hat else "m"
        return name if op == "m" else f"{name}_prev"
    if op == "norm":
        return f"{args[0]} / (√{'v̂' if v_hat else 'v'} + {eps:g})"
    if op == "sign":
        return f"sign({args[0]})"
    if op == "scale":
        return f"{node[1]:g}·{args[0]}"
    if op == "clip":
        return f"clip({args[0]}, ±{node[1]:g})"
    if op == "add":
        return f"({args[0]} + {args[1]})"
    if op == "mul":
        return f"({args[0]} ⊙ {args[1]})"
    return f"({node[1]:g}·{args[0]} + {1 - node[1]:g}·{args[1]})"  # interp


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
