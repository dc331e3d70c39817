"""The matrix products of an epoch alone, through a BLAS: a floor no network beats.

Two floors: through numpy's ``@`` (numpy's own BLAS), and through scipy's BLAS, the one cnet's
compiled loop calls (``scipy.linalg.cython_blas``). Wheels of numpy and scipy each bundle their
own OpenBLAS, possibly of different versions, so only the second is the floor of cnet's epoch
through the same BLAS.
"""
import os

import numpy as np
from scipy.linalg import blas as scipy_blas
from threadpoolctl import threadpool_info

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


def _scipy_matmul(a, b, out):
    """``out[...] = a @ b`` through scipy's BLAS, without copies.

    ``out`` is C-contiguous, ``a`` and ``b`` C-contiguous or transposes of C-contiguous
    arrays; scipy's ``?gemm`` works in Fortran order, so this computes ``out.T = b.T @ a.T``,
    each operand passed as the Fortran-ordered array its memory already is.
    """
    gemm = scipy_blas.dgemm if out.dtype == np.float64 else scipy_blas.sgemm
    (x, trans_x), (y, trans_y) = [(m, 0) if m.flags.f_contiguous else (m.T, 1)
                                  for m in (b.T, a.T)]
    gemm(1.0, x, y, beta=0.0, c=out.T, overwrite_c=1, trans_a=trans_x, trans_b=trans_y)


def matmul_floor(wl, dtype, repeats, settle_s=SETTLE_S, blas="numpy"):
    """Median seconds of one epoch of ``wl``'s matrix products alone.

    The products are those of :func:`matmul_flops`, batch by batch, into preallocated outputs
    and with no other work: no network does less, so this is a floor for every peer.

    Parameters
    ----------
    wl : Workload
    dtype : numpy dtype
    repeats : int
        Timed epochs; their median is returned.
    settle_s : float
        Seconds of rest before each.
    blas : {"numpy", "scipy"}
        Through numpy's ``@`` (numpy's BLAS), or through scipy's ``?gemm`` (the BLAS cnet's
        compiled loop calls).
    """
    if blas not in ("numpy", "scipy"):
        raise ValueError(f"blas must be 'numpy' or 'scipy', got {blas!r}")
    matmul = (lambda a, b, out: np.matmul(a, b, out=out)) if blas == "numpy" else _scipy_matmul
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
                matmul(A[k - 1][:m], W[k - 1], A[k][:m])
            for k in range(len(layers) - 1, 0, -1):
                matmul(A[k - 1][:m].T, dZ[k][:m], dW[k - 1])
                if k > 1:
                    matmul(dZ[k][:m], W[k - 1].T, dA[k - 1][:m])

    epoch()
    return median_seconds(epoch, repeats, settle_s)


def blas_libraries():
    """The BLAS library behind numpy's ``@`` and the one behind scipy's (cnet's), as text.

    Both are loaded first, then found among threadpoolctl's pools by the package directory
    their file lies in (a wheel's ``numpy.libs`` / ``scipy.libs``); where only one BLAS is
    loaded, both use it.

    Returns
    -------
    dict
        ``"numpy"`` and ``"scipy"``: ``"<internal_api> <version>, <n> threads (<file>)"``,
        or ``"?"``.
    """
    one = np.ones((2, 2))
    one @ one
    scipy_blas.dgemm(1.0, one, one)
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]

    def describe(p):
        return (f"{p.get('internal_api')} {p.get('version') or '?'}, "
                f"{p.get('num_threads')} threads ({os.path.basename(p.get('filepath', ''))})")
    out = {}
    for package in ("numpy", "scipy"):
        mine = [p for p in pools if f"{os.sep}{package}" in p.get("filepath", "")]
        out[package] = (describe(mine[0]) if mine else
                        describe(pools[0]) if len(pools) == 1 else "?")
    return out


# The goal for wide10 in float32: cnet's epoch within this factor of the GEMM floor
# through the same BLAS.
WIDE10_GOAL = 1.1


def matmul_floor_rows(out, wl, opts):
    """Print and record, for each of ``wl``'s rows, cnet's epoch against the matmul floors.

    Both floors are measured just after the rows, in the same run: through numpy's ``@`` and
    through scipy's BLAS, the one cnet calls (``cnet/floor`` is against the latter).
    """
    flops = matmul_flops(wl.layers, len(wl.X))
    libs = blas_libraries()
    goal = f"; goal for wide10 float32: cnet/floor <= {WIDE10_GOAL}x" if wl.name == "wide10" \
        else ""
    print(f"\n{wl.name}: matrix products of one epoch ({flops / 1e9:.2f} GFLOP) alone, "
          f"against cnet's whole epoch. numpy @: {libs['numpy']}; scipy BLAS, which cnet "
          f"calls: {libs['scipy']}; cnet/floor is against the scipy BLAS floor{goal}. "
          f"With fewer than two cores free, cnet's loop holds OpenBLAS at one thread "
          f"(cnet._blas_threads) and the floors, at the threads shown, are then no floor")
    for row in (r for r in out["rows"] if r["workload"] == wl.name):
        dtype, repeats = DTYPES[row["dtype"]], max(3, opts.repeats)
        floor = matmul_floor(wl, dtype, repeats, opts.settle_s)
        same = matmul_floor(wl, dtype, repeats, opts.settle_s, blas="scipy")
        c = row["peers"]["cnet"]["seconds_per_epoch"]
        entry = {"workload": wl.name, "layers": wl.layers, "dtype": row["dtype"],
                 "gflop_per_epoch": flops / 1e9,
                 "matmul_floor_s": floor, "matmul_floor_gflops": flops / floor / 1e9,
                 "matmul_floor_blas": libs["numpy"],
                 "same_blas_floor_s": same, "same_blas_floor_gflops": flops / same / 1e9,
                 "same_blas_floor_blas": libs["scipy"],
                 "cnet_s": c, "cnet_gflops": flops / c / 1e9, "cnet_over_floor": c / floor,
                 "cnet_over_same_blas_floor": c / same,
                 "peer_gflops": {p: flops / r["seconds_per_epoch"] / 1e9
                                 for p, r in row["peers"].items()}}
        out["wide_matmul_floor"].append(entry)
        print(f"  {row['dtype']:<8} numpy @ floor {floor * 1e3:8.1f} ms "
              f"({entry['matmul_floor_gflops']:6.1f} GFLOP/s)   scipy BLAS floor "
              f"{same * 1e3:8.1f} ms ({entry['same_blas_floor_gflops']:6.1f} GFLOP/s)   cnet "
              f"{c * 1e3:8.1f} ms ({entry['cnet_gflops']:6.1f} GFLOP/s)   cnet/floor "
              f"{entry['cnet_over_same_blas_floor']:.2f}x (numpy @: "
              f"{entry['cnet_over_floor']:.2f}x)", flush=True)
