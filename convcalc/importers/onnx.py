"""ONNX models as convcalc specs, read as data: the graph and the initializers' dims, never the weights.

The ``onnx`` package (the ``onnx`` extra) parses the protobuf and infers shapes; nothing in the file is run,
no external weight data is loaded (the one external read: an integer index tensor of at most ``MAX_INDICES``
values whose values decide what a Gather does; an external-data path that leaves the model's folder is refused
all the same), and the file size and node count are capped before the work they would cost. Every node that computes
on the image goes to the reader its op type's layer kind registered (``onnx_readers``); nodes that only
compute shapes and constants (Shape, Constant, Concat of shape values, the dynamo exporter's
Shape/Expand/CastLike bias plumbing) are evaluated as plumbing and make no layer. What a spec cannot express
is refused naming the node, its op type and what is missing.

Layers take their node's name. Each node's parameters are its stored tensors (initializers), counted once
per layer however many nodes read them; shape constants and scalar bounds are no parameters. Once the spec
is built it is analysed, and every layer's output shape is compared with ONNX's shape inference and every
weighted node's stored values with convcalc's count: a disagreement is refused, never reported as a figure.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, TypeVar

from convcalc.analysis import NetworkFacts, Shape
from convcalc.extras import is_installed
from convcalc.importers.confirming import UNFORESEEN, confirmed, rearranged_output
from convcalc.importers.names import UniqueNames
from convcalc.layers import REGISTRY
from convcalc.layers.attention import FUSED_OP as SPLIT_ATTENTION_OP
from convcalc.layers.attention import POOL_FUSED_OP as ATTENTION_POOL_OP
from convcalc.layers.elementwise import LOG_SIGMOID
from convcalc.layers.keras import Refusal, Source, Tensor
from convcalc.layers.onnx import (
    CHANNELS_LAST,
    GAIN_INPUT,
    Constant,
    Dims,
    Input,
    OnnxMapped,
    OnnxNode,
    pad_sides,
)
from convcalc.layers.response_norm import FUSED_OP as GRN_FUSED_OP
from convcalc.loading import MAX_PROBLEMS, Problem, SpecError, capped, open_regular
from convcalc.spec import INPUT_NAME, MAX_LAYERS

if TYPE_CHECKING:
    from convcalc.importers.keras import InputSize

MAX_ONNX_BYTES = 1024 * 1024 * 1024
"""The largest .onnx file read (checked before reading). ResNet-50 with its weights inside is 98 MiB and VGG16
528 MiB; a graph saved with external data (what convcalc needs) is a few hundred KiB."""
MAX_NODES = 100_000
"""The most graph nodes: about ten per spec layer at the layer limit (an unoptimised dynamo export of
ResNet-18 has 176 nodes for 71 layers)."""
MAX_VALUES = 1024
"""Constants with more values than this are not read (shape constants and bounds have a handful)."""
_EXPORTERS_GRAPH_NAMES = frozenset({"", "main_graph", "torch_jit", "torch-jit-export"})
"""Graph names PyTorch's exporters give every model: the spec takes the file's name instead."""
MAX_INDICES = 65_536
"""Integer index tensors with more values than this are not read (an ``as_strided`` of a pooled 1×1×C volume
has C, a few thousand at most)."""
INSTALL_HINT = "pip install 'convcalc[onnx]'"
_WHAT = "ONNX model file"
_FLOAT_TYPES = {1: 4, 10: 2, 11: 8, 16: 2}
"""FLOAT, FLOAT16, DOUBLE, BFLOAT16 and their sizes in bytes."""
_DEFAULT_DOMAINS = ("", "ai.onnx")
_FX_NODE = "pkg.torch.onnx.fx_node"
"""The metadata key under which PyTorch's dynamo exporter records the call each node comes from."""
_REFERENCE = re.compile(r"%\w+")
"""A tensor the recorded call reads (``%conv2d``, ``%p_0_weight``); numbers and None are written as they are."""
_LIFTED = re.compile(r"%([pbc]_\w+)")
"""An input torch.export lifted out of the module, in that record: a parameter (p_…), a buffer (b_…) or a tensor
constant (c_…), each named after the tensor, its dots as underscores (the buffer ``3.filt`` is ``b_3_filt``)."""
_STATIC_OF_DATA = ("Shape", "Size")
"""Ops that read a data tensor's shape, not its values: their outputs are plumbing."""


def is_onnx_file(path: str, head: bytes | None = None) -> bool:
    """True for a ``.onnx`` file, or a file that starts like an ONNX model (field 1, ir_version, as a small
    varint). Never raises; reads at most 2 bytes."""
    if path.lower().endswith(".onnx"):
        return True
    if head is None:
        try:
            with open_regular(path) as handle:
                head = handle.read(2)
        except (SpecError, OSError, ValueError):
            return False
    return len(head) >= 2 and head[0] == 0x08 and 1 <= head[1] <= 64


def missing_onnx() -> str | None:
    """Why the ONNX import cannot run here (the extra is not installed), or None."""
    return None if is_installed("onnx") else f"reading ONNX models needs the onnx package: {INSTALL_HINT}"


