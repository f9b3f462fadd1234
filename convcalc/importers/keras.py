"""Keras models as convcalc specs, read as data: the architecture JSON in a ``.keras`` archive or from
``model.to_json()``, never the model itself.

TensorFlow's security policy treats a model file as a program: loading one may run code (a Lambda layer
carries marshalled bytecode). So this module only unzips and parses JSON, maps every layer it knows onto
spec layers, and refuses everything else by name. It imports neither TensorFlow nor Keras.

Naming: each spec layer carries its Keras layer's name. A Keras layer with a fused activation becomes two
spec layers, the one holding the parameters under the Keras name and the activation as ``<name>/<kind>``
(Keras names cannot contain "/", so these never collide); a nested model's layers are named
``<model>/<layer>``. Later layers that read a Keras layer read the last spec layer it became.
"""

from __future__ import annotations

import heapq
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from convcalc.analysis import NetworkFacts, Shape
from convcalc.importers.confirming import UNFORESEEN, confirmed, rearranged_output
from convcalc.importers.keras_operations import is_operation, read_operation
from convcalc.importers.names import UniqueNames
from convcalc.layers import REGISTRY
from convcalc.layers.keras import REARRANGING, KerasLayer, Mapped, Refusal, Source, Step, Tensor, short_json
from convcalc.loading import (
    MAX_PROBLEMS,
    JsonPath,
    Problem,
    SpecError,
    capped,
    format_path,
    open_regular,
    read_text,
)
from convcalc.spec import INPUT_NAME, MAX_LAYERS

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""The largest architecture JSON read: config.json in an archive (checked before decompressing), or a
model.to_json() file. Keras writes about 1.2 KiB a layer (ResNet50's is 0.2 MiB), so this admits 7,000 Keras
layers; what convcalc checks is capped by the spec's own limits after conversion."""
MAX_ARCHIVE_MEMBERS = 10_000
"""The most members a .keras archive may declare (Keras writes three: config.json, metadata.json and the
weights), checked in the archive's end record before its directory is read."""
MAX_DIRECTORY_BYTES = 2 * 1024 * 1024
"""The largest directory (list of members) an archive may declare, checked with the member count."""
MAX_MODEL_NESTING = 16
"""Models nested deeper than this are refused (the walk recurses once per nested model)."""
CONFIG_MEMBER = "config.json"

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MODEL_CLASSES = ("Functional", "Sequential", "Model")
_KERAS_MODULES = ("keras", "tf_keras")


@dataclass(frozen=True)
class _Ref:
    """One input of a layer call: the Keras layer read and the shape Keras recorded for it, if any."""

    layer: str
    node: int
    tensor: int
    shape: Any = None


@dataclass
class _Check:
    """Facts to confirm once the spec is analysed: the input shapes Keras recorded, the output it declares."""

    layer: KerasLayer
    sources: list[str]
    """The spec layers (or "input") whose outputs the Keras layer reads, one per recorded shape."""
    shapes: list[Any]
    output: Shape | None
    last: int
    """The index of the expansion's last spec layer, whose output the Keras layer's is."""


# ---------------------------------------------------------------- reading files


def is_keras_file(path: str) -> bool:
    """True for a Keras model file (a ``.keras`` zip archive, a legacy HDF5 file, or ``model.to_json()``
    output: a JSON object with "class_name" and "config"); False for a convcalc spec or anything unreadable.

    Never raises; reads at most the config size limit.
    """
    try:
        with open_regular(path) as handle:
            head = handle.read(8)
            if head.startswith(_ZIP_MAGIC) or head.startswith(_HDF5_MAGIC) or Path(path).suffix.lower() == ".keras":
                return True
            raw = head + handle.read(MAX_CONFIG_BYTES)
    except (SpecError, OSError, ValueError):
        return False
    if b'"class_name"' not in raw:  # cheap: a convcalc spec never has this key
        return False
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "class_name" in data and isinstance(data.get("config"), dict)


InputSize = tuple[int, int, int | None]
"""A size to import a model at whose input is not fixed: H, W and, when the model leaves it open too, D."""


def spec_from_keras_file(path: str, input_size: InputSize | None = None) -> dict[str, Any]:
    """The convcalc spec of a Keras model file, as JSON data that validates.

    Reads only the architecture (config.json of a ``.keras`` archive, or a ``model.to_json()`` file),
    never the weights, and runs nothing from the file. Raises :class:`SpecError` naming every layer or
    option it cannot import, and for corrupt, oversized or non-Keras files. ``input_size`` fills the sizes
    a model leaves open (``Input(shape=(None, None, 3))``; the CLI's ``--input 224x224``).
    """
    return spec_from_keras_config(_read_model_json(path), path, input_size)


def _file_error(path: str, message: str, line: int | None = None, column: int | None = None) -> SpecError:
    return SpecError(path, [Problem((), message, line, column)])


def _read_model_json(path: str) -> Any:
    with open_regular(path, "Keras model file") as handle:
        try:
            head = handle.read(8)
            handle.seek(0)
        except OSError as exc:
            raise _file_error(path, f"cannot read: {exc.strerror or exc}") from None
        if head.startswith(_HDF5_MAGIC):
            raise _file_error(
                path,
                "is a legacy HDF5 (.h5) Keras file, which convcalc cannot read without HDF5 libraries;"
                " save the model as .keras (model.save('model.keras')) or write model.to_json() to a file",
            )
        if head.startswith(_ZIP_MAGIC) or Path(path).suffix.lower() == ".keras":
            return _parse(path, _read_archive_config(path, handle), CONFIG_MEMBER)
    return _parse(path, read_text(path, MAX_CONFIG_BYTES), None)


def _read_archive_config(path: str, handle: BinaryIO) -> str:
    """config.json of a .keras archive, refusing missing, oversized or undecodable members, and archives
    whose directory is too large to list (checked in its end record, before zipfile reads the directory)."""
    try:
        declared = _declared_directory(handle)
        if declared is not None:
            members, directory = declared
            if members > MAX_ARCHIVE_MEMBERS:
                message = f"the archive declares {members:,} members; a .keras model has a handful"
                raise _file_error(path, f"{message} and the limit is {MAX_ARCHIVE_MEMBERS:,}")
            if directory > MAX_DIRECTORY_BYTES:
                message = f"the archive's directory is {directory:,} bytes"
                raise _file_error(path, f"{message}; the limit is {MAX_DIRECTORY_BYTES:,}")
        with zipfile.ZipFile(handle) as archive:
            if len(archive.filelist) > MAX_ARCHIVE_MEMBERS:  # in case the end record understated it
                message = f"the archive holds {len(archive.filelist):,} members"
                raise _file_error(path, f"{message}; the limit is {MAX_ARCHIVE_MEMBERS:,}")
            try:
                info = archive.getinfo(CONFIG_MEMBER)
            except KeyError:
                names = archive.namelist()
                shown = ", ".join(repr(n) for n in names[:8]) + (", …" if len(names) > 8 else "")
                message = f"the archive has no {CONFIG_MEMBER}, so it is not a .keras model"
                raise _file_error(path, f"{message} (it holds {shown or 'nothing'})") from None
            # The declared size is checked before anything is inflated, and the read is capped in case it lies.
            if info.file_size > MAX_CONFIG_BYTES:
                message = f"{CONFIG_MEMBER} would inflate to {info.file_size:,} bytes"
                raise _file_error(path, f"{message}; the limit is {MAX_CONFIG_BYTES:,}")
            with archive.open(info) as member:
                raw = member.read(MAX_CONFIG_BYTES + 1)
    except SpecError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, struct.error) as exc:
        raise _file_error(path, f"is not a readable .keras (zip) archive: {exc}") from None
    except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encryption
        raise _file_error(path, f"cannot read {CONFIG_MEMBER} from the archive: {exc}") from None
    except (OSError, ValueError) as exc:
        raise _file_error(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise _file_error(path, f"{CONFIG_MEMBER} is larger than the limit of {MAX_CONFIG_BYTES:,} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(path, f"{CONFIG_MEMBER} is not UTF-8 text (bad byte at offset {exc.start})") from None


_END = struct.Struct("<4s4H2LH")
"""A zip's end-of-central-directory record: signature, disks, member counts, directory size and offset,
comment length."""
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")


def _declared_directory(handle: BinaryIO) -> tuple[int, int] | None:
    """The member count and directory size a zip archive declares in its end record (zip64's when there is
    one), found where zipfile looks for it; None when there is none (zipfile then refuses the file).

    Reads at most 64 KiB from the end, so an archive listing a million members is refused without listing
    them."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    window = min(size, _END.size + 0xFFFF)  # the record, then a comment of up to 64 KiB
    handle.seek(size - window)
    tail = handle.read(window)
    if tail[-_END.size : -_END.size + 4] == _END_SIGNATURE and tail[-2:] == b"\0\0":
        at = len(tail) - _END.size
    else:
        at = tail.rfind(_END_SIGNATURE)
    if at < 0 or at + _END.size > len(tail):
        return None
    fields = _END.unpack_from(tail, at)
    members, directory = fields[4], fields[5]
    locator_at = at - _END64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_at = size - window + locator_at - _END64.size
        if record_at >= 0:
            handle.seek(record_at)
            record = handle.read(_END64.size)
            if len(record) == _END64.size and record[:4] == b"PK\x06\x06":
                zip64 = _END64.unpack(record)
                members, directory = zip64[7], zip64[8]
    handle.seek(0)
    return members, directory


def _parse(path: str, text: str, member: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if member is None:
            raise _file_error(path, f"malformed JSON: {exc.msg}", exc.lineno, exc.colno) from None
        where = f"{member} line {exc.lineno} column {exc.colno}"
        raise _file_error(path, f"malformed JSON in {where}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise _file_error(path, f"malformed JSON: {exc}") from None


# ---------------------------------------------------------------- config → spec


def spec_from_keras_config(
    data: Any, file: str = "<keras config>", input_size: InputSize | None = None
) -> dict[str, Any]:
    """The convcalc spec of a parsed Keras model config (what ``model.to_json()`` writes).

    ``input_size``: see :func:`spec_from_keras_file`.

    The spec is validated, analysed, and checked against every input shape Keras recorded in the config
    before it is returned; any disagreement is refused rather than reported as a wrong count.
    """
    if not isinstance(data, dict) or not isinstance(data.get("class_name"), str):
        raise _file_error(
            file, f"is not a Keras model config: expected an object with 'class_name' and 'config' (got {_kind(data)})"
        )
    importer = _Importer(input_size=input_size)
    return confirmed(file, importer.run(data), importer)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object without 'class_name'"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else type(value).__name__


class _TooManyLayers(Exception):
    """The walk has emitted ``MAX_LAYERS`` spec layers: it stops rather than build more."""


_LAYER_LIMIT = f"convcalc checks at most {MAX_LAYERS:,}"


@dataclass
class _Importer:
    """One walk over a model config, emitting spec layers in order and collecting problems."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    origins: list[KerasLayer] = field(default_factory=list)
    """The Keras layer each spec layer came from (for messages)."""
    problems: list[Problem] = field(default_factory=list)
    checks: list[_Check] = field(default_factory=list)
    input_shape: list[int] | None = None
    input_layer: KerasLayer | None = None
    names: UniqueNames = field(default_factory=UniqueNames)
    unsupported: bool = False
    input_size: InputSize | None = None
    """The size to fill the model's open input sizes with (None: they must be fixed)."""
    frozen: bool = False
    """The model itself is not trainable: Keras then trains none of its weights, whatever its layers say."""

    def run(self, model: dict[str, Any]) -> dict[str, Any] | None:
        path: JsonPath = ()
        config = model.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        trainable = config.get("trainable", True) if isinstance(config, dict) else True
        if type(trainable) is not bool:
            self.problems.append(
                Problem(("config", "trainable"), f"must be true or false (got {short_json(trainable)})")
            )
            return None
        self.frozen = not trainable
        try:
            output = self._model(model, path, "", None, 0)
        except _TooManyLayers:
            self.problems.append(Problem(path, f"the model makes more than {MAX_LAYERS:,} spec layers; {_LAYER_LIMIT}"))
            return None
        if output is not None and output.layout and not self.problems:
            self.problems.append(Problem(path, rearranged_output(output.layout, "Permute or Reshape")))
        if self.problems:
            return None
        if self.input_shape is None or not self.layers:
            self.problems.append(Problem(path, "the model has no layers convcalc can count"))
            return None
        spec: dict[str, Any] = {}
        if isinstance(name, str) and name:
            spec["name"] = name
        spec["input"] = self.input_shape
        spec["layers"] = self.layers
        return spec

    def report(self) -> list[Problem]:
        problems = list(capped(self.problems, most=MAX_PROBLEMS - 1 if self.unsupported else MAX_PROBLEMS))
        if self.unsupported:
            problems.append(
                Problem(
                    (),
                    f"convcalc imports these Keras layers: {', '.join(sorted(REGISTRY.keras_readers))}"
                    " (and nested models)",
                )
            )
        return problems

    # -- models

    def _model(
        self, model: dict[str, Any], path: JsonPath, prefix: str, feed: Tensor | None, depth: int
    ) -> Tensor | None:
        """Emit one (possibly nested) model; returns the tensor of its output, or None after a problem."""
        class_name = model.get("class_name")
        config = model.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        label = f"model {name!r} ({class_name})" if isinstance(name, str) else f"model of class {class_name!r}"
        if depth > MAX_MODEL_NESTING:
            self.problems.append(Problem(path, f"{label}: models nested more than {MAX_MODEL_NESTING} deep"))
            return None
        if class_name not in _MODEL_CLASSES or not _is_keras_module(model):
            self.problems.append(
                Problem(
                    path,
                    f"{label} is not a Keras Functional or Sequential model; convcalc imports only those"
                    " (a subclassed model's architecture is Python code, not data)",
                )
            )
            return None
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            self.problems.append(
                Problem(
                    path,
                    f"{label} has no list of layers in its config: a subclassed model's architecture is Python"
                    " code, not data, so convcalc cannot import it",
                )
            )
            return None
        try:
            if class_name == "Sequential":
                return self._sequential(config, path, prefix, feed, depth)
            return self._functional(config, path, prefix, feed, depth)
        except Refusal as refusal:
            self.problems.append(_problem(refusal))
            return None

    def _sequential(
        self, config: dict[str, Any], path: JsonPath, prefix: str, feed: Tensor | None, depth: int
    ) -> Tensor | None:
        current = feed
        for i, raw in enumerate(config["layers"]):
            layer = _keras_layer(raw, (*path, "config", "layers", i))
            if layer.class_name == "InputLayer":
                if i != 0:
                    raise layer.refuse("an InputLayer may only come first in a Sequential model")
                if feed is None:
                    current = self._define_input(layer, _input_batch_shape(layer))
                continue
            if current is None:
                # No InputLayer: the shape is on the model (build_input_shape) or, in Keras 2, the first layer.
                shape = config.get("build_input_shape") or layer.config.get("batch_input_shape")
                current = self._define_input(layer, shape or layer.config.get("batch_shape"))
            recorded = _build_input_shape(raw)
            current = self._layer(layer, [current], [recorded], prefix, depth)
        if current is None:
            raise Refusal(path, "the Sequential model has no layers")
        return current

    def _functional(
        self, config: dict[str, Any], path: JsonPath, prefix: str, feed: Tensor | None, depth: int
    ) -> Tensor | None:
        model_name = config.get("name")
        entries: list[tuple[KerasLayer, list[_Ref]]] = []
        for i, raw in enumerate(config["layers"]):
            layer = _keras_layer(raw, (*path, "config", "layers", i))
            entries.append((layer, _inbound(layer)))
        inputs = _endpoints(config.get("input_layers"), (*path, "config", "input_layers"), model_name, "input")
        outputs = _endpoints(config.get("output_layers"), (*path, "config", "output_layers"), model_name, "output")
        tensors: dict[str, Tensor] = {}
        for layer, refs in _topological(entries, path):
            if layer.class_name == "InputLayer":
                if layer.name != inputs[0]:
                    raise layer.refuse(f"a second model input (the model's input is {inputs[0]!r})")
                tensors[layer.name] = feed if feed is not None else self._define_input(layer, _input_batch_shape(layer))
                continue
            if not refs:
                raise layer.refuse("is not connected to any input")
            sources = []
            for ref in refs:
                source = tensors.get(ref.layer)
                if source is None:  # the topological order guarantees it exists unless it failed already
                    raise layer.refuse(f"reads {ref.layer!r}, which could not be imported")
                sources.append(source)
            tensors[layer.name] = self._layer(layer, sources, [ref.shape for ref in refs], prefix, depth)
        output = tensors.get(outputs[0])
        if output is None:
            raise Refusal((*path, "config", "output_layers"), f"the output layer {outputs[0]!r} is not in the model")
        # Every layer of a Keras graph leads to its output, which therefore comes last; a layer that does not
        # would add parameters Keras never builds.
        last = self.layers[-1]["name"] if self.layers else INPUT_NAME
        if output.name != last and not self.problems:
            stray = self.origins[-1] if self.origins else None
            raise Refusal(
                stray.path if stray else path,
                f"{stray.label if stray else 'a layer'}: does not lead to the model's output {outputs[0]!r}",
            )
        return output

    def _define_input(self, layer: KerasLayer, batch_shape: Any) -> Tensor:
        if self.input_shape is not None:
            raise layer.refuse("a second model input: convcalc networks have exactly one input")
        if not isinstance(batch_shape, list) or not batch_shape:
            raise layer.refuse(
                "the model has no fixed input shape; build it with one, e.g. keras.Input(shape=(224, 224, 3))"
            )
        dims = batch_shape[1:]
        if len(dims) not in (1, 3):
            raise layer.refuse(
                f"the input has shape {_show_shape(batch_shape)}; convcalc imports images (batch, H, W, D)"
                " or flat vectors (batch, n)"
            )
        if len(dims) == 3 and self.input_size is not None:
            dims = self._sized(layer, batch_shape)
        if not all(type(d) is int for d in dims):
            raise layer.refuse(
                f"the input shape {_show_shape(batch_shape)} is not fixed; convcalc needs every size of"
                " H×W×D: pass the size to check it at, e.g. --input 224x224 (or build the model with"
                " keras.Input(shape=(224, 224, 3)))"
            )
        self.input_shape = [1, 1, dims[0]] if len(dims) == 1 else list(dims)
        self.input_layer = layer
        return Tensor(INPUT_NAME, len(batch_shape))

    def _sized(self, layer: KerasLayer, batch_shape: list[Any]) -> list[Any]:
        """The model's H×W×D with the open sizes taken from ``input_size``; a size the model fixes stays,
        and one the option contradicts is refused (the network was built for it)."""
        assert self.input_size is not None
        height, width, depth = self.input_size
        given = f"{height}x{width}" + (f"x{depth}" if depth is not None else "")
        sizes: list[Any] = []
        for axis, model_size, wanted in zip(
            ("height", "width", "depth"), batch_shape[1:], self.input_size, strict=True
        ):
            if type(model_size) is int:
                if wanted is not None and wanted != model_size:
                    raise layer.refuse(
                        f"the model's input is {_show_shape(batch_shape)}: its {axis} is fixed at {model_size},"
                        f" but --input {given} asks for {wanted}"
                    )
                sizes.append(model_size)
            elif wanted is None:
                raise layer.refuse(
                    f"the input shape {_show_shape(batch_shape)} leaves the depth open too: pass it, e.g."
                    f" --input {given}x3"
                )
            else:
                sizes.append(wanted)
        return sizes

    # -- layers

    def _layer(self, layer: KerasLayer, sources: list[Tensor], recorded: list[Any], prefix: str, depth: int) -> Tensor:
        """Emit the spec layers of one Keras layer; a problem is recorded and the walk goes on."""
        try:
            if layer.class_name in _MODEL_CLASSES:
                if len(sources) != 1:
                    raise layer.refuse(f"a nested model with {len(sources)} inputs; convcalc networks have one")
                output = self._model(layer.raw, layer.path, f"{prefix}{layer.name}/", sources[0], depth + 1)
                return output if output is not None else sources[0]
            mapped = self._map(layer, sources)
            # Keras trains a layer's weights by its own flag and the outermost model's: a nested model frozen in
            # its constructor leaves its layers trainable (the outer model collects their weights), the outermost
            # one trains none (Model(..., trainable=False)); `model.trainable = False` writes False into every
            # layer's config.
            frozen = self.frozen or not layer.flag("trainable")
        except Refusal as refusal:
            self.problems.append(_problem(refusal))
            return sources[0]
        except UNFORESEEN as error:
            message = (
                f"convcalc cannot read this layer ({type(error).__name__}: its config is not what its reader expects)"
            )
            self.problems.append(_problem(layer.refuse(message)))
            return sources[0]
        if not mapped.layers:  # a linear activation (or a step of a channel pattern): later layers read its input
            return Tensor(sources[0].name, mapped.rank, mapped.layout, mapped.groups, mapped.parts)
        if len(self.layers) + len(mapped.layers) > MAX_LAYERS:
            raise _TooManyLayers
        base = self.names.take(f"{prefix}{layer.name}")
        outputs: list[str] = []
        for k, body in enumerate(mapped.layers):
            name = base if k == 0 else self.names.take(f"{base}/{body.get('kind', body['type'])}")
            spec_layer = {**body, "name": name, **({"trainable": False} if frozen else {})}
            wires = _wires(mapped, k, len(sources))
            reads = [sources[w.index].name if isinstance(w, Source) else outputs[w.index] for w in wires]
            last = self.layers[-1]["name"] if self.layers else INPUT_NAME
            if reads != [last]:  # a merge reads two or more, so it always names them
                spec_layer["inputs"] = reads
            self.layers.append(spec_layer)
            self.origins.append(layer)
            outputs.append(name)
        # Keras's shapes of a rearranged tensor (D×H×W, H×W×g×D/g) are no volume convcalc computes.
        shapes = [] if any(source.layout for source in sources) else recorded
        self.checks.append(_Check(layer, [s.name for s in sources], shapes, mapped.output, len(self.layers) - 1))
        return Tensor(outputs[-1], mapped.rank, mapped.layout, mapped.groups, mapped.parts)

    def _map(self, layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        if is_operation(layer.raw):  # x + 3.0: an operation node, whose class names are those of merge layers
            return read_operation(layer, sources)
        handler = REGISTRY.keras_readers.get(layer.class_name)
        if handler is None or not _is_keras_module(layer.raw):
            self.unsupported = True
            raise layer.refuse(_unsupported_reason(layer))
        _refuse_changed_weights(layer)
        merge = any(layer.class_name in kind.keras_readers for kind in REGISTRY.kinds if kind.traits.merge)
        if merge and len(sources) < 2:
            raise layer.refuse(f"a merge needs at least two inputs (got {len(sources)})")
        if not merge and len(sources) != 1:
            raise layer.refuse(f"reads {len(sources)} tensors; convcalc layers other than merges read one")
        if any(source.layout for source in sources) and layer.class_name not in REARRANGING:
            raise layer.refuse(
                "reads a tensor a Permute or Reshape rearranged; convcalc imports those only as a channel split,"
                " channel shuffle, depth_to_space or space_to_depth"
            )
        data_format = layer.config.get("data_format")
        if data_format not in (None, "channels_last"):
            raise layer.refuse(
                f"data_format {data_format!r}: convcalc volumes are H×W×D (channels_last)", "data_format"
            )
        return handler(layer, sources)

    # -- after validation

    def translate(self, problem: Problem) -> Problem:
        """A validation problem of the generated spec, placed on the Keras layer it came from."""
        path = problem.path
        origin: KerasLayer | None = None
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int) and path[1] < len(self.origins):
            origin = self.origins[path[1]]
        elif path[:1] == ("input",):
            origin = self.input_layer
        field_name = format_path(path[2:]) if origin is not None and path[:1] == ("layers",) else format_path(path)
        if origin is None:
            return Problem((), f"the imported spec is invalid: {field_name}: {problem.message}")
        return Problem(origin.path, f"{origin.label}: cannot be expressed in a spec: {field_name}: {problem.message}")

    def confirm(self, facts: NetworkFacts) -> list[Problem]:
        """Compare the analysis with the shapes Keras recorded and declared."""
        problems: list[Problem] = []
        shapes = {layer.name: layer.output_shape for layer in facts.layers}
        shapes[INPUT_NAME] = facts.input_shape
        for check in self.checks:
            output = facts.layers[check.last].output_shape
            if check.output is not None and check.output != output:
                problems.append(
                    _problem(check.layer.refuse(f"declares an output of {check.output} but its input gives {output}"))
                )
            for recorded, source in zip(check.shapes, check.sources, strict=False):
                expected, computed = _volume(recorded), shapes[source]
                if expected is not None and expected != computed:
                    problems.append(
                        _problem(
                            check.layer.refuse(
                                f"Keras records its input as {expected} but the imported spec computes {computed};"
                                " the config is inconsistent or uses semantics convcalc does not model, so the"
                                " import is refused rather than wrong"
                            )
                        )
                    )
        return problems


# ---------------------------------------------------------------- config helpers


def _wires(mapped: Mapped, k: int, sources: int) -> list[Source | Step]:
    """What the k-th body of a mapping reads: as the reader wired it, or a chain from the layer's sources."""
    if mapped.reads is not None:
        return mapped.reads[k]
    return [Step(k - 1)] if k else [Source(i) for i in range(sources)]


def _problem(refusal: Refusal) -> Problem:
    return Problem(refusal.path, refusal.message)


def _keras_layer(raw: Any, path: JsonPath) -> KerasLayer:
    if not isinstance(raw, dict) or not isinstance(raw.get("class_name"), str):
        raise Refusal(path, "a layer must be an object with a 'class_name'")
    config = raw.get("config")
    if not isinstance(config, dict):
        raise Refusal(path, f"layer of class {raw['class_name']!r} has no config object")
    name = config.get("name", raw.get("name"))
    if not isinstance(name, str) or not name:
        raise Refusal(path, f"layer of class {raw['class_name']!r} has no name")
    return KerasLayer(name, raw["class_name"], config, path, raw)


_CONVCALC_PACKAGE = 'register_keras_serializable(package="convcalc")'
"""In a kind's ``keras_source``: a class convcalc defines itself, which its export registers as ``convcalc>Name``."""


def _is_keras_module(raw: dict[str, Any]) -> bool:
    # A class from another package may reuse a Keras name (a custom "Conv2D"); its weights are its own.
    module = raw.get("module")
    registered = raw.get("registered_name")
    class_name = raw.get("class_name")
    op = REGISTRY.keras_ops.get(str(class_name))
    defined_here = op is not None and _CONVCALC_PACKAGE in op.keras_source
    if registered == f"convcalc>{class_name}":
        # A layer Keras lacks that convcalc's export defines (L2Pooling2D, ReflectionPadding2D …): read from its
        # config, as every layer is, never run.
        return defined_here
    if registered not in (None, class_name) or defined_here:
        return False  # another package's class, or one of the name of convcalc's own without its registration
    return module is None or (isinstance(module, str) and module.split(".")[0] in _KERAS_MODULES)


def _inbound(layer: KerasLayer) -> list[_Ref]:
    """The inputs of a functional layer's single call (Keras 3 or Keras 2 config format)."""
    nodes = layer.raw.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        raise layer.refuse("'inbound_nodes' must be a list")
    if len(nodes) > 1:
        raise layer.refuse(
            f"is called {len(nodes)} times (a shared layer); convcalc gives each layer one input and its own weights"
        )
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}} holding serialised tensors
        if _keras_tensors(node.get("kwargs")):
            raise layer.refuse("passes tensors as keyword arguments, which convcalc does not model")
        refs = []
        for tensor in _keras_tensors(node.get("args")):
            config = tensor.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            refs.append(_ref(layer, history, config.get("shape") if isinstance(config, dict) else None))
        return refs
    if isinstance(node, list):  # Keras 2: [[layer_name, node_index, tensor_index, kwargs], ...]
        return [_ref(layer, item[:3] if isinstance(item, list) else None, None) for item in node]
    raise layer.refuse("has an inbound node convcalc cannot read")


