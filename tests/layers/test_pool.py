"""Ceil-mode and adaptive pooling: the arithmetic against brute-force enumerations, the analysis, the rules, the
calculator, validation and the Keras import (no TensorFlow here; tests/export/test_pool_semantics.py runs it)."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc import arithmetic as ar
from convcalc.cli import app
from convcalc.importers.keras import spec_from_keras_config
from convcalc.layers import WindowAxis
from convcalc.layers.pool import KERAS_ADAPTIVE_EXACT
from tests.helpers import analyze_spec, check_spec, examples

PROPERTY = examples(300)


@st.composite
def torch_windows(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(W, F, S, P) as PyTorch's ceil-mode pools accept them: P ≤ F/2 and F < W + 2P + S (a window may hang past
    the padded input by less than a stride)."""
    kernel = draw(st.integers(1, 9))
    padding = draw(st.integers(0, kernel // 2))
    stride = draw(st.integers(1, 7))
    size = draw(st.integers(max(1, kernel - 2 * padding - stride + 1), 60))
    return size, kernel, stride, padding


def ceil_mode_windows(size: int, kernel: int, stride: int, padding: int) -> list[int]:
    """The starts (in padded rows) of PyTorch's ceil-mode windows, by sliding: another window while some padded
    row is still unread, as long as it starts inside the input or the left padding."""
    starts: list[int] = []
    while not starts or starts[-1] + kernel < size + 2 * padding:
        start = len(starts) * stride
        if start >= size + padding:
            break
        starts.append(start)
    return starts


@PROPERTY
@given(torch_windows())
def test_ceil_mode_size_counts_the_windows_pytorch_slides(window: tuple[int, int, int, int]) -> None:
    size, kernel, stride, padding = window
    result = ar.ceil_mode_output_size(size, kernel, stride, padding, padding)
    assert result.size == len(ceil_mode_windows(*window))
    floor = ar.conv_output_size(size, kernel, stride, padding, padding)
    assert floor.size <= result.size <= floor.size + 1
    assert result.size == floor.size + (result.size != floor.size)
    assert result.fits and result.rounding == "ceil" and floor.rounding == "floor"


@PROPERTY
@given(torch_windows())
def test_ceil_mode_leaves_no_input_unread_but_a_strides_gap(window: tuple[int, int, int, int]) -> None:
    size, kernel, stride, padding = window
    starts = ceil_mode_windows(*window)
    read = {row for start in starts for row in range(start, start + kernel)}
    last_input_row = padding + size - 1
    unread_after = [row for row in range(padding, last_input_row + 1) if row > max(read)]
    assert len(unread_after) <= max(0, stride - kernel)
    result = ar.ceil_mode_output_size(size, kernel, stride, padding, padding)
    axis = WindowAxis("height", "row", size, kernel, stride, padding, padding, result)
    assert axis.lost == 0 and not axis.drops_padding


@PROPERTY
@given(st.integers(1, 200), st.integers(1, 200))
def test_adaptive_windows_are_pytorchs_and_the_largest_is_exact(size: int, out: int) -> None:
    windows = [ar.adaptive_window(i, size, out) for i in range(out)]
    for i, (start, end) in enumerate(windows):
        assert start == int(Fraction(i * size, out).__floor__())
        assert end == int(Fraction((i + 1) * size, out).__ceil__())
        assert 0 <= start < end <= size
    assert windows[0][0] == 0 and windows[-1][1] == size
    assert ar.adaptive_largest_window(size, out) == max(end - start for start, end in windows)
    assert ar.adaptive_largest_window(size, out) <= -(-size // out) + 1


@PROPERTY
@given(st.integers(1, 4096), st.integers(1, 4096))
def test_keras_float32_adaptive_bounds_are_exact_below_the_limit(size: int, out: int) -> None:
    np = pytest.importorskip("numpy")
    if size * out >= KERAS_ADAPTIVE_EXACT:
        return
    index = np.arange(out, dtype=np.float32)
    # What Keras computes: float32 products and quotients, then floor and ceil.
    starts = np.floor(index * np.float32(size) / np.float32(out)).astype(int)
    ends = np.ceil((index + 1) * np.float32(size) / np.float32(out)).astype(int)
    exact = [ar.adaptive_window(i, size, out) for i in range(out)]
    assert [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)] == exact


def pool_net(size: int | list[int], **layer: Any) -> dict[str, Any]:
    height, width = (size, size) if isinstance(size, int) else size
    return {"input": [height, width, 8], "layers": [{"type": "pool", **layer}]}


def test_googlenet_stem_pool_rounds_up() -> None:
    facts = analyze_spec(pool_net(112, kernel=3, stride=2, ceil_mode=True))
    layer = facts.layers[0]
    assert tuple(layer.output_shape) == (56, 56, 8)
    assert layer.spec.notation(layer.window) == "max F=3 S=2 P=0 ceil"


def test_ceil_mode_has_no_effect_with_same() -> None:
    facts = analyze_spec(pool_net(10, kernel=3, stride=3, padding="same", ceil_mode=True))
    assert tuple(facts.layers[0].output_shape) == (4, 4, 8)
    assert facts.layers[0].window is not None and not facts.layers[0].window.ceil_mode


@pytest.mark.parametrize(
    ("size", "output", "shape", "field"),
    [
        (14, 7, (7, 7, 8), 2),  # 14 = 2·7: every window 2
        (13, 7, (7, 7, 8), 3),  # 13 = 7 + 6, 6 ∤ 7: some window is 1 + 2
        ([5, 224], [3, 1], (3, 1, 8), 3),
    ],
)
def test_adaptive_pool_outputs_what_it_asks_for(size: Any, output: Any, shape: tuple[int, ...], field: int) -> None:
    facts = analyze_spec(pool_net(size, mode="avg", output=output))
    layer = facts.layers[0]
    assert tuple(layer.output_shape) == shape
    assert layer.window is None and layer.params == 0
    assert int(layer.rf_rows.size) == field
    assert layer.spec.notation(None) == f"avg adaptive → {shape[0]}×{shape[1]}"


def test_adaptive_receptive_field_steps_by_the_mean_window() -> None:
    facts = analyze_spec(pool_net(14, mode="max", output=7))
    rows = facts.layers[0].rf_rows
    assert (rows.size, rows.jump, rows.start) == (2, 2, 1)


def test_ceil_mode_pool_is_not_a_misfit_and_a_flooring_pool_is_offered_ceil_mode(tmp_path: Path) -> None:
    ceil = check_spec(pool_net(112, kernel=3, stride=2, ceil_mode=True), tmp_path)
    assert not [f for f in ceil.findings if f.code in ("CC101", "CC208", "CC108")]
    floor = check_spec(pool_net(112, kernel=3, stride=2), tmp_path)
    (misfit,) = [f for f in floor.findings if f.code == "CC101"]
    assert "floor it to 55" in misfit.message
    assert any(fix.title == "ceil_mode → 56×56×8" and fix.set == {"ceil_mode": True} for fix in misfit.fixes)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (pool_net(10, kernel=3, stride=3, ceil_mode=True), "gives 4×4 where the floor gives 3×3"),
        (pool_net(8, mode="l2", kernel=3, stride=2, ceil_mode=True), "L2Pooling2D reads whole windows only"),
        # A kernel wider than S = 2: "same" gives ceil(5/2) = 3, ceil mode 2 (found by an explore run).
        (pool_net([1, 5], kernel=[1, 4], stride=2, ceil_mode=True), "gives 1×2 where the floor gives 1×1"),
    ],
)
def test_ceil_mode_keras_cannot_compute_is_cc108(tmp_path: Path, spec: dict[str, Any], message: str) -> None:
    checked = check_spec(spec, tmp_path)
    (problem,) = [f for f in checked.findings if f.code == "CC108"]
    assert message in problem.message


