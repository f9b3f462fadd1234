"""What many test modules share: the repository's paths, and a spec or an example analysed or checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEFAULT_EXAMPLES = 100
"""Examples per property in the default Hypothesis profile (tests/conftest.py)."""


def examples(count: int, **more: Any) -> settings:
    """``@settings`` for a property that wants ``count`` examples in the default profile, scaled with the loaded
    profile (the ``explore`` profile's ten times as many), plus any other settings in ``more``."""
    return settings(max_examples=max(1, count * settings.default.max_examples // DEFAULT_EXAMPLES), **more)
