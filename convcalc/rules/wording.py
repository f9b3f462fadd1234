"""Wording shared by rule messages: exact fractions, per-axis sentences said once, plurals and shares."""

from __future__ import annotations

from fractions import Fraction


def format_fraction(value: Fraction) -> str:
    """``= `` an exact decimal when it has one in ≤ 4 places, else ``≈ `` two places.

    >>> format_fraction(Fraction(9, 2)), format_fraction(Fraction(10, 3))
    ('= 4.5', '≈ 3.33')
    """
    if (value * 10_000).denominator == 1:
        return "= " + f"{value.numerator / value.denominator:.4f}".rstrip("0").rstrip(".")
    return f"≈ {float(value):.2f}"


def per_axis(parts: list[tuple[str, str]], both: str = "") -> str:
    """(axis, sentence) pairs as one text: a square layer's identical sentences said once, after ``both``.

    >>> per_axis([("height", "P = 1"), ("width", "P = 1")], "height and width: ")
    'height and width: P = 1'
    >>> per_axis([("height", "P = 1"), ("width", "P = 2")])
    'height: P = 1; width: P = 2'
    """
    if len(parts) == 2 and parts[0][1] == parts[1][1]:
        return both + parts[0][1]
    return "; ".join(f"{axis}: {text}" for axis, text in parts)


def plural(count: int, word: str) -> str:
    """``1 layer``, ``2 layers``, ``1,024 channels``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percent(part: int, whole: int) -> str:
    """``8`` for exact or large shares, one decimal for small ones."""
    share = 100 * part / whole
    return f"{share:.0f}" if share >= 10 or share == int(share) else f"{share:.1f}"


def fraction_text(value: Fraction) -> str:
    """An exact value as an int when whole, else its shortest float (``0.5``)."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
