"""Speed: the tutorials' workload trained by cnet, its numpy twin and scikit-learn's MLP.

A few seconds' version of ``benchmarks/compare.py`` (which also times PyTorch and larger
networks): microseconds per epoch, side by side in one process.

Run: ``python examples/speed.py``
"""
import time
import warnings

from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import cnet


def per_epoch(fit, epochs):
    """Microseconds per epoch of ``fit(epochs)``, after a short warm-up."""
    fit(10)
    start = time.perf_counter()
    fit(epochs)
    return (time.perf_counter() - start) / epochs * 1e6


def main(epochs=2000):
    X, y = make_moons(240, noise=0.2, random_state=0)

    def cnet_fit(backend):
        return lambda n: cnet.NeuralNet(layers=[2, 5, 1], learning_rate=0.003, iterations=n,
                                        loss_every=1000, random_state=0,
                                        backend=backend).fit(X, y)

    def sklearn_fit(n):
        MLPClassifier((5,), solver="sgd", momentum=0, alpha=0, batch_size=240,
                      learning_rate_init=0.003, shuffle=False, max_iter=n, tol=0,
                      n_iter_no_change=10**9).fit(X, y)

    # The compiled loop runs 10x the epochs so that its timing is long enough to measure.
    peers = {"cnet (Cython)": (cnet_fit("cython"), epochs * 10),
             "cnet (numpy twin)": (cnet_fit("numpy"), epochs),
             "scikit-learn": (sklearn_fit, epochs)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        times = {name: per_epoch(fit, n) for name, (fit, n) in peers.items()}
    base = times["cnet (Cython)"]
    for name, us in times.items():
        print(f"{name:<18} {us:8.2f} µs/epoch  {us / base:6.1f}x cnet")
    return times


if __name__ == "__main__":
    main()
