"""The inverse calculator: everything it lists fits, and nothing in bounds that fits is missed."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.loading import load_spec
from convcalc.solver import MAGIC, Bounds, fitting_input_sizes, network_fits, solve_window
from tests.helpers import ROOT, examples


def brute_force(in_size: int, out_size: int, bounds: Bounds) -> set[tuple[int, int, int]]:
    """Count window positions directly, without the formula."""
    found = set()
    for f in range(1, bounds.max_kernel + 1):
        for s in range(1, bounds.max_stride + 1):
            for p in range(0, f):
                padded = in_size + 2 * p
                starts = list(range(0, padded - f + 1, s))
                # Exact: the last window ends on the last padded pixel.
                if starts and starts[-1] + f == padded and len(starts) == out_size:
                    found.add((f, s, p))
    return found


@examples(150, deadline=None)
@given(st.integers(1, 80), st.integers(1, 80), st.integers(1, 12), st.integers(1, 6))
def test_solve_window_is_exactly_the_brute_force_set(in_size, out_size, max_kernel, max_stride):
    bounds = Bounds(max_kernel=max_kernel, max_stride=max_stride)
    found = solve_window(in_size, out_size, bounds=bounds)
    assert len(found) == len(set(found))
    assert set(found) == brute_force(in_size, out_size, bounds)
    for f, s, p in found:
        assert (in_size - f + 2 * p) % s == 0 and (in_size - f + 2 * p) // s + 1 == out_size


@examples(100, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64))
def test_magic_numbers_come_first(in_size, out_size):
    found = solve_window(in_size, out_size)
    magic_positions = [i for i, w in enumerate(found) if w in MAGIC]
    assert magic_positions == list(range(len(magic_positions)))


def test_alexnet_conv1_is_among_the_solutions():
    assert (11, 4, 0) in solve_window(227, 55)


def test_fixed_values_constrain_the_search():
    assert solve_window(32, 32, kernel=3) == [(3, 1, 1)]
    assert all(s == 2 for _, s, _ in solve_window(64, 32, stride=2))
    assert all(p == 0 for _, _, p in solve_window(64, 32, padding=0))


def test_fitting_input_sizes_fit_and_are_nearest_first():
    net = analyze(load_spec(str(ROOT / "examples" / "stride_mismatch.json")).network)
    heights, widths = fitting_input_sizes(net)
    assert heights == [9, 11, 7] and widths == heights
    for h in heights:
        shape = net.network.input.model_copy(update={"height": h, "width": h})
        assert network_fits(analyze(net.network.model_copy(update={"input": shape}))) == (True, True)


def test_solve_cli_json_contract():
    result = CliRunner().invoke(app, ["solve", "--in", "227", "--out", "55", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"kernel": 11, "stride": 4, "padding": 0} in payload
    assert all(set(item) == {"kernel", "stride", "padding"} for item in payload)
