"""Ctrl-C on ``lossmath fit``: one line on stderr, exit status 130, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

N_ROWS, N_FEATURES = 150_000, 20


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    y = X @ rng.normal(size=N_FEATURES) + rng.standard_t(3, size=N_ROWS)
    path = tmp_path_factory.mktemp("cli") / "large.csv"
    header = ",".join([f"x{j}" for j in range(N_FEATURES)] + ["y"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6g")
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_during_a_large_quantile_fit(large_csv):
    cmd = [sys.executable, "-m", "lossmath", "fit", str(large_csv), "--target", "y"]
    cmd += ["--loss", "quantile", "--verbose"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        before = []
        for line in proc.stderr:  # --verbose: the fit has begun once it says so
            before.append(line)
            if line.startswith("lossmath fit: fitting"):
                break
        assert before, "no output before the fit"
        assert before[-1].startswith("lossmath fit: fitting"), before
        time.sleep(1.0)  # inside the solve (several seconds at this size)
        assert proc.poll() is None, "the fit ended before the signal"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
        waited = time.perf_counter() - sent
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert rc == 130
    assert err.splitlines() == ["lossmath fit: interrupted"], err
    assert "Traceback" not in err + out
    assert out == ""  # no half-printed table
    assert waited < 2.0, waited
