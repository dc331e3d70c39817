"""Pictures of a model: its decision boundary and its loss curves (needs matplotlib).

Install with ``pip install "cnet-mlp[plot]"``. Each function draws on the given Axes (or a new
figure), saves a PNG when ``path`` is given, and returns the Axes.
"""
import numpy as np

try:
    import matplotlib  # noqa: F401  (pyplot itself is imported when a figure is made)
except ImportError:
    # No chained traceback: the missing package and the command that installs it are all a
    # user needs to know.
    raise ImportError('cnet.plot needs matplotlib: pip install "cnet-mlp[plot]"') from None

# One colour per class, for the points; the regions use the same hues, lighter.
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# A regressor's prediction, and its points' targets, on one perceptually uniform scale.
REGRESSION_COLOURMAP = "viridis"


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(6, 4.5))
    return ax


def _finish(ax, path):
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax


def _final_estimator(model):
    """The estimator a Pipeline ends in (the model itself otherwise)."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _model_name(model):
    final = _final_estimator(model)
    if final is model:
        return type(model).__name__
    return f"{type(model).__name__} ({type(final).__name__})"


def _feature_names(model, X):
    """The two features' names: the model's (fitted on a DataFrame), X's columns, or x0, x1."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(X, "columns", None)
    if names is None or len(names) != 2:
        return ["x0", "x1"]
    return [str(name) for name in names]


def _is_regressor(model):
    from sklearn.base import is_classifier, is_regressor
    if is_regressor(model):
        return True
    if is_classifier(model) or hasattr(model, "classes_"):
        return False
    raise TypeError(f"decision_boundary draws a classifier's regions or a regressor's "
                    f"prediction; {_model_name(model)} is neither")


def decision_boundary(model, X, y=None, ax=None, path=None, resolution=200):
    """Colour the plane by a fitted model's prediction, with the data on top.

    A classifier's plane is coloured by the class it predicts, one colour per class; a
    regressor's by its prediction, a filled contour with a colour bar, the points coloured by
    their targets on the same scale. The axes are labelled with the feature names when the
    model was fitted on a DataFrame (or ``X`` is one), else ``x0`` and ``x1``.

    Parameters
    ----------
    model : NeuralNet, MLPClassifier, MLPRegressor or a Pipeline ending in one
        Fitted on two features. Any fitted scikit-learn classifier or regressor works too.
    X : {array-like, DataFrame, sparse matrix} of shape (n_samples, 2)
        The points to draw; the plane drawn covers them with a margin of a tenth.
    y : array-like of shape (n_samples,), optional
        The points' labels (from ``model.classes_``) or targets. None draws them in one
        colour.
    ax : matplotlib Axes, optional
    path : str or path-like, optional
        Save the figure here as PNG.
    resolution : int, default 200
        Grid points per axis.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        If X does not have two columns, ``y`` is not one value per row, the model has more
        classes than colours or several outputs (multi-label, multi-output).
    TypeError
        If the model is neither a classifier nor a regressor.
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    """
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(model)
    names = _feature_names(model, X)
    if hasattr(X, "toarray"):    # scipy.sparse: two columns are small dense
        X = X.toarray()
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary draws two features; X has shape {X.shape}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must hold one label or target per row of X "
                             f"({X.shape[0]},); it has shape {y.shape}")
    regression = _is_regressor(model)
    if not regression and len(model.classes_) > len(CLASS_COLOURS):
        raise ValueError(f"decision_boundary colours at most {len(CLASS_COLOURS)} classes; "
                         f"the model has {len(model.classes_)}")
    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    if getattr(model, "feature_names_in_", None) is not None:
        # Named as in fit, or scikit-learn warns that the grid has no feature names.
        import pandas as pd
        grid = pd.DataFrame(grid, columns=model.feature_names_in_)
    ax = _axes(ax)
    if regression:
        _draw_regression(model, grid, gx, gy, X, y, ax)
    else:
        _draw_classes(model, grid, gx, gy, X, y, ax)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(f"{_model_name(model)}: "
                 f"{'prediction' if regression else 'decision boundary'}")
    return _finish(ax, path)


