"""Safe pieces of generated Python: literals by ``repr``, identifiers by pattern, comments on one line.

Generated code never contains spec text as code. Every value that reaches a generated file goes through
:func:`literal` (an escaped Python literal), :func:`identifier` (a generated, validated name) or
:func:`comment` (text that cannot end the line it is on); the whole file is then compiled by :func:`checked`.
"""

from __future__ import annotations

import keyword
import re

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
"""What a generated name looks like: an ASCII Python identifier that starts with a letter."""

_SAFE_SCALARS = (bool, int, float, str, type(None))


def literal(value: object) -> str:
    """``value`` as Python source that evaluates to it: ``repr`` of plain data, checked to be plain data.

    >>> print(literal("a'b\\nc"))
    "a'b\\nc"
    >>> literal((1, (2, 3)))
    '(1, (2, 3))'
    """
    _check_plain(value)
    return repr(value)


def _check_plain(value: object) -> None:
    # repr of anything else (a class instance, a subclass of str) could print arbitrary text.
    if type(value) in _SAFE_SCALARS:
        return
    if isinstance(value, tuple | list) and type(value) in (tuple, list):
        for item in value:
            _check_plain(item)
        return
    if isinstance(value, dict) and type(value) is dict:
        for key, item in value.items():
            _check_plain(key)
            _check_plain(item)
        return
    raise TypeError(f"not plain data for generated code: {type(value).__name__}")


def identifier(name: str) -> str:
    """``name`` if it is a generated ASCII identifier (never spec text); raises otherwise.

    >>> identifier("conv1_kernel")
    'conv1_kernel'
    """
    if not IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise ValueError(f"not a generated identifier: {name!r}")
    return name


def comment(text: str) -> str:
    """``# text``, refusing any character that would end the comment's line.

    >>> comment("→ [batch, 28, 28, 32]")
    '# → [batch, 28, 28, 32]'
    """
    if not text.isprintable():
        raise ValueError(f"comment text must be one printable line: {text!r}")
    return f"# {text}"


def checked(source: str, filename: str) -> str:
    """``source`` after Python has compiled it (a generator bug, not user input, would fail here)."""
    compile(source, filename, "exec", dont_inherit=True)
    return source
