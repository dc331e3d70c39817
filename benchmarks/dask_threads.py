"""Throughput of cnet fits on a dask worker with two threads against one with one thread.

The compiled loop releases the GIL for whole epochs, so a threaded dask worker
(``LocalCluster(processes=False, threads_per_worker=2)``) trains two models at once on two
cores. This submits the same N fits, all at once, to an in-process worker with one thread
and to one with two, and prints fits per second and the ratio (2.0 would be perfect
scaling). Both get all tasks at once so that dask's per-task latency is hidden alike; only
the number of threads differs. The numpy twin's rows are the contrast: its many small
numpy calls hold the GIL between them.

Usage: ``python benchmarks/dask_threads.py [--quick]``. BLAS is limited to one thread so
that the worker's threads, not BLAS's own workers, use the cores. On a machine with other
work running the ratio drops: run it on an idle one.
"""
import argparse
import contextlib
import os
import statistics
import time

import numpy as np
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits

import cnet
# threads.py's workloads, so that its ratios (plain threads) and these (dask) compare.
from threads import WORKLOADS


def fit(layers, rows, batch_size, epochs, seed, backend):
    """One fit of a NeuralNet on seeded random data; returns its flat parameters."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, layers[0]))
    y = X[:, 0] > 0
    net = cnet.NeuralNet(layers=layers, iterations=epochs, batch_size=batch_size,
                         learning_rate=0.01, loss_every=0, random_state=seed,
                         backend=backend).fit(X, y)
    return net._params_flat


def seconds(client, tasks):
    """Wall time of ``tasks`` submitted all at once."""
    start = time.perf_counter()
    client.gather([client.submit(fit, *args, pure=False) for args in tasks])
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_fits, repeats = (4, 3) if args.quick else (8, 5)
    print(f"{os.cpu_count()} cores; one in-process dask worker; {n_fits} fits per timing, "
          f"median of {repeats}")
    print(f"{'workload':<34} {'backend':<8} {'1 thread fits/s':>16} "
          f"{'2 threads fits/s':>17} {'ratio':>6}")
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        clients = {}
        for threads in (1, 2):
            cluster = stack.enter_context(LocalCluster(
                n_workers=1, threads_per_worker=threads, processes=False,
                dashboard_address="127.0.0.1:0"))
            clients[threads] = stack.enter_context(Client(cluster, set_as_default=False))
        for name, (layers, rows, batch, epochs) in WORKLOADS.items():
            for backend in ("cython", "numpy"):
                # The twin is 3-5x slower per epoch: fewer epochs keep its rows short.
                n_epochs = epochs if backend == "cython" else max(1, epochs // 4)
                if args.quick:
                    n_epochs = max(1, n_epochs // 4)
                tasks = [(layers, rows, batch, n_epochs, seed, backend)
                         for seed in range(n_fits)]
                times = {1: [], 2: []}
                for client in clients.values():
                    client.submit(fit, *tasks[0], pure=False).result()   # warm-up
                for _ in range(repeats):       # interleaved, so drifting load hits both
                    for threads, client in clients.items():
                        time.sleep(0.2)
                        times[threads].append(seconds(client, tasks))
                rate1, rate2 = (n_fits / statistics.median(times[t]) for t in (1, 2))
                print(f"{name:<34} {backend:<8} {rate1:>16.1f} {rate2:>17.1f} "
                      f"{rate2 / rate1:>5.2f}x", flush=True)

if __name__ == "__main__":
    main()
