"""From a file on disk to a validated :class:`~convcalc.spec.Network`, with positions.

Every way a file can be unreadable or invalid becomes a :class:`SpecError` holding one or more
``Problem``s, each naming the JSON path of the offending field and what is allowed. Nothing here lets a
traceback reach the user.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydantic import ValidationError

from convcalc.graph import graph_problems
from convcalc.spec import LAYER_MODELS, InputShape, Network

MAX_SPEC_BYTES = 64 * 1024 * 1024
"""Larger files are refused before parsing (a 10,000-layer spec is under 1 MiB)."""
MAX_NESTING = 32
"""A spec needs depth 4 at most; anything deeper is junk, refused before the recursive parser sees it."""
_POSITION_DEPTH = 3
"""Positions are kept for paths up to layers[i].field: enough to point at any field of a spec."""

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One reason a spec cannot be used: where (a JSON path, maybe a line and column) and what."""

    path: JsonPath
    message: str
    line: int | None = None
    column: int | None = None


class SpecError(Exception):
    """A spec file that cannot be read or validated; ``problems`` holds every reason found."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__(
            f"{file}: " + "; ".join(f"{format_path(p.path)}: {p.message}" if p.path else p.message for p in problems)
        )
        self.file = file
        self.problems = problems


@dataclass(frozen=True)
class SourceMap:
    """Line and column (both 1-based) of the objects and keys in a spec's JSON text."""

    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: JsonPath) -> tuple[int, int] | None:
        """The position of ``path``, or of its nearest recorded ancestor."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class LoadedSpec:
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


# Strings (with escapes) and structural characters; numbers and literals need no position.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|-?Infinity|NaN')


def _value_path(stack: list[list[Any]]) -> JsonPath:
    """The path of the value starting now: the next array element, or the pending key's value."""
    if not stack:
        return ()
    path, index, key = stack[-1][:3]
    return (*path, index if index is not None else key)


@dataclass(frozen=True)
class Scan:
    """What the position scan saw: positions, the deepest nesting, and problems it can place exactly."""

    source: SourceMap
    max_depth: int
    problems: list[Problem]


def scan_positions(text: str) -> Scan:
    """Record the position of every object, array and key down to ``_POSITION_DEPTH``.

    A light tokenizer, not a parser: it runs before ``json.loads`` so that absurd nesting is refused
    without recursion, and so that duplicate keys and NaN/Infinity can be reported with their path and
    position. It only has to be right for text that ``json.loads`` then accepts.
    """
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    positions: dict[JsonPath, int] = {}
    # Each frame: [path, next array index or None for objects, pending key, keys seen].
    stack: list[list[Any]] = []
    found: list[tuple[JsonPath, int, str]] = []
    path: JsonPath = ()
    max_depth = 0
    expect_key = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        start = match.start()
        if token == "{" or token == "[":
            path = _value_path(stack)
            if len(path) <= _POSITION_DEPTH:
                positions.setdefault(path, start)
            stack.append([path, 0 if token == "[" else None, None, set()])
            max_depth = max(max_depth, len(stack))
            if max_depth > MAX_NESTING:
                break
            expect_key = token == "{"
        elif token == "}" or token == "]":
            if stack:
                stack.pop()
            expect_key = False
        elif token == ",":
            if stack:
                frame = stack[-1]
                if frame[1] is not None:
                    frame[1] += 1
                else:
                    expect_key = True
        elif token == ":":
            expect_key = False
        elif token[0] != '"':  # NaN or Infinity, which Python's json would accept
            found.append((_value_path(stack), start, f"{token} is not a JSON number; use a finite number"))
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
            if len(key_path) <= _POSITION_DEPTH:
                positions.setdefault(key_path, start)

    def line_column(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(line_starts, offset)
        return line, offset - line_starts[line - 1] + 1

    resolved = {key_path: line_column(offset) for key_path, offset in positions.items()}
    problems = [Problem(where, message, *line_column(offset)) for where, offset, message in found]
    return Scan(SourceMap(resolved), max_depth, problems)


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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def parse_json(file: str, text: str) -> tuple[Any, SourceMap]:
    """Parse spec text strictly: no duplicate keys, no NaN/Infinity, bounded depth."""
    scan = scan_positions(text)
    if scan.max_depth > MAX_NESTING:
        raise SpecError(file, [Problem((), f"nesting deeper than {MAX_NESTING} levels; a spec needs 4 at most")])
    try:
        data = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except _DuplicateKey as exc:
        raise SpecError(file, scan.problems or [Problem((), f"duplicate key {str(exc)!r} in one object")]) from None
    except _NonFinite as exc:
        raise SpecError(file, scan.problems or [Problem((), str(exc))]) from None
    except json.JSONDecodeError as exc:
        raise SpecError(file, [Problem((), f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno)]) from None
    except (ValueError, RecursionError) as exc:
        raise SpecError(file, [Problem((), f"malformed JSON: {exc}")]) from None
    return data, scan.source


def _strip_union_tags(loc: tuple[Any, ...]) -> JsonPath:
    # pydantic puts the discriminator's tag in the path (layers.3.conv.stride); users wrote layers[3].stride.
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and i > 0 and isinstance(loc[i - 1], int) and part in LAYER_MODELS:
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
            model = LAYER_MODELS.get(str(layer.get("type"))) if isinstance(layer, dict) else None
            if model is not None:
                return list(model.model_fields)
    return list(Network.model_fields) if len(path) == 1 else []


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
        return (*path, "type"), f"unknown layer type {ctx.get('tag')!r}; allowed: {', '.join(LAYER_MODELS)}"
    if kind == "union_tag_not_found":
        return (*path, "type"), f"missing 'type'; allowed: {', '.join(LAYER_MODELS)}"
    if kind == "model_attributes_type" or kind == "model_type" or kind == "dict_type":
        return path, "must be an object"
    if kind == "list_type":
        return path, "must be a list"
    if kind == "literal_error":
        return path, f"must be one of {ctx.get('expected')} (got {error.get('input')!r})"
    if kind == "too_short" and path == ("layers",):
        return path, "must list at least one layer"
    return path, error["msg"]


def validate(file: str, data: Any, source: SourceMap | None = None) -> Network:
    """Validate parsed JSON as a network, turning pydantic's errors into friendly problems."""
    if not isinstance(data, dict):
        raise SpecError(file, [Problem((), f"the top level must be a JSON object, not {_json_kind(data)}")])
    try:
        network = Network.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path, message = _friendly(dict(error), data)
            where = source.locate(path) if source else None
            problems.append(Problem(path, message, *(where or (None, None))))
        raise SpecError(file, problems) from None
    graph = graph_problems(network)
    if graph:
        raise SpecError(
            file,
            [
                Problem(path, message, *((source.locate(path) if source else None) or (None, None)))
                for path, message in graph
            ],
        )
    return network


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


def read_text(file: str) -> str:
    """Read a spec file as UTF-8 text, refusing what is not a regular file, huge files and binary junk."""
    with open_regular(file) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_SPEC_BYTES:
                raise SpecError(file, [Problem((), f"file is {size:,} bytes; the limit is {MAX_SPEC_BYTES:,}")])
            raw = handle.read(MAX_SPEC_BYTES + 1)  # the file may grow between stat and read
        except OSError as exc:
            raise SpecError(file, [Problem((), f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(file, [Problem((), f"file is larger than the limit of {MAX_SPEC_BYTES:,} bytes")])
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
