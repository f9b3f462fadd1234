"""Layers that trade space for depth: ``depth_to_space`` (PyTorch's pixel shuffle: the sub-pixel upsampling of
ESPCN, EDSR and SRGAN) and ``space_to_depth`` (pixel unshuffle: YOLOv2's reorg, TResNet's stem).

- ``depth_to_space`` with block r: H×W×(r²·C) → (r·H)×(r·W)×C; each r×r block of output pixels holds the
  r²·C channels of one input pixel. r² must divide D (CC114).
- ``space_to_depth`` with block r: H×W×D → (H/r)×(W/r)×(r²·D); each r×r block of input pixels becomes the
  channels of one output pixel. r must divide H and W (CC114).

No parameters, no MACs, linear: values move, none is combined. ``order`` says which channel holds which pixel
of a block (i, j) and which channel c of it: ``"dcr"`` (TensorFlow's ``tf.nn.depth_to_space`` and
``space_to_depth``, ONNX's DCR) channel (i·r + j)·C + c; ``"crd"`` (PyTorch's ``PixelShuffle`` and
``PixelUnshuffle``, ONNX's CRD) channel c·r² + i·r + j. Shapes and counts do not depend on it; values do.

Receptive field: depth_to_space is, pixel for pixel, a nearest upsampling by r (output (y, x) reads input
(⌊y/r⌋, ⌊x/r⌋)), so it takes upsample's field (the size kept, the jump divided by r); space_to_depth is an
r×r window of stride r without padding: r_out = r_in + (r − 1)·j, j_out = r·j.

Keras has no such layer, and a ``Lambda`` would be code in the model file: the export uses built-in layers,
``Reshape`` → ``Permute`` → ``Reshape`` (see ``to_keras``), which the Keras import recognises. tf.nn:
``tf.reshape`` and ``tf.transpose``. PyTorch: ``nn.PixelShuffle`` / ``nn.PixelUnshuffle`` for ``"crd"``, a
reshape–permute–reshape for ``"dcr"``. ONNX: DepthToSpace (DCR or CRD), SpaceToDepth (DCR), and PyTorch's
pixel unshuffle as its exporters write it: Reshape (N, C, H/r, r, W/r, r), Transpose, Reshape.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from convcalc import arithmetic as ar
from convcalc.layers.base import PLUMBING_TRAITS, Computed, DiagramWindow, FieldPair, LayerSpec, widest
from convcalc.layers.fields import PositiveInt
from convcalc.layers.keras import BLOCKS, BLOCKS_MOVED, KerasLayer, KerasOps, Mapped, Op, Tensor, short_json
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.volume import Shape, Window

Order = Literal["dcr", "crd"]

# Keras's Permute dims (1-based, batch left out) of each export, on the five axes its first Reshape makes.
_D2S_PERMUTE = {"dcr": (1, 3, 2, 4, 5), "crd": (1, 4, 2, 5, 3)}
"""depth_to_space: (H, W, r, r, C) or (H, W, C, r, r) → (H, r, W, r, C)."""
_S2D_PERMUTE = {"dcr": (1, 3, 2, 4, 5), "crd": (1, 3, 5, 2, 4)}
"""space_to_depth: (H/r, r, W/r, r, D) → (H/r, W/r, r, r, D) or (H/r, W/r, D, r, r)."""
_ONNX_S2D_PERM = {(0, 3, 5, 1, 2, 4): "dcr", (0, 1, 3, 5, 2, 4): "crd"}
"""Transposes of (N, C, H/r, r, W/r, r) in a pixel unshuffle: TResNet's (DCR) and PyTorch's (CRD)."""


def _body(kind: str, block: int, order: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "block": block}
    return body if order == "dcr" else {**body, "order": order}


def _read_onnx_depth_to_space(node: OnnxNode) -> OnnxMapped:
    """DepthToSpace: DCR (ONNX's default, TensorFlow's) or CRD (PyTorch's PixelShuffle)."""
    node.needs_volume()
    mode = node.text("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise node.refuse(f"mode {mode!r}: convcalc reads DCR and CRD")
    return OnnxMapped([_body("depth_to_space", _onnx_block(node), mode.lower())], 4)


def _read_onnx_space_to_depth(node: OnnxNode) -> OnnxMapped:
    """SpaceToDepth (TensorFlow's order, DCR)."""
    node.needs_volume()
    return OnnxMapped([_body("space_to_depth", _onnx_block(node), "dcr")], 4)


def _onnx_block(node: OnnxNode) -> int:
    block = node.integer("blocksize", 0)
    if block < 1:
        raise node.refuse(f"blocksize {block}: a block is at least one pixel")
    return block


class _Blocks(LayerSpec):
    """The family base: r×r blocks of pixels traded for channels; no weights, linear."""

    block: PositiveInt = Field(description="r: the side of the square block of pixels (2 for ×2).")
    order: Order = Field(
        default="dcr",
        description="Which channel holds which pixel of a block: dcr (TensorFlow's), crd (PyTorch's pixel shuffle).",
    )

    traits = PLUMBING_TRAITS
    drawing = "volume"
    keras_ops = {}  # Reshape and Permute, whose tf.nn code their kinds own

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return f"r={self.block} {self.order.upper()}"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


class DepthToSpace(_Blocks):
    """Moves channels into r×r blocks of pixels: H×W×(r²·C) → (r·H)×(r·W)×C (pixel shuffle)."""

    type: Literal["depth_to_space"]

    kind_name = "depth_to_space"
    example = {"type": "depth_to_space", "block": 2}
    keras_readers = {}  # its Reshapes and Permute are read by flatten's and split's readers, which call this module
    onnx_readers = {"DepthToSpace": _read_onnx_depth_to_space}
    spelled_elsewhere = {
        "pixelshuffle": '"type": "depth_to_space", "block": 2, "order": "crd"',
        "subpixel": '"type": "depth_to_space", "block": 2',
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        r = self.block
        return Computed(Shape(shape.height * r, shape.width * r, shape.depth // (r * r)))  # CC114: r² ∤ D

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        scale = Fraction(1, self.block)
        # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
        from convcalc.layers.upsample import resampled_field

        return resampled_field(rows, scale, "nearest"), resampled_field(cols, scale, "nearest")

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return (Fraction(1, self.block), Fraction(1, self.block))

    def caption(self) -> str:
        return "d2s"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        height, width, _ = ops.volume()
        r, depth = self.block, output.depth
        blocks = (height, width, r, r, depth) if self.order == "dcr" else (height, width, depth, r, r)
        ops.add("Reshape", ops.helper("blocks"), blocks, target_shape=blocks)
        moved = (height, r, width, r, depth)
        ops.add("Permute", ops.helper("interleave"), moved, dims=_D2S_PERMUTE[self.order])
        out = (height * r, width * r, depth)
        return ops.add("Reshape", ops.base, out, target_shape=out)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        _, height, width = ops.volume()
        r, depth = self.block, output.depth
        out = (depth, height * r, width * r)
        if self.order == "crd":
            return ops.module(ops.base, f"nn.PixelShuffle({r})", out)
        # Channel (i·r + j)·C + c of pixel (y, x) → channel c of pixel (y·r + i, x·r + j).
        code = f"{{0}}.reshape(-1, {r}, {r}, {depth}, {height}, {width}).permute(0, 3, 4, 1, 5, 2)"
        return ops.expression(ops.base, f"{code}.reshape(-1, {depth}, {height * r}, {width * r})", out)


class SpaceToDepth(_Blocks):
    """Moves r×r blocks of pixels into channels: H×W×D → (H/r)×(W/r)×(r²·D) (pixel unshuffle, reorg)."""

    type: Literal["space_to_depth"]

    kind_name = "space_to_depth"
    example = {"type": "space_to_depth", "block": 2}
    keras_readers = {}  # as depth_to_space's
    onnx_readers = {"SpaceToDepth": _read_onnx_space_to_depth}
    spelled_elsewhere = {
        "pixelunshuffle": '"type": "space_to_depth", "block": 2, "order": "crd"',
        "reorg": '"type": "space_to_depth", "block": 2',
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        r = self.block
        return Computed(Shape(shape.height // r, shape.width // r, shape.depth * r * r))  # CC114: r ∤ H or W

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        r = self.block
        return ar.receptive_field(rows, r, r, 0), ar.receptive_field(cols, r, r, 0)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return (Fraction(self.block), Fraction(self.block))

    def caption(self) -> str:
        return "s2d"

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        _, _, depth = ops.volume()
        r, height, width = self.block, output.height, output.width
        blocks = (height, r, width, r, depth)
        ops.add("Reshape", ops.helper("blocks"), blocks, target_shape=blocks)
        moved = (height, width, r, r, depth) if self.order == "dcr" else (height, width, depth, r, r)
        ops.add("Permute", ops.helper("gather"), moved, dims=_S2D_PERMUTE[self.order])
        out = (height, width, r * r * depth)
        return ops.add("Reshape", ops.base, out, target_shape=out)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        depth, _, _ = ops.volume()
        r, height, width = self.block, output.height, output.width
        out = (r * r * depth, height, width)
        if self.order == "crd":
            return ops.module(ops.base, f"nn.PixelUnshuffle({r})", out)
        # Channel c of pixel (y·r + i, x·r + j) → channel (i·r + j)·D + c of pixel (y, x).
        code = f"{{0}}.reshape(-1, {depth}, {height}, {r}, {width}, {r}).permute(0, 3, 5, 1, 2, 4)"
        return ops.expression(ops.base, f"{code}.reshape(-1, {r * r * depth}, {height}, {width})", out)


# --- the Keras import: the export's Reshape → Permute → Reshape -----------------------------------------------


def read_blocks_reshape(layer: KerasLayer, source: Tensor, dims: list[int]) -> Mapped | None:
    """A Reshape of a depth_to_space or space_to_depth export: into five axes (``BLOCKS``) or, after the
    Permute, back to a volume, where the sizes tell which layer it was. None for any other Reshape."""
    if source.rank == 4 and not source.layout and len(dims) == 5 and min(dims) >= 1:
        return Mapped([], 6, layout=BLOCKS, parts=tuple(dims))
    if source.layout != BLOCKS_MOVED:
        return None
    body = _blocks_body(source.parts[:5], source.parts[5:], dims)
    if body is None:
        raise layer.refuse(
            f"target_shape {short_json(dims)} after a Reshape to {list(source.parts[:5])} and a Permute: convcalc"
            " imports this only as a depth_to_space or space_to_depth",
            "target_shape",
        )
    return Mapped([body], 4, output=Shape(dims[0], dims[1], dims[2]))


def read_blocks_permute(layer: KerasLayer, source: Tensor, dims: Any) -> Mapped:
    """The Permute of a depth_to_space or space_to_depth export, on the five axes of ``BLOCKS``."""
    order = tuple(dims) if isinstance(dims, list) and all(type(d) is int for d in dims) else ()
    if order not in (*_D2S_PERMUTE.values(), *_S2D_PERMUTE.values()):
        raise layer.refuse(
            f"dims {short_json(dims)} after a Reshape to five axes: convcalc imports this only as a depth_to_space"
            f" (dims {list(_D2S_PERMUTE['dcr'])} or {list(_D2S_PERMUTE['crd'])}) or a space_to_depth (dims"
            f" {list(_S2D_PERMUTE['dcr'])} or {list(_S2D_PERMUTE['crd'])})",
            "dims",
        )
    return Mapped([], 6, layout=BLOCKS_MOVED, parts=source.parts + order)


def _blocks_body(split: tuple[int, ...], permute: tuple[int, ...], out: list[int]) -> dict[str, Any] | None:
    """The layer a Reshape to ``split``, a Permute by ``permute`` and a Reshape to ``out`` compute, if any."""
    moved = tuple(split[axis - 1] for axis in permute)
    if len(out) != 3 or len(moved) != 5:
        return None
    for order, dims in _D2S_PERMUTE.items():
        r = moved[1]  # (H, r, W, r, C) → (H·r, W·r, C)
        if permute == dims and moved[3] == r and list(out) == [moved[0] * r, moved[2] * r, moved[4]]:
            return _body("depth_to_space", r, order)
    for order, dims in _S2D_PERMUTE.items():
        r = split[1]
        if permute == dims and split[3] == r and list(out) == [split[0], split[2], r * r * split[4]]:
            return _body("space_to_depth", r, order)
    return None


# --- the ONNX import of a pixel unshuffle ------------------------------------------------------------------


def read_onnx_blocks_reshape(node: OnnxNode) -> OnnxMapped | None:
    """A Reshape that is a step of PyTorch's pixel unshuffle: (N, C, H, W) → (N, C, H/r, r, W/r, r) (into
    ``BLOCKS``) or, after the Transpose, (N, r, r, C, H/r, W/r) or (N, C, r, r, H/r, W/r) → (N, r²·C, H/r, W/r).
    None for any other Reshape."""
    source = node.source()
    before, after = node.input_shapes[0], node.output_shape
    if before is None or after is None or None in before[1:] or None in after[1:]:
        return None  # the batch may be symbolic
    if source.rank == 4 and not source.layout and len(before) == 4 and len(after) == 6:
        _, _, height, width = (size or 0 for size in before)
        _, _, h, r, w, r2 = (size or 0 for size in after)
        if after[1] == before[1] and r == r2 and h * r == height and w * r == width:
            return OnnxMapped([], 6, layout=BLOCKS, groups=r)
        return None
    if source.layout == BLOCKS_MOVED and len(before) == 6 and len(after) == 4:
        depth = 1
        for size in before[1:4]:
            depth *= size or 0
        if after[1] == depth and after[2:] == before[4:]:
            return OnnxMapped([], 4, reads_layout=True)
        raise node.refuse(f"reshapes {before} to {after}: a pixel unshuffle ends in (N, r²·C, H/r, W/r)")
    return None


def read_onnx_blocks_transpose(node: OnnxNode) -> OnnxMapped:
    """The Transpose of a pixel unshuffle, on the ``BLOCKS`` (N, C, H/r, r, W/r, r)."""
    source = node.source()
    perm = tuple(node.integers("perm") or ())
    if perm not in _ONNX_S2D_PERM:
        raise node.refuse(
            f"perm {list(perm)} after a Reshape to (N, C, H/r, r, W/r, r): convcalc reads this only as a pixel"
            " unshuffle, (0, 1, 3, 5, 2, 4) (PyTorch's) or (0, 3, 5, 1, 2, 4) (TensorFlow's order)"
        )
    body = _body("space_to_depth", source.groups, _ONNX_S2D_PERM[perm])
    return OnnxMapped([body], 6, layout=BLOCKS_MOVED, reads_layout=True)
