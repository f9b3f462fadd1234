"""examples/train_digits.py on real data: the exported CNN learns scikit-learn's 8×8 digits, and beats the
softmax regression trained the same way. It runs in this process (its ``main``), TensorFlow already imported."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
from typing import Any

import pytest

from tests import optional
from tests.helpers import EXAMPLES


@pytest.mark.slow
@pytest.mark.tensorflow
def test_the_digits_cnn_reaches_95_percent_and_beats_softmax_regression(keras: Any) -> None:
    optional.module("sklearn", "pip install -e '.[dev]'")  # the digits are scikit-learn's
    script = runpy.run_path(str(EXAMPLES / "train_digits.py"), run_name="train_digits")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            assert script["main"](["--epochs", "10", "--seed", "0"]) == 0
    finally:
        keras.backend.clear_session()
    printed = output.getvalue()
    accuracy = {
        label: float(value) / 100
        for label, value in re.findall(r"^(CNN|softmax regression).*test accuracy\s+([\d.]+) %", printed, re.M)
    }
    assert set(accuracy) == {"CNN", "softmax regression"}, printed
    assert accuracy["CNN"] >= 0.95, printed
    assert accuracy["CNN"] > accuracy["softmax regression"], printed
    assert "38,282 params" in printed  # what convcalc computes for examples/digits_cnn.json