def spec_from_onnx_file(
    path: str, input_size: InputSize | None = None, fixed: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The convcalc spec of an ONNX model file, as JSON data that validates; its name says what the export
    did (BatchNormalization folded into the convs, tensors shared). Raises :class:`SpecError`."""
    return read_onnx_file(path, input_size, fixed).spec


@dataclass
class OnnxImport:
    """A converted model: the spec, and notes on what the export did to it."""

    spec: dict[str, Any]
    notes: list[str]


def read_onnx_file(path: str, input_size: InputSize | None = None, fixed: frozenset[str] = frozenset()) -> OnnxImport:
    """Read, convert and confirm an ONNX model file (see the module's docstring). ``input_size`` (H, W, D or
    None) fills the sizes an export with dynamic axes leaves open, before shape inference. ``fixed`` names
    initializers known to hold fixed values, not trained ones (the buffers of the module exported): a layer whose
    stored weights are all among them is imported frozen."""
    reason = missing_onnx()
    if reason is not None:
        raise _file_error(path, reason)
    model = _parse(path)
    importer = _Importer(path, model, input_size, fixed)
    spec = confirmed(path, importer.run(), importer)
    return OnnxImport(spec, importer.notes)


def _file_error(path: str, message: str) -> SpecError:
    return SpecError(path, [Problem((), message)])


def _parse(path: str) -> Any:
    with open_regular(path, _WHAT) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_ONNX_BYTES:
                raise _file_error(
                    path,
                    f"is {size:,} bytes; convcalc reads ONNX files up to {MAX_ONNX_BYTES:,} bytes (save the model"
                    " with its weights as external data: convcalc reads only the graph)",
                )
            data = handle.read(MAX_ONNX_BYTES + 1)
        except OSError as exc:
            raise _file_error(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_ONNX_BYTES:
        raise _file_error(path, f"is larger than the limit of {MAX_ONNX_BYTES:,} bytes")
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(io.BytesIO(data), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, TypeError, RecursionError, UnicodeDecodeError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise _file_error(path, f"is not a readable ONNX model (a malformed or truncated protobuf: {reason})") from None
    graph = model.graph
    if len(graph.node) > MAX_NODES:
        raise _file_error(path, f"the graph has {len(graph.node):,} nodes; convcalc reads at most {MAX_NODES:,}")
    if not graph.node:
        raise _file_error(path, "the ONNX graph has no nodes (is this an ONNX model?)")
    return model


def _fill_input(dims: list[Any], input_size: InputSize, name: str, shown: str) -> str | None:
    """Write ``input_size`` into the open C, H, W of an (N, C, H, W) input before shape inference; a size the
    export fixed stays, and one the option contradicts is the problem returned (the network was built for it)."""
    height, width, depth = input_size
    given = f"{height}x{width}" + (f"x{depth}" if depth is not None else "")
    for axis, dim, wanted in zip(("depth", "height", "width"), dims[1:], (depth, height, width), strict=True):
        fixed = dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
        if fixed is not None:
            if wanted is not None and wanted != fixed:
                return (
                    f"input {name!r} has shape {shown}: its {axis} is fixed at {fixed}, but --input {given}"
                    f" asks for {wanted}"
                )
        elif wanted is None:
            return f"input {name!r} has shape {shown}, which leaves the depth open too: pass it, e.g. --input {given}x3"
        else:
            dim.dim_value = wanted
    return None


def _drop_weight_bytes(model: Any) -> None:
    """Forget the bytes of every large initializer (only its dims are used) before shape inference copies the
    model: a 500 MiB file is then a few KiB to infer. Integer tensors up to ``MAX_INDICES`` values stay: they
    are indices, not weights (the dynamo exporter's ``as_strided`` gathers one index per value of a tensor)."""
    from onnx import TensorProto

    for tensor in model.graph.initializer:
        if tensor.data_type in (TensorProto.INT64, TensorProto.INT32) and _numel(tensor.dims) <= MAX_INDICES:
            continue
        if _numel(tensor.dims) > MAX_VALUES and tensor.data_location != TensorProto.EXTERNAL:
            for name in ("raw_data", "float_data", "double_data", "int32_data", "int64_data"):
                tensor.ClearField(name)
            tensor.data_location = TensorProto.EXTERNAL
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", "convcalc-never-reads-this"


def _numel(dims: Any) -> int:
    count = 1
    for size in dims:
        count *= int(size)
    return count


def _inferred(model: Any) -> dict[str, Dims]:
    """ONNX's shape of every tensor it can infer (partial where shape inference gives up)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        inferred = model
    graph = inferred.graph
    shapes: dict[str, Dims] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = info.type.tensor_type
        if tensor_type.HasField("shape"):
            shapes[info.name] = tuple(
                d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim
            )
    return shapes


def _known(dims: Dims | None) -> bool:
    return dims is not None and None not in dims


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import AttributeProto

    values: dict[str, Any] = {}
    for attribute in node.attribute:
        kind = attribute.type
        if kind == AttributeProto.INT:
            values[attribute.name] = attribute.i
        elif kind == AttributeProto.FLOAT:
            values[attribute.name] = attribute.f
        elif kind == AttributeProto.STRING:
            values[attribute.name] = attribute.s.decode("utf-8", "replace")
        elif kind == AttributeProto.INTS:
            values[attribute.name] = list(attribute.ints)
        elif kind == AttributeProto.FLOATS:
            values[attribute.name] = list(attribute.floats)
        elif kind == AttributeProto.TENSOR:
            values[attribute.name] = attribute.t
        else:  # graphs (If, Loop), sparse tensors, type protos
            values[attribute.name] = None
    return values


def _tensor_values(tensor: Any) -> tuple[float, ...] | None:
    """The values of a small tensor stored in the file; None for large, external or unreadable ones."""
    if _numel(tensor.dims) > MAX_VALUES:
        return None
    array = _written_array(tensor)
    if array is None or array.size > MAX_VALUES:
        return None
    return tuple(v.item() for v in array.reshape(-1))


def _uniform_value(tensor: Any) -> float | None:
    """The one value of a Constant node's tensor written in the file when every value is equal (None: they
    differ, or it is external or unreadable). Its size is bounded by the file's: the file was read whole."""
    array = _written_array(tensor)
    if array is None or array.size == 0:
        return None
    first = array.reshape(-1)[0]
    return float(first.item()) if bool((array == first).all()) else None


def _written_array(tensor: Any) -> Any:
    """A tensor written in the file as a numeric array; None when it is external, unreadable or not numbers."""
    from onnx import TensorProto, numpy_helper

    if tensor.data_location == TensorProto.EXTERNAL:
        return None
    try:
        array = numpy_helper.to_array(tensor)
    except Exception:
        return None
    return array if array.dtype.kind in "iufb" else None


def _external_escape(tensor: Any, folder: Path) -> str | None:
    """The external-data location of an initializer when it points outside the model's folder."""
    for entry in tensor.external_data:
        if entry.key != "location":
            continue
        location = str(entry.value)
        posix, windows = PurePosixPath(location), PureWindowsPath(location)
        if (
            posix.is_absolute()
            or windows.is_absolute()
            or windows.drive
            or ".." in posix.parts
            or ".." in windows.parts
        ):
            return location
        try:
            resolved = (folder / location).resolve()
        except (OSError, RuntimeError, ValueError):
            return location
        if folder.resolve() not in resolved.parents:
            return location
    return None


def _show(shape: Dims | None) -> str:
    return "?" if shape is None else "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _volume(shape: Dims | None, layout: str = "") -> Shape | None:
    """An ONNX shape as convcalc's volume: (N, C, H, W) → H×W×C, (N, H, W, C) channels last → H×W×C,
    (N, n) → 1×1×n; None when not fully known (or in the middle of a pattern)."""
    if shape is None or None in shape[1:] or layout not in ("", CHANNELS_LAST):
        return None
    if len(shape) == 4 and layout == CHANNELS_LAST:
        return Shape(shape[1] or 0, shape[2] or 0, shape[3] or 0)
    if len(shape) == 4:
        return Shape(shape[2] or 0, shape[3] or 0, shape[1] or 0)
    if len(shape) == 2:
        return Shape(1, 1, shape[1] or 0)
    return None


@dataclass
class _Emitted:
    """One node's spec layers: where they start and end, and the parameters the file stores for them."""

    node: OnnxNode
    output: str
    """The node's output tensor."""
    first: int
    last: int
    layout: str = ""
    """The layout of its output (channels last: (N, H, W, C))."""
    stored: list[tuple[str, int]] = field(default_factory=list)
    """The stored tensors it computes with and their sizes, once per input it reads them as (a BatchNormalization of an
    untrained model reads one tensor of ones as its scale and its variance)."""


class _TooManyLayers(Exception):
    """The walk has emitted ``MAX_LAYERS`` spec layers."""


@dataclass
class _Importer:
    file: str
    model: Any
    input_size: InputSize | None = None
    fixed: frozenset[str] = frozenset()
    """Initializers that hold fixed values (a module's buffers), by name."""
    layers: list[dict[str, Any]] = field(default_factory=list)
    origins: list[_Emitted] = field(default_factory=list)
    emitted: list[_Emitted] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: UniqueNames = field(default_factory=UniqueNames)
    values: dict[str, Tensor | Constant] = field(default_factory=dict)
    producers: dict[str, _Emitted] = field(default_factory=dict)
    """Spec layer name → the node that emitted it (a bias Add looks up its conv or fc)."""
    readers: Counter[str] = field(default_factory=Counter)
    """Tensor name → how many live nodes read it."""
    shapes: dict[str, Dims] = field(default_factory=dict)
    unsupported: bool = False
    standardised: int = 0
    """The weight standardisations read as plain conv weights (see :func:`_standardised_weight`)."""

    def run(self) -> dict[str, Any] | None:
        graph = self.model.graph
        opset = next((o.version for o in self.model.opset_import if o.domain in _DEFAULT_DOMAINS), 0)
        folder = Path(self.file).resolve().parent
        stored = self._initializers(graph, folder)
        if self.problems:
            return None
        input_shape = self._input(graph, stored)
        if input_shape is None:
            return None
        _drop_weight_bytes(self.model)
        self.shapes = _inferred(self.model)
        nodes = _fused(graph, self.shapes, folder, opset)
        live = self._live(graph, nodes)
        self.standardised = sum(1 for k in live if nodes[k] is not None and nodes[k].doc_string == STANDARDISED_WEIGHT)
        try:
            for index, node in enumerate(nodes):
                if index in live and node is not None:
                    self._node(index, node, opset)
        except _TooManyLayers:
            self.problems.append(
                Problem(
                    (), f"the model makes more than {MAX_LAYERS:,} spec layers; convcalc checks at most {MAX_LAYERS:,}"
                )
            )
            return None
        if self.problems:
            return None
        output = self.values.get(graph.output[0].name)
        if not isinstance(output, Tensor) or not self.layers:
            self.problems.append(
                Problem((), "the model's output is not computed from its input by layers convcalc models")
            )
            return None
        if output.layout:
            self.problems.append(Problem((), rearranged_output(output.layout, "Reshape or Transpose")))
            return None
        self._describe(graph)
        name = Path(self.file).stem if graph.name in _EXPORTERS_GRAPH_NAMES else graph.name
        spec: dict[str, Any] = {"name": (f"{name}: {'; '.join(self.notes)}" if self.notes else name)[:200]}
        spec["input"] = input_shape
        spec["layers"] = self.layers
        return spec

    # -- the file

    def _initializers(self, graph: Any, folder: Path) -> set[str]:
        names = set()
        for tensor in graph.initializer:
            escape = _external_escape(tensor, folder)
            if escape is not None:
                self.problems.append(
                    Problem(
                        ("graph", "initializer", tensor.name),
                        f"initializer {tensor.name!r}: its external data is at {escape!r}, outside the model's folder;"
                        " convcalc never reads external weights, and refuses a path that leaves the folder",
                    )
                )
            names.add(tensor.name)
            self.values[tensor.name] = Constant(
                tensor.name,
                tuple(int(d) for d in tensor.dims),
                _tensor_values(tensor),
                frozenset({tensor.name}),
                initializer=True,
            )
        if len(graph.sparse_initializer):
            self.problems.append(Problem((), "the graph has sparse initializers, which convcalc does not count"))
        return names

    def _input(self, graph: Any, stored: set[str]) -> list[int] | None:
        inputs = [value for value in graph.input if value.name not in stored]
        if len(inputs) != 1 or len(graph.output) != 1:
            which = "inputs" if len(inputs) != 1 else "outputs"
            count = len(inputs) if which == "inputs" else len(graph.output)
            self.problems.append(Problem((), f"the graph has {count} {which}; convcalc networks have exactly one"))
            return None
        value = inputs[0]
        tensor_type = value.type.tensor_type
        dims = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else []
        shown = (
            "(" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims) + ")"
        )
        if len(dims) not in (2, 4):
            self.problems.append(
                Problem(
                    (),
                    f"input {value.name!r} has shape {shown}; convcalc imports images (N, C, H, W) or vectors (N, n)",
                )
            )
            return None
        if len(dims) == 4 and self.input_size is not None:
            problem = _fill_input(dims, self.input_size, value.name, shown)
            if problem is not None:
                self.problems.append(Problem((), problem))
                return None
        sizes = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims[1:]]
        if None in sizes:
            self.problems.append(
                Problem(
                    (),
                    f"input {value.name!r} has shape {shown}: no fixed size; convcalc needs C, H and W: pass the size"
                    " to check it at, e.g. --input 224x224 (or export with a fixed-size example input and no dynamic"
                    " H or W)",
                )
            )
            return None
        fixed = [int(s or 0) for s in sizes]
        self.values[value.name] = Tensor(INPUT_NAME, len(dims))
        return [1, 1, fixed[0]] if len(dims) == 2 else [fixed[1], fixed[2], fixed[0]]

    def _live(self, graph: Any, nodes: list[Any]) -> set[int]:
        """The nodes the output depends on (an exporter may leave others, a MaxPool's unused indices)."""
        made: dict[str, int] = {}
        for index, node in enumerate(nodes):
            for name in node.output if node is not None else ():
                if name:
                    made[name] = index
        wanted, live = [graph.output[0].name], set()
        while wanted:
            index = made.get(wanted.pop(), -1)
            if index >= 0 and index not in live:
                live.add(index)
                wanted.extend(name for name in nodes[index].input if name)
        for index in live:
            self.readers.update(name for name in nodes[index].input if name)
        self.readers.update(output.name for output in graph.output[:1])  # read by the model's user
        return live

    # -- nodes

    def _node(self, index: int, raw: Any, opset: int) -> None:
        name = raw.name or (raw.output[0] if raw.output else "") or f"{raw.op_type}_{index}"
        inputs: list[Input] = []
        for tensor in raw.input:
            if not tensor:
                inputs.append(None)
                continue
            value = self.values.get(tensor)
            if value is None:
                self.problems.append(
                    Problem(
                        ("graph", "node", index),
                        f"node {name!r} ({raw.op_type}): reads {tensor!r}, which no earlier node, initializer or input"
                        " makes (a truncated file, or nodes out of order)",
                    )
                )
                self._fail(raw)
                return
            inputs.append(value)
        node = OnnxNode(
            name=name,
            op_type=raw.op_type,
            index=index,
            opset=opset,
            attributes=_attributes(raw),
            inputs=tuple(inputs),
            input_shapes=tuple(self._shape_of(t) for t in raw.input),
            output_shape=self.shapes.get(raw.output[0]) if raw.output else None,
            output_shapes=tuple(self.shapes.get(t) for t in raw.output),
            written=_names_only_its_data(raw, sum(isinstance(item, Tensor) for item in inputs)),
            recorded=_recorded_arguments(raw),
        )
        try:
            if raw.domain not in _DEFAULT_DOMAINS:
                self.unsupported = True
                raise node.refuse(f"an op of the custom domain {raw.domain!r}, whose meaning is not in the file")
            if raw.op_type in _STATIC_OF_DATA or not node.sources or _casts_a_constant(raw.op_type, node):
                self._plumbing(node, raw)
                return
            reader = REGISTRY.onnx_readers.get(raw.op_type)
            if reader is None or (raw.op_type in _INVENTED_OPS and raw.doc_string != FUSED):
                self.unsupported = True
                raise node.refuse(_unsupported(raw.op_type))
            mapped = reader(node)
            if mapped.branches is None:
                for extra in raw.output[1:]:
                    if extra and self.readers[extra]:
                        raise node.refuse(f"its output {extra!r} is used; convcalc layers have one output")
            if not mapped.reads_layout and any(source.layout for source in node.sources):
                raise node.refuse(
                    "reads a tensor a Transpose or Reshape rearranged; convcalc imports those only as steps of a"
                    " channels-last LayerNorm or Linear (Transpose (0, 2, 3, 1) … Transpose (0, 3, 1, 2)), of a"
                    " channel shuffle (Reshape, Transpose (0, 2, 1, 3, 4), Reshape) or of a pixel unshuffle"
                )
            if mapped.branches is not None:
                self._branches(node, raw, mapped.branches)
            else:
                self._emit(node, raw, mapped)
            if mapped.dims is not None and raw.output and not _known(self.shapes.get(raw.output[0])):
                # Bounds computed from shapes (a U-Net's crop of its skip connection, exported without constant
                # folding) leave ONNX's shape inference without the slice's size; its reader has it.
                self.shapes[raw.output[0]] = mapped.dims
        except Refusal as refusal:
            self.problems.append(Problem(refusal.path, refusal.message))
            self._fail(raw)
        except UNFORESEEN as error:
            self.problems.append(
                Problem(
                    ("graph", "node", index),
                    f"node {name!r} ({raw.op_type}): convcalc cannot read this node ({type(error).__name__}: its"
                    " attributes or shapes are not what the op's reader expects)",
                )
            )
            self._fail(raw)

    def _fail(self, raw: Any) -> None:
        # Later nodes read something, so that one refusal is not followed by "reads a missing tensor" for each,
        # and go on to say what else convcalc cannot read; of the rank ONNX infers, so that no reader works on
        # a tensor whose rank is not the one its shape has.
        for tensor in raw.output:
            shape = self.shapes.get(tensor)
            self.values.setdefault(tensor, Tensor(INPUT_NAME, len(shape) if shape else 4))

    def _shape_of(self, tensor: str) -> Dims | None:
        value = self.values.get(tensor)
        if isinstance(value, Constant) and value.dims is not None:
            return tuple(value.dims)
        return self.shapes.get(tensor)

    def _plumbing(self, node: OnnxNode, raw: Any) -> None:
        """A node that computes a constant (from constants, or from a data tensor's shape): evaluate it when
        it is small and simple, remember its shape; no layer."""
        attributes = node.attributes
        inputs = node.inputs
        first = inputs[0] if inputs else None
        values: tuple[float, ...] | None = None
        dims: tuple[int, ...] | None = None
        stored: frozenset[str] = frozenset()
        # computed from an initializer (sliced, gathered, added to…): what may be a trained value
        initializer = any(isinstance(item, Constant) and item.initializer for item in inputs)
        op = raw.op_type
        if op == "Constant":
            tensor = attributes.get("value")
            uniform = None
            if tensor is not None and not isinstance(tensor, (int, float, str, list)):
                values = _tensor_values(tensor)
                dims = tuple(int(d) for d in tensor.dims)
                uniform = _uniform_value(tensor) if values is None else None
            else:
                values, dims = _listed_values(attributes)
            stored = frozenset({raw.output[0]})
            self.values[raw.output[0]] = Constant(raw.output[0], dims, values, stored, uniform=uniform)
            return
        if op == "Identity" and isinstance(first, Constant):
            self.values[raw.output[0]] = first._replace(name=raw.output[0])
            return
        if op == "Shape":
            shape = node.input_shapes[0]
            if shape is not None and None not in shape:
                start, end = attributes.get("start", 0), attributes.get("end", len(shape))
                values = tuple(float(s or 0) for s in shape[start:end])
        elif op == "Reshape" and isinstance(first, Constant):
            values, stored = first.values, first.stored  # a stored tensor reshaped is still its parameters
            dims = _reshaped(first, inputs[1] if len(inputs) > 1 else None, attributes.get("allowzero", 0))
        elif op in ("Unsqueeze", "Squeeze", "Flatten") and isinstance(first, Constant):
            values, stored = first.values, first.stored
        elif op in ("Cast", "CastLike") and isinstance(first, Constant):
            values = first.values
        elif op == "ConstantOfShape" and isinstance(first, Constant) and first.values is not None:
            values, dims = _filled(first.values, attributes.get("value"))
        elif op == "Slice" and isinstance(first, Constant):
            values, dims = _sliced(first, node) or (None, None)
        elif op == "Transpose" and isinstance(first, Constant):
            stored = first.stored  # a stored tensor transposed (a Linear's weight for MatMul) is its parameters
            values, dims = _transposed(first, attributes.get("perm")) or (None, None)
        elif op == "Concat" and all(isinstance(i, Constant) and i.values is not None for i in inputs):
            values = tuple(v for i in inputs if isinstance(i, Constant) and i.values for v in i.values)
        elif op in _ARITHMETIC and len(inputs) == 2 and all(isinstance(i, Constant) and i.values for i in inputs):
            values = _arithmetic(op, [i.values for i in inputs if isinstance(i, Constant) and i.values])
        elif op == "Gather" and isinstance(first, Constant) and len(inputs) == 2 and isinstance(inputs[1], Constant):
            data, picks = first.values, inputs[1].values
            if data is not None and picks is not None and (first.dims or (0,))[0:1] == (len(data),):
                try:
                    values = tuple(data[int(p)] for p in picks)
                except (IndexError, ValueError):
                    values = None
        for tensor in raw.output:
            if tensor:
                shape = self.shapes.get(tensor)
                known = None if shape is None or None in shape else tuple(int(s or 0) for s in shape)
                if known is None and dims is not None and tensor == raw.output[0]:
                    known = dims
                if known is None and values is not None and tensor == raw.output[0]:
                    known = (len(values),)
                output_values = values if tensor == raw.output[0] else None
                self.values[tensor] = Constant(tensor, known, output_values, stored, initializer=initializer)

    def _emit(self, node: OnnxNode, raw: Any, mapped: OnnxMapped) -> None:
        stored = self._stored(node, mapped.weights)
        # A conv's weight, or a single learned value (a layer scale's per-channel γ reshaped from its parameter,
        # PoolFormer's, is folded with the same numbers).
        judged = node.op_type in ("Conv", "ConvTranspose") or any(
            layer.get("gammas") == "one" for layer in mapped.layers
        )
        computed = _computed_in_forward(raw, node, mapped.weights) if judged else None
        if computed:
            raise node.refuse(
                f"its stored {computed!r} is a value the module computes in forward (a standardised or normalised"
                " weight, a function of constants), which the exporter's optimiser folded into one tensor: the"
                " parameters behind it, if any, are not in the file. Export with torch.onnx.export(...,"
                " optimize=False), or check the module with convcalc.check(module)"
            )
        if stored and mapped.layers and self._all_fixed(raw, stored):
            main = mapped.layers[mapped.main]
            mapped = mapped._replace(
                layers=[*mapped.layers[: mapped.main], {**main, "trainable": False}, *mapped.layers[mapped.main + 1 :]]
            )
        if mapped.bias_for is not None:
            self._fold_bias(node, raw, mapped.bias_for, stored)
            return
        if not mapped.layers:  # Identity, a reshape of a 1×1×n vector, a Transpose: later nodes read its input
            source = node.source()
            self.values[raw.output[0]] = Tensor(source.name, mapped.rank, mapped.layout, mapped.groups, mapped.parts)
            return
        if len(self.layers) + len(mapped.layers) > MAX_LAYERS:
            raise _TooManyLayers
        start, end = len(self.layers), len(self.layers) + len(mapped.layers) - 1
        record = _Emitted(node, raw.output[0], start, end, mapped.layout, stored)
        base = self.names.take(node.name[:180])
        previous = node.sources
        made: list[Tensor] = []
        for k, body in enumerate(mapped.layers):
            name = base if k == mapped.main else self.names.take(f"{base}/{body.get('kind', body['type'])}")
            layer = {**body, "name": name}
            if mapped.reads is not None:
                previous = [node.sources[r.index] if isinstance(r, Source) else made[r.index] for r in mapped.reads[k]]
            reads = [s.name for s in previous]
            last = self.layers[-1]["name"] if self.layers else INPUT_NAME
            if REGISTRY.kind(body["type"]).traits.merge or reads != [last]:
                layer["inputs"] = reads
            self.layers.append(layer)
            self.origins.append(record)
            self.producers[name] = record
            previous = [Tensor(name, mapped.rank, mapped.layout, mapped.groups, mapped.parts)]
            made.append(previous[0])
        self.emitted.append(record)
        self.values[raw.output[0]] = previous[0]

    def _branches(self, node: OnnxNode, raw: Any, branches: list[list[dict[str, Any]]]) -> None:
        """A node with several outputs (a Split): each output's layers read the node's input."""
        for output, shape, bodies in zip(raw.output, node.output_shapes, branches, strict=True):
            if not output or not self.readers[output]:
                continue
            self._emit(node._replace(output_shape=shape), _Outputs(output), OnnxMapped(bodies, 4))

    def _stored(self, node: OnnxNode, positions: tuple[int, ...]) -> list[tuple[str, int]]:
        stored: list[tuple[str, int]] = []
        for position in positions:
            item = node.inputs[position] if position < len(node.inputs) else None
            if isinstance(item, Constant) and item.stored and item.dims is not None:
                stored.append((min(item.stored), item.size or 0))
        return stored

    def _fold_bias(self, node: OnnxNode, raw: Any, position: int, stored: list[tuple[str, int]]) -> None:
        source = node.inputs[position]
        assert isinstance(source, Tensor)
        record = self.producers.get(source.name)
        layer = self.layers[record.last] if record is not None else None
        # A bias an fc or conv lacks (MatMul + Add), or the β of a learned scale (HGNetV2's affine block).
        lacks = layer is not None and (
            (layer.get("type") in ("fc", "conv") and layer.get("bias", True) is False)
            or (layer.get("type") == "scale" and not layer.get("center", False))
        )
        if record is None or layer is None or not lacks or self.readers[record.output] > 1 or not stored:
            raise node.refuse(
                "adds a constant tensor: convcalc models that only as the bias of the fc or conv just before it"
                " (MatMul + Add) or the offset of a learned scale, which this is not"
            )
        if layer["type"] == "scale":
            layer["center"] = True
        else:
            del layer["bias"]
        if layer.get("trainable") is False and not self._all_fixed(raw, stored):
            del layer["trainable"]  # a trained bias: the layer is trained (its fixed weights counted with it)
        record.stored.extend(stored)
        self.values[raw.output[0]] = source

    def _all_fixed(self, raw: Any, stored: list[tuple[str, int]]) -> bool:
        """Whether every stored tensor node ``raw`` reads holds fixed values, not trained ones: a buffer of the
        module (named in ``fixed``, or recorded by the dynamo exporter as the call's ``b_…`` or ``c_…`` input of
        that name). ONNX stores such a tensor as it stores weights (a blur pool's filter)."""
        recorded = _recorded_inputs(raw)

        def fixed(name: str) -> bool:
            lifted = name.replace(".", "_")
            return name in self.fixed or f"b_{lifted}" in recorded or f"c_{lifted}" in recorded

        return all(fixed(name) for name, _ in stored)

    # -- notes and reports

    def _describe(self, graph: Any) -> None:
        """What a default torch.onnx.export did to the model, as far as the graph shows it."""
        if self.model.producer_name == "pytorch":
            folded = sum(
                1
                for node in graph.node
                if node.op_type == "Conv"
                and (
                    node.output[0].startswith("getitem")
                    or (len(node.input) > 1 and node.input[1].startswith("onnx::Conv_"))
                )
            )
            if folded:
                self.notes.append(f"BatchNormalization folded into {folded} convs")
        if self.standardised:
            self.notes.append(f"weight standardisation in {self.standardised} convs read as plain weights")
        shared = Counter(name for record in self.emitted for name in {name for name, _ in record.stored})
        many = sum(1 for count in shared.values() if count > 1)
        if many:
            self.notes.append(f"{many} stored tensors shared by several layers (counted in each)")

    def report(self) -> list[Problem]:
        problems = capped(self.problems, most=MAX_PROBLEMS - 1 if self.unsupported else MAX_PROBLEMS)
        if self.unsupported:
            ops = ", ".join(sorted(set(REGISTRY.onnx_readers) - _INVENTED_OPS))
            problems.append(Problem((), f"convcalc imports these ONNX ops: {ops}"))
        return problems

    def translate(self, problem: Problem) -> Problem:
        path = problem.path
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int) and path[1] < len(self.origins):
            node = self.origins[path[1]].node
            return Problem(node.path, f"{node.label}: cannot be expressed in a spec: {problem.message}")
        return Problem((), f"the imported spec is invalid: {problem.message}")

    def confirm(self, facts: NetworkFacts) -> list[Problem]:
        """Every node's output shape against ONNX's shape inference, its parameters against the stored ones."""
        problems: list[Problem] = []
        for record in self.emitted:
            node = record.node
            computed = facts.layers[record.last].output_shape
            expected = _volume(node.output_shape, record.layout)
            if expected is not None and expected != computed:
                problems.append(
                    Problem(
                        node.path,
                        f"{node.label}: ONNX's shape inference gives {_show(node.output_shape)} = {expected}, but"
                        f" convcalc computes {computed}; the node uses semantics convcalc does not model, so the"
                        " import is refused rather than wrong",
                    )
                )
            layers = facts.layers[record.first : record.last + 1]
            counted = sum(f.params for f in layers)
            held = sum(size for _, size in record.stored)
            if held != counted:
                problems.append(
                    Problem(
                        node.path,
                        f"{node.label}: the file stores {held:,} parameters for it, convcalc counts {counted:,};"
                        " the import is refused rather than wrong",
                    )
                )
        return problems


