"""The optional parts the tests need: TensorFlow/Keras (the ``tensorflow`` extra), the ``onnx`` extra, PyTorch
(the ``torch`` extra) and headless Chromium.

Where a part is absent, the tests that need it skip and say what to install; nothing errors at import. CI sets
``CONVCALC_REQUIRE_ALL=1``, and then every skip is a failure (tests/conftest.py), so CI proves all of it.

Mark a test ``@pytest.mark.tensorflow``, ``@pytest.mark.torch`` or ``@pytest.mark.browser`` (conftest then
requires the part before it runs, and ``-m "not browser"`` deselects it); a module that needs TensorFlow (or
PyTorch) throughout calls :func:`keras` (or :func:`torch`) at its top instead, which skips the whole module.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

REQUIRE_ALL = "CONVCALC_REQUIRE_ALL"


def mandatory() -> bool:
    """Whether every optional part must be present (CI): a skip is then a failure."""
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def absent(reason: str) -> NoReturn:
    """Skip the test (or the module, when called at its top) because an optional part is missing."""
    pytest.skip(reason, allow_module_level=True)


def keras() -> Any:
    """Keras on TensorFlow, imported quietly as convcalc's export does; skips without the ``tensorflow`` extra."""
    from convcalc.export import runtime

    reason = runtime.missing_requirement()
    if reason is not None:
        absent(reason)
    return runtime.import_keras()


def torch() -> ModuleType:
    """PyTorch; skips without the ``torch`` extra."""
    from convcalc.export.torch_verify import missing_torch

    reason = missing_torch()
    if reason is not None:
        absent(reason)
    return importlib.import_module("torch")


def module(name: str, install: str) -> ModuleType:
    """Import ``name``, or skip saying how to ``install`` it (numpy and tensorflow come with the extra)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        absent(f"needs {name} ({exc}): {install}")


def onnx() -> Any:
    """The onnx package (the ``onnx`` extra, what convcalc's ONNX import reads files with); skips without it."""
    return module("onnx", "pip install -e '.[onnx]'")


def chromium() -> str:
    """The headless Chromium executable: $CONVCALC_CHROMIUM, else ``chromium`` on PATH; skips without one."""
    configured = os.environ.get("CONVCALC_CHROMIUM", "")
    candidate = configured or shutil.which("chromium") or ""
    if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    where = f"CONVCALC_CHROMIUM={configured!r} is not an executable" if configured else "no `chromium` on PATH"
    absent(
        f"needs headless Chromium for the browser tests ({where}): apt-get install chromium, or set"
        " CONVCALC_CHROMIUM to its path"
    )
