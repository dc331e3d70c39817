"""Where BLAS starts beating cnet's hand-written matmul loops, on this machine, per CPU variant.

For each build of the kernels the CPU can run (baseline, avx2, avx512; see ``cnet._cpu``) and
for products of growing size, in the forms the training loop uses (forward ``W.T @ A``: TN;
weight gradient ``A @ dZ.T``: NT; backward ``W @ dZ``: NN; the input layer's ``TT``), times the
hand-written path (``cnet._kernels.matmul_small``) against BLAS (``matmul_blas``) and prints the
ratio. ``GEMM_BLAS_MIN_WORK`` in ``src_c/_gemm.pxd`` is set from this table: the smallest work
m*n*k at which BLAS wins. A second table times the products of one digits10 batch (the
[64, 128, 10] network, batch 64) in the forms the loop uses them, where the choice matters most.

The skinny table: products with one dimension s in 1..16 (K, M or N) and the other two in
16..4096, in each form, as the ratio of the hand-written loops' time to BLAS's (below 1: the
loops win), each the fastest of samples taken in turn; a ``*`` marks the cells cnet computes
with its loops. ``gemm_skinny`` in ``src_c/_gemm.pxd`` is set from it, the same on every
variant (the baseline and avx2 builds of 3 December 2026 on an AVX2 EPYC, OpenBLAS 0.3.30,
showed the same crossovers): in the row-update forms (NN, TN, TT) the loops win up to
K = 4 (``GEMM_SKINNY_K``; K = 8 wins only for large C) and, in NN and TN, for one or two rows
of C; in NT for one or two rows or columns of C; and nowhere with a short loop, rows of C
(or NT's k) of 16, hence ``GEMM_SKINNY_MIN_LOOP`` = 64. Short dot products (NT with a small
K) and short rows (NN, TN with a small N) lose everywhere and stay on BLAS. A last table
times the products of a full-batch epoch of the ``[2, H, 1]`` networks (make_moons, 240 to
24,000 rows), in the forms the training loop uses; with ``--skinny-only`` only these two
tables run.

With ``--threads``, another table instead times BLAS on one thread against BLAS on all the
threads threadpoolctl allows, over products of growing work (the forward form of the loop's
layers), and shows the path cnet takes (``cnet._kernels.matmul_path``):
``GEMM_PARALLEL_MIN_WORK`` is set where two threads start to pay on a quiet machine. Take it
on a quiet machine only: a busy core makes the threaded column many times slower.

Usage: ``python benchmarks/gemm_crossover.py [--quick] [--threads] [--skinny-only]``
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
# The products of one full-batch epoch of [2, H, 1] over m samples, as _batch_step calls them
# (the input read features x samples, since its layer runs on the loops): (name, form, m, n, k).
SKINNY_NET = [
    ("forward 1", "TN", "H", "m", 2),
    ("forward 2", "TN", 1, "m", "H"),
    ("error to 1", "NN", "H", "m", 1),
    ("grad W2", "NT", "H", 1, "m"),
    ("grad W1", "NT", 2, "H", "m"),
]
SKINNY_SIDES = [1, 2, 3, 4, 6, 8, 12, 16]
# The other two dimensions (in the order m, n, k with the small one left out): square, and
# long one way or the other.
SKINNY_OTHERS = [(16, 16), (16, 4096), (4096, 16), (128, 128), (128, 2048), (2048, 128),
                 (1024, 1024)]


def calls_lasting(func, args, min_seconds, growth):
    """How many calls of func in a row last more than min_seconds (a power of growth)."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            func(*args)
        if time.perf_counter() - start > min_seconds:
            return calls
        calls *= growth


def best_time(func, args, repeats, min_seconds=0.02):
    """Median over ``repeats`` of the mean time of a call, each sample lasting min_seconds."""
    func(*args)
    calls = calls_lasting(func, args, min_seconds, growth=4)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            func(*args)
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def fastest_pair(first, second, args, repeats, min_seconds=0.002):
    """The fastest mean call time of each of two functions over ``repeats`` samples taken in
    turn, each sample lasting about min_seconds. On a shared machine other processes only
    ever slow a sample down, so the fastest is the least disturbed; taking them in turn
    exposes both to the same moments of load."""
    first(*args)
    second(*args)
    calls = calls_lasting(first, args, min_seconds, growth=2)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, func in enumerate((first, second)):
            start = time.perf_counter()
            for _ in range(calls):
                func(*args)
            best[i] = min(best[i], (time.perf_counter() - start) / calls)
    return best


