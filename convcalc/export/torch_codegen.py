"""Generate a standalone PyTorch file from a :class:`~convcalc.export.torch_plan.TorchPlan`.

The file defines ``Network(nn.Module)``, one line per step in ``__init__`` (the modules) and in ``forward``,
checks its parameter count against convcalc's, runs a forward pass and one SGD step on random data, and exits
0. Spec text only ever enters it as escaped literals (see :mod:`convcalc.pysource`); it is compiled before it
is returned. ``verify --framework torch`` executes the same class source (with ``probe=True``, ``forward``
also returns every spec layer's output), so what it measures is what the file builds.
"""

from __future__ import annotations

from convcalc import __version__
from convcalc.export.codegen import step_variables
from convcalc.export.torch_plan import TorchLayerPlan, TorchPlan, torch_notation, weights_notation
from convcalc.layers import REGISTRY
from convcalc.layers.pytorch import TorchStep
from convcalc.pysource import checked, comment, identifier, literal

_NOTATION = (
    "Comments give each layer's output as PyTorch shapes it, [N, C, H, W] ([N, n] once flat; convcalc calls\n"
    "that 1×1×n, and writes volumes H×W×D), its weights in PyTorch's layout (conv [K, D/groups, F, F], fc\n"
    "[units, n]) and the parameters convcalc computed. PyTorch flattens C, H, W where Keras flattens H, W, D: the\n"
    "counts are the same, the rows of the first fc's weight are in another order."
)


def _main_comment(layer: TorchLayerPlan) -> str:
    facts = layer.facts
    weights = weights_notation(layer)
    return comment(f"layers[{facts.index}] {facts.type}{'  ' + weights if weights else ''}  {facts.params:,} params")


def _step_comment(layer: TorchLayerPlan, step: TorchStep) -> str:
    text = f"→ {torch_notation(step.output)}"
    if step is layer.main:
        text = f"layers[{layer.facts.index}] {text} = {layer.facts.output_shape}"
    elif step.purpose:
        text += f"  ({step.purpose})"
    return comment(text)


def _constants(plan: TorchPlan) -> list[str]:
    facts = plan.facts
    lines = [f"SPEC_NAME = {literal(facts.name)}"]
    renamed = {
        layer.main.name: layer.facts.spec.name
        for layer in plan.layers
        if layer.facts.spec.name is not None and layer.facts.spec.name != layer.main.name
    }
    if renamed:
        lines.append(comment("The spec's own layer names, where a module name had to be sanitised."))
        lines.append("SPEC_LAYER_NAMES = {")
        lines += [f"    {literal(name)}: {literal(spec_name)}," for name, spec_name in renamed.items()]
        lines.append("}")
    out = plan.output_shape
    statistics = f" + {facts.total_statistics:,} running statistics (buffers)" if facts.total_statistics else ""
    lines += [
        f"INPUT_SHAPE = {literal(plan.input_shape)}  {comment(torch_notation(plan.input_shape))}",
        f"OUTPUT_SHAPE = {literal(out)}  {comment(torch_notation(out) + ' = ' + str(facts.output_shape))}",
        f"CLASSES = {literal(plan.classes)}",
        f"TRAINABLE_PARAMS = {facts.total_trainable_params}  {comment('convcalc: parameters with requires_grad')}",
        f"TOTAL_PARAMS = {facts.total_params}  {comment('convcalc: all parameters' + statistics)}",
    ]
    return lines


def module_source(plan: TorchPlan, *, probe: bool = False) -> str:
    """The helper classes and ``class Network(nn.Module)``; with ``probe``, ``forward`` returns the list of
    every spec layer's output instead of the last one (what ``verify`` measures)."""
    lines = [REGISTRY.torch_helpers[name].strip("\n") + "\n\n" for name in plan.helpers]
    lines += [
        "class Network(nn.Module):",
        f'    """{plan.model_name} on NCHW tensors: one line per layer (convcalc {__version__})."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
    ]
    for layer in plan.layers:
        for step in layer.modules:
            frozen = "" if layer.facts.trainable else ".requires_grad_(False)"  # "trainable": false
            note = _main_comment(layer) if step is layer.main else comment(step.purpose or "helper")
            lines.append(f"        self.{identifier(step.name)} = {step.module}{frozen}  {note}")
    lines += [
        "",
        "    def forward(self, inputs: torch.Tensor) -> " + ("list[torch.Tensor]:" if probe else "torch.Tensor:"),
        f"        {comment(torch_notation(plan.input_shape))}",
    ]
    if probe:
        lines.append("        outputs = []")
    variables = step_variables(plan.input_name, plan.steps)
    for layer in plan.layers:
        for step in layer.steps:
            code = step.code([variables[name] for name in step.inputs])
            lines.append(f"        {variables[step.name]} = {code}  {_step_comment(layer, step)}")
        if probe:
            lines.append(f"        outputs.append({variables[layer.output_step.name]})")
    lines.append("        return outputs" if probe else f"        return {variables[plan.layers[-1].output_step.name]}")
    return "\n".join(lines) + "\n"


