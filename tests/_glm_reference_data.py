"""Reference data sets and the published results for them (R, Stata, NIST).

Every number below is copied from a file that ships with statsmodels; the file is
named next to it. The data are statsmodels' own copies of the classic data sets.
"""

from __future__ import annotations

import numpy as np

sm = None


def _sm():
    global sm
    if sm is None:
        import statsmodels.api

        sm = statsmodels.api
    return sm


def cpunish():
    """Capital punishment (Poisson): R's example takes the log of column 3 (VC100k96)."""
    d = _sm().datasets.cpunish.load()
    X = np.asarray(d.exog, dtype=float).copy()
    X[:, 3] = np.log(X[:, 3])
    return X, np.asarray(d.endog, dtype=float)


def longley():
    """Longley's macroeconomic data (Gaussian / least squares)."""
    d = _sm().datasets.longley.load()
    return np.array(d.exog, dtype=float), np.array(d.endog, dtype=float)


def anes96():
    """1996 American National Election Study: party identification (7 classes)."""
    d = _sm().datasets.anes96.load()
    return np.array(d.exog, dtype=float), np.array(d.endog, dtype=float)


#: statsmodels/genmod/tests/results/results_glm.py, class ``Cpunish`` (R's glm,
#: family=poisson; coefficients in column order, then the intercept).
CPUNISH_R = {
    "coef": [2.611017e-04, 7.781801e-02, -9.493111e-02, 2.969349e-01, 2.301183e00, -1.872207e01],
    "intercept": -6.801480e00,
    "std_errors": [
        5.187132e-05,
        7.940193e-02,
        2.291926e-02,
        4.375164e-01,
        4.283826e-01,
        4.283961e00,
        4.146850e00,
    ],
    "deviance": 18.591641759528944,
    "log_likelihood": -31.92732869482515,
    # R's AIC = −2 llf + 2 k, k = 7 coefficients (Poisson has no scale parameter).
    "aic": 77.8546573896503,
}

#: statsmodels/genmod/tests/results/results_glm.py, class ``Longley`` (R and Stata,
#: family=gaussian). R's AIC counts the scale as a parameter (+2); lossmath's
#: (statsmodels') does not: ``aic_R − 2``.
LONGLEY_R = {
    "coef": [
        1.50618723e01,
        -3.58191793e-02,
        -2.02022980e00,
        -1.03322687e00,
        -5.11041057e-02,
        1.82915146e03,
    ],
    "intercept": -3.48225863e06,
    "std_errors": [
        8.49149258e01,
        3.34910078e-02,
        4.88399682e-01,
        2.14274163e-01,
        2.26073200e-01,
        4.55478499e02,
        8.90420384e05,
    ],
    "deviance": 836424.0555058046,
    "scale": 92936.006167311629,
    "log_likelihood": -109.61743480847952,
    "aic": 235.23486961695903 - 2,
}

#: statsmodels/regression/tests/results/results_regression.py, class ``Longley``
#: (NIST StRD certified values).
LONGLEY_NIST = {
    "coef": [
        15.0618722713733,
        -0.358191792925910e-01,
        -2.02022980381683,
        -1.03322686717359,
        -0.511041056535807e-01,
        1829.15146461355,
    ],
    "intercept": -3482258.63459582,
    "std_errors": [
        84.9149257747669,
        0.334910077722432e-01,
        0.488399681651699,
        0.214274163161675,
        0.226073200069370,
        455.478499142212,
        890420.383607373,
    ],
    "scale": 92936.0061673238,
    "deviance": 836424.055505915,  # the residual sum of squares
}

