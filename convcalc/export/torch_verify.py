"""``convcalc verify --framework torch``: build the plan as a PyTorch module, run a random batch through it,
set PyTorch's figures beside convcalc's for every layer.

The module is the generated class itself (:func:`~convcalc.export.torch_codegen.module_source`, convcalc's own
text with spec names only as sanitised identifiers), executed in memory with ``forward`` returning every spec
layer's output: what ``export --to torch`` writes is what is measured.
"""

from __future__ import annotations

import functools
from typing import Any

from convcalc.export.torch_codegen import PREAMBLE, module_source
from convcalc.export.torch_plan import TorchLayerPlan, TorchPlan, torch_notation, weights_notation
from convcalc.export.verify import Framework, Row, Table
from convcalc.extras import is_installed
from convcalc.layers.pytorch import TorchShape
from convcalc.pysource import checked
from convcalc.text import printable

INSTALL_HINT = "pip install 'convcalc[torch]' (in a checkout: pip install -e '.[torch]')"
PYTORCH = Framework(
    "PyTorch", "PyTorch modules", "PyTorch weights", "parameters + buffers", "parameters with requires_grad"
)


def missing_torch() -> str | None:
    """One line saying what to install when PyTorch is missing, else None (looks, does not import)."""
    return None if is_installed("torch") else f"PyTorch is not installed; install the extra: {INSTALL_HINT}"


@functools.cache
def _torch() -> Any:
    import torch

    return torch


def build_module(plan: TorchPlan, *, probe: bool = False) -> Any:
    """The plan as an ``nn.Module`` (the generated ``Network`` class, executed in memory)."""
    source = checked(PREAMBLE + "\n\n" + module_source(plan, probe=probe), f"<convcalc {plan.model_name}>")
    namespace: dict[str, Any] = {"__name__": f"convcalc_torch_{plan.model_name}"}
    exec(compile(source, f"<convcalc {plan.model_name}>", "exec"), namespace)
    return namespace["Network"]()


def _counted(module: Any) -> int:
    """Parameters and persistent buffers, without BatchNorm2d's ``num_batches_tracked`` (as the generated file)."""
    return sum(t.numel() for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked"))


def _as_volume(shape: TorchShape) -> str:
    """PyTorch's per-example shape in convcalc's terms: (C, H, W) → H×W×C, (n,) → 1×1×n."""
    if len(shape) == 1:
        return f"1×1×{shape[0]}"
    if len(shape) == 3:
        channels, height, width = shape
        return f"{height}×{width}×{channels}"
    return "?"


def _row(layer: TorchLayerPlan, net: Any, output: Any) -> Row:
    facts = layer.facts
    modules = [getattr(net, step.name) for step in layer.modules]
    built = tuple(
        tuple(int(size) for size in module.weight.shape)
        for module in modules
        if isinstance(getattr(module, "weight", None), _torch().nn.Parameter) and module.weight.dim() > 1
    )
    planned = tuple(shape for step in layer.modules for shape in step.weights if len(shape) > 1)
    shape = tuple(int(size) for size in output.shape)
    name = printable(facts.name)
    if layer.main.name != facts.name:
        name += f" (module: {layer.main.name})"
    params = sum(_counted(module) for module in modules)
    return Row(
        index=facts.index,
        name=f"{name} {facts.type}",
        steps=" → ".join(step.module.split("(", 1)[0] if step.module else "expression" for step in layer.steps),
        static_shape=str(facts.output_shape),
        output=f"{torch_notation(shape[1:], shape[0])} ≡ {_as_volume(shape[1:])}",
        shape_ok=_as_volume(shape[1:]) == str(facts.output_shape),
        params=facts.params,
        framework_params=params,
        params_ok=params == facts.params and built == planned,
        structure=weights_notation(layer) if built == planned else f"weight {list(map(list, built))}",
    )


def verify_torch(plan: TorchPlan, *, batch: int = 2, seed: int = 0) -> Table:
    """Build ``plan`` in PyTorch, run a random batch through it and compare every layer with convcalc."""
    torch = _torch()
    torch.manual_seed(seed)
    net = build_module(plan, probe=True)
    net.eval()
    x = torch.randn(batch, *plan.input_shape)
    with torch.no_grad():
        outputs = net(x)
    rows = tuple(_row(layer, net, output) for layer, output in zip(plan.layers, outputs, strict=True))
    facts = plan.facts
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return Table(
        framework=PYTORCH,
        rows=rows,
        total=(facts.total_params, _counted(net)),
        trainable=(facts.total_trainable_params, trainable),
        batch_shape=tuple(x.shape),
        output_shape=tuple(int(size) for size in outputs[-1].shape),
        versions=f"PyTorch {torch.__version__}",
    )