def _recorded_call(raw: Any) -> str | None:
    """The arguments of the PyTorch call the dynamo exporter recorded for this node (``(%conv2d, 0.5), kwargs =
    {}``); None where nothing is recorded (other exporters, or a node made by fusing a pattern)."""
    for prop in getattr(raw, "metadata_props", ()):
        if prop.key == _FX_NODE:
            return str(prop.value).partition("args = ")[2]
    return None


def _recorded_arguments(raw: Any) -> tuple[str, ...] | None:
    """The positional arguments of the recorded call (``(%relu, None, None, %b_2_running_mean, …), kwargs = {}``),
    split at its top-level commas; None where nothing is recorded or the record is not of that form."""
    call = _recorded_call(raw)
    if call is None or not call.startswith("("):
        return None
    depth, start, arguments = 0, 1, []
    for position, char in enumerate(call):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                arguments.append(call[start:position].strip())
                return tuple(argument for argument in arguments if argument)
        elif char == "," and depth == 1:
            arguments.append(call[start:position].strip())
            start = position + 1
    return None


def _names_only_its_data(raw: Any, data_inputs: int) -> bool:
    """Whether the recorded call names as many tensors (``%…``) as the node has data inputs, and so none of its
    stored inputs: those are numbers or stand-ins the exporter wrote (see ``OnnxNode.written``). A number that
    torch.export made a tensor (``%scalar_tensor_default``, aten.scalar_tensor of a Python number: ``x / 2``) is
    such a number, not a tensor of the model."""
    call = _recorded_call(raw)
    if call is None or data_inputs == 0:
        return False
    return sum(not name.startswith("%scalar_tensor") for name in _REFERENCE.findall(call)) == data_inputs


def _computed_in_forward(raw: Any, node: OnnxNode, positions: tuple[int, ...]) -> str | None:
    """The first stored tensor at ``positions`` that the dynamo exporter's record names as a value computed in the
    module's forward (``%view_2``), not as a lifted parameter, buffer or constant (``%p_…``); else None. The
    optimiser folds a computation of parameters alone into one initializer of the result's size: timm's
    ``StdConv2d`` filters, or a ``weight_norm``'s g·v/‖v‖, which holds more numbers than the conv's weight; or
    of constants alone (``torch.tensor(0.5).sqrt()``, no parameter). (A layer scale reshaped from its parameter,
    PoolFormer's, is folded too, with the same numbers: only a conv's weight and a single value are judged.)"""
    call = _recorded_call(raw)
    if call is None:
        return None
    references = set(_REFERENCE.findall(call)) - {f"%{name}" for name in _LIFTED.findall(call)}
    for position in positions:
        item = node.inputs[position] if position < len(node.inputs) else None
        if isinstance(item, Constant):
            found = next((name for name in sorted(item.stored) if f"%{name}" in references), None)
            if found is not None:
                return found
    return None


