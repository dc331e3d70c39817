"""What happens between epochs, decided inside the training loop: stopping, the validation
set, and what they remember from call to call.

The compiled loop (``cnet._train.train_epochs``) and its numpy twin apply these rules after
every epoch, so a whole ``fit`` of the scikit-learn estimators is one call, with no Python
between epochs. They are scikit-learn's MLP rules; the learning-rate schedules
(``invscaling``, ``adaptive``) belong to the optimizer (``cnet.optimizer``), which the loop
asks after each epoch too.

The loop reads and updates a :class:`Progress` in place, so the rules carry over from call to
call (``partial_fit``, ``warm_start``, verbose fits run an epoch at a time).
"""
import numpy as np
import scipy.sparse as sp

from cnet._frozen import Frozen, real

# What stops training, and how a validation set is scored; each one's number is its index
# (the loop's STOP_* and SCORE_* codes). Scores: the classifiers' accuracy (argmax for softmax
# outputs; every output > 0.5 against its target for logistic ones; always right for a single
# class) or the regressor's R² averaged over outputs; scikit-learn's neg_log_loss (minus the
# validation loss, which is the log loss of a single-label classifier) and
# neg_mean_squared_error ("neg_mse": the squared residuals of the outputs after the output
# activation, averaged over weighted samples and over outputs).
STOP_ON = ("none", "loss", "score")
SCORES = ("none", "accuracy_argmax", "accuracy_threshold", "accuracy_one_class", "r2",
          "neg_log_loss", "neg_mse")

PROGRESS_DTYPE = np.dtype([
    ("epoch", np.int64),              # epochs trained so far: the next epoch's number
    ("samples_seen", np.float64),     # t, for invscaling
    ("best_loss", np.float64),        # the lowest training loss so far (stop on "loss")
    ("best_score", np.float64),       # the best validation score so far (stop on "score")
    ("no_improvement", np.int64),     # epochs in a row without improvement
])


class Stopping(Frozen):
    """When training stops early (scikit-learn's MLP rules).

    Parameters
    ----------
    on : {"none", "loss", "score"}
        ``"loss"`` counts an epoch without improvement when its training loss is above the
        best so far minus ``tol`` (the loss of every epoch is then needed: loss_every=1);
        ``"score"`` when the validation score is below the best plus ``tol``, and keeps the
        best epoch's parameters in ``best_params``; ``"none"`` never stops. Training stops
        when the count exceeds ``n_iter_no_change`` (unless the optimizer's schedule is
        ``"adaptive"`` with room to lower the rate: it is divided by 5 instead).
    tol : float >= 0
    n_iter_no_change : float >= 1
    best_params : ndarray, optional
        Where ``on="score"`` writes the best epoch's parameters (like params).
    """

    __slots__ = ("on", "tol", "n_iter_no_change", "best_params", "on_code")

    def __init__(self, on="none", *, tol=1e-4, n_iter_no_change=10, best_params=None):
        if on not in STOP_ON:
            raise ValueError(f"stopping must be one of {list(STOP_ON)}, got {on!r}")
        if on == "score" and best_params is None:
            raise ValueError("stopping on the validation score needs best_params")
        self._set(on=on, on_code=STOP_ON.index(on), tol=real("tol", tol, 0),
                  n_iter_no_change=real("n_iter_no_change", n_iter_no_change, 1),
                  best_params=best_params)


class Validation(Frozen):
    """A validation set, its loss recorded after every epoch.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR matrix
        Validation inputs, dtype of the parameters.
    Y : ndarray
        Encoded targets, like the training Y.
    sample_weight : ndarray, optional
    score : str
        How it is scored (one of SCORES) when training stops on the score.
    ss_tot : ndarray of float64, optional
        R²'s weighted total sum of squares per output (needed for ``score="r2"``).
    """

    __slots__ = ("X", "Y", "sample_weight", "score", "ss_tot", "score_code")

    def __init__(self, X, Y, sample_weight=None, *, score="none", ss_tot=None):
        if score not in SCORES:
            raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
        if score == "r2" and ss_tot is None:
            raise ValueError("score='r2' needs ss_tot")
        if not (isinstance(X, np.ndarray) or sp.issparse(X)):
            raise TypeError(f"the validation X must be a numpy array or a scipy.sparse CSR "
                            f"matrix, got {type(X).__name__}")
        self._set(X=X, Y=Y, sample_weight=sample_weight, score=score,
                  score_code=SCORES.index(score), ss_tot=ss_tot)


class Progress:
    """What the rules between epochs remember from call to call: one record of
    PROGRESS_DTYPE, named fields on both sides (the compiled loop's ProgressFields struct).

    The loop reads and updates ``fields`` in place; the attributes read and write it.
    """

    __slots__ = ("fields",)

    def __init__(self, epoch=0, *, samples_seen=0, best_loss=np.inf, best_score=-np.inf,
                 no_improvement=0):
        self.fields = np.zeros(1, dtype=PROGRESS_DTYPE)
        self.fields[0] = (epoch, samples_seen, best_loss, best_score, no_improvement)

    def __repr__(self):
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in PROGRESS_DTYPE.names)
        return f"Progress({shown})"


def _progress_field(name):
    def get(self):
        return self.fields[name][0].item()

    def put(self, value):
        self.fields[name] = value
    return property(get, put)


for _name in PROGRESS_DTYPE.names:
    setattr(Progress, _name, _progress_field(_name))


def apply_score(progress, optimizer, score, *, tol, n_iter_no_change):
    """The loop's rules for a validation score computed outside it (a scorer called from
    Python between epochs, an epoch per call, the loop run with ``Stopping("none")``): the
    twin of the score branch of the compiled loop's rules and of the ``adaptive`` schedule's
    step, which the loop leaves out when it stops on nothing.

    Parameters
    ----------
    progress : Progress
        Updated in place (best score, epochs without improvement).
    optimizer : cnet.optimizer.Optimizer
        Its learning rate is divided by 5 where the ``adaptive`` schedule has room.
    score : float
        The epoch's score; NaN resets the count and never becomes the best, as in the loop.
    tol, n_iter_no_change : float

    Returns
    -------
    best : bool
        Whether the score is the best so far (the caller keeps the parameters).
    stop : bool
        Whether training stops.
    """
    progress.no_improvement = (progress.no_improvement + 1
                               if score < progress.best_score + tol else 0)
    best = bool(score > progress.best_score)
    if best:
        progress.best_score = score
    if progress.no_improvement > n_iter_no_change:
        if (optimizer.schedule == "adaptive"
                and optimizer.learning_rate > optimizer.fields["lr_floor"][0]):
            optimizer.learning_rate = optimizer.learning_rate / 5
            progress.no_improvement = 0
        else:
            return best, True
    return best, False
