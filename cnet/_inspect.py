"""Look inside a fitted network by the tutorials' names: ``forward`` and ``gradients``.

The "neural network from scratch" tutorials write a two-layer network's forward pass as
``Z1 = X W1 + b1``, ``A1 = g(Z1)``, ``Z2 = A1 W2 + b2``, ``A2 = sigmoid(Z2)``, and what
backpropagation finds as ``dW1, db1, dW2, db2``. A fitted cnet model gives those names a home:
:meth:`InspectMixin.forward` returns every layer's ``Z`` and ``A``, and
:meth:`InspectMixin.gradients` the training objective and every ``dW``, ``db``. Both run the
model's own backend (the compiled loop by default) through :mod:`cnet.engine`, the same
arithmetic as ``predict`` and ``fit``.

The mixin is one class for every model; what differs between ``NeuralNet`` and the
scikit-learn estimators (where the parameters are, how the targets are encoded, the L2 term)
is in the two subclasses below, which the front ends take as a base.
"""
import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from cnet import engine
from cnet._input import prediction_input, training_input
from cnet._layout import parameter_views
from cnet._object_lock import serialized
from cnet.spec import Network


class InspectMixin:
    """``forward`` and ``gradients`` for a fitted model (see the module docstring).

    Subclasses say where the model's parameters are (:meth:`_inspected_network`), how its
    targets and weights enter the loss (:meth:`_inspected_targets`) and its L2 penalty
    (:meth:`_inspected_alpha`).
    """

    @serialized
    def forward(self, X, return_intermediates=False):
        """The forward pass of the fitted network over X, optionally with every layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Validated as ``predict`` validates it.
        return_intermediates : bool, default False
            Also return each layer's pre-activation and activation.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs) or dict of str to ndarray
            Without intermediates, the output layer's activation: the probabilities
            ``predict_proba`` is made of (one column of the positive class for two classes),
            or the regressor's predictions as a column per output, before any label decoding.

            With ``return_intermediates=True``, a dict ``{"Z1": ..., "A1": ..., ...,
            "ZL": ..., "AL": ...}`` in layer order, each ``(n_samples, units of that layer)``:
            ``Zk = A(k-1) @ Wk + bk`` (with ``A0 = X``) is layer k's pre-activation, ``Ak``
            its activation (the hidden activation, or for the last layer the output
            activation: logistic, softmax, identity or exp). ``AL`` equals what
            ``return_intermediates=False`` returns. The first tutorial keeps these arrays
            transposed, one column per sample; here a row is a sample, as in X.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before the model is fitted.
        ValueError
            For X that ``predict`` refuses, and where a layer's value is NaN or infinite
            (parameters too large for X).
        """
        if not isinstance(return_intermediates, (bool, np.bool_)):
            raise TypeError(f"return_intermediates must be True or False, got "
                            f"{return_intermediates!r}")
        params, network = self._inspected_network()
        X = prediction_input(self, X, params.dtype)
        if not return_intermediates:
            return engine.predict(self.backend, params, network, X)
        layers = engine.forward_layers(self.backend, params, network, X)
        values = {}
        for k, (Z, A) in enumerate(zip(layers.pre, layers.activations), start=1):
            values[f"Z{k}"] = Z
            values[f"A{k}"] = A
        return values

    @serialized
    def gradients(self, X, y, sample_weight=None):
        """The training objective at the fitted parameters and its gradient, by layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets as ``fit`` takes them: class labels (or label indicators) for a
            classifier, encoded as ``fit`` encodes them; values for a regressor.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; the loss is their weighted mean. A classifier's
            ``class_weight`` is multiplied in, as in ``fit``.

        Returns
        -------
        loss : float
            The objective ``fit`` minimizes, over all of X as one batch: the mean loss (the
            weighted mean with weights) plus, for the scikit-learn estimators, the L2 term
            ``0.5 * alpha * sum(W**2) / n_samples`` (the weight sum instead of
            ``n_samples`` with weights). It is the loss a full-batch epoch records in
            ``loss_curve_`` (``loss_`` for ``NeuralNet``) before its update, and the
            objective lbfgs minimizes. Mini-batch epochs record the mean of their batches'
            losses, each with the L2 term over the batch's size, so they differ from it.
            Dropout is not applied: this is the network that predicts.
        grads : dict of str to ndarray
            ``{"dW1": ..., "db1": ..., "dW2": ..., "db2": ...}``, the gradient of ``loss``
            with respect to each weight matrix (shape of ``Wk``, ``(n_in, n_out)``) and bias
            vector.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before the model is fitted.
        ValueError
            For X or y that ``fit`` would refuse, labels the model was not fitted on, y of
            another number of outputs, bad weights, or a loss that is not finite.
        """
        params, network = self._inspected_network()
        X, Y, weights = self._inspected_targets(X, y, sample_weight, params.dtype)
        loss, grad = engine.loss_and_gradient(self.backend, params, network, X, Y,
                                              sample_weight=weights,
                                              alpha=self._inspected_alpha())
        if not (np.isfinite(loss) and np.isfinite(grad).all()):
            raise ValueError("the loss or its gradient is NaN or infinite at these "
                             "parameters for this input (did training diverge?)")
        return loss, {f"d{name}": value
                      for name, value in parameter_views(grad, network.layers).items()}

    # --- what each kind of model says -------------------------------------------------------

    def _inspected_network(self):
        """``(params, network)``: the fitted flat parameter vector and its
        cnet.spec.Network; NotFittedError before a fit."""
        raise NotImplementedError

    def _inspected_targets(self, X, y, sample_weight, dtype):
        """``(X, Y, weights)`` validated and encoded as the engine reads them."""
        raise NotImplementedError

    def _inspected_alpha(self):
        """The L2 penalty's ``alpha`` of the objective."""
        return 0.0


