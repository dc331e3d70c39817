"""What a scikit-learn estimator of cnet's saves and restores: its part of the model file
protocol of ``cnet.persistence`` (``_get_state``, ``_state_arrays``, ``_set_state``).

A mixin of ``cnet.mlp._BaseMLP``; ``MLPClassifier`` adds its labels.
"""
import numpy as np

from cnet import registry
from cnet._layout import n_parameters
from cnet.persistence import ArraySpec, StateFields, check_finite, check_state_arrays, native_copy


class MLPStateMixin:
    """The saved state of ``MLPClassifier`` and ``MLPRegressor``."""

    def _get_state(self):
        """The fitted estimator as named plain values: arrays and JSON numbers, lists, strings.

        Returns
        -------
        dict
            What :meth:`_set_state` restores. The arrays may be the estimator's own: copy them
            before changing them.
        """
        best_loss = getattr(self, "best_loss_", None)
        return {"params": self._packed(), "layers": [int(u) for u in self._layers],
                "n_iter_": int(self.n_iter_), "loss_curve_": [float(v) for v in self.loss_curve_],
                "t_": int(self.t_), "best_loss_": None if best_loss is None else float(best_loss),
                "seed": int(self._seed), "epochs_seen": int(self._epochs_seen),
                "out_activation": self.out_activation_,
                "batch_size_used": getattr(self, "_batch_size", None),
                **self._optimizer_state(), **self._input_state()}

    def _state_arrays(self, fields):
        """``{name: ArraySpec}`` of the arrays a state of these ``layers`` holds."""
        layers = fields.layers()
        n = n_parameters(layers)
        # Every file holds the optimizer's state, zeros where there is none (lbfgs).
        return {"params": ArraySpec([(n,)], "f"), "optimizer_state": ArraySpec([(2, n)], "f"),
                **self._input_arrays(layers[0])}

    def _set_state(self, state):
        """Restore the fitted estimator from what :meth:`_get_state` gave, every value checked.

        The loss curve, the best loss and the weights come back; the early-stopping records
        (scores, best score, ``stop_training_``) and the validation curve start empty, as on
        a first fit.

        Parameters
        ----------
        state : dict

        Raises
        ------
        ValueError
            Naming the first value that is missing, of the wrong type or shape, not finite,
            or inconsistent with the estimator's parameters (``hidden_layer_sizes``,
            ``activation``, the loss and labels that decide the output layer). The estimator
            is then left as it was.
        """
        fields = StateFields(state)
        layers = fields.layers()
        try:
            self._check_hyperparameters()
            hidden = self._hidden_sizes()
            registry.activation(self.activation)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"a saved parameter is invalid: {str(exc)[:200]}") from None
        if hidden != layers[1:-1]:
            raise ValueError(f"the saved parameters ask for hidden layers {hidden}; the fitted "
                             f"layers are {layers}")
        check_state_arrays(state, self._state_arrays(fields), type(self).__name__, layers)
        check_finite(state["params"], "parameters")
        check_finite(state["optimizer_state"], "optimizer state")
        dtype = state["params"].dtype.name
        if self.dtype is not None and np.dtype(self.dtype).name != dtype:
            raise ValueError(f"dtype={self.dtype!r} but the parameters are {dtype}")
        out_activation = fields.get("out_activation", "str")
        outputs = sorted({e.output_activation for e in registry.OUTPUT_LOSSES.values()})
        if out_activation not in outputs:
            raise ValueError(f"out_activation {out_activation!r:.40} does not fit this "
                             f"{type(self).__name__} (output layers are {outputs})")
        best_loss = fields.get("best_loss_", "loss", default=None, none=True)
        with self._all_or_nothing():
            self._set_input_state(fields, layers)
            batch = fields.get("batch_size_used", "int", low=1, default=None, none=True)
            self.__dict__.pop("_batch_size", None)
            if batch is not None:
                self._batch_size = batch
            self._set_labels(fields)
            if out_activation != self._output_activation():
                # The output layer is decided by the estimator, its loss and its labels.
                raise ValueError(f"out_activation {out_activation!r:.40} does not fit this "
                                 f"{type(self).__name__} (it needs "
                                 f"{self._output_activation()!r})")
            layers = np.asarray(layers, dtype=np.intp)
            params = native_copy(state["params"])
            self.n_layers_ = len(layers)
            self.n_outputs_ = int(layers[-1])
            self.out_activation_ = out_activation
            self._expose(params, layers)
            self._set_optimizer_state(fields, params)
            self._seed = fields.get("seed", "int", low=0)
            self._epochs_seen = fields.get("epochs_seen", "int", low=0)
            self.n_iter_ = fields.get("n_iter_", "int", low=0)
            self.t_ = fields.get("t_", "int", low=0)
            for name, value in self._initial_curves().items():
                setattr(self, name, value)
            self.loss_curve_ = list(fields.get("loss_curve_", "losses"))
            self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
            if self.best_loss_ is not None:
                # Tracked (a stochastic solver without early stopping): the best so far.
                self.best_loss_ = best_loss
            # Restarts with the early-stopping records (no best score, no count to stop on).
            self.stop_training_ = False

    def _set_labels(self, fields):
        """Restore what the state keeps of the targets (the classifier's labels)."""

    def _optimizer_state(self):
        """The optimizer's part of :meth:`_get_state`: the one place that reads its state."""
        optimizer = getattr(self, "_optimizer", None)
        if optimizer is None:
            # lbfgs, or weights assigned by hand: the file holds zeros, as a fresh optimizer's.
            params = self._packed()
            return {"optimizer_state": np.zeros((2, params.size), dtype=params.dtype),
                    "steps": 0, "learning_rate_now": float(self.learning_rate_init),
                    "has_optimizer": False}
        return {"optimizer_state": optimizer.state, "steps": int(optimizer.step_count),
                "learning_rate_now": float(optimizer.learning_rate), "has_optimizer": True}

    def _set_optimizer_state(self, fields, params):
        """Restore what :meth:`_optimizer_state` gave: the one place that writes the state."""
        self.__dict__.pop("_optimizer", None)
        # Files of format 1, written before the optimizer had an object of its own, always
        # carried its state.
        if not (fields.get("has_optimizer", "bool", default=True)
                and self.solver in registry.OPTIMIZERS):
            return
        optimizer = self._new_optimizer(params.size, params.dtype)
        optimizer.state[...] = fields.mapping["optimizer_state"]
        optimizer.step_count = fields.get("steps", "int", low=0)
        optimizer.learning_rate = fields.get("learning_rate_now", "positive")
        self._optimizer = optimizer