def _ref(layer: KerasLayer, history: Any, shape: Any) -> _Ref:
    if (
        not isinstance(history, list)
        or len(history) != 3
        or not isinstance(history[0], str)
        or type(history[1]) is not int
        or type(history[2]) is not int
    ):
        raise layer.refuse(f"has an input reference convcalc cannot read: {short_json(history)}")
    name, node, tensor = history
    if node != 0 or tensor != 0:
        raise layer.refuse(
            f"reads output {tensor} of call {node} of {name!r}: shared layers and layers with several outputs"
            " are not supported"
        )
    return _Ref(name, node, tensor, shape)


def _keras_tensors(value: Any) -> list[dict[str, Any]]:
    """Serialised Keras tensors in a node's args, in order (iterative: configs can nest deeply)."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                found.append(item)
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _endpoints(value: Any, path: JsonPath, model: Any, what: str) -> list[str]:
    """The layer names of a functional model's inputs or outputs: exactly one is allowed."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]  # Keras 3 writes a single endpoint as [name, 0, 0]
    items = value if isinstance(value, list) else []
    names = [item[0] for item in items if isinstance(item, list) and item and isinstance(item[0], str)]
    if not names or len(names) != len(items):
        raise Refusal(path, f"model {model!r}: cannot read its {what}s ({short_json(value)})")
    if len(names) != 1:
        raise Refusal(
            path,
            f"model {model!r} has {len(names)} {what}s ({', '.join(map(repr, names))}); convcalc networks have"
            f" exactly one {what}",
        )
    return names


