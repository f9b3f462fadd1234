"""convcalc.memory: the training memory of a network, part by part."""

from __future__ import annotations

from convcalc.memory import training_memory
from tests.helpers import analyze_example


def test_training_memory_parts() -> None:
    net = analyze_example("vgg16")
    memory = training_memory(net, batch=8, dtype="float16")
    assert memory.weights == net.total_params * 2
    assert memory.optimizer == 2 * net.total_trainable_params * 2
    assert memory.activations == 8 * net.activation_values * 2
