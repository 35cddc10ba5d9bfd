"""Boosting adapters (XGBoost, LightGBM, CatBoost): conventions, curvature, equivalence.

The decisive tests train the same small model twice — once with the library's
built-in objective, once with the lossmath objective — and require the same
predictions: any factor of 2, sign, shape, weight or starting-score mistake
shows up there. Every library is optional (``pytest.importorskip``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lossmath
from conftest import CASES, SCALAR_CASES, case_id, small_batch
from lossmath.integrations import CurvaturePolicy, resolve_hessian
from lossmath.integrations._gbdt import GradientHessian

N, ROUNDS = 600, 15

#: The documented "auto" policy of each catalogue loss (docs/gbdt.md).
AUTO_POLICY = {
    "absolute_error": "fisher",
    "exponential": "exact",
    "focal": "surrogate",
    "gamma": "fisher",
    "hinge": "surrogate",
    "huber": "surrogate",
    "log_cosh": "surrogate",
    "logistic": "exact",
    "multinomial": "exact",
    "poisson": "exact",
    "pseudo_huber": "surrogate",
    "quantile": "fisher",
    "squared_error": "exact",
    "squared_hinge": "surrogate",
    "tweedie": "exact",
}


@pytest.fixture(autouse=True)
def _quiet_catboost():
    # CatBoost warns that it cannot JIT-compile methods of Python objects.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Can't optimze method", category=UserWarning)
        yield


def _data(kind: str, n: int = N, seed: int = 0):
    """Features with few distinct values (exact histogram bins) and targets of ``kind``."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 20, size=(n, 4)).astype(np.float64)
    s = (X[:, 0] - 9.5) / 6 + (X[:, 1] - 9.5) / 12
    if kind == "regression":
        y = 3 * s + rng.standard_t(3, n)
    elif kind == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-2 * s))).astype(np.float64)
    elif kind == "counts":
        y = rng.poisson(np.exp(0.5 + s)).astype(np.float64)
    elif kind == "positive":
        y = rng.gamma(2.0, np.exp(s) / 2.0)
    else:  # multiclass, 3 classes
        logits = np.column_stack([s, -s, 0.3 * np.ones(n)])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).astype(np.float64)
    return X, y


def _kind(name: str) -> str:
    """The data set of ``_data`` that suits the loss, from its declared task and domain."""
    loss = lossmath.get_loss(name)
    if loss.task == "counts" and not loss.y_interval.low_inclusive:
        return "positive"
    return loss.task


# --------------------------------------------------------------- curvature policy
@pytest.mark.parametrize("name", sorted(AUTO_POLICY))
def test_auto_policy_is_the_documented_one(name):
    assert resolve_hessian(lossmath.get_loss(name), "auto") == AUTO_POLICY[name]


@pytest.mark.parametrize("loss", CASES, ids=case_id)
@pytest.mark.parametrize("hessian", ["auto", "exact", "fisher", "surrogate"])
def test_curvature_is_positive_or_refused(loss, hessian):
    refused = (hessian == "exact" and not (loss.is_convex and loss.is_smooth)) or (
        hessian == "fisher" and not loss.curvature.fisher_positive
    )
    if refused:
        with pytest.raises(ValueError, match=loss.name):
            GradientHessian(loss, hessian)
        return
    gh = GradientHessian(loss, hessian)
    y, z, w = small_batch(loss, n=50)[:3]
    g, h = gh(y, z, w)
    assert g.shape == np.shape(z)
    assert h.shape == np.shape(z)
    assert np.all(h > 0)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_weights_are_applied_exactly_once(loss):
    y, z, w = small_batch(loss, n=30)[:3]
    gh = GradientHessian(loss)
    g1, h1 = gh(y, z)
    gw, hw = gh(y, z, w)
    scale = w[:, None] if np.ndim(z) == 2 else w
    np.testing.assert_allclose(gw, g1 * scale, rtol=1e-14, atol=0)
    np.testing.assert_allclose(hw, h1 * scale, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    ("name", "hessian"),
    [("absolute_error", "exact"), ("quantile", "exact"), ("hinge", "exact"), ("focal", "exact"),
     ("huber", "exact"), ("hinge", "fisher"), ("squared_hinge", "fisher"), ("logistic", "newton")],
)  # fmt: skip
def test_unsafe_curvature_request_is_refused(name, hessian):
    with pytest.raises(ValueError, match=name):
        GradientHessian(name, hessian)


