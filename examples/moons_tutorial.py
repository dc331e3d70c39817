"""The first tutorial redone with cnet: make_moons, a [2, 5, 1] network, the true gradient.

Trains the tutorial's network (relu hidden layer, sigmoid output, learning rate 0.003,
20,000 full-batch epochs), prints train and validation accuracy, and saves the decision
boundary and the loss curve as PNGs. Then it looks inside the trained network: the forward
pass's Z1, A1, Z2, A2 for a few samples and the gradient's dW1, db1, dW2, db2, each printed
beside the formula that gives it, the backward formulas worked out in numpy next to cnet's
own gradient, and a finite-difference check of that gradient.

Run: ``python examples/moons_tutorial.py [--out DIR] [--iterations N]``
"""
import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

import cnet
from cnet import plot


def show(name, value, formula):
    """Print one named array with the formula it comes from."""
    print(f"{name} {str(value.shape):8} {formula}")
    print("   " + np.array2string(value, precision=4, suppress_small=True,
                                  max_line_width=96).replace("\n", "\n   "))


def forward_pass(net, X):
    """Print the forward pass of the first samples of X, layer by layer."""
    print(f"\nThe forward pass, for the first {len(X)} samples (one row per sample):")
    values = net.forward(X, return_intermediates=True)
    show("Z1", values["Z1"], "= X @ W1 + b1   each hidden unit: a weighted sum of the inputs "
                             "plus its bias")
    show("A1", values["A1"], "= relu(Z1)      negative sums are cut to 0")
    show("Z2", values["Z2"], "= A1 @ W2 + b2  the output unit's weighted sum of A1")
    show("A2", values["A2"], "= sigmoid(Z2)   the probability of class 1 (predict_proba's "
                             "column 1)")
    return values


def backward_pass(net, X, y):
    """Print the gradient of the mean cross-entropy, from cnet and from the formulas."""
    loss, grads = net.gradients(X, y)
    print(f"\nThe backward pass over all {len(X)} training samples: the mean binary "
          f"cross-entropy is {loss:.6f}")
    # The chain rule, layer by layer from the output back, in plain numpy from the forward
    # pass's values: what cnet's compiled loop computes.
    values = net.forward(X, return_intermediates=True)
    W2 = net.params["W2"]
    dZ2 = (values["A2"] - y.reshape(-1, 1)) / len(X)
    dZ1 = (dZ2 @ W2.T) * (values["Z1"] > 0)
    formulas = {
        "dW2": ("= A1.T @ dZ2      with dZ2 = (A2 - y) / n", values["A1"].T @ dZ2),
        "db2": ("= dZ2 summed over the samples", dZ2.sum(axis=0)),
        "dW1": ("= X.T @ dZ1       with dZ1 = (dZ2 @ W2.T) * (Z1 > 0): back through "
                "W2, not dW2", X.T @ dZ1),
        "db1": ("= dZ1 summed over the samples", dZ1.sum(axis=0)),
    }
    largest = 0.0
    for name, (formula, by_hand) in formulas.items():
        show(name, grads[name], formula)
        largest = max(largest, float(np.abs(by_hand - grads[name]).max()))
    print(f"The formulas in numpy and net.gradients differ by at most {largest:.1e}.")
    return grads


def gradient_check(net, X, y, grads, step=1e-6):
    """Compare a few entries of each gradient with central finite differences of the loss.

    Returns the largest relative difference."""
    print("\nFinite differences: nudge one parameter by +-step, see how the loss moves:")
    print(f"{'parameter':>12} {'gradient':>14} {'(up - down) / 2 step':>22}")
    largest = 0.0
    for name in ("W1", "b1", "W2", "b2"):
        array = net.params[name]
        flat = array.reshape(-1)                  # a view: writing into it changes the net
        for i in range(min(2, flat.size)):
            index = ", ".join(str(int(j)) for j in np.unravel_index(i, array.shape))
            where = f"{name}[{index}]"
            original = flat[i]
            flat[i] = original + step
            up, _ = net.gradients(X, y)
            flat[i] = original - step
            down, _ = net.gradients(X, y)
            flat[i] = original
            numeric = (up - down) / (2 * step)
            exact = grads[f"d{name}"].reshape(-1)[i]
            print(f"{where:>12} {exact:14.8f} {numeric:22.8f}")
            largest = max(largest, abs(numeric - exact) / max(abs(exact), 1e-8))
    verdict = "the gradient is the true one" if largest < 1e-5 else "the gradient is WRONG"
    print(f"Largest relative difference {largest:.1e}: {verdict}.")
    return largest


def look_inside(net, X, y, n_show=3):
    """Print the tutorial's quantities for a fitted NeuralNet; returns the finite-difference
    check's largest relative difference."""
    forward_pass(net, X[:n_show])
    grads = backward_pass(net, X, y)
    return gradient_check(net, X, y, grads)


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
    look_inside(net, X_train, y_train)
    return net.score(X_val, y_val)


if __name__ == "__main__":
    main()
