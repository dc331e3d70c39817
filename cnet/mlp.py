"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators on cnet's engine.

Parameters mean what they mean in ``sklearn.neural_network``; training follows the same
schedule (epoch loss with the L2 term, ``tol``/``n_iter_no_change`` stopping, the
``invscaling`` and ``adaptive`` learning rates, early stopping on a held-out fraction that
restores the best weights). Each epoch runs in the compiled loop (or its numpy twin); the
decisions between epochs are taken here.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cnet import engine
from cnet.neural_net import _warn_if_stopped
from cnet._layout import n_parameters, parameter_views
from cnet.persistence import SaveMixin

# scikit-learn's names for the hidden activations, and cnet's names for them.
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu"}
SOLVERS = ("sgd", "adam")
SCHEDULES = ("constant", "invscaling", "adaptive")


class _BaseMLP(SaveMixin, BaseEstimator):
    """Shared fitting of the multi-layer perceptrons; subclasses encode targets and score."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, dtype=None,
                 backend="cython", dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.backend = backend
        self.dropout = dropout

    # --- checks -------------------------------------------------------------------------------

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if np.iterable(sizes) else [sizes]
        if not all(isinstance(u, numbers.Integral) and not isinstance(u, bool) and u >= 1
                   for u in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(u) for u in sizes]

    def _check_hyperparameters(self):
        checks = [
            (self.activation in ACTIVATIONS, f"activation must be one of {list(ACTIVATIONS)}"),
            (self.solver in SOLVERS, f"solver must be one of {SOLVERS} (lbfgs is not "
                                     f"implemented)"),
            (self.learning_rate in SCHEDULES, f"learning_rate must be one of {SCHEDULES}"),
            (_number(self.alpha) and self.alpha >= 0, "alpha must be >= 0"),
            (_number(self.learning_rate_init) and self.learning_rate_init > 0,
             "learning_rate_init must be > 0"),
            (_number(self.power_t) and self.power_t >= 0, "power_t must be >= 0"),
            (_integer(self.max_iter) and self.max_iter >= 1, "max_iter must be >= 1"),
            (_number(self.tol) and self.tol >= 0, "tol must be >= 0"),
            (_number(self.momentum) and 0 <= self.momentum <= 1, "momentum must be in [0, 1]"),
            (_number(self.validation_fraction) and 0 < self.validation_fraction < 1,
             "validation_fraction must be in (0, 1)"),
            (_number(self.beta_1) and 0 <= self.beta_1 < 1, "beta_1 must be in [0, 1)"),
            (_number(self.beta_2) and 0 <= self.beta_2 < 1, "beta_2 must be in [0, 1)"),
            (_number(self.epsilon) and self.epsilon > 0, "epsilon must be > 0"),
            (_integer(self.n_iter_no_change) and self.n_iter_no_change >= 1,
             "n_iter_no_change must be >= 1"),
            (self.batch_size == "auto" or (_integer(self.batch_size) and self.batch_size >= 1),
             "batch_size must be 'auto' or a positive integer"),
            (self.dtype in (None, np.float32, np.float64, "float32", "float64"),
             "dtype must be None, float32 or float64"),
            (_number(self.dropout) and 0 <= self.dropout < 1, "dropout must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        engine.get_backend(self.backend)

    # --- fitting ------------------------------------------------------------------------------

    def _dtypes(self, reset):
        if not reset:
            return self.coefs_[0].dtype
        if self.dtype is None:
            return [np.float64, np.float32]
        return np.dtype(self.dtype)

    def _initialize(self, layers, dtype, rng):
        """Glorot-uniform weights and biases, as scikit-learn initialises them."""
        flat = np.empty(n_parameters(layers), dtype=dtype)
        views = parameter_views(flat, layers)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for k in range(1, len(layers)):
            bound = np.sqrt(factor / (layers[k - 1] + layers[k]))
            views[f"W{k}"][...] = rng.uniform(-bound, bound, (layers[k - 1], layers[k]))
            views[f"b{k}"][...] = rng.uniform(-bound, bound, layers[k])
        return flat

    def _packed(self):
        """The flat parameter vector built from ``coefs_`` and ``intercepts_``."""
        flat = np.empty(n_parameters(self._layers), dtype=self.coefs_[0].dtype)
        views = parameter_views(flat, self._layers)
        for k, (W, b) in enumerate(zip(self.coefs_, self.intercepts_), start=1):
            views[f"W{k}"][...] = W
            views[f"b{k}"][...] = b
        return flat

    def _expose(self, flat):
        views = parameter_views(flat, self._layers)
        n = len(self._layers) - 1
        self.coefs_ = [views[f"W{k}"] for k in range(1, n + 1)]
        self.intercepts_ = [views[f"b{k}"] for k in range(1, n + 1)]

    def _sample_weight(self, sample_weight, X, y):
        """Validated weights (with class_weight folded in), or None for equal weights."""
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return None
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float64)
        if weights.ndim != 1 or weights.shape[0] != X.shape[0]:
            raise ValueError(f"sample_weight must be 1-D with one weight per sample "
                             f"({X.shape[0]}), got shape {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        if class_weight is not None:
            weights = weights * compute_sample_weight(class_weight, y)
        if weights.sum() <= 0:
            raise ValueError("sample_weight sums to zero: no sample would be learnt from")
        return weights.astype(X.dtype)

    def _validation_set(self, eval_set):
        """The user's validation set, validated and encoded, or None."""
        if eval_set is None:
            return None
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ValueError("eval_set must be a tuple (X_val, y_val) or (X_val, y_val, "
                             "sample_weight_val)")
        X_val = validate_data(self, eval_set[0], reset=False, dtype=self.coefs_[0].dtype,
                              order="C")
        y_val = np.asarray(eval_set[1])
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(f"eval_set: X_val has {X_val.shape[0]} rows, y_val "
                             f"{y_val.shape[0]}")
        w_val = None if len(eval_set) == 2 else self._sample_weight(eval_set[2], X_val, y_val)
        Y_val = np.ascontiguousarray(self._encode_targets(y_val, False), dtype=X_val.dtype)
        return X_val, y_val, Y_val, w_val

    def _fit(self, X, y, incremental=False, classes=None, sample_weight=None, eval_set=None):
        self._check_hyperparameters()
        hidden = self._hidden_sizes()
        reset = not ((self.warm_start or incremental) and hasattr(self, "coefs_"))
        X, y = validate_data(self, X, y, reset=reset, dtype=self._dtypes(reset), order="C",
                             multi_output=True, y_numeric=not is_classifier(self))
        Y = np.ascontiguousarray(self._encode_targets(y, reset, classes), dtype=X.dtype)
        weights = self._sample_weight(sample_weight, X, y)
        if reset:
            rng = check_random_state(self.random_state)
            self._layers = np.array([X.shape[1], *hidden, Y.shape[1]], dtype=np.intp)
            self.n_layers_ = len(self._layers)
            self.n_outputs_ = int(Y.shape[1])
            self._expose(self._initialize(self._layers, X.dtype, rng))
            self._rng = rng
            self._seed = int(rng.randint(0, np.iinfo(np.int64).max))
            self._state = np.zeros((2, n_parameters(self._layers)), dtype=X.dtype)
            self._steps = 0
            self._epochs_seen = 0
            self._lr = float(self.learning_rate_init)
            self.t_ = 0
            self.loss_curve_ = []
            self.best_loss_ = np.inf
            self._no_improvement_count = 0
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self.validation_loss_curve_ = []
        elif list(self._layers[1:-1]) != hidden:
            raise ValueError(f"hidden_layer_sizes changed from {list(self._layers[1:-1])} "
                             f"to {hidden}; fit anew (warm_start=False)")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")

        X_train, Y_train, w_train, X_val, y_val, w_val = X, Y, weights, None, None, None
        Y_val = None
        user_set = self._validation_set(eval_set)
        if user_set is not None:
            X_val, y_val, Y_val, w_val = user_set
        elif self.early_stopping:
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            split = train_test_split(X, Y, *([] if weights is None else [weights]),
                                     random_state=self._rng,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, Y_train, Y_val = split[:4]
            if weights is not None:
                w_train, w_val = split[4:]
            y_val = self._decode(Y_val)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        n = X_train.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else self.batch_size
        if batch_size > n and self.batch_size != "auto":
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        batch_size = int(np.clip(batch_size, 1, n))
        self._batch_size = batch_size

        flat = self._packed()
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            result = engine.train(
                self.backend, flat, self._layers, ACTIVATIONS[self.activation],
                self._out_activation, X_train, Y_train, learning_rate=self._lr,
                batch_size=batch_size, shuffle=self.shuffle, seed=self._seed,
                first_epoch=self._epochs_seen, n_epochs=1, loss_every=1, solver=self.solver,
                momentum=self.momentum if self.solver == "sgd" else 0.0,
                nesterov=self.nesterovs_momentum, beta_1=self.beta_1, beta_2=self.beta_2,
                epsilon=self.epsilon, alpha=self.alpha, state=self._state,
                step_count=self._steps, sample_weight=w_train, dropout=self.dropout)
            self._steps = result.step_count
            if result.epochs_done == 0:
                # Interrupted or diverged: flat holds the previous epoch's parameters.
                _warn_if_stopped(result, 1, self.n_iter_, self._lr)
                break
            self._expose(flat)
            self._epochs_seen += 1
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = result.losses[0]
            self.loss_curve_.append(self.loss_)
            if X_val is not None:
                # The validation loss is the training objective's data term on held-out
                # samples (no L2 term), so the two curves can be read side by side.
                val_loss, _ = engine.loss_and_gradient(
                    self.backend, flat, self._layers, ACTIVATIONS[self.activation],
                    self._out_activation, X_val, Y_val, sample_weight=w_val)
                self.validation_loss_curve_.append(val_loss)
            if self.verbose:
                extra = (f", validation loss = {self.validation_loss_curve_[-1]:.8f}"
                         if X_val is not None else "")
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}{extra}")
            self._update_no_improvement_count(X_val if self.early_stopping else None, y_val,
                                              w_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                self._lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if (self.solver == "sgd" and self.learning_rate == "adaptive"
                        and self._lr > 1e-6):
                    self._lr /= 5
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"Setting learning rate to {self._lr:f}")
                else:
                    if self.verbose:
                        print(f"No improvement greater than tol={self.tol} for "
                              f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              f"reached and the optimization hasn't converged yet.",
                              ConvergenceWarning)
        if self.early_stopping:
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts
        return self

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Train on X, y (see the module docstring for the schedule).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (or label indicators) for the classifier, values for the regressor.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; each batch's loss is their weighted mean.
        eval_set : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            A validation set: its loss is recorded each epoch in ``validation_loss_curve_``
            and, with ``early_stopping``, it replaces the held-out ``validation_fraction``.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, eval_set=eval_set)

    def _update_no_improvement_count(self, X_val, y_val, w_val):
        if X_val is None:
            last = self.loss_curve_[-1]
            self._no_improvement_count = (self._no_improvement_count + 1
                                          if last > self.best_loss_ - self.tol else 0)
            self.best_loss_ = min(self.best_loss_, last)
            return
        score = self._score(X_val, y_val, w_val)
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")
        self._no_improvement_count = (self._no_improvement_count + 1
                                      if score < self.best_validation_score_ + self.tol else 0)
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_coefs = [c.copy() for c in self.coefs_]
            self._best_intercepts = [b.copy() for b in self.intercepts_]

    def summary(self):
        """The fitted network as a table: layers, activations, parameter counts, dtype,
        backend and whether each layer's products run on the hand-written matmul or BLAS.

        Returns
        -------
        str
            Print it: ``print(model.summary())``.
        """
        from cnet.summary import summarize
        check_is_fitted(self, "coefs_")
        return summarize(type(self).__name__, self._layers, self.activation,
                         self._out_activation, self.coefs_[0].dtype, self.backend,
                         getattr(self, "_batch_size", None))

    def _outputs(self, X):
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=self.coefs_[0].dtype, order="C")
        return engine.predict(self.backend, self._packed(), self._layers,
                              ACTIVATIONS[self.activation], self._out_activation, X)

    @property
    def out_activation_(self):
        """Output activation: ``"logistic"``, ``"softmax"`` or ``"identity"``."""
        check_is_fitted(self, "coefs_")
        return self._out_activation


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by cnet's compiled loop.

    The parameters are scikit-learn's ``MLPClassifier``'s (solvers ``"sgd"`` and ``"adam"``;
    ``"lbfgs"`` is not implemented) plus ``dtype`` (None keeps float32 input in float32,
    anything else trains in float64), ``backend`` (``"cython"`` or ``"numpy"``, the twin),
    ``dropout`` (the probability of dropping each hidden unit's output in training; inverted
    dropout, so nothing changes at prediction) and ``class_weight`` (a dict
    ``{label: weight}`` or ``"balanced"``, multiplied into ``sample_weight``).

    Binary targets get one logistic output unit, multi-class targets a softmax layer, and
    multi-label indicator targets one logistic unit per label.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
    loss_, best_loss_ : float
    loss_curve_ : list of float
        Training loss (with the L2 term) of each epoch.
    validation_loss_curve_ : list of float
        Loss on the validation set (``eval_set``, or the ``early_stopping`` fraction) after
        each epoch; empty without one.
    validation_scores_ : list of float or None
        Accuracy on the held-out fraction each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
    t_ : int
        Training samples seen.
    coefs_, intercepts_ : list of ndarray
        Weights ``(n_in, n_out)`` and biases of each layer.
    n_features_in_, n_iter_, n_layers_, n_outputs_ : int
    out_activation_ : str

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from cnet import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, dtype=None,
                 backend="cython", dropout=0.0, class_weight=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, dtype=dtype, backend=backend,
            dropout=dropout)
        self.class_weight = class_weight

    def _encode_targets(self, y, reset, classes=None):
        check_classification_targets(y)
        if reset:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(classes, self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call, "
                             f"{self.classes_!r}")
        if reset and len(np.unique(self.classes_)) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in the data, "
                             f"got 1 class: {self.classes_[0]!r}")
        unseen = np.setdiff1d(np.unique(y), self.classes_) if y.ndim == 1 else []
        if len(unseen):
            raise ValueError(f"y has labels not seen before: {unseen.tolist()}")
        # Softmax for one label of several classes; logistic units for two classes (one
        # unit) and for multi-label indicators (one unit per label).
        self._out_activation = ("softmax" if self._label_binarizer.y_type_ == "multiclass"
                                else "logistic")
        return self._label_binarizer.transform(y).astype(np.float64)

    def _decode(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _score(self, X, y, sample_weight=None):
        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities, one column per class (binary: ``[1 - p, p]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        out = self._outputs(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        out = self._outputs(X)
        return self._label_binarizer.inverse_transform(out.ravel() if self.n_outputs_ == 1
                                                       else out)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y, keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like, optional
            All the classes; required on the first call.

        Returns
        -------
        self : MLPClassifier
        """
        if not hasattr(self, "coefs_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by cnet's compiled loop.

    The parameters are scikit-learn's ``MLPRegressor``'s (solvers ``"sgd"`` and ``"adam"``)
    plus ``dtype``, ``backend`` and ``dropout`` (see :class:`MLPClassifier`). The output layer is linear
    and the loss is half the squared error, summed over outputs, averaged over samples.

    Attributes
    ----------
    loss_, best_loss_ : float
    loss_curve_ : list of float
    validation_loss_curve_ : list of float
        Loss on the validation set (``eval_set``, or the ``early_stopping`` fraction) after
        each epoch; empty without one.
    validation_scores_ : list of float or None
        R² on the validation set each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
    t_ : int
    coefs_, intercepts_ : list of ndarray
    n_features_in_, n_iter_, n_layers_, n_outputs_ : int
    out_activation_ : str

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from cnet import MLPRegressor
    >>> X, y = make_regression(200, 4, noise=0.1, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=500,
    ...                    random_state=0).fit(X, y / 100)
    >>> reg.score(X, y / 100) > 0.9
    True
    """

    def _encode_targets(self, y, reset, classes=None):
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the network has {self.n_outputs_}")
        self._out_activation = "identity"
        return np.asarray(Y, dtype=np.float64)

    def _decode(self, Y):
        return Y.ravel() if self._y_1d else Y

    def _score(self, X, y, sample_weight=None):
        return r2_score(y, self.predict(X), sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._outputs(X)
        return out.ravel() if self.n_outputs_ == 1 and self._y_1d else out

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y, keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def _integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
