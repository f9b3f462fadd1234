"""The network as 3D volumes in SVG, left to right, the way CNN courses draw it.

One box per volume-changing layer: layers that keep the volume (normalisation, activations, dropout) fold
into the box of the layer they
follow, zero padding into the window that reads it, and repeated blocks (ResNet's identity blocks) into one
copy marked ×n. Box sides are log-scaled (H vertical, W oblique, D horizontal) and clamped, so AlexNet's
227×227×3 and VGG's 4096-wide fc both fit on a page. Graphs are laid out in columns (longest path from the
input) and rows (parallel branches); long chains wrap onto further lines where one edge crosses the cut.

Pure and deterministic: the same facts give the same bytes (no ids, no timestamps, one-decimal floats).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from convcalc.analysis import NetworkFacts, Shape
from convcalc.checked import CheckedSpec
from convcalc.findings import Finding
from convcalc.folding import greedy_runs
from convcalc.text import human_count, pair_text, plural, printable

MAX_LINE_WIDTH = 1180.0
"""Wrap the diagram onto another line past this width (where a single edge crosses)."""

FONT = 11.0
SMALL = 10.0
LINE = 13.0
COL_GAP = 30.0
MARGIN = 16.0
BAND_GAP = 26.0
ARC_STEP = 8.0


def _esc(text: str) -> str:
    """Spec text as XML character data or attribute value: control characters shown, markup escaped."""
    return html.escape(printable(text), quote=True)


def _num(value: float) -> str:
    """Stable coordinates: one decimal, no ``-0`` and no trailing ``.0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _text_width(text: str, size: float) -> float:
    # DejaVu Sans (Chromium's fallback on Linux) averages about 0.62 em for digits and lower case.
    return len(text) * size * 0.62


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _log(size: int) -> float:
    return math.log2(max(size, 1))


@dataclass
class Node:
    """One drawn box: a volume-changing layer with the layers folded into it."""

    id: int
    kind: str
    """``input``, ``volume``, ``bar`` (fc, flatten, global pool) or ``merge`` (add, concat)."""
    layers: list[int]
    """Layer indices drawn by this box: zero-padding prefix, the head, the folded followers."""
    head: int
    """The volume-changing layer (``-1`` for the network input)."""
    inputs: tuple[int, ...]
    """Node ids read."""
    shape: Shape
    caption: str
    """The folded layer kinds, ``conv+bn+relu``."""
    window: str = ""
    """``F=3 S=1 P=1`` for conv and pool boxes."""
    name: str = ""


def _window_text(facts: NetworkFacts, layers: list[int], head: int) -> str:
    layer = facts.layers[head]
    window = layer.spec.diagram_window(layer.window)
    if window is None:
        return ""
    pads = list(window.padding)
    for index in layers:
        extra = facts.layers[index].spec.added_padding()
        if extra is not None:
            pads = [a + b for a, b in zip(pads, extra, strict=True)]
    parts = [f"F={pair_text(window.kernel)}", f"S={pair_text(window.stride)}"]
    top, bottom, left, right = pads
    if any(pads):
        parts.append(
            f"P={pair_text((top, left))}" if (top, left) == (bottom, right) else f"P={top},{bottom},{left},{right}"
        )
    if window.dilation != (1, 1):
        parts.append(f"d={pair_text(window.dilation)}")
    return " ".join(parts)