#: statsmodels/discrete/tests/results/results_discrete.py, ``Anes.mnlogit_basezero``
#: (Stata 11 ``mlogit``, base outcome 0). ``params`` there is (6, 6) in Fortran order:
#: rows the 5 features then the constant, columns the classes 1..6 against class 0.
_ANES_PARAMS = [
    -.01153598, .29771435, -.024945, .08249144, .00519655, -.37340167, -.08875065,
    .39166864, -.02289784, .18104276, .04787398, -2.2509132, -.1059667, .57345051,
    -.01485121, -.00715242, .05757516, -3.6655835, -.0915567, 1.2787718, -.00868135,
    .19982796, .08449838, -7.6138431, -.0932846, 1.3469616, -.01790407, .21693885,
    .08095841, -7.0604782, -.14088069, 2.0700801, -.00943265, .3219257, .10889408,
    -12.105751,
]  # fmt: skip
#: Same class, ``bse``: Stata's standard errors of the contrasts (same layout).
_ANES_BSE = [
    .0342823657, .093626795, .0065248584, .0735865799, .0176336937, .6298376313,
    .0391615553, .1082386919, .0079144618, .0852893563, .0222809297, .7631899491,
    .0570382292, .1585481337, .0113313133, .1262913234, .0336142088, 1.156541492,
    .0437902764, .1288965854, .0084187486, .0941250559, .0261963632, .9575809602,
    .0393516553, .1171860107, .0076110152, .0850070091, .0229760791, .8443638283,
    .042138047, .1434089089, .0081338625, .0910979921, .025300888, 1.059954821,
]  # fmt: skip
ANES_STATA = {
    "contrasts": np.reshape(_ANES_PARAMS, (6, -1), order="F"),
    "std_errors": np.reshape(_ANES_BSE, (6, -1), order="F"),
    "log_likelihood": -1461.922747312,
    "aic": 2995.84549462,
    "bic": 3170.45003661,
}


def r_glm_fit_poisson(X, y, epsilon=1e-8, maxit=25):
    """R's ``glm.fit`` for ``family = poisson(link = "log")``, step for step.

    R's defaults (``glm.control``: ``epsilon = 1e-8``, ``maxit = 25``): the start
    ``mustart = y + 0.1`` (``poisson()$initialize``), ``eta = log(mustart)``; each
    iteration solves the weighted least-squares problem of the working response
    ``z = η + (y − μ) / μ`` with weights ``μ`` (by QR) and stops once
    ``|dev − devold| / (|dev| + 0.1) < epsilon``. ``summary.glm``'s covariance is
    ``chol2inv`` of that last QR's ``R``: the information at the iterate *before*
    the returned coefficients.

    Returns
    -------
    dict
        ``coef`` (features, then the intercept), ``std_errors_lagged`` (R's),
        ``std_errors_at_coef`` (the information at ``coef`` itself), ``n_iter``.
    """
    Xd = np.column_stack([X, np.ones(y.size)])  # lossmath's order: intercept last

    def deviance(mu):
        pos = y > 0
        r = mu - y
        r[pos] = y[pos] * np.log(y[pos] / mu[pos]) - (y[pos] - mu[pos])
        return 2.0 * r.sum()

    eta = np.log(y + 0.1)
    mu = np.exp(eta)
    devold = deviance(mu)
    n_iter = 0
    while n_iter < maxit:
        n_iter += 1
        w = np.sqrt(mu)  # √(μ_η² / V(μ)) with μ_η = V(μ) = μ
        _, R = np.linalg.qr(Xd * w[:, None])
        coef = np.linalg.lstsq(Xd * w[:, None], (eta + (y - mu) / mu) * w, rcond=None)[0]
        eta = Xd @ coef
        mu = np.exp(eta)
        dev = deviance(mu)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            break
        devold = dev
    R_inv = np.linalg.inv(R)
    info = Xd.T @ (mu[:, None] * Xd)
    return {
        "coef": coef,
        "std_errors_lagged": np.sqrt(np.sum(R_inv * R_inv, axis=1)),
        "std_errors_at_coef": np.sqrt(np.diag(np.linalg.inv(info))),
        "n_iter": n_iter,
    }


def printed_half_unit(values, digits=7):
    """Half a unit of the last of ``digits`` significant digits, per value (what a
    printed number can be off by)."""
    v = np.abs(np.asarray(values, dtype=float))
    return 0.5 * 10.0 ** (np.floor(np.log10(v)) - (digits - 1))
