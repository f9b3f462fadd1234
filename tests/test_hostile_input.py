"""Hostile input (issue 11): no traceback, no hang, no quadratic walk, and every limit refused at once, by name.

Big inputs are generated here, at the real limits, never committed. The costs are pinned by counting the
work (difflib searches, membership tests, validated chunks, regex memory) rather than by timing, except
where a generous wall-clock bound is the clearest statement (ten or more times what the code takes).
"""

from __future__ import annotations

from typing import Any

import pytest

from convcalc import graph
from convcalc.spec import Network

# --- quadratic walks made linear ----------------------------------------------------------------------------


def test_unknown_inputs_get_a_bounded_number_of_did_you_mean_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: difflib over every earlier name for each of 2,000 unknown inputs (127 s in the issue).
    searched: list[int] = []
    real = graph.difflib.get_close_matches

    def counting(word: str, candidates: list[str], *args: Any, **kwargs: Any) -> list[str]:
        searched.append(len(candidates))
        return real(word, candidates, *args, **kwargs)

    monkeypatch.setattr(graph.difflib, "get_close_matches", counting)
    layers: list[dict[str, Any]] = []
    for i in range(2000):
        layers += [{"type": "relu", "name": f"conv_block_{i}"}, {"type": "relu", "inputs": [f"conv_blok_{i}"]}]
    problems = graph.graph_problems(Network.model_validate({"input": [8, 8, 1], "layers": layers}))
    assert len(problems) == 2000
    assert len(searched) == graph.MAX_SUGGESTIONS
    assert max(searched) <= graph.SUGGESTION_CANDIDATES + 1
    assert "did you mean 'conv_block_0'?" in problems[0][1]
    assert "did you mean" not in problems[-1][1]
    assert "earlier names: 'input', 'conv_block_0'" in problems[-1][1]


def test_graph_problems_stop_at_most() -> None:
    layers = [{"type": "relu", "inputs": [f"missing{i}"]} for i in range(5000)]
    network = Network.model_validate({"input": [8, 8, 1], "layers": layers})
    assert len(graph.graph_problems(network, most=10)) == 10