PREAMBLE = """from __future__ import annotations

import argparse
import sys

import torch
from torch import nn
"""

_COUNT = '''

def state_count(net: nn.Module) -> int:
    """Parameters and persistent buffers (the running mean and variance of BatchNorm2d), as convcalc counts them;
    BatchNorm2d's num_batches_tracked is PyTorch's bookkeeping, no parameter."""
    return sum(t.numel() for k, t in net.state_dict().items() if not k.endswith("num_batches_tracked"))
'''


def _main(plan: TorchPlan) -> str:
    if plan.facts.total_trainable_params == 0:
        training = '    print("no trainable parameters: nothing to train")\n'
    else:
        if plan.classes is not None:
            targets = "    y = torch.randint(0, CLASSES, (args.batch_size,))  # random class labels\n"
            loss = "nn.functional.cross_entropy(net(x), y)"
        else:
            targets = (
                "    # No classes declared: regress random targets of the output's shape.\n"
                "    y = torch.randn(args.batch_size, *OUTPUT_SHAPE)\n"
            )
            loss = "nn.functional.mse_loss(net(x), y)"
        training = (
            "    net.train()\n"
            + targets
            + "    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01)\n"
            + f"    loss = {loss}\n"
            + "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
            + "    if not torch.isfinite(loss):\n"
            + '        print(f"error: the training step gave loss {loss.item()}", file=sys.stderr)\n'
            + "        return 1\n"
            + '    print(f"one SGD training step: loss {loss.item():.4f}")\n'
        )
    return (
        _COUNT
        + '''

def main(argv: list[str] | None = None) -> int:
    """Build and print the module, check its parameter counts, then one forward pass and one training step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2, help="examples in the random batch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the data (default 0)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    net = Network()
    print(net)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    total = state_count(net)
    if (trainable, total) != (TRAINABLE_PARAMS, TOTAL_PARAMS):
        message = f"PyTorch holds {trainable:,} trainable / {total:,} in all, convcalc computed"
        print(f"error: {message} {TRAINABLE_PARAMS:,} / {TOTAL_PARAMS:,}", file=sys.stderr)
        return 1
    print(f"{trainable:,} trainable parameters ({total:,} with buffers), as convcalc computed")
    x = torch.randn(args.batch_size, *INPUT_SHAPE)
    net.eval()
    with torch.no_grad():
        y_pred = net(x)
    if tuple(y_pred.shape) != (args.batch_size, *OUTPUT_SHAPE):
        print(f"error: output {list(y_pred.shape)}, expected {[args.batch_size, *OUTPUT_SHAPE]}", file=sys.stderr)
        return 1
    print(f"forward pass: {list(x.shape)} → {list(y_pred.shape)}")
'''
        + training
        + """    return 0


if __name__ == "__main__":
    sys.exit(main())
"""
    )


def torch_source(plan: TorchPlan) -> str:
    """A standalone Python file that builds the plan as a PyTorch ``nn.Module``, one line per layer."""
    total = plan.facts.total_trainable_params
    docstring = (
        f'"""{plan.model_name}: a PyTorch nn.Module, generated by convcalc {__version__}.\n\n'
        "Run: python <this file> [--batch-size N] [--seed N]. It builds the module, checks that its trainable\n"
        f"parameter count equals convcalc's ({total:,}; BatchNorm2d's running statistics are buffers), runs a\n"
        "forward pass and one SGD step on random data, and exits 0 (1 if a figure differs).\n\n"
        f'{_NOTATION}\n"""'
    )
    lines = [docstring, "", PREAMBLE, *_constants(plan), "", "", module_source(plan).rstrip("\n")]
    source = "\n".join(lines) + _main(plan)
    return checked(source, f"{plan.model_name}.py")
