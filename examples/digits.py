"""Ten classes: handwritten digits with MLPClassifier, a validation set and early stopping.

Run: ``python examples/digits.py [--out DIR]``
"""
import argparse
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import cnet
from cnet import plot


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the PNG")
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    clf = cnet.MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, max_iter=300,
                             random_state=0)
    clf.fit(X_train, y_train, eval_set=(X_test, y_test))
    accuracy = clf.score(X_test, y_test)
    print(f"{clf.n_iter_} epochs (early stopping), test accuracy {accuracy:.1%}")
    plot.loss_curve(clf, path=Path(args.out) / "digits_loss.png")
    return accuracy


if __name__ == "__main__":
    main()
