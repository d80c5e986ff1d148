"""A cheap performance predictor for early stopping: sequential regression models (Baker et al. 2017,
"Accelerating Neural Architecture Search using Performance Prediction", section 3).

For each epoch t, a nu-SVR with an RBF kernel predicts a candidate's final validation score from the
first t points of its validation curve, their first and second differences, and features of the
candidate that training does not change (log parameters, log FLOPs, log learning rate). It is fitted
on the candidates that completed their proxy; its miss is estimated by 5-fold cross-validated
residuals on the same candidates. A candidate is hopeless when even its prediction plus ``z`` times
that miss falls below the k-th best completed score (section 3.2: stop when the predicted probability
of beating the best so far is below a threshold; z = 1.645 is 5% under Gaussian residuals).

scikit-learn's ``NuSVR`` and ``cross_val_predict`` do the fitting: the predictor here is only the
features and the rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["CurvePredictor", "static_features"]


def static_features(params: float, flops: float, lr: float) -> np.ndarray:
    """The features of a candidate that its training does not change."""
    return np.array([math.log10(max(params, 1.0)), math.log10(max(flops, 1.0)), math.log10(lr)])


def _features(curves: np.ndarray, static: np.ndarray, t: int) -> np.ndarray:
    """Rows of (first t curve points, their first and second differences, static features)."""
    head = curves[:, :t]
    parts = [head, np.diff(head, axis=1), np.diff(head, n=2, axis=1), static]
    return np.hstack([p for p in parts if p.shape[1]])


class CurvePredictor:
    """Per-epoch regressions from partial learning curves to final scores, fitted on ``curves``
    (completed candidates' full curves, one row each, the final score last) and ``static`` (their
    :func:`static_features`).

    >>> rng = np.random.default_rng(0)
    >>> final = rng.uniform(0.5, 1.0, 60)
    >>> curves = np.stack([final * 0.6, final * 0.8, final], axis=1) + rng.normal(0, 0.01, (60, 3))
    >>> static = rng.normal(size=(60, 3))
    >>> predictor = CurvePredictor(curves, static)
    >>> mean, miss = predictor.predict(1, np.array([0.54]), static[0])
    >>> abs(mean - 0.9) < 0.05, miss < 0.05
    (True, True)
    """

    def __init__(self, curves: np.ndarray, static: np.ndarray):
        self.curves = np.asarray(curves, dtype=np.float64)
        self.static = np.asarray(static, dtype=np.float64)
        self._models: dict[int, tuple[Any, float]] = {}

    def _model(self, t: int) -> tuple[Any, float]:
        if t not in self._models:
            from sklearn.model_selection import KFold, cross_val_predict
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            from sklearn.svm import NuSVR

            x, y = _features(self.curves, self.static, t), self.curves[:, -1]
            # scores differ in their second decimal: the targets are standardised, like the features
            centre, scale = float(y.mean()), float(y.std()) or 1.0
            model = make_pipeline(StandardScaler(), NuSVR(kernel="rbf", nu=0.5, C=1.0))
            folds = KFold(n_splits=min(5, len(y)))
            fitted = cross_val_predict(model, x, (y - centre) / scale, cv=folds) * scale + centre
            miss = float(np.sqrt(np.mean((fitted - y) ** 2)))
            model.fit(x, (y - centre) / scale)
            self._models[t] = (lambda rows, m=model: m.predict(rows) * scale + centre, miss)
        return self._models[t]

    def predict(self, t: int, curve: np.ndarray, static: np.ndarray) -> tuple[float, float]:
        """(predicted final score, cross-validated root-mean-square miss) of a candidate whose curve
        so far is ``curve`` (its first t points are used)."""
        predict, miss = self._model(t)
        row = _features(np.asarray(curve, dtype=np.float64)[None, :t], np.asarray(static)[None, :], t)
        return float(predict(row)[0]), miss