def build_nodes(facts: NetworkFacts) -> tuple[list[Node], list[int]]:
    """The boxes to draw, in layer order (node 0 is the input), and the node id of every layer."""
    layers = facts.layers
    consumers: dict[int, list[int]] = {}
    for layer in layers:
        for source in layer.inputs:
            consumers.setdefault(source, []).append(layer.index)
    nodes = [Node(0, "input", [], -1, (), facts.input_shape, "input", name="input")]
    node_of: dict[int, int] = {-1: 0}
    prefixes: dict[int, list[int]] = {}
    for layer in layers:
        i = layer.index
        readers = consumers.get(i, [])
        if layer.spec.drawing == "prefix" and len(readers) == 1:
            reader = layers[readers[0]]
            if reader.window is not None and reader.inputs == (i,):
                prefixes[reader.index] = [*prefixes.pop(i, []), i]
                continue
        if layer.spec.drawing == "inside" and len(layer.inputs) == 1 and i not in prefixes:
            source = layer.inputs[0]
            owner = node_of.get(source, 0)
            if owner != 0 and nodes[owner].layers[-1] == source:
                nodes[owner].layers.append(i)
                node_of[i] = owner
                continue
        prefix = prefixes.pop(i, [])
        first = layers[prefix[0]] if prefix else layer
        drawing = layer.spec.drawing
        kind = drawing if drawing in ("bar", "merge") else "volume"
        node = Node(
            len(nodes),
            kind,
            [*prefix, i],
            i,
            tuple(node_of.get(source, 0) for source in first.inputs),
            layer.output_shape,
            "",
            name=layer.name,
        )
        nodes.append(node)
        for index in node.layers:
            node_of[index] = node.id
    for node in nodes[1:]:
        node.shape = layers[node.layers[-1]].output_shape
        node.caption = "+".join(layers[index].spec.caption() for index in node.layers)
        node.window = _window_text(facts, node.layers, node.head)
    return nodes, [node_of[layer.index] for layer in layers]


@dataclass(frozen=True)
class Fold:
    """``count`` consecutive repeats of the boxes ``start … start + length − 1``; only the first is drawn."""

    start: int
    length: int
    count: int


def _signature(facts: NetworkFacts, node: Node) -> tuple[object, ...]:
    layers = facts.layers
    return (
        node.kind,
        node.caption,
        tuple(layers[i].spec.notation(layers[i].window) for i in node.layers),
        layers[node.head].input_shapes,
        node.shape,
        tuple(node.id - source for source in node.inputs),
    )


def fold_nodes(facts: NetworkFacts, nodes: list[Node]) -> list[Fold]:
    """Runs of identical blocks of boxes worth folding (where they save at least three boxes).

    A block must be closed: it reads only itself and the box just before it, so that a fold starts where a
    residual block starts, not one box into it.
    """
    signatures = [_signature(facts, node) for node in nodes]

    def worth(start: int, length: int, count: int) -> bool:
        closed = all(start - 1 <= source for node in nodes[start : start + length] for source in node.inputs)
        return closed and (count - 1) * length >= 3

    return [Fold(r.start, r.length, r.count) for r in greedy_runs(signatures, 1, worth) if r.count > 1]


# --- geometry -------------------------------------------------------------------------------------------


@dataclass
class _Box:
    """A node's drawn size: front face d×h, oblique offset (ox, oy); ``lines`` of label text below."""

    d: float
    h: float
    ox: float
    oy: float
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def width(self) -> float:
        return self.d + self.ox

    @property
    def label_width(self) -> float:
        return max((_text_width(text, FONT if cls == "lab" else SMALL) for cls, text in self.lines), default=0)


MERGE_RADIUS = 10.0


def _box(node: Node, codes: str, severity: str) -> _Box:
    shape = node.shape
    if node.kind == "merge":
        box = _Box(2 * MERGE_RADIUS, 2 * MERGE_RADIUS, 0, 0)
    elif node.kind == "bar":
        box = _Box(10, _clamp(8 + 9 * _log(shape.depth), 14, 116), 5, 4)
    else:
        oblique = _clamp(4 + 5.5 * _log(shape.width), 4, 52)
        box = _Box(
            _clamp(4 + 5 * _log(shape.depth), 6, 60),
            _clamp(6 + 11 * _log(shape.height), 6, 104),
            0.62 * oblique,
            0.45 * oblique,
        )
    box.lines.append(("lab", str(shape)))
    box.lines.append(("cap", node.caption))
    if node.window:
        box.lines.append(("cap", node.window))
    if codes:
        box.lines.append((severity or "cap", codes))
    return box


@dataclass
class _Edge:
    source: int
    target: int
    arc: int = -1
    """Level of the arc over the row, for a skip edge that would cross boxes; -1 when drawn directly."""


