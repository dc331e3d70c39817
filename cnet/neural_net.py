"""``NeuralNet``: the tutorials' network, with the true gradient and a compiled training loop."""
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from cnet import engine, registry
from cnet._fit_warnings import warn_if_stopped
from cnet._hyperparameters import validate as validate_hyperparameters
from cnet._input import (classification_targets, prediction_input, training_input,
                         two_class_probabilities)
from cnet._inspect import NeuralNetInspectMixin
from cnet._layout import n_parameters, parameter_shapes, parameter_views
from cnet._object_lock import serialize_methods
from cnet._onnx_mixin import OnnxExportMixin
from cnet.optimizer import SGD
from cnet.persistence import (ArraySpec, SaveMixin, StateFields, check_finite, check_labels,
                              check_state_arrays, native_copy, register_model, storable_labels)
from cnet.progress import ProgressBar, train_in_chunks
from cnet.spec import Network, Progress, Training

@register_model
@serialize_methods("fit", "predict", "predict_proba", "score", "save", "to_onnx")
class NeuralNet(NeuralNetInspectMixin, SaveMixin, OnnxExportMixin, ClassifierMixin,
                BaseEstimator):
    """A fully connected network for two-class problems, trained by gradient descent.

    The network of the "neural network from scratch" tutorials: ``layers`` lists the units of
    every layer, inputs first; hidden layers use ``activation``, the single output unit a
    sigmoid, and training minimises the mean binary cross-entropy with plain gradient descent.
    Unlike the tutorials, the gradient is the true one (the tests check it against finite
    differences).

    Parameters
    ----------
    layers : sequence of int, default (2, 5, 1)
        Units per layer: ``layers[0]`` is the number of features, ``layers[-1]`` must be 1.
    learning_rate : float, default 0.001
        Step size of gradient descent.
    iterations : int, default 100
        Epochs (passes over the training data) per call to :meth:`fit`.
    activation : str, default "relu"
        Activation of the hidden layers: any name of ``cnet.registry`` (``"relu"``,
        ``"sigmoid"``, ``"tanh"``, ``"gelu"``, ``"silu"``, ...) or an alias (``"swish"``).
    batch_size : int or None, default None
        Samples per gradient step; None uses all of them (full batch, as the tutorials do).
    shuffle : bool, default True
        With mini-batches, visit the samples in a new order each epoch.
    loss_every : int, default 1
        Record the training loss every ``loss_every`` epochs (0: never) in ``loss_`` and
        ``loss_curve_``: epochs 1, k + 1, 2k + 1, ... for ``loss_every=k``. Epochs that do not
        record skip the loss computation.
    random_state : int, RandomState instance or None, default None
        Seeds the initial weights and the shuffling order.
    warm_start : bool, default False
        If True, :meth:`fit` continues from the current ``params`` instead of initialising.
    backend : {"cython", "numpy"}, default "cython"
        ``"cython"`` runs the compiled loop; ``"numpy"`` runs its plain-numpy twin, which
        computes the same numbers more slowly and is there to read and to check against.
    verbose : int, default 0
        1 draws a progress bar on stderr (redrawn at most about ten times a second); 2 also
        prints each recorded loss. The results are the same as with 0.

    Attributes
    ----------
    params : dict of ndarray
        ``W1, b1, W2, b2, ...``; ``W_k`` has shape ``(layers[k-1], layers[k])``. The arrays are
        views of the network's parameters: writing into them changes the network, and arrays
        assigned to the keys are copied in by the next ``predict`` or warm-started ``fit``.
        The views stay live across warm-started fits; a fit that initialises anew makes new
        ones. Assigned arrays are checked (shape, NaN, infinity) when they are copied in;
        values written into the views in place are used as they are, and a prediction whose
        outputs they make NaN or infinite raises ValueError.
    loss_ : list of float
        Training loss recorded every ``loss_every`` epochs, before that epoch's updates (the
        tutorials' list). The estimators' ``loss_`` is a single number, their last loss.
    loss_curve_ : list of float
        The recorded losses, as the estimators' ``loss_curve_``: a copy of ``loss_``, so one
        entry per ``loss_every`` epochs (entry ``i`` is the loss of epoch
        ``i * loss_every + 1``, counting epochs from 1 since the weights were initialised and
        the batches' mean with mini-batches), and empty with ``loss_every=0``. With the
        default ``loss_every=1`` it has one entry per epoch, as the estimators'.
        :func:`cnet.plot.loss_curve` draws it.
    n_iter_ : int
        Epochs trained so far.
    classes_ : ndarray of shape (2,)
        The two class labels; ``predict_proba[:, 1]`` is the probability of ``classes_[1]``.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.

    Notes
    -----
    Initial weights are drawn from a normal distribution with variance ``gain / n_in`` and
    biases start at zero: ``gain = 2`` (He initialisation) for layers followed by relu and
    ``gain = 1`` for the rest, the output layer included.

    Float32 input is trained in float32 end to end; any other numeric input in float64.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from cnet import NeuralNet
    >>> X, y = make_moons(300, noise=0.2, random_state=0)
    >>> net = NeuralNet(layers=[2, 5, 1], learning_rate=0.003, iterations=20000,
    ...                 random_state=0).fit(X, y)
    >>> net.score(X, y) > 0.8
    True
    """

    # scikit-learn's way of checking parameters, as the MLPs': a bad value gets its
    # InvalidParameterError (a ValueError and a TypeError) and standard message. What the
    # constraints cannot say (the items of layers, one output unit) is checked in
    # _check_hyperparameters.
    _parameter_constraints: dict = {
        "layers": ["array-like"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "iterations": [Interval(Integral, 0, None, closed="left")],
        "activation": [StrOptions(set(registry.activation_names()))],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "shuffle": ["boolean"],
        "loss_every": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        # The names are engine.BACKENDS', checked by engine.get_backend when validation runs.
        "backend": [str],
        "verbose": ["verbose"],
    }

    def __init__(self, layers=(2, 5, 1), learning_rate=0.001, iterations=100, activation="relu",
                 batch_size=None, shuffle=True, loss_every=1, random_state=None,
                 warm_start=False, backend="cython", verbose=0):
        self.layers = layers
        self.learning_rate = learning_rate
        self.iterations = iterations
        self.activation = activation
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.loss_every = loss_every
        self.random_state = random_state
        self.warm_start = warm_start
        self.backend = backend
        self.verbose = verbose

    # --- checks -------------------------------------------------------------------------------

    def _check_hyperparameters(self):
        """Check every hyperparameter: the constraints (scikit-learn's InvalidParameterError,
        a ValueError and a TypeError), then what they cannot express (ValueError).

        Returns
        -------
        ndarray of intp
            ``layers``, checked.
        """
        validate_hyperparameters(self)
        layers = list(self.layers)
        if (len(layers) < 2
                or not all(isinstance(u, Integral) and not isinstance(u, bool) and u >= 1
                           for u in layers)):
            raise ValueError(f"layers must be a sequence of at least 2 positive integers, "
                             f"got {self.layers!r}")
        if layers[-1] != 1:
            raise ValueError(f"NeuralNet has one output unit (two classes): layers[-1] must "
                             f"be 1, got {layers[-1]}")
        engine.get_backend(self.backend)
        return np.asarray([int(u) for u in layers], dtype=np.intp)

    def _validate_training_input(self, X, y, reset):
        dtype = [np.float64, np.float32] if reset else self._params_flat.dtype
        return training_input(self, X, _as_1d_labels(y), reset=reset, dtype=dtype,
                              y_kinds="biufU")

    # --- parameters ---------------------------------------------------------------------------

    def _initial_params(self, layers, dtype, rng):
        flat = np.zeros(n_parameters(layers), dtype=dtype)
        views = parameter_views(flat, layers)
        for k in range(1, len(layers)):
            hidden = k < len(layers) - 1
            gain = registry.activation(self.activation).init_gain if hidden else 1.0
            n_in, n_out = layers[k - 1], layers[k]
            views[f"W{k}"][...] = rng.standard_normal((n_in, n_out)) * np.sqrt(gain / n_in)
        return flat

    def _packed_params(self):
        """The flat parameter vector with ``self.params`` written into it, shapes checked.

        Values that are views of the vector already are left where they are; arrays that
        were assigned to the keys are copied in. The vector stays the same object, so views
        taken from ``params`` earlier stay live.
        """
        self.__dict__.pop("_packed_views", None)
        flat = self._params_flat
        views = parameter_views(flat, self._layers)
        for name, shape in parameter_shapes(self._layers):
            value = np.asarray(self.params[name]) if name in self.params else None
            if value is None or value.shape != shape:
                got = None if value is None else tuple(int(d) for d in value.shape)
                raise ValueError(f"params[{name!r}] must have shape "
                                 f"{tuple(int(d) for d in shape)}, got {got}")
            if not np.isfinite(value).all():
                raise ValueError(f"params[{name!r}] contains NaN or infinity")
            if not _same_view(value, views[name]):
                # Copied first: the value may overlap another parameter's place in the vector.
                views[name][...] = np.array(value)
        self.params = views
        # What was just checked, for _prediction_params: the dict and each of its views.
        self._packed_views = (views, flat, tuple(views.items()))
        return flat

    def _prediction_params(self):
        """The flat vector, repacked (:meth:`_packed_params`) only if ``params`` changed since
        it was last packed: a new dict, or an array assigned to a key.

        The check is by identity, a few microseconds whatever the network's size. Values
        written into the views in place are the vector's own and are not checked again for
        NaN or infinity; a prediction whose outputs are not finite still raises.
        """
        packed = self.__dict__.get("_packed_views")
        if packed is not None:
            views, flat, items = packed
            if (self.params is views and self._params_flat is flat
                    and all(views.get(name) is view for name, view in items)):
                return flat
        return self._packed_params()

    def __getstate__(self):
        # An unpickled copy's arrays are no longer views of its vector: it packs anew.
        state = super().__getstate__()
        state.pop("_packed_views", None)
        return state

    def _set_params_flat(self, flat):
        """Make ``flat`` the network's vector and ``params`` its views. Its values are finite
        (fresh, trained, or checked by the model file's reader), so they count as packed."""
        self._params_flat = flat
        self.params = parameter_views(flat, self._layers)
        self._packed_views = (self.params, flat, tuple(self.params.items()))

    # --- saved state (cnet.persistence) -----------------------------------------------------

    def _get_state(self):
        """The fitted network as named plain values: arrays and JSON numbers, lists, strings.

        Returns
        -------
        dict
            What :meth:`_set_state` restores. The arrays may be the network's own: copy them
            before changing them.
        """
        return {"params": self._packed_params(),
                "classes": storable_labels(self.classes_, "class labels"),
                "layers": [int(u) for u in self._layers], "n_iter_": int(self.n_iter_),
                "loss_": [float(v) for v in self.loss_], "shuffle_seed": int(self._shuffle_seed),
                "batch_size_used": getattr(self, "_batch_size", None), **self._input_state()}

    def _state_arrays(self, fields):
        """``{name: ArraySpec}`` of the arrays a state of these ``layers`` holds."""
        layers = fields.layers()
        if layers[-1] != 1:
            raise ValueError(f"a NeuralNet has one output unit; layers end in {layers[-1]}")
        return {"params": ArraySpec([(n_parameters(layers),)], "f"),
                "classes": ArraySpec([(2,)], "biufU", misfit=lambda shape: (
                    f"{shape[0] if len(shape) == 1 else shape} classes do not fit 1 output "
                    f"unit(s) of a {type(self).__name__}")),
                **self._input_arrays(layers[0])}

    def _set_state(self, state):
        """Restore the fitted network from what :meth:`_get_state` gave, every value checked.

        Parameters
        ----------
        state : dict

        Raises
        ------
        ValueError
            Naming the first value that is missing, of the wrong type or shape, not finite,
            or inconsistent with the network's parameters (``layers``, ``activation``). The
            network is then left as it was.
        """
        fields = StateFields(state)
        layers = fields.layers()
        try:
            checked = [int(u) for u in self._check_hyperparameters()]
            registry.activation(self.activation)
        except (TypeError, ValueError, OverflowError) as exc:   # Overflow: huge layer sizes
            raise ValueError(f"a saved parameter is invalid: {str(exc)[:200]}") from None
        if checked != layers:
            raise ValueError(f"the saved parameters ask for hidden layers {checked[1:-1]}; "
                             f"the fitted layers are {layers}")
        check_state_arrays(state, self._state_arrays(fields), type(self).__name__, layers)
        check_finite(state["params"], "parameters")
        check_labels(state["classes"])
        with self._all_or_nothing():
            self._set_input_state(fields, layers)
            batch = fields.get("batch_size_used", "int", low=1, default=None, none=True)
            self.__dict__.pop("_batch_size", None)
            if batch is not None:
                self._batch_size = batch
            self.classes_ = native_copy(state["classes"])
            self._layers = np.asarray(layers, dtype=np.intp)
            self._set_params_flat(native_copy(state["params"]))
            self._shuffle_seed = fields.get("shuffle_seed", "int", low=0)
            self.n_iter_ = fields.get("n_iter_", "int", low=0)
            self.loss_ = list(fields.get("loss_", "losses"))

    # --- API ----------------------------------------------------------------------------------

    @property
    def loss_curve_(self):
        """The recorded losses as a new list (``loss_``, one per ``loss_every`` epochs).

        Derived from ``loss_`` rather than stored beside it, so model files and pickles hold
        the losses once and a loaded network has both.
        """
        if "loss_" not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet: "
                                 f"loss_curve_ is set by fit")
        return list(self.loss_)

    def fit(self, X, y):
        """Train the network on X, y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layers[0])
            Training data; NaN and infinity are rejected.
        y : array-like of shape (n_samples,)
            Labels of exactly two classes. A row or column vector, as the tutorials build,
            is accepted too.

        Returns
        -------
        self : NeuralNet
        """
        if y is None:
            raise ValueError("NeuralNet.fit requires y, the labels (got None)")
        layers = self._check_hyperparameters()
        warm = self.warm_start and hasattr(self, "_params_flat")
        if warm and not np.array_equal(layers, self._layers):
            raise ValueError(f"warm_start: layers changed from {list(self._layers)} "
                             f"to {list(layers)}")
        X, y = self._validate_training_input(X, y, reset=not warm)
        if X.shape[1] != layers[0]:
            raise ValueError(f"X has {X.shape[1]} features, but layers[0] is {layers[0]}")
        _, classes, y_index = classification_targets(y, with_index=True)
        if y.dtype == object:
            # The labels keep their object dtype (a pandas column of strings), as numpy's
            # unique keeps it; scikit-learn's unique_labels makes them strings.
            classes = classes.astype(object)
        if len(classes) != 2:
            raise ValueError(f"NeuralNet needs labels of exactly two classes, got "
                             f"{len(classes)}: {classes[:10].tolist()}")
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start: classes changed from {self.classes_.tolist()} "
                             f"to {classes.tolist()}")

        if warm:
            flat = self._packed_params()
        else:
            rng = check_random_state(self.random_state)
            self._layers = layers
            self._set_params_flat(self._initial_params(layers, X.dtype, rng))
            flat = self._params_flat
            self._shuffle_seed = int(rng.randint(0, np.iinfo(np.int64).max))
            self.classes_ = classes
            self.loss_ = []
            self.n_iter_ = 0

        Y = y_index.astype(flat.dtype).reshape(-1, 1)
        self._batch_size = min(X.shape[0], self.batch_size or X.shape[0])

        # Plain SGD at a constant rate, as the tutorials train.
        network = Network(layers, self.activation, "logistic", dtype=flat.dtype)
        training = Training(SGD(flat.size, flat.dtype, self.learning_rate, momentum=0.0,
                                nesterov=False),
                            batch_size=self._batch_size, shuffle=bool(self.shuffle),
                            seed=self._shuffle_seed, loss_every=self.loss_every)

        def run(first, count):
            result = engine.train(self.backend, flat, network, training, X, Y, count,
                                  Progress(self.n_iter_ + first))
            self.loss_ += result.losses
            if self.verbose >= 2:
                for loss in result.losses:
                    bar.write(f"loss {loss:.8f}")
            outcome.append(result)
            return result.epochs_done

        outcome = []
        if self.verbose:
            bar = ProgressBar(self.iterations)
            done = train_in_chunks(run, self.iterations, lambda d: bar.update(
                d, self.loss_[-1] if self.loss_ else None))
            bar.close()
        else:
            done = run(0, self.iterations) if self.iterations else 0
        self.n_iter_ += done
        if outcome:
            warn_if_stopped(outcome[-1]._replace(epochs_done=done), self.iterations,
                            self.n_iter_, self.learning_rate)
        return self

    def summary(self):
        """The network as a table: layers, activations, parameter counts, dtype, backend
        and whether each layer's products run on the hand-written matmul or on BLAS.

        Returns
        -------
        str
            Print it: ``print(net.summary())``.
        """
        from cnet.summary import summarize
        layers = self._check_hyperparameters()
        fitted = hasattr(self, "_params_flat")
        batch = getattr(self, "_batch_size", self.batch_size)
        return summarize(type(self).__name__, layers, self.activation, "logistic",
                         self._params_flat.dtype if fitted else None, self.backend, batch)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layers[0])

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns follow ``classes_``; column 1 is the network's output.
        """
        if "_params_flat" not in self.__dict__:
            # check_is_fitted's look-ups cost as much as the network on one sample: only an
            # unfitted network needs its error.
            check_is_fitted(self, "_params_flat")
        X = prediction_input(self, X, self._params_flat.dtype)
        flat = self._prediction_params()
        return two_class_probabilities(
            engine.predict(self.backend, flat, self._prediction_network(flat.dtype), X))

    def _prediction_network(self, dtype):
        """The network spec for predicting, reused while the layers, activation and dtype are
        those it was made from: making and checking it costs a tenth of a one-row
        prediction."""
        layers, activation = self._layers, self.activation
        cached = self.__dict__.get("_network_cache")
        # fit assigns a new layers array rather than writing into the old one.
        if (cached is not None and cached[0] is layers and cached[1] == activation
                and cached[2] == dtype):
            return cached[3]
        network = Network(layers, activation, "logistic", dtype=dtype)
        self._network_cache = (layers, activation, np.dtype(dtype), network)
        return network

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def predict(self, X):
        """Predicted labels: ``classes_[1]`` where its probability exceeds 0.5.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layers[0])

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(np.intp)]


def _same_view(a, b):
    """Whether two arrays are the same memory with the same layout."""
    ia, ib = a.__array_interface__, b.__array_interface__
    return (ia["data"][0] == ib["data"][0] and a.strides == b.strides and a.shape == b.shape
            and a.dtype == b.dtype)


def _as_1d_labels(y):
    """Labels as a 1-D array; a (1, n) row or (n, 1) column, as the tutorials use, is raveled."""
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        return y.reshape(-1)
    return y
