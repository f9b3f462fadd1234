"""convcalc.report: folding repeats is exact, and the rendered tables show every figure."""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.analysis import FIGURE_LIMIT
from convcalc.arithmetic import ReceptiveField
from convcalc.checked import CheckedSpec
from convcalc.checking import check_loaded
from convcalc.folding import MAX_BLOCK, Run
from convcalc.loading import LoadedSpec, SourceMap, SpecError, load_spec
from convcalc.report import json_report, markdown, table
from convcalc.report.common import PerField, RenderOptions
from convcalc.report.rows import fold_runs, row_signature
from convcalc.spec import Network
from convcalc.text import human_bytes
from convcalc.text import share as percent
from tests.helpers import EXAMPLES, examples
from tests.strategies import MAX_SIZE, spec_dicts

# Layers that keep a 6×6×4 volume 6×6×4, so that any sequence of them is a valid network and repeats are
# identical rows.
SHAPE_KEEPING = {
    "r": {"type": "relu"},
    "c": {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
    "k": {"type": "conv", "filters": 4, "kernel": 1},
    "p": {"type": "pool", "kernel": 1},
    "s": {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "bias": False},
}

blocks = st.lists(st.sampled_from(sorted(SHAPE_KEEPING)), min_size=1, max_size=4)
sequences = st.lists(st.tuples(blocks, st.integers(1, 6)), min_size=1, max_size=8).map(
    lambda parts: "".join("".join(block) * count for block, count in parts)[:80]
)


def checked_spec(spec: dict[str, Any], file: str = "generated.json") -> CheckedSpec:
    return check_loaded(LoadedSpec(file=file, network=Network.model_validate(spec), source=SourceMap()))


def network_of(letters: str) -> dict[str, Any]:
    return {"input": [6, 6, 4], "layers": [SHAPE_KEEPING[letter] for letter in letters]}


def expected_runs(signatures: list[Any], min_count: int = 2) -> list[Run]:
    """fold_runs' documented rule, re-done naively: at each position, the block length whose repeats cover
    the most layers wins (shortest on ties), when folding saves rows (count·length > length + 2)."""
    runs = []
    i, n = 0, len(signatures)
    while i < n:
        best = Run(i, 1, 1)
        for length in range(1, MAX_BLOCK + 1):
            count = 1
            while signatures[i + count * length : i + (count + 1) * length] == signatures[i : i + length] and (
                i + (count + 1) * length <= n
            ):
                count += 1
            if count >= min_count and count * length > length + 2 and count * length > best.count * best.length:
                best = Run(i, length, count)
        runs.append(best)
        i += best.length * best.count
    return runs


# --- fold_runs ------------------------------------------------------------------------------------------


@given(sequences)
@examples(200)
def test_runs_partition_the_layers_exactly(letters: str) -> None:
    layers = checked_spec(network_of(letters)).facts.layers
    runs = fold_runs(layers)
    assert runs[0].start == 0
    for before, after in itertools.pairwise(runs):
        assert after.start == before.start + before.length * before.count
    assert sum(run.length * run.count for run in runs) == len(layers)
    for run in runs:
        assert 1 <= run.length <= MAX_BLOCK
        assert run.count >= 1
        # The renderers print one row for an unfolded run: it must be one layer.
        assert run.count > 1 or run.length == 1


@given(sequences)
@examples(200)
def test_every_folded_run_repeats_identical_rows(letters: str) -> None:
    layers = checked_spec(network_of(letters)).facts.layers
    for run in fold_runs(layers):
        block = [row_signature(layer) for layer in layers[run.start : run.start + run.length]]
        for repeat in range(run.count):
            start = run.start + repeat * run.length
            assert [row_signature(layer) for layer in layers[start : start + run.length]] == block
        if run.count > 1:
            assert run.count * run.length > run.length + 2, "folding must save rows"


@given(sequences)
@examples(200)
def test_folding_follows_its_documented_rule(letters: str) -> None:
    layers = checked_spec(network_of(letters)).facts.layers
    assert fold_runs(layers) == expected_runs([row_signature(layer) for layer in layers])


def test_nothing_folds_without_repeats() -> None:
    layers = checked_spec(network_of("rckps")).facts.layers
    assert fold_runs(layers) == [Run(i, 1, 1) for i in range(5)]


def test_vgg16_folds_its_three_conv5_blocks() -> None:
    layers = check_loaded(load_spec(str(EXAMPLES / "vgg16.json"))).facts.layers
    assert Run(24, 2, 3) in fold_runs(layers)


# --- a 1,000-layer network ------------------------------------------------------------------------------

BIG = {
    "name": "deep",
    "input": [8, 8, 4],
    "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "relu"}] * 499
    + [{"type": "flatten"}, {"type": "fc", "units": 10}],
}
BIG_TOTAL = 499 * (3 * 3 * 4 * 4 + 4) + (8 * 8 * 4 * 10 + 10)


def render_table(checked: CheckedSpec, fold: bool = True) -> str:
    return table.render([checked], RenderOptions(fold=fold, width=400))


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and body rows of a rendered rich table, cell texts stripped."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("┃"))
    body = [line for line in lines if line.startswith("│")]

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]

    return cells(header), [cells(line) for line in body]


