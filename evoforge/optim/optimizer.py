"""Any :class:`~evoforge.spaces.update_rule.UpdateRule` as a ``torch.optim.Optimizer``.

Every step runs over all parameter tensors of a group at once with torch's ``_foreach`` kernels (one
kernel per operation of the rule, not one per tensor). Values of the expression travel as a list of
tensors and a scalar coefficient, so bias corrections, ``scale`` and the learning rate fold into the
final ``add`` instead of costing a pass over the parameters each; a rule whose root is ``norm`` ends
in one ``addcdiv``, as ``torch.optim.Adam`` does.

With ``fused=True`` the rule is instead traced per tensor and compiled by ``torch.compile``
(Inductor), which fuses the whole update into one pass over each tensor's parameters, gradient and
state: much less memory traffic than a chain of foreach kernels (see BENCHMARKS.md), paid for by a
compilation on the first step (seconds; torch caches it on disk).
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Callable, Iterable
from typing import Any

import torch

from evoforge.spaces.update_rule import CONSTANTS, UpdateRule

__all__ = ["EvolvedOptimizer"]

Value = tuple[list[torch.Tensor], float]


class EvolvedOptimizer(torch.optim.Optimizer):
    """A PyTorch optimizer that applies ``rule`` (a rule, its JSON, or a known name such as "adam").

    ``lr`` overrides the rule's learning rate (a scheduler from ``torch.optim.lr_scheduler`` may change
    it between steps, on top of the rule's own schedule); ``total_steps`` is needed by the step and
    warmup_cosine schedules. The step count (for bias correction and the schedule) is the group's, as
    in the rule's definition: a tensor whose first gradient comes late joins at the group's step,
    where ``torch.optim.Adam`` would count its steps from 1. ``fused`` compiles the rule into one
    kernel per tensor (``torch.compile``; the first step compiles it); the state is the same either
    way, so a state dict moves between the two.

    >>> model = torch.nn.Linear(3, 1)
    >>> opt = EvolvedOptimizer(model.parameters(), "lion", lr=1e-3)
    >>> model(torch.ones(1, 3)).sum().backward(); opt.step()
    """

    def __init__(
        self,
        params: Iterable[Any],
        rule: UpdateRule | dict | str,
        *,
        lr: float | None = None,
        total_steps: int | None = None,
        fused: bool = False,
    ):
        rule = _as_rule(rule)
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        rule.lr_factor(1, total_steps)  # fails now, not at the first step, if the schedule needs steps
        defaults = {
            "rule": rule.to_json(),
            "lr": rule.lr if lr is None else float(lr),
            "total_steps": total_steps,
        }
        super().__init__(params, defaults)
        self._rules: dict[int, tuple[dict, UpdateRule]] = {}
        self.fused = fused

    def _rule(self, group: dict) -> UpdateRule:
        raw = group["rule"]
        cached = self._rules.get(id(group))
        if cached is None or cached[0] is not raw:
            cached = (raw, _as_rule(raw))
            self._rules[id(group)] = cached
        return cached[1]

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("EvolvedOptimizer does not support sparse gradients")
            group["step"] = group.get("step", 0) + 1
            rule = self._rule(group)
            # foreach kernels take tensors of one device and dtype; clipping sees the whole group
            by_kind: dict[tuple, list[torch.Tensor]] = {}
            for p in params:
                by_kind.setdefault((p.device, p.dtype), []).append(p)
            coef = None
            if rule.clip_norm is not None:  # as torch.nn.utils.clip_grad_norm_, without touching .grad
                norms = [n for ps in by_kind.values() for n in torch._foreach_norm([p.grad for p in ps])]
                total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
                coef = torch.clamp(rule.clip_norm / (total + 1e-6), max=1.0)
            for ps in by_kind.values():
                self._step_tensors(group, ps, rule, coef)
        return loss

    def _step_tensors(
        self, group: dict, params: list[torch.Tensor], rule: UpdateRule, coef: torch.Tensor | None
    ) -> None:
        t = group["step"]
        lr = group["lr"] * rule.lr_factor(t, group["total_steps"])
        uses_m, uses_prev, uses_v = rule.uses_m, rule.uses_m_prev, rule.uses_v
        state = [self.state[p] for p in params]
        for s, p in zip(state, params, strict=True):  # a tensor's first gradient may come late
            if (uses_m or uses_prev) and "m" not in s:
                s["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if uses_v and "v" not in s:
                s["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        ema = rule.momentum == "ema"
        correct = rule.bias_correction and ema
        if self.fused:
            scalars = [
                lr,
                1.0 / (1 - rule.beta1**t) if correct else 1.0,
                1.0 / (1 - rule.beta1 ** (t - 1)) if correct and t > 1 else 1.0,
                1.0 / math.sqrt(1 - rule.beta2**t) if rule.bias_correction else 1.0,
            ]
            s = torch.tensor(scalars, dtype=torch.float32, device=params[0].device)
            if coef is not None:
                s = torch.cat([s, coef.reshape(1).to(s)])
            kernel = _kernel(rule)
            for p, st in zip(params, state, strict=True):
                # flattened, every contiguous tensor is a 1-D input of the one dynamic-shape graph
                flat = (lambda x: x.view(-1)) if p.is_contiguous() else (lambda x: x)
                m, v = st.get("m"), st.get("v")
                grad = p.grad.reshape(-1) if p.is_contiguous() else p.grad
                kernel(flat(p), grad, m if m is None else flat(m), v if v is None else flat(v), s)
            return
        grads = [p.grad for p in params]
        if coef is not None:
            grads = torch._foreach_mul(grads, coef.to(params[0].device))
        if rule.l2:  # in place on the clipped copy, else on a new one (.grad is left as it was)
            if rule.clip_norm is not None:
                torch._foreach_add_(grads, params, alpha=rule.l2)
            else:
                grads = torch._foreach_add(grads, params, alpha=rule.l2)
        m = [s["m"] for s in state] if uses_m or uses_prev else []
        prev: list[torch.Tensor] = []
        if uses_prev:
            prev = torch._foreach_mul(m, 1.0) if uses_m else m  # m is updated below only if used
        if uses_m:
            _update_m(m, grads, rule)
        denom: list[torch.Tensor] = []
        if uses_v:
            v = [s["v"] for s in state]
            torch._foreach_mul_(v, rule.beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - rule.beta2)
            denom = torch._foreach_sqrt(v)
            if rule.bias_correction:
                torch._foreach_div_(denom, math.sqrt(1 - rule.beta2**t))
            torch._foreach_add_(denom, rule.eps)
        leaves: dict[str, Value] = {"g": (grads, 1.0)}
        if uses_m:
            leaves["m"] = (m, 1.0 / (1 - rule.beta1**t) if correct else 1.0)
        if uses_prev:
            leaves["m_prev"] = (prev, 1.0 / (1 - rule.beta1 ** (t - 1)) if correct and t > 1 else 1.0)
        if rule.weight_decay:
            torch._foreach_mul_(params, 1 - lr * rule.weight_decay)
        root = rule.expr
        if root[0] == "norm":  # Adam's last step: theta -= lr c x / denom in one kernel
            x, c, _ = _eval(root[1], leaves, denom)
            torch._foreach_addcdiv_(params, x, denom, value=-lr * c)
        else:
            u, c, _ = _eval(root, leaves, denom)
            torch._foreach_add_(params, u, alpha=-lr * c)
        if uses_prev and not uses_m:
            _update_m(m, grads, rule)


_KERNELS: dict[str, Callable] = {}


def _kernel(rule: UpdateRule) -> Callable:
    """The rule as one function of a tensor's (parameters, gradient, m, v, scalars), compiled.

    ``scalars`` holds [lr, m's bias correction, m_prev's, v's (1 / sqrt(1 - beta2^t)), clip
    coefficient]: values that change from step to step are tensor inputs, so one compilation serves
    every step (and, with dynamic shapes over flattened tensors, every tensor size). torch.compile
    traces through the rule's tree, so the compiled kernel holds only the rule's arithmetic."""
    key = json.dumps(rule.to_json(), sort_keys=True)
    if key in _KERNELS:
        return _KERNELS[key]
    ema, b1, b2 = rule.momentum == "ema", rule.beta1, rule.beta2
    uses_moment, uses_v = rule.uses_m or rule.uses_m_prev, rule.uses_v

    def kernel(p, g, m, v, s):
        lr = s[0]
        if rule.clip_norm is not None:
            g = g * s[4]
        if rule.l2:
            g = g + rule.l2 * p
        leaves = {"g": g}
        if rule.uses_m_prev:
            leaves["m_prev"] = m * s[2]
        if uses_moment:
            if ema:
                m.lerp_(g, 1 - b1)
            else:
                m.mul_(b1).add_(g)
            leaves["m"] = m * s[1]
        denom = None
        if uses_v:
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = torch.sqrt(v) * s[3] + rule.eps
        if rule.weight_decay:
            p.mul_(1 - lr * rule.weight_decay)
        p.sub_(lr * _tensor_value(rule.expr, leaves, denom))

    # torch.compile keeps its compilations per code object (a few each): a copy of the code per rule
    # gives every rule its own, instead of all rules sharing, and exhausting, one
    own = types.FunctionType(
        kernel.__code__.replace(), kernel.__globals__, "kernel", None, kernel.__closure__
    )
    _KERNELS[key] = torch.compile(own, dynamic=True, fullgraph=True)
    return _KERNELS[key]


def _tensor_value(node: tuple, leaves: dict[str, torch.Tensor], denom: torch.Tensor | None) -> torch.Tensor:
    """``node`` evaluated on one tensor's leaves, op by op (the fused kernel's tracing source)."""
    op = node[0]
    if op in leaves:
        return leaves[op]
    args = [_tensor_value(child, leaves, denom) for child in node[1 + CONSTANTS.get(op, 0) :]]
    if op == "norm":
        return args[0] / denom
    if op == "sign":
        return torch.sign(args[0])
    if op == "scale":
        return node[1] * args[0]
    if op == "clip":
        return torch.clamp(args[0], -node[1], node[1])
    if op == "add":
        return args[0] + args[1]
    if op == "mul":
        return args[0] * args[1]
    return args[0] * node[1] + args[1] * (1 - node[1])  # interp


def _update_m(m: list[torch.Tensor], grads: list[torch.Tensor], rule: UpdateRule) -> None:
    if rule.momentum == "ema":
        torch._foreach_lerp_(m, grads, 1 - rule.beta1)
    else:  # torch.optim.SGD's buffer: beta1 m + g
        torch._foreach_mul_(m, rule.beta1)
        torch._foreach_add_(m, grads)


def _eval(node: tuple, leaves: dict[str, Value], denom: list[torch.Tensor]) -> tuple[list, float, bool]:
    """The value of ``node`` as (tensors, coefficient, owned): the tensors times the coefficient;
    ``owned`` when the tensors are a temporary of this step that nothing else refers to, so the next
    op may work in place instead of allocating (leaves, which a tree may use twice, never are)."""
    op = node[0]
    if op in leaves:
        return (*leaves[op], False)
    children = [_eval(child, leaves, denom) for child in node[1 + CONSTANTS.get(op, 0) :]]
    if op == "norm":
        x, c, own = children[0]
        if not own:
            return torch._foreach_div(x, denom), c, True
        torch._foreach_div_(x, denom)
        return x, c, True
    if op == "sign":
        x, c, own = children[0]
        c = math.copysign(1.0, c) if c else 0.0
        if not own:
            return torch._foreach_sign(x), c, True
        torch._foreach_sign_(x)
        return x, c, True
    if op == "scale":
        x, c, own = children[0]
        return x, c * node[1], own
    if op == "clip":
        x, c, own = children[0]
        if c == 0:
            return x, 0.0, own
        bound = node[1] / abs(c)
        out = x if own else torch._foreach_clamp_max(x, bound)
        if own:
            torch._foreach_clamp_max_(out, bound)
        torch._foreach_clamp_min_(out, -bound)
        return out, c, True
    (x, cx, own_x), (y, cy, own_y) = children
    if op == "mul":
        if own_x or own_y:
            out, other = (x, y) if own_x else (y, x)
            torch._foreach_mul_(out, other)
            return out, cx * cy, True
        return torch._foreach_mul(x, y), cx * cy, True
    if op == "add":
        if cx == 0:
            return y, cy, own_y
        if own_x:
            torch._foreach_add_(x, y, alpha=cy / cx)
            return x, cx, True
        if not own_y:
            return torch._foreach_add(x, y, alpha=cy / cx), cx, True
        if cy == 0:
            return x, cx, own_x
        torch._foreach_add_(y, x, alpha=cx / cy)
        return y, cy, True
    # interp: w x + (1 - w) y, in the order of Lion's reference (m * beta1 + g * (1 - beta1)); IEEE
    # addition commutes, so starting from an owned y gives the same bits
    w = node[1]
    if own_y and not own_x:
        torch._foreach_mul_(y, (1 - w) * cy)
        torch._foreach_add_(y, x, alpha=w * cx)
        return y, 1.0, True
    if own_x:
        torch._foreach_mul_(x, w * cx)
        out = x
    else:
        out = torch._foreach_mul(x, w * cx)
    torch._foreach_add_(out, y, alpha=(1 - w) * cy)
    return out, 1.0, True


def _as_rule(rule: UpdateRule | dict | str) -> UpdateRule:
    from evoforge.spaces.update_rule import known_rule

    if isinstance(rule, UpdateRule):
        return rule
    if isinstance(rule, str):
        return known_rule(rule)
    return UpdateRule.from_json(rule)
