"""``summary()``: a model's layers as a table, with the matmul path each layer takes."""
import numpy as np

from cnet import _cpu, _kernels


def summarize(name, layers, activation, output, dtype, backend, batch_size):
    """A text table of a network's layers.

    Parameters
    ----------
    name : str
        The model's class name.
    layers : sequence of int
        Units per layer, inputs first.
    activation, output : str
        Hidden and output activations.
    dtype : numpy dtype or None
        The parameters' dtype (None before the first fit).
    backend : str
    batch_size : int or None
        Samples per training step, which decides the matmul path; None if unknown.

    Returns
    -------
    str
    """
    rows = []
    for k in range(1, len(layers)):
        n_in, n_out = int(layers[k - 1]), int(layers[k])
        act = activation if k < len(layers) - 1 else f"{output} (output)"
        if batch_size is None:
            path = "-"
        else:
            # The forward product of this layer for one batch: n_out x batch x n_in.
            blas = _kernels.matmul_uses_blas(n_out, int(batch_size), n_in)
            path = "BLAS" if blas else "hand-written"
        rows.append((f"dense {k}", f"{n_in} -> {n_out}", act, n_in * n_out + n_out, path))
    total = sum(r[3] for r in rows)
    header = ("layer", "units", "activation", "parameters", "matmul path")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [f"{name}: {len(layers) - 1} layers, {total} parameters, "
           f"dtype {np.dtype(dtype).name if dtype is not None else 'set by the data'}, "
           f"backend {backend}" + (f" ({_cpu.active()} build)" if backend == "cython" else "")
           + (f", batch {batch_size}" if batch_size else ""),
           line.format(*header), line.format(*["-" * w for w in widths])]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(row.rstrip() for row in out)
