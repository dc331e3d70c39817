"""The rows of the test tables, read from cnet.registry: a new entry is a new row of every
table that parametrizes over these, with no change to the tests."""
import numpy as np

from cnet import registry

# cnet's names (the engine's and the kernels'); the aliases are the estimators' business.
ACTIVATIONS = list(registry.ACTIVATIONS)
OUTPUTS = list(registry.OUTPUT_LOSSES)

# The kernels each entry has in cnet.kernels, cnet.reference and cnet._kernels.
FORWARDS = ACTIVATIONS
BACKWARDS = [f"{name}_backward" for name in ACTIVATIONS]
LOSSES = [entry.loss_kernel for entry in registry.OUTPUT_LOSSES.values()]
GRADS = [f"{name}_grad" for name in LOSSES]


def reads_input(activation):
    """Whether the activation's backward takes its input z rather than its output a."""
    return registry.activation(activation).backward_reads == "input"


def output_of_loss_kernel(name):
    """The output/loss pair whose loss kernel is ``name`` or ``name`` without ``_grad``."""
    for entry in registry.OUTPUT_LOSSES.values():
        if name in (entry.loss_kernel, f"{entry.loss_kernel}_grad"):
            return entry.name
    raise KeyError(name)


def targets(rng, n, outputs, output, dtype=np.float64):
    """Random targets of shape ``(n, outputs)`` of the kind the pair's loss takes."""
    kind = registry.output_loss(output).targets
    if kind == "binary":
        y = rng.random((n, outputs)) > 0.5
    elif kind == "one_hot":
        y = np.eye(outputs)[rng.integers(0, outputs, n)]
    elif kind == "counts":
        y = rng.poisson(1.5, (n, outputs))
    elif kind == "real":
        y = rng.standard_normal((n, outputs))
    else:
        raise KeyError(f"targets of kind {kind!r}: add how to draw them here")
    return y.astype(dtype)


def learnable_targets(score, outputs, output, dtype=np.float64):
    """Targets a network can learn, of the pair's kind, from a score of shape ``(n, outputs)``
    computed from the inputs."""
    kind = registry.output_loss(output).targets
    if kind == "binary":
        y = score > 0
    elif kind == "one_hot":
        y = np.eye(outputs)[np.argmax(score, axis=1)]
    elif kind == "counts":
        y = np.floor(np.exp(np.clip(score, -3, 2)))
    elif kind == "real":
        y = score
    else:
        raise KeyError(f"targets of kind {kind!r}: add how to draw them here")
    return y.astype(dtype)
