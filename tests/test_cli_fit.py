"""``lossmath fit`` / ``predict``: every user mistake is one line on stderr and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lossmath.cli import main

rng = np.random.default_rng(0)
N = 120


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A directory of CSV files, good and bad."""
    d = tmp_path_factory.mktemp("cli")
    X = rng.normal(size=(N, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = (X[:, 0] + rng.normal(size=N) > 0).astype(int)
    df["count"] = rng.poisson(np.exp(0.3 * X[:, 0]))
    df["colour"] = rng.choice(["red", "green", "blue"], N)
    df["w"] = rng.uniform(0.5, 2, N)
    df["cls"] = rng.choice(["x", "y", "z"], N)
    df.to_csv(d / "ok.csv", index=False)
    df.to_csv(d / "indexed.csv")
    bad = df.copy()
    bad.loc[5, "b"] = np.nan
    bad.to_csv(d / "nan.csv", index=False)
    bad = df.copy()
    bad["b"] = bad["b"].astype(object)
    bad.loc[7, "b"] = "n/a?"
    bad.to_csv(d / "text.csv", index=False)
    (d / "empty.csv").write_text("")
    df.head(0).to_csv(d / "header.csv", index=False)
    bad = df.copy()
    bad.loc[3, "count"] = -2
    bad.to_csv(d / "neg.csv", index=False)
    bad = df.copy()
    bad["k"] = 3.0
    bad.to_csv(d / "const.csv", index=False)
    (d / "x.parquet").write_bytes(b"PAR1")
    return d


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


MISTAKES = [
    (["nan.csv", "--target", "y"], ["column 'b'", "missing value", "line 7 of nan.csv"]),
    (["text.csv", "--target", "y"], ["column 'b'", "'n/a?'", "line 9 of text.csv"]),
    (["empty.csv", "--target", "y"], ["empty.csv is empty"]),
    (["header.csv", "--target", "y"], ["header.csv", "no data rows"]),
    (["missing.csv", "--target", "y"], ["no such file", "missing.csv"]),
    (["ok.csv", "--target", "y", "--loss", "poison"], ["unknown loss 'poison'", "'poisson'?"]),
    (["ok.csv", "--target", "y", "--alpha", "-1"], ["--alpha", ">= 0", "-1"]),
    (["ok.csv", "--target", "y", "--l1-ratio", "2"], ["--l1-ratio", "[0, 1]", "got 2"]),
    (["ok.csv", "--target", "y", "--solver", "bfgs"], ["unknown solver 'bfgs'", "'lbfgs'?"]),
    (
        ["neg.csv", "--target", "count", "--loss", "poisson"],
        ["column 'count'", "-2", "line 5 of neg.csv", "'poisson'", ">= 0"],
    ),
    (
        ["const.csv", "--target", "y", "--standardize"],
        ["--standardize", "column 'k'", "constant", "--exclude k"],
    ),
    (["x.parquet", "--target", "y"], ["x.parquet", "pyarrow", "lossmath[parquet]"]),
    (["ok.csv", "--target", "count"], ["target 'count'", "--loss"]),
    (["ok.csv", "--target", "nope"], ["no column 'nope'", "ok.csv"]),
    (["ok.csv"], ["--target COL is required"]),
    (["ok.csv", "--target", "y", "--features", "a,zz"], ["--features", "'zz'"]),
    (
        ["ok.csv", "--target", "y", "--weights", "colour"],
        ["--weights", "'colour'", "line 2 of ok.csv"],
    ),
    (
        ["ok.csv", "--target", "count", "--loss", "huber", "--param", "detla=2"],
        ["'detla'", "'delta'?"],
    ),
    (
        ["ok.csv", "--target", "count", "--loss", "quantile", "--param", "quantile=2"],
        ["quantile", "(0, 1)"],
    ),
    (["ok.csv", "--target", "y", "--param", "delta"], ["NAME=VALUE"]),
    (["ok.csv", "--target", "y", "--max-iter", "0"], ["--max-iter", ">= 1"]),
    (["ok.csv", "--target", "y", "--tol", "abc"], ["--tol", "'abc'"]),
    (
        ["ok.csv", "--target", "count", "--loss", "squared_error", "--l1-ratio", "1",
         "--alpha", "0.1", "--solver", "newton"],
        ["newton", "L1"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "texts"), MISTAKES, ids=lambda v: " ".join(v)[:40])
def test_mistake_is_one_line_and_exit_2(data, capsys, argv, texts):
    argv = [str(data / a) if a.endswith((".csv", ".parquet")) else a for a in argv]
    code, _, err = run(capsys, "fit", *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in texts:
        assert text in lines[0], (text, lines[0])


def test_debug_shows_the_traceback(data):
    with pytest.raises(Exception, match="no such file"):
        main(["fit", str(data / "missing.csv"), "--target", "y", "--debug"])


def test_text_feature_is_one_hot_and_the_loss_inferred(data, capsys):
    code, out, err = run(capsys, "fit", data / "ok.csv", "--target", "y", "--exclude", "count,cls")
    assert code == 0
    assert "loss 'logistic' chosen" in err
    assert "'colour' one-hot encoded" in err
    for name in ("colour=green", "colour=red", "intercept", "p_value"):
        assert name in out
    assert "compile + warm-up" in out


def test_text_classes_give_the_multinomial_with_named_rows_and_columns(data, capsys):
    argv = ["fit", data / "ok.csv", "--target", "cls", "--exclude", "y,colour"]
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert "loss 'multinomial' chosen" in err
    # An unpenalised multinomial reports the differences to the first class
    # (Stata's parameterisation), each row named by classes and feature.
    for name in ("y-x:a", "z-x:a", "z-x:intercept", "std_error"):
        assert name in out
    assert "w[0]" not in out


@pytest.mark.parametrize(
    "extra",
    [
        ["--alpha", "0.1", "--l1-ratio", "1"],  # L1: no inference
        ["--loss", "hinge"],  # not a likelihood
    ],
)
def test_names_and_intercept_without_standard_errors(data, capsys, extra):
    argv = ["fit", data / "ok.csv", "--target", "y", "--features", "a,b", *extra]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    for name in (" a ", " b ", "intercept", "no standard errors"):
        assert name in out


def test_one_vs_rest_table_names_the_classes(data, capsys):
    argv = ["fit", data / "ok.csv", "--target", "cls", "--features", "a,b", "--loss", "hinge"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    for name in ("class x", "class y", "class z", "intercept", "one-vs-rest"):
        assert name in out


def test_saved_index_is_not_a_feature(data, capsys):
    argv = ["fit", data / "indexed.csv", "--target", "y", "--features", "a,b", "--output", "csv"]
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert "row index" in err
    assert out.splitlines()[0].startswith("coefficient,estimate,std_error")
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == ["a", "b", "intercept"]
    argv = ["fit", data / "indexed.csv", "--target", "y", "--index-col", "a", "--exclude", "colour"]
    code, out, err = run(capsys, *argv, "--exclude", "colour,cls")
    assert code == 0
    assert "row index" not in err
    assert "│ a " not in out


def test_weights_offset_and_params(data, capsys):
    argv = ["fit", data / "ok.csv", "--target", "count", "--loss", "tweedie", "--param",
            "power=1.3", "--features", "a,b", "--weights", "w", "--offset", "c",
            "--output", "json"]  # fmt: skip
    code, out, _ = run(capsys, *argv)
    assert code == 0
    doc = json.loads(out)
    assert doc["loss_params"] == {"power": 1.3}
    assert set(doc["coefficients"]) == {"a", "b", "intercept"}
    assert doc["summary"]["converged"] is True


def test_save_then_predict_reproduces_the_fit(data, tmp_path, capsys):
    model = tmp_path / "m.json"
    argv = ["fit", data / "ok.csv", "--target", "cls", "--exclude", "y,count,w", "--alpha",
            "0.01", "--standardize", "--save", model]  # fmt: skip
    assert run(capsys, *argv)[0] == 0
    doc = json.loads(model.read_text())
    assert doc["format"] == "lossmath-glm"
    assert doc["classes"] == ["x", "y", "z"]
    code, out, _ = run(capsys, "predict", model, data / "ok.csv", "--proba")
    assert code == 0
    pred = pd.read_csv(pd.io.common.StringIO(out))
    assert list(pred.columns) == ["prediction", "proba_x", "proba_y", "proba_z"]
    assert len(pred) == N
    np.testing.assert_allclose(pred[["proba_x", "proba_y", "proba_z"]].sum(axis=1), 1.0)
    # The same model, refitted in Python, predicts the same classes.
    from lossmath import GLMClassifier

    df = pd.read_csv(data / "ok.csv")
    X = pd.get_dummies(df[["a", "b", "c", "colour"]], columns=["colour"], drop_first=True)
    X = X.astype(float)
    X = (X - X.mean()) / X.std(ddof=0)
    ref = GLMClassifier(alpha=0.01).fit(X, df["cls"])
    assert (ref.predict(X) == pred["prediction"]).all()


def test_predict_refuses_a_file_that_is_not_a_model(data, tmp_path, capsys):
    bad = tmp_path / "m.json"
    bad.write_text('{"format": "pickle"}')
    code, _, err = run(capsys, "predict", bad, data / "ok.csv")
    assert code == 2
    assert "not a lossmath model file" in err
    code, _, err = run(capsys, "predict", data / "ok.csv", data / "ok.csv")
    assert code == 2
    assert "not a lossmath model file" in err


def test_subprocess_error_has_no_traceback(data):
    res = subprocess.run(
        [sys.executable, "-m", "lossmath", "fit", str(data / "nan.csv"), "--target", "y"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.count("error:") == 1


def test_verbose_progress_goes_to_stderr(data, capsys):
    argv = ["fit", data / "ok.csv", "--target", "y", "--features", "a,b", "--verbose",
            "--output", "json"]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert json.loads(out)["summary"]["solver"] == "newton"
    assert "fitting GLMClassifier" in err
    assert "[newton] iter" in err
