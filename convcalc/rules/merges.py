"""Merges: CC105 (add, subtract, average, maximum or minimum of different shapes), CC106 (concat of different
H×W), CC110 (multiply of shapes that do not broadcast), CC116 (split attention whose depths do not split), CC117
(attention pooling by scores that do not fit), CC309 (misaligned fields)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, cast

from convcalc.analysis import LayerFacts, NetworkFacts, Shape
from convcalc.arithmetic import INPUT_RECEPTIVE_FIELD, ReceptiveField
from convcalc.findings import Fix, Severity
from convcalc.layers import broadcast_shape
from convcalc.rules.base import Hit, Settings, layer_rule, message_check, rule
from convcalc.rules.fixing import MERGE_FIXES, merge_fixes
from convcalc.text import fraction_text

if TYPE_CHECKING:
    from convcalc.layers import SplitAttention


def _merge_inputs(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, Shape]]:
    return [
        ("the input", net.input_shape) if source < 0 else (net.layers[source].label, net.layers[source].output_shape)
        for source in layer.inputs
    ]


def _shown(net: NetworkFacts, layer: LayerFacts) -> str:
    return "; ".join(f"{label}: {shape}" for label, shape in _merge_inputs(net, layer))


def _merge_hits(
    net: NetworkFacts,
    settings: Settings,
    message_of: Callable[[NetworkFacts, LayerFacts], str | None],
    fits: Callable[[list[Shape]], bool],
) -> Iterator[Hit]:
    """One hit per merge ``message_of`` finds wrong; the first MERGE_FIXES get fixes (a branch's stride or
    filters) under which ``fits`` holds for the merged shapes."""
    fixed = 0
    for layer in net.layers:
        message = message_of(net, layer)
        if message is None:
            continue
        fixed += 1
        fixes = merge_fixes(net, layer, fits) if settings.fixes and fixed <= MERGE_FIXES else ()
        yield Hit(layer.index, message, fixes)


def _add_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if not layer.traits.equal_shapes or any(s.empty for s in layer.input_shapes) or len(set(layer.input_shapes)) <= 1:
        return None
    return (
        f"{layer.type} needs equal shapes but gets {_shown(net, layer)}; change the stride or filters of the branch"
        " that differs (or project the shortcut with a 1×1 conv)"
    )


def _concat_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if layer.type != "concat" or any(s.empty for s in layer.input_shapes):
        return None
    if len({(s.height, s.width) for s in layer.input_shapes}) <= 1:
        return None
    return f"concat needs the same H×W on every input but gets {_shown(net, layer)}"


def _multiply_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if layer.type != "multiply" or any(s.empty for s in layer.input_shapes):
        return None
    if broadcast_shape(layer.input_shapes) is not None:
        return None
    return f"multiply needs equal shapes or a 1×1×D gate over an H×W×D volume but gets {_shown(net, layer)}"


@rule(
    "CC105",
    "add-shapes-differ",
    Severity.ERROR,
    summary="An add (or another merge value by value) merges volumes whose shapes differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_add_message),
)
def add_shapes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of an `add` (or of a `subtract`, `average`, `maximum` or `minimum`) has the same
    H×W×D.

    ## Why is this bad
    A residual connection adds values position by position and channel by channel (a subtract takes them
    away so, an average or a maximum combines them so); TensorFlow fails at build time ("Inputs have
    incompatible shapes"). Usually one branch downsamples
    (stride 2) or widens (more filters) and the shortcut does not.

    ## Use instead
    Give the shortcut the same stride and depth, typically a 1×1 conv with stride 2 and K filters (the
    ResNet "projection shortcut"), or drop the stride on the main branch.
    """
    yield from _merge_hits(net, settings, _add_message, lambda shapes: len(set(shapes)) == 1)


