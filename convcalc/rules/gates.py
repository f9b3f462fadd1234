"""CC405: the CI gates on parameters, MACs and training memory (--max-params, --max-macs, --max-memory)."""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import NetworkFacts
from convcalc.findings import Severity
from convcalc.memory import training_memory
from convcalc.rules.base import Hit, Settings, rule
from convcalc.text import human_bytes


@rule(
    "CC405",
    "over-budget",
    Severity.ERROR,
    summary="The network exceeds a CI gate: --max-params, --max-macs or --max-memory.",
    bad={"input": [32, 32, 3], "layers": [{"type": "fc", "units": 1000}]},
    good={"input": [32, 32, 3], "layers": [{"type": "global_pool"}, {"type": "fc", "units": 1000}]},
    example_settings=Settings(max_params=1_000_000, max_macs=10**9, max_memory_bytes=64 * 2**20),
)
def over_budget(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Compares the total parameters, the MACs of one example and the training-memory estimate (weights,
    gradients, Adam's two moments and the saved activations, at `--batch` and `--dtype`) with the gates
    set by `--max-params`, `--max-macs` and `--max-memory` (or `max-params`, `max-macs`, `max-memory` in
    the config). No gate, no finding.

    ## Why is this bad
    A model that outgrows its deployment target (a phone, a GPU's memory, a latency budget) is cheaper
    to catch in review than after training; these gates turn the static figures into a CI check.

    ## Use instead
    Fewer or narrower fc layers (global average pooling), per-channel convs followed by 1×1 ones, an earlier
    downsampling, a smaller batch — or raise the gate on purpose.
    """
    over = []
    if settings.max_params is not None and net.total_params > settings.max_params:
        over.append(f"{net.total_params:,} parameters > {settings.max_params:,}")
    if settings.max_macs is not None and net.total_macs > settings.max_macs:
        over.append(f"{net.total_macs:,} MACs per example > {settings.max_macs:,}")
    if settings.max_memory_bytes is not None:
        memory = training_memory(net, settings.batch, settings.dtype)
        if memory.total > settings.max_memory_bytes:
            over.append(
                f"training memory {human_bytes(memory.total)} at batch {memory.batch}, {memory.dtype}"
                f" (weights {human_bytes(memory.weights)} + gradients {human_bytes(memory.gradients)}"
                f" + Adam {human_bytes(memory.optimizer)} + activations {human_bytes(memory.activations)})"
                f" > {human_bytes(settings.max_memory_bytes)}"
            )
    if over:
        yield Hit(None, "over budget: " + "; ".join(over))
