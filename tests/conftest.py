"""Shared fixtures, the Hypothesis profiles, and the optional parts (tests/optional.py) made mandatory in CI.

Hypothesis profiles; pick one with HYPOTHESIS_PROFILE=explore (or pytest's ``--hypothesis-profile explore``):

- ``convcalc``, the default and CI's: derandomized, so every run tries the same examples; 100 per property
  (a test asking for more or fewer with ``tests.helpers.examples`` scales with the profile), no deadline (CI
  machines are slow), no example database.
- ``explore``, for hunting bugs: random, ten times the examples, a one-second deadline per example, and
  failures kept in .hypothesis/ to replay. Pin every bug it finds as an ``@example`` or a plain test.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests import optional
from tests.helpers import DEFAULT_EXAMPLES

settings.register_profile(
    "convcalc",
    max_examples=DEFAULT_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=10 * DEFAULT_EXAMPLES,
    derandomize=False,
    deadline=timedelta(seconds=1),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "convcalc"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the ``keras`` fixture needs TensorFlow: mark it so ``-m "not tensorflow"`` leaves it out."""
    for item in items:
        if "keras" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tensorflow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``tensorflow``, ``torch`` or ``browser`` skips (or, in CI, fails) where that part is absent."""
    if item.get_closest_marker("tensorflow"):
        optional.keras()
    if item.get_closest_marker("torch"):
        optional.torch()
    if item.get_closest_marker("browser"):
        optional.chromium()
    _freeze_what_was_imported()


_FRAMEWORKS = ("tensorflow", "keras", "torch", "onnx", "hypothesis")
_frozen: set[str] = set()


def _freeze_what_was_imported() -> None:
    """Once a framework is imported, move its objects out of the garbage collector's sight (``gc.freeze``).

    TensorFlow and PyTorch leave millions of objects that live for the whole session; every full collection
    would walk them all again. Frozen, they are never scanned: the suite ran a third faster (the TensorFlow
    and PyTorch files: 127 s → 85 s on 2 cores). Objects made by the tests are collected as usual."""
    loaded = {name for name in _FRAMEWORKS if name in sys.modules} - _frozen
    if loaded:
        _frozen.update(loaded)
        gc.collect()
        gc.freeze()


def _required(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under CONVCALC_REQUIRE_ALL=1, a skip (an absent optional part) is a failure that keeps its reason."""
    if optional.mandatory() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"{optional.REQUIRE_ALL}=1 makes every optional part mandatory: {reason.removeprefix('Skipped: ')}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _required(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _required(outcome.get_result())


@pytest.fixture(scope="session")
def keras() -> Any:
    """Keras on TensorFlow, imported once; skips (or, in CI, fails) without the tensorflow extra."""
    return optional.keras()


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Write a spec (a dict as JSON, or raw str/bytes as they are) into a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def write(content: Any, name: str = "") -> Path:
        path = tmp_path / (name or f"spec{next(counter)}.json")
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path

    return write
