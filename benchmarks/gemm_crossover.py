"""Where BLAS starts beating cnet's hand-written matmul loops, on this machine.

For products of growing size, in the forms the training loop uses (forward ``W.T @ A``: TN;
weight gradient ``A @ dZ.T``: NT; backward ``W @ dZ``: NN; the input layer's ``TT``), times the
hand-written path (``cnet._kernels.matmul_small``) against BLAS (``matmul_blas``) and prints the
ratio. ``GEMM_BLAS_MIN_WORK`` in ``src_c/_gemm.pxd`` is set from this table: the smallest work
m*n*k at which BLAS wins.

Usage: ``python benchmarks/gemm_crossover.py [--quick]``
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info

from cnet import _kernels

FORMS = {"TN": (True, False), "NT": (False, True), "NN": (False, False), "TT": (True, True)}


def best_time(func, args, repeats, min_seconds=0.02):
    """Median over ``repeats`` of the mean time of a call, each sample lasting min_seconds."""
    func(*args)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            func(*args)
        if time.perf_counter() - start > min_seconds:
            break
        calls *= 4
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            func(*args)
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def operands(m, n, k, trans_a, trans_b, dtype, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, np.empty((m, n), dtype=dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    sides = [4, 8, 16, 24, 32, 48, 64, 96] if not args.quick else [8, 16, 32, 64]
    rng = np.random.default_rng(0)
    blas = [f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    print("BLAS:", "; ".join(blas))
    print(f"{'dtype':<8} {'form':<4} {'m=n=k':>6} {'work':>8} {'small µs':>9} {'BLAS µs':>9} "
          f"{'small/BLAS':>10}  auto")
    for dtype in (np.float64, np.float32):
        for form, (ta, tb) in FORMS.items():
            for side in sides:
                a, b, out = operands(side, side, side, ta, tb, dtype, rng)
                t_small = best_time(_kernels.matmul_small, (a, b, out, ta, tb), repeats)
                t_blas = best_time(_kernels.matmul_blas, (a, b, out, ta, tb), repeats)
                auto = "BLAS" if _kernels.matmul_uses_blas(side, side, side) else "small"
                print(f"{np.dtype(dtype).name:<8} {form:<4} {side:>6} {side ** 3:>8} "
                      f"{t_small * 1e6:>9.2f} {t_blas * 1e6:>9.2f} {t_small / t_blas:>10.2f}  {auto}")


if __name__ == "__main__":
    main()