def markdown_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip("|").split("|")]

    return cells(lines[0]), [cells(line) for line in lines[2:]]


def layer_rows(header: list[str], rows: list[list[str]]) -> list[tuple[list[int], dict[str, str]]]:
    """(layer indices a row stands for, its cells by column) for every layer row (not input, not group headers)."""
    result = []
    for row in rows:
        cells = dict(zip(header, row, strict=False))
        index, name = cells["#"], cells["layer"]
        if not index or "–" in index:  # the input row; a run's header row ("24–29", "block … repeated 3×")
            continue
        if "…" in index:
            first, last = (int(part) for part in index.split("…"))
            count = int(name.rsplit("×", 1)[1])
            step = (last - first) // (count - 1)
            result.append((list(range(first, last + 1, step)), cells))
        else:
            result.append(([int(index)], cells))
    return result


def test_a_1000_layer_spec_folds_into_few_rows() -> None:
    checked = checked_spec(BIG)
    assert len(checked.facts.layers) == 1000
    header, rows = table_rows(render_table(checked))
    assert len(rows) <= 8
    covered = layer_rows(header, rows)
    assert sorted(index for indices, _ in covered for index in indices) == list(range(1000))


def test_the_folded_table_shows_every_figure_exactly() -> None:
    checked = checked_spec(BIG)
    text = render_table(checked)
    header, rows = table_rows(text)
    total = 0
    for indices, cells in layer_rows(header, rows):
        params = int(cells["params"].replace(",", ""))
        assert params == checked.facts.layers[indices[0]].params
        total += params * len(indices)
    assert total == BIG_TOTAL == checked.facts.total_params
    assert f"total params: {BIG_TOTAL:,}" in text
    for shape in ("8×8×4 → 8×8×4", "8×8×4 → 1×1×256", "1×1×256 → 1×1×10"):
        assert shape in text


def test_the_unfolded_table_has_one_row_per_layer() -> None:
    header, rows = table_rows(render_table(checked_spec(BIG), fold=False))
    assert [indices for indices, _ in layer_rows(header, rows)] == [[i] for i in range(1000)]


def test_markdown_folds_the_same_way() -> None:
    checked = checked_spec(BIG)
    header, rows = markdown_rows(markdown.render([checked]))
    covered = layer_rows(header, rows)
    assert sorted(index for indices, _ in covered for index in indices) == list(range(1000))
    assert sum(int(cells["params"].replace(",", "")) * len(indices) for indices, cells in covered) == BIG_TOTAL


def represents(shown: str, actual: str) -> bool:
    """A folded cell is true for a layer when it is that layer's figure, or a range ("132–196") holding it."""
    if shown == actual:
        return True
    parts = re.split("[–…]", shown)
    numbers = [re.search(r"\d[\d,]*", part) for part in [*parts, actual]]
    if len(parts) != 2 or not all(numbers):
        return False
    low, high, value = (int(match.group().replace(",", "")) for match in numbers if match)
    return low <= value <= high


FOLDED_SPECS = [
    pytest.param(lambda: checked_spec(BIG), id="1000 layers"),
    pytest.param(lambda: check_loaded(load_spec(str(EXAMPLES / "vgg16.json"))), id="vgg16"),
]


