"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators on cnet's engine.

Parameters and fitted attributes mean what they mean in ``sklearn.neural_network``, and
training follows the same rules, so that scikit-learn's own MLP test suite passes on these
classes (``tests/test_sklearn_mlp_suite.py``): the stochastic solvers' epoch loss with the L2
term, ``tol``/``n_iter_no_change`` stopping, the ``invscaling`` and ``adaptive`` learning
rates, early stopping on a held-out fraction that restores the best weights, a new optimizer
for every ``fit`` (``warm_start`` keeps the weights, ``partial_fit`` the optimizer too), and
``lbfgs`` through scipy's L-BFGS-B. Each epoch runs in the compiled loop (or its numpy twin),
the decisions between epochs too (``cnet.epoch_rules``); the stochastic solvers' glue between
the estimator and the engine is in ``cnet._mlp_stochastic``, the model-file state in
``cnet._mlp_state``.

cnet adds what scikit-learn's MLP lacks: ``dropout``, ``class_weight``, a validation set of
the user's own (``fit(..., eval_set=...)``) with ``validation_loss_curve_``, early stopping
on any scorer (``scoring``, cnet._scoring), ``partial_fit`` with early stopping on a
validation set given to it, scikit-learn's callbacks (cnet._callbacks), the training dtype
(``dtype``), the backend, and model files (``save``).
"""
import functools
import operator
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from cnet import _scoring, engine, lbfgs, registry
from cnet._callbacks import CallbackSupportMixin, FitTasks, has_callbacks, with_callbacks
from cnet._caller import stacklevel
from cnet._fit_warnings import warn_lbfgs_interrupted
from cnet._hyperparameters import validate as validate_hyperparameters
from cnet._input import (SPARSE_FORMATS, as_training_input, check_sparse_structure,
                         classification_targets, prediction_input, training_input,
                         two_class_probabilities)
from cnet._inspect import MLPInspectMixin
from cnet._layout import n_parameters, parameter_shapes, parameter_views
from cnet._object_lock import serialize_methods, serialized
from cnet._onnx_mixin import OnnxExportMixin
from cnet._mlp_state import MLPStateMixin
from cnet._mlp_stochastic import NON_FINITE_PARAMETERS, StochasticFitMixin
from cnet.persistence import (ArraySpec, SaveMixin, check_labels, native_copy, register_model,
                              storable_labels)
from cnet.spec import Network

# Every accepted activation name (scikit-learn's, such as "logistic", and cnet's) and cnet's
# name for it, which the engine takes.
ACTIVATIONS = {name: registry.activation(name).name for name in registry.activation_names()}
STOCHASTIC_SOLVERS = tuple(registry.OPTIMIZERS)
SOLVERS = (*STOCHASTIC_SOLVERS, "lbfgs")
SCHEDULES = ("constant", "invscaling", "adaptive")


def _stochastic(estimator):
    """``available_if`` condition: partial_fit exists for the stochastic solvers only."""
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers; "
                             f"{estimator.solver!r} is not stochastic.")
    return True


class _BaseMLP(CallbackSupportMixin, StochasticFitMixin, MLPStateMixin, MLPInspectMixin,
               SaveMixin, BaseEstimator):
    """Shared fitting of the multi-layer perceptrons; subclasses encode targets and score."""

    # scikit-learn's constraints for the parameters it shares (its MLP's own, with the names
    # read from cnet's registry), then cnet's. A bad value gets scikit-learn's
    # InvalidParameterError and its standard message. What constraints cannot say is checked
    # in _check_hyperparameters.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # A dtype object equals its type but hashes differently, hence the two Options.
        "dtype": [None, StrOptions({"float32", "float64"}),
                  Options(type, {np.float32, np.float64}),
                  Options(np.dtype, {np.dtype(np.float32), np.dtype(np.float64)})],
        # The names are engine.BACKENDS', checked by engine.get_backend when validation runs.
        "backend": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "scoring": [None, StrOptions(_scoring.scorer_names()), callable],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, backend="cython", dropout=0.0, scoring=None):
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
        self.max_fun = max_fun
        self.dtype = dtype
        self.backend = backend
        self.dropout = dropout
        self.scoring = scoring

    # --- checks -------------------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads __init__'s signature with inspect on every get_params, and every
        # fit validates its parameters through get_params: a tenth of a small fit. The
        # signature of a class does not change.
        return list(_param_names(cls))

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if np.iterable(sizes) else [sizes]
        if not all(isinstance(u, Integral) and not isinstance(u, bool) and u >= 1
                   for u in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(u) for u in sizes]

    def _check_hyperparameters(self):
        """Check every hyperparameter: the constraints (scikit-learn's InvalidParameterError,
        a ValueError and a TypeError), then what they cannot express (ValueError)."""
        validate_hyperparameters(self)
        self._hidden_sizes()
        if self.solver == "lbfgs" and self.dropout > 0:
            # L-BFGS needs one smooth objective across its line searches; fresh masks per
            # evaluation would break it, and fixed masks would train one thinned network.
            raise ValueError(f"dropout={self.dropout} needs a stochastic solver "
                             f"({' or '.join(map(repr, STOCHASTIC_SOLVERS))}); solver='lbfgs' "
                             f"does not support dropout")
        engine.get_backend(self.backend)

    # --- parameters ---------------------------------------------------------------------------

    @property
    def _layers(self):
        """Units per layer, inputs first, as the fitted (or assigned) weights have them."""
        return np.array([self.coefs_[0].shape[0]] + [W.shape[1] for W in self.coefs_],
                        dtype=np.intp)

    def _glorot_parameters(self, layers, dtype, rng):
        """Glorot-uniform weights and biases, drawn as scikit-learn draws them."""
        flat = np.empty(n_parameters(layers), dtype=dtype)
        views = parameter_views(flat, layers)
        factor = 2.0 if ACTIVATIONS[self.activation] == "sigmoid" else 6.0
        for k in range(1, len(layers)):
            bound = np.sqrt(factor / (layers[k - 1] + layers[k]))
            views[f"W{k}"][...] = rng.uniform(-bound, bound, (layers[k - 1], layers[k]))
            views[f"b{k}"][...] = rng.uniform(-bound, bound, layers[k])
        return flat

    def _packed(self):
        """The flat parameter vector built from ``coefs_`` and ``intercepts_``."""
        return self._packed_from(self.coefs_, self.intercepts_)

    def _expose(self, flat, layers):
        """Make ``coefs_`` and ``intercepts_`` views into the flat vector."""
        views = parameter_views(flat, layers)
        n = len(layers) - 1
        self.coefs_ = [views[f"W{k}"] for k in range(1, n + 1)]
        self.intercepts_ = [views[f"b{k}"] for k in range(1, n + 1)]
        self._exposed = (flat, self.coefs_, self.intercepts_, tuple(self.coefs_),
                         tuple(self.intercepts_))

    def _prediction_params(self):
        """The flat vector behind ``coefs_`` and ``intercepts_`` while they are still its views
        (no copy: predictions need not repack), else a vector packed from them."""
        exposed = getattr(self, "_exposed", None)
        if exposed is not None:
            flat, coefs, intercepts, coef_arrays, intercept_arrays = exposed
            # Assigned lists or arrays (user code, scikit-learn's tests) and unpickled copies
            # (whose base is no longer flat) fall through to packing.
            # The same array objects as were exposed are still flat's views, unless the model
            # was unpickled (flat and the arrays are unpickled apart): the first one's base
            # tells which.
            if (self.coefs_ is coefs and self.intercepts_ is intercepts
                    and len(coefs) == len(coef_arrays) and len(intercepts) == len(intercept_arrays)
                    and all(map(operator.is_, coefs, coef_arrays))
                    and all(map(operator.is_, intercepts, intercept_arrays))
                    and coef_arrays[0].base is flat):
                return flat
        return self._packed()

    def _sklearn_order(self):
        """Index of each entry of scikit-learn's packed vector (all weights, then all
        biases) in cnet's flat vector (W1, b1, W2, b2, ...)."""
        starts, start = {}, 0
        for name, shape in parameter_shapes(self._layers):
            starts[name] = np.arange(start, start + int(np.prod(shape)))
            start += int(np.prod(shape))
        n = len(self.coefs_)
        return np.concatenate([starts[f"W{k}"] for k in range(1, n + 1)]
                              + [starts[f"b{k}"] for k in range(1, n + 1)])

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas,
                         coef_grads, intercept_grads):
        """The objective lbfgs minimizes and its gradient, in scikit-learn's interface.

        Parameters are packed as scikit-learn packs them (all weights, then all biases) and
        the gradient is returned the same way. The last four arguments belong to that
        interface (scikit-learn's work arrays) and are not needed here.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_parameters,)
        """
        order = self._sklearn_order()
        flat = np.empty(order.size, dtype=self.coefs_[0].dtype)
        flat[order] = packed_coef_inter
        X = as_training_input(X, flat.dtype)
        Y = np.ascontiguousarray(np.asarray(y, dtype=flat.dtype).reshape(X.shape[0], -1))
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=flat.dtype)
        loss, grad = engine.loss_and_gradient(self.backend, flat, self._network(flat.dtype),
                                              X, Y, sample_weight=w, alpha=self.alpha)
        return loss, grad[order]

    # --- input --------------------------------------------------------------------------------

    def _fit_dtype(self, reset):
        if not reset:
            return self.coefs_[0].dtype
        if self.dtype is None:
            return [np.float64, np.float32]
        return np.dtype(self.dtype)

    def _validate_input(self, X, y, incremental, reset):
        """X and y validated (``validate_data``, once), and the targets' type for
        :meth:`_encode_targets` (None: the regressor has none)."""
        classifier = is_classifier(self)
        X, y = training_input(self, X, y, reset=reset, dtype=self._fit_dtype(reset),
                              y_kinds="biufU" if classifier else "biuf", multi_output=True,
                              y_numeric=not classifier)
        if y.ndim == 2 and y.shape[1] == 1:
            # scikit-learn's warning (its estimator checks look for it), raised here so that
            # it names the user's line rather than this one.
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples, ), for example using ravel().",
                          DataConversionWarning, stacklevel=stacklevel())
            y = column_or_1d(y)
        return X, y, None

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
            self._check_class_weight(class_weight, y)
            with np.errstate(over="ignore"):
                weights = weights * compute_sample_weight(class_weight, y)
            # The product is checked again: a huge weight times a huge class weight
            # overflows, and the sum below must mean what it says.
            if not np.isfinite(weights).all():
                raise ValueError("sample_weight times class_weight is not finite (overflow)")
        if not weights.sum() > 0:
            raise ValueError("sample_weight sums to zero: no sample would be learnt from")
        weights = weights.astype(X.dtype)
        if not np.isfinite(weights).all():
            raise ValueError(f"sample_weight does not fit in {X.dtype} (overflow)")
        return weights

    def _check_class_weight(self, class_weight, y):
        """A clear error for class weights that would give non-finite or negative sample
        weights, name unknown labels, or weigh every class zero."""
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise ValueError(f"class_weight must be a dict {{label: weight}}, a list of "
                                 f"them (multi-label) or 'balanced', got {class_weight!r}")
            return
        dicts = class_weight if isinstance(class_weight, (list, tuple)) else [class_weight]
        for i, weights in enumerate(dicts):
            if not isinstance(weights, dict):
                raise ValueError(f"class_weight must be a dict {{label: weight}}, a list of "
                                 f"them (multi-label) or 'balanced', got {class_weight!r}")
            # A label column of a multi-label y holds 0 and 1; one label per sample may be
            # any of the fitted classes, including those this partial_fit batch lacks.
            known = (set(self.classes_.tolist()) if np.ndim(y) == 1 or i >= np.shape(y)[1]
                     else {0, 1} | set(np.unique(y[:, i]).tolist()))
            unknown = [label for label in weights if label not in known]
            if unknown:
                raise ValueError(f"class_weight names labels not among the classes "
                                 f"{sorted(known, key=str)[:10]}: {unknown[:10]}")
            values = [weights[label] for label in weights]
            if not all(_number(v) and v >= 0 for v in values):
                raise ValueError(f"class_weight values must be finite and non-negative "
                                 f"numbers, got {weights!r}")
            if values and len(weights) == len(known) and not any(values):
                raise ValueError(f"class_weight is zero for every class: no sample would "
                                 f"be learnt from ({weights!r})")

    def _validation_set(self, eval_set):
        """The user's validation set, validated and encoded, or None."""
        if eval_set is None:
            return None
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ValueError("eval_set must be a tuple (X_val, y_val) or (X_val, y_val, "
                             "sample_weight_val)")
        check_sparse_structure(eval_set[0], "X_val")
        X_val = validate_data(self, eval_set[0], reset=False, accept_sparse=SPARSE_FORMATS,
                              dtype=self.coefs_[0].dtype, order="C")
        X_val = as_training_input(X_val, X_val.dtype)
        y_val = np.asarray(eval_set[1])
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(f"eval_set: X_val has {X_val.shape[0]} rows, y_val "
                             f"{y_val.shape[0]}")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = y_val.ravel()
        self._check_targets(y_val)
        w_val = None if len(eval_set) == 2 else self._sample_weight(eval_set[2], X_val, y_val)
        Y_val = self._encode_targets(y_val, X_val.dtype)
        return X_val, y_val, Y_val, w_val

    # --- fitting ------------------------------------------------------------------------------

    def _initialize(self, layers, dtype, rng):
        """Fresh weights and the fitted attributes of a first fit."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(layers)
        self.out_activation_ = self._output_activation()
        self._expose(self._glorot_parameters(layers, dtype, rng), layers)
        # Shuffling orders and dropout masks derive from this one seed (see cnet._train).
        self._seed = int(rng.randint(0, np.iinfo(np.int64).max))
        self._epochs_seen = 0
        for name, value in self._initial_curves().items():
            setattr(self, name, value)
        if hasattr(self, "_optimizer"):
            del self._optimizer
        self.__dict__.pop("_stream_validation", None)

    def _initial_curves(self):
        stochastic = self.solver in STOCHASTIC_SOLVERS
        return {
            "loss_curve_": [],
            "validation_loss_curve_": [],
            "_no_improvement_count": 0,
            "best_loss_": None if self.early_stopping or not stochastic else np.inf,
            "validation_scores_": [] if self.early_stopping and stochastic else None,
            "best_validation_score_": -np.inf if self.early_stopping and stochastic else None,
            "_best_coefs": [W.copy() for W in self.coefs_],
            "_best_intercepts": [b.copy() for b in self.intercepts_],
        }

    def _complete_state(self, rng):
        """Fill in the training state that weights assigned by hand come without."""
        if not hasattr(self, "_seed"):
            self._seed = int(rng.randint(0, np.iinfo(np.int64).max))
        for name, value in [("_epochs_seen", 0), ("t_", 0), ("n_iter_", 0),
                            ("n_layers_", len(self.coefs_) + 1),
                            *self._initial_curves().items()]:
            if not hasattr(self, name):
                setattr(self, name, value)

    def _fit(self, X, y, incremental=False, sample_weight=None, eval_set=None):
        self._check_hyperparameters()
        if (self.early_stopping and incremental and eval_set is None
                and getattr(self, "_stream_validation", None) is None):
            raise ValueError("partial_fit does not support early_stopping=True without a "
                             "validation set: validation_fraction cannot split a stream. Pass "
                             "one, partial_fit(X, y, eval_set=(X_val, y_val)); it is kept "
                             "for the later calls.")
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y, y_type = self._validate_input(X, y, incremental, reset=first_pass)
        Y = self._encode_targets(y, X.dtype, y_type)
        weights = self._sample_weight(sample_weight, X, y)
        layers = np.array([X.shape[1], *hidden, Y.shape[1]], dtype=np.intp)
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(layers, X.dtype, rng)
        else:
            if list(self._layers) != list(layers):
                raise ValueError(f"the network has layers {list(self._layers)}, this fit needs "
                                 f"{list(layers)} (hidden_layer_sizes or the number of "
                                 f"outputs changed); fit anew (warm_start=False)")
            self._complete_state(rng)
        self.n_outputs_ = int(Y.shape[1])
        tasks = None
        if has_callbacks(self):
            lbfgs_fit = self.solver == "lbfgs"
            # lbfgs begins a last iteration that never runs, as in scikit-learn's own.
            tasks = FitTasks(self, X, y, sample_weight,
                             self.max_iter + 1 if lbfgs_fit else 1 if incremental
                             else self.max_iter, "lbfgs-iter" if lbfgs_fit else "epoch")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, weights, eval_set, tasks)
        else:
            self._fit_stochastic(X, Y, weights, eval_set, incremental, rng, tasks)
        if tasks is not None:
            tasks.close()
        if not all(np.isfinite(p).all() for p in self.coefs_ + self.intercepts_):
            raise ValueError(NON_FINITE_PARAMETERS)
        return self

    def _network(self, dtype):
        """The network part of the training spec (cnet.spec.Network).

        The last one made is kept with what it was made from: a prediction of a few rows
        would otherwise spend more on building and checking the spec than on the network.
        Anything it depends on that changes (weights of other shapes, the activation, the
        output, the loss's parameter, the dtype) makes a new one."""
        pair = self._output_loss()
        name = registry.estimator_parameter(pair)
        parameter = pair.parameter_default if name is None else getattr(self, name)
        key = (tuple(W.shape for W in self.coefs_), self.activation, pair.name, parameter,
               np.dtype(dtype))
        cached = getattr(self, "_network_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        network = Network(self._layers, self.activation, pair.name, loss_parameter=parameter,
                          dtype=dtype)
        self._network_cache = (key, network)
        return network

    def _output_loss(self):
        """The registry's output/loss pair the network is trained with."""
        return registry.output_loss(self.out_activation_)

    def _packed_from(self, coefs, intercepts):
        """A flat parameter vector holding the given weights and biases."""
        flat = np.empty(n_parameters(self._layers), dtype=self.coefs_[0].dtype)
        views = parameter_views(flat, self._layers)
        for k, (W, b) in enumerate(zip(coefs, intercepts), start=1):
            views[f"W{k}"][...] = W
            views[f"b{k}"][...] = b
        return flat

    def _fit_lbfgs(self, X, Y, weights, eval_set, tasks=None):
        layers = self._layers
        network = self._network(X.dtype)
        user_set = self._validation_set(eval_set)
        flat = self._packed()
        iterate = np.empty_like(flat)
        # The iteration under way, for the callbacks (cnet._callbacks).
        task = [None if tasks is None else tasks.begin()]
        stopped_by_callback = False

        def after_iteration(loss, x):
            nonlocal stopped_by_callback
            self.loss_curve_.append(loss)
            extra = ""
            if user_set is not None or tasks is not None:
                iterate[...] = x
            if user_set is not None:
                X_val, _, Y_val, w_val = user_set
                val_loss, _ = engine.loss_and_gradient(self.backend, iterate, network, X_val,
                                                       Y_val, sample_weight=w_val)
                self.validation_loss_curve_.append(val_loss)
                extra = f", validation loss = {val_loss:.8f}"
            if self.verbose:
                print(f"Iteration {len(self.loss_curve_)}, loss = {loss:.8f}{extra}")
            if tasks is not None:
                self._expose(iterate, layers)
                self.n_iter_ = len(self.loss_curve_)
                stop = tasks.end(task[0])
                task[0] = tasks.begin()
                if stop:
                    stopped_by_callback = True
                    # scipy's way for a callback to end the search at this iterate.
                    raise StopIteration

        with np.errstate(over="ignore", invalid="ignore"):
            result = lbfgs.minimize(self.backend, flat, network, X, Y, sample_weight=weights,
                                    alpha=self.alpha, max_iter=self.max_iter,
                                    max_fun=self.max_fun, tol=self.tol,
                                    callback=after_iteration)
        if tasks is not None:
            tasks.end(task[0], ran=False)
        self._expose(flat, layers)
        self.n_iter_ = result.n_iter
        self.loss_ = result.loss
        self.stop_training_ = stopped_by_callback
        if result.interrupted:
            # Ctrl-C may have come between an iteration's two curve entries.
            if user_set is not None:
                del self.loss_curve_[len(self.validation_loss_curve_):]
            warn_lbfgs_interrupted(result.n_iter)
        elif not (result.converged or stopped_by_callback):
            warnings.warn(f"lbfgs failed to converge after {result.n_iter} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase max_iter "
                          f"(now {self.max_iter}) or max_fun (now {self.max_fun}), or "
                          f"scale the data.", ConvergenceWarning, stacklevel=stacklevel())

    @with_callbacks
    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Train on X, y (see the module docstring for the schedule).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Dense, CSR or CSC; sparse input stays sparse (no dense copy is made).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (or label indicators) for the classifier, values for the regressor.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; each batch's loss is their weighted mean.
        eval_set : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            A validation set: its loss is recorded each epoch (each lbfgs iteration) in
            ``validation_loss_curve_`` and, with ``early_stopping``, it replaces the held-out
            ``validation_fraction`` and is scored with ``scoring``.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, eval_set=eval_set)

    # --- prediction ---------------------------------------------------------------------------

    def _outputs(self, X):
        if "coefs_" not in self.__dict__:
            # check_is_fitted's own look-ups cost about a quarter of a one-sample prediction:
            # only an unfitted model needs its error.
            check_is_fitted(self, "coefs_")
        X = prediction_input(self, X, self.coefs_[0].dtype)
        params = self._prediction_params()
        return engine.predict(self.backend, params, self._network(params.dtype), X)

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
                         self.out_activation_, self.coefs_[0].dtype, self.backend,
                         getattr(self, "_batch_size", None))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