@dataclass
class _Layout:
    nodes: list[Node]
    boxes: dict[int, _Box]
    col: dict[int, int]
    row: dict[int, int]
    band: dict[int, int]
    col_left: dict[int, float]
    col_width: dict[int, float]
    mid: dict[tuple[int, int], float]
    """(band, row) → the y of the row's centre line."""
    label_top: dict[tuple[int, int], float]
    row_top: dict[tuple[int, int], float]
    band_bottom: dict[int, float]
    edges: list[_Edge]
    width: float
    height: float

    def x0(self, node: int) -> float:
        """Left edge of the node's front face (the box is centred in its column)."""
        box = self.boxes[node]
        column = self.col[node]
        return self.col_left[column] + (self.col_width[column] - COL_GAP - box.width) / 2

    def y(self, node: int) -> float:
        return self.mid[(self.band[node], self.row[node])]


def _columns(visible: list[Node], inputs: dict[int, tuple[int, ...]]) -> dict[int, int]:
    col: dict[int, int] = {}
    for node in visible:
        col[node.id] = 1 + max((col[s] for s in inputs[node.id]), default=-1)
    return col


def _rows(visible: list[Node], inputs: dict[int, tuple[int, ...]], col: dict[int, int]) -> dict[int, int]:
    consumers: dict[int, list[int]] = {node.id: [] for node in visible}
    for node in visible:
        for source in dict.fromkeys(inputs[node.id]):
            consumers[source].append(node.id)
    to_end: dict[int, int] = {}
    for node in reversed(visible):
        to_end[node.id] = 1 + max((to_end[c] for c in consumers[node.id]), default=0)
    row: dict[int, int] = {}
    wanted: dict[tuple[int, int], int] = {}
    taken: set[tuple[int, int]] = set()
    for node in visible:
        preferred = min((wanted.get((s, node.id), 0) for s in inputs[node.id]), default=0)
        r = preferred
        while (col[node.id], r) in taken:
            r += 1
        row[node.id] = r
        taken.add((col[node.id], r))
        # The consumer on the longest path continues this row; the others branch off below it.
        ranked = sorted(consumers[node.id], key=lambda c: (-to_end[c], c))
        for k, consumer in enumerate(ranked):
            wanted[(node.id, consumer)] = r + k
    return row


def _bands(col: dict[int, int], widths: list[float], edges: list[_Edge]) -> list[int]:
    """The band (line) of each column: wrap past the line width, before a column that only edges from one
    node cross (a chain, or the output of a residual block), so the wrap is one connector."""
    columns = len(widths)
    crossing: list[set[int]] = [set() for _ in range(columns + 1)]
    for edge in edges:
        for k in range(col[edge.source] + 1, col[edge.target] + 1):
            crossing[k].add(edge.source)
    band_of = [0] * columns
    band, start, used, last_cut = 0, 0, 0.0, -1
    for k in range(columns):
        if used + widths[k] > MAX_LINE_WIDTH and last_cut > start:
            band += 1
            start = last_cut
            used = sum(widths[start:k])
            for j in range(start, k):
                band_of[j] = band
            last_cut = -1
        band_of[k] = band
        used += widths[k]
        if k + 1 < columns and len(crossing[k + 1]) == 1:
            last_cut = k + 1
    return band_of


