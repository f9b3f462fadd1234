"""The fix search: re-computed candidates (a changed window, input size or branch), kept only when checked.

Every fix a rule offers is computed here, never guessed: a window is re-resolved with ``rewindow``, a
network re-analysed with ``with_input`` or a changed spec, and a candidate survives only if the change
removes the problem without creating another one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from math import gcd
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from convcalc.analysis import FigureLimitError, LayerFacts, NetworkFacts, Shape, Window, analyze, resolve_window
from convcalc.arithmetic import congruence_solutions, divisors, nearest_solutions
from convcalc.findings import Fix
from convcalc.fixes import apply_fix
from convcalc.layers import WindowAxis
from convcalc.spec import MAX_SIZE, InputShape, layers_by_object, network_data, validate_by_kind
from convcalc.text import value_text

if TYPE_CHECKING:
    from convcalc.layers import Pool
    from convcalc.spec import AnyLayer


def pair_value(height: int, width: int) -> int | list[int]:
    """How a spec writes a per-axis value: an int when square, ``[h, w]`` otherwise."""
    return height if height == width else [height, width]


def spec_padding(window: Window) -> Any:
    """The window's padding as the spec would write it (symmetric padding only)."""
    if window.same:
        return "same"
    return (window.padding.top, window.padding.left)


def rewindow(
    layer: LayerFacts,
    *,
    kernel: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    padding: Any = None,
    ceil_mode: bool | None = None,
) -> Window:
    """The layer's window re-computed on the same input with some settings changed (the dilation and the
    rounding kept unless ``ceil_mode`` says)."""
    window = layer.window
    assert window is not None, "rewindow needs a conv or pool layer"
    return resolve_window(
        kernel or window.kernel,
        stride or window.stride,
        spec_padding(window) if padding is None else padding,
        layer.input_shape,
        window.dilation,
        window.ceil_mode if ceil_mode is None else ceil_mode,
    )


def window_changes(layer: LayerFacts, changes: dict[str, Any]) -> dict[str, Any]:
    """The ``set`` of a fix that changes a window: a pool whose stride defaults to its kernel keeps its
    current stride explicitly when only the kernel changes (else the stride would silently follow)."""
    default_stride = layer.type == "pool" and cast("Pool", layer.spec).stride is None
    if "kernel" in changes and "stride" not in changes and default_stride:
        assert layer.window is not None
        return {**changes, "stride": pair_value(*layer.window.stride)}
    return changes


def with_input(
    net: NetworkFacts, height: int, width: int, upto: int | None = None, receptive_fields: bool = True
) -> NetworkFacts | None:
    """The network re-analysed on another input size (same depth); with ``upto``, only layers[: upto + 1]
    (a layer reads only earlier layers, so that prefix is a whole network of its own). Without
    ``receptive_fields`` the (exact, slower) field arithmetic is skipped: for shape-only questions.

    None when the size is outside what a spec may hold (1 … 2^31 − 1) or the network's figures would pass
    convcalc's limit: a what-if search stays inside the limits of the spec it explores.
    """
    if not (1 <= height <= MAX_SIZE and 1 <= width <= MAX_SIZE):
        return None
    shape = InputShape(height=height, width=width, channels=net.input_shape.depth)
    update: dict[str, Any] = {"input": shape}
    if upto is not None:
        update["layers"] = net.network.layers[: upto + 1]
    try:
        return analyze(net.network.model_copy(update=update), receptive_fields=receptive_fields)
    except FigureLimitError:
        return None


def checked_fix(
    layer: LayerFacts,
    problem: Callable[[Window], bool],
    title: str,
    changes: dict[str, Any],
    *,
    kernel: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    padding: Any = None,
    locked: bool = False,
) -> Fix | None:
    """The fix, if the re-computed window has an output and no longer has the problem; its title gets the shape.

    A fix never trades this warning for an error: where the window fitted (CC101), it must still fit, and
    where a merge relies on the output size (``locked``, see ``size_locked``), the size must stay.
    """
    new = rewindow(layer, kernel=kernel, stride=stride, padding=padding)
    old = layer.window
    if not new.has_output or problem(new) or (old is not None and old.fits and not new.same and not new.fits):
        return None
    if locked and (new.rows.size, new.cols.size) != (layer.output_shape.height, layer.output_shape.width):
        return None
    return Fix(f"{title} → {new.output(layer.output_shape.depth)}", layer.path, changes)