def _recorded_inputs(raw: Any) -> frozenset[str]:
    """The lifted inputs (``p_…``, ``b_…``, ``c_…``) of the PyTorch call the dynamo exporter recorded for this
    node; none where nothing is recorded (other exporters, or a node made by fusing a pattern)."""
    call = _recorded_call(raw)
    return frozenset(_LIFTED.findall(call)) if call is not None else frozenset()


def _fused(graph: Any, shapes: dict[str, Dims] | None = None, folder: Path | None = None, opset: int = 0) -> list[Any]:
    """The graph's nodes with the exporters' spellings of one function fused into that function's node, at the position
    of the pattern's last node (the others become None): the TorchScript exporter's erf GELU, x·½·(1 + erf(x/√2)) as
    Div, Erf, Add, Mul, Mul, becomes Gelu; both exporters' tanh GELU below opset 20, x·½·(1 + tanh(√(2/π)(x +
    0.044715x³))), becomes Gelu with approximate tanh; the unoptimised dynamo exporter's torch.clamp(x, 0, m),
    Min(Max(x, 0), m), becomes Clip; PyTorch's SiLU, Sigmoid then Mul(x, σ(x)), becomes Swish; its LogSigmoid,
    Sigmoid then Log, becomes LogSigmoid (convcalc's name); its Softsign, Div(x, Add(Abs(x), 1)), becomes Softsign;
    its F.normalize(x, dim=1), Div(x, Expand(Clip(ReduceL2(x)))), becomes LpNormalization; the dynamo exporter's
    ``as_strided`` of a contiguous tensor, Reshape to one axis then Gather of 0, 1, …, n − 1 back to the tensor's
    own shape (ConvNeXt's head), becomes Identity; the TorchScript exporter's circular padding, Concats of Slices,
    becomes Pad of mode wrap (:func:`_circular_concat`); SKNet's and ResNeSt's attention becomes SplitAttention
    (convcalc's name, :func:`_split_attention`). Only where each inner result feeds the next step alone and the
    constants are the function's."""
    from onnx import helper

    nodes: list[Any] = list(graph.node)
    consumers: Counter[str] = Counter(name for node in nodes for name in _value_inputs(node) if name)
    consumers.update(value.name for value in graph.output)
    made = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    constants = _constant_values(graph)
    initializers = {tensor.name for tensor in graph.initializer}

    def single(tensor: str, op_type: str) -> int | None:
        index = made.get(tensor)
        if index is None or nodes[index] is None or nodes[index].op_type != op_type or consumers[tensor] != 1:
            return None
        return index

    def near(tensor: str, value: float) -> bool:
        values = constants.get(tensor)
        return values is not None and len(values) == 1 and abs(values[0] - value) <= 1e-6 * max(1.0, abs(value))

    for index, node in enumerate(nodes):
        if node is None or node.op_type != "Mul" or len(node.input) != 2:
            continue
        for position in (0, 1):
            tensor, partner = node.input[position], node.input[1 - position]
            sigmoid = single(tensor, "Sigmoid")
            if sigmoid is not None and nodes[sigmoid].input[0] == partner:
                nodes[sigmoid] = None
                nodes[index] = _recorded_as(
                    node, helper.make_node("Swish", [partner], list(node.output), name=node.name)
                )
                break
            product = single(tensor, "Mul") if near(partner, 0.5) else None
            chain = _erf_chain(nodes, product, single, near)
            if product is not None and chain is not None:
                source, inner = chain
                for step in inner:
                    nodes[step] = None
                nodes[index] = _recorded_as(node, helper.make_node("Gelu", [source], list(node.output), name=node.name))
                break
    read_by = {
        name: index for index, node in enumerate(nodes) if node is not None for name in _value_inputs(node) if name
    }

    def reader(tensor: str, op_type: str) -> int | None:
        index = read_by.get(tensor)
        if index is None or nodes[index] is None or nodes[index].op_type != op_type or consumers[tensor] != 1:
            return None
        return index

    written = _written_numbers(nodes, made, initializers)
    for index, node in enumerate(nodes):
        # Clip's bounds are inputs from opset 11 (attributes before, read as such)
        clamp = _safely(_clamp_bounds, nodes, index, single, near, constants, written) if opset >= 11 else None
        if clamp is not None:
            maximum, clip_inputs = clamp
            nodes[maximum] = None
            nodes[index] = _recorded_as(node, helper.make_node("Clip", clip_inputs, list(node.output), name=node.name))
    for index, node in enumerate(nodes):
        if node is None or node.op_type != "Tanh":
            continue
        tanh_gelu = _safely(_gelu_tanh_chain, nodes, index, single, near, reader)
        if tanh_gelu is not None:
            source, inner, last = tanh_gelu
            for step in inner:
                nodes[step] = None
            outputs, name = list(nodes[last].output), nodes[last].name
            nodes[last] = _recorded_as(
                nodes[last], helper.make_node("Gelu", [source], outputs, name=name, approximate="tanh")
            )
    for index, node in enumerate(nodes):
        if node is None or len(node.input) < 1:
            continue
        if node.op_type == "Log" and (sigmoid := single(node.input[0], "Sigmoid")) is not None:
            source = nodes[sigmoid].input[0]
            nodes[sigmoid] = None
            log_sigmoid = helper.make_node(LOG_SIGMOID, [source], list(node.output), name=node.name)
            nodes[index] = _recorded_as(node, log_sigmoid)
        elif node.op_type == "Div" and len(node.input) == 2:
            absolute = _softsign_steps(nodes, node, single, near)
            normalised = None if absolute else _safely(_l2_normalize_steps, nodes, index, single, constants)
            if absolute is not None:
                for step in absolute:
                    nodes[step] = None
                softsign = helper.make_node("Softsign", [node.input[0]], list(node.output), name=node.name)
                nodes[index] = _recorded_as(node, softsign)
            elif normalised is not None:
                for step in normalised:
                    nodes[step] = None
                lp = helper.make_node(
                    "LpNormalization", [node.input[0]], list(node.output), name=node.name, axis=1, p=2
                )
                nodes[index] = _recorded_as(node, lp)
    for index, node in enumerate(nodes):
        kept = _restrided(nodes, index, single, graph, shapes or {}, folder) if node is not None else None
        if kept is not None:
            nodes[index] = _recorded_as(node, helper.make_node("Identity", [kept], list(node.output), name=node.name))
    for index, node in enumerate(nodes):
        pooled = _padded_max_pool(nodes, index, single, constants) if node is not None else None
        if pooled is not None:
            nodes[index] = pooled
        softplus = _thresholded_softplus(nodes, index, made, single, near) if node is not None else None
        if softplus is not None:
            source, inner = softplus
            for step in inner:
                nodes[step] = None
            nodes[index] = _recorded_as(node, helper.make_node("Softplus", [source], list(node.output), name=node.name))
    for index, node in enumerate(nodes):
        standardised = _safely(_standardised_weight, nodes, index, made, consumers, constants, initializers)
        if standardised is not None:
            # The weight itself, as the conv's: its statistics (and, in a TorchScript export, the copy of the
            # weight they are computed from) are left unread. A learned gain becomes the conv's fourth input.
            weight, conv, gain = standardised
            identity = helper.make_node("Identity", [weight], [node.output[0]], name=node.name)
            identity.doc_string = STANDARDISED_WEIGHT
            nodes[index] = _recorded_as(node, identity)
            if gain is not None:
                old = nodes[conv]
                inputs = [*old.input[:3], *[""] * (3 - len(old.input)), gain]
                attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in old.attribute}
                attributes[GAIN_INPUT] = 1
                nodes[conv] = _recorded_as(
                    old, helper.make_node("Conv", inputs, list(old.output), old.name, **attributes)
                )
    for index in range(len(nodes)):
        response = _safely(_global_response_norm, nodes, index, made, constants, initializers)
        if response is not None:
            last, fused, steps = response
            for step in steps:
                nodes[step] = None
            nodes[last] = _recorded_as(nodes[last], helper.make_node(**fused))
    wraps: dict[str, tuple[int, int, list[int]]] = {}
    for index in range(len(nodes)):
        _rewrite(nodes, _safely(_circular_concat, nodes, index, made, consumers, constants, shapes or {}, wraps, opset))
    if shapes and any(node is not None and node.op_type in ("ReduceSum", "MatMul") for node in nodes):
        readers_of: dict[str, list[int]] = {}
        for index, node in enumerate(nodes):
            for name in node.input if node is not None else ():
                readers_of.setdefault(name, []).append(index)
        for value in graph.output:
            readers_of.setdefault(value.name, []).append(-1)  # read by the model's user
        for index in range(len(nodes)):
            # Before opset 13 a Softmax flattens every axis from its own on: never a softmax over the branches alone.
            if opset >= 13:
                _rewrite(nodes, _safely(_split_attention, nodes, index, made, readers_of, constants, shapes))
            _rewrite(nodes, _safely(_attention_pool, nodes, index, made, readers_of, constants, shapes))
    for index, node in enumerate(nodes):
        found = _group_norm_chain(nodes, index, single, constants) if node is not None else None
        if found is not None:
            source, gamma, beta, groups, inner = found
            for step in inner:
                nodes[step] = None
            fused = helper.make_node(
                "GroupNormalization", [source, gamma, beta], list(node.output), name=node.name, num_groups=groups
            )
            nodes[index] = _recorded_as(node, fused)
    return nodes


def _rewrite(nodes: list[Any], rewrite: dict[int, Any] | None) -> None:
    """A matcher's answer applied: each position's new node (recorded as the node it replaces), or None to drop it."""
    for position, replacement in (rewrite or {}).items():
        nodes[position] = None if replacement is None else _recorded_as(nodes[position], replacement)


def _slice_of(node: Any, source: str, axis: int, constants: dict[str, tuple[float, ...]]) -> tuple[float, float] | None:
    """A Slice of ``source`` along ``axis`` alone, step 1, by numbers written into the graph: (start, end)."""
    if node.op_type != "Slice" or len(node.input) < 4 or node.input[0] != source:
        return None
    starts, ends, axes = (constants.get(name) for name in node.input[1:4])
    steps = constants.get(node.input[4]) if len(node.input) > 4 and node.input[4] else (1.0,)
    if starts is None or ends is None or axes is None or len(starts) != 1 or len(ends) != 1 or steps != (1.0,):
        return None
    return (starts[0], ends[0]) if axes in ((axis,), (axis - 4,)) else None


def _circular_concat(
    nodes: list[Any],
    index: int,
    made: dict[str, int],
    consumers: Counter[str],
    constants: dict[str, tuple[float, ...]],
    shapes: dict[str, Dims],
    wraps: dict[str, tuple[int, int, list[int]]],
    opset: int,
) -> dict[int, Any] | None:
    """PyTorch's circular padding of one axis as its TorchScript exporter writes it, a Concat along H or W of the
    last t rows (or columns) of x, x, and its first b (Slices of x read by the Concat alone, one on each side at
    most; a side of 0 left out), as a Pad of mode wrap (the nodes to put in place, None: to drop); a Pad of both
    axes where x is the other axis's wrap, which nothing else reads. ``wraps``: the wraps made so far, by output:
    (Pad, its pads' Constant, pads), which also give x's size where shape inference does not (opset 10)."""
    from onnx import helper

    node = nodes[index]
    if node.op_type != "Concat" or not 2 <= len(node.input) <= 3:
        return None
    shape = shapes.get(node.input[0])
    axis = _attributes(node).get("axis", 0) % 4 if shape is not None and len(shape) == 4 else None
    if axis not in (2, 3):
        return None
    inputs = list(node.input)
    # x: the input the others slice (itself perhaps a Slice's output, a part of the channels)
    x = next(
        (
            t
            for t in inputs
            if all(_made_by(nodes, made, o) == "Slice" and nodes[made[o]].input[0] == t for o in inputs if o != t)
        ),
        None,
    )
    if x is None or inputs.count(x) != 1 or (len(inputs) == 3 and inputs[1] != x):  # one Slice on each side at most
        return None
    size = int((shapes.get(x) or (0, 0, 0, 0))[axis] or 0)
    if not size and x in wraps:
        pad, _, earlier_pads = wraps[x]
        size = int((shapes.get(nodes[pad].input[0]) or (0, 0, 0, 0))[axis] or 0)
        size = size and size + earlier_pads[axis] + earlier_pads[axis + 4]
    before = after = 0
    position = inputs.index(x)
    slices = [made[tensor] for tensor in inputs if tensor != x]
    for offset, tensor in enumerate(inputs):
        if tensor == x:
            continue
        bounds = _slice_of(nodes[made[tensor]], x, axis, constants) if consumers[tensor] == 1 else None
        if bounds is None:
            return None
        start, end = bounds
        if offset < position and -size <= start < 0 and end >= size:  # the last rows (ends are clamped)
            before = int(-start)
        elif offset > position and start == 0 and 0 < end <= size:
            after = int(end)
        else:
            return None
    pads = [0] * 8
    pads[axis], pads[axis + 4] = before, after
    rewrite: dict[int, Any] = dict.fromkeys(slices)
    constant, source = slices[0], x
    earlier = wraps.get(x)
    if earlier is not None and consumers[x] == len(node.input):  # read by this Concat and its Slices alone
        pad, its_constant, earlier_pads = earlier
        if not earlier_pads[axis] and not earlier_pads[axis + 4]:  # the other axis: one Pad of both
            pads = [a + b for a, b in zip(pads, earlier_pads, strict=True)]
            source, constant = nodes[pad].input[0], its_constant
            rewrite[pad] = None
    if opset < 11:  # Pad's pads are an attribute there (Slice's bounds are inputs from opset 10)
        rewrite[index] = helper.make_node("Pad", [source], list(node.output), name=node.name, mode="wrap", pads=pads)
    else:
        name = f"{node.output[0]}/pads"
        rewrite[constant] = helper.make_node("Constant", [], [name], value=helper.make_tensor(name, 7, [8], pads))
        rewrite[index] = helper.make_node("Pad", [source, name], list(node.output), name=node.name, mode="wrap")
    wraps[node.output[0]] = (index, constant, pads)
    return rewrite