def _layout(nodes: list[Node], folds: list[Fold], boxes: dict[int, _Box], top: float) -> _Layout:
    hidden: dict[int, int] = {}
    for fold in folds:
        for k in range(1, fold.count):
            for offset in range(fold.length):
                hidden[fold.start + k * fold.length + offset] = fold.start + offset
    visible = [node for node in nodes if node.id not in hidden]
    inputs = {
        node.id: tuple(dict.fromkeys(hidden.get(s, s) for s in node.inputs if hidden.get(s, s) != node.id))
        for node in visible
    }
    col = _columns(visible, inputs)
    row = _rows(visible, inputs, col)
    edges = [_Edge(source, node.id) for node in visible for source in inputs[node.id]]
    columns = 1 + max(col.values())
    widths = [0.0] * columns
    for node in visible:
        box = boxes[node.id]
        widths[col[node.id]] = max(widths[col[node.id]], box.width, box.label_width) + 0.0
    widths = [w + COL_GAP for w in widths]
    band_of_col = _bands(col, widths, edges)
    band = {node.id: band_of_col[col[node.id]] for node in visible}
    col_left: dict[int, float] = {}
    for k in range(columns):
        first = k == 0 or band_of_col[k] != band_of_col[k - 1]
        col_left[k] = MARGIN + 8 if first else col_left[k - 1] + widths[k - 1]
    col_width = dict(enumerate(widths))

    # Edges along one row that would cross boxes (skips, and wraps into the middle of a line) become arcs
    # above the row, stacked where their spans overlap.
    occupied = {(band[n.id], row[n.id], col[n.id]) for n in visible}
    first_col = {b: band_of_col.index(b) for b in set(band_of_col)}
    arcs_per_row: dict[tuple[int, int], list[tuple[int, int, _Edge]]] = {}
    for edge in edges:
        s, t = edge.source, edge.target
        if band[s] != band[t]:
            start = first_col[band[t]] - 1
        elif row[s] == row[t]:
            start = col[s]
        else:
            continue
        key = (band[t], row[t])
        if any((key[0], key[1], k) in occupied for k in range(start + 1, col[t])):
            placed = arcs_per_row.setdefault(key, [])
            edge.arc = 1 + max(
                (other.arc for a, b, other in placed if a < col[t] and start < b),
                default=-1,
            )
            placed.append((start, col[t], edge))

    folded_rows = {(band[f.start], row[n]) for f in folds for n in range(f.start, f.start + f.length)}
    mid: dict[tuple[int, int], float] = {}
    label_top: dict[tuple[int, int], float] = {}
    row_top: dict[tuple[int, int], float] = {}
    band_bottom: dict[int, float] = {}
    y = top
    for b in range(max(band_of_col) + 1):
        rows = sorted({row[n.id] for n in visible if band[n.id] == b})
        for r in rows:
            members = [n.id for n in visible if band[n.id] == b and row[n.id] == r]
            arcs = [edge for _, _, edge in arcs_per_row.get((b, r), [])]
            above = max(boxes[m].h / 2 + boxes[m].oy for m in members) + 8
            above += ARC_STEP * (1 + max((e.arc for e in arcs), default=-1)) + (4 if arcs else 0)
            below = max(boxes[m].h / 2 for m in members) + 6
            lines = max(len(boxes[m].lines) for m in members)
            row_top[(b, r)] = y
            mid[(b, r)] = y + above
            label_top[(b, r)] = y + above + below
            y += above + below + lines * LINE + 8 + (18 if (b, r) in folded_rows else 0)
        band_bottom[b] = y
        y += BAND_GAP
    right = max(col_left[k] + widths[k] for k in range(columns))
    return _Layout(
        nodes=visible,
        boxes=boxes,
        col=col,
        row=row,
        band=band,
        col_left=col_left,
        col_width=col_width,
        mid=mid,
        label_top=label_top,
        row_top=row_top,
        band_bottom=band_bottom,
        edges=edges,
        width=right + MARGIN - COL_GAP + 8,
        height=y - BAND_GAP + MARGIN,
    )


# --- drawing --------------------------------------------------------------------------------------------

