"""A multiclass objective with CatBoost: label-smoothed softmax cross-entropy.

CatBoost maximises its objective, so the adapter returns the derivatives of
−ℓ; for K classes it calls ``calc_ders_multi`` once per sample with the K raw
scores. With label smoothing the link is no longer canonical, so the default
curvature is the surrogate: the constant bound ½ of the softmax Hessian on the
diagonal (a majoriser; without smoothing it would be the exact, full K×K
softmax Hessian). The starting scores come from
``loss.baseline`` and are stored in the model with ``set_scale_and_bias``.

Run: ``python examples/multiclass_catboost.py`` (a few seconds).
"""

import warnings

import numpy as np
from catboost import CatBoostClassifier
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

import lossmath
import lossmath.integrations.catboost as lc

# CatBoost cannot JIT-compile methods of Python objects and says so; harmless.
warnings.filterwarnings("ignore", message="Can't optimze method", category=UserWarning)

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
K = int(y.max()) + 1

loss = lossmath.get_loss("multinomial", label_smoothing=0.05, n_classes=K)
obj = lc.objective(loss)
print(f"curvature policy for {loss!r}: {obj.curvature}")
model = CatBoostClassifier(
    loss_function=obj,
    eval_metric=lc.metric(loss),
    classes_count=K,
    iterations=150,
    learning_rate=0.1,
    depth=4,
    random_seed=0,
    verbose=50,
    allow_writing_files=False,
)
model.fit(X_train, y_train, baseline=lc.init_score(loss, y_train))
model.set_scale_and_bias(1.0, lc.baseline(loss, y_train))  # store the starting scores

z = model.predict(X_test, prediction_type="RawFormulaVal")  # raw scores, (n, K)
p = loss.predict(z)  # softmax
print(
    f"test accuracy {np.mean(p.argmax(axis=1) == y_test):.3f}, "
    f"test cross-entropy {float(lossmath.get_loss('multinomial')(y_test, z)):.3f}"
)
