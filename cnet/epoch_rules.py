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