def _attention_pool(
    nodes: list[Any],
    index: int,
    made: dict[str, int],
    readers_of: dict[str, list[int]],
    constants: dict[str, tuple[float, ...]],
    shapes: dict[str, Dims],
) -> dict[int, Any] | None:
    """timm's ``GlobalContext`` (GCNet) attention pooling ending at the Reshape at ``index``, as both PyTorch
    exporters write it: the nodes to put in place (None: to drop), else None.

    Reshape(MatMul(Unsqueeze(Reshape(x, (N, C, H·W)), 1), Unsqueeze(Softmax(Reshape(s, (N, 1, H·W)), last), 3)),
    (N, C, 1, 1)), x (N, C, H, W), s (N, 1, H, W) its scores: each step read by the next alone. The Reshape
    becomes the fused op on x and s."""
    from onnx import helper

    node = nodes[index]
    if node.op_type != "Reshape" or tuple((shapes.get(node.output[0]) or ())[2:]) != (1, 1):
        return None

    step = functools.partial(_step_read_by, nodes, made, readers_of)
    product = step(node.input[0], "MatMul", index)
    if product is None or len(nodes[product].input) != 2:
        return None
    values, weights = (step(name, "Unsqueeze", product) for name in nodes[product].input)
    if values is None or weights is None:
        return None
    if _axes_of(nodes[values], constants) != (1,) or _axes_of(nodes[weights], constants) not in ((3,), (-1,)):
        return None
    flat_x, softmax_out = nodes[values].input[0], nodes[weights].input[0]
    reshape_x, softmax = step(flat_x, "Reshape", values), step(softmax_out, "Softmax", weights)
    if reshape_x is None or softmax is None or _attributes(nodes[softmax]).get("axis", -1) not in (-1, 2):
        return None
    flat_s = nodes[softmax].input[0]
    reshape_s = step(flat_s, "Reshape", softmax)
    if reshape_s is None:
        return None
    x, s = nodes[reshape_x].input[0], nodes[reshape_s].input[0]
    x_shape, s_shape = shapes.get(x), shapes.get(s)
    if x_shape is None or s_shape is None or len(x_shape) != 4 or len(s_shape) != 4 or None in x_shape[1:]:
        return None
    _, depth, height, width = (int(size or 0) for size in x_shape)
    positions = height * width
    wanted = {
        flat_x: (depth, positions),
        flat_s: (1, positions),
        node.input[0]: (1, depth, 1),
        node.output[0]: (depth, 1, 1),
    }
    if tuple(s_shape[1:]) != (1, height, width) or any(
        tuple((shapes.get(tensor) or ())[1:]) != dims for tensor, dims in wanted.items()
    ):
        return None
    rewrite: dict[int, Any] = dict.fromkeys([product, values, weights, reshape_x, softmax, reshape_s])
    rewrite[index] = helper.make_node(ATTENTION_POOL_OP, [x, s], list(node.output), name=node.name)
    return rewrite


def _sums_over_radix(node: Any, constants: dict[str, tuple[float, ...]]) -> bool:
    """Whether ``node`` sums a stack of branches (N, r, C, H, W) over the branches: ReduceSum of axis 1, not kept."""
    return (
        node.op_type == "ReduceSum"
        and _attributes(node).get("keepdims", 1) == 0
        and _axes_of(node, constants) in ((1,), (-4,))
    )


def _split_attention(
    nodes: list[Any],
    index: int,
    made: dict[str, int],
    readers_of: dict[str, list[int]],
    constants: dict[str, tuple[float, ...]],
    shapes: dict[str, Dims],
) -> dict[int, Any] | None:
    """timm's ``SelectiveKernel`` (SKNet) or ``SplitAttn`` (ResNeSt) ending at the ReduceSum at ``index``, as both
    PyTorch exporters write them: the nodes to put in place (None: to drop), else None.

    out = ReduceSum(Mul(stacked, attention), axis 1): ``stacked`` (N, r, C, H, W) is a Concat on axis 1 of r
    Unsqueezes on axis 1 (``torch.stack`` of SKNet's branches) or a Reshape of one (N, r·C, H, W) tensor
    (ResNeSt's conv); ``attention`` (N, r, C, 1, 1) is a Softmax on axis 1, through Reshapes that keep the order,
    of the logits (N, r·C, 1, 1) reshaped to (N, r, C, 1, 1) (groups 1), or reshaped to (N, g, r, C/g) and
    transposed (0, 2, 1, 3) (ResNeSt's rSoftMax, groups g). The stack's other readers are its sums over axis 1
    (what the attention pools), and nothing else reads the steps (not the graph's output either). Only from opset
    13: before it a Softmax normalises over all the axes from its own on. The ReduceSum becomes the fused op on the
    features (N, r·C, H, W) and the logits; the stack becomes the Concat of the branches on axis 1 (or nothing, for
    a Reshape); each sum of the stack a Sum of the branches (or of a Split's equal parts of the reshaped tensor)."""
    from onnx import helper

    node = nodes[index]
    if not _sums_over_radix(node, constants):
        return None
    product = _step_read_by(nodes, made, readers_of, node.input[0], "Mul", index)
    if product is None or len(nodes[product].input) != 2:
        return None
    for position in (0, 1):
        stacked, attention = nodes[product].input[position], nodes[product].input[1 - position]
        stack_shape, attention_shape = shapes.get(stacked), shapes.get(attention)
        if stack_shape is None or attention_shape is None or len(stack_shape) != 5 or None in stack_shape[1:]:
            continue
        _, radix, channels, height, width = (int(size or 0) for size in stack_shape)
        if tuple(attention_shape[1:]) != (radix, channels, 1, 1):
            continue
        weights = _radix_softmax(nodes, made, readers_of, attention, radix, channels, shapes)
        if weights is None:
            continue
        logits, groups, steps = weights
        rewrite: dict[int, Any] = dict.fromkeys([product, *steps])
        sums = [k for k in readers_of.get(stacked, []) if k != product]
        if not all(k >= 0 and nodes[k] is not None and _sums_over_radix(nodes[k], constants) for k in sums):
            return None
        maker = made.get(stacked)
        if maker is None or nodes[maker] is None:
            return None
        source = nodes[maker]
        part_shape: Dims = (stack_shape[0], channels, height, width)
        if source.op_type == "Concat" and _attributes(source).get("axis") in (1, -4) and len(source.input) == radix:
            branches = []
            for tensor in source.input:
                unsqueeze = _step_read_by(nodes, made, readers_of, tensor, "Unsqueeze", maker)
                if unsqueeze is None or _axes_of(nodes[unsqueeze], constants) != (1,):
                    return None
                rewrite[unsqueeze] = None
                branches.append(nodes[unsqueeze].input[0])
            features = stacked
            shapes[features] = (stack_shape[0], radix * channels, height, width)
            rewrite[maker] = helper.make_node("Concat", branches, [features], name=source.name, axis=1)
        elif source.op_type == "Reshape" and tuple(shapes.get(source.input[0]) or ())[1:] == (
            radix * channels,
            height,
            width,
        ):
            features = source.input[0]
            branches = [f"{stacked}/radix{k}" for k in range(radix)]
            shapes.update(dict.fromkeys(branches, part_shape))
            split = helper.make_node("Split", [features], branches, name=source.name, axis=1)
            rewrite[maker] = split if sums else None
        else:
            return None
        for k in sums:
            rewrite[k] = helper.make_node("Sum", branches, list(nodes[k].output), name=nodes[k].name)
        rewrite[index] = helper.make_node(
            SPLIT_ATTENTION_OP, [features, logits], list(node.output), name=node.name, radix=radix, groups=groups
        )
        return rewrite
    return None


def _radix_softmax(
    nodes: list[Any],
    made: dict[str, int],
    readers_of: dict[str, list[int]],
    attention: str,
    radix: int,
    channels: int,
    shapes: dict[str, Dims],
) -> tuple[str, int, list[int]] | None:
    """The logits, the groups of their layout and the nodes between them and ``attention`` (see
    :func:`_split_attention`), each read by the next alone; None for anything else."""
    steps: list[int] = []
    tensor = attention
    while True:
        step = made.get(tensor)
        if step is None or nodes[step] is None or len(readers_of.get(tensor, [])) != 1:
            return None
        steps.append(step)
        if nodes[step].op_type != "Reshape":
            break
        tensor = nodes[step].input[0]
    softmax = nodes[steps[-1]]
    if softmax.op_type != "Softmax" or len(steps) > 4:
        return None
    before = softmax.input[0]
    rank = len(shapes.get(before) or ())
    axis = _attributes(softmax).get("axis", -1)  # opset 13's default (the fusion needs 13 or later)
    if rank == 0 or axis % rank != 1 or len(readers_of.get(before, [])) != 1:
        return None
    maker = made.get(before)
    if maker is None or nodes[maker] is None:
        return None
    groups = 1
    if nodes[maker].op_type == "Transpose":
        if tuple(_attributes(nodes[maker]).get("perm", ())) != (0, 2, 1, 3):
            return None
        steps.append(maker)
        before = nodes[maker].input[0]
        maker = made.get(before)
        grouped = shapes.get(before)
        if maker is None or nodes[maker] is None or grouped is None or len(grouped) != 4 or None in grouped[1:]:
            return None
        groups = int(grouped[1] or 0)
        if grouped[2] != radix or groups * int(grouped[3] or 0) != channels or len(readers_of.get(before, [])) != 1:
            return None
    elif tuple(shapes.get(before) or ())[1:] != (radix, channels, 1, 1):
        return None
    if nodes[maker].op_type != "Reshape":
        return None
    steps.append(maker)
    logits = nodes[maker].input[0]
    logits_shape = shapes.get(logits)
    if (
        logits_shape is None
        or None in logits_shape[1:]
        or math.prod(int(d or 0) for d in logits_shape[1:]) != radix * channels
    ):
        return None
    if len(logits_shape) not in (2, 4) or any(d != 1 for d in logits_shape[2:]):
        return None
    return logits, groups, steps


def _softsign_steps(
    nodes: list[Any], node: Any, single: Callable[[str, str], int | None], near: Callable[[str, float], bool]
) -> tuple[int, int] | None:
    """The Add and Abs of a Div(x, Add(Abs(x), 1)) (PyTorch's Softsign as its exporters write it), or None."""
    add = single(node.input[1], "Add")
    if add is None or len(nodes[add].input) != 2:
        return None
    for position in (0, 1):
        absolute = single(nodes[add].input[position], "Abs")
        if absolute is not None and near(nodes[add].input[1 - position], 1.0):
            return (add, absolute) if nodes[absolute].input[0] == node.input[0] else None
    return None


