"""From a file on disk to a validated :class:`~convcalc.spec.Network`, with positions.

Every way a file can be unreadable or invalid becomes a :class:`SpecError` holding one or more
``Problem``s, each naming the JSON path of the offending field and what is allowed. Nothing here lets a
traceback reach the user.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import functools
import json
import json.scanner
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from pydantic import TypeAdapter, ValidationError

from convcalc import layers as layer_kinds
from convcalc.graph import graph_problems
from convcalc.spec import MAX_LAYERS, InputShape, Network, validate_by_kind
from convcalc.text import did_you_mean, folded

if TYPE_CHECKING:
    from convcalc.spec import AnyLayer

MAX_SPEC_BYTES = 4 * 1024 * 1024
"""Larger files are refused before reading (a 10,000-layer spec is under 1 MiB: ResNet-50's takes 84 bytes
a layer)."""
MAX_NESTING = 32
"""A spec needs depth 4 at most; anything deeper is junk, refused before the recursive parser sees it."""
MAX_STRING = 4096
"""The longest string, in characters of JSON text: a name takes 200 characters, 1,200 written as escapes."""
MAX_LIST_ITEMS = 1024
"""The most items of any list but ``layers``: the inputs of a merge, rule codes in an ``ignore``."""
MAX_INPUTS = 100_000
"""The most names all the layers' ``inputs`` hold together: the edges of the graph, which every graph rule
walks (ten per layer on average at the layer limit; a ResNet has under two)."""
MAX_KEYS = 64
"""The most keys of any object (a conv layer has 11 fields)."""
MAX_PROBLEMS = 50
"""Problems reported at most; past this, reading stops (a spec with a million mistakes shows the first)."""
_POSITION_DEPTH = 3
"""Positions are kept for paths up to layers[i].field: enough to point at any field of a spec."""
_LONGEST = "no spec field takes more than 200 (a name)"

JsonPath = tuple[str | int, ...]


class Problem(NamedTuple):
    """One reason a spec cannot be used: where (a JSON path, maybe a line and column) and what."""

    path: JsonPath
    message: str
    line: int | None = None
    column: int | None = None


def capped(problems: list[Problem], more: bool = False, most: int = MAX_PROBLEMS) -> list[Problem]:
    """At most ``most`` problems: past that, the first ``most`` − 1 and a line counting the rest (``more``:
    the caller stopped looking, so there are others it did not count)."""
    if len(problems) <= most and not more:
        return problems
    shown = problems[: most - 1]
    if more:
        return [*shown, Problem((), f"… and more problems: convcalc stops after the first {len(shown)}")]
    rest = len(problems) - len(shown)
    return [*shown, Problem((), f"… and {rest:,} more problems (convcalc shows the first {len(shown)})")]


class SpecError(Exception):
    """A spec file that cannot be read or validated; ``problems`` holds the reasons found (at most
    ``MAX_PROBLEMS`` and a line saying there were more)."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        problems = capped(problems)  # whoever raises it, a million mistakes print as a screenful
        super().__init__(
            f"{file}: " + "; ".join(f"{format_path(p.path)}: {p.message}" if p.path else p.message for p in problems)
        )
        self.file = file
        self.problems = problems


class TextPositions(Mapping[JsonPath, tuple[int, int]]):
    """JSON paths → (line, column) in a text, each worked out from its offset when it is asked for: a check
    locates a few findings, the scan records every object and key."""

    def __init__(self, offsets: dict[JsonPath, int], line_starts: list[int]) -> None:
        self._offsets = offsets
        self._line_starts = line_starts

    def __getitem__(self, path: JsonPath) -> tuple[int, int]:
        return line_column(self._line_starts, self._offsets[path])

    def __iter__(self) -> Iterator[JsonPath]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)

    def __repr__(self) -> str:
        return f"TextPositions({dict(self)!r})"


