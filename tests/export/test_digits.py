"""examples/train_digits.py on real data: the exported CNN learns scikit-learn's 8×8 digits, and beats the
softmax regression trained the same way."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests import optional
from tests.helpers import ROOT

optional.keras()  # skips this module (in CI: fails it) without the tensorflow extra


def test_the_digits_cnn_reaches_95_percent_and_beats_softmax_regression() -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_digits.py"), "--epochs", "10", "--seed", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = {
        label: float(value) / 100
        for label, value in re.findall(r"^(CNN|softmax regression).*test accuracy\s+([\d.]+) %", result.stdout, re.M)
    }
    assert set(accuracy) == {"CNN", "softmax regression"}, result.stdout
    assert accuracy["CNN"] >= 0.95, result.stdout
    assert accuracy["CNN"] > accuracy["softmax regression"], result.stdout
    assert "38,282 params" in result.stdout  # what convcalc computes for examples/digits_cnn.json
