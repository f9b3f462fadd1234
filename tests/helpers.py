"""What many test modules share: the repository's paths, and a spec or an example analysed or checked."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
