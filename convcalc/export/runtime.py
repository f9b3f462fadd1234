"""The one door to TensorFlow and Keras: requirement checks without importing them, then the lazy import.

Nothing in convcalc imports TensorFlow or Keras at module level; export and verify call :func:`import_keras`
inside their functions, so ``convcalc check`` never pays the seconds it takes.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
from typing import Any

from convcalc.extras import is_installed

MIN_KERAS = (3, 11)
"""Keras 3.11 closed the known ways to run code from a ``.keras`` file in safe mode."""
INSTALL_HINT = "pip install 'convcalc[tensorflow]' (in a checkout: pip install -e '.[tensorflow]')"


def _version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric parts of a version string.

    >>> _version_tuple("3.15.1"), _version_tuple("3.11.0rc1"), _version_tuple("3.10")
    ((3, 15, 1), (3, 11, 0), (3, 10))
    """
    parts = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def missing_requirement() -> str | None:
    """One line saying what to install when TensorFlow or a recent enough Keras is missing, else None.

    Looks at the installed packages only; importing TensorFlow takes seconds.
    """
    for module in ("tensorflow", "keras"):
        if not is_installed(module):
            return f"TensorFlow is not installed; install the extra: {INSTALL_HINT}"
    try:
        version = importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return f"Keras is not installed; install the extra: {INSTALL_HINT}"
    if _version_tuple(version) < MIN_KERAS:
        wanted = ".".join(map(str, MIN_KERAS))
        return f"Keras {version} is too old (safe-mode loading needs ≥ {wanted}): pip install -U 'keras>={wanted}'"
    return None


def import_keras() -> Any:
    """Import Keras on TensorFlow, quietly, and return the ``keras`` module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no oneDNN/CPU-feature banners in a CLI's output
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras  # type: ignore[import-untyped]

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Keras runs on {keras.backend.backend()!r}; convcalc builds and checks against TensorFlow"
            " (unset KERAS_BACKEND or set it to 'tensorflow')"
        )
    return keras


@functools.cache
def custom_layer_class(name: str) -> Any:
    """A layer class Keras lacks (``L2Pooling2D``), defined and registered with Keras on first use.

    Its source is the one the layer kind declares (``KerasOp.keras_source``), the same text the generated code
    carries, so the in-memory model, the ``.keras`` file and ``model.py`` use one definition. It is registered as
    ``convcalc>{name}``: a ``.keras`` file that uses it loads in safe mode once this function has run (or with
    ``custom_objects=custom_objects()``). The source is convcalc's own constant, never text from a spec or model.
    """
    from convcalc.layers import REGISTRY

    keras = import_keras()
    namespace: dict[str, Any] = {"keras": keras, "layers": keras.layers}
    exec(compile(REGISTRY.keras_ops[name].keras_source, f"<convcalc {name}>", "exec"), namespace)
    return namespace[name]


def custom_objects() -> dict[str, Any]:
    """The layers convcalc registers, for ``keras.saving.load_model(..., custom_objects=...)``."""
    from convcalc.layers import REGISTRY

    return {f"convcalc>{name}": custom_layer_class(name) for name, op in REGISTRY.keras_ops.items() if op.keras_source}