def _l2_normalize_steps(
    nodes: list[Any],
    index: int,
    single: Callable[[str, str], int | None],
    constants: dict[str, tuple[float, ...]],
) -> list[int] | None:
    """The ReduceL2, Clip and (where there) Expand of a Div(x, Expand(Clip(ReduceL2(x, axes [1], keepdims), ε)))
    with a small ε: PyTorch's F.normalize(x, dim=1) as both its exporters write it, or None."""
    node = nodes[index]
    if len(node.input) != 2:
        return None
    steps, divisor = [], node.input[1]
    expand = single(divisor, "Expand")
    if expand is not None:
        steps.append(expand)
        divisor = nodes[expand].input[0]
    clip = single(divisor, "Clip")
    if clip is None:
        return None
    floor = constants.get(nodes[clip].input[1]) if len(nodes[clip].input) > 1 else None
    if floor is None or len(floor) != 1 or not 0 < floor[0] <= 1e-6 or any(nodes[clip].input[2:]):
        return None
    reduce = single(nodes[clip].input[0], "ReduceL2")
    if reduce is None or nodes[reduce].input[0] != node.input[0]:
        return None
    attributes = {a.name: a for a in nodes[reduce].attribute}
    keepdims = attributes["keepdims"].i if "keepdims" in attributes else 1
    axes = tuple(attributes["axes"].ints) if "axes" in attributes else None
    if axes is None and len(nodes[reduce].input) > 1:
        axes = tuple(int(value) for value in constants.get(nodes[reduce].input[1], ()))
    if keepdims != 1 or axes != (1,):
        return None
    return [*steps, clip, reduce]


_T = TypeVar("_T")


def _safely(matcher: Callable[..., _T | None], nodes: list[Any], index: int, *args: Any) -> _T | None:
    """A pattern ``matcher``'s answer at ``index``; None for a node fused away, or where the graph is malformed
    in a way the matcher did not foresee (a node without the outputs or inputs its op has): the per-node readers
    then refuse what they cannot read, by name."""
    if nodes[index] is None:
        return None
    try:
        return matcher(nodes, index, *args)
    except UNFORESEEN:
        return None


STANDARDISED_WEIGHT = "convcalc: a conv's weight standardisation, read as the weight"
"""The doc string of the Identity that stands for a weight standardisation (see :func:`_standardised_weight`)."""


def _standardised_weight(
    nodes: list[Any],
    index: int,
    made: dict[str, int],
    consumers: Counter[str],
    constants: dict[str, tuple[float, ...]],
    initializers: set[str],
) -> tuple[str, int, str | None] | None:
    """A weight standardisation at ``index``: the stored weight it reads, the Conv that reads the result, and
    the stored gain it scales each filter by (None: no gain); else None.

    timm's ``StdConv2d`` (BiT's ResNetV2) and ``StdConv2dSame`` standardise each filter before the conv:
    ``batch_norm(W.reshape(1, K, -1), training=True)`` with no affine, reshaped back to W's shape.
    ``ScaledStdConv2d`` (the NFNets) gives that batch_norm a weight, a learned gain per filter times a number.
    Both PyTorch exporters write a BatchNormalization of the reshaped weight whose mean and variance ReduceMean
    computes (batch statistics, not stored running ones), with a bias of zeros and a scale of ones or the gain,
    its output reshaped into a Conv's weight. The conv holds W's parameters and computes what a conv computes
    with standardised filters: its shape, parameters and MACs are a conv's; a gain g is K more, x ↦ g·conv(x)
    per filter (a conv and a ``scale``)."""
    node = nodes[index]
    if node.op_type != "BatchNormalization" or len(node.input) != 5:
        return None
    data, scale, bias, mean, variance = node.input
    if any(_made_by(nodes, made, name) != "ReduceMean" for name in (mean, variance)):
        return None
    if not all(_from_stored_only(nodes, made, name, initializers) for name in (mean, variance)):
        return None  # statistics of the data: a batch normalisation in training mode, not a weight's
    if not _filled_with(nodes, made, constants, bias, 0.0):
        return None
    ones = scale not in initializers and _filled_with(nodes, made, constants, scale, 1.0)  # stored: a gain
    gain = None if ones else _stored_source(nodes, made, constants, scale)
    if _stored_source(nodes, made, {}, data) not in initializers or gain not in (None, *initializers):
        return None
    if any(name and consumers[name] for name in node.output[1:]):  # the running statistics, if read
        return None
    tensor, conv, step = node.output[0], None, index
    while conv is None:  # through the Reshape back to W's shape, to the Conv that reads it (and what reads its shape)
        readers = _data_readers(nodes, tensor)
        if len(readers) != 1 or readers[0] <= step or nodes[readers[0]].op_type not in ("Reshape", "Conv"):
            return None  # (a reader before its producer: a graph out of order, or a cycle)
        step = readers[0]
        if nodes[readers[0]].op_type == "Reshape":
            tensor = nodes[readers[0]].output[0]
        else:
            conv = readers[0]
    if list(nodes[conv].input).index(tensor) != 1 or list(nodes[conv].input).count(tensor) != 1:
        return None
    return data, conv, gain


def _stored_source(nodes: list[Any], made: dict[str, int], constants: dict[str, tuple[float, ...]], tensor: str) -> str:
    """The tensor ``tensor`` is reshaped from, or multiplied from by a number (in ``constants``): a gain's
    initializer, times a constant, reshaped."""
    for _ in range(len(nodes)):  # a graph with a cycle would go round it for ever
        node = nodes[made[tensor]] if _made_by(nodes, made, tensor) is not None else None
        if node is None:
            return tensor
        numbers = [len(constants.get(name, ())) == 1 for name in node.input]
        if node.op_type in ("Reshape", "Identity") or (node.op_type == "Div" and numbers == [False, True]):
            tensor = node.input[0]
        elif node.op_type == "Mul" and sorted(numbers) == [False, True]:
            tensor = node.input[numbers.index(False)]
        else:
            return tensor
    return tensor


def _from_stored_only(nodes: list[Any], made: dict[str, int], tensor: str, initializers: set[str]) -> bool:
    """Whether ``tensor`` is computed from initializers and constants alone, not from the graph's input."""
    wanted, seen = [tensor], set()
    while wanted:
        name = wanted.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        index = made.get(name)
        if index is None:
            if name not in initializers:
                return False  # the graph's input
        elif nodes[index] is not None:
            wanted.extend(nodes[index].input)
    return True


def _global_response_norm(
    nodes: list[Any],
    index: int,
    made: dict[str, int],
    constants: dict[str, tuple[float, ...]],
    initializers: set[str],
) -> tuple[int, dict[str, Any], list[int]] | None:
    """timm's ``GlobalResponseNorm`` (ConvNeXt-V2) starting at the ReduceL2 at ``index``: the index of its last
    node, the fused node's arguments and the indices of the steps before it (to drop), else None.

    x + β + γ·(x·N(x)), N(x) = G / (mean over the channels of G + ε), G = ReduceL2(x) over H and W (kept): on NCHW
    (axes 2, 3; the mean over axis 1) or channels last (axes 1, 2; the mean over the last). PyTorch's exporters
    write it as ReduceL2, ReduceMean, Add ε, Div, Mul by x, Mul by γ (reshaped, times a 1 the dynamo exporter
    writes), Add β (torch.addcmul), Add x, each step read by the next alone; γ and β stored."""
    node = nodes[index]
    if node.op_type != "ReduceL2" or _attributes(node).get("keepdims", 1) != 1 or not node.input:
        return None
    x = node.input[0]
    axes = _axes_of(node, constants)
    if axes not in ((2, 3), (-2, -1), (1, 2), (-3, -2)):
        return None
    channels_last = axes in ((1, 2), (-3, -2))
    steps = {"norms": index}
    norms = node.output[0]
    readers = _data_readers(nodes, norms)
    mean = next((k for k in readers if nodes[k].op_type == "ReduceMean"), None)
    divided = next((k for k in readers if nodes[k].op_type == "Div"), None)
    if len(readers) != 2 or mean is None or divided is None or list(nodes[divided].input[:1]) != [norms]:
        return None
    wanted = ((-1,), (3,)) if channels_last else ((1,), (-3,))
    if _axes_of(nodes[mean], constants) not in wanted or _attributes(nodes[mean]).get("keepdims", 1) != 1:
        return None
    steps.update(mean=mean, divided=divided)
    plus = _only_reader(nodes, nodes[mean].output[0], "Add")
    epsilon = constants.get(_other_input(nodes[plus], nodes[mean].output[0]) or "") if plus is not None else None
    if plus is None or epsilon is None or len(epsilon) != 1 or nodes[divided].input[1] != nodes[plus].output[0]:
        return None
    steps["plus"] = plus
    product = _only_reader(nodes, nodes[divided].output[0], "Mul")
    if product is None or _other_input(nodes[product], nodes[divided].output[0]) != x:
        return None
    steps["product"] = product
    parameters, inner = [], []
    tensor = nodes[product].output[0]
    for name, op in (("scaled", "Mul"), ("shifted", "Add")):
        step = _only_reader(nodes, tensor, op)
        other = _other_input(nodes[step], tensor) if step is not None else None
        stored = _stored_source(nodes, made, constants, other) if other is not None else None
        if step is None or stored not in initializers:
            return None
        steps[name], tensor = step, nodes[step].output[0]
        parameters.append(stored)
        while (one := _only_reader(nodes, tensor, "Mul")) is not None:  # TorchScript's addcmul: γ·t·1
            if constants.get(_other_input(nodes[one], tensor) or "") != (1.0,) or one in inner:
                break
            inner.append(one)
            tensor = nodes[one].output[0]
    last = _only_reader(nodes, tensor, "Add")
    if last is None or _other_input(nodes[last], tensor) != x:
        return None
    gamma, beta = parameters
    fused = {
        "op_type": GRN_FUSED_OP,
        "inputs": [x, gamma, beta],
        "outputs": list(nodes[last].output),
        "name": nodes[last].name,
        "epsilon": float(epsilon[0]),
        "channels_last": int(channels_last),
    }
    return last, fused, [*steps.values(), *inner]


def _axes_of(node: Any, constants: dict[str, tuple[float, ...]]) -> tuple[int, ...] | None:
    """The axes a Reduce, Unsqueeze or Squeeze node names: its attribute (in older opsets) or its second input,
    when known."""
    listed = _attributes(node).get("axes")
    if listed is None and len(node.input) > 1:
        listed = constants.get(node.input[1])
    return None if listed is None else tuple(int(axis) for axis in listed)


def _data_readers(nodes: list[Any], tensor: str) -> list[int]:
    """The nodes that read ``tensor``'s values (not only its shape)."""
    return [k for k, n in enumerate(nodes) if n is not None and tensor in n.input and n.op_type not in _STATIC_OF_DATA]


def _only_reader(nodes: list[Any], tensor: str, op_type: str) -> int | None:
    """The one node that reads ``tensor``, if it is an ``op_type`` of two inputs; else None."""
    readers = _data_readers(nodes, tensor)
    if len(readers) != 1 or nodes[readers[0]].op_type != op_type or len(nodes[readers[0]].input) != 2:
        return None
    return readers[0]


def _other_input(node: Any, tensor: str) -> str | None:
    """The input of a two-input node that is not ``tensor`` (None where ``tensor`` is not one, or is both)."""
    inputs = list(node.input)
    return inputs[1 - inputs.index(tensor)] if len(inputs) == 2 and inputs.count(tensor) == 1 else None


def _made_by(nodes: list[Any], made: dict[str, int], tensor: str) -> str | None:
    """The op type of the (live) node that makes ``tensor``; None for an initializer or an input."""
    index = made.get(tensor)
    return None if index is None or nodes[index] is None else str(nodes[index].op_type)


def _step_read_by(
    nodes: list[Any], made: dict[str, int], readers_of: dict[str, list[int]], tensor: str, op_type: str, by: int
) -> int | None:
    """The (live) node that makes ``tensor``, where it is an ``op_type`` whose output node ``by`` alone reads (a
    step of a fused pattern); else None."""
    return made[tensor] if _made_by(nodes, made, tensor) == op_type and readers_of.get(tensor) == [by] else None


def _filled_with(
    nodes: list[Any], made: dict[str, int], constants: dict[str, tuple[float, ...]], tensor: str, value: float
) -> bool:
    """Whether ``tensor`` holds ``value`` everywhere: a constant of it, or an Expand of one (to a shape the
    graph computes at run time, the dynamo exporter's ones and zeros)."""
    values = constants.get(tensor)
    if values is None and _made_by(nodes, made, tensor) == "Expand":
        values = constants.get(nodes[made[tensor]].input[0])
    return bool(values) and all(abs(v - value) <= 1e-6 for v in values or ())


SOFTPLUS_THRESHOLD = 20.0
"""PyTorch's Softplus threshold: above it, x itself (log(1 + eˣ) − x < 2·10⁻⁹ there, below float32's step)."""


