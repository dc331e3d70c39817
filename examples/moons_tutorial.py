"""The first tutorial redone with cnet: make_moons, a [2, 5, 1] network, the true gradient.

Trains the tutorial's network (relu hidden layer, sigmoid output, learning rate 0.003,
20,000 full-batch epochs), prints train and validation accuracy, and saves the decision
boundary and the loss curve as PNGs.

Run: ``python examples/moons_tutorial.py [--out DIR] [--iterations N]``
"""
import argparse
from pathlib import Path

from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

import cnet
from cnet import plot


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the PNGs")
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args(argv)
    X, y = make_moons(300, noise=0.20, random_state=0)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0, test_size=0.20)
    net = cnet.NeuralNet(layers=[2, 5, 1], learning_rate=0.003, iterations=args.iterations,
                         loss_every=100, random_state=0).fit(X_train, y_train)
    print(f"train accuracy {net.score(X_train, y_train):.1%}, "
          f"validation accuracy {net.score(X_val, y_val):.1%}")
    out = Path(args.out)
    plot.decision_boundary(net, X, y, path=out / "moons_boundary.png")
    plot.loss_curve(net, path=out / "moons_loss.png")
    print(f"saved {out / 'moons_boundary.png'} and {out / 'moons_loss.png'}")
    return net.score(X_val, y_val)


if __name__ == "__main__":
    main()