_RULES = """
& .bg{fill:#ffffff}
& text{font-family:"DejaVu Sans","Segoe UI",Roboto,Helvetica,Arial,sans-serif;fill:#1f2328;stroke:none}
& .title{font-size:15px;font-weight:bold}
& .sub{font-size:11px;fill:#57606a}
& .lab{font-size:11px}
& .cap{font-size:10px;fill:#57606a}
& .error{font-size:10px;font-weight:bold;fill:#cf222e}
& .warning{font-size:10px;font-weight:bold;fill:#9a6700}
& .edge{fill:none;stroke:#8c959f;stroke-width:1.3}
& .head{fill:#8c959f}
& .proj{fill:none;stroke:#8c959f;stroke-width:.8;stroke-dasharray:3 2}
& .fold{fill:none;stroke:#8c959f;stroke-dasharray:5 3}
& .fold-label{font-size:10px;font-style:italic;fill:#57606a}
& .box{stroke-width:1;stroke-linejoin:round}
& .o-error{fill:none;stroke:#cf222e;stroke-width:2}
& .o-warning{fill:none;stroke:#d4a72c;stroke-width:2}
& .win polygon,& .win rect{fill:#e3742f;fill-opacity:.55;stroke:#bc4c00}
& .k-input{stroke:#57606a}& .k-input .f{fill:#eaeef2}& .k-input .t{fill:#f6f8fa}& .k-input .s{fill:#d0d7de}
& .k-volume{stroke:#0969da}& .k-volume .f{fill:#b6d7ff}& .k-volume .t{fill:#ddf4ff}& .k-volume .s{fill:#80b9f5}
& .k-pool{stroke:#8250df}& .k-pool .f{fill:#d8c9fb}& .k-pool .t{fill:#fbefff}& .k-pool .s{fill:#b89cf0}
& .k-bar{stroke:#1a7f37}& .k-bar .f{fill:#aceebb}& .k-bar .t{fill:#dafbe1}& .k-bar .s{fill:#6fdd8b}
& .k-merge{stroke:#57606a;fill:#ffffff}
@media (prefers-color-scheme:dark){
& .bg{fill:#0d1117}
& text{fill:#e6edf3}
& .sub,& .cap,& .fold-label{fill:#9198a1}
& .error{fill:#ff7b72}
& .warning{fill:#e3b341}
& .edge,& .proj,& .fold{stroke:#6e7681}
& .head{fill:#6e7681}
& .o-error{stroke:#ff7b72}
& .o-warning{stroke:#e3b341}
& .win polygon,& .win rect{fill:#f0883e;stroke:#ffa657}
& .k-input{stroke:#9198a1}& .k-input .f{fill:#30363d}& .k-input .t{fill:#3d444d}& .k-input .s{fill:#21262d}
& .k-volume{stroke:#79c0ff}& .k-volume .f{fill:#1f4b7a}& .k-volume .t{fill:#2a6299}& .k-volume .s{fill:#163a5f}
& .k-pool{stroke:#d2a8ff}& .k-pool .f{fill:#4c2f7a}& .k-pool .t{fill:#603c99}& .k-pool .s{fill:#3b2460}
& .k-bar{stroke:#56d364}& .k-bar .f{fill:#1f5a2c}& .k-bar .t{fill:#2b7a3c}& .k-bar .s{fill:#174421}
& .k-merge{stroke:#9198a1;fill:#0d1117}
}
"""
STYLE = _RULES.strip().replace("&", "svg.convcalc-net")
"""Every selector scoped to the diagram, so the style cannot leak into an HTML page that inlines it."""


def _pts(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in points)


def _cuboid(x0: float, ymid: float, d: float, h: float, ox: float, oy: float) -> list[str]:
    top, bottom = ymid - h / 2, ymid + h / 2
    right = x0 + d
    top_face = [(x0, top), (x0 + ox, top - oy), (right + ox, top - oy), (right, top)]
    side_face = [(right, top), (right + ox, top - oy), (right + ox, bottom - oy), (right, bottom)]
    return [
        f'<polygon class="t" points="{_pts(top_face)}"/>',
        f'<polygon class="s" points="{_pts(side_face)}"/>',
        f'<rect class="f" x="{_num(x0)}" y="{_num(top)}" width="{_num(d)}" height="{_num(h)}"/>',
    ]


def _arrow(path: str, tx: float, ty: float) -> str:
    head = _pts([(tx - 6, ty - 3.5), (tx, ty), (tx - 6, ty + 3.5)])
    return f'<path class="edge" d="{path}"/><polygon class="head" points="{head}"/>'


