"""Whether an optional extra (TensorFlow, onnx, PyTorch) is installed: looked up, never imported (importing
TensorFlow or torch takes seconds, and `check` of a JSON spec must not)."""

from __future__ import annotations

import importlib.util


def is_installed(module: str) -> bool:
    """True when ``module`` can be imported here.

    >>> is_installed("json"), is_installed("no_such_module_here")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails, or a module whose __spec__ is None
        return False
