"""Throughput of cnet fits in two threads against one, in one process.

The compiled loop releases the GIL for whole epochs, so two models can train at once on two
cores. This times N fits run one after the other and the same N fits spread over two
threads, and prints fits per second and the ratio (2.0 would be perfect scaling).

Usage: ``python benchmarks/threads.py [--quick] [--blas policy|one|off]``. ``policy`` (the
default) leaves BLAS's threads to cnet's thread policy (``cnet._blas_threads``); ``one``
limits BLAS to one thread with threadpoolctl, as this script did before the policy; ``off``
turns the policy off, so OpenBLAS chooses its threads alone. ``cnet bench``'s threads row
measures the same on digits10 and wide10.
"""
import argparse
import os
import statistics
import threading
import time
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

import cnet
from cnet import _blas_threads

BLAS = {"policy": nullcontext, "one": lambda: threadpool_limits(limits=1, user_api="blas"),
        "off": _blas_threads.policy_off}

WORKLOADS = {
    # name: (layers, rows, batch size, epochs)
    "seed-like [2,5,1], full batch": ([2, 5, 1], 240, None, 4000),
    "digits-like [64,128,1], batch 64": ([64, 128, 1], 1797, 64, 20),
}


def make_fit(layers, rows, batch_size, epochs, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, layers[0]))
    y = X[:, 0] > 0

    def fit():
        cnet.NeuralNet(layers=layers, iterations=epochs, batch_size=batch_size,
                       learning_rate=0.01, loss_every=0, random_state=seed).fit(X, y)
    return fit


def sequential(fits):
    start = time.perf_counter()
    for fit in fits:
        fit()
    return time.perf_counter() - start


def two_threads(fits):
    halves = [fits[0::2], fits[1::2]]
    threads = [threading.Thread(target=lambda part=part: [f() for f in part]) for part in halves]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--blas", choices=sorted(BLAS), default="policy",
                        help="BLAS threads: cnet's policy, one thread, or OpenBLAS alone")
    args = parser.parse_args()
    n_fits, repeats = (4, 3) if args.quick else (8, 5)
    print(f"{os.cpu_count()} cores; {n_fits} fits per timing, median of {repeats}; "
          f"BLAS threads: {args.blas}")
    print(f"{'workload':<34} {'1 thread fits/s':>16} {'2 threads fits/s':>17} {'ratio':>6}")
    with BLAS[args.blas]():
        for name, (layers, rows, batch, epochs) in WORKLOADS.items():
            if args.quick:
                epochs = max(1, epochs // 4)
            fits = [make_fit(layers, rows, batch, epochs, seed) for seed in range(n_fits)]
            fits[0]()   # warm-up
            one, two = [], []
            for _ in range(repeats):
                time.sleep(0.2)
                one.append(sequential(fits))
                time.sleep(0.2)
                two.append(two_threads(fits))
            rate1, rate2 = n_fits / statistics.median(one), n_fits / statistics.median(two)
            print(f"{name:<34} {rate1:>16.1f} {rate2:>17.1f} {rate2 / rate1:>5.2f}x")


if __name__ == "__main__":
    main()