@register_model
@serialize_methods("fit", "predict", "predict_proba", "predict_log_proba", "score", "save",
                   "to_onnx")
class MLPClassifier(OnnxExportMixin, ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by cnet's compiled loop.

    The parameters are scikit-learn's ``MLPClassifier``'s (solvers ``"sgd"``, ``"adam"``
    and ``"lbfgs"``) plus ``dtype`` (None keeps float32 input in float32, anything else
    trains in float64), ``backend`` (``"cython"`` or ``"numpy"``, the twin), ``dropout``
    (the probability of dropping each hidden unit's output in training; inverted dropout, so
    nothing changes at prediction; stochastic solvers only: ``solver="lbfgs"`` with dropout
    raises ValueError) and ``class_weight`` (a dict ``{label: weight}`` of finite,
    non-negative weights, or ``"balanced"``, multiplied into ``sample_weight``) and
    ``scoring`` (the validation score of ``early_stopping``: None for accuracy, or any
    scikit-learn scorer name or callable ``scorer(estimator, X, y)``; ``"accuracy"`` and
    ``"neg_log_loss"`` are computed inside the compiled loop, any other is called between
    epochs; a callable cannot be saved in a model file, ``save`` refuses it).

    scikit-learn's callbacks (``set_callbacks``, ``sklearn.callback``) see each epoch (each
    lbfgs iteration) as a subtask of the fit, and can stop it.

    A mini-batch whose weights sum to zero (zero sample or class weights) is skipped: no
    step, no Adam step counted, and it is left out of the epoch's loss.

    Binary targets get one logistic output unit, multi-class targets a softmax layer, and
    multi-label indicator targets one logistic unit per label. X may be dense, CSR or CSC.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
    loss_ : float
    best_loss_ : float or None
        Lowest training loss (stochastic solvers without early stopping; None otherwise).
    loss_curve_ : list of float
        Training loss (with the L2 term) of each epoch, or of each lbfgs iteration.
    validation_loss_curve_ : list of float
        Loss on the validation set (``eval_set``, or the ``early_stopping`` fraction) after
        each epoch; empty without one.
    validation_scores_ : list of float or None
        The validation score (``scoring``; accuracy by default) of each epoch (each
        ``partial_fit`` call), with ``early_stopping``.
    best_validation_score_ : float or None
    stop_training_ : bool
        Whether the last ``fit`` or ``partial_fit`` call was stopped by the stopping rules
        (``tol``, ``n_iter_no_change``) or a callback. For ``partial_fit`` with
        ``early_stopping`` it is the signal to stop feeding batches: the best weights have
        then been restored.
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

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        # Its keys and values are checked against the classes in fit (_check_class_weight).
        "class_weight": [dict, list, tuple, StrOptions({"balanced"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, backend="cython", dropout=0.0, class_weight=None,
                 scoring=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            backend=backend, dropout=dropout, scoring=scoring)
        self.class_weight = class_weight

    def _check_targets(self, y):
        check_classification_targets(y)
        unseen = np.setdiff1d(unique_labels(y), self.classes_) if y.ndim == 1 else []
        if len(unseen):
            raise ValueError(f"y has labels not seen in training: {unseen.tolist()}")

    def _validate_input(self, X, y, incremental, reset):
        X, y, _ = super()._validate_input(X, y, incremental, reset)
        y_type, classes, _ = classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = _fitted_binarizer(y_type, classes, sp.issparse(y))
            self.classes_ = classes
            return X, y, y_type
        if self.warm_start:
            if set(classes) != set(self.classes_):
                raise ValueError(f"warm_start can only be used where `y` has the same classes "
                                 f"as in the previous call to fit. Previously got "
                                 f"{self.classes_}, `y` has {classes}")
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {classes}.")
        return X, y, y_type

    def _output_activation(self):
        # Softmax for one label of several classes; logistic units for two classes (one
        # unit) and for multi-label indicators (one unit per label).
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _encode_targets(self, y, dtype, y_type=None):
        """The label binarizer's encoding of ``y`` (one column per class; one column for
        two classes; label indicators as they are), in ``dtype``.

        Targets whose type the fit's validation found (``y_type``) are encoded here from the
        fitted classes, without the binarizer's validation, which types y again; anything else
        (the user's validation set) goes through the binarizer.
        """
        binarizer = self._label_binarizer
        classes = self.classes_
        if y_type in ("binary", "multiclass") and binarizer.y_type_ in ("binary", "multiclass"):
            index = np.searchsorted(classes, y)
            # Labels the fitted classes lack (not possible after the fit's checks) are the
            # binarizer's to encode.
            if np.array_equal(classes[np.minimum(index, len(classes) - 1)], y):
                if len(classes) > 2:
                    Y = np.zeros((len(y), len(classes)), dtype=dtype)
                    Y[np.arange(len(y)), index] = 1
                    return Y
                return (index == 1).astype(dtype).reshape(-1, 1)
        elif (y_type == "multilabel-indicator" == binarizer.y_type_
                and y.shape[1] == len(classes)):
            # Integer-valued indicators (type_of_target's condition), taken as they are.
            return np.ascontiguousarray(y.toarray() if sp.issparse(y) else y, dtype=dtype)
        return np.ascontiguousarray(binarizer.transform(y), dtype=dtype)

    def _decode(self, Y):
        # The label binarizer's own decisions (argmax; > 0.5 for two classes), without its
        # validation, which costs more than the network on one sample.
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return self.classes_[np.argmax(Y, axis=1)]
        if kind == "binary" and len(self.classes_) == 2:
            return self.classes_[(Y[:, 0] > 0.5).astype(np.intp)]
        return self._label_binarizer.inverse_transform(Y.ravel() if Y.shape[1] == 1 else Y)

    def predict_proba(self, X):
        """Class probabilities, one column per class (binary: ``[1 - p, p]``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        out = self._outputs(X)
        if self.n_outputs_ == 1:
            return two_class_probabilities(out)
        return out

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return self._decode(self._outputs(X))

    @available_if(_stochastic)
    @serialized
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None, classes=None, eval_set=None):
        """One epoch over X, y, keeping the weights and the optimizer's state.

        With ``early_stopping=True`` (scikit-learn's MLP refuses it here, its #25693) each
        call scores the epoch on the validation set ``eval_set`` with ``scoring``, appends
        the score to ``validation_scores_``, keeps the best score
        (``best_validation_score_``) and its weights across calls, and sets
        ``stop_training_`` once the score has not improved by ``tol`` for more than
        ``n_iter_no_change`` calls; the best weights are then restored into ``coefs_`` and
        ``intercepts_``. Until then the model keeps the last call's weights, to train on.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like, optional
            All the classes; required on the first call. Later batches may hold any subset
            of them (one class alone included).
        eval_set : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            A validation set: its loss is recorded in ``validation_loss_curve_``; with
            ``early_stopping`` it is scored and, given once, kept for the later calls
            (a new one replaces it; it is not saved in model files). Required on the first
            call with ``early_stopping=True``: ``validation_fraction`` cannot split a
            stream.

        Returns
        -------
        self : MLPClassifier
        """
        if getattr(self, "classes_", None) is None:
            # Before the classes are asked for, so that a bad hyperparameter is the first
            # error; later calls are checked in _fit, once per call.
            self._check_hyperparameters()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, incremental=True, sample_weight=sample_weight,
                         eval_set=eval_set)

    # --- saved state (cnet.persistence) -----------------------------------------------------

    def _get_state(self):
        return {**super()._get_state(), "label_type": self._label_binarizer.y_type_,
                "classes": storable_labels(self.classes_, "class labels")}

    def _state_arrays(self, fields):
        layout = super()._state_arrays(fields)
        n_outputs = fields.layers()[-1]
        label_type = fields.get("label_type", "str")
        counts = {"binary": (1, 2), "multiclass": (n_outputs,),
                  "multilabel-indicator": (n_outputs,)}
        if label_type not in counts:
            raise ValueError(f"label_type {label_type!r:.40} is not one of {list(counts)}")
        if label_type == "binary" and n_outputs != 1:
            raise ValueError(f"binary labels have one output unit; the network has "
                             f"{n_outputs}")
        layout["classes"] = ArraySpec([(c,) for c in counts[label_type]], "biufU",
                                      misfit=lambda shape: (
                                          f"{shape[0] if len(shape) == 1 else shape} classes "
                                          f"do not fit {n_outputs} output unit(s) of a "
                                          f"{type(self).__name__}"))
        return layout

    def _set_labels(self, fields):
        classes = fields.mapping["classes"]
        check_labels(classes)
        multilabel = fields.get("label_type", "str") == "multilabel-indicator"
        if multilabel and not np.array_equal(classes, np.arange(len(classes))):
            raise ValueError("multi-label classes must be 0, 1, ... one per output unit")
        self.classes_ = native_copy(classes)
        binarizer = LabelBinarizer()
        binarizer.fit(np.eye(len(classes), dtype=int) if multilabel else self.classes_)
        self._label_binarizer = binarizer

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@register_model
@serialize_methods("fit", "predict", "score", "save", "to_onnx")
class MLPRegressor(OnnxExportMixin, RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by cnet's compiled loop.

    The parameters are scikit-learn's ``MLPRegressor``'s (solvers ``"sgd"``, ``"adam"`` and
    ``"lbfgs"``; losses ``"squared_error"`` and ``"poisson"``) plus ``dtype``, ``backend``,
    ``dropout`` (see :class:`MLPClassifier`), the losses ``"huber"`` and ``"absolute_error"``
    and ``huber_delta``. With the squared error the output layer is
    linear and the loss half the squared error, summed over outputs, averaged over samples;
    with ``"poisson"`` the output is ``exp`` of the last layer (a log link) and the loss the
    Poisson deviance (half of it), for non-negative targets such as counts. ``"huber"``
    (linear output) is half the squared error where the residual is at most ``huber_delta``
    and linear beyond (PyTorch's ``HuberLoss``; ``huber_delta`` defaults to 1.0 as there), so
    outliers pull on the fit less; ``"absolute_error"`` (linear output) fits the conditional
    median, its gradient 0 where a prediction equals its target. ``scoring`` is the
    validation score of ``early_stopping`` (None for R²; ``"r2"`` and
    ``"neg_mean_squared_error"`` are computed inside the compiled loop, any other scorer
    name or callable between epochs; see :class:`MLPClassifier`).

    Attributes
    ----------
    loss_ : float
    best_loss_ : float or None
    loss_curve_ : list of float
    validation_loss_curve_ : list of float
        Loss on the validation set (``eval_set``, or the ``early_stopping`` fraction) after
        each epoch; empty without one.
    validation_scores_ : list of float or None
        The validation score (``scoring``; R² by default) of each epoch (each
        ``partial_fit`` call), with ``early_stopping``.
    best_validation_score_ : float or None
    stop_training_ : bool
        See :class:`MLPClassifier`.
    t_ : int
    coefs_, intercepts_ : list of ndarray
    n_features_in_, n_iter_, n_layers_, n_outputs_ : int
    out_activation_ : str
        ``"identity"``, or ``"exp"`` with the Poisson loss.

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

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(registry.regression_losses()))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, backend="cython", dropout=0.0, huber_delta=1.0,
                 scoring=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            backend=backend, dropout=dropout, scoring=scoring)
        self.loss = loss
        self.huber_delta = huber_delta

    def _check_targets(self, y):
        if self._output_loss().targets == "counts" and (np.asarray(y) < 0).any():
            raise ValueError(f"loss={self.loss!r} needs non-negative targets (counts or "
                             f"rates); y has negative values")

    def _validate_input(self, X, y, incremental, reset):
        X, y, _ = super()._validate_input(X, y, incremental, reset)
        self._check_targets(y)
        return X, y, None

    def _output_loss(self):
        return registry.regression_losses()[self.loss]

    def _output_activation(self):
        return self._output_loss().output_activation

    def _encode_targets(self, y, dtype, y_type=None):
        return np.ascontiguousarray(y.reshape(-1, 1) if y.ndim == 1 else y, dtype=dtype)

    def _decode(self, Y):
        return Y.ravel() if Y.shape[1] == 1 else Y

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._decode(self._outputs(X))

    @available_if(_stochastic)
    @serialized
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None, eval_set=None):
        """One epoch over X, y, keeping the weights and the optimizer's state.

        With ``early_stopping=True`` (scikit-learn's MLP refuses it here, its #25693) each
        call scores the epoch on the validation set ``eval_set`` with ``scoring``, appends
        the score to ``validation_scores_``, keeps the best score
        (``best_validation_score_``) and its weights across calls, and sets
        ``stop_training_`` once the score has not improved by ``tol`` for more than
        ``n_iter_no_change`` calls; the best weights are then restored into ``coefs_`` and
        ``intercepts_``. Until then the model keeps the last call's weights, to train on.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        eval_set : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            A validation set: its loss is recorded in ``validation_loss_curve_``; with
            ``early_stopping`` it is scored and, given once, kept for the later calls
            (a new one replaces it; it is not saved in model files). Required on the first
            call with ``early_stopping=True``: ``validation_fraction`` cannot split a
            stream (ValueError).

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight,
                         eval_set=eval_set)


@functools.cache
def _param_names(cls):
    """scikit-learn's parameter names of an estimator class, read once."""
    return tuple(BaseEstimator._get_param_names.__func__(cls))


def _fitted_binarizer(y_type, classes, sparse_input):
    """A LabelBinarizer as ``LabelBinarizer().fit(y)`` leaves it, for targets ``y`` of type
    ``y_type`` and labels ``classes`` already found (:func:`cnet._input.classification_targets`):
    its fit would type y again, twice, and validate its own parameters."""
    binarizer = LabelBinarizer()
    binarizer.y_type_ = y_type
    binarizer.sparse_input_ = sparse_input
    binarizer.classes_ = classes
    return binarizer


def _number(value):
    return isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