def fits_first(fixes: list[tuple[bool, Fix]]) -> tuple[Fix, ...]:
    return tuple(fix for _, fix in sorted(fixes, key=lambda item: not item[0]))


def padding_value(padding: tuple[int, int] | str) -> Any:
    return padding if isinstance(padding, str) else pair_value(*padding)


def padding_title(value: int | list[int] | str) -> str:
    return 'padding "same"' if value == "same" else f"P={value_text(value)}"


MAX_FIXES_PER_KIND = 2
"""A fit search offers at most this many values of each setting (S, F, P)."""

Candidate = tuple[str, dict[str, Any], Window]
"""A change to try: its title, the spec fields it sets, and the window it gives."""


def fits_exactly(window: Window) -> bool:
    return window.fits and not window.same


def fit_fixes(layer: LayerFacts, keep_size: bool = False) -> tuple[Fix, ...]:
    """Changes to this layer alone that make it fit, each re-computed: magic numbers, S, F, P, then "same".

    The candidates come from one generator per setting; one filter keeps those with an output (and, with
    ``keep_size``, because a merge relies on this layer's H×W, those that keep the output size).
    """
    depth = layer.output_shape.depth
    size = (layer.output_shape.height, layer.output_shape.width)
    fixes: list[Fix] = []
    for title, changes, new in chain(
        _magic_fit(layer), _ceil_fit(layer), _setting_fits(layer, "stride"), _setting_fits(layer, "kernel"),
        _setting_fits(layer, "padding"), [('padding "same"', {"padding": "same"}, rewindow(layer, padding="same"))],
    ):  # fmt: skip
        out = new.output(depth)
        fix = Fix(f"{title} → {out}", layer.path, window_changes(layer, changes))
        if not out.empty and fix not in fixes and not (keep_size and (out.height, out.width) != size):
            fixes.append(fix)
    return tuple(fixes)


def _magic_fit(layer: LayerFacts) -> Iterator[Candidate]:
    """The course's magic numbers first: conv F=3, S=1, P=1; pool F=2, S=2 or F=3, S=2 (the first that fits)."""
    window = layer.window
    assert window is not None
    magic = (
        [((3, 3), (1, 1), (1, 1))] if layer.traits.convolution else [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0))]
    )
    current = (window.kernel, window.stride, (window.padding.top, window.padding.left))
    for kernel, stride, padding in magic:
        new = rewindow(layer, kernel=kernel, stride=stride, padding=padding)
        if fits_exactly(new) and (kernel, stride, padding) != current:
            changes = {"kernel": kernel[0], "stride": stride[0], "padding": padding[0]}
            yield f"F={kernel[0]}, S={stride[0]}, P={padding[0]}", changes, new
            return


def _ceil_fit(layer: LayerFacts) -> Iterator[Candidate]:
    """A pool that floors: PyTorch's ceil_mode reads the rows the floor drops with one more window."""
    window = layer.window
    assert window is not None
    if layer.type == "pool" and not window.ceil_mode and not window.same:
        new = rewindow(layer, ceil_mode=True)
        ceil = layer.spec.model_copy(update={"ceil_mode": True})
        if ceil.tensorflow_problem(layer.input_shape, new.output(layer.output_shape.depth)) is None:
            yield "ceil_mode", {"ceil_mode": True}, new


_LABELS = {"stride": "S", "kernel": "F", "padding": "P"}