def test_surrogate_constants():
    y, z = np.array([1.0, 0.0]), np.array([0.3, -4.0])
    for name, c in [("logistic", 0.25), ("hinge", 1.0), ("absolute_error", 1.0), ("huber", 1.0)]:
        _, h = GradientHessian(name, "surrogate")(y, z, np.array([1.0, 3.0]))
        np.testing.assert_array_equal(h, [c, 3 * c])
    _, h = GradientHessian("poisson", "surrogate")(y, z)
    np.testing.assert_allclose(h, np.exp(z), rtol=1e-15)


def test_curvature_policy_is_public_and_follows_the_declared_curvature():
    huber = lossmath.get_loss("huber")
    assert CurvaturePolicy.resolve(huber) == CurvaturePolicy("surrogate", 1.0)
    assert CurvaturePolicy.resolve(lossmath.get_loss("gamma")) == CurvaturePolicy("fisher")
    assert CurvaturePolicy.resolve(lossmath.get_loss("poisson"), "surrogate").constant is None

    class Steep(lossmath.losses.Exponential):
        """An unregistered loss declaring that its exact Hessian vanishes."""

        _hessian_vanishes = True

    # Declarations, not names, decide: the same formulas get Fisher scoring.
    assert CurvaturePolicy.resolve(lossmath.losses.Exponential()).kind == "exact"
    assert CurvaturePolicy.resolve(Steep()).kind == "fisher"

    class Margin(lossmath.losses.SquaredHinge):
        pass

    with pytest.raises(ValueError, match="Margin: hessian='fisher' is refused"):
        CurvaturePolicy.resolve(Margin(), "fisher")


@pytest.mark.parametrize("hessian", ["exact", "fisher", "surrogate"])
def test_n_threads_reaches_the_loss_methods(monkeypatch, hessian):
    loss = lossmath.get_loss("poisson")
    seen = []
    for method in ("gradient", "gradient_hessian", "fisher_diagonal", "value"):
        original = getattr(type(loss), method)

        def spy(self, *args, _original=original, **kw):
            seen.append(kw.get("n_threads"))
            return _original(self, *args, **kw)

        monkeypatch.setattr(type(loss), method, spy)
    y, z = np.array([1.0, 2.0, 0.0]), np.array([0.1, -0.3, 0.2])
    g, h = GradientHessian(loss, hessian, n_threads=1)(y, z)
    g0, h0 = GradientHessian(loss, hessian)(y, z)
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(h, h0)
    xgb = pytest.importorskip("lossmath.integrations.xgboost")
    xgb.metric(loss, n_threads=1)(y, z)
    assert 1 in seen
    assert set(seen) <= {1, None}
    assert seen.count(1) == seen.count(None) + 1
    with pytest.raises(ValueError, match="n_threads"):
        GradientHessian(loss, hessian, n_threads=0)(y, z)