def _edge_svg(layout: _Layout, edge: _Edge) -> str:
    s, t = edge.source, edge.target
    sx, sy = layout.x0(s) + layout.boxes[s].d, layout.y(s)
    tx, ty = layout.x0(t) - 1, layout.y(t)
    if layout.band[s] != layout.band[t]:
        # Wrap onto the next line: down the gap right of the source, back along the band gap, into the target.
        column = layout.col[s]
        gx = layout.col_left[column] + layout.col_width[column] - COL_GAP / 2
        gy = layout.band_bottom[layout.band[s]] + BAND_GAP / 2 - 4
        lx = MARGIN + 2 * max(edge.arc, 0)
        path = f"M{_num(sx)},{_num(sy)}H{_num(gx)}V{_num(gy)}H{_num(lx)}"
        if edge.arc >= 0:
            lane = layout.row_top[(layout.band[t], layout.row[t])] + 6 + ARC_STEP * edge.arc
            bx = tx - 8 - 2 * edge.arc
            path += f"V{_num(lane)}H{_num(bx)}"
        return _arrow(path + f"V{_num(ty)}H{_num(tx)}", tx, ty)
    if edge.arc >= 0:
        lane = layout.row_top[(layout.band[s], layout.row[s])] + 6 + ARC_STEP * edge.arc
        ax, bx = sx + 6 + 2 * edge.arc, tx - 8 - 2 * edge.arc
        path = f"M{_num(sx)},{_num(sy)}H{_num(ax)}V{_num(lane)}H{_num(bx)}V{_num(ty)}H{_num(tx)}"
        return _arrow(path, tx, ty)
    if sy == ty:
        return _arrow(f"M{_num(sx)},{_num(sy)}H{_num(tx)}", tx, ty)
    # Between rows: bend in the gap next to whichever end sits on the lower (branch) row.
    if layout.row[t] > layout.row[s]:
        column = layout.col[s] + 1
        bend_end = layout.col_left[column] + 4
        bend_start = sx
    else:
        column = layout.col[t]
        bend_end = tx
        bend_start = min(layout.col_left[column] - COL_GAP + 4, tx - 12)
    half = (bend_end - bend_start) / 2
    path = (
        f"M{_num(sx)},{_num(sy)}H{_num(bend_start)}"
        f"C{_num(bend_start + half)},{_num(sy)} {_num(bend_end - half)},{_num(ty)} {_num(bend_end)},{_num(ty)}"
        f"H{_num(tx)}"
    )
    return _arrow(path, tx, ty)


def _window_svg(layout: _Layout, nodes: list[Node], facts: NetworkFacts, source: int, targets: list[int]) -> list[str]:
    """Each window (F×F×D) drawn on the input volume it slides over, projected onto one output neuron."""
    parts: list[str] = []
    box = layout.boxes[source]
    x0, ymid = layout.x0(source), layout.y(source)
    shape = nodes[source].shape
    top = ymid - box.h / 2
    y = top + 3
    for target in targets:
        layer = facts.layers[nodes[target].head]
        window = layer.window
        if window is None:
            continue
        eff = window.effective_kernel
        fh = _clamp(box.h * eff[0] / max(shape.height, 1), 4, box.h * 0.5)
        fw = _clamp(box.ox * eff[1] / max(shape.width, 1), 3, box.ox * 0.6)
        if y + fh > top + box.h - 2:
            y = top + 3
        # A filter that mixes channels spans the whole depth; a per-channel filter or a pool window one channel.
        d = box.d if layer.traits.mixes_channels else min(box.d, 4.0)
        wx = x0 + box.d - d
        parts.append('<g class="win">')
        parts.extend(_cuboid(wx, y + fh / 2, d, fh, fw, fw * 0.45 / 0.62))
        parts.append("</g>")
        neighbour = (layout.band[target], layout.row[target], layout.col[target]) == (
            layout.band[source],
            layout.row[source],
            layout.col[source] + 1,
        )
        if neighbour:
            tbox = layout.boxes[target]
            px = layout.x0(target) + tbox.d * 0.5
            py = layout.y(target) - tbox.h * 0.15
            parts.append(
                f'<path class="proj" d="M{_num(wx + d)},{_num(y)}L{_num(px)},{_num(py)}'
                f'M{_num(wx + d)},{_num(y + fh)}L{_num(px)},{_num(py)}"/>'
            )
        y += fh + 3
    return parts