def _setting_fits(layer: LayerFacts, field: str) -> Iterator[Candidate]:
    """Up to MAX_FIXES_PER_KIND values of one setting (S, F or P) that make the window fit, nearest first."""
    window = layer.window
    assert window is not None
    found = 0
    for value in _axis_pairs(window, _setting_values(layer, field)):
        new = rewindow(
            layer,
            kernel=value if field == "kernel" else None,
            stride=value if field == "stride" else None,
            padding=value if field == "padding" else None,
        )
        if fits_exactly(new):
            shown = pair_value(*value)
            yield f"{_LABELS[field]}={value_text(shown)}", {field: shown}, new
            found += 1
            if found == MAX_FIXES_PER_KIND:
                return


CANDIDATES = 8
"""Fitting values a search keeps per axis: more than it offers, so that the joint search has a choice."""


class _Values(NamedTuple):
    """A setting's current (h, w) value and, nearest first, values that make the height fit, the width fit,
    and both (for a square value)."""

    current: tuple[int, int]
    rows: list[int]
    cols: list[int]
    both: list[int]


def _setting_values(layer: LayerFacts, field: str) -> _Values:
    """The values of one setting that make each axis fit, found by arithmetic (a division or a congruence),
    never by trying every value up to S or F: a stride of 10^6 costs what a stride of 2 does."""
    window = layer.window
    assert window is not None
    axes = window.axes(layer.input_shape)
    if field == "stride":
        stride = max(window.stride)

        def key(s: int) -> tuple[bool, int, int]:
            return (s != 1, abs(s - stride), s)

        # S must divide n = W − E + 2P (≥ 0 here); every S divides 0.
        numerators = [axis.size - axis.span + axis.pads for axis in axes]

        def dividing(*ns: int) -> list[int]:
            common = gcd(*ns)
            if common == 0:
                near = sorted({1, *range(max(1, stride - CANDIDATES), stride + 3)}, key=key)
                return near[:CANDIDATES]
            return sorted((s for s in divisors(common) if s <= stride + 2), key=key)[:CANDIDATES]

        return _Values(window.stride, dividing(numerators[0]), dividing(numerators[1]), dividing(*numerators))
    if field == "kernel":
        kernel = max(window.kernel)

        # n(F') = c − d·F' with c = W − 1 + d + 2P must be ≥ 0 and a multiple of S: d·F' ≡ c (mod S).
        def fitting(*picked: WindowAxis) -> list[int]:
            conditions = [(a.dilation, a.size - 1 + a.dilation + a.pads, a.stride) for a in picked]
            high = min([kernel + 3] + [c // d for d, c, _ in conditions])
            near = nearest_solutions(congruence_solutions(conditions), 1, high, kernel, CANDIDATES + 4)
            near = [f for f in near if f != kernel]
            return sorted(near, key=lambda f: (abs(f - kernel), f % 2 == 0, f))[:CANDIDATES]

        return _Values(window.kernel, fitting(axes[0]), fitting(axes[1]), fitting(*axes))
    padding = (window.padding.top, window.padding.left)

    # W − E + 2P' must be a multiple of S: 2·P' ≡ E − W (mod S), with 0 ≤ P' < F.
    def padded(*picked: WindowAxis) -> list[int]:
        conditions = [(2, a.span - a.size, a.stride) for a in picked]
        high = max(window.kernel) - 1
        return nearest_solutions(congruence_solutions(conditions), 0, high, padding[0], CANDIDATES)

    return _Values(padding, padded(axes[0]), padded(axes[1]), padded(*axes))


def _axis_pairs(window: Window, values: _Values) -> list[tuple[int, int]]:
    """(h, w) values to try: keep an axis that already fits and search the other; when both misfit, square
    values first, else the first few of each axis combined."""
    if window.rows.fits:
        return [(values.current[0], v) for v in values.cols]
    if window.cols.fits:
        return [(v, values.current[1]) for v in values.rows]
    square = [(v, v) for v in values.both]
    rows, cols = values.rows[:MAX_FIXES_PER_KIND], values.cols[:MAX_FIXES_PER_KIND]
    return square or [(r, c) for r in rows for c in cols]


INPUT_SEARCH = 64
"""How far (in pixels) input-size fixes look around the current size."""


ANALYSIS_BUDGET = 100_000
"""Layer analyses a fix search may spend (a 10,000-layer spec must not take seconds per finding)."""


MERGE_FIXES = 3
"""Mismatched merges that get re-analysed fixes; later ones get the message only (each costs O(n))."""


def input_size_fixes(net: NetworkFacts, layer: LayerFacts) -> tuple[Fix, ...]:
    """The nearest input sizes, below and above, for which this layer fits (re-analysed, not guessed)."""
    fixes = []
    height, width = net.input_shape.height, net.input_shape.width
    # Each candidate re-analyses layers[: index + 1]; bound the total work for very deep specs.
    steps = max(4, min(INPUT_SEARCH, ANALYSIS_BUDGET // (2 * (layer.index + 1))))
    for direction in (1, -1):
        for step in range(1, steps + 1):
            h, w = height + direction * step, width + direction * step
            if not (1 <= h <= MAX_SIZE and 1 <= w <= MAX_SIZE):
                break
            # Keep an axis whose layer already fits.
            h = height if layer.window is not None and layer.window.rows.fits else h
            w = width if layer.window is not None and layer.window.cols.fits else w
            changed = with_input(net, h, w, upto=layer.index, receptive_fields=False)
            if changed is None:
                break
            candidate = changed.layers[layer.index]
            if candidate.window is not None and candidate.window.fits and not candidate.input_shape.empty:
                fixes.append(Fix(f"input {h}×{w} → {candidate.output_shape}", "input", {"height": h, "width": w}))
                break
    return tuple(fixes)


def regroup_fixes(layer: LayerFacts, depth: int, nearest: list[int]) -> tuple[Fix, ...]:
    """The first two of ``nearest`` (group counts dividing ``depth``, best first) as ``groups`` fixes."""
    return tuple(Fix(f"groups={g} → {depth // g} channels per group", layer.path, {"groups": g}) for g in nearest[:2])


def merge_fixes(net: NetworkFacts, layer: LayerFacts, same: Callable[[list[Shape]], bool]) -> tuple[Fix, ...]:
    """Changes to one branch's last conv/pool (its stride or filters) that make the merge's inputs agree,
    each re-checked by analysing the changed network (O(n) per candidate, a few candidates)."""
    shapes = [net.input_shape if s < 0 else net.layers[s].output_shape for s in layer.inputs]
    fixes: list[Fix] = []
    spec: dict[str, Any] | None = None  # the network as JSON, dumped once for all candidates (copied on write)
    known: dict[int, AnyLayer] | None = None  # its layers, not validated again where a candidate leaves them
    for source, shape in zip(layer.inputs, shapes, strict=True):
        producer = None if source < 0 else net.layers[source]
        if producer is None or producer.type not in ("conv", "pool") or producer.window is None:
            continue
        for target in dict.fromkeys(s for s in shapes if s != shape):
            changes: dict[str, Any] = {}
            # out ≈ in / S, so matching a target size scales the stride by shape/target (when that is whole).
            strides = []
            for old, size, wanted in zip(producer.window.stride, shape[:2], target[:2], strict=True):
                scaled = old * size
                strides.append(scaled // wanted if wanted and scaled % wanted == 0 else 0)
            if (shape.height, shape.width) != (target.height, target.width) and all(strides):
                changes["stride"] = pair_value(strides[0], strides[1])
            if producer.type == "conv" and shape.depth != target.depth:
                changes["filters"] = target.depth
            if not changes:
                continue
            text = ", ".join(f"{key}={value}" for key, value in changes.items())
            fix = Fix(f"{producer.name}: {text}", producer.path, changes)
            if fix in fixes:
                continue
            spec = spec if spec is not None else network_data(net.network)
            known = known if known is not None else layers_by_object(spec, net.network)
            network = validate_by_kind(apply_fix(spec, fix), known)
            if network is None:
                continue  # a stride past 2^31 − 1, say: not a fix
            try:
                changed = analyze(network)
            except FigureLimitError:
                continue  # figures past the limit: not a fix
            if same([changed.input_shape if s < 0 else changed.layers[s].output_shape for s in layer.inputs]):
                fixes.append(fix)
    return tuple(fixes)