def _thresholded_softplus(
    nodes: list[Any], where: int, made: dict[str, int], single: Any, near: Any
) -> tuple[str, list[int]] | None:
    """PyTorch's Softplus (β = 1, threshold 20) as the dynamo exporter writes it, ending in ``where``:
    Where(Greater(x, 20), x, Softplus(x)), unoptimised with x·1 before and ÷1 after the Softplus. x and the nodes
    to drop, else None."""
    node = nodes[where]
    if node.op_type != "Where" or len(node.input) != 3:
        return None
    condition, source, softened = node.input
    greater = single(condition, "Greater")
    if greater is None or not near(nodes[greater].input[1], SOFTPLUS_THRESHOLD):
        return None
    inner, tensor = [greater], softened
    divided = single(tensor, "Div")
    if divided is not None and near(nodes[divided].input[1], 1.0):
        inner.append(divided)
        tensor = nodes[divided].input[0]
    softplus = single(tensor, "Softplus")
    if softplus is None:
        return None
    inner.append(softplus)
    scaled, compared = nodes[softplus].input[0], nodes[greater].input[0]
    if scaled != compared:
        return None
    if scaled != source:  # unoptimised: x·β with β = 1, which the Greater reads too
        times = made.get(scaled)
        if times is None or nodes[times] is None or nodes[times].op_type != "Mul" or nodes[times].input[0] != source:
            return None
        if not near(nodes[times].input[1], 1.0):
            return None
    return source, inner


FUSED = "convcalc: a pattern fused into one node"
"""The doc string of a node the import made of a pattern (unless it has its own, :data:`STANDARDISED_WEIGHT`): the
one way to an op that exists only as convcalc's name for a pattern (:data:`_INVENTED_OPS`)."""
_INVENTED_OPS = frozenset({LOG_SIGMOID, GRN_FUSED_OP, SPLIT_ATTENTION_OP, ATTENTION_POOL_OP})
"""Names convcalc gives patterns of real ops it fuses: no ONNX op has them, so a file's own node of that name is
refused like any op convcalc cannot model."""


def _recorded_as(last: Any, fused: Any) -> Any:
    """``fused`` with the metadata of the pattern's ``last`` node, which it replaces: the dynamo exporter records
    the one PyTorch call a pattern decomposes (an affine-less GroupNorm's, without weight and bias). Marked as
    fused (:data:`FUSED`)."""
    fused.metadata_props.extend(last.metadata_props)
    fused.doc_string = fused.doc_string or FUSED
    return fused


def _padded_max_pool(nodes: list[Any], index: int, single: Any, constants: dict[str, tuple[float, ...]]) -> Any:
    """A MaxPool whose input is a Pad by −inf of H and W that nothing else reads (timm's "same" max pool, NASNet's):
    the MaxPool with those pads added to its own, which leave the padded border out of the max as −inf does;
    the Pad becomes None. None where the pattern is anything else."""
    from onnx import helper

    node = nodes[index]
    if node.op_type != "MaxPool" or not node.input:
        return None
    pad = single(node.input[0], "Pad")
    if pad is None:
        return None
    raw, pool = nodes[pad], _attributes(node)
    attributes = _attributes(raw)
    value: tuple[float, ...] | None
    if "pads" in attributes:  # before opset 11
        pads, value = attributes["pads"], (attributes.get("value", 0.0),)
    else:
        inputs = [*raw.input, "", "", ""]
        pads = constants.get(inputs[1]) if inputs[1] else None
        value = constants.get(inputs[2]) if inputs[2] else (0.0,)
        if inputs[3]:
            return None  # pads only some axes
    if attributes.get("mode", "constant") != "constant" or value is None or tuple(value) != (float("-inf"),):
        return None
    sides = pad_sides(pads) if pads is not None else None
    auto_pad = pool.pop("auto_pad", "NOTSET")
    if sides is None or min(sides) < 0 or auto_pad not in ("NOTSET", "VALID"):
        return None
    own = pool.get("pads", [0, 0, 0, 0]) if auto_pad == "NOTSET" else [0, 0, 0, 0]
    pool["pads"] = [a + b for a, b in zip(own, sides, strict=True)]
    nodes[pad] = None
    return helper.make_node("MaxPool", [raw.input[0], *node.input[1:]], list(node.output), name=node.name, **pool)


def _restrided(
    nodes: list[Any], index: int, single: Any, graph: Any, shapes: dict[str, Dims], folder: Path | None = None
) -> str | None:
    """The tensor that a Gather at ``index`` gives back unchanged: Reshape(x, [-1]) then Gather(axis 0) of the
    indices 0, 1, …, n − 1 shaped as x (what the dynamo exporter writes for ``as_strided`` on a contiguous
    tensor); the Reshape becomes None. None where the pattern is anything else."""
    node = nodes[index]
    if node.op_type != "Gather" or len(node.input) != 2 or _attributes(node).get("axis", 0) != 0:
        return None
    reshape = single(node.input[0], "Reshape")
    if reshape is None or len(nodes[reshape].input) < 2:
        return None
    source = nodes[reshape].input[0]
    shape = shapes.get(source)
    if shape is None or None in shape or shapes.get(node.output[0]) != shape:
        return None
    flat = _constant_array(graph, nodes[reshape].input[1], 8)
    indices = _constant_array(graph, node.input[1], _numel(shape), folder)
    if flat is None or flat.reshape(-1).tolist() not in ([-1], [_numel(shape)]) or indices is None:
        return None
    import numpy as np

    if indices.shape != shape or not np.array_equal(indices.reshape(-1), np.arange(_numel(shape))):
        return None
    nodes[reshape] = None
    return str(source)