@rule(
    "CC106",
    "concat-sizes-differ",
    Severity.ERROR,
    summary="A concat joins volumes whose H×W differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 2, "name": "down"},
            {"type": "concat", "inputs": ["down", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 3, "stride": 1, "padding": "same", "name": "branch"},
            {"type": "concat", "inputs": ["branch", "input"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_concat_message),
)
def concat_sizes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of a `concat` has the same H×W (depths may differ: they add up).

    ## Why is this bad
    Concatenation stacks volumes along the depth, position by position; TensorFlow fails at build time
    ("A Concatenate layer requires inputs with matching shapes except for the concatenation axis").

    ## Use instead
    Give every branch the same total stride and "same" padding (the Inception block), or crop/upsample
    the larger one (the U-Net skip connection).
    """
    same_size = lambda shapes: len({(s.height, s.width) for s in shapes}) == 1  # noqa: E731
    yield from _merge_hits(net, settings, _concat_message, same_size)


@rule(
    "CC110",
    "multiply-shapes-differ",
    Severity.ERROR,
    summary="A multiply merges volumes that neither match nor broadcast (a 1×1×D gate over H×W×D).",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 8, "kernel": 1, "name": "gate"},
            {"type": "multiply", "inputs": ["input", "gate"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "gate"},
            {"type": "activation", "kind": "sigmoid", "name": "sigmoid"},
            {"type": "multiply", "inputs": ["input", "sigmoid"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_multiply_message),
)
def multiply_shapes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that the inputs of a `multiply` broadcast: along each of H, W and D their sizes agree or are 1.
    The usual cases are equal shapes and a 1×1×D gate scaling every position of an H×W×D volume
    (squeeze-and-excite).

    ## Why is this bad
    An elementwise product needs one value of each input per output value; TensorFlow fails at build time
    ("Inputs have incompatible shapes"). Usually the gate's last conv or fc has a different number of
    units than the volume it scales has channels.

    ## Use instead
    Give the gate's last layer as many filters or units as the gated volume has channels.
    """
    yield from _merge_hits(net, settings, _multiply_message, lambda shapes: broadcast_shape(shapes) is not None)


@layer_rule(
    "CC116",
    "split-attention-shapes",
    Severity.ERROR,
    summary="A split_attention whose features do not split into r branches of the logits' layout.",
    bad={
        "input": [8, 8, 8],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "logits"},
            {"type": "split_attention", "radix": 2, "inputs": ["input", "logits"]},
        ],
    },
    good={
        "input": [8, 8, 8],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 8, "kernel": 1, "name": "logits"},
            {"type": "split_attention", "radix": 2, "inputs": ["input", "logits"]},
        ],
    },
    tensorflow_refuses=True,
)
def split_attention_shapes(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `split_attention` can split its inputs: the features' depth D holds r branches of C channels
    (r·g divides D, g the logits' groups), and the logits have D channels, r per channel, at 1×1 (one vector
    per image) or at the features' H×W (per position).

    ## Why is this bad
    The layer reshapes the features to r × C and the logits to g × r × C/g before the softmax across the
    branches; TensorFlow and PyTorch refuse a reshape to another count ("Input to reshape is a tensor with 96
    values, but the requested shape has 128"), and logits of another H×W do not broadcast over the features.
    Usually the last 1×1 conv of the attention has C filters instead of r·C.

    ## Use instead
    Give the logits' last conv (or fc) r·C filters (units), the features' depth, and a depth r·g divides.
    """
    if layer.type != "split_attention" or any(shape.empty for shape in layer.input_shapes):
        return None
    spec = cast("SplitAttention", layer.spec)
    features, logits = layer.input_shapes
    split = spec.radix * spec.groups
    problems = []
    if features.depth % split:
        groups = f" × {spec.groups} groups" if spec.groups > 1 else ""
        problems.append(f"the features' depth {features.depth} does not split into {spec.radix} branches{groups}")
    per_image = (logits.height, logits.width) == (1, 1)
    if not per_image and (logits.height, logits.width) != (features.height, features.width):
        problems.append(f"the logits are {logits}, neither 1×1 nor the features' {features.height}×{features.width}")
    if logits.depth != features.depth:
        problems.append(f"the logits have {logits.depth} values for a depth of {features.depth}")
    if not problems:
        return None
    fixes: tuple[Fix, ...] = ()
    source = layer.inputs[1]
    producer = net.layers[source] if source >= 0 else None
    if producer is not None and features.depth % split == 0 and per_image:
        key = {"fc": "units", "conv": "filters"}.get(producer.type)
        if key is not None and logits.depth != features.depth:
            fixes = (Fix(f"{producer.name}: {key}={features.depth}", producer.path, {key: features.depth}),)
    return Hit(layer.index, f"split attention (r={spec.radix}): {'; '.join(problems)}", fixes)


@layer_rule(
    "CC117",
    "attention-pool-scores",
    Severity.ERROR,
    summary="An attention_pool whose scores are not H×W×k over its H×W×C features, k dividing C.",
    bad={
        "input": [8, 8, 6],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 1, "name": "scores"},
            {"type": "attention_pool", "inputs": ["input", "scores"]},
        ],
    },
    good={
        "input": [8, 8, 6],
        "layers": [
            {"type": "conv", "filters": 1, "kernel": 1, "name": "scores"},
            {"type": "attention_pool", "inputs": ["input", "scores"]},
        ],
    },
    tensorflow_refuses=True,
)
def attention_pool_scores(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that an `attention_pool` has one score per position of its features for each of its heads: the
    scores H×W×k at the features' H×W, and k dividing the features' depth C (each head weighs C/k channels).

    ## Why is this bad
    The layer takes a softmax of each head's scores over the positions and sums the features with those
    weights; scores of another H×W leave positions without a weight, and heads that do not divide C leave
    channels without a head. TensorFlow and PyTorch refuse the reshapes. Usually the scores' 1×1 conv has C
    filters instead of one (GCNet's context modelling has a single head).

    ## Use instead
    A 1×1 conv with one filter (or k dividing C) on the features themselves, before any stride.
    """
    if layer.type != "attention_pool" or any(shape.empty for shape in layer.input_shapes):
        return None
    features, scores = layer.input_shapes
    problems = []
    same_grid = (scores.height, scores.width) == (features.height, features.width)
    if not same_grid:
        problems.append(f"the scores are {scores}, not at the features' {features.height}×{features.width}")
    if features.depth % scores.depth:
        problems.append(f"{scores.depth} heads do not divide the features' depth {features.depth}")
    if not problems:
        return None
    source = layer.inputs[1]
    producer = net.layers[source] if source >= 0 else None
    fixes: tuple[Fix, ...] = ()
    if producer is not None and same_grid and producer.type == "conv":
        fixes = (Fix(f"{producer.name}: filters=1", producer.path, {"filters": 1}),)
    return Hit(layer.index, f"attention pooling: {'; '.join(problems)}", fixes)


@rule(
    "CC309",
    "misaligned-merge",
    Severity.WARNING,
    summary="The branches merged here see receptive fields with different centres or jumps.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "padding": "same", "name": "shifted"},
            {"type": "add", "inputs": ["shifted", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "name": "centred"},
            {"type": "add", "inputs": ["centred", "input"]},
        ],
    },
)
def misaligned_merge(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    At an `add` or `concat`, compares the receptive fields of the inputs: the centre of the first
    output's field (start) and the distance between neighbouring outputs (jump), per axis.

    A `concat` that gathers phases of one grid is no misalignment: samplings of one volume (1×1 windows,
    zero padding and cropping: nothing that widens the field) at a coarser stride, moved by whole pixels
    of its grid, all less than a stride apart (NASNet's factorised reduction, YOLOv5's Focus,
    space-to-depth). The gathered volume stands for each centre it gathers, a row and a column together,
    so a branch centred on any of them (or less than half a step from one) merges with it aligned, and so
    does what a later merge of the two shares. A network without such a concat is judged on each layer's
    own start.

    An input that is the same at every position (a 1×1 volume upsampled: DeepLab's image pooling) has no grid
    to align, nor has one that went through a reshape (its values moved to new positions). An upsampled input
    (an upsample, a depth_to_space) is also judged where its coarse grid's centres were: an upsampling with
    half-pixel centres (TensorFlow's, PyTorch's `align_corners=False`) moves the centres of strided features by
    a fraction of the coarse step, a shift of the interpolation that no kernel or padding of the spec changes,
    so the fusions of FPN, LRASPP and HRNet are quiet, while a branch off by half a fine step either way still
    shows. A resize with the corners aligned (`align_corners`) keeps the first
    centre and stretches the coarse grid to (in − 1)/(out − 1) of a coarse step: on DeepLab's 513×513 crop
    (2^n·k + 1 rows) that is exactly the fine step and the decoder's concat is quiet; on 512×512 it is not,
    and the far edge mixes features several pixels apart.

    ## Why is this bad
    Merging values whose fields are centred on different input pixels mixes features of neighbouring
    locations: the shortcut of a stride-2 block with an even kernel or asymmetric padding is shifted by
    half an output step or more against the main branch, so its outputs sit as near the next location as
    their own. Networks train anyway, but the misalignment is a common, silent bug in hand-built graphs. Less
    than half a step apart, each output is nearest the same location in every branch: ResNet-D's 2×2
    average-pool shortcut beside a 3×3, stride-2 conv (a quarter step off) is quiet.

    ## Use instead
    Odd kernels with (F − 1)/2 padding on both branches, and the same total stride on each.
    """
    phases: _Phases | None = None  # made only when some merge's fields differ: most networks have none
    reshaped: list[bool] | None = None
    for layer in net.layers:
        if not layer.traits.merge or len(layer.inputs) < 2:
            continue
        grid = _grid_fields(net, layer)
        if len(grid) < 2 or _within_half_a_step([field for _, field, _ in grid]):
            continue  # most merges: no walk upstream
        reshaped = reshaped or _after_a_reshape(net)
        grid = [entry for entry in grid if not _uniform(net, entry[2]) and not (entry[2] >= 0 and reshaped[entry[2]])]
        fields = [(label, field) for label, field, _ in grid]
        if len(fields) < 2 or _within_half_a_step([field for _, field in fields]):
            continue
        interpolated = _as_interpolated(net, grid)
        if interpolated is not None and _within_half_a_step(interpolated):
            continue
        if phases is None:
            phases = _Phases(net)
        if phases.aligned(layer):
            continue
        first_label, (rows0, cols0) = fields[0]
        label, (rows, cols) = max(fields[1:], key=lambda named: _distance((rows0, cols0), named[1]))
        starts = f"{_both(rows0.start, cols0.start)} vs {_both(rows.start, cols.start)}"
        jumps = f"{_both(rows0.jump, cols0.jump)} vs {_both(rows.jump, cols.jump)}"
        yield Hit(
            layer.index,
            f"{first_label} and {label} are centred differently: start {starts} input pixels, jump {jumps}:"
            " the merge mixes features of different locations",
        )


def _after_a_reshape(net: NetworkFacts) -> list[bool]:
    """Per layer: whether a reshape is upstream of it (or it is one). Its values were moved to new positions, so
    its field's centres say nothing about where they came from: no grid to align."""
    after: list[bool] = []
    for layer in net.layers:
        after.append(layer.traits.new_grid or any(source >= 0 and after[source] for source in layer.inputs))
    return after


def _within_half_a_step(fields: list[_Fields]) -> bool:
    """One jump on each axis, and centres less than half of it apart (:func:`_near`)."""
    jumps = {_jumps(*field) for field in fields}
    return len(jumps) == 1 and _near([(rows.start, cols.start) for rows, cols in fields], jumps.pop())


_UPSTREAM = 64
"""How far back (single-input layers) the rule looks for the upsampling an input went through."""


def _grid(rows: ReceptiveField, cols: ReceptiveField) -> tuple[Fraction, ...]:
    """A field's grid: its jumps and starts, without its size."""
    return rows.jump, cols.jump, rows.start, cols.start


def _upsampled_from(net: NetworkFacts, source: int) -> LayerFacts | None:
    """The upsampling without weights (an upsample, a depth_to_space) an input was last resampled by, through
    layers that keep its grid (a 3×3 conv after it, a relu, a merge through the input whose field it takes);
    None where a layer with a stride or the input comes first."""
    for _ in range(_UPSTREAM):
        if source < 0:
            return None
        layer = net.layers[source]
        if not layer.traits.weighted and min(layer.spec.grid_step(layer.window)) < 1:
            return layer
        own = (layer.rf_rows, layer.rf_cols)
        if len(layer.inputs) > 1:
            # A merge keeps an input's grid (HRNet's x0 + up(x1), added to up(x2) next; a context vector added at
            # every position widens only the size): follow the input whose jumps and starts it has.
            source = next((s for s in layer.inputs if _grid(*_fields_of(net, s)) == _grid(*own)), -1)
            continue
        if not layer.inputs or _jumps(*_fields_of(net, layer.inputs[0])) != _jumps(*own):
            return None
        source = layer.inputs[0]
    return None


def _uniform(net: NetworkFacts, source: int) -> bool:
    """Whether an input is the same at every position: a 1×1 volume upsampled (DeepLab's image pooling branch),
    through layers that act on each position alone. It has no grid to align."""
    for _ in range(_UPSTREAM):
        if source < 0:
            return False
        layer = net.layers[source]
        if layer.type == "upsample":
            return (layer.input_shape.height, layer.input_shape.width) == (1, 1)
        if len(layer.inputs) != 1 or not layer.traits.keeps_shape:
            return False
        source = layer.inputs[0]
    return False


def _as_interpolated(net: NetworkFacts, grid: list[tuple[str, _Fields, int]]) -> list[_Fields] | None:
    """The inputs' fields with the shift each upsampling made undone (None where no input was upsampled): where
    its coarse grid's centres were."""
    fields: list[_Fields] = []
    upsampled = False
    for _, (rows, cols), source in grid:
        upsample = _upsampled_from(net, source)
        if upsample is not None:
            upsampled = True
            before_rows, before_cols = _fields_of(net, upsample.inputs[0])
            rows = rows._replace(start=rows.start - (upsample.rf_rows.start - before_rows.start))
            cols = cols._replace(start=cols.start - (upsample.rf_cols.start - before_cols.start))
        fields.append((rows, cols))
    return fields if upsampled else None


def _near(centres: list[_Centre], jumps: tuple[Fraction, Fraction]) -> bool:
    """Centres all less than half a step apart on each axis: each output of every input is nearest the same
    output of the others (ResNet-D's 2×2 average shortcut beside a 3×3, stride-2 conv sits a quarter of a
    step off)."""
    return all(
        2 * (max(centre[axis] for centre in centres) - min(centre[axis] for centre in centres)) < jumps[axis]
        for axis in (0, 1)
    )


def _distance(first: _Fields, other: _Fields) -> tuple[bool, Fraction]:
    """How far ``other`` is from ``first``: a different jump first, then the larger offset of the starts."""
    jumps_differ = any(a.jump != b.jump for a, b in zip(first, other, strict=True))
    return jumps_differ, max(abs(a.start - b.start) for a, b in zip(first, other, strict=True))


def _both(rows: Fraction, cols: Fraction) -> str:
    return f"{fraction_text(rows)}×{fraction_text(cols)}"


_Fields = tuple[ReceptiveField, ReceptiveField]
_INPUT_FIELDS: _Fields = (INPUT_RECEPTIVE_FIELD, INPUT_RECEPTIVE_FIELD)


def _fields_of(net: NetworkFacts, source: int) -> _Fields:
    return _INPUT_FIELDS if source < 0 else (net.layers[source].rf_rows, net.layers[source].rf_cols)


def _grid_fields(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, _Fields, int]]:
    """The label, fields and index of each input of a merge laid on the merge's own H×W grid: a broadcast 1×1
    gate (squeeze-and-excite) has no grid of its own to align."""
    size = (layer.output_shape.height, layer.output_shape.width)
    return [
        ("the input" if source < 0 else net.layers[source].label, _fields_of(net, source), source)
        for source, shape in zip(layer.inputs, layer.input_shapes, strict=True)
        if (shape.height, shape.width) == size
    ]


_Centre = tuple[Fraction, Fraction]
"""Where a layer's first output is centred: its field's start on the rows and on the columns."""

_MOST_PHASES = 64
"""A gathered volume standing for more centres than this stands for its own start alone (nested gathers would
double the set each time)."""


class _Phases:
    """The centres each layer's outputs stand for, where a concat gathers pixel phases of one grid.

    NASNet's factorised reduction samples a volume with two 1×1, stride-2 windows one pixel apart and
    concatenates them; YOLOv5's Focus and space-to-depth gather all S×S phases so. The gathered volume stands
    for each centre it gathers (a row and a column together: NASNet's (even, even) and (odd, odd), not (even,
    odd)), so a branch centred on any of them merges with it aligned. A layer downstream of a gather moves the
    centres as it moves its own start; a merge keeps the centres its inputs share. A layer with no gather
    upstream stands for its own start alone, so the rule judges it as before. Worked out for every layer at
    once, when first asked."""

    __slots__ = ("_centres", "_gathering", "_net")

    def __init__(self, net: NetworkFacts) -> None:
        self._net = net
        self._gathering: dict[int, bool] = {}
        self._centres: list[frozenset[_Centre]] = []
        for layer in net.layers:
            self._centres.append(self._layer_centres(layer))

    def _of(self, source: int) -> frozenset[_Centre]:
        if source < 0:
            return frozenset({(INPUT_RECEPTIVE_FIELD.start, INPUT_RECEPTIVE_FIELD.start)})
        return self._centres[source]

    def _layer_centres(self, layer: LayerFacts) -> frozenset[_Centre]:
        own = _own_centre(layer.rf_rows, layer.rf_cols)
        if all(self._plain(source) for source in layer.inputs) and not self._gathers(layer):
            return own  # no gather upstream: the analysis' own start, as the rule has always read it
        if len(layer.inputs) == 1:
            source = layer.inputs[0]
            return _moved(self._of(source), _fields_of(self._net, source), (layer.rf_rows, layer.rf_cols)) or own
        if not _fits(layer):
            return own
        sources = [source for _, _, source in _grid_fields(self._net, layer)]
        if self._gathers(layer):
            gathered = frozenset().union(*(self._of(source) for source in sources))
            return gathered if len(gathered) <= _MOST_PHASES else own
        return self._shared(sources) or own

    def _plain(self, source: int) -> bool:
        """Whether ``source`` stands for its own start alone (no gather upstream moved its centres)."""
        return source < 0 or self._centres[source] == _own_centre(*_fields_of(self._net, source))

    def _shared(self, sources: list[int]) -> frozenset[_Centre]:
        """The centres all ``sources`` stand for, if they share a jump; empty if they share none."""
        if not sources or len({_jumps(*_fields_of(self._net, source)) for source in sources}) != 1:
            return frozenset()
        return frozenset.intersection(*(self._of(source) for source in sources))

    def aligned(self, layer: LayerFacts) -> bool:
        """Whether ``layer`` gathers phases, or the inputs it merges on its grid share a jump and stand for centres
        less than half a step apart (one of the first input's and the nearest of every other's, as
        :func:`_within_half_a_step` judges single centres). A merge that does not fit (CC105, CC106) is judged
        on its inputs' own starts."""
        if not _fits(layer):
            return False
        if self._gathers(layer):
            return True
        sources = [source for _, _, source in _grid_fields(self._net, layer)]
        jumps = {_jumps(*_fields_of(self._net, source)) for source in sources}
        if len(jumps) != 1:
            return False
        step, (first, *others) = jumps.pop(), [self._of(source) for source in sources]

        def nearest(centre: _Centre, centres: frozenset[_Centre]) -> _Centre:
            return min(centres, key=lambda other: max(abs(other[0] - centre[0]), abs(other[1] - centre[1])))

        # One centre of each input, the nearest to one of the first's: all less than half a step apart.
        return any(_near([centre, *(nearest(centre, other) for other in others)], step) for centre in first)

    def _gathers(self, layer: LayerFacts) -> bool:
        """A concat of samplings of one volume at phases of a coarser grid. Its inputs share the jump J and read
        one layer through single-input layers that leave the field's size as that layer's (1×1 windows, zero
        padding, cropping, normalisation, activations: samplings, not convolutions). Their centres lie on that
        layer's grid, at two centres or more, all within less than J of each other (none a whole output away)."""
        if layer.type != "concat":
            return False
        if layer.index not in self._gathering:
            self._gathering[layer.index] = self._samples_phases(layer)
        return self._gathering[layer.index]

    def _samples_phases(self, layer: LayerFacts) -> bool:
        grid = _grid_fields(self._net, layer)
        if len({_jumps(*fields) for _, fields, _ in grid}) != 1:
            return False
        if len({(rows.start, cols.start) for _, (rows, cols), _ in grid}) < 2:
            return False  # one centre: nothing sampled at another phase
        ancestor = _common_ancestor(self._net, [source for _, _, source in grid])
        if ancestor is None:
            return False
        rows_a, cols_a = _fields_of(self._net, ancestor)
        if any((rows.size, cols.size) != (rows_a.size, cols_a.size) for _, (rows, cols), _ in grid):
            return False
        rows0, cols0 = grid[0][1]
        return _phases_of_grid([rows.start for _, (rows, _), _ in grid], rows_a, rows0.jump) and _phases_of_grid(
            [cols.start for _, (_, cols), _ in grid], cols_a, cols0.jump
        )


def _fits(layer: LayerFacts) -> bool:
    """Every input of a merge is on its H×W grid or a 1×1 gate broadcast over it."""
    size = (layer.output_shape.height, layer.output_shape.width)
    return all((shape.height, shape.width) in (size, (1, 1)) for shape in layer.input_shapes)


def _jumps(rows: ReceptiveField, cols: ReceptiveField) -> tuple[Fraction, Fraction]:
    return rows.jump, cols.jump


def _phases_of_grid(starts: list[Fraction], grid: ReceptiveField, jump: Fraction) -> bool:
    """Starts on ``grid``'s steps (whole steps apart), all within less than ``jump`` of each other."""
    first = starts[0]
    return (
        grid.jump > 0
        and max(starts) - min(starts) < jump
        and all(((start - first) / grid.jump).denominator == 1 for start in starts)
    )


def _own_centre(rows: ReceptiveField, cols: ReceptiveField) -> frozenset[_Centre]:
    return frozenset({(rows.start, cols.start)})


def _moved(centres: frozenset[_Centre], before: _Fields, after: _Fields) -> frozenset[_Centre]:
    """``centres`` moved as a layer moves its input's fields ``before`` to ``after``. Empty (the layer's own
    start stands) for a layer that does not lay its output on a grid of its input's (a finer, fractional or
    empty jump: an upsampling, an adaptive pool, an empty volume)."""
    if any(
        old.jump == 0 or new.jump == 0 or (new.jump / old.jump).denominator != 1
        for old, new in zip(before, after, strict=True)
    ):
        return frozenset()
    rows, cols = after[0].start - before[0].start, after[1].start - before[1].start
    if rows == cols == 0:
        return centres
    return frozenset((row + rows, col + cols) for row, col in centres)


_ANCESTRY = 64
"""How far up single-input layers a phase-gathering concat looks for the volume its inputs sample."""


def _common_ancestor(net: NetworkFacts, sources: list[int]) -> int | None:
    """The nearest layer (−1: the input) that every source is or reads through single-input layers alone."""
    chains = [_single_input_chain(net, source) for source in sources]
    shared = set(chains[0]).intersection(*chains[1:])
    return next((index for index in chains[0] if index in shared), None)


def _single_input_chain(net: NetworkFacts, source: int) -> list[int]:
    chain = [source]
    while source >= 0 and len(chain) < _ANCESTRY and len(net.layers[source].inputs) == 1:
        source = net.layers[source].inputs[0]
        chain.append(source)
    return chain
