"""The ``lossmath`` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lossmath
from lossmath.cli import main


def test_losses_lists_the_catalogue(capsys):
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    for name in lossmath.available():
        assert name in out
    assert "bernoulli" in out
    assert "∞" in out


def test_check_passes_and_prints_a_table(capsys):
    assert main(["check", "logistic", "huber", "--dtype", "float32", "--points", "8"]) == 0
    out = capsys.readouterr().out
    for text in ("huber(delta=0.25)", "float32", "all passed"):
        assert text in out


def test_check_rejects_unknown_losses(capsys):
    assert main(["check", "nope"]) == 2
    assert "unknown loss" in capsys.readouterr().out


def test_check_exits_nonzero_on_failure(monkeypatch, capsys):
    import lossmath.checking._checks as checks

    monkeypatch.setattr(checks, "ULP_TOLERANCE", -1.0)
    assert main(["check", "squared_error", "--dtype", "float64", "--points", "4"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "check" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--version"], ["losses"]])
def test_console_entry_point(args):
    res = subprocess.run([sys.executable, "-m", "lossmath", *args], capture_output=True, text=True)
    assert res.returncode == 0
    assert "lossmath" in res.stdout or "squared_error" in res.stdout
