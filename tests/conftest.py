"""Shared fixtures and the Hypothesis profile: bounded examples, no deadline (CI machines are slow)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("convcalc", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("convcalc")


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