class NeuralNetInspectMixin(InspectMixin):
    """:class:`InspectMixin` for ``cnet.NeuralNet``: one sigmoid unit, the mean binary
    cross-entropy, no L2 term."""

    def _inspected_network(self):
        if "_params_flat" not in self.__dict__:
            check_is_fitted(self, "_params_flat")
        params = self._prediction_params()
        return params, Network(self._layers, self.activation, "logistic", dtype=params.dtype)

    def _inspected_targets(self, X, y, sample_weight, dtype):
        y = np.asarray(y)
        if y.ndim == 2 and 1 in y.shape:
            # A (1, n) row or (n, 1) column, as the tutorials keep labels, as fit takes it.
            y = y.reshape(-1)
        X, y = training_input(self, X, y, reset=False, dtype=dtype, y_kinds="biufU")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels the network was not fitted on: "
                             f"{unseen[:10].tolist()}; its classes are "
                             f"{self.classes_.tolist()}")
        Y = (y == self.classes_[1]).astype(dtype).reshape(-1, 1)
        return X, Y, _sample_weight(sample_weight, X.shape[0], dtype)


class MLPInspectMixin(InspectMixin):
    """:class:`InspectMixin` for ``cnet.MLPClassifier`` and ``cnet.MLPRegressor``: targets
    encoded and weighted as their ``fit`` does, the L2 term of ``alpha``."""

    def _inspected_network(self):
        if "coefs_" not in self.__dict__:
            check_is_fitted(self, "coefs_")
        params = self._prediction_params()
        return params, self._network(params.dtype)

    def _inspected_targets(self, X, y, sample_weight, dtype):
        classifier = is_classifier(self)
        X, y = training_input(self, X, y, reset=False, dtype=dtype,
                              y_kinds="biufU" if classifier else "biuf", multi_output=True,
                              y_numeric=not classifier)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()           # as fit takes a column (where it warns)
        self._check_targets(y)
        Y = self._encode_targets(y, dtype)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} output(s) as encoded for this model; it "
                             f"was fitted with {self.n_outputs_}")
        return X, Y, self._sample_weight(sample_weight, X, y)

    def _inspected_alpha(self):
        return float(self.alpha)


def _sample_weight(sample_weight, n, dtype):
    """``sample_weight`` checked (one finite, non-negative weight per sample, a positive sum)
    in ``dtype``, or None."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold numbers, got dtype {weights.dtype}")
    weights = weights.astype(np.float64)
    if weights.ndim != 1 or weights.shape[0] != n:
        raise ValueError(f"sample_weight must be 1-D with one weight per sample ({n}), got "
                         f"shape {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if not weights.sum() > 0:
        raise ValueError("sample_weight sums to zero: no sample would be learnt from")
    weights = weights.astype(dtype)
    if not np.isfinite(weights).all():
        raise ValueError(f"sample_weight does not fit in {np.dtype(dtype)} (overflow)")
    return weights
