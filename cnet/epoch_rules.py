"""What happens between epochs, decided inside the training loop: schedules and stopping.

The compiled loop (``cnet._train.train_epochs``) and its numpy twin apply these rules after
every epoch, so a whole ``fit`` of the scikit-learn estimators is one call, with no Python
between epochs. They are scikit-learn's MLP rules:

- ``schedule``: ``"constant"``; ``"invscaling"``, the rate ``learning_rate_init / (t + 1) **
  power_t`` after each epoch, ``t`` the samples seen; ``"adaptive"``, the rate divided by 5
  when the epochs without improvement exceed ``n_iter_no_change`` (training stops instead once
  the rate is at most ``lr_floor``).
- ``stop_on``: ``"loss"`` counts an epoch without improvement when its training loss is above
  the best so far minus ``tol``; ``"score"`` when the validation score (accuracy or R² on
  ``X_val``) is below the best plus ``tol``, and keeps the best epoch's parameters in
  ``best_params``; ``"none"`` never stops. Training stops when the count exceeds
  ``n_iter_no_change`` (and the schedule is not ``"adaptive"`` with room to lower the rate).

The loop reads and updates ``progress`` in place, so the rules carry over from call to call
(``partial_fit``, ``warm_start``, verbose fits run an epoch at a time): see PROGRESS_FIELDS.
"""
from typing import NamedTuple, Optional

import numpy as np

# progress[i] holds, in and out of each call:
PROGRESS_FIELDS = ("learning_rate",      # the rate of the next epoch
                   "best_loss",          # the lowest training loss so far (stop_on="loss")
                   "best_score",         # the best validation score so far (stop_on="score")
                   "no_improvement",     # epochs in a row without improvement
                   "samples_seen")       # t, for invscaling
SCHEDULES = ("constant", "invscaling", "adaptive")
STOP_ON = ("none", "loss", "score")
# How a validation score is computed from the outputs: the classifiers' accuracy (argmax for
# softmax outputs; every output > 0.5 against its target for logistic ones; always right for
# a single class) or the regressor's R² averaged over outputs.
SCORES = ("none", "accuracy_argmax", "accuracy_threshold", "accuracy_one_class", "r2")


class EpochRules(NamedTuple):
    """The rules applied after each epoch (see the module docstring)."""

    progress: np.ndarray                  # float64, PROGRESS_FIELDS, updated in place
    schedule: str = "constant"
    learning_rate_init: float = 0.001
    power_t: float = 0.5
    lr_floor: float = 1e-6
    stop_on: str = "none"
    tol: float = 1e-4
    n_iter_no_change: float = 10
    X_val: Optional[object] = None        # validation inputs (dense or CSR), dtype of params
    Y_val: Optional[np.ndarray] = None    # encoded targets, like Y
    w_val: Optional[np.ndarray] = None    # validation sample weights
    score: str = "none"
    ss_tot: Optional[np.ndarray] = None   # float64 per output: R²'s weighted total sum of squares
    val_losses: Optional[np.ndarray] = None   # float64, one per epoch: the validation loss
    val_scores: Optional[np.ndarray] = None   # float64, one per epoch: the validation score
    best_params: Optional[np.ndarray] = None  # the parameters of the best-scoring epoch


def new_progress(learning_rate, best_loss=np.inf, best_score=-np.inf, no_improvement=0,
                 samples_seen=0):
    """A progress array for :class:`EpochRules`."""
    return np.array([learning_rate, best_loss, best_score, no_improvement, samples_seen],
                    dtype=np.float64)


def check(rules, n_epochs, n_features, n_outputs, loss_every, n_parameters):
    """Raise ValueError if ``rules`` cannot be applied to this training call; the compiled
    loop makes the same checks, in the same words, before it trains."""
    progress = np.asarray(rules.progress)
    if progress.shape != (5,):
        raise ValueError("rules.progress must hold 5 values (see cnet.epoch_rules)")
    for name, value, allowed in [("rules.schedule", rules.schedule, SCHEDULES),
                                 ("rules.stop_on", rules.stop_on, STOP_ON),
                                 ("rules.score", rules.score, SCORES)]:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    if rules.stop_on == "loss" and loss_every != 1:
        raise ValueError("rules.stop_on='loss' needs the loss of every epoch (loss_every=1)")
    if rules.X_val is not None:
        n_val = rules.X_val.shape[0]
        if n_val == 0:
            raise ValueError("rules.X_val has no rows")
        if rules.X_val.shape[1] != n_features:
            raise ValueError(f"X has {rules.X_val.shape[1]} features, but layers[0] is "
                             f"{n_features}")
        if rules.Y_val is None or rules.Y_val.shape != (n_val, n_outputs):
            got = None if rules.Y_val is None else rules.Y_val.shape
            raise ValueError(f"rules.Y_val must have shape ({n_val}, {n_outputs}), got {got}")
        if rules.w_val is not None and len(rules.w_val) != n_val:
            raise ValueError(f"rules.w_val has {len(rules.w_val)} entries, X_val {n_val} rows")
        if rules.val_losses is not None and len(rules.val_losses) < n_epochs:
            raise ValueError("rules.val_losses has room for fewer epochs than asked")
        if rules.score == "r2" and rules.ss_tot is None:
            raise ValueError("rules.score='r2' needs rules.ss_tot")
        if rules.ss_tot is not None and len(rules.ss_tot) != n_outputs:
            raise ValueError(f"rules.ss_tot must hold {n_outputs} values")
    if rules.stop_on == "score":
        if rules.X_val is None or rules.score == "none":
            raise ValueError("rules.stop_on='score' needs rules.X_val and rules.score")
        if (rules.val_scores is None or len(rules.val_scores) < n_epochs
                or rules.best_params is None or len(rules.best_params) != n_parameters):
            raise ValueError("rules.val_scores needs room for the epochs and "
                             "rules.best_params the size of params")
