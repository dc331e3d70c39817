"""``python -m cnet``: the tutorials' workload, trained by both backends, side by side."""
import argparse
import time

from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from cnet import NeuralNet


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnet", description=__doc__)
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args(argv)

    X, y = make_moons(300, noise=0.2, random_state=0)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0, test_size=0.2)
    print(f"make_moons(300, noise=0.2): {len(X_train)} training and {len(X_val)} validation "
          f"rows; layers [2, 5, 1], relu, learning rate 0.003, {args.iterations} full-batch "
          f"epochs, loss recorded every 1000\n")
    print(f"{'backend':<8} {'val. accuracy':>14} {'final loss':>11} {'time (s)':>9} "
          f"{'µs/epoch':>9}")
    seconds = {}
    for backend in ("cython", "numpy"):
        net = NeuralNet(layers=[2, 5, 1], learning_rate=0.003, iterations=args.iterations,
                        loss_every=1000, random_state=0, backend=backend)
        start = time.perf_counter()
        net.fit(X_train, y_train)
        seconds[backend] = time.perf_counter() - start
        print(f"{backend:<8} {net.score(X_val, y_val):>14.1%} {net.loss_[-1]:>11.4f} "
              f"{seconds[backend]:>9.3f} {seconds[backend] / args.iterations * 1e6:>9.2f}")
    print(f"\ncython is {seconds['numpy'] / seconds['cython']:.1f}x faster than the numpy twin "
          f"on the same work.")


if __name__ == "__main__":
    main()
