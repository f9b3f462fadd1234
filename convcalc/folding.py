"""Folding repeats: runs of identical items (layers, or the diagram's boxes) found greedily, in linear time.

The table folds repeated layers and blocks into one group, the diagram folds repeated boxes into one copy
marked ×n; both ask this module where the runs are and decide themselves which runs are worth folding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple


class Run(NamedTuple):
    """``count`` consecutive repeats of the block ``layers[start : start + length]``."""

    start: int
    length: int
    count: int  # type: ignore[assignment]  # a field, shadowing tuple's count() (never called on a record)


MAX_BLOCK = 16
"""Longest repeated block that folding looks for: a ResNet bottleneck with its batchnorms, relus and add (10
layers), a DenseNet layer (7), a MobileNetV2 inverted residual (9) fit."""


def count_repeats(signatures: Sequence[object], start: int, length: int) -> int:
    """How many times the block ``signatures[start : start + length]`` repeats back to back from ``start``.

    >>> count_repeats("abababc", 0, 2), count_repeats("abababc", 0, 1), count_repeats("aaab", 1, 1)
    (3, 1, 2)
    """
    return 1 + matching_streaks(signatures, length)[start] // length


def matching_streaks(signatures: Sequence[object], length: int) -> list[int]:
    """For each position j, how many items from j on equal the item ``length`` later, consecutively.

    The block at j repeats back to back 1 + streak[j] // length times: one backward pass per length
    answers every position, where comparing slices from each position would be quadratic (a ladder of
    identical adds that no block folds).

    >>> matching_streaks("abababc", 2)
    [4, 3, 2, 1, 0, 0, 0]
    """
    n = len(signatures)
    streak = [0] * n
    for j in range(n - length - 1, -1, -1):
        if signatures[j] == signatures[j + length]:
            streak[j] = streak[j + 1] + 1
    return streak


def greedy_runs(signatures: Sequence[object], start: int, worth: Callable[[int, int, int], bool]) -> list[Run]:
    """Split ``signatures[start:]`` into runs, folding consecutive repeats of identical blocks.

    Greedy from the left; at each position the block length covering the most items wins (the shortest
    on ties), among those ``worth(position, length, count)`` accepts. Repeat counts come from one
    :func:`matching_streaks` pass per block length, so the cost is linear (times ``MAX_BLOCK``). Unfolded
    items come back as runs of count 1.
    """
    ids: dict[object, int] = {}
    items = [ids.setdefault(signature, len(ids)) for signature in signatures]  # ints compare fast
    streaks: dict[int, list[int]] = {}
    runs: list[Run] = []
    i, n = start, len(items)
    while i < n:
        best = Run(i, 1, 1)
        for length in range(1, MAX_BLOCK + 1):
            if i + 2 * length > n:
                break
            if items[i] != items[i + length]:
                continue
            if length not in streaks:
                streaks[length] = matching_streaks(items, length)
            count = 1 + streaks[length][i] // length
            if count >= 2 and count * length > best.count * best.length and worth(i, length, count):
                best = Run(i, length, count)
        runs.append(best)
        i += best.length * best.count
    return runs