class PlainTextPositions(TextPositions):
    """The positions of a text that :func:`parse_plain` took, found when first asked for: the root, the top
    level's keys and each layer by one walk of the top level, which json's own scanner skips value by value
    (a check locates its findings by layer, so that is all it needs); any other path by :func:`scan_positions`,
    run once. Either gives what the scan would have recorded."""

    def __init__(self, text: str) -> None:  # no super().__init__: the offsets and line starts come on demand
        self._text = text
        self._outline: dict[JsonPath, int] | None = None
        self._scanned: dict[JsonPath, int] | None = None
        self._starts: list[int] | None = None

    @property
    def _offsets(self) -> dict[JsonPath, int]:  # type: ignore[override]
        if self._scanned is None:
            self._scanned = scan_positions(self._text).source.positions._offsets  # type: ignore[attr-defined]
        return self._scanned

    @property
    def _line_starts(self) -> list[int]:  # type: ignore[override]
        if self._starts is None:
            self._starts = line_starts(self._text)
        return self._starts

    def __getitem__(self, path: JsonPath) -> tuple[int, int]:
        if len(path) <= 1 or (len(path) == 2 and path[0] == "layers" and isinstance(path[1], int)):
            if self._outline is None:
                self._outline = _top_level_offsets(self._text)
            return line_column(self._line_starts, self._outline[path])
        return super().__getitem__(path)


def line_starts(text: str) -> list[int]:
    """The offset at which each line of ``text`` starts.

    >>> line_starts("ab\\ncd\\n")
    [0, 3, 6]
    """
    return [0] + [m.end() for m in re.finditer("\n", text)]