def _topological(entries: list[tuple[KerasLayer, list[_Ref]]], path: JsonPath) -> list[tuple[KerasLayer, list[_Ref]]]:
    """Layers ordered so that each comes after those it reads, keeping the config's order where it can."""
    index: dict[str, int] = {}
    for i, (layer, _) in enumerate(entries):
        if layer.name in index:
            raise layer.refuse("a second layer with this name in one model")
        index[layer.name] = i
    waiting = [0] * len(entries)
    readers: list[list[int]] = [[] for _ in entries]
    for i, (layer, refs) in enumerate(entries):
        for ref in refs:
            if ref.layer not in index:
                raise layer.refuse(f"reads {ref.layer!r}, which is not a layer of this model")
            waiting[i] += 1
            readers[index[ref.layer]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[tuple[KerasLayer, list[_Ref]]] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(entries[i])
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(entries):
        stuck = [entries[i][0].name for i, count in enumerate(waiting) if count][:5]
        raise Refusal((*path, "config", "layers"), f"the layers form a cycle (through {', '.join(map(repr, stuck))})")
    return order


def _input_batch_shape(layer: KerasLayer) -> Any:
    # Keras 3 writes batch_shape; Keras 2 wrote batch_input_shape.
    return layer.config.get("batch_shape", layer.config.get("batch_input_shape"))


def _build_input_shape(raw: Any) -> Any:
    build = raw.get("build_config") if isinstance(raw, dict) else None
    return build.get("input_shape") if isinstance(build, dict) else None


def _volume(shape: Any) -> Shape | None:
    """A recorded Keras shape as convcalc's volume: (None, H, W, D) → H×W×D, (None, n) → 1×1×n."""
    if not isinstance(shape, list) or len(shape) not in (2, 4) or not all(type(d) is int for d in shape[1:]):
        return None
    return Shape(1, 1, shape[1]) if len(shape) == 2 else Shape(shape[1], shape[2], shape[3])


def _show_shape(shape: list[Any]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _unsupported_reason(layer: KerasLayer) -> str:
    name = layer.class_name
    if name in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        return (
            f"{name} layers are Python code stored in the file; convcalc reads models as data and never runs"
            " them, so it cannot import this layer"
        )
    op = REGISTRY.keras_ops.get(name)
    if op is not None and _CONVCALC_PACKAGE in op.keras_source and not _is_keras_module(layer.raw):
        return (
            f"a custom layer with the name of convcalc's own {name} but not its registration (registered_name"
            f" 'convcalc>{name}'): its settings are its own code's, which convcalc does not run"
        )
    if not _is_keras_module(layer.raw):
        return (
            f"a custom layer class (module {layer.raw.get('module')!r}); its shapes and weights are defined by"
            " code convcalc does not run"
        )
    if name.endswith(("1D", "3D")):
        return f"convcalc models 2-D networks (H×W×D volumes); {name} is not supported"
    return _KNOWN_REFUSALS.get(name, f"convcalc cannot import {name} layers")


_KNOWN_REFUSALS = {
    "RandomCrop": (
        "Keras 3 builds the layers after a RandomCrop for the crop's size, but at inference the layer returns its"
        " input uncropped (checked on Keras 3.15), so the model computes another network than it declares;"
        " convcalc cannot say which you mean: a CenterCrop crops at inference too, and data augmentation belongs"
        " in the input pipeline"
    ),
}
"""Keras layers convcalc refuses for a stated reason rather than for lack of a reader."""


def _refuse_changed_weights(layer: KerasLayer) -> None:
    """Options that change how many weights a layer holds, which the spec cannot express."""
    config = layer.config
    if config.get("lora_rank"):
        raise layer.refuse("LoRA adds weights convcalc does not count", "lora_rank")
    if config.get("quantization_config") is not None:
        raise layer.refuse("a quantized layer stores weights convcalc does not count", "quantization_config")
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and "Quantized" in str(dtype.get("class_name")):
        raise layer.refuse("a quantized layer stores weights convcalc does not count", "dtype")
