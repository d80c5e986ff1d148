"""Update rules as optimizers: the hand-designed ones reproduce torch.optim (and Lion its paper's
pseudo-code) step for step; rules survive JSON and state-dict round trips."""

import json

import pytest
import torch

from evoforge.optim import EvolvedOptimizer, known_rule, load
from evoforge.spaces.update_rule import UpdateRule


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()


def _trajectory(make_optimizer, steps=60, scheduler=None):
    """Parameters after each of ``steps`` full-batch steps of a small regression, float64."""
    model = _model()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    opt = make_optimizer(model.parameters())
    sched = scheduler(opt) if scheduler else None
    out = []
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched:
            sched.step()
        out.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    return torch.stack(out)


class LionReference(torch.optim.Optimizer):
    """Lion as written in Chen et al. 2023, Algorithm 2 (and the paper's Program 1)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                update = exp_avg * beta1 + p.grad * (1 - beta1)
                p.add_(torch.sign(update), alpha=-group["lr"])
                exp_avg.mul_(beta2).add_(p.grad, alpha=1 - beta2)


class SignSGDReference(torch.optim.Optimizer):
    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(torch.sign(p.grad), alpha=-group["lr"])


REFERENCES = {
    "sgd": (known_rule("sgd", lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "sgd_momentum": (
        known_rule("sgd_momentum", lr=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd_momentum_l2": (
        known_rule("sgd_momentum", lr=0.05, l2=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
    ),
    "nesterov": (
        known_rule("nesterov", lr=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (known_rule("adam", lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam_l2": (
        known_rule("adam", lr=0.01, l2=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    "adamw": (
        known_rule("adamw", lr=0.01, weight_decay=0.1, beta1=0.8, beta2=0.99, eps=1e-6),
        lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "rmsprop": (known_rule("rmsprop", lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    "signsgd": (known_rule("signsgd", lr=0.01), lambda p: SignSGDReference(p, lr=0.01)),
    "lion": (
        known_rule("lion", lr=1e-3, weight_decay=0.5),
        lambda p: LionReference(p, lr=1e-3, weight_decay=0.5),
    ),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_known_rules_reproduce_their_reference_step_for_step(name):
    rule, reference = REFERENCES[name]
    ours = _trajectory(lambda p: EvolvedOptimizer(p, rule))
    theirs = _trajectory(reference)
    assert not torch.equal(ours[0], ours[-1])  # it did train
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6), (ours - theirs).abs().max()


def test_a_torch_scheduler_scales_the_rule_as_it_scales_adam():
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)  # noqa: E731
    ours = _trajectory(lambda p: EvolvedOptimizer(p, "adam", lr=0.01), scheduler=sched)
    theirs = _trajectory(lambda p: torch.optim.Adam(p, lr=0.01), scheduler=sched)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6)


def test_warmup_cosine_matches_adam_under_the_same_lambda_schedule():
    rule = known_rule("adam", lr=0.01, schedule="warmup_cosine", warmup=0.1)
    total = 60

    def factor(k):  # LambdaLR calls it with the number of steps taken; the rule counts from 1
        return rule.lr_factor(k + 1, total)

    ours = _trajectory(lambda p: EvolvedOptimizer(p, rule, total_steps=total), steps=total)
    theirs = _trajectory(
        lambda p: torch.optim.Adam(p, lr=0.01),
        steps=total,
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor),
    )
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6)
    assert [rule.lr_factor(t, 100) for t in (1, 5, 10)] == [0.1, 0.5, 1.0]
    assert rule.lr_factor(100, 100) == pytest.approx(0.0, abs=1e-12)
    step = known_rule("sgd", schedule="step")
    assert [step.lr_factor(t, 100) for t in (50, 51, 75, 76)] == pytest.approx([1, 0.1, 0.1, 0.01])


def test_gradient_clipping_matches_clip_grad_norm():
    def clipped_sgd(params):
        params = list(params)
        opt = torch.optim.SGD(params, lr=0.05)
        step = opt.step

        def clip_then_step():
            torch.nn.utils.clip_grad_norm_(params, 0.1)
            step()

        opt.step = clip_then_step
        return opt

    ours = _trajectory(lambda p: EvolvedOptimizer(p, known_rule("sgd", lr=0.05, clip_norm=0.1)))
    assert torch.allclose(ours, _trajectory(clipped_sgd), rtol=0, atol=1e-6)


def test_state_dict_round_trip_continues_exactly(tmp_path):
    rule = known_rule("lion", lr=1e-3)
    whole = _trajectory(lambda p: EvolvedOptimizer(p, rule), steps=20)[-1]
    model = _model()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    opt = EvolvedOptimizer(model.parameters(), rule)
    for k in range(20):
        if k == 10:  # save, rebuild both from disk without pickle, continue
            torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
            saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
            model = _model()
            model.load_state_dict(saved["model"])
            opt = EvolvedOptimizer(model.parameters(), "sgd")  # the saved rule replaces this one
            opt.load_state_dict(saved["opt"])
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert torch.equal(torch.cat([p.detach().flatten() for p in model.parameters()]), whole)


def test_rule_json_round_trip_and_load(tmp_path):
    rule = UpdateRule(
        expr=[
            "add",
            ["sign", ["m"]],
            ["scale", 0.5, ["clip", 1.0, ["norm", ["interp", 0.3, ["m_prev"], ["g"]]]]],
        ],
        beta1=0.95,
        schedule="warmup_cosine",
        warmup=0.05,
        clip_norm=2.0,
    )
    assert UpdateRule.from_json(json.loads(json.dumps(rule.to_json()))) == rule
    path = tmp_path / "best_optimizer.json"
    path.write_text(json.dumps(rule.to_json()))
    factory = load(path, total_steps=100)
    assert factory.rule == rule
    a = _trajectory(lambda p: factory(p), steps=30)
    b = _trajectory(lambda p: EvolvedOptimizer(p, rule, total_steps=100), steps=30)
    assert torch.equal(a, b) and torch.isfinite(a).all()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expr": ["sign", ["h"]]}, "expr.1: unknown op 'h'"),
        ({"expr": ["add", ["g"]]}, "expr: add takes 0 constant(s) and 2 child(ren)"),
        ({"expr": ["clip", -1, ["g"]]}, "expr.1: clip's bound must be > 0"),
        ({"expr": ["scale", "x", ["g"]]}, "expr.1: scale's constant must be a finite number"),
        ({"expr": ["g"], "beta1": 1.5}, "beta1: Input should be less than 1"),
        ({"expr": ["g"], "speed": 2}, "speed: Extra inputs are not permitted"),
        ({"encoding": "chain", "expr": ["g"]}, "not an update rule"),
    ],
)
def test_bad_rules_name_the_problem(data, message):
    with pytest.raises(ValueError) as err:
        UpdateRule.from_json(data)
    assert str(err.value).startswith(message)


def test_a_schedule_without_total_steps_fails_at_construction():
    with pytest.raises(ValueError, match="the warmup_cosine schedule needs total_steps"):
        EvolvedOptimizer(_model().parameters(), known_rule("adam", schedule="warmup_cosine"))


# -- the search space and the exported source ---------------------------------------------------------
def test_random_mutated_and_crossed_rules_stay_in_the_space_and_use_every_op():
    import numpy as np

    from evoforge.spaces.update_rule import ARITY, RuleSpace, RuleSpaceConfig, expr_depth, expr_size

    space = RuleSpace(RuleSpaceConfig(max_depth=3, max_nodes=6))
    rng = np.random.default_rng(0)
    rules = [space.sample(rng) for _ in range(200)]
    seen = set()
    for k, rule in enumerate(rules):
        child = space.mutate(rule, rng)
        cross = space.crossover(rule, rules[k - 1], rng)
        for r in (rule, child, cross):
            assert expr_depth(r.expr) <= 3 and expr_size(r.expr) <= 6
            assert UpdateRule.from_json(r.to_json()) == r  # every genome is valid JSON of a rule
            seen |= {n for n in json.dumps(r.to_json()["expr"]).split('"') if n in ARITY}
        assert child.content_bytes() != rule.content_bytes()
    assert seen == set(ARITY)
    assert len({json.dumps(r.to_json()) for r in rules}) == len(rules)
    limited = RuleSpace(RuleSpaceConfig(ops=("g", "sign", "scale"), known_fraction=1.0))
    drawn = {limited.sample(rng) for _ in range(20)}
    assert drawn == {known_rule("sgd"), known_rule("signsgd")}  # the hand-designed rules of those ops
    with pytest.raises(ValueError, match="at least one leaf"):
        RuleSpaceConfig(ops=("sign", "add"))


def test_the_exported_source_trains_as_the_optimizer_does(tmp_path):
    import importlib.util

    import numpy as np

    from evoforge.spaces.update_rule import RuleSpace

    space = RuleSpace()
    rng = np.random.default_rng(3)
    rules = [known_rule("lion", clip_norm=0.5, schedule="warmup_cosine", warmup=0.2)]
    rules += [known_rule("adam", l2=1e-3, schedule="step"), known_rule("nesterov", weight_decay=0.01)]
    rules += [space.sample(rng).replace(lr=1e-3) for _ in range(40)]
    moved = 0
    for k, rule in enumerate(rules):
        path = tmp_path / f"rule{k}.py"
        path.write_text(rule.python_source("Found"))
        spec = importlib.util.spec_from_file_location(f"rule{k}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ours = _trajectory(lambda p: EvolvedOptimizer(p, rule, total_steps=10), steps=10)  # noqa: B023
        theirs = _trajectory(lambda p: module.Found(p, total_steps=10), steps=10)  # noqa: B023
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-6, equal_nan=True), (rule.expr, k)
        moved += bool(torch.isfinite(ours[-1]).all() and not torch.equal(ours[0], ours[-1]))
    assert moved >= 30


def test_tensors_of_mixed_dtypes_step_as_on_their_own_and_late_gradients_get_state():
    gen = torch.Generator().manual_seed(0)
    a = torch.nn.Parameter(torch.randn(4, generator=gen, dtype=torch.float64))
    b = torch.nn.Parameter(torch.randn(3, generator=gen, dtype=torch.float32))
    a2, b2 = (torch.nn.Parameter(t.detach().clone()) for t in (a, b))
    together = EvolvedOptimizer([a, b], "adam", lr=0.1)
    alone = [EvolvedOptimizer([a2], "adam", lr=0.1), EvolvedOptimizer([b2], "adam", lr=0.1)]
    for _ in range(5):
        for pa, pb, opts in ((a, b, [together]), (a2, b2, alone)):
            for opt in opts:
                opt.zero_grad()
            ((pa**2).sum() + ((pb.double() - 1) ** 2).sum()).backward()
            for opt in opts:
                opt.step()
    assert torch.equal(a, a2) and torch.equal(b, b2) and b.dtype == torch.float32
    assert together.state[b]["m"].dtype == torch.float32
    late = torch.nn.Parameter(torch.ones(2))  # no gradient at first; the step count is the group's
    opt = EvolvedOptimizer([a, late], "adam", lr=0.1)
    for k in range(3):
        opt.zero_grad()
        ((a**2).sum() + (late.sum() if k == 2 else 0)).backward()
        opt.step()
    assert "m" in opt.state[late] and torch.all(late < 1)


BUSY = UpdateRule(  # every part of a rule: clipping, L2, both moments, m_prev, every op, decay, schedule
    expr=[
        "add",
        ["norm", ["m"]],
        ["scale", 0.1, ["sign", ["interp", 0.9, ["m_prev"], ["mul", ["clip", 1.0, ["g"]], ["g"]]]]],
    ],
    bias_correction=True,
    weight_decay=1e-2,
    l2=1e-3,
    clip_norm=0.5,
    schedule="warmup_cosine",
    warmup=0.2,
)


@pytest.mark.parametrize("rule", [BUSY, known_rule("nesterov")], ids=["busy", "nesterov"])
def test_the_fused_compiled_rule_steps_as_the_foreach_one(rule):
    def trajectory(fused):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
        model[2].weight = torch.nn.Parameter(torch.randn(3, 16).t().contiguous().t())  # not contiguous
        assert not model[2].weight.is_contiguous()
        x, y = torch.randn(32, 5), torch.randn(32, 3)
        opt = EvolvedOptimizer(model.parameters(), rule, lr=1e-2, total_steps=30, fused=fused)
        out = []
        for _ in range(30):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        return torch.stack(out), opt.state_dict()

    fused, fused_state = trajectory(True)
    plain, plain_state = trajectory(False)
    assert (fused - plain).abs().max() < 1e-6 and (fused[-1] - fused[0]).abs().max() > 1e-2
    assert fused_state["state"].keys() == plain_state["state"].keys()
    for k, s in plain_state["state"].items():
        assert s.keys() == fused_state["state"][k].keys()
        for name in s:
            assert torch.allclose(s[name], fused_state["state"][k][name], atol=1e-6)


def test_every_fused_rule_gets_its_own_compilations(monkeypatch):
    # torch.compile allows a few compilations per code object; rules must not share them
    import torch._dynamo.config

    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    for rule in (known_rule("lion"), known_rule("adam"), known_rule("sgd_momentum")):
        p = torch.nn.Parameter(torch.ones(4))
        opt = EvolvedOptimizer([p], rule, lr=0.1, fused=True)
        p.grad = torch.full((4,), 0.5)
        opt.step()
        assert torch.all(p < 1)
