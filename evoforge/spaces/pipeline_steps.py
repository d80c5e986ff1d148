"""The scikit-learn steps a pipeline genome chooses from, each with its typed hyperparameters.

A pipeline has six slots, in this order: numeric imputation, categorical encoding, scaling, feature
selection, feature extraction and the model (selection comes first, so it always chooses among the
table's own columns and never selects nothing). Every slot has a catalogue of steps; a step names its
scikit-learn class, the hyperparameters evolution may set (with their ranges) and the ones fixed for
speed or safety, and when it applies (the task, the table's shape, whether the metric needs
probabilities, whether an optional library is installed). What does not apply to a table is never
offered, so no genome of the space builds a pipeline that cannot fit: the space prevents invalid
combinations rather than catching them afterwards.

scikit-learn, LightGBM and XGBoost are imported only when a pipeline is built.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evoforge.spaces.params import Choice, Float, Int, Spec

__all__ = ["SLOTS", "STARTS", "STEPS", "Facts", "Float", "Int", "Choice", "Step", "Make", "Ref", "steps_for"]

SLOTS = ("impute", "encode", "scale", "select", "extract", "model")
Task = Literal["classification", "regression"]


# -- what a table offers -------------------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """What the space needs to know of a table to offer only steps that fit it."""

    task: Task
    samples: int  # rows a candidate is fitted on (one cross-validation training fold)
    numeric: int  # numeric columns
    categorical: int  # string (or categorical) columns
    encoded: int  # columns after one-hot encoding (an upper bound)
    classes: int = 0  # classification: number of classes
    proba: bool = False  # the metric scores probabilities (ROC AUC, log loss)
    installed: frozenset[str] = field(default_factory=frozenset)  # optional libraries available

    @property
    def columns(self) -> int:
        """Columns entering selection, at fewest (one per string column when ordinal-encoded)."""
        return self.numeric + self.categorical

    @staticmethod
    def optional_libraries() -> frozenset[str]:
        return frozenset(name for name in ("lightgbm", "xgboost") if importlib.util.find_spec(name))


@dataclass(frozen=True)
class Step:
    """One choice for a slot: ``build(params, facts, seed)`` describes the scikit-learn object (a
    :class:`Make`, or None for a slot left empty)."""

    name: str
    slot: str
    params: dict[str, Spec]
    build: Callable[[dict[str, Any], Facts, int], Make | None]
    applies: Callable[[Facts], bool] = lambda facts: True
    #: whether the step is a real transformation (counts toward a pipeline's size)
    active: bool = True
    #: the library's own defaults, as hyperparameters of this space, for a model a search starts
    #: from (:data:`STARTS`); None for steps that are not such a start
    defaults: Callable[[Facts], dict[str, Any]] | None = None

    def sample(self, rng: np.random.Generator, facts: Facts) -> dict[str, Any]:
        return {k: self.spec(k, facts).sample(rng) for k in sorted(self.params)}

    def spec(self, name: str, facts: Facts) -> Spec:
        """The range of hyperparameter ``name`` for this table (a few shrink with the table)."""
        spec = self.params[name]
        if isinstance(spec, Int) and name in ("n_neighbors", "n_components"):
            return Int(spec.lo, max(spec.lo, min(spec.hi, facts.samples - 1)), spec.log)
        if isinstance(spec, Int) and name == "percentile":  # keep at least one of the table's columns
            return Int(max(spec.lo, math.ceil(100 / facts.columns)), spec.hi, spec.log)
        return spec


@dataclass(frozen=True)
class Ref:
    """A module-level object by its path (``"package.module:name"``)."""

    path: str

    def resolve(self) -> Any:
        module, _, name = self.path.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Make:
    """A scikit-learn object to build: its class and keyword arguments (which may hold further
    ``Make`` and ``Ref`` values). The same description builds the object (:meth:`build`) and writes it
    as Python source (``evoforge.spaces.pipeline.python_source``), so the two cannot disagree.
    ``requires`` names modules that must be imported first (scikit-learn's experimental switches)."""

    path: str
    kwargs: dict[str, Any]
    requires: tuple[str, ...] = ()

    def build(self) -> Any:
        for module in self.requires:
            importlib.import_module(module)
        return Ref(self.path).resolve()(**{k: _built(v) for k, v in self.kwargs.items()})


def _built(value: Any) -> Any:
    if isinstance(value, Make):
        return value.build()
    if isinstance(value, Ref):
        return value.resolve()
    if isinstance(value, list):
        return [_built(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_built(v) for v in value)
    return value


def _new(path: str, **kwargs: Any) -> Make:
    return Make(path, kwargs)


def _none(params: dict[str, Any], facts: Facts, seed: int) -> Make | None:
    return None


# -- the catalogue -------------------------------------------------------------------------------
def _imputers() -> list[Step]:
    return [
        Step(
            "mean",
            "impute",
            {},
            lambda p, f, s: _new("sklearn.impute:SimpleImputer", strategy="mean"),
            active=False,
        ),
        Step(
            "median",
            "impute",
            {},
            lambda p, f, s: _new("sklearn.impute:SimpleImputer", strategy="median"),
            active=False,
        ),
        Step(
            "knn",
            "impute",
            {"n_neighbors": Int(2, 15), "weights": Choice(("uniform", "distance"))},
            lambda p, f, s: _new("sklearn.impute:KNNImputer", **p),
            applies=lambda f: f.numeric > 0,
        ),
        Step(
            "iterative",
            "impute",
            {"max_iter": Int(3, 15)},
            lambda p, f, s: _iterative(p, s),
            # a model per column and round: only for tables of modest width
            applies=lambda f: 0 < f.numeric <= 50,
        ),
    ]


def _iterative(params: dict[str, Any], seed: int) -> Make:
    return Make(
        "sklearn.impute:IterativeImputer",
        {"max_iter": params["max_iter"], "random_state": seed},
        requires=("sklearn.experimental.enable_iterative_imputer",),
    )


def _encoders() -> list[Step]:
    return [
        Step("none", "encode", {}, _none, applies=lambda f: f.categorical == 0, active=False),
        Step(
            "onehot",
            "encode",
            {"min_frequency": Choice((None, 5, 20))},
            lambda p, f, s: _new(
                "sklearn.preprocessing:OneHotEncoder",
                handle_unknown="infrequent_if_exist",
                min_frequency=p["min_frequency"],
                sparse_output=False,
            ),
            applies=lambda f: f.categorical > 0,
        ),
        Step(
            "ordinal",
            "encode",
            {},
            lambda p, f, s: _new(
                "sklearn.preprocessing:OrdinalEncoder",
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                encoded_missing_value=-2,
            ),
            applies=lambda f: f.categorical > 0,
        ),
    ]


def _scalers() -> list[Step]:
    return [
        Step("none", "scale", {}, _none, active=False),
        Step("standard", "scale", {}, lambda p, f, s: _new("sklearn.preprocessing:StandardScaler")),
        Step("robust", "scale", {}, lambda p, f, s: _new("sklearn.preprocessing:RobustScaler")),
        Step(
            "quantile",
            "scale",
            {"output_distribution": Choice(("uniform", "normal"))},
            lambda p, f, s: _new(
                "sklearn.preprocessing:QuantileTransformer",
                n_quantiles=max(10, min(1000, f.samples)),
                output_distribution=p["output_distribution"],
                random_state=s,
            ),
        ),
    ]


#: most features polynomial expansion may produce (degree 2 of n features makes n(n+3)/2)
MAX_POLYNOMIAL_FEATURES = 800


def _extractors() -> list[Step]:
    return [
        Step("none", "extract", {}, _none, active=False),
        Step(
            "pca",
            "extract",
            {"variance": Float(0.5, 0.99), "whiten": Choice((False, True))},
            lambda p, f, s: _new(
                "sklearn.decomposition:PCA", n_components=p["variance"], whiten=p["whiten"], random_state=s
            ),
            applies=lambda f: f.encoded >= 2,
        ),
        Step(
            "polynomial",
            "extract",
            {"interaction_only": Choice((False, True))},
            lambda p, f, s: _new(
                "sklearn.preprocessing:PolynomialFeatures",
                degree=2,
                interaction_only=p["interaction_only"],
                include_bias=False,
            ),
            applies=lambda f: f.encoded * (f.encoded + 3) // 2 <= MAX_POLYNOMIAL_FEATURES,
        ),
        Step(
            "nystroem",
            "extract",
            {
                "kernel": Choice(("rbf", "poly", "sigmoid")),
                "gamma": Float(1e-3, 1.0, log=True),
                "n_components": Int(10, 300, log=True),
            },
            lambda p, f, s: _new(
                "sklearn.kernel_approximation:Nystroem",
                kernel=p["kernel"],
                gamma=p["gamma"],
                n_components=p["n_components"],
                random_state=s,
            ),
            applies=lambda f: f.samples > 10,
        ),
        Step(
            "rbf_sampler",
            "extract",
            {"gamma": Float(1e-3, 1.0, log=True), "n_components": Int(10, 300, log=True)},
            lambda p, f, s: _new(
                "sklearn.kernel_approximation:RBFSampler",
                gamma=p["gamma"],
                n_components=p["n_components"],
                random_state=s,
            ),
        ),
    ]


def _selectors() -> list[Step]:
    return [
        Step("none", "select", {}, _none, active=False),
        # constant columns only: a threshold above 0 depends on the scaling and can remove every column
        Step(
            "variance",
            "select",
            {},
            lambda p, f, s: _new("sklearn.feature_selection:VarianceThreshold", threshold=0.0),
        ),
        Step(
            "univariate",
            "select",
            {"percentile": Int(10, 100)},
            lambda p, f, s: _new(
                "sklearn.feature_selection:SelectPercentile",
                score_func=_univariate(f.task),
                percentile=p["percentile"],
            ),
            applies=lambda f: f.columns >= 2,
        ),
        Step(
            "model",
            "select",
            {"threshold": Choice(("mean", "median", "0.5*mean")), "n_estimators": Int(20, 100)},
            lambda p, f, s: _new(
                "sklearn.feature_selection:SelectFromModel",
                estimator=_new(
                    "sklearn.ensemble:ExtraTreesClassifier"
                    if f.task == "classification"
                    else "sklearn.ensemble:ExtraTreesRegressor",
                    n_estimators=p["n_estimators"],
                    random_state=s,
                    n_jobs=1,
                ),
                threshold=p["threshold"],
            ),
        ),
    ]


def _univariate(task: Task) -> Ref:
    return Ref("sklearn.feature_selection:" + ("f_classif" if task == "classification" else "f_regression"))


_TREES: dict[str, Spec] = {
    "n_estimators": Int(50, 500, log=True),
    "max_features": Choice(("sqrt", "log2", 0.25, 0.5, 0.75, 1.0)),
    "min_samples_leaf": Int(1, 20, log=True),
    "min_samples_split": Int(2, 20, log=True),
    "bootstrap": Choice((False, True)),
}
_BOOSTING: dict[str, Spec] = {
    "learning_rate": Float(0.01, 0.5, log=True),
    "max_leaf_nodes": Int(4, 128, log=True),
    "min_samples_leaf": Int(2, 100, log=True),
    "l2_regularization": Float(1e-6, 10.0, log=True),
    "max_iter": Int(50, 500, log=True),
}
_LIGHTGBM: dict[str, Spec] = {
    "n_estimators": Int(50, 500, log=True),
    "learning_rate": Float(0.01, 0.5, log=True),
    "num_leaves": Int(4, 128, log=True),
    "min_child_samples": Int(2, 100, log=True),
    "subsample": Float(0.5, 1.0),
    "colsample_bytree": Float(0.3, 1.0),
    "reg_lambda": Float(1e-6, 10.0, log=True),
}
_XGBOOST: dict[str, Spec] = {
    "n_estimators": Int(50, 500, log=True),
    "learning_rate": Float(0.01, 0.5, log=True),
    "max_depth": Int(2, 10),
    "min_child_weight": Float(0.5, 20.0, log=True),
    "subsample": Float(0.5, 1.0),
    "colsample_bytree": Float(0.3, 1.0),
    "reg_lambda": Float(1e-6, 10.0, log=True),
}
#: scikit-learn's forest defaults (max_features and criterion differ by task)
_FOREST: dict[str, Any] = {
    "n_estimators": 100,
    "min_samples_leaf": 1,
    "min_samples_split": 2,
    "bootstrap": True,
}


def _gamma(facts: Facts) -> float:
    """scikit-learn's ``gamma="scale"`` on standardised columns (1 / their number), in range."""
    return float(min(1.0, max(1e-4, round(1.0 / max(facts.encoded, 1), 4))))


_KNN: dict[str, Spec] = {
    "n_neighbors": Int(1, 50, log=True),
    "weights": Choice(("uniform", "distance")),
    "p": Choice((1, 2)),
}


def _for_task(facts: Facts, stem: str) -> str:
    """``stem`` + Classifier or Regressor, as the table's task asks."""
    return stem + ("Classifier" if facts.task == "classification" else "Regressor")


def _lightgbm(task: Task, p: dict[str, Any], seed: int) -> Make:
    cls = "lightgbm:LGBMClassifier" if task == "classification" else "lightgbm:LGBMRegressor"
    # bagging needs a frequency to take effect; one thread per worker; no chatter
    return _new(cls, **p, subsample_freq=1, random_state=seed, n_jobs=1, verbose=-1)


def _xgboost(task: Task, p: dict[str, Any], seed: int) -> Make:
    cls = "xgboost:XGBClassifier" if task == "classification" else "xgboost:XGBRegressor"
    return _new(cls, **p, random_state=seed, n_jobs=1, verbosity=0)


def _models() -> list[Step]:
    def clf(f: Facts) -> bool:
        return f.task == "classification"

    def reg(f: Facts) -> bool:
        return f.task == "regression"

    return [
        # classification
        Step(
            "logistic_regression",
            "model",
            {"C": Float(1e-4, 1e4, log=True), "class_weight": Choice((None, "balanced"))},
            lambda p, f, s: _new("sklearn.linear_model:LogisticRegression", **p, max_iter=2000),
            applies=clf,
            defaults=lambda f: {"C": 1.0, "class_weight": None},
        ),
        Step(
            "svc",
            "model",
            {
                "C": Float(1e-3, 1e3, log=True),
                "kernel": Choice(("rbf", "poly", "linear")),
                "gamma": Float(1e-4, 1.0, log=True),
                "class_weight": Choice((None, "balanced")),
            },
            # probabilities (Platt scaling, five times the fitting) only where the metric needs them
            lambda p, f, s: _new(
                "sklearn.svm:SVC", **p, degree=2, probability=f.proba, random_state=s, cache_size=500
            ),
            applies=lambda f: clf(f) and f.samples <= 20_000,
            defaults=lambda f: {"C": 1.0, "kernel": "rbf", "gamma": _gamma(f), "class_weight": None},
        ),
        Step(
            "random_forest",
            "model",
            {**_TREES, "criterion": Choice(("gini", "entropy"))},
            lambda p, f, s: _new("sklearn.ensemble:RandomForestClassifier", **p, random_state=s, n_jobs=1),
            applies=clf,
            defaults=lambda f: {**_FOREST, "max_features": "sqrt", "criterion": "gini"},
        ),
        Step(
            "extra_trees",
            "model",
            {**_TREES, "criterion": Choice(("gini", "entropy"))},
            lambda p, f, s: _new("sklearn.ensemble:ExtraTreesClassifier", **p, random_state=s, n_jobs=1),
            applies=clf,
        ),
        # regression
        Step(
            "ridge",
            "model",
            {"alpha": Float(1e-4, 1e4, log=True)},
            lambda p, f, s: _new("sklearn.linear_model:Ridge", **p),
            applies=reg,
            defaults=lambda f: {"alpha": 1.0},
        ),
        Step(
            "svr",
            "model",
            {
                "C": Float(1e-3, 1e3, log=True),
                "epsilon": Float(1e-3, 1.0, log=True),
                "kernel": Choice(("rbf", "poly", "linear")),
                "gamma": Float(1e-4, 1.0, log=True),
            },
            lambda p, f, s: _new("sklearn.svm:SVR", **p, degree=2, cache_size=500),
            applies=lambda f: reg(f) and f.samples <= 20_000,
            defaults=lambda f: {"C": 1.0, "epsilon": 0.1, "kernel": "rbf", "gamma": _gamma(f)},
        ),
        Step(
            "random_forest",
            "model",
            _TREES,
            lambda p, f, s: _new("sklearn.ensemble:RandomForestRegressor", **p, random_state=s, n_jobs=1),
            applies=reg,
            defaults=lambda f: {**_FOREST, "max_features": 1.0},
        ),
        Step(
            "extra_trees",
            "model",
            _TREES,
            lambda p, f, s: _new("sklearn.ensemble:ExtraTreesRegressor", **p, random_state=s, n_jobs=1),
            applies=reg,
        ),
        # either task: the class follows the task
        Step(
            "knn",
            "model",
            _KNN,
            lambda p, f, s: _new(_for_task(f, "sklearn.neighbors:KNeighbors"), **p),
        ),
        Step(
            "hist_gradient_boosting",
            "model",
            _BOOSTING,
            lambda p, f, s: _new(_for_task(f, "sklearn.ensemble:HistGradientBoosting"), **p, random_state=s),
            # scikit-learn's defaults but l2_regularization, whose 0 lies below the range (1e-6)
            defaults=lambda f: {
                "learning_rate": 0.1,
                "max_leaf_nodes": 31,
                "min_samples_leaf": 20,
                "l2_regularization": 1e-6,
                "max_iter": 100,
            },
        ),
        # either task, where the library is installed
        Step(
            "lightgbm",
            "model",
            _LIGHTGBM,
            lambda p, f, s: _lightgbm(f.task, p, s),
            applies=lambda f: "lightgbm" in f.installed,
        ),
        Step(
            "xgboost",
            "model",
            _XGBOOST,
            lambda p, f, s: _xgboost(f.task, p, s),
            applies=lambda f: "xgboost" in f.installed,
        ),
    ]


#: the pipelines a search starts from, by task: the untuned defaults users compare against (a scaled
#: linear model, a scaled SVM, a random forest, gradient boosting), as (model, scaler) pairs; the
#: other slots take median imputation, one-hot encoding of string columns and no selection or
#: extraction
STARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "classification": (
        ("logistic_regression", "standard"),
        ("svc", "standard"),
        ("random_forest", "none"),
        ("hist_gradient_boosting", "none"),
    ),
    "regression": (
        ("ridge", "standard"),
        ("svr", "standard"),
        ("random_forest", "none"),
        ("hist_gradient_boosting", "none"),
    ),
}

#: every step of every slot (a slot's steps for one table: :func:`steps_for`)
STEPS: dict[str, list[Step]] = {
    "impute": _imputers(),
    "encode": _encoders(),
    "scale": _scalers(),
    "extract": _extractors(),
    "select": _selectors(),
    "model": _models(),
}


def steps_for(slot: str, facts: Facts) -> dict[str, Step]:
    """The steps of ``slot`` that fit a table with these facts, by name."""
    return {step.name: step for step in STEPS[slot] if step.applies(facts)}
