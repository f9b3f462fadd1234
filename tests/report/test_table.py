"""The terminal table at the widths people have: figures and shapes never split, columns dropped in the
documented order, folded rows with per-layer figures, and the width a pipe gets."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.cli_options import output_width, wants_color
from convcalc.report import table
from convcalc.report.common import DEFAULT_WIDTH, RenderOptions
from convcalc.report.rows import COLUMN, table_rows, visible_columns
from convcalc.text import human_count
from tests.helpers import check_example

WIDTHS = [60, 80, 100, 120, 200]
NETWORKS = ["vgg16", "resnet50"]


def table_lines(rendered: str) -> list[str]:
    """The body of the first table: the lines between its header rule and its bottom border."""
    lines = rendered.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1 : end]


def cells_of(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│").split("│")]


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "all"])
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NETWORKS)
def test_no_figure_or_shape_is_split_at_any_width(name: str, width: int, fold: bool) -> None:
    checked = check_example(name)
    rendered = table.render([checked], RenderOptions(width=width, fold=fold))
    body = table_lines(rendered)
    assert all(cell_len(line) <= width for line in rendered.splitlines()), width
    rows = {}
    for line in body:  # a row's first line starts with its index: 7, or 18…28 for a folded run's member
        cells = cells_of(line)
        if cells[0] and "–" not in cells[0]:
            rows[int(cells[0].split("…")[0])] = cells
    spans = [
        (int(a), int(b)) for key in (cells_of(line)[0] for line in body) if "…" in key for a, b in [key.split("…")]
    ]
    for layer in checked.facts.layers:
        cells = rows.get(layer.index)
        if cells is None:  # a later repeat of a folded row
            assert fold and any(a < layer.index <= b for a, b in spans), layer.index
            continue
        assert str(layer.output_shape) in " ".join(cells), (layer.index, cells)
        assert f"{layer.params:,}" in cells or human_count(layer.params) in cells, (layer.index, cells)


@pytest.mark.parametrize("name", NETWORKS)
def test_columns_go_in_the_documented_order_and_the_core_stays(name: str) -> None:
    checked = check_example(name)
    rows = table_rows(checked, True)
    shown = [[c.key for c in table.fit_columns(rows, checked.facts, width)[0]] for width in range(40, 400, 4)]
    full = {c.key for c in visible_columns(checked.facts)}
    prefixes = [full & set(table.DROP_ORDER[:i]) for i in range(len(table.DROP_ORDER) + 1)]
    for keys in shown:
        gone = full - set(keys)
        assert gone in prefixes, f"dropped {sorted(gone)}: not a prefix of DROP_ORDER"
        assert {"index", "layer", "settings"} <= set(keys)
        assert "params" in keys or "params_short" in keys
        assert "shapes" in keys or "output" in keys
    assert {c.key for c in visible_columns(checked.facts)} == set(shown[-1]), "at 400 columns nothing is dropped"


def test_drop_order_names_real_columns() -> None:
    assert set(table.DROP_ORDER) <= set(COLUMN)
    assert {"index", "layer", "settings"}.isdisjoint(table.DROP_ORDER)


def test_resnet50_folds_its_bottleneck_blocks_on_their_fork() -> None:
    checked = check_example("resnet50")
    rendered = table.render([checked], RenderOptions(width=200))
    assert len(table_lines(rendered)) < 110  # 177 layers
    assert "2× these 10 layers" in rendered and "5× these 10 layers" in rendered
    # each folded block starts at the conv that reads the previous block's output (the fork), not at the relu
    body = [cells_of(line) for line in table_lines(rendered)]
    headings = [i for i, cells in enumerate(body) if cells[1].endswith("these 10 layers")]
    for i in headings:
        assert body[i + 1][1].endswith("_1_conv ×" + body[i][1].split("×")[0])


def test_a_folded_row_gives_per_layer_figures_and_the_count() -> None:
    checked = check_example("vgg16")
    rendered = table.render([checked], RenderOptions(width=200))
    conv5 = next(cells_of(line) for line in table_lines(rendered) if "conv5_1 ×3" in line)
    assert "2,359,808" in conv5  # one conv's params, not three
    assert "3×1.7%" in conv5  # its share, counted three times
    assert table.FOLD_NOTE.split(";")[0] in " ".join(rendered.split())


def test_macs_are_in_human_units_in_the_table_and_the_totals() -> None:
    checked = check_example("lenet5")
    rendered = table.render([checked], RenderOptions(width=200))
    assert "e-0" not in rendered
    total = checked.facts.total_macs
    assert f"{total:,} ({human_count(total)};" in " ".join(rendered.split())


def test_a_pipe_gets_100_columns_or_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_width(None, terminal=False) == DEFAULT_WIDTH == 100
    assert output_width(70, terminal=False) == 70
    monkeypatch.setenv("COLUMNS", "83")
    assert output_width(None, terminal=False) == 83
    monkeypatch.setenv("COLUMNS", "junk")
    assert output_width(None, terminal=False) == 100
    runner = CliRunner()
    for columns, most in (("", 100), ("64", 64)):
        result = runner.invoke(app, ["check", "examples/vgg16.json"], env={"COLUMNS": columns})
        assert result.exit_code == 0
        assert max(cell_len(line) for line in result.stdout.splitlines()) <= most


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_color(True) and not wants_color(False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(True)