def test_ceil_mode_one_axis_exact_is_exported_as_two_pools(tmp_path: Path) -> None:
    checked = check_spec(pool_net([8, 9], kernel=3, stride=2, ceil_mode=True), tmp_path)
    assert not [f for f in checked.findings if f.code == "CC108"]


def test_adaptive_pool_keras_float32_limit_is_cc108(tmp_path: Path) -> None:
    checked = check_spec(pool_net(4097, mode="avg", output=4096), tmp_path)
    (problem,) = [f for f in checked.findings if f.code == "CC108"]
    assert "float32" in problem.message and "2^24" in problem.message
    assert not [f for f in check_spec(pool_net(4096, mode="avg", output=4096), tmp_path).findings if f.code == "CC108"]


def test_adaptive_pool_that_would_fail_in_tensorflow_is_cc108_or_an_ordinary_pool(tmp_path: Path) -> None:
    # Keras's AdaptiveMaxPooling2D max-pools windows of ceil(W/out) + 1; one wider than the input (out = 1)
    # kills TensorFlow 2.21 with SIGFPE. Where out divides the input the windows are an ordinary pool's.
    from convcalc.export.plan import plan_export

    crashing = {"input": [5, 3, 2], "layers": [{"type": "pool", "mode": "max", "output": [2, 1]}]}
    (problem,) = [f for f in check_spec(crashing, tmp_path).findings if f.code == "CC108"]
    assert "crashes TensorFlow" in problem.message and "5×3 to 2×1" in problem.message
    # One axis dividing is not enough: 1 → 1 divides, but 3 → 2 does not, so Keras's own layer would run
    # (found by an explore run of the differential tests, whose strategy judged each axis alone).
    one_axis = {"input": [1, 3, 2], "layers": [{"type": "pool", "mode": "max", "output": [1, 2]}]}
    (problem,) = [f for f in check_spec(one_axis, tmp_path).findings if f.code == "CC108"]
    assert "1×3 to 1×2" in problem.message
    dividing = {"input": [4, 6, 2], "layers": [{"type": "pool", "mode": "max", "output": [2, 1]}]}
    assert not [f for f in check_spec(dividing, tmp_path).findings if f.code == "CC108"]
    (op,) = plan_export(analyze_spec(dividing)).ops
    assert (op.layer, op.kwargs["pool_size"], op.kwargs["strides"]) == ("MaxPooling2D", (2, 6), (2, 6))
    # Keras's average pool fails on the same windows once traced (found by an explore run: 3×2 → 1×2).
    averaging = {"input": [5, 3, 2], "layers": [{"type": "pool", "mode": "avg", "output": [2, 1]}]}
    (problem,) = [f for f in check_spec(averaging, tmp_path).findings if f.code == "CC108"]
    assert "Negative dimension size" in problem.message
    divides = {"input": [3, 2, 2], "layers": [{"type": "pool", "mode": "avg", "output": [1, 2]}]}
    assert not [f for f in check_spec(divides, tmp_path).findings if f.code == "CC108"]
    (op,) = plan_export(analyze_spec(divides)).ops
    assert (op.layer, op.kwargs["pool_size"]) == ("AveragePooling2D", (3, 1))


