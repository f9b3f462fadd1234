"""The grid's shortcuts give what the long way gives: rich's cell widths, the word-by-word wrap, and the rows
padded in one go."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rich.cells import cell_len

from convcalc.report import grid as grid_module
from convcalc.report.grid import ONE_CELL, GridColumn, GridRow, cell_width, grid, one_line, wrap, wrap_words
from tests.helpers import examples

# Spaces and line breaks to wrap at, ASCII, the symbols convcalc writes, wide and zero-width characters.
texts = st.text(st.sampled_from(list(" \n\tab-×−→…·卷积é\u0301\u200d👨\u202e\x1b")) | st.characters(), max_size=40)


@given(texts)
@examples(500)
@example("conv1 3×3×64 → 224×224×64")
@example("卷积")
def test_cell_width_is_richs(text: str) -> None:
    assert cell_width(text) == cell_len(text)


def test_the_one_cell_characters_are_one_cell_wide_by_richs_measure() -> None:
    assert {character for character in ONE_CELL if cell_len(character) != 1} == set()
    assert {"×", "→", "a", " ", "~"} <= ONE_CELL


@given(texts, st.integers(min_value=1, max_value=30))
@examples(500)
@example(" leading space", 40)
@example("trailing space ", 40)
@example("two  spaces", 40)
@example("", 0)
def test_wrap_is_the_word_by_word_wrap(text: str, width: int) -> None:
    assert wrap(text, width) == wrap_words(text, width)


@given(texts, st.integers(min_value=1, max_value=30))
@examples(300)
@example("F=3 S=1 P=1 K=64\nand a second paragraph", 7)
def test_wrap_words_by_length_is_wrap_words_by_cell_width(text: str, width: int) -> None:
    # One-cell texts are measured with len: the lines are those rich's cell widths give.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid_module, "ONE_CELL", frozenset())
        by_cell_width = wrap_words(text, width)
    assert wrap_words(text, width) == by_cell_width


def test_a_cell_that_fits_is_its_own_line() -> None:
    assert wrap("F=3 S=1 P=1 K=64", 16) == ["F=3 S=1 P=1 K=64"]
    assert wrap("F=3 S=1 P=1 K=64", 15) == ["F=3 S=1 P=1", "K=64"]


@given(
    st.lists(st.tuples(texts, texts, st.sampled_from(["", "dim italic"])), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=12),
    st.booleans(),
)
@examples(300)
@example([("conv1", " 3×3", ""), ("卷积", "a b c d e f", "")], 4, False)
def test_rows_on_one_line_are_drawn_as_the_long_way_draws_them(
    rows: list[tuple[str, str, str]], width: int, color: bool
) -> None:
    columns = [GridColumn("name", 6, right=True), GridColumn("settings", width, wraps=True)]
    grid_rows = [GridRow([name, settings], style) for name, settings, style in rows]
    drawn = grid(columns, grid_rows, title="t", color=color)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid_module, "one_line", lambda cells, columns: False)
        assert grid(columns, grid_rows, title="t", color=color) == drawn


def test_a_row_that_wraps_or_is_wide_is_not_on_one_line() -> None:
    columns = [GridColumn("a", 3), GridColumn("b", 4, wraps=True)]
    assert one_line(["abc", "F=3"], columns)
    assert not one_line(["abc", "F=3 S=1"], columns)  # wraps
    assert not one_line(["abc", " F=3"], columns)  # wrap drops a leading space
    assert not one_line(["卷积", "F=3"], columns)  # two cells a character
