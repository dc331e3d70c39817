"""How the scikit-learn estimators run the stochastic solvers: the training spec they build
from their parameters, the engine calls that train (every epoch in one compiled call, or one
per call when verbose), and the fitted attributes and warnings that follow.

A mixin of ``cnet.mlp._BaseMLP``: the decisions between epochs (schedules, stopping, the
validation score) are taken inside the loop by the rules of ``cnet.epoch_rules``; what is
here is the glue between the estimator's attributes and the engine.
"""
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from cnet import _scoring, engine
from cnet import optimizer as optimizers
from cnet._caller import stacklevel
from cnet._fit_warnings import warn_if_stopped
from cnet._layout import n_parameters, parameter_views
from cnet.epoch_rules import apply_score
from cnet.spec import Progress, Stopping, Training, Validation

# scikit-learn's wording, which its tests match.
NON_FINITE_PARAMETERS = ("Solver produced non-finite parameter weights. The input data may "
                         "contain large values and need to be preprocessed.")


class StochasticFitMixin:
    """``_fit_stochastic`` and what it needs, for the estimators in ``cnet.mlp``."""

    def _training_options(self):
        """The optimizer's hyperparameters, by the names its class takes."""
        names = optimizers.CLASSES[self.solver].ESTIMATOR_NAMES
        return {name: getattr(self, attribute) for name, attribute in names.items()}

    def _new_optimizer(self, n_parameters, dtype):
        """A fresh optimizer of ``solver``, with this estimator's hyperparameters."""
        names = optimizers.CLASSES[self.solver].SCHEDULE_NAMES
        schedule = {name: getattr(self, attribute) for name, attribute in names.items()}
        return optimizers.make(self.solver, n_parameters, dtype, self.learning_rate_init,
                               **schedule, **self._training_options())

    def _fit_stochastic(self, X, Y, weights, eval_set, incremental, rng, tasks=None):
        layers = self._layers
        if (not incremental or not hasattr(self, "_optimizer")
                or self._optimizer.name != self.solver):
            self._optimizer = self._new_optimizer(n_parameters(layers), X.dtype)
        else:
            # An optimizer restored from a model file has the default momentum or betas;
            # partial_fit steps with the model's.
            self._optimizer.set_hyperparameters(**self._training_options())
        optimizer = self._optimizer
        X_train, Y_train, w_train = X, Y, weights
        X_val = Y_val = w_val = None
        user_set = self._validation_set(eval_set)
        if incremental and self.early_stopping:
            # A stream cannot be split: the validation set given once serves later calls.
            if user_set is None:
                user_set = getattr(self, "_stream_validation", None)
            self._stream_validation = user_set
        if user_set is not None:
            X_val, _, Y_val, w_val = user_set
        elif self.early_stopping:
            # As scikit-learn: binary targets are split stratified by their 0/1 column.
            stratify = (Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1
                        else None)
            split = train_test_split(X, Y, *([] if weights is None else [weights]),
                                     random_state=rng, test_size=self.validation_fraction,
                                     stratify=stratify)
            X_train, X_val, Y_train, Y_val = split[:4]
            if weights is not None:
                w_train, w_val = split[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        n = X_train.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else self.batch_size
        if batch_size > n and self.batch_size != "auto":
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped", stacklevel=stacklevel())
        batch_size = int(np.clip(batch_size, 1, n))
        self._batch_size = batch_size

        flat = self._packed()
        if self.early_stopping and self.validation_scores_ is None:
            # early_stopping switched on (set_params) after a fit without it. The best weights
            # so far are the current ones, not those the earlier fit started from (kept since
            # then, never updated without early stopping).
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None
            self._best_coefs = [W.copy() for W in self.coefs_]
            self._best_intercepts = [b.copy() for b in self.intercepts_]
        best_params = (self._packed_from(self._best_coefs, self._best_intercepts)
                       if self.early_stopping else None)
        progress = Progress(
            self._epochs_seen, samples_seen=self.t_,
            best_loss=np.inf if self.best_loss_ is None else self.best_loss_,
            best_score=(-np.inf if self.best_validation_score_ is None
                        else self.best_validation_score_),
            no_improvement=self._no_improvement_count)
        max_epochs = 1 if incremental else self.max_iter
        # What the rules need of the validation set is computed once per fit, not per call.
        # A scorer the loop cannot compute is called here between epochs (epoch_scorer).
        validation = epoch_scorer = None
        if X_val is not None:
            kind = _scoring.loop_kind(self) if self.early_stopping else "none"
            if kind is None:
                kind = "none"
                epoch_scorer = _scoring.EpochScorer(self, X_val, self._decode(Y_val), w_val)
            validation = Validation(X_val, Y_val, w_val, score=kind,
                                    ss_tot=_total_sum_of_squares(Y_val, w_val))
        stop_on = "score" if self.early_stopping else "loss"
        training = Training(
            optimizer, batch_size=batch_size, shuffle=self.shuffle, seed=self._seed,
            loss_every=1, alpha=self.alpha, dropout=self.dropout, sample_weight=w_train,
            stopping=Stopping("none" if epoch_scorer is not None else stop_on, tol=self.tol,
                              n_iter_no_change=self.n_iter_no_change,
                              best_params=best_params),
            validation=validation)
        network = self._network(X.dtype)
        # A verbose fit, one with callbacks or one whose scorer is Python goes an epoch per
        # call; any other runs every epoch in one compiled call, the rules applied inside
        # the loop.
        per_epoch = self.verbose or tasks is not None or epoch_scorer is not None
        chunk = 1 if per_epoch else max_epochs
        self.n_iter_ = 0
        stopped = ended = False
        while self.n_iter_ < max_epochs and not (stopped or ended):
            count = min(chunk, max_epochs - self.n_iter_)
            rate = optimizer.learning_rate
            task = None if tasks is None else tasks.begin()
            result = engine.train(self.backend, flat, network, training, X_train, Y_train,
                                  count, progress)
            done = result.epochs_done
            self._epochs_seen += done
            self.n_iter_ += done
            self.t_ = int(progress.samples_seen)
            self.loss_curve_ += result.losses
            if done:
                self._expose(flat, layers)
                self.loss_ = self.loss_curve_[-1]
            scores = result.val_scores
            stopped = result.stopped
            if epoch_scorer is not None and done:
                score = epoch_scorer()
                best, stopped = apply_score(progress, optimizer, score, tol=self.tol,
                                            n_iter_no_change=self.n_iter_no_change)
                if best:
                    best_params[...] = flat
                scores = [score]
            self._no_improvement_count = progress.no_improvement
            self.validation_loss_curve_ += result.val_losses
            if self.early_stopping:
                self.validation_scores_ += scores
                self.best_validation_score_ = progress.best_score
            else:
                self.best_loss_ = progress.best_loss
            if self.verbose:
                self._report(done, rate, result, stopped)
            if done < count and not stopped:
                # Interrupted or diverged: flat holds the last whole epoch's parameters.
                warn_if_stopped(result, count, self.n_iter_, optimizer.learning_rate)
                ended = True
                if task is not None:
                    tasks.end(task, ran=False)
                if not result.interrupted:
                    if not self.early_stopping:
                        raise ValueError(NON_FINITE_PARAMETERS)
                    # The diverged epoch scores NaN on the validation set, as in
                    # scikit-learn, and the best epoch's weights are restored below.
                    self.validation_scores_.append(float("nan"))
            elif task is not None and tasks.end(task):
                # A callback stopped the fit (scikit-learn's callback protocol).
                stopped = True
        if not (incremental or stopped or ended) and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          f"reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=stacklevel())
        self.stop_training_ = bool(stopped)
        if self.early_stopping:
            views = parameter_views(best_params, layers)
            n = len(layers) - 1
            self._best_coefs = [views[f"W{k}"].copy() for k in range(1, n + 1)]
            self._best_intercepts = [views[f"b{k}"].copy() for k in range(1, n + 1)]
            # partial_fit keeps training the last weights until the rules say stop; a fit
            # ends with the best epoch's.
            if not incremental or stopped or ended:
                self._expose(best_params, layers)

    def _report(self, done, rate, result, stopped):
        """Print what the verbose fit's last epoch did, as scikit-learn's MLP prints it."""
        if not done:
            return
        extra = (f", validation loss = {self.validation_loss_curve_[-1]:.8f}"
                 if self.validation_loss_curve_ else "")
        print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}{extra}")
        if self.early_stopping:
            print(f"Validation score: {self.validation_scores_[-1]:f}")
        lowered = self._optimizer.learning_rate < rate and self._optimizer.schedule == "adaptive"
        if lowered or stopped:
            what = "Validation score" if self.early_stopping else "Training loss"
            message = (f"{what} did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
            print(f"{message} Setting learning rate to {self._optimizer.learning_rate:f}"
                  if lowered else f"{message} Stopping.")


def _total_sum_of_squares(Y, weights):
    """Each output's weighted sum of squared deviations from its weighted mean: R²'s
    denominator, as scikit-learn's r2_score computes it."""
    Y = np.asarray(Y, dtype=np.float64)
    w = np.ones(len(Y)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = np.average(Y, axis=0, weights=w)
    return np.ascontiguousarray((w[:, None] * (Y - mean) ** 2).sum(axis=0))
