"""The repeat counts folding relies on, against a brute-force count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from convcalc.folding import MAX_BLOCK, count_repeats


def repeats_by_slicing(items: list[int], start: int, length: int) -> int:
    block = items[start : start + length]
    count = 1
    while items[start + count * length : start + (count + 1) * length] == block:
        count += 1
    return count


@given(st.lists(st.integers(0, 2), min_size=1, max_size=60), st.data())
def test_count_repeats_agrees_with_slicing(items: list[int], data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(items) - 1))
    length = data.draw(st.integers(1, min(MAX_BLOCK, len(items) - start)))
    assert count_repeats(items, start, length) == repeats_by_slicing(items, start, length)
