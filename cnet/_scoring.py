"""The validation score of the scikit-learn estimators (``scoring=``): which scorers the
compiled loop computes itself, and the Python call that scores an epoch for any other.

``early_stopping`` keeps the epoch with the best validation score and stops when it has not
improved for ``n_iter_no_change`` epochs. By default the score is the estimator's own
(accuracy, R²); ``scoring`` takes any scikit-learn scorer name or callable instead. The loop
computes accuracy, R², ``neg_log_loss`` and ``neg_mean_squared_error`` from the validation
pass it already makes, so a fit with them is still one compiled call; any other scorer is
called between epochs, an epoch per call.
"""
import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring, get_scorer_names

from cnet.engine import NonFiniteOutputError

# Scorer name -> how the loop computes it (cnet.epoch_rules.SCORES), per estimator kind;
# "accuracy" and "r2" are the estimators' defaults, whose kind depends on the output layer.
_CLASSIFIER_BUILT_IN = {"accuracy": None, "neg_log_loss": "neg_log_loss"}
_REGRESSOR_BUILT_IN = {"r2": "r2", "neg_mean_squared_error": "neg_mse"}


def scorer_names():
    """The names ``scoring`` accepts: scikit-learn's scorers."""
    return set(get_scorer_names())


def default_kind(estimator):
    """How the loop computes the estimator's own score (accuracy or R²)."""
    if not is_classifier(estimator):
        return "r2"
    if len(estimator.classes_) == 1:
        return "accuracy_one_class"
    return "accuracy_argmax" if estimator.out_activation_ == "softmax" else "accuracy_threshold"


def loop_kind(estimator):
    """The loop's score (one of cnet.epoch_rules.SCORES) for ``estimator.scoring``, or None
    when the scorer needs a Python call per epoch.

    The classifiers' loss is scikit-learn's log loss only for one label per sample (softmax
    outputs, or one logistic unit for two classes): a multi-label model sums a log loss per
    label, which is not what ``log_loss`` computes, so it takes the Python path, as does
    a single class. The loop's log loss is computed from the logits, where scikit-learn's
    clips probabilities at the dtype's eps: the two differ only for a sample predicted
    wrong with a probability below eps (about 2e-16 in float64). cnet's squared error is
    half the squared residual summed over outputs; the loop's "neg_mse" is computed from
    the residuals themselves (any regression loss).
    """
    scoring = estimator.scoring
    if scoring is None:
        return default_kind(estimator)
    if not isinstance(scoring, str):
        return None
    if is_classifier(estimator):
        if scoring not in _CLASSIFIER_BUILT_IN:
            return None
        if scoring == "accuracy":
            return default_kind(estimator)
        single_label = estimator._label_binarizer.y_type_ in ("binary", "multiclass")
        return "neg_log_loss" if single_label and len(estimator.classes_) >= 2 else None
    if scoring not in _REGRESSOR_BUILT_IN:
        return None
    return _REGRESSOR_BUILT_IN[scoring]


class EpochScorer:
    """Scores the estimator on a validation set with ``scoring`` (called between epochs).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Scored as it is when called (its ``coefs_`` and ``intercepts_``).
    X : ndarray or sparse matrix
    y : ndarray
        Labels (classifier) or targets (regressor), as ``predict`` returns them.
    sample_weight : ndarray, optional
        Passed to the scorer only when given, so that callables without the parameter work.
    """

    def __init__(self, estimator, X, y, sample_weight=None):
        self.scorer = check_scoring(estimator, estimator.scoring)
        self.estimator = estimator
        self.X, self.y = X, y
        self.kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}

    def __call__(self):
        """The score, NaN where the network's outputs are not finite (as in the loop).

        Returns
        -------
        float
        """
        try:
            score = self.scorer(self.estimator, self.X, self.y, **self.kwargs)
        except NonFiniteOutputError:
            return float("nan")
        if not np.isscalar(score) or isinstance(score, (str, bytes)):
            raise TypeError(f"scoring must give one number per call, got "
                            f"{type(score).__name__} from {self.estimator.scoring!r}")
        return float(score)