@pytest.mark.parametrize("make", FOLDED_SPECS)
@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_folded_row_is_true_for_every_layer_it_stands_for(make: Any, fmt: str) -> None:
    # The README promises "every figure stays exact" when runs fold: each cell of a folded row (apart from
    # the index, the name and the share of the whole run) must be what --all prints for each layer of the run.
    checked = make()
    if fmt == "table":
        folded = layer_rows(*table_rows(render_table(checked)))
        unfolded = layer_rows(*table_rows(render_table(checked, fold=False)))
    else:
        folded = layer_rows(*markdown_rows(markdown.render([checked])))
        unfolded = layer_rows(*markdown_rows(markdown.render([checked], RenderOptions(fold=False))))
    by_index = {indices[0]: cells for indices, cells in unfolded}
    ignored = {"#", "layer", "share"}
    mismatches = []
    for indices, cells in folded:
        for index in indices:
            actual = by_index[index]
            differing = {
                column: (shown, actual[column])
                for column, shown in cells.items()
                if column not in ignored and not represents(shown, actual[column])
            }
            if differing:
                mismatches.append((index, differing))
    assert not mismatches, f"{len(mismatches)} layers misreported, e.g. {mismatches[:3]}"


# --- small helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (553_430_176, "527.8 MiB"), (3 * 1024**4, "3.0 TiB")],
)
def test_human_bytes(count: int, text: str) -> None:
    assert human_bytes(count) == text


@pytest.mark.parametrize(
    ("part", "whole", "text"), [(0, 100, "0%"), (1, 2000, "<0.1%"), (1, 3, "33.3%"), (5, 5, "100.0%")]
)
def test_percent(part: int, whole: int, text: str) -> None:
    assert percent(part, whole) == text


# --- every valid spec renders -------------------------------------------------------------------------------


@given(spec_dicts(max_layers=6), st.booleans())
@examples(100)
def test_every_valid_spec_renders_in_every_format(spec: dict[str, Any], fold: bool) -> None:
    checked = checked_spec(spec)
    text = render_table(checked, fold=fold)
    assert f"total params: {checked.facts.total_params:,}" in text
    assert "\x1b" not in text
    assert f"{checked.facts.total_params:,}" in markdown.render([checked], RenderOptions(fold=fold))
    report = json.loads(json_report.render([checked]))
    assert report["total_params"] == checked.facts.total_params
    assert [layer["output_shape"] for layer in report["layers"]] == [
        list(layer.output_shape) for layer in checked.facts.layers
    ]


@given(st.integers(1, MAX_SIZE), st.integers(1, MAX_SIZE), st.integers(1, MAX_SIZE), st.integers(1, MAX_SIZE))
@examples(50)
def test_int32_sized_networks_render_exactly(height: int, width: int, depth: int, units: int) -> None:
    spec = {
        "input": [height, width, depth],
        "layers": [{"type": "conv", "filters": units, "kernel": 1}, {"type": "fc", "units": units}],
    }
    figures = (height * width * units * (depth + 1), height * width * units**2)
    if max(figures) > FIGURE_LIMIT:
        # Past convcalc's documented limit: invalid input that names the layer, never a crash or a wrong figure.
        with pytest.raises(SpecError, match=r"pass 2\^63, convcalc's limit"):
            checked_spec(spec)
        return
    checked = checked_spec(spec)
    expected = depth * units + units + height * width * units * units + units
    assert checked.facts.total_params == expected
    assert f"total params: {expected:,}" in render_table(checked)
    assert json.loads(json_report.render([checked]))["total_params"] == expected


def test_a_value_per_field_is_made_once_for_each_field_and_is_that_field_s() -> None:
    # ResNet-50: relus and batchnorms pass their input's field on whole (the same objects), so far fewer
    # fields than layers; each layer still gets the value made from its own field.
    facts = check_loaded(load_spec(str(EXAMPLES / "resnet50.json"))).facts
    made: list[int] = []

    def field_sizes(layer: Any) -> tuple[Any, Any]:
        made.append(layer.index)
        return layer.rf_rows.size, layer.rf_cols.size

    per_field = PerField(field_sizes)
    for layer in facts.layers:
        assert per_field(layer) == (layer.rf_rows.size, layer.rf_cols.size)
    distinct = {(id(layer.rf_rows), id(layer.rf_cols)) for layer in facts.layers}
    assert len(made) == len(distinct) < len(facts.layers) / 2


def test_a_value_per_field_is_never_another_field_s_when_fields_come_and_go() -> None:
    # Fields made and dropped one after another: Python reuses a freed object's id at once, which a memo keyed
    # by ids alone would take for the old field's.
    layer = check_loaded(load_spec(str(EXAMPLES / "lenet5.json"))).facts.layers[0]
    per_field = PerField(lambda layer: layer.rf_rows.size)
    for size in range(1, 300):
        field = ReceptiveField(Fraction(size), Fraction(1), Fraction(size, 2))
        assert per_field(layer._replace(rf_rows=field, rf_cols=field)) == size
