"""The mapping from a spec to PyTorch modules, decided once, as plain data (no torch here).

The generated ``model.py`` and ``verify --framework torch`` read one :class:`TorchPlan`, so they cannot
disagree about what a spec layer becomes. Each layer kind maps itself (``to_torch`` in its module under
:mod:`convcalc.layers`); this module threads the tensors through and adds what the whole network needs:

- PyTorch is channels first: convcalc's H×W×D volume is ``[N, D, H, W]``; whole-input layers (fc, flatten,
  global pooling) output ``[N, n]``, convcalc's 1×1×n, and a layer that needs a volume after one first views it
  as ``[N, n, 1, 1]``;
- a network that declares ``classes`` and ends in a 1×1×classes volume gets a final ``torch.flatten``, so its
  logits are ``[N, classes]`` as the loss expects;
- a frozen layer (``"trainable": false``) gets ``.requires_grad_(False)`` on its modules.

Where TensorFlow and PyTorch differ, the plan follows convcalc's figures, which are TensorFlow's: a layer
PyTorch cannot compute exactly is refused with the reason (:class:`~convcalc.layers.pytorch.TorchRefusal`).
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.export.naming import NameAllocator, sanitize
from convcalc.export.plan import UnbuildableError, unbuildable, unsupported
from convcalc.layers import REGISTRY
from convcalc.layers.pytorch import TorchOps, TorchRefusal, TorchShape, TorchStep, chw

INPUT_TENSOR = "input"

MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)
"""``nn.Module``'s public attributes (PyTorch 2.x): a layer named ``forward`` or ``training`` must not replace
them, so these names are taken before any spec name (a test compares the list with the installed torch)."""
RESERVED = (INPUT_TENSOR, "inputs", "x", "self", "torch", "nn", "F", *sorted(MODULE_ATTRIBUTES))

TF_ONLY_RULES = ("CC108",)
"""Rules whose findings are about TensorFlow's kernels alone (PyTorch builds those layers)."""


@dataclass(frozen=True)
class TorchLayerPlan:
    """What one spec layer becomes: one or more steps; the last one outputs the spec layer's volume."""

    facts: LayerFacts
    steps: tuple[TorchStep, ...]
    main: TorchStep

    @property
    def output_step(self) -> TorchStep:
        return self.steps[-1]

    @property
    def modules(self) -> tuple[TorchStep, ...]:
        return tuple(step for step in self.steps if step.module)


@dataclass(frozen=True)
class TorchPlan:
    """A whole network as PyTorch steps, with the names the generated code uses."""

    facts: NetworkFacts
    model_name: str
    layers: tuple[TorchLayerPlan, ...]
    input_name: str = INPUT_TENSOR

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return chw(self.facts.input_shape)  # type: ignore[return-value]

    @property
    def steps(self) -> tuple[TorchStep, ...]:
        return tuple(step for layer in self.layers for step in layer.steps)

    @property
    def output_shape(self) -> TorchShape:
        return self.layers[-1].output_step.output

    @property
    def classes(self) -> int | None:
        """The class count when the model outputs ``[N, classes]`` logits, else None."""
        classes = self.facts.network.classes
        return classes if classes is not None and self.output_shape == (classes,) else None

    @property
    def helpers(self) -> list[str]:
        """The helper modules convcalc defines itself (``ChannelLayerNorm``) that the model uses, in order."""
        used = dict.fromkeys(step.module.split("(", 1)[0] for step in self.steps if step.module)
        return [name for name in used if name in REGISTRY.torch_helpers]


def torch_refusals(facts: NetworkFacts) -> list[str]:
    """Why the PyTorch export cannot map this network (one sentence per layer); empty when it can."""
    reasons = unbuildable(facts, skip=TF_ONLY_RULES) + unsupported(facts)
    if reasons:
        return reasons
    try:
        plan_torch(facts)
    except UnbuildableError as error:
        return [str(error)]
    return []


def plan_torch(facts: NetworkFacts) -> TorchPlan:
    """Map every spec layer to PyTorch steps (see the module docstring)."""
    reasons = unbuildable(facts, skip=TF_ONLY_RULES) + unsupported(facts)
    if reasons:
        raise UnbuildableError("; ".join(reasons))
    names = NameAllocator(reserved=RESERVED)
    tensors: dict[int, tuple[str, TorchShape]] = {-1: (INPUT_TENSOR, chw(facts.input_shape))}
    planned: list[TorchLayerPlan] = []
    refused: list[str] = []
    for layer in facts.layers:
        base = names.take(sanitize(layer.name, f"{layer.type}{layer.index}"))
        builder = TorchOps(base, names, [tensors[source] for source in layer.inputs])
        try:
            main = layer.spec.to_torch(builder, layer.window, layer.output_shape)
        except TorchRefusal as refusal:
            refused.append(f"{layer.label}: {refusal}")
            tensors[layer.index] = (base, chw(layer.output_shape))
            continue
        classes = facts.network.classes
        if layer.index == len(facts.layers) - 1 and classes is not None and builder.shape == (classes, 1, 1):
            builder.flatten(builder.helper("flatten"), "logits as [N, classes]")
        planned.append(TorchLayerPlan(facts=layer, steps=tuple(builder.steps), main=main))
        tensors[layer.index] = (builder.current, builder.shape)
    if refused:
        raise UnbuildableError("; ".join(refused))
    return TorchPlan(facts=facts, model_name=sanitize(facts.name or "", "model"), layers=tuple(planned))


# --- PyTorch's notation, shared by verify's table and the generated code's comments -------------------------


def torch_notation(shape: TorchShape, batch: str | int = "N") -> str:
    """An activation as PyTorch shapes it: ``[N, C, H, W]``, or ``[N, n]`` once flat.

    >>> torch_notation((32, 28, 28)), torch_notation((10,), 2)
    ('[N, 32, 28, 28]', '[2, 10]')
    """
    return "[" + ", ".join(str(size) for size in (batch, *shape)) + "]"


def weights_notation(layer: TorchLayerPlan) -> str:
    """The weights of a spec layer's modules in PyTorch's layout: ``weight [64, 3, 3, 3]`` (+ more)."""
    shapes = [shape for step in layer.modules for shape in step.weights]
    if not shapes:
        return ""
    return "weight " + " + ".join("[" + ", ".join(map(str, shape)) + "]" for shape in shapes)