def operands(m, n, k, trans_a, trans_b, dtype, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, np.empty((m, n), dtype=dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", action="store_true",
                        help="only the table of BLAS on one thread against all it may use")
    parser.add_argument("--skinny-only", action="store_true",
                        help="only the skinny tables (one small dimension; [2, H, 1] epochs)")
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
            skinny_table(kernels, args.quick, repeats, rng)
            skinny_net_table(kernels, args.quick, repeats, rng)
            if args.skinny_only:
                continue
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


def skinny_table(kernels, quick, repeats, rng):
    """Loops' time over BLAS's for products with one small dimension, per form and dtype."""
    sides = [1, 2, 4, 8, 16] if quick else SKINNY_SIDES
    pairs = [(16, 4096), (4096, 16), (128, 128), (1024, 1024)] if quick else SKINNY_OTHERS
    print(f"\nskinny products: loops' time / BLAS's (fastest of {3 * repeats} samples "
          f"each); * where cnet runs the loops")
    print(f"{'dtype':<8} {'form':<4} {'small':<5} {'others':>11} "
          + " ".join(f"{f's={s}':>7}" for s in sides))
    for dtype in (np.float64, np.float32):
        for form, (ta, tb) in FORMS.items():
            for small in "kmn":
                for others in pairs:
                    cells = []
                    for s in sides:
                        dims = dict(zip([d for d in "mnk" if d != small], others), **{small: s})
                        m, n, k = dims["m"], dims["n"], dims["k"]
                        a, b, out = operands(m, n, k, ta, tb, dtype, rng)
                        t_small, t_blas = fastest_pair(kernels.matmul_small, kernels.matmul_blas,
                                                       (a, b, out, ta, tb), 3 * repeats)
                        mark = "*" if not kernels.matmul_uses_blas(m, n, k, ta, tb) else " "
                        cells.append(f"{t_small / t_blas:>6.2f}{mark}")
                    print(f"{np.dtype(dtype).name:<8} {form:<4} {small.upper():<5} "
                          f"{'x'.join(map(str, others)):>11} " + " ".join(cells), flush=True)


def skinny_net_table(kernels, quick, repeats, rng):
    """The products of one full-batch epoch of [2, H, 1]: both paths and cnet's pick."""
    print(f"\n{'dtype':<8} {'[2, H, 1] epoch':<20} {'m x n x k':>16} {'small µs':>9} "
          f"{'BLAS µs':>9} {'small/BLAS':>10}  auto")
    for dtype in (np.float64, np.float32):
        for hidden in (5, 50, 500):
            for rows in (240, 2400) if quick else (240, 2400, 24000):
                for name, form, *dims in SKINNY_NET:
                    m, n, k = ({"H": hidden, "m": rows}.get(d, d) for d in dims)
                    ta, tb = FORMS[form]
                    row = time_pair(kernels, m, n, k, ta, tb, dtype, rng, 3 * repeats,
                                    fastest=True)
                    print(f"{np.dtype(dtype).name:<8} {f'H={hidden} {name} {form}':<20} "
                          f"{f'{m}x{n}x{k}':>16} {row}", flush=True)


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
                  f"{_kernels.matmul_path(m, n, k, True, False)}", flush=True)


def time_pair(kernels, m, n, k, ta, tb, dtype, rng, repeats, fastest=False):
    """The table cells for one product: both paths' times (medians, or with fastest the
    fastest samples of the two taken in turn), their ratio, the automatic pick."""
    a, b, out = operands(m, n, k, ta, tb, dtype, rng)
    if fastest:
        t_small, t_blas = fastest_pair(kernels.matmul_small, kernels.matmul_blas,
                                       (a, b, out, ta, tb), repeats)
    else:
        t_small = best_time(kernels.matmul_small, (a, b, out, ta, tb), repeats)
        t_blas = best_time(kernels.matmul_blas, (a, b, out, ta, tb), repeats)
    auto = "BLAS" if kernels.matmul_uses_blas(m, n, k, ta, tb) else "small"
    return f"{t_small * 1e6:>9.2f} {t_blas * 1e6:>9.2f} {t_small / t_blas:>10.2f}  {auto}"

if __name__ == "__main__":
    main()
