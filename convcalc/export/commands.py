"""The ``export`` and ``verify`` commands, registered on the main typer app (being built: the export issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the export/verify commands to ``app``."""
