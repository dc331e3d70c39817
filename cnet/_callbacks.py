"""scikit-learn's callbacks (``sklearn.callback``, SLEP023) around the estimators' fits.

A fit is one task; each epoch (stochastic solvers) or iteration (``lbfgs``) is a subtask,
as in scikit-learn's own estimators. The hooks get the training data as the fit validated
it (the labels, not their encoding), the sample weights as metadata, and a
``fitted_estimator`` made on demand from a copy of the weights of the moment. A callback
whose ``on_fit_task_end`` returns True for an epoch or iteration stops the fit there.

Without callbacks none of this runs: the fit stays one compiled call.
"""
import functools
from contextlib import nullcontext

try:
    from sklearn.callback import CallbackSupportMixin
    from sklearn.callback._callback_support import callback_management_context
except ImportError:
    # scikit-learn before 1.9 has no callbacks; cnet's dependency floor is older.
    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin where it does not exist."""

        def set_callbacks(self, *callbacks):
            """Callbacks need scikit-learn >= 1.9 (``sklearn.callback``)."""
            raise ImportError("set_callbacks needs scikit-learn >= 1.9 (sklearn.callback)")

    def callback_management_context(estimator):
        return nullcontext()


def with_callbacks(method):
    """scikit-learn's ``sklearn.callback.with_callbacks`` (the callbacks' teardown after the
    method, whatever happens), written here so that the wrapper is a frame of cnet's: the
    fit's warnings then name the user's line (cnet._caller), not scikit-learn's wrapper."""

    @functools.wraps(method)
    def managed(estimator, *args, **kwargs):
        with callback_management_context(estimator):
            return method(estimator, *args, **kwargs)
    return managed


def has_callbacks(estimator):
    """Whether the estimator has callbacks (its own or a meta-estimator's propagated ones)."""
    return bool(getattr(estimator, "_skl_callbacks", None))


class FitTasks:
    """The callback context of one fit (or ``partial_fit`` call) and its subtasks.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
    X, y : array-like
        The training data the hooks receive.
    sample_weight : ndarray, optional
        Passed to the hooks as ``metadata={"sample_weight": ...}``.
    max_subtasks : int or None
        The most epochs or iterations the fit can run.
    task_name : str
        The subtasks' name: ``"epoch"`` or ``"lbfgs-iter"``.
    """

    def __init__(self, estimator, X, y, sample_weight, max_subtasks, task_name):
        self.estimator = estimator
        self.X, self.y = X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.task_name = task_name
        self.root = estimator._init_callback_context(max_subtasks=max_subtasks)
        self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y,
                                         metadata=self.metadata)

    def _fitted_attributes(self):
        # Copies: coefs_ and intercepts_ are views into the vector the loop keeps training.
        est = self.estimator
        return {"coefs_": [W.copy() for W in est.coefs_],
                "intercepts_": [b.copy() for b in est.intercepts_],
                "n_iter_": est.n_iter_}

    def begin(self):
        """Start the next epoch or iteration; returns its context (for :meth:`end`)."""
        context = self.root.subcontext(task_name=self.task_name)
        context.call_on_fit_task_begin(estimator=self.estimator, X=self.X, y=self.y,
                                       metadata=self.metadata,
                                       reconstruction_attributes=self._fitted_attributes)
        return context

    def end(self, context, ran=True):
        """End an epoch or iteration; True if a callback asks the fit to stop.

        ``ran=False`` ends a task that did no work (the iteration lbfgs began but never
        ran, a diverged epoch): the hooks get no data, as scikit-learn's own fits do it.
        """
        if not ran:
            return context.call_on_fit_task_end(estimator=self.estimator)
        return context.call_on_fit_task_end(estimator=self.estimator, X=self.X, y=self.y,
                                            metadata=self.metadata,
                                            reconstruction_attributes=self._fitted_attributes)

    def close(self):
        """End the fit's own task."""
        self.root.call_on_fit_task_end(estimator=self.estimator, X=self.X, y=self.y,
                                       metadata=self.metadata, reconstruction_attributes={})
