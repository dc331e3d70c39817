"""The second tutorial's shape: NeuralNet(layers=[13, 8, 1]) on a 13-feature table.

The wine data set that ships with scikit-learn has 13 features; the task here is class 0
against the rest. Features are standardised, as a network needs.

Run: ``python examples/thirteen_features.py``
"""
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import cnet


def main():
    X, y = load_wine(return_X_y=True)
    y = (y == 0).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    net = cnet.NeuralNet(layers=[13, 8, 1], learning_rate=0.05, iterations=2000,
                         loss_every=500, random_state=0)
    net.fit(scaler.transform(X_train), y_train)
    accuracy = net.score(scaler.transform(X_test), y_test)
    print(net.summary())
    print(f"loss every 500 epochs: {[round(v, 4) for v in net.loss_]}")
    print(f"test accuracy {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
