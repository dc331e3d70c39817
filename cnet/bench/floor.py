"""The matrix products of an epoch alone, through numpy's ``@``: a floor no network beats."""

import numpy as np

from cnet.bench.timing import SETTLE_S, median_seconds
from cnet.bench.workloads import DTYPES


def matmul_flops(layers, n_samples):
    """Floating-point operations of one epoch's matrix products.

    Forward ``A @ W`` for every layer, ``dW = A.T @ dZ`` for every layer and ``dA = dZ @ W.T``
    for layers 2..L (the first layer's input needs no gradient): 2 flops per multiply-add.
    """
    pairs = list(zip(layers[:-1], layers[1:]))
    mads = 2 * sum(a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:])
    return 2.0 * n_samples * mads


def matmul_floor(wl, dtype, repeats, settle_s=SETTLE_S):
    """Median seconds of one epoch of ``wl``'s matrix products alone, through numpy's ``@``.

    The products are those of :func:`matmul_flops`, batch by batch, into preallocated outputs
    and with no other work: no network does less, so this is a floor for every peer.
    """
    rng = np.random.default_rng(0)
    X = wl.X.astype(dtype)
    n, step, layers = len(X), wl.step, wl.layers
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(layers[:-1], layers[1:])]
    A = [None] + [np.empty((step, b), dtype) for b in layers[1:]]   # A[k]: layer k's output
    dZ = [None] + [rng.standard_normal((step, b)).astype(dtype) for b in layers[1:]]
    dA = [np.empty((step, a), dtype) for a in layers[:-1]]
    dW = [np.empty_like(w) for w in W]

    def epoch():
        for start in range(0, n, step):
            m = min(step, n - start)
            A[0] = X[start:start + m]
            for k in range(1, len(layers)):
                np.matmul(A[k - 1][:m], W[k - 1], out=A[k][:m])
            for k in range(len(layers) - 1, 0, -1):
                np.matmul(A[k - 1][:m].T, dZ[k][:m], out=dW[k - 1])
                if k > 1:
                    np.matmul(dZ[k][:m], W[k - 1].T, out=dA[k - 1][:m])

    epoch()
    return median_seconds(epoch, repeats, settle_s)


def matmul_floor_rows(out, wl, opts):
    """Print and record, for each of ``wl``'s rows, cnet's epoch against the matmul floor."""
    flops = matmul_flops(wl.layers, len(wl.X))
    print(f"\n{wl.name}: matrix products of one epoch ({flops / 1e9:.2f} GFLOP) through "
          f"numpy's @ alone, against cnet's whole epoch")
    for row in (r for r in out["rows"] if r["workload"] == wl.name):
        floor = matmul_floor(wl, DTYPES[row["dtype"]], max(3, opts.repeats), opts.settle_s)
        c = row["peers"]["cnet"]["seconds_per_epoch"]
        entry = {"workload": wl.name, "layers": wl.layers, "dtype": row["dtype"],
                 "gflop_per_epoch": flops / 1e9,
                 "matmul_floor_s": floor, "matmul_floor_gflops": flops / floor / 1e9,
                 "cnet_s": c, "cnet_gflops": flops / c / 1e9, "cnet_over_floor": c / floor,
                 "peer_gflops": {p: flops / r["seconds_per_epoch"] / 1e9
                                 for p, r in row["peers"].items()}}
        out["wide_matmul_floor"].append(entry)
        print(f"  {row['dtype']:<8} numpy @ floor {floor * 1e3:8.1f} ms "
              f"({entry['matmul_floor_gflops']:6.1f} GFLOP/s)   cnet {c * 1e3:8.1f} ms "
              f"({entry['cnet_gflops']:6.1f} GFLOP/s)   cnet/floor "
              f"{entry['cnet_over_floor']:.2f}x", flush=True)