def test_bad_labels_raise_before_training():
    gh = GradientHessian("poisson")
    with pytest.raises(ValueError, match="poisson"):
        gh(np.array([1.0, -1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="logistic"):
        GradientHessian("logistic")(np.array([0.0, 2.0]), np.zeros(2))


def _scaled_hessian(obj, factor):
    """``obj`` with its curvature times ``factor`` (a built-in's multiclass convention)."""

    def scaled(*args):
        g, h = obj(*args)
        return g, factor * h

    return scaled


# ------------------------------------------------------------------------ XGBoost
def _xgb_fit(params, X, y, obj=None, w=None, rounds=ROUNDS, **kw):
    xgb = pytest.importorskip("xgboost")
    base = {"tree_method": "hist", "nthread": 1, "seed": 0, "max_depth": 3, "eta": 0.3}
    d = xgb.DMatrix(X, y, weight=w)
    booster = xgb.train({**base, **params}, d, rounds, obj=obj, **kw)
    return booster.predict(xgb.DMatrix(X), output_margin=True)


XGB_BUILTIN = [
    ("squared_error", "regression", {"objective": "reg:squarederror"}, lambda c: c),
    ("logistic", "binary", {"objective": "binary:logistic"}, lambda c: 1 / (1 + np.exp(-c))),
    ("poisson", "counts", {"objective": "count:poisson", "max_delta_step": 0.0}, np.exp),
]


@pytest.mark.parametrize(
    ("name", "kind", "params", "to_base"), XGB_BUILTIN, ids=[c[0] for c in XGB_BUILTIN]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_xgboost_matches_builtin(name, kind, params, to_base, weighted):
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data(kind)
    w = np.random.default_rng(1).uniform(0.2, 3.0, N) if weighted else None
    c = lx.base_score(name, y, w)
    ref = _xgb_fit({**params, "base_score": to_base(c)}, X, y, w=w)
    params = {k: v for k, v in params.items() if k != "objective"}
    got = _xgb_fit({**params, "base_score": c}, X, y, obj=lx.objective(name), w=w)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_xgboost_multinomial_matches_builtin():
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data("multiclass")
    params = {"num_class": 3, "base_score": [0.0, 0.0, 0.0]}
    ref = _xgb_fit({**params, "objective": "multi:softprob"}, X, y)
    # multi:softprob uses h = 2 p (1 − p); with that factor the trees must agree.
    got = _xgb_fit(params, X, y, obj=_scaled_hessian(lx.objective("multinomial"), 2.0))
    assert got.shape == (N, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_xgboost_sklearn_wrapper_applies_weights_like_builtin():
    xgb = pytest.importorskip("xgboost")
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data("regression")
    w = np.random.default_rng(2).uniform(0.2, 3.0, N)
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "n_jobs": 1, "random_state": 0}
    c = lx.base_score("squared_error", y, w)
    ref = xgb.XGBRegressor(objective="reg:squarederror", base_score=c, **kw)
    got = xgb.XGBRegressor(objective=lx.objective("squared_error"), base_score=c, **kw)
    ref.fit(X, y, sample_weight=w)
    got.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(got.predict(X), ref.predict(X), rtol=1e-5, atol=1e-5)


def test_xgboost_classifier_binary_base_score():
    xgb = pytest.importorskip("xgboost")
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data("binary")
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "n_jobs": 1, "random_state": 0}
    b = lx.base_score("logistic", y, classifier=True)
    ref = xgb.XGBClassifier(objective="binary:logistic", base_score=b, **kw).fit(X, y)
    got = xgb.XGBClassifier(objective=lx.objective("logistic"), base_score=b, **kw).fit(X, y)
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_xgboost_metric_and_wrong_usage():
    xgb = pytest.importorskip("xgboost")
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data("binary")
    log: dict = {}
    _xgb_fit(
        {"base_score": lx.base_score("logistic", y), "disable_default_eval_metric": 1},
        X, y, obj=lx.objective("logistic"), custom_metric=lx.metric("logistic"),
        evals=[(xgb.DMatrix(X, y), "train")], evals_result=log, verbose_eval=False,
    )  # fmt: skip
    curve = log["train"]["logistic"]
    assert curve[-1] < curve[0]
    with pytest.raises(ValueError, match="multiclass objective"):
        _xgb_fit({}, X, y, obj=lx.objective("multinomial"))
    with pytest.raises(ValueError, match="poisson"):
        _xgb_fit({}, X, y - 1, obj=lx.objective("poisson"))
    with pytest.raises(ValueError, match="logistic"):
        lx.base_score("logistic", 2 * y)


# ----------------------------------------------------------------------- LightGBM
def _lgb_fit(params, X, y, w=None, init=None, rounds=ROUNDS, **kw):
    lgb = pytest.importorskip("lightgbm")
    base = {
        "num_threads": 1, "deterministic": True, "force_col_wise": True, "seed": 0,
        "verbose": -1, "num_leaves": 8, "learning_rate": 0.3, "min_data_in_leaf": 1,
        "min_sum_hessian_in_leaf": 1e-6,
    }  # fmt: skip
    d = lgb.Dataset(X, y, weight=w, init_score=init)
    booster = lgb.train({**base, **params}, d, rounds, **kw)
    return booster.predict(X, raw_score=True)


LGB_BUILTIN = [
    ("squared_error", "regression", {"objective": "regression"}),
    ("logistic", "binary", {"objective": "binary"}),
    ("poisson", "counts", {"objective": "poisson", "poisson_max_delta_step": 1e-12}),
]


@pytest.mark.parametrize(("name", "kind", "params"), LGB_BUILTIN, ids=[c[0] for c in LGB_BUILTIN])
@pytest.mark.parametrize("weighted", [False, True])
def test_lightgbm_matches_builtin(name, kind, params, weighted):
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    X, y = _data(kind)
    w = np.random.default_rng(1).uniform(0.2, 3.0, N) if weighted else None
    c = ll.baseline(name, y, w)
    ref = _lgb_fit(params, X, y, w=w, init=np.full(N, c))
    got = _lgb_fit({"objective": ll.objective(name)}, X, y, w=w, init=ll.init_score(name, y, w))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_lightgbm_multinomial_matches_builtin():
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    X, y = _data("multiclass")
    init = ll.init_score("multinomial", y)
    ref = _lgb_fit({"objective": "multiclass", "num_class": 3}, X, y, init=init)
    # LightGBM's multiclass uses h = K/(K − 1) p (1 − p); with that factor the trees agree.
    obj = _scaled_hessian(ll.objective("multinomial"), 3 / 2)
    got = _lgb_fit({"objective": obj, "num_class": 3}, X, y, init=init)
    assert got.shape == (N, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_lightgbm_sklearn_wrapper_applies_weights_like_builtin():
    lgb = pytest.importorskip("lightgbm")
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    X, y = _data("binary")
    w = np.random.default_rng(2).uniform(0.2, 3.0, N)
    kw = {"n_estimators": ROUNDS, "num_leaves": 8, "n_jobs": 1, "random_state": 0, "verbose": -1,
          "deterministic": True, "force_col_wise": True, "min_child_samples": 1}  # fmt: skip
    init = ll.init_score("logistic", y, w)
    ref = lgb.LGBMClassifier(objective="binary", **kw).fit(X, y, sample_weight=w, init_score=init)
    got = lgb.LGBMRegressor(objective=ll.objective("logistic"), **kw)
    got.fit(X, y, sample_weight=w, init_score=init)
    np.testing.assert_allclose(got.predict(X), ref.predict(X, raw_score=True), rtol=1e-6, atol=1e-6)


def test_lightgbm_wrong_usage():
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    X, y = _data("binary")
    with pytest.raises(ValueError, match="multiclass objective"):
        _lgb_fit({"objective": ll.objective("multinomial")}, X, y)
    with pytest.raises(ValueError, match="single-output"):
        _lgb_fit({"objective": ll.objective("logistic"), "num_class": 2}, X, y)
    with pytest.raises(ValueError, match="logistic"):
        _lgb_fit({"objective": ll.objective("logistic")}, X, 3 * y)


# ----------------------------------- losses without a built-in: descent and weights
#: Every registered scalar loss that LightGBM has no built-in objective for.
NO_BUILTIN = sorted({c.name for c in SCALAR_CASES} - {b[0] for b in LGB_BUILTIN})


@pytest.mark.parametrize("name", NO_BUILTIN)
def test_lightgbm_descends_below_baseline(name):
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    loss = lossmath.get_loss(name)
    X, y = _data(_kind(name))
    c = ll.baseline(loss, y)
    log: dict = {}
    z = _lgb_fit(
        {"objective": ll.objective(loss), "metric": "None"}, X, y, init=ll.init_score(loss, y),
        rounds=40, feval=ll.metric(loss), valid_sets=[pytest.importorskip("lightgbm").Dataset(
            X, y, init_score=ll.init_score(loss, y))], valid_names=["train"],
        callbacks=[pytest.importorskip("lightgbm").record_evaluation(log)],
    )  # fmt: skip
    curve = np.array(log["train"][name])
    assert float(loss(y, z + c)) < float(loss(y, np.full(N, c)))
    assert curve[-1] < curve[0]
    assert np.all(np.diff(curve) <= 1e-12) or curve[-1] < 0.9 * curve[0]


@pytest.mark.parametrize("name", sorted({c.name for c in SCALAR_CASES}))
def test_xgboost_descends_below_baseline(name):
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    loss = lossmath.get_loss(name)
    X, y = _data(_kind(name))
    c = lx.base_score(loss, y)
    z = _xgb_fit({"base_score": c}, X, y, obj=lx.objective(loss), rounds=40)
    assert float(loss(y, z)) < float(loss(y, np.full(N, c)))


@pytest.mark.parametrize("name", ["log_cosh", "focal", "gamma"])
def test_weights_equal_duplicated_rows(name):
    ll = pytest.importorskip("lossmath.integrations.lightgbm")
    lx = pytest.importorskip("lossmath.integrations.xgboost")
    X, y = _data(_kind(name), n=300)
    reps = np.random.default_rng(3).integers(1, 4, 300)
    Xd, yd = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    w = reps.astype(np.float64)
    init_w, init_d = ll.init_score(name, y, w), ll.init_score(name, yd)
    np.testing.assert_allclose(init_w[0], init_d[0], rtol=1e-12)
    # Few rounds: the float32 sums of a weighted row and of its copies differ in
    # the last bits, and later near-tied splits may then go either way.
    obj = {"objective": ll.objective(name)}
    zw = _lgb_fit(obj, X, y, w=w, init=init_w, rounds=4)
    zd = _lgb_fit(obj, Xd, yd, init=init_d, rounds=4)
    np.testing.assert_allclose(zw, zd[np.cumsum(reps) - 1], rtol=1e-6, atol=1e-6)
    cw, cd = lx.base_score(name, y, w), lx.base_score(name, yd)
    zw = _xgb_fit({"base_score": cw}, X, y, obj=lx.objective(name), w=w, rounds=4)
    zd = _xgb_fit({"base_score": cd}, Xd, yd, obj=lx.objective(name), rounds=4)
    np.testing.assert_allclose(zw, zd[np.cumsum(reps) - 1], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------- CatBoost
def _cb_fit(loss_function, X, y, w=None, baseline=None, rounds=ROUNDS, **kw):
    cb = pytest.importorskip("catboost")
    params = {
        "iterations": rounds, "depth": 3, "learning_rate": 0.3, "thread_count": 1,
        "random_seed": 0, "bootstrap_type": "No", "random_strength": 0, "verbose": 0,
        "leaf_estimation_method": "Newton", "leaf_estimation_iterations": 1,
        "boost_from_average": False, "allow_writing_files": False,
    }  # fmt: skip
    model = cb.CatBoost({**params, "loss_function": loss_function, **kw})
    model.fit(cb.Pool(X, y, weight=w, baseline=baseline))
    return model.predict(X, prediction_type="RawFormulaVal")


CB_BUILTIN = [
    ("squared_error", "regression", "RMSE"),
    ("logistic", "binary", "Logloss"),
    ("poisson", "counts", "Poisson"),
]


@pytest.mark.parametrize(("name", "kind", "builtin"), CB_BUILTIN, ids=[c[0] for c in CB_BUILTIN])
@pytest.mark.parametrize("weighted", [False, True])
def test_catboost_matches_builtin(name, kind, builtin, weighted):
    lc = pytest.importorskip("lossmath.integrations.catboost")
    X, y = _data(kind)
    w = np.random.default_rng(1).uniform(0.2, 3.0, N) if weighted else None
    init = lc.init_score(name, y, w)
    ref = _cb_fit(builtin, X, y, w=w, baseline=init)
    got = _cb_fit(lc.objective(name), X, y, w=w, baseline=init, eval_metric=lc.metric(name))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_catboost_multinomial_matches_builtin():
    lc = pytest.importorskip("lossmath.integrations.catboost")
    X, y = _data("multiclass", n=200)
    ref = _cb_fit("MultiClass", X, y, rounds=5)
    got = _cb_fit(lc.objective("multinomial"), X, y, rounds=5,
                  eval_metric=lc.metric("multinomial"), classes_count=3)  # fmt: skip
    assert got.shape == (200, 3)
    # Softmax scores are defined up to a constant per row: compare probabilities.
    p = lossmath.get_loss("multinomial").predict
    np.testing.assert_allclose(p(got), p(ref), rtol=1e-6, atol=1e-7)


def test_catboost_sign_and_wrong_usage():
    lc = pytest.importorskip("lossmath.integrations.catboost")
    cb = pytest.importorskip("catboost")
    obj = lc.objective("logistic")
    ders = obj.calc_ders_range(np.array([0.0, 2.0]), np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    g, h = lossmath.get_loss("logistic").gradient_hessian(
        np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array([1.0, 2.0])
    )
    np.testing.assert_array_equal(np.asarray(ders), -np.column_stack([g, h]))
    assert all(d2 < 0 for _, d2 in ders)
    X, y = _data("regression", n=100)
    with pytest.raises(cb.CatBoostError, match="poisson: y must be >= 0"):
        _cb_fit(lc.objective("poisson"), X, y, eval_metric="RMSE")
    with pytest.raises(ValueError, match="poisson"):
        lc.init_score("poisson", y)
