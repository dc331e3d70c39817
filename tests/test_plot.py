"""cnet.plot, drawn headless (Agg): the files appear and show what they should."""
import warnings

import matplotlib
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

import cnet  # noqa: E402
from cnet import plot  # noqa: E402


def _has_colour(image, colour, tol=0.02):
    rgb = image[..., :3]
    return bool((np.abs(rgb - np.array(to_rgb(colour))).max(axis=-1) < tol).any())


def test_decision_boundary_png_shows_both_classes(tmp_path):
    X, y = make_moons(200, noise=0.2, random_state=0)
    net = cnet.NeuralNet(layers=[2, 8, 1], iterations=2000, learning_rate=0.05,
                         random_state=0).fit(X, y)
    path = tmp_path / "boundary.png"
    plot.decision_boundary(net, X, y, path=path)
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    for colour in plot.CLASS_COLOURS[:2]:
        assert _has_colour(image, colour), colour          # the points of each class
        light = tuple(0.6 + 0.4 * c for c in to_rgb(colour))
        assert _has_colour(image, light), light            # and a region for each
    assert not _has_colour(image, plot.CLASS_COLOURS[2])   # and no third class


def test_loss_curve_png_with_validation(tmp_path):
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cnet.MLPClassifier((16,), max_iter=10, random_state=0).fit(
            X[:1200] / 16, y[:1200], eval_set=(X[1200:] / 16, y[1200:]))
    path = tmp_path / "loss.png"
    ax = plot.loss_curve(clf, path=path)
    assert [line.get_label() for line in ax.get_lines()] == ["training loss",
                                                             "validation loss"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), clf.validation_loss_curve_)
    image = matplotlib.image.imread(path)
    assert _has_colour(image, plot.CLASS_COLOURS[0]) and _has_colour(image,
                                                                     plot.CLASS_COLOURS[1])


def test_plot_errors():
    X, y = make_moons(50, random_state=0)
    net = cnet.NeuralNet(layers=[2, 3, 1], iterations=1, loss_every=0).fit(X, y)
    with pytest.raises(ValueError, match="two features"):
        plot.decision_boundary(net, np.ones((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="recorded no loss"):
        plot.loss_curve(net)
