"""Pseudo-Huber and log-cosh regression with XGBoost, on data with gross outliers.

Both losses are quadratic near zero and linear far out. Their exact Hessians
vanish for large residuals while the gradient stays at ±δ, so a Newton leaf
made of outliers takes a step ``−g/h`` that is orders of magnitude too large.
lossmath's default curvature for them is the constant bound of the Hessian
(a majoriser; every leaf step lowers the loss), stated in ``objective.policy``.

Run: ``python examples/robust_regression_xgboost.py`` (a few seconds).
"""

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split

import lossmath.integrations.xgboost as lx

X, y = make_friedman1(n_samples=20_000, noise=0.5, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# Corrupt 5% of the training targets.
rng = np.random.default_rng(0)
bad = rng.random(y_train.size) < 0.05
y_train = y_train.copy()
y_train[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(5, 50, bad.sum()) * y_train.std()

kw = {"n_estimators": 200, "learning_rate": 0.1, "max_depth": 6, "random_state": 0}
models = {"squared error (built-in)": xgb.XGBRegressor(objective="reg:squarederror", **kw)}
for name in ("pseudo_huber", "log_cosh"):
    obj = lx.objective(name)
    print(f"{name}: curvature policy {obj.policy!r}")
    # With a custom objective XGBoost would start from 0.5; start at the loss's optimum.
    models[f"{name} (lossmath)"] = xgb.XGBRegressor(
        objective=obj, base_score=lx.base_score(name, y_train), eval_metric=lx.metric(name), **kw
    )

for name, model in models.items():
    model.fit(X_train, y_train)
    err = model.predict(X_test) - y_test  # identity link: the margin is the prediction
    print(f"{name:26s} test MAE {np.mean(np.abs(err)):.3f}   RMSE {np.sqrt(np.mean(err**2)):.3f}")
