"""Peak memory of one ``NeuralNet.fit``, beside the data and parameters it must hold."""
import tracemalloc

import numpy as np

import cnet


def peak_fit_memory(wl):
    """Peak memory ``NeuralNet.fit`` allocates on ``wl`` in float32, by tracemalloc.

    numpy reports its buffers to tracemalloc, so the peak covers the parameters, gradients
    and workspaces cnet allocates with numpy; X itself exists before tracing starts.
    """
    X = wl.X.astype(np.float32)
    net = cnet.NeuralNet(layers=wl.layers, learning_rate=wl.learning_rate, iterations=1,
                         batch_size=wl.batch_size, shuffle=False, loss_every=wl.loss_every,
                         random_state=0)
    tracemalloc.start()
    try:
        net.fit(X, wl.y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    param_bytes = sum(a * b + b for a, b in zip(wl.layers[:-1], wl.layers[1:])) * X.itemsize
    base = X.nbytes + param_bytes
    return {"peak_extra_bytes": peak, "X_bytes": X.nbytes, "param_bytes": param_bytes,
            "extra_over_base": peak / base, "total_over_base": (base + peak) / base}