runner = CliRunner()


def test_calc_says_which_rounding_applies() -> None:
    ceil = runner.invoke(app, ["calc", "-i", "112x112x64", "-F", "3", "-S", "2", "--pool", "max", "--ceil-mode"])
    assert ceil.exit_code == 0, ceil.output
    assert "112×112×64 → 56×56×64" in ceil.output
    assert "55.5 is not an integer: ceil mode rounds it up to 56" in ceil.output
    floor = runner.invoke(app, ["calc", "-i", "112x112x64", "-F", "3", "-S", "2", "--pool", "max"])
    assert floor.exit_code == 1 and "TensorFlow floors it to 55" in floor.output
    decrement = runner.invoke(
        app, ["calc", "-i", "5x5", "-F", "2", "-S", "2", "-P", "1", "--pool", "avg", "--ceil-mode"]
    )
    assert "start at 6 ≥ W + P = 6" in decrement.output and "so 3: the same as the floor" in decrement.output
    data = json.loads(
        runner.invoke(
            app, ["calc", "-i", "9x9x1", "-F", "2", "-S", "2", "--pool", "max", "--ceil-mode", "-f", "json"]
        ).output
    )
    assert data["output_shape"] == [5, 5, 1] and data["rounding"] == "ceil" and data["fits"]


def test_calc_ceil_mode_needs_a_pool() -> None:
    result = runner.invoke(app, ["calc", "-i", "9x9x1", "-F", "3", "-K", "4", "--ceil-mode"])
    assert result.exit_code == 2 and "--ceil-mode applies to a pool layer" in result.output


@pytest.mark.parametrize(
    ("layer", "where", "message"),
    [
        ({"output": 7, "kernel": 2}, "layers[0].kernel", "kernel does not go with output"),
        ({"output": 7, "stride": 2}, "layers[0].stride", "stride does not go with output"),
        ({"output": 7, "padding": 1}, "layers[0].padding", "padding does not go with output"),
        ({"output": 7, "ceil_mode": True}, "layers[0].ceil_mode", "ceil_mode does not go with output"),
        ({"output": 7, "mode": "l2"}, "layers[0].output", "adaptive pooling is max or avg"),
        ({"output": 0}, "layers[0].output", "must be ≥ 1"),
        ({}, "layers[0].kernel", "required field is missing"),
        ({"kernel": 2, "ceil_mode": "yes"}, "layers[0].ceil_mode", "must be true or false"),
    ],
)
def test_bad_pool_fields_exit_2_with_their_position(
    tmp_path: Path, layer: dict[str, Any], where: str, message: str
) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"input": [14, 14, 8], "layers": [{"type": "pool", **layer}]}, indent=1))
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 2
    assert re.search(rf"bad\.json:\d+:\d+: {re.escape(where)}: {re.escape(message)}", result.output), result.output


def tensor(name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


@pytest.mark.parametrize(("class_name", "mode"), [("AdaptiveAveragePooling2D", "avg"), ("AdaptiveMaxPooling2D", "max")])
def test_keras_adaptive_pooling_imports(class_name: str, mode: str) -> None:
    pool = {
        "class_name": class_name,
        "module": "keras.layers",
        "config": {"name": "p", "output_size": [3, 2], "data_format": "channels_last"},
        "inbound_nodes": [{"args": [tensor("x")], "kwargs": {}}],
    }
    model = {
        "class_name": "Functional",
        "config": {
            "name": "f",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"name": "x", "batch_shape": [None, 8, 9, 3]},
                    "inbound_nodes": [],
                },
                pool,
            ],
            "input_layers": ["x", 0, 0],
            "output_layers": ["p", 0, 0],
        },
    }
    spec = spec_from_keras_config(model)
    assert spec["layers"] == [{"type": "pool", "mode": mode, "output": [3, 2], "name": "p"}]
    assert tuple(analyze_spec(spec).output_shape) == (3, 2, 3)