def _draw_classes(model, grid, gx, gy, X, y, ax):
    from matplotlib.colors import ListedColormap, to_rgb
    classes = list(model.classes_)
    # A multi-label model has classes_ and a probability per label too: its predictions'
    # shape tells it apart.
    if np.ndim(classes) != 1 or np.ndim(model.predict(grid[:1])) != 1:
        raise ValueError("decision_boundary draws one label per point; the model predicts "
                         "several (multi-label)")
    if hasattr(model, "predict_proba"):
        region = np.argmax(model.predict_proba(grid), axis=1)
    else:
        region = np.searchsorted(np.asarray(model.classes_), np.asarray(model.predict(grid)))
    colours = CLASS_COLOURS[:len(classes)]
    light = [tuple(0.6 + 0.4 * c for c in to_rgb(col)) for col in colours]
    ax.contourf(gx, gy, region.reshape(gx.shape), levels=np.arange(len(classes) + 1) - 0.5,
                cmap=ListedColormap(light))
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=18, color="black", edgecolor="white", linewidth=0.4)
        return
    for k, label in enumerate(classes):
        mine = y == label
        ax.scatter(X[mine, 0], X[mine, 1], s=18, color=colours[k], edgecolor="white",
                   linewidth=0.4, label=str(label))
    ax.legend(loc="best", fontsize="small")


def _draw_regression(model, grid, gx, gy, X, y, ax):
    from matplotlib.colors import Normalize
    predicted = np.asarray(model.predict(grid), dtype=float)
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    if predicted.ndim != 1:
        raise ValueError(f"decision_boundary draws one output; the model predicts "
                         f"{predicted.shape[1]}")
    if not np.isfinite(predicted).all():
        raise ValueError("the model predicts NaN or infinity on the plotted plane")
    values = predicted if y is None else np.concatenate([predicted, y.astype(float)])
    # One scale for the plane and the points, so a point's colour against the plane's shows
    # its residual.
    norm = Normalize(values.min(), values.max())
    filled = ax.contourf(gx, gy, predicted.reshape(gx.shape), levels=20,
                         cmap=REGRESSION_COLOURMAP, norm=norm)
    ax.figure.colorbar(filled, ax=ax, label="prediction")
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=18, color="black", edgecolor="white", linewidth=0.4)
    else:
        ax.scatter(X[:, 0], X[:, 1], s=18, c=y.astype(float), cmap=REGRESSION_COLOURMAP,
                   norm=norm, edgecolor="white", linewidth=0.4)


def loss_curve(model, ax=None, path=None):
    """The training loss per epoch, and the validation loss when the model recorded one.

    Parameters
    ----------
    model : NeuralNet, MLPClassifier, MLPRegressor or a Pipeline ending in one
        Fitted. A ``NeuralNet``'s losses are drawn at the epochs that recorded them
        (1, k + 1, 2k + 1, ... for ``loss_every=k``).
    ax : matplotlib Axes, optional
    path : str or path-like, optional
        Save the figure here as PNG.

    Returns
    -------
    matplotlib Axes
    """
    final = _final_estimator(model)
    if isinstance(getattr(final, "loss_", None), list):
        # NeuralNet: loss_ lists the recorded losses, one per loss_every epochs.
        train = list(final.loss_)
        epochs = 1 + np.arange(len(train)) * max(final.loss_every, 1)
    elif hasattr(final, "loss_curve_"):
        train = list(final.loss_curve_)
        epochs = np.arange(1, len(train) + 1)
    else:
        raise ValueError("the model is not fitted, or recorded no loss")
    if not train:
        raise ValueError("the model recorded no loss (loss_every=0?)")
    ax = _axes(ax)
    ax.plot(epochs, train, label="training loss", color=CLASS_COLOURS[0])
    validation = getattr(final, "validation_loss_curve_", None)
    if validation:
        ax.plot(np.arange(1, len(validation) + 1), validation, label="validation loss",
                color=CLASS_COLOURS[1])
    ax.set_xlabel("iteration" if getattr(final, "solver", None) == "lbfgs" else "epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"{_model_name(model)}: loss")
    return _finish(ax, path)
