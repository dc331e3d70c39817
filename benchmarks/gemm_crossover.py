"""Where BLAS starts beating cnet's hand-written matmul loops, on this machine, per CPU variant.

For each build of the kernels the CPU can run (baseline, avx2, avx512; see ``cnet._cpu``) and
for products of growing size, in the forms the training loop uses (forward ``W.T @ A``: TN;
weight gradient ``A @ dZ.T``: NT; backward ``W @ dZ``: NN; the input layer's ``TT``), times the
hand-written path (``cnet._kernels.matmul_small``) against BLAS (``matmul_blas``) and prints the
ratio. ``GEMM_BLAS_MIN_WORK`` in ``src_c/_gemm.pxd`` is set from this table: the smallest work
m*n*k at which BLAS wins. A second table times the products of one digits10 batch (the
[64, 128, 10] network, batch 64) in the forms the loop uses them, where the choice matters most.

With ``--threads``, another table instead times BLAS on one thread against BLAS on all the
threads threadpoolctl allows, over products of growing work (the forward form of the loop's
layers), and shows the path cnet takes (``cnet._kernels.matmul_path``):
``GEMM_PARALLEL_MIN_WORK`` is set where two threads start to pay on a quiet machine. Take it
on a quiet machine only: a busy core makes the threaded column many times slower.

Usage: ``python benchmarks/gemm_crossover.py [--quick] [--threads]``
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cnet import _cpu

FORMS = {"TN": (True, False), "NT": (False, True), "NN": (False, False), "TT": (True, True)}
# The products of one digits10 batch (64 samples, layers 64 -> 128 -> 10), as _batch_step calls
# them with the (units, samples) layout: (name, form, m, n, k).
DIGITS_BATCH = [
    ("forward 1", "TT", 128, 64, 64),
    ("forward 2", "TN", 10, 64, 128),
    ("error to 1", "NN", 128, 64, 10),
    ("grad W2", "NT", 128, 10, 64),
    ("grad W1", "NT", 64, 128, 64),
]


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
    parser.add_argument("--threads", action="store_true",
                        help="only the table of BLAS on one thread against all it may use")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    if args.threads:
        threads_table(repeats, np.random.default_rng(0))
        return
    sides = [4, 8, 16, 24, 32, 48, 64, 96] if not args.quick else [8, 16, 32, 64]
    rng = np.random.default_rng(0)
    blas = [f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    print("BLAS:", "; ".join(blas))
    for variant in _cpu.supported():
        with _cpu.using(variant):
            kernels = _cpu.module("_kernels")
            print(f"\nvariant {variant}")
            print(f"{'dtype':<8} {'form':<4} {'m=n=k':>6} {'work':>8} {'small µs':>9} "
                  f"{'BLAS µs':>9} {'small/BLAS':>10}  auto")
            for dtype in (np.float64, np.float32):
                for form, (ta, tb) in FORMS.items():
                    for side in sides:
                        row = time_pair(kernels, side, side, side, ta, tb, dtype, rng, repeats)
                        print(f"{np.dtype(dtype).name:<8} {form:<4} {side:>6} {side ** 3:>8} "
                              f"{row}")
            print(f"\n{'dtype':<8} {'digits10 batch':<14} {'m x n x k':>14} {'small µs':>9} "
                  f"{'BLAS µs':>9} {'small/BLAS':>10}  auto")
            for dtype in (np.float64, np.float32):
                for name, form, m, n, k in DIGITS_BATCH:
                    ta, tb = FORMS[form]
                    row = time_pair(kernels, m, n, k, ta, tb, dtype, rng, repeats)
                    print(f"{np.dtype(dtype).name:<8} {name + ' ' + form:<14} "
                          f"{f'{m}x{n}x{k}':>14} {row}")


# Layer products (m, n, k) of growing work: batches of 64 to 1024 through layers of 64 to 784
# units, in the loop's forward form (TN).
THREAD_PRODUCTS = [(128, 64, 64), (256, 64, 64), (256, 64, 128), (256, 256, 64), (128, 256, 256),
                   (256, 256, 256), (256, 256, 784), (784, 256, 256), (1024, 256, 784)]


def threads_table(repeats, rng):
    """BLAS on one thread against BLAS on every thread allowed, per product and dtype."""
    from cnet import _kernels
    allowed = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    print(f"BLAS on 1 thread against {allowed}; cnet's path for each product")
    print(f"{'dtype':<8} {'m x n x k':>16} {'work':>11} {'1 thread µs':>12} "
          f"{f'{allowed} threads µs':>13} {'speed-up':>9}  cnet path")
    for dtype in (np.float64, np.float32):
        for m, n, k in THREAD_PRODUCTS:
            a, b, out = operands(m, n, k, True, False, dtype, rng)
            with threadpool_limits(limits=1, user_api="blas"):
                one = best_time(_kernels.matmul_blas, (a, b, out, True, False), repeats)
            many = best_time(_kernels.matmul_blas, (a, b, out, True, False), repeats)
            print(f"{np.dtype(dtype).name:<8} {f'{m}x{n}x{k}':>16} {m * n * k:>11,} "
                  f"{one * 1e6:>12.1f} {many * 1e6:>13.1f} {one / many:>8.2f}x  "
                  f"{_kernels.matmul_path(m, n, k)}", flush=True)


def time_pair(kernels, m, n, k, ta, tb, dtype, rng, repeats):
    """The table cells for one product: both paths' times, their ratio, the automatic pick."""
    a, b, out = operands(m, n, k, ta, tb, dtype, rng)
    t_small = best_time(kernels.matmul_small, (a, b, out, ta, tb), repeats)
    t_blas = best_time(kernels.matmul_blas, (a, b, out, ta, tb), repeats)
    auto = "BLAS" if kernels.matmul_uses_blas(m, n, k) else "small"
    return f"{t_small * 1e6:>9.2f} {t_blas * 1e6:>9.2f} {t_small / t_blas:>10.2f}  {auto}"

if __name__ == "__main__":
    main()
