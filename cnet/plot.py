"""Pictures of a model: its decision boundary and its loss curves (needs matplotlib).

Install with ``pip install "cnet-mlp[plot]"``. Each function draws on the given Axes (or a new
figure), saves a PNG when ``path`` is given, and returns the Axes.
"""
import numpy as np

# One colour per class, for the points; the regions use the same hues, lighter.
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("cnet.plot needs matplotlib: pip install \"cnet-mlp[plot]\"") from None
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


def decision_boundary(model, X, y, ax=None, path=None, resolution=200):
    """Colour the plane by the class a fitted classifier predicts, with the data on top.

    Parameters
    ----------
    model : NeuralNet or MLPClassifier
        Fitted on two features.
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
        The points' labels (from ``model.classes_``).
    ax : matplotlib Axes, optional
    path : str or path-like, optional
        Save the figure here as PNG.
    resolution : int, default 200
        Grid points per axis.

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import ListedColormap, to_rgb
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary draws two features; X has shape {X.shape}")
    classes = list(model.classes_)
    if len(classes) > len(CLASS_COLOURS):
        raise ValueError(f"decision_boundary colours at most {len(CLASS_COLOURS)} classes")
    ax = _axes(ax)
    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    region = np.argmax(model.predict_proba(grid), axis=1).reshape(gx.shape)
    colours = CLASS_COLOURS[:len(classes)]
    light = [tuple(0.6 + 0.4 * c for c in to_rgb(col)) for col in colours]
    ax.contourf(gx, gy, region, levels=np.arange(len(classes) + 1) - 0.5,
                cmap=ListedColormap(light))
    for k, label in enumerate(classes):
        mine = y == label
        ax.scatter(X[mine, 0], X[mine, 1], s=18, color=colours[k], edgecolor="white",
                   linewidth=0.4, label=str(label))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"{type(model).__name__}: decision boundary")
    return _finish(ax, path)


def loss_curve(model, ax=None, path=None):
    """The training loss per epoch, and the validation loss when the model recorded one.

    Parameters
    ----------
    model : NeuralNet, MLPClassifier or MLPRegressor
        Fitted.
    ax : matplotlib Axes, optional
    path : str or path-like, optional
        Save the figure here as PNG.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    if hasattr(model, "loss_curve_"):
        train = list(model.loss_curve_)
        epochs = np.arange(1, len(train) + 1)
    elif isinstance(getattr(model, "loss_", None), list):
        train = model.loss_
        step = max(model.loss_every, 1)
        epochs = np.arange(len(train)) * step
    else:
        raise ValueError("the model is not fitted, or recorded no loss")
    if not train:
        raise ValueError("the model recorded no loss (loss_every=0?)")
    ax.plot(epochs, train, label="training loss", color=CLASS_COLOURS[0])
    validation = getattr(model, "validation_loss_curve_", None)
    if validation:
        ax.plot(np.arange(1, len(validation) + 1), validation, label="validation loss",
                color=CLASS_COLOURS[1])
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"{type(model).__name__}: loss")
    return _finish(ax, path)
