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


# --- what the plane shows, read back from the drawn pixels ------------------------------------

def _colour_at(ax, x, y):
    """The RGB colour drawn at data point (x, y) of ``ax``."""
    canvas = ax.figure.canvas
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3] / 255
    px, py = ax.transData.transform((x, y))
    return image[int(round(image.shape[0] - py)), int(round(px))]


def _inner_points(lo, hi, n=7):
    """A grid of points well inside the plane, away from the two corner points drawn."""
    xs = np.linspace(lo[0], hi[0], n + 2)[1:-1]
    ys = np.linspace(lo[1], hi[1], n + 2)[1:-1]
    return np.array([(a, b) for a in xs for b in ys])


def test_classifier_regions_are_the_predicted_classes():
    # Strings as labels, three classes: each sampled point of the plane must be drawn in the
    # light colour of the class predict gives there (tolerance: 2/255 per channel).
    from sklearn.datasets import make_blobs
    X, y = make_blobs(300, centers=3, random_state=0)
    labels = np.array(["a", "b", "c"])[y]
    clf = cnet.MLPClassifier((8,), solver="lbfgs", max_iter=300, random_state=0).fit(X, labels)
    corners = np.array([X.min(axis=0), X.max(axis=0)])
    ax = plot.decision_boundary(clf, corners, ["a", "c"], resolution=400)
    points = _inner_points(*corners)
    predicted = clf.predict(points)
    confident = clf.predict_proba(points).max(axis=1) > 0.8    # away from the boundaries
    assert confident.sum() >= 20 and len(set(predicted[confident])) == 3
    for point, label in zip(points[confident], predicted[confident]):
        colour = plot.CLASS_COLOURS[list(clf.classes_).index(label)]
        light = np.array([0.6 + 0.4 * c for c in to_rgb(colour)])
        np.testing.assert_allclose(_colour_at(ax, *point), light, atol=2 / 255)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_regressor_plane_is_its_prediction_with_a_colour_bar():
    # y = x0 + 2 x1: the colour at each sampled point, read back on the colour map, must be
    # the prediction there to within one of the 20 contour bands (plus rounding).
    from matplotlib import colormaps
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 2))
    y = X[:, 0] + 2 * X[:, 1]
    reg = cnet.MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=500,
                            random_state=0).fit(X, y)
    ax = plot.decision_boundary(reg, X[:2], y[:2])
    assert len(ax.figure.axes) == 2                         # the plot and its colour bar
    assert ax.figure.axes[1].get_ylabel() == "prediction"
    assert ax.get_title() == "MLPRegressor: prediction"
    lo, hi = ax.get_xlim(), ax.get_ylim()
    points = _inner_points((lo[0], hi[0]), (lo[1], hi[1]), n=5)
    predicted = reg.predict(points)
    span = np.concatenate([reg.predict(np.array(np.meshgrid(
        np.linspace(*lo, 200), np.linspace(*hi, 200))).reshape(2, -1).T), y[:2]])
    scale = colormaps[plot.REGRESSION_COLOURMAP](np.linspace(0, 1, 1001))[:, :3]
    for point, value in zip(points, predicted):
        drawn = _colour_at(ax, *point)
        position = np.argmin(np.abs(scale - drawn).sum(axis=1)) / 1000
        expected = (value - span.min()) / (span.max() - span.min())
        assert abs(position - expected) <= 1 / 20 + 0.01, (point, position, expected)


def test_axes_are_labelled_with_feature_names_when_known():
    pd = pytest.importorskip("pandas")   # in the test extra; skipped only without it
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = make_moons(100, noise=0.2, random_state=0)
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=10, random_state=0).fit(X, y)
    ax = plot.decision_boundary(net, X, y)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
    frame = pd.DataFrame(X, columns=["length", "width"])
    for model in (cnet.NeuralNet(layers=[2, 4, 1], iterations=10).fit(frame, y),
                  make_pipeline(StandardScaler(), cnet.MLPClassifier((4,), max_iter=5))):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)   # "X does not have valid names"
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(frame, y)
            ax = plot.decision_boundary(model, frame, y)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("length", "width")
    assert ax.get_title() == "Pipeline (MLPClassifier): decision boundary"
    # Arrays drawn for a model fitted on arrays, but named by the caller's DataFrame.
    ax = plot.decision_boundary(net, frame, y)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("length", "width")


def test_decision_boundary_refuses_what_it_cannot_draw():
    from sklearn.exceptions import NotFittedError
    from sklearn.preprocessing import StandardScaler
    X, y = make_moons(60, random_state=0)
    with pytest.raises(NotFittedError):
        plot.decision_boundary(cnet.NeuralNet(layers=[2, 3, 1]), X, y)
    with pytest.raises(TypeError, match="neither"):
        plot.decision_boundary(StandardScaler().fit(X), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        multilabel = cnet.MLPClassifier((3,), max_iter=3).fit(X, np.column_stack([y, 1 - y]))
        two_outputs = cnet.MLPRegressor(hidden_layer_sizes=(3,), max_iter=3).fit(
            X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="multi-label"):
        plot.decision_boundary(multilabel, X, y)
    with pytest.raises(ValueError, match="one output"):
        plot.decision_boundary(two_outputs, X, y)
    net = cnet.NeuralNet(layers=[2, 3, 1], iterations=2).fit(X, y)
    with pytest.raises(ValueError, match="one label or target per row"):
        plot.decision_boundary(net, X, y[:-1])


def test_neural_net_losses_are_drawn_at_the_epochs_that_recorded_them():
    X, y = make_moons(80, noise=0.2, random_state=0)
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=50, loss_every=10,
                         random_state=0).fit(X, y)
    line, = plot.loss_curve(net).get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 11, 21, 31, 41])
    np.testing.assert_array_equal(line.get_ydata(), net.loss_curve_)


# --- cnet.plot from a fresh interpreter --------------------------------------------------------

def _python(code, tmp_path):
    """Run ``code`` in a fresh interpreter from ``tmp_path``, importing this cnet."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent),
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_cnet_plot_is_reachable_after_import_cnet_without_importing_matplotlib(tmp_path):
    result = _python(
        "import sys, cnet\n"
        "print('matplotlib' in sys.modules, 'cnet.plot' in sys.modules)\n"
        "print(callable(cnet.plot.decision_boundary), callable(cnet.plot.loss_curve))\n"
        "print('plot' in dir(cnet))\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True", "True", "True"]


def test_without_matplotlib_the_error_names_the_extra(tmp_path):
    result = _python(
        "import sys\n"
        "sys.modules['matplotlib'] = None   # as if it were not installed\n"
        "import cnet\n"
        "from cnet import *                 # plot is not in __all__: this works\n"
        "try:\n"
        "    cnet.plot\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "    print(exc.__cause__, exc.__suppress_context__)\n", tmp_path)
    assert result.returncode == 0, result.stderr
    message, chained = result.stdout.splitlines()
    assert message == 'cnet.plot needs matplotlib: pip install "cnet-mlp[plot]"'
    assert chained == "None True"


def test_sparse_points_draw_as_their_dense_copy():
    import scipy.sparse as sp
    X, y = make_moons(80, noise=0.2, random_state=0)
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=20, random_state=0).fit(X, y)
    dense = plot.decision_boundary(net, X, y)
    sparse = plot.decision_boundary(net, sp.csr_matrix(X), y)
    assert sparse.get_xlim() == dense.get_xlim() and sparse.get_ylim() == dense.get_ylim()
    np.testing.assert_array_equal(sparse.collections[-1].get_offsets(),
                                  dense.collections[-1].get_offsets())
