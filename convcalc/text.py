"""How every output writes things: spec text made safe, counts, shares, sizes, pairs and exact fractions.

A leaf: it imports nothing from convcalc, so the rules, the reports, the diagram and the exporter can all
use it without depending on each other.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction


def printable(text: str) -> str:
    """Spec text made safe for a terminal or a page: what :meth:`str.isprintable` refuses is shown escaped.

    That is every control character (ESC, CR, LF, BEL, backspace, DEL, the C1 range), the bidi controls
    (U+202A–202E, U+2066–2069, U+200E/F, U+061C), the line and paragraph separators (U+2028/9), other
    format characters and separators (U+00A0, U+00AD, U+200D, U+FEFF), and the lone surrogates that stand
    for a file name's undecodable bytes (``\\udcff``), which no UTF-8 output could encode.

    >>> printable("conv\\x1b[31m"), printable("a\\u202eb"), printable("bad\\udcff.json")
    ('conv\\\\x1b[31m', 'a\\\\u202eb', 'bad\\\\udcff.json')
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# Written as a negated ASCII range: the same set as [\x7f-\U0010ffff], which takes 6 ms to compile at import.
_NOT_PLAIN_ASCII = re.compile("[^\x00-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch.isprintable():
        return ch
    if "\ud800" <= ch <= "\udfff":
        return "\\\\" + ascii(ch)[2:-1]  # a lone surrogate: no UTF-8 can carry it; show its name as text
    return json.dumps(ch)[1:-1]  # \u0085, \u2028, \u202e; a surrogate pair beyond the BMP


def json_safe(text: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` made safe to show and to encode as UTF-8.

    Whatever :func:`printable` escapes and JSON leaves raw (DEL, C1 controls, U+2028/9, bidi controls,
    other invisible characters) becomes a ``\\u`` escape, so a parser reads back the same string; a lone
    surrogate (a file name's undecodable byte) becomes the visible text ``\\udcff``, as :func:`printable`
    shows it. Outside strings JSON text is ASCII, so only string contents change.

    >>> json_safe(json.dumps(["a\\u202eb", "c\\x85", "bad\\udcff", "→"], ensure_ascii=False))
    '["a\\\\u202eb", "c\\\\u0085", "bad\\\\\\\\udcff", "→"]'
    """
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_PLAIN_ASCII.sub(_json_escape, text)


def plural(count: int, word: str) -> str:
    """``1 layer``, ``2 layers``, ``1,024 channels``.

    >>> plural(1, "layer"), plural(1024, "channel")
    ('1 layer', '1,024 channels')
    """
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def tally(items: Iterable[str]) -> str:
    """Each distinct item once, in order, with its count when more than one; a dash for none.

    >>> tally(["CC205", "CC201", "CC205", "CC205"]), tally([])
    ('CC201, CC205 ×3', '—')
    """
    counts = Counter(items)
    return ", ".join(item + (f" ×{n}" if n > 1 else "") for item, n in sorted(counts.items())) or "—"


def article(word: str) -> str:
    """``a`` or ``an`` before ``word``, by its first letter (good enough for layer kinds).

    >>> article("activation"), article("conv")
    ('an', 'a')
    """
    return "an" if word[:1].lower() in "aeiou" else "a"


def share(part: int, whole: int) -> str:
    """A share as a percentage with one decimal; ``<0.1%`` for small non-zero shares.

    >>> share(1, 3), share(1, 10_000), share(0, 5)
    ('33.3%', '<0.1%', '0%')
    """
    if whole == 0 or part == 0:
        return "0%" if part == 0 else "—"
    value = 100 * part / whole
    return "<0.1%" if value < 0.1 else f"{value:.1f}%"


def percent_number(part: int, whole: int) -> str:
    """The number of a percentage in a sentence: whole for exact or large shares, one decimal for small ones.

    >>> percent_number(1, 4), percent_number(1, 30)
    ('25', '3.3')
    """
    value = 100 * part / whole
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def human_bytes(count: int) -> str:
    """Bytes with binary units and one decimal.

    >>> human_bytes(896), human_bytes(553_433_216)
    ('896 B', '527.8 MiB')
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{count:,} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def human_count(count: int) -> str:
    """A count with a decimal (SI) prefix and two decimals, as FLOP counters print it; exact below 1,000.

    >>> human_count(896), human_count(3_456), human_count(15_470_000_000), human_count(999_999)
    ('896', '3.46 K', '15.47 G', '1.00 M')
    """
    if -1000 < count < 1000:  # exact, and most layers' counts (a ReLU's 0 params and MACs)
        return f"{count:,}"
    value = float(count) / 1000
    for unit in ("K", "M", "G", "T", "P"):
        if round(abs(value), 2) < 1000:
            return f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} E"


def pair_text(values: Sequence[int]) -> str:
    """``3`` for (3, 3), ``1×7`` otherwise: the course notation of a per-axis value.

    >>> pair_text((3, 3)), pair_text((1, 7))
    ('3', '1×7')
    """
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


def value_text(value: int | list[int] | str) -> str:
    """A spec value as fix titles write it: ``3``, ``1×3``, ``same``.

    >>> value_text(3), value_text([1, 3]), value_text("same")
    ('3', '1×3', 'same')
    """
    return "×".join(str(v) for v in value) if isinstance(value, list) else str(value)


def fraction_text(value: Fraction) -> str:
    """An exact value as an int when whole, else its shortest float.

    >>> fraction_text(Fraction(4)), fraction_text(Fraction(1, 2))
    ('4', '0.5')
    """
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def exact_decimal(value: Fraction) -> str:
    """``= `` an exact decimal when it has one in ≤ 4 places, else ``≈ `` two places.

    >>> exact_decimal(Fraction(9, 2)), exact_decimal(Fraction(10, 3))
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


def folded(word: str) -> str:
    """A spelling with case, ``_``, ``-`` and spaces folded away: how "did you mean" compares words.

    >>> folded("Leaky-ReLU"), folded("MaxPooling2D")
    ('leakyrelu', 'maxpooling2d')
    """
    return "".join(ch for ch in word.lower() if ch.isalnum())


def did_you_mean(value: object, allowed: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the allowed word ``value`` was meant to be, else empty: the same word with
    another case or separators first (``SAME``, ``leakyrelu``), then the closest spelling.

    >>> did_you_mean("SAME", ["same", "valid"]), did_you_mean("leakyrelu", ["relu", "leaky_relu"])
    (" (did you mean 'same'?)", " (did you mean 'leaky_relu'?)")
    >>> did_you_mean("sigmod", ["sigmoid", "tanh"]), did_you_mean(3, ["max"])
    (" (did you mean 'sigmoid'?)", '')
    """
    if not isinstance(value, str) or len(value) > 64:
        return ""
    exact = {folded(word): word for word in allowed}
    if folded(value) in exact:
        return f" (did you mean {exact[folded(value)]!r}?)"
    import difflib

    lowered = {word.lower(): word for word in allowed}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
