"""examples/notebook.ipynb runs: its code cells in order in one namespace, each cell's last expression shown as a
notebook shows it (``_repr_html_`` where there is one), without Jupyter (nbclient would start a kernel)."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from tests.helpers import EXAMPLES, ROOT

NOTEBOOK = EXAMPLES / "notebook.ipynb"


def cells() -> list[str]:
    data = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert data["nbformat"] == 4
    code = [cell for cell in data["cells"] if cell["cell_type"] == "code"]
    assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code)  # committed clean
    return ["".join(cell["source"]) for cell in code]


def run_cell(source: str, namespace: dict[str, Any], name: str) -> Any:
    """Run one cell as IPython does: the statements, then the last one's value if it is an expression."""
    tree = ast.parse(source, name)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = ast.Module(tree.body[:-1] if last else tree.body, type_ignores=[])
    exec(compile(body, name, "exec"), namespace)
    return eval(compile(ast.Expression(last.value), name, "eval"), namespace) if last else None


@pytest.mark.tensorflow  # its last cell checks a Keras model in memory
def test_the_notebook_runs_and_shows_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    shown = [run_cell(source, namespace, f"notebook cell {i}") for i, source in enumerate(cells())]
    reports = [value for value in shown if hasattr(value, "_repr_html_")]
    assert len(reports) == 3  # the course network, the fixed one and the Keras model
    for report in reports:
        html = report._repr_html_()
        assert "<svg " in html and "<table>" in html and "<script" not in html
    course, fixed, small = reports
    assert course.count("error") == 2 and fixed.count("error") == 0  # the conv fixed, the pool after it fits too
    assert small.total_params == namespace["model"].count_params()