def line_column(line_starts: list[int], offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in a text whose lines start at ``line_starts``.

    >>> line_column([0, 4, 9], 0), line_column([0, 4, 9], 5)
    ((1, 1), (2, 2))
    """
    line = bisect.bisect_right(line_starts, offset)
    return line, offset - line_starts[line - 1] + 1


class SourceMap(NamedTuple):
    """Line and column (both 1-based) of the objects and keys in a spec's JSON text."""

    # One empty dict shared by every default, read-only by its type (a MappingProxyType would not pickle, and a
    # --jobs worker hands records holding this one back to the main process).
    positions: Mapping[JsonPath, tuple[int, int]] = {}

    def locate(self, path: JsonPath) -> tuple[int, int] | None:
        """The position of ``path``, or of its nearest recorded ancestor."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None


class LoadedSpec(NamedTuple):
    """A validated network with the file it came from and where its parts are in that file."""

    file: str
    network: Network
    source: SourceMap


def format_path(path: JsonPath) -> str:
    """``("layers", 3, "stride")`` → ``layers[3].stride``.

    >>> format_path(("layers", 3, "stride"))
    'layers[3].stride'
    >>> format_path(())
    '(top level)'
    """
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


_SHORT = rf'"[^"\\]{{0,{MAX_STRING}}}"'


# One match per token that needs a look, in the order tried: a flat list of plain strings (a merge's inputs,
# rule codes) or of numbers, whose items are counted, not walked; a string (short, or with escapes); a lone
# quote, which starts a string too long for the patterns or one that never ends, and stops the scan; the
# structural characters; NaN and Infinity. Every repetition is bounded, so no match (nor the regex engine's
# backtracking stack) ever spans more than a limit allows, whatever the text holds. Compiled on first use:
# a plain spec is parsed without it (parse_plain).
@functools.cache
def _token_pattern() -> re.Pattern[str]:
    return re.compile(
        rf"\[\s*(?:{_SHORT}\s*(?:,\s*{_SHORT}\s*){{0,{MAX_LIST_ITEMS - 1}}})?\]"
        r"|\[[-+0-9.eE,\s]*\]"
        rf'|{_SHORT}|"(?:[^"\\]|\\.){{0,{MAX_STRING}}}"|"'
        r"|[{}\[\]:,]|-?Infinity|NaN"
    )


def _value_path(stack: list[list[Any]]) -> JsonPath:
    """The path of the value starting now: the next array element, or the pending key's value (the object's
    own path for a value where its first key belongs: ``{{``, malformed, which the scan may still refuse)."""
    if not stack:
        return ()
    path: JsonPath = stack[-1][0]
    index, key = stack[-1][1:3]
    if index is None and key is None:
        return path
    return (*path, index if index is not None else key)


class Scan(NamedTuple):
    """What the position scan saw: positions, problems it can place exactly, and the limit the text broke,
    if any (the scan stops there, so a refusal costs no more than the limit)."""

    source: SourceMap
    problems: list[Problem]
    refusal: Problem | None = None


def scan_positions(text: str) -> Scan:
    """Record the position of every object, array and key down to ``_POSITION_DEPTH``, and hold the text to
    the limits on its shape: nesting, string length, layers, list items and keys per object.

    A light tokenizer, not a parser: it runs before ``json.loads`` so that text past a limit is refused at
    once, without recursion and before anything is built from it, and so that duplicate keys and
    NaN/Infinity can be reported with their path and position. It only has to be right for text that
    ``json.loads`` then accepts. It keeps positions and at most ``MAX_PROBLEMS`` problems, whatever the text.
    """
    starts = line_starts(text)
    positions: dict[JsonPath, int] = {}
    # Each frame: [path, next array index or None for objects, pending key, keys seen, most items or keys].
    stack: list[list[Any]] = []
    found: list[tuple[JsonPath, int, str]] = []
    refusal: tuple[JsonPath, int, str] | None = None
    expect_key = False
    edges = 0  # names in the layers' inputs so far
    for match in _token_pattern().finditer(text):
        token = match.group()
        start = match.start()
        first = token[0]
        if first == "{" or first == "[":
            path = _value_path(stack)
            if len(path) <= _POSITION_DEPTH:
                positions.setdefault(path, start)
            most = MAX_LAYERS if path == ("layers",) else MAX_LIST_ITEMS if first == "[" else MAX_KEYS
            expect_key = token == "{"
            if len(stack) >= MAX_NESTING:
                refusal = (path, start, f"nesting deeper than {MAX_NESTING} levels; a spec needs 4 at most")
            elif len(token) == 1:
                stack.append([path, 0 if first == "[" else None, None, set(), most])
            else:
                items = _flat_items(token)
                edges += items if _is_inputs(path) else 0
                if items > most:
                    refusal = (path, start, _too_many(path, most))
                elif edges > MAX_INPUTS:
                    refusal = (path, start, _TOO_MANY_INPUTS)
        elif first == "}" or first == "]":
            if stack:
                frame = stack.pop()
                if frame[1] is not None and _is_inputs(frame[0]):  # a list the pattern did not take whole
                    edges += frame[1] + 1
                    if edges > MAX_INPUTS:
                        refusal = (frame[0], positions.get(frame[0], start), _TOO_MANY_INPUTS)
            expect_key = False
        elif first == ",":
            if stack:
                frame = stack[-1]
                if frame[1] is None:
                    expect_key = True
                else:
                    frame[1] += 1
                    if frame[1] >= frame[4]:
                        refusal = (frame[0], positions.get(frame[0], start), _too_many(frame[0], frame[4]))
        elif first == ":":
            expect_key = False
        elif first != '"':  # NaN or Infinity, which Python's json would accept
            found.append((_value_path(stack), start, f"{token} is not a JSON number; use a finite number"))
        elif len(token) == 1 or len(token) > MAX_STRING + 2:  # a string too long for the patterns, or unending
            if len(token) == 1 and start + MAX_STRING + 2 >= len(text):
                break  # a string that never ends (the pattern takes any shorter one that does): json.loads says where
            is_key = expect_key and bool(stack)
            what = "a key" if is_key else "a string"
            where = stack[-1][0] if is_key else _value_path(stack)
            refusal = (where, start, f"{what} of more than {MAX_STRING:,} characters; {_LONGEST}")
        elif expect_key and stack:
            key = token[1:-1]
            if "\\" in key:
                with contextlib.suppress(ValueError):
                    key = json.loads(token)
            frame = stack[-1]
            frame[2] = key
            key_path = frame[0] + (key,)
            if key in frame[3]:
                found.append((key_path, start, f"duplicate key {key!r} in one object"))
            frame[3].add(key)
            if len(frame[3]) > frame[4]:
                refusal = (frame[0], positions.get(frame[0], start), _too_many(frame[0], frame[4], "keys"))
            if len(key_path) <= _POSITION_DEPTH:
                positions.setdefault(key_path, start)
        if refusal is not None or len(found) > MAX_PROBLEMS:
            break  # past a limit; or json.loads refuses the text anyway, and these are the ones worth showing

    problems = [Problem(where, message, *line_column(starts, offset)) for where, offset, message in found]
    stop = Problem(refusal[0], refusal[2], *line_column(starts, refusal[1])) if refusal else None
    source = SourceMap(TextPositions(positions, starts))
    return Scan(source, capped(problems, more=len(found) > MAX_PROBLEMS), stop)


def _is_inputs(path: JsonPath) -> bool:
    return len(path) == 3 and path[2] == "inputs" and path[0] == "layers"


_TOO_MANY_INPUTS = (
    f"the layers' inputs name more than {MAX_INPUTS:,} layers in all; convcalc checks at most {MAX_INPUTS:,}"
)


def _flat_items(token: str) -> int:
    """The items of a flat list matched whole: plain strings (two quotes each), or numbers."""
    if '"' in token:
        return token.count('"') // 2
    return token.count(",") + 1 if any(c.isdigit() for c in token) else 0


def _too_many(path: JsonPath, most: int, what: str = "items") -> str:
    if path == ("layers",):
        return f"more than {most:,} layers; convcalc checks at most {most:,}"
    if what == "keys":
        return f"an object with more than {most:,} keys; a spec object has at most {_most_fields()} fields"
    return f"a list of more than {most:,} items; the limit is {most:,} (the inputs of a merge, rule codes)"


class _DuplicateKey(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(f"{name} is not a JSON number; use a finite number")


class _TooLarge(ValueError):
    """A number past a float's range (``1e400``), which Python's json would read as infinity."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _TooLarge(f"{text} is too large for a number; use a finite number (at most about 1.8e308)")
    return value


class _Pairs(list[tuple[str, Any]]):
    """An object's key-value pairs in order, duplicates kept (a later key must not hide the mark)."""


def _too_large(text: str, source: SourceMap, message: str) -> Problem:
    """The problem of the first number past a float's range, placed: the text (which the scan passed) parsed
    again with such numbers marked and nothing else converted, and the first mark's path found. Only a text
    that holds one pays for it; where the text cannot be parsed so, the problem has no place."""
    mark = object()
    try:
        data = json.loads(
            text,
            parse_float=lambda number: mark if math.isinf(float(number)) else 0.0,
            parse_int=lambda number: 0,  # never int(): past 4,300 digits Python refuses it
            parse_constant=lambda name: 0.0,
            object_pairs_hook=_Pairs,
        )
    except (ValueError, RecursionError):
        return Problem((), message)
    path = _path_of(data, mark) or ()
    return Problem(path, message, *(source.locate(path) or (None, None)))


def _path_of(value: Any, mark: object, path: JsonPath = ()) -> JsonPath | None:
    """The path of ``mark`` in parsed JSON (nested at most MAX_NESTING deep: the scan saw to that)."""
    if value is mark:
        return path
    items = value if isinstance(value, _Pairs) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _path_of(item, mark, (*path, key))
        if found is not None:
            return found
    return None


def _strict_loads(text: str) -> Any:
    """``json.loads`` refusing a duplicate key (:class:`_DuplicateKey`), NaN and Infinity (:class:`_NonFinite`)."""
    return json.loads(
        text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
    )


PLAIN_CHARS = 1024 * 1024
"""The longest text :func:`parse_plain` parses before any scan. json.loads takes at most ~25 MiB and a few
tens of milliseconds for any text this long (a million characters of ``{},``), so a text past a limit costs
that at most before the scan refuses it; a longer one is scanned first."""


def parse_plain(text: str) -> dict[str, Any] | None:
    """Plain spec text parsed in C, before any scan, when nothing in it needs the scan: no backslash (so every
    string is as long as it reads), at most :data:`PLAIN_CHARS` characters, no duplicate key or NaN, an object
    at the top with a list of layers, and every limit of :func:`scan_positions` kept. The scan would find
    nothing to report in such a text, and only where a finding points is its position worked out
    (:class:`PlainTextPositions`). None: any other text, which the scan reads first, as ever.

    The scan's Python loop took 2.6 ms of a ResNet-50 check (parsing takes 0.25 ms) and 110 ms of a
    10,000-layer spec."""
    if len(text) > PLAIN_CHARS or "\\" in text:
        return None
    try:
        data = _strict_loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(layers := data.get("layers", []), list):
        return None
    if len(layers) > MAX_LAYERS or _wide_merges(layers):
        return None
    # The layers are held to MAX_LAYERS (above), every other list to MAX_LIST_ITEMS.
    if not (_within_limits({**data, "layers": []}, 0) and _within_limits(layers, 1, most=MAX_LAYERS)):
        return None
    return data


def _within_limits(value: dict[str, Any] | list[Any], enclosing: int, most: int = MAX_LIST_ITEMS) -> bool:
    """Whether a parsed container, ``enclosing`` containers deep, keeps the scan's limits on nesting, keys,
    list items (``most``) and string length, and so does everything in it."""
    if enclosing >= MAX_NESTING:
        return False
    items: Any = value
    if isinstance(value, dict):
        if len(value) > MAX_KEYS or max(map(len, value), default=0) > MAX_STRING:
            return False
        items = value.values()
    elif len(value) > most:
        return False
    for item in items:
        if isinstance(item, str):
            if len(item) > MAX_STRING:
                return False
        elif isinstance(item, (dict, list)) and not _within_limits(item, enclosing + 1):
            return False
    return True


def _top_level_offsets(text: str) -> dict[JsonPath, int]:
    """Where :func:`scan_positions` records the root, the top level's keys and the layers (each that is an
    object or a list), for a text :func:`parse_plain` took: the top level walked key by key, each value (and
    each layer) skipped by json's scanner, in C."""
    scan_once = _scanner()
    offsets: dict[JsonPath, int] = {}
    pos = _past_space(text, 0)
    offsets[()] = pos
    pos = _past_space(text, pos + 1)
    while text[pos] == '"':
        key, end = scan_once(text, pos)
        offsets[(key,)] = pos
        pos = _past_space(text, _past_space(text, end) + 1)  # past the colon
        if key == "layers":
            pos = _past_space(text, pos + 1)
            index = 0
            while text[pos] != "]":
                if text[pos] in "{[":
                    offsets[("layers", index)] = pos
                pos = _after_item(text, scan_once(text, pos)[1])
                index += 1
            end = pos + 1
        else:
            end = scan_once(text, pos)[1]
        pos = _after_item(text, end)
    return offsets


_SPACE = re.compile(r"[ \t\n\r]*")


def _past_space(text: str, pos: int) -> int:
    """The first offset from ``pos`` on that is not JSON whitespace."""
    match = _SPACE.match(text, pos)
    return pos if match is None else match.end()


def _after_item(text: str, end: int) -> int:
    """The start of the next item (or the closing bracket) after an item that ends at ``end``."""
    pos = _past_space(text, end)
    return _past_space(text, pos + 1) if text[pos] == "," else pos


@functools.cache
def _scanner() -> Any:
    # typeshed types make_scanner's argument as a scanner; it is the decoder whose settings it reads.
    return json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def parse_json(file: str, text: str) -> tuple[Any, SourceMap]:
    """Parse spec text strictly: no duplicate keys, no NaN/Infinity, and within the limits on nesting,
    string length, layers, list items and keys per object (a text that may break one is refused before
    parsing; see :func:`parse_plain` for the rest)."""
    plain = parse_plain(text)
    if plain is not None:
        return plain, SourceMap(PlainTextPositions(text))
    scan = scan_positions(text)
    if scan.refusal is not None:
        raise SpecError(file, [scan.refusal])
    try:
        data = _strict_loads(text)
    except _DuplicateKey as exc:
        raise SpecError(file, scan.problems or [Problem((), f"duplicate key {str(exc)!r} in one object")]) from None
    except _NonFinite as exc:
        raise SpecError(file, scan.problems or [Problem((), str(exc))]) from None
    except _TooLarge as exc:
        raise SpecError(file, [_too_large(text, scan.source, str(exc))]) from None
    except json.JSONDecodeError as exc:
        raise SpecError(file, [Problem((), f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno)]) from None
    except (ValueError, RecursionError) as exc:
        raise SpecError(file, [Problem((), f"malformed JSON: {exc}")]) from None
    return data, scan.source


def _strip_union_tags(loc: tuple[Any, ...]) -> JsonPath:
    # pydantic puts the discriminator's tag in the path (layers.3.conv.stride); users wrote layers[3].stride.
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and i > 0 and isinstance(loc[i - 1], int) and part in layer_kinds.TYPE_NAMES:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _allowed_fields(data: Any, path: JsonPath) -> list[str]:
    if path[:1] == ("input",):
        return list(InputShape.model_fields)
    if path[:1] == ("layers",) and len(path) >= 2 and isinstance(data, dict):
        layers = data.get("layers")
        index = path[1]
        if isinstance(layers, list) and isinstance(index, int) and index < len(layers):
            layer = layers[index]
            model = layer_kinds.kind_of_type(str(layer.get("type"))) if isinstance(layer, dict) else None
            if model is not None:
                return list(model.model_fields)
    return list(Network.model_fields) if len(path) == 1 else []


@functools.cache
def _most_fields() -> int:
    """The most fields of any spec object (a message's figure: it imports every kind)."""
    return max(
        map(len, [Network.model_fields, InputShape.model_fields, *(kind.model_fields for kind in layer_kinds.KINDS)])
    )


def _type_hint(tag: object) -> str:
    """What a layer ``type`` nobody knows was meant to be: a type in another case (``Relu``), another tool's
    name for a kind (``MaxPooling2D``: ``"type": "pool", "mode": "max"``), or the closest spelling."""
    if not isinstance(tag, str):
        return ""
    if folded(tag) not in {folded(name) for name in layer_kinds.TYPE_NAMES}:
        for kind in layer_kinds.KINDS:
            if folded(tag) in kind.spelled_elsewhere:
                return f" (did you mean {kind.spelled_elsewhere[folded(tag)]}?)"
    return did_you_mean(tag, list(layer_kinds.TYPE_NAMES))


def _friendly(error: dict[str, Any], data: Any) -> tuple[JsonPath, str]:
    path = _strip_union_tags(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_fields(data, path)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return path, f"unknown field {key!r}{hint}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return path, "required field is missing"
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        allowed_types = ", ".join(layer_kinds.TYPE_NAMES)
        return (*path, "type"), f"unknown layer type {tag!r}{_type_hint(tag)}; allowed: {allowed_types}"
    if kind == "union_tag_not_found":
        return (*path, "type"), f"missing 'type'; allowed: {', '.join(layer_kinds.TYPE_NAMES)}"
    if kind == "model_attributes_type" or kind == "model_type" or kind == "dict_type":
        return path, "must be an object"
    if kind == "list_type":
        return path, "must be a list"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        hint = did_you_mean(error.get("input"), re.findall(r"'([^']*)'", expected))
        return path, f"must be one of {expected} (got {error.get('input')!r}){hint}"
    if kind == "too_short" and path == ("layers",):
        return path, "must list at least one layer"
    return path, error["msg"]


_CHUNK = 256
"""Layers validated at a time: pydantic reports every error of what it validates, so a spec with mistakes in
every layer is validated only until ``MAX_PROBLEMS`` are found (all of them would cost seconds and GBs)."""


@functools.cache
def _layer_list() -> TypeAdapter[list[AnyLayer]]:
    # Built on first use: compiling the union of every kind again costs a cold start milliseconds, and a spec
    # of at most _CHUNK layers that is valid never needs it.
    from convcalc.spec import AnyLayer

    return TypeAdapter(list[AnyLayer])


def _valid_network(data: dict[str, Any]) -> Network | None:
    try:  # by kind first; the whole union only where a failure costs at most one chunk
        return validate_by_kind(data) or (Network.model_validate(data) if len(data["layers"]) <= _CHUNK else None)
    except ValidationError:
        return None  # validated again a chunk at a time, for the problems


def validate(file: str, data: Any, source: SourceMap | None = None) -> Network:
    """Validate parsed JSON as a network, turning pydantic's errors into friendly problems.

    The layers are validated a chunk at a time, stopping once there are enough problems to show; a list
    longer than ``MAX_LAYERS`` is refused before any of it is validated."""
    if not isinstance(data, dict):
        raise SpecError(file, [Problem((), f"the top level must be a JSON object, not {_json_kind(data)}")])
    problems: list[Problem] = []
    stopped = False
    layers = data.get("layers")
    rest: dict[str, Any] | Network = data
    if isinstance(layers, list) and len(layers) > MAX_LAYERS:
        too_many = f"{len(layers):,} layers; convcalc checks at most {MAX_LAYERS:,}"
        problems.append(_problem(("layers",), too_many, source))
        rest = {**data, "layers": []}
    elif isinstance(layers, list) and (wide := _wide_merges(layers)):  # text was held to these; data was not
        problems += [_problem(path, message, source) for path, message in wide]
        rest = {**data, "layers": []}
    elif isinstance(layers, list) and (whole := _valid_network(data)) is not None:
        rest = whole  # a valid spec (the common case): validated once
    elif isinstance(layers, list) and layers:
        valid: list[Any] = []
        for begin in range(0, len(layers), _CHUNK):
            try:
                valid += _layer_list().validate_python(layers[begin : begin + _CHUNK])
            except ValidationError as exc:
                problems += _problems(exc, data, source, ("layers",), begin)
                stopped = len(problems) > MAX_PROBLEMS
                if stopped:
                    break
        rest = {**data, "layers": valid}  # models pass through as they are: each layer is validated once
    network: Network | None = None
    try:
        network = rest if isinstance(rest, Network) else Network.model_validate(rest)
    except ValidationError as exc:
        # Once the layers have problems of their own, the rest's complaints about them are echoes.
        found = [p for p in _problems(exc, data, source) if not (problems and p.path[:1] == ("layers",))]
        problems = sorted(problems + found, key=_field_order)
    if problems or network is None:
        raise SpecError(file, capped(problems, more=stopped))
    graph = graph_problems(network, most=MAX_PROBLEMS + 1)
    if graph:
        problems = [_problem(path, message, source) for path, message in graph]
        raise SpecError(file, capped(problems, more=len(problems) > MAX_PROBLEMS))
    return network


def _wide_merges(layers: list[Any]) -> list[tuple[JsonPath, str]]:
    """The limits on ``inputs`` that the text scan holds a file to, checked on data that came another way
    (an imported Keras model), before pydantic validates it."""
    found: list[tuple[JsonPath, str]] = []
    edges = 0
    for i, layer in enumerate(layers):
        names = layer.get("inputs") if isinstance(layer, dict) else None
        if isinstance(names, list):
            edges += len(names)
            if len(names) > MAX_LIST_ITEMS:
                found.append((("layers", i, "inputs"), _too_many(("layers", i, "inputs"), MAX_LIST_ITEMS)))
    if edges > MAX_INPUTS:
        found.append((("layers",), _TOO_MANY_INPUTS))
    return found


def _problem(path: JsonPath, message: str, source: SourceMap | None) -> Problem:
    return Problem(path, message, *((source.locate(path) if source else None) or (None, None)))


def _problems(
    exc: ValidationError, data: Any, source: SourceMap | None, prefix: JsonPath = (), offset: int = 0
) -> list[Problem]:
    """pydantic's errors as problems; ``prefix`` and ``offset`` place errors of a slice of the layers."""
    found = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if prefix:
            loc = (*prefix, loc[0] + offset, *loc[1:]) if loc and isinstance(loc[0], int) else (*prefix, *loc)
        path, message = _friendly({**error, "loc": loc}, data)
        found.append(_problem(path, message, source))
    return found


_FIELDS = list(Network.model_fields)


def _field_order(problem: Problem) -> int:
    # pydantic reports the fields in the order they are declared, then unknown keys.
    head = problem.path[0] if problem.path else None
    return _FIELDS.index(head) if head in _FIELDS else len(_FIELDS)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def open_regular(file: str, what: str = "spec file") -> BinaryIO:
    """Open ``file`` for binary reading, refusing anything but a regular file (a directory, pipe, device or
    socket) by name, and never blocking: a FIFO would wait for a writer in ``open``, so the file is stat'ed
    first and opened non-blocking, and the open file is stat'ed again in case it was swapped in between."""
    try:
        _require_regular(file, os.stat(file).st_mode, what)
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SpecError(file, [Problem((), "no such file")]) from None
    except ValueError as exc:  # e.g. a NUL byte in the name
        raise SpecError(file, [Problem((), f"cannot open: {exc}")]) from None
    except OSError as exc:
        raise SpecError(file, [Problem((), f"cannot read: {exc.strerror or exc}")]) from None
    try:
        _require_regular(file, os.fstat(fd).st_mode, what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _require_regular(file: str, mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise SpecError(file, [Problem((), f"is a directory, not a {what}")])
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "something else")
    raise SpecError(file, [Problem((), f"is not a regular file but {kind}; convcalc reads only regular files")])


def read_text(file: str, limit: int | None = None) -> str:
    """Read a spec file as UTF-8 text, refusing what is not a regular file, files over ``limit`` bytes
    (``MAX_SPEC_BYTES`` by default) and binary junk."""
    limit = MAX_SPEC_BYTES if limit is None else limit
    with open_regular(file) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise SpecError(file, [Problem((), f"file is {size:,} bytes; the limit is {limit:,}")])
            raw = handle.read(limit + 1)  # the file may grow between stat and read
        except OSError as exc:
            raise SpecError(file, [Problem((), f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > limit:
        raise SpecError(file, [Problem((), f"file is larger than the limit of {limit:,} bytes")])
    if b"\x00" in raw:
        raise SpecError(file, [Problem((), "is a binary file, not JSON text")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(file, [Problem((), f"is not UTF-8 text (bad byte at offset {exc.start})")]) from None


def load_spec(file: str) -> LoadedSpec:
    """Read, parse and validate one spec file."""
    text = read_text(file)
    data, source = parse_json(file, text)
    return LoadedSpec(file=file, network=validate(file, data, source), source=source)