def _constant_array(graph: Any, name: str, most: int, folder: Path | None = None) -> Any:
    """An initializer or Constant node's value as an array, when it has at most ``most`` values (checked before
    reading); else None. Stored in the file, or, for an integer tensor of at most ``MAX_INDICES`` values, in an
    external-data file in the model's ``folder`` (a default dynamo export keeps every tensor over 1 KiB there,
    indices too): just its bytes, never a float tensor's."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    tensor = next((t for t in graph.initializer if t.name == name), None)
    if tensor is None:
        node = next((n for n in graph.node if n.op_type == "Constant" and list(n.output) == [name]), None)
        attributes = _attributes(node) if node is not None else {}
        if isinstance(attributes.get("value_ints"), list) and len(attributes["value_ints"]) <= most:
            return np.array(attributes["value_ints"])
        value = attributes.get("value")
        tensor = value if value is not None and hasattr(value, "dims") else None
    if tensor is None or _numel(tensor.dims) > most:
        return None
    if tensor.data_location == TensorProto.EXTERNAL:
        return _external_indices(tensor, folder) if folder is not None else None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:
        return None


def _external_indices(tensor: Any, folder: Path) -> Any:
    """An int64 or int32 tensor of at most ``MAX_INDICES`` values read from its external-data file, which must
    be a regular file inside ``folder``: exactly its own bytes (offset and length), or None."""
    import numpy as np
    from onnx import TensorProto

    dtypes = {TensorProto.INT64: "<i8", TensorProto.INT32: "<i4"}
    count = _numel(tensor.dims)
    if tensor.data_type not in dtypes or count > MAX_INDICES or _external_escape(tensor, folder) is not None:
        return None
    entries = {entry.key: str(entry.value) for entry in tensor.external_data}
    dtype = np.dtype(dtypes[tensor.data_type])
    try:
        offset, length = int(entries.get("offset", 0)), int(entries.get("length", count * dtype.itemsize))
        if "location" not in entries or offset < 0 or length != count * dtype.itemsize:
            return None
        with open_regular(str(folder / entries["location"]), "external data file") as handle:
            handle.seek(offset)
            data = handle.read(length)
    except (ValueError, OSError, SpecError):
        return None
    if len(data) != length:
        return None
    return np.frombuffer(data, dtype=dtype).reshape(tuple(int(d) for d in tensor.dims))


def _group_norm_chain(
    nodes: list[Any], add: int, single: Any, constants: dict[str, tuple[float, ...]]
) -> tuple[str, str, str, int, list[int]] | None:
    """PyTorch's GroupNorm as both exporters write it, ending in ``add``: Add(Mul(Reshape(InstanceNormalization(
    Reshape(x, (N, G, -1)), ones, zeros), shape of x), γ), β), the dynamo exporter's γ and β as (C, 1, 1) by an
    Unsqueeze and cast like the data. x, γ, β (as stored), G and the nodes to drop, else None."""
    node = nodes[add]
    if node.op_type != "Add" or len(node.input) != 2:
        return None
    for position in (0, 1):
        mul = single(node.input[position], "Mul")
        beta = node.input[1 - position]
        for side in (0, 1) if mul is not None else ():
            back = single(nodes[mul].input[side], "Reshape")
            gamma = nodes[mul].input[1 - side]
            instance = single(nodes[back].input[0], "InstanceNormalization") if back is not None else None
            grouped = single(nodes[instance].input[0], "Reshape") if instance is not None else None
            if back is None or instance is None or grouped is None or len(nodes[instance].input) != 3:
                continue
            shape = constants.get(nodes[grouped].input[1]) if len(nodes[grouped].input) > 1 else None
            ones, zeros = (constants.get(tensor) for tensor in nodes[instance].input[1:])
            if shape is None or len(shape) != 3 or shape[2] != -1 or shape[1] < 1 or ones is None or zeros is None:
                continue
            groups = int(shape[1])
            if len(ones) != groups or len(zeros) != groups or set(ones) != {1} or set(zeros) != {0}:
                continue
            (gamma, gamma_steps), (beta, beta_steps) = (
                _per_channel(t, nodes, single, constants) for t in (gamma, beta)
            )
            return (
                nodes[grouped].input[0],
                gamma,
                beta,
                groups,
                [grouped, instance, back, mul, *gamma_steps, *beta_steps],
            )
    return None


def _per_channel(
    tensor: str, nodes: list[Any], single: Any, constants: dict[str, tuple[float, ...]]
) -> tuple[str, list[int]]:
    """A per-channel γ or β as stored, through the steps the dynamo exporter puts before the Mul or Add that reads
    it: a cast like the data, and an Unsqueeze of the (C,) vector to (C, 1, 1). The tensor and those steps."""
    steps: list[int] = []
    while True:
        found = [(op, single(tensor, op)) for op in ("CastLike", "Cast", "Identity", "Unsqueeze")]
        op, index = next(((op, index) for op, index in found if index is not None), ("", None))
        if index is None:
            return tensor, steps
        node = nodes[index]
        if op == "Unsqueeze":
            axes = _axes_of(node, constants)
            if axes is None or sorted(axes) not in ([1, 2], [-2, -1]):
                return tensor, steps
        steps.append(index)
        tensor = node.input[0]


def _written_numbers(nodes: list[Any], made: dict[str, int], initializers: set[str]) -> Callable[[str], bool]:
    """Whether a tensor is a number written into the graph: a Constant node's, or a Cast or CastLike of one; not an
    initializer, which a module may train (a learnable clipping ceiling, PACT's α)."""

    def written(tensor: str) -> bool:
        for _ in range(4):  # a Constant through a Cast and a CastLike at most
            if tensor in initializers:
                return False
            index = made.get(tensor)
            node = nodes[index] if index is not None else None
            if node is None or node.op_type not in ("Constant", "Cast", "CastLike"):
                return False
            if node.op_type == "Constant":
                return True
            tensor = node.input[0]
        return False

    return written


def _clamp_bounds(
    nodes: list[Any],
    index: int,
    single: Any,
    near: Any,
    constants: dict[str, tuple[float, ...]],
    written: Callable[[str], bool],
) -> tuple[int, list[str]] | None:
    """At a Min(Max(x, 0), m) of numbers written into the graph (the unoptimised dynamo exporter's torch.clamp(x,
    0, m)): the Max and the inputs of the Clip(x, 0, m) it is; else None."""
    node = nodes[index]
    if node.op_type != "Min" or len(node.input) != 2:
        return None
    for position in (0, 1):
        ceiling, inner = node.input[position], node.input[1 - position]
        maximum = single(inner, "Max")
        if maximum is None or len(constants.get(ceiling, ())) != 1 or not written(ceiling):
            continue
        if len(nodes[maximum].input) != 2:
            continue
        first, second = nodes[maximum].input
        for floor, source in ((first, second), (second, first)):
            if near(floor, 0.0) and len(constants.get(floor, ())) == 1 and written(floor) and source not in constants:
                return maximum, [source, floor, ceiling]
    return None


_GELU_TANH_CUBE = 0.044715
"""The cube's coefficient in GELU's tanh approximation, ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""


def _scaled_by(nodes: list[Any], index: int | None, near: Any, value: float) -> str | None:
    """The other input of the two-input Mul at ``index`` whose one input is ``value``, else None."""
    if index is None or len(nodes[index].input) != 2:
        return None
    first, second = nodes[index].input
    return second if near(first, value) else first if near(second, value) else None


def _cubed(nodes: list[Any], tensor: str, source: str, single: Any, near: Any) -> list[int] | None:
    """The nodes making x³ of ``source`` at ``tensor``: Pow(x, 3) (the dynamo exporter's), or Mul(x, Mul(x, x))
    (TorchScript's); else None."""
    power = single(tensor, "Pow")
    if power is not None:
        inputs = nodes[power].input
        return [power] if inputs[0] == source and near(inputs[1], 3.0) else None
    outer = single(tensor, "Mul")
    if outer is None or source not in nodes[outer].input:
        return None
    square = single(_other_input(nodes[outer], source), "Mul")
    if square is None or list(nodes[square].input) != [source, source]:
        return None
    return [outer, square]


def _gelu_tanh_chain(
    nodes: list[Any], index: int, single: Any, near: Any, reader: Callable[[str, str], int | None]
) -> tuple[str, list[int], int] | None:
    """At a Tanh: GELU's tanh approximation around it, x·½·(1 + tanh(√(2/π)(x + 0.044715x³))) as PyTorch's
    exporters write GELU(approximate='tanh') below opset 20 (½ applied to the sum or to the product), as x, the
    nodes to drop, and the last node; else None."""
    tanh = nodes[index]
    scaling = single(tanh.input[0], "Mul")
    summed = _scaled_by(nodes, scaling, near, (2 / math.pi) ** 0.5)
    add = single(summed, "Add") if summed is not None else None
    if add is None:
        return None
    for source in nodes[add].input:
        term = single(_other_input(nodes[add], source), "Mul")
        cubic = _scaled_by(nodes, term, near, _GELU_TANH_CUBE)
        cube = _cubed(nodes, cubic, source, single, near) if cubic is not None else None
        if cube is None:
            continue
        plus_one = reader(tanh.output[0], "Add")
        if plus_one is None or not near(_other_input(nodes[plus_one], tanh.output[0]), 1.0):
            return None
        after = reader(nodes[plus_one].output[0], "Mul")
        last = reader(nodes[after].output[0], "Mul") if after is not None else None
        if after is None or last is None:
            return None
        other = _other_input(nodes[after], nodes[plus_one].output[0])
        outer = _other_input(nodes[last], nodes[after].output[0])
        # x · (½ · (1 + tanh …)), the dynamo exporter's; or ½ · (x · (1 + tanh …)), TorchScript's
        if not ((near(other, 0.5) and outer == source) or (other == source and near(outer, 0.5))):
            return None
        assert scaling is not None and term is not None  # a value was scaled, and a cube's coefficient found
        return source, [scaling, add, term, *cube, index, plus_one, after], last
    return None


def _erf_chain(nodes: list[Any], product: int | None, single: Any, near: Any) -> tuple[str, list[int]] | None:
    """Mul(x, Add(Erf(Div(x, √2)), 1)) at ``product``: x and the nodes to drop, else None."""
    if product is None:
        return None
    mul = nodes[product]
    for position in (0, 1):
        source, added = mul.input[position], mul.input[1 - position]
        add = single(added, "Add")
        if add is None:
            continue
        erf_out = next((t for t in nodes[add].input if near(_other_input(nodes[add], t), 1.0)), None)
        erf = single(erf_out, "Erf") if erf_out is not None else None
        if erf is None:
            continue
        div = single(nodes[erf].input[0], "Div")
        if div is None or nodes[div].input[0] != source or not near(nodes[div].input[1], 2**0.5):
            continue
        return source, [product, add, erf, div]
    return None


def _constant_values(graph: Any) -> dict[str, tuple[float, ...]]:
    """The values of the small initializers and Constant nodes, and of what the graph computes from them alone
    with ops that keep or gather values (see :func:`_folded`): the constants of a fused pattern."""
    values: dict[str, tuple[float, ...]] = {}
    for tensor in graph.initializer:
        found = _tensor_values(tensor)
        if found is not None:
            values[tensor.name] = found
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            attribute = _attributes(node).get("value")
            if attribute is not None and not isinstance(attribute, (int, float, str, list)):
                found = _tensor_values(attribute)
                if found is not None:
                    values[node.output[0]] = found
            else:
                listed, _ = _listed_values(_attributes(node))
                if listed is not None:
                    values[node.output[0]] = listed
        elif node.output and node.input and all(name in values for name in _value_inputs(node) if name):
            try:
                folded = _folded(node, [values[name] if name else None for name in _value_inputs(node)])
            except (OverflowError, ValueError):  # an infinite or NaN size or bound: nothing to fold
                folded = None
            if folded is not None and len(folded) <= MAX_VALUES:
                values[node.output[0]] = folded
    return values


def _listed_values(attributes: dict[str, Any]) -> tuple[tuple[float, ...] | None, tuple[int, ...]]:
    """A Constant node's values and dims written as value_ints, value_floats, value_int or value_float."""
    listed = next((attributes[k] for k in ("value_ints", "value_floats") if k in attributes), None)
    if listed is not None:
        return tuple(listed), (len(listed),)
    single = next((attributes[k] for k in ("value_int", "value_float") if k in attributes), None)
    return ((single,) if single is not None else None), ()


def _value_inputs(node: Any) -> list[str]:
    """The inputs whose values a node reads: a CastLike's second input gives only its type."""
    return list(node.input[:1] if node.op_type == "CastLike" else node.input)


def _folded(node: Any, inputs: list[tuple[float, ...] | None]) -> tuple[float, ...] | None:
    """A node's values, flat, from its inputs' flat values: ops that keep the values (Reshape, Cast, Unsqueeze …),
    Concat (of vectors), Expand of one value to a shape, scalar arithmetic and Range: how the dynamo exporter
    computes a GroupNorm's (N, G, −1) and its ones and zeros. None for anything else."""
    op, first = node.op_type, inputs[0]
    if first is None:
        return None
    if op in ("Identity", "Cast", "CastLike", "Reshape", "Unsqueeze", "Squeeze", "Flatten"):
        return first
    if op == "Concat" and all(item is not None for item in inputs):
        return tuple(value for item in inputs if item is not None for value in item)
    if op == "Expand" and len(first) == 1 and len(inputs) == 2 and inputs[1] is not None:
        dims = [int(d) for d in inputs[1]]
        return first * _numel(dims) if min(dims, default=1) >= 0 and _numel(dims) <= MAX_VALUES else None
    if op in _ARITHMETIC and len(inputs) == 2 and inputs[1] is not None:
        return _arithmetic(op, [first, inputs[1]])
    if op == "Range" and len(inputs) == 3 and all(item is not None and len(item) == 1 for item in inputs):
        start, limit, delta = (item[0] for item in inputs if item is not None)
        count = math.ceil((limit - start) / delta) if delta else -1
        return tuple(start + k * delta for k in range(count)) if 0 <= count <= MAX_VALUES else None
    return None


def _reshaped(data: Constant, shape: Input, allowzero: Any) -> tuple[int, ...] | None:
    """The dims a Reshape of a constant gives (0 copies the input's size unless allowzero, -1 is the rest)."""
    size = data.size if data.dims is not None else len(data.values) if data.values is not None else None
    if not isinstance(shape, Constant) or shape.values is None or size is None:
        return None
    wanted = [int(v) for v in shape.values]
    if not allowzero:
        wanted = [
            (data.dims[i] if data.dims is not None and i < len(data.dims) else -2) if v == 0 else v
            for i, v in enumerate(wanted)
        ]
    known = [v for v in wanted if v != -1]
    if -2 in wanted or any(v < 0 for v in known) or wanted.count(-1) > 1:
        return None
    rest = _numel(known)
    if -1 in wanted:
        if rest == 0 or size % rest:
            return None
        wanted[wanted.index(-1)] = size // rest
    return tuple(wanted) if _numel(wanted) == size else None


def _filled(shape: tuple[float, ...], value: Any) -> tuple[tuple[float, ...] | None, tuple[int, ...] | None]:
    """ConstantOfShape: ``shape`` filled with the one value of ``value`` (0 when left out), when small."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims) or _numel(dims) > MAX_VALUES:
        return None, dims if all(d >= 0 for d in dims) else None
    filler = _tensor_values(value) if value is not None and not isinstance(value, (int, float, str, list)) else (0,)
    if filler is None or len(filler) != 1:
        return None, dims
    return filler * _numel(dims), dims


def _strides(dims: tuple[int, ...]) -> list[int]:
    strides, step = [], 1
    for size in reversed(dims):
        strides.append(step)
        step *= size
    return strides[::-1]


def _taken(data: Constant, picks: list[list[int]]) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The elements of ``data`` at every combination of ``picks`` (a list of input indices per axis)."""
    assert data.values is not None and data.dims is not None
    strides = _strides(data.dims)
    offsets = [0]
    for axis, chosen in enumerate(picks):
        offsets = [offset + index * strides[axis] for offset in offsets for index in chosen]
    return tuple(data.values[offset] for offset in offsets), tuple(len(chosen) for chosen in picks)


def _sliced(data: Constant, node: OnnxNode) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    """A Slice of a small constant, per the ONNX spec: negative starts and ends count from the end, both are
    clamped to the axis ([0, size] going forward, [-1, size - 1] going back), steps may be negative."""
    if data.values is None or data.dims is None or _numel(data.dims) != len(data.values):
        return None
    rank = len(data.dims)
    if node.opset < 10:
        starts, ends = node.attributes.get("starts"), node.attributes.get("ends")
        axes, steps = node.attributes.get("axes"), None
    else:
        bounds = []
        for position in (1, 2, 3, 4):
            item = node.inputs[position] if position < len(node.inputs) else None
            if item is not None and (not isinstance(item, Constant) or item.values is None):
                return None
            bounds.append(None if item is None else [int(v) for v in item.values or ()])
        starts, ends, axes, steps = bounds
    if starts is None or ends is None or len(starts) != len(ends):
        return None
    axes = list(range(len(starts))) if axes is None else [a + rank if a < 0 else a for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if len(axes) != len(starts) or len(steps) != len(starts) or len(set(axes)) != len(axes):
        return None
    picks = [list(range(size)) for size in data.dims]
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        if not 0 <= axis < rank or step == 0:
            return None
        size = data.dims[axis]
        start, end = start + size if start < 0 else start, end + size if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), size), min(max(end, 0), size)
        else:
            start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
        picks[axis] = list(range(start, end, step))
    return _taken(data, picks)


def _transposed(data: Constant, perm: Any) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    """A Transpose of a small constant (``perm`` left out reverses the axes)."""
    if data.values is None or data.dims is None or _numel(data.dims) != len(data.values):
        return None
    rank = len(data.dims)
    order = list(range(rank))[::-1] if perm is None else list(perm)
    if sorted(order) != list(range(rank)):
        return None
    strides = _strides(data.dims)
    offsets = [0]
    for axis in order:
        offsets = [offset + index * strides[axis] for offset in offsets for index in range(data.dims[axis])]
    return tuple(data.values[offset] for offset in offsets), tuple(data.dims[axis] for axis in order)


_ARITHMETIC = ("Add", "Sub", "Mul", "Div", "Mod")
"""Ops the plumbing evaluates on small constants (a chunk's bounds computed from a Shape; the axis TorchScript's
exporter works out for ``nn.Unflatten`` with a Mod)."""


def _arithmetic(op: str, operands: list[tuple[float, ...]]) -> tuple[float, ...] | None:
    """An elementwise op on two small constants, a scalar broadcast; integer Div truncates, as ONNX's."""
    left, right = operands
    if len(left) != len(right) and 1 not in (len(left), len(right)):
        return None
    count = max(len(left), len(right))
    pairs = [(left[i % len(left)], right[i % len(right)]) for i in range(count)]
    if op == "Div":
        if any(b == 0 for _, b in pairs):
            return None
        whole = all(isinstance(v, int) for pair in pairs for v in pair)
        return tuple(int(a / b) if whole else a / b for a, b in pairs)
    if op == "Mod":
        # Whole numbers, none negative: where ONNX's two Mods (fmod 0 and 1) and Python's agree.
        if not all(isinstance(a, int) and isinstance(b, int) and a >= 0 and b > 0 for a, b in pairs):
            return None
        return tuple(a % b for a, b in pairs)
    combine = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul}[op]
    return tuple(combine(a, b) for a, b in pairs)


@dataclass(frozen=True)
class _Outputs:
    """One output of a node with several, as :meth:`_Importer._emit` reads a node's outputs."""

    name: str

    @property
    def output(self) -> list[str]:
        return [self.name]


def _casts_a_constant(op_type: str, node: OnnxNode) -> bool:
    """CastLike reads its second input's type only: a constant cast like the image is still a constant."""
    return op_type == "CastLike" and isinstance(node.inputs[0] if node.inputs else None, Constant)


def _unsupported(op_type: str) -> str:
    if op_type in ("If", "Loop", "Scan"):
        return f"{op_type} runs a subgraph chosen at run time; convcalc reads fixed graphs"
    if op_type.endswith(("1d", "3d")):
        return "convcalc models 2-D networks"
    return f"convcalc cannot model {op_type} (no layer kind reads this op)"
