"""Spec names → Keras layer names and Python identifiers: ASCII, valid, unique, never spec text as code.

A spec name may be any string (quotes, newlines, ``__import__('os')``, ``ﬁlter`` …). Generated code and
Keras models only ever see the sanitised form; the original text travels as an escaped string literal.
"""

from __future__ import annotations

import keyword
import re
import unicodedata

from convcalc.pysource import IDENTIFIER

MAX_NAME_LENGTH = 48
"""Keras accepts longer names; short ones keep ``model.summary()`` and the generated code readable."""

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def sanitize(text: str, fallback: str) -> str:
    """An ASCII identifier-like name for ``text``; ``fallback`` (already clean) when nothing usable is left.

    NFKC first, so a compatibility look-alike becomes the letters it stands for (``ﬁ`` → ``fi``); every other
    run of non-word characters becomes one ``_``.

    >>> sanitize("conv 1/3x3", "conv1")
    'conv_1_3x3'
    >>> sanitize("ﬁlter", "conv1")
    'filter'
    >>> sanitize("__import__('os').system('rm -rf ~')", "conv1")
    'import_os_system_rm_rf'
    >>> sanitize("卷积", "conv2"), sanitize("1st", "conv1")
    ('conv2', 'conv1_1st')
    """
    cleaned = _NOT_WORD.sub("_", unicodedata.normalize("NFKC", text)).strip("_")
    cleaned = re.sub(r"_{2,}", "_", cleaned)[:MAX_NAME_LENGTH].rstrip("_")
    if not cleaned:
        return fallback
    if not cleaned[0].isalpha():
        cleaned = f"{fallback}_{cleaned}"[:MAX_NAME_LENGTH].rstrip("_")
    return cleaned


class NameAllocator:
    """Hands out unique sanitised names: the first ``conv`` stays ``conv``, later ones become ``conv_2`` …"""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken: set[str] = set()
        for name in reserved:
            self.take(name)

    def take(self, wanted: str) -> str:
        """Reserve ``wanted`` (already sanitised), or the first free ``wanted_N``, and return it."""
        assert IDENTIFIER.match(wanted), f"not a sanitised name: {wanted!r}"
        # Case-insensitive, so `Conv` and `conv` never sit side by side in a summary; no keywords, so a name
        # can also serve as (part of) an identifier in generated code.
        name, counter = wanted, 1
        while name.lower() in self._taken or keyword.iskeyword(name):
            counter += 1
            name = f"{wanted}_{counter}"
        self._taken.add(name.lower())
        return name