def _node_svg(layout: _Layout, node: Node, facts: NetworkFacts, severity: str, tooltip: str) -> list[str]:
    box = layout.boxes[node.id]
    x0, ymid = layout.x0(node.id), layout.y(node.id)
    kind = node.kind
    if kind == "volume" and facts.layers[node.head].traits.pooling:
        kind = "pool"
    parts = [
        f'<g class="node k-{kind}" data-volume="{_esc(node.name)}" data-kind="{node.kind}">',
        f"<title>{_esc(tooltip)}</title>",
    ]
    if node.kind == "merge":
        cx, r = x0 + MERGE_RADIUS, MERGE_RADIUS
        parts.append(f'<circle class="box" cx="{_num(cx)}" cy="{_num(ymid)}" r="{_num(r)}"/>')
        mark = facts.layers[node.head].spec.merge_mark()
        low, high = _num(ymid - 6), _num(ymid + 6)
        # ⊕ for add, ⊖ for subtract, ⊗ for multiply, ‖ for concat, ÷ for average, ∧ for maximum, ∨ for minimum,
        # Σ for split attention (a weighted sum of branches), drawn (a glyph would depend on the fonts)
        if mark == "plus":
            marks = f"M{_num(cx - 6)},{_num(ymid)}H{_num(cx + 6)}M{_num(cx)},{low}V{high}"
        elif mark == "minus":
            marks = f"M{_num(cx - 6)},{_num(ymid)}H{_num(cx + 6)}"
        elif mark == "times":
            marks = f"M{_num(cx - 4.2)},{_num(ymid - 4.2)}L{_num(cx + 4.2)},{_num(ymid + 4.2)}"
            marks += f"M{_num(cx - 4.2)},{_num(ymid + 4.2)}L{_num(cx + 4.2)},{_num(ymid - 4.2)}"
        elif mark == "mean":
            marks = f"M{_num(cx - 6)},{_num(ymid)}H{_num(cx + 6)}"
            marks += f"M{_num(cx)},{low}V{_num(ymid - 4)}M{_num(cx)},{_num(ymid + 4)}V{high}"
        elif mark in ("max", "min"):
            tip, ends = (low, _num(ymid + 5)) if mark == "max" else (high, _num(ymid - 5))
            marks = f"M{_num(cx - 5)},{ends}L{_num(cx)},{tip}L{_num(cx + 5)},{ends}"
        elif mark == "select":
            marks = (
                f"M{_num(cx + 4)},{low}H{_num(cx - 4)}L{_num(cx + 1)},{_num(ymid)}L{_num(cx - 4)},{high}H{_num(cx + 4)}"
            )
        else:
            marks = f"M{_num(cx - 2.5)},{low}V{high}M{_num(cx + 2.5)},{low}V{high}"
        parts.append(f'<path class="box" d="{marks}" stroke-width="1.6"/>')
    else:
        parts.append('<g class="box">')
        parts.extend(_cuboid(x0, ymid, box.d, box.h, box.ox, box.oy))
        parts.append("</g>")
    if severity:
        top = ymid - box.h / 2 - box.oy - 3
        parts.append(
            f'<rect class="o-{severity}" x="{_num(x0 - 3)}" y="{_num(top)}" width="{_num(box.width + 6)}"'
            f' height="{_num(box.h + box.oy + 6)}" rx="3"/>'
        )
    column = layout.col[node.id]
    cx = layout.col_left[column] + (layout.col_width[column] - COL_GAP) / 2
    y = layout.label_top[(layout.band[node.id], layout.row[node.id])]
    for cls, text in box.lines:
        y += LINE
        parts.append(f'<text class="{cls}" x="{_num(cx)}" y="{_num(y - 3)}" text-anchor="middle">{_esc(text)}</text>')
    parts.append("</g>")
    return parts


def _fold_svg(layout: _Layout, nodes: list[Node], fold: Fold) -> list[str]:
    members = range(fold.start, fold.start + fold.length)
    band = layout.band[fold.start]
    columns = [layout.col[n] for n in members]
    rows = sorted({layout.row[n] for n in members})
    left = layout.col_left[min(columns)] - 8
    right = layout.col_left[max(columns)] + layout.col_width[max(columns)] - COL_GAP + 8
    top = layout.row_top[(band, rows[0])]
    last = (band, rows[-1])
    lines = max(len(layout.boxes[n].lines) for n in members if layout.row[n] == rows[-1])
    bottom = layout.label_top[last] + lines * LINE + 16
    first_layer = nodes[fold.start].layers[0]
    last_layer = nodes[fold.start + fold.length * fold.count - 1].layers[-1]
    label = f"×{fold.count}: block repeated {fold.count}× (layers {first_layer}–{last_layer})"
    return [
        f'<rect class="fold" x="{_num(left)}" y="{_num(top)}" width="{_num(right - left)}"'
        f' height="{_num(bottom - top)}" rx="6"/>',
        f'<text class="fold-label" x="{_num(left + 6)}" y="{_num(bottom - 5)}">{_esc(label)}</text>',
    ]


def _severities(findings: list[Finding], node_of_layer: list[int], hidden: dict[int, int]) -> dict[int, list[Finding]]:
    by_node: dict[int, list[Finding]] = {}
    for finding in findings:
        if finding.layer is None or finding.severity.value == "info":
            continue
        node = node_of_layer[finding.layer]
        by_node.setdefault(hidden.get(node, node), []).append(finding)
    return by_node


