"""Where each parameter lives in the flat parameter vector.

Both backends keep a network's parameters in one 1-D array, layer after layer:
``W1`` (n_in x n_out, row-major), ``b1``, ``W2``, ``b2``, ... The gradient has the same layout,
so an optimizer step is one pass over two vectors, and ``NeuralNet.params`` is a dict of views
into the vector: writing into ``params["W1"]`` writes into the network.
"""
import math


def parameter_shapes(layers):
    """Names and shapes of the parameters of a network, in storage order.

    Parameters
    ----------
    layers : sequence of int
        Units per layer, inputs first, outputs last.

    Returns
    -------
    list of (str, tuple)
        ``[("W1", (layers[0], layers[1])), ("b1", (layers[1],)), ...]``.
    """
    shapes = []
    for k, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        shapes.append((f"W{k}", (n_in, n_out)))
        shapes.append((f"b{k}", (n_out,)))
    return shapes


def n_parameters(layers):
    """Length of the flat parameter vector of a network with these layer sizes."""
    return sum(int(math.prod(shape)) for _, shape in parameter_shapes(layers))


def parameter_views(params, layers):
    """Dict of named views into the flat vector ``params`` (no copies)."""
    views, start = {}, 0
    for name, shape in parameter_shapes(layers):
        size = int(math.prod(shape))
        views[name] = params[start:start + size].reshape(shape)
        start += size
    return views


def unpack(params, layers):
    """Lists ``(weights, biases)`` of views into ``params``, one entry per layer."""
    views = parameter_views(params, layers)
    n = len(layers) - 1
    return ([views[f"W{k}"] for k in range(1, n + 1)],
            [views[f"b{k}"] for k in range(1, n + 1)])
