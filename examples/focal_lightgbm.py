"""Focal loss for an imbalanced binary problem with LightGBM.

The focal loss has no LightGBM built-in, and its exact Hessian is negative for
badly misclassified samples: a hand-written objective that returns it stalls or
reverses tree growth. ``lossmath.integrations.lightgbm.objective`` hands LightGBM
the gradient w.r.t. the raw score and a documented positive curvature (for focal,
the constant bound of its Hessian, a majoriser: every leaf step lowers the loss).

Run: ``python examples/focal_lightgbm.py`` (a few seconds).
"""

import lightgbm as lgb
import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

import lossmath
import lossmath.integrations.lightgbm as ll

X, y = make_classification(
    n_samples=10_000, n_features=20, n_informative=6, weights=[0.97], flip_y=0.01, random_state=0
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
y_train = y_train.astype(np.float64)
print(f"positives: {y_train.mean():.1%} of {y_train.size} training rows")

params = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "verbose": -1,
    "seed": 0,
    "metric": "None",
    "num_threads": 2,
}
loss = lossmath.get_loss("focal", gamma=2.0, alpha=0.75)
obj = ll.objective(loss)
print(f"curvature policy for {loss!r}: {obj.curvature}")

# LightGBM ignores `boost_from_average` for a callable objective and does not
# store init_score in the model: pass it for training, add it back to predict.
train = lgb.Dataset(X_train, y_train, init_score=ll.init_score(loss, y_train))
booster = lgb.train(
    {**params, "objective": obj},
    train,
    num_boost_round=200,
    feval=ll.metric(loss),
    valid_sets=[train],
    valid_names=["train"],
    callbacks=[lgb.log_evaluation(100)],
)
z = booster.predict(X_test) + ll.baseline(loss, y_train)  # raw scores
p_focal = loss.predict(z)  # σ(z)

ref = lgb.train({**params, "objective": "binary"}, lgb.Dataset(X_train, y_train), 200)
p_logloss = ref.predict(X_test)

for name, p in [("focal (lossmath)", p_focal), ("binary log-loss (built-in)", p_logloss)]:
    print(
        f"{name:28s} ROC AUC {roc_auc_score(y_test, p):.4f}   "
        f"average precision {average_precision_score(y_test, p):.4f}"
    )