def _tooltip(facts: NetworkFacts, node: Node) -> str:
    if node.head < 0:
        return f"input {facts.input_shape}"
    lines = []
    for index in node.layers:
        layer = facts.layers[index]
        settings = layer.spec.notation(layer.window)
        lines.append(
            f"layers[{index}] {layer.name}: {layer.type}{' ' + settings if settings else ''}"
            f" {layer.input_shape} → {layer.output_shape}, {layer.params:,} params"
        )
    return "\n".join(lines)


def draw_svg(checked: CheckedSpec) -> str:
    """The network of one checked spec as a standalone SVG document (text, ends with a newline)."""
    facts = checked.facts
    nodes, node_of_layer = build_nodes(facts)
    folds = fold_nodes(facts, nodes)
    hidden = {
        fold.start + k * fold.length + offset: fold.start + offset
        for fold in folds
        for k in range(1, fold.count)
        for offset in range(fold.length)
    }
    flagged = _severities(checked.findings, node_of_layer, hidden)
    severity: dict[int, str] = {}
    boxes: dict[int, _Box] = {}
    for node in nodes:
        found = flagged.get(node.id, [])
        if found:
            worst = max(found, key=lambda f: f.severity.rank)
            severity[node.id] = worst.severity.value
        codes = " ".join(dict.fromkeys(f.code for f in sorted(found, key=lambda f: (-f.severity.rank, f.code))))
        boxes[node.id] = _box(node, codes, severity.get(node.id, ""))

    title = facts.name or checked.file
    subtitle = (
        f"{facts.input_shape} → {facts.output_shape} · {facts.total_params:,} params"
        f" · {human_count(facts.total_macs)} MACs · {plural(len(facts.layers), 'layer')}"
    )
    network_codes = " ".join(dict.fromkeys(f"{f.code} {f.severity.value}" for f in checked.findings if f.layer is None))
    header_lines = 2 + (1 if network_codes else 0)
    top = MARGIN + header_lines * 18 + 8
    layout = _layout(nodes, folds, boxes, top)
    width = max(
        layout.width,
        2 * MARGIN + _text_width(printable(title), 15) * 1.1,
        2 * MARGIN + _text_width(subtitle, 11),
        2 * MARGIN + _text_width(network_codes, 10),
    )
    height = layout.height

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}"'
        f' viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-label="{_esc(title)}"'
        ' class="convcalc-net">',
        f"<title>{_esc(title)}</title>",
        f"<style>{STYLE}</style>",
        f'<rect class="bg" width="{_num(width)}" height="{_num(height)}"/>',
        f'<text class="title" x="{_num(MARGIN)}" y="{_num(MARGIN + 12)}">{_esc(title)}</text>',
        f'<text class="sub" x="{_num(MARGIN)}" y="{_num(MARGIN + 30)}">{_esc(subtitle)}</text>',
    ]
    if network_codes:
        worst = max((f for f in checked.findings if f.layer is None), key=lambda f: f.severity.rank)
        cls = worst.severity.value if worst.severity.value != "info" else "cap"
        out.append(f'<text class="{cls}" x="{_num(MARGIN)}" y="{_num(MARGIN + 48)}">{_esc(network_codes)}</text>')
    for fold in folds:
        out.extend(_fold_svg(layout, nodes, fold))
    out.append('<g class="edges">')
    out.extend(_edge_svg(layout, edge) for edge in layout.edges)
    out.append("</g>")
    readers: dict[int, list[int]] = {}
    for edge in layout.edges:
        if nodes[edge.target].head >= 0 and facts.layers[nodes[edge.target].head].window is not None:
            readers.setdefault(edge.source, []).append(edge.target)
    for node in layout.nodes:
        out.extend(_node_svg(layout, node, facts, severity.get(node.id, ""), _tooltip(facts, node)))
    for node in layout.nodes:
        if node.kind in {"input", "volume"} and node.id in readers:
            out.extend(_window_svg(layout, nodes, facts, node.id, readers[node.id]))
    out.append("</svg>")
    return "\n".join(out) + "\n"
