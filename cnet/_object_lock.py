"""One lock per model object, so that one object used from several threads stays whole.

``fit``, ``partial_fit``, ``predict*``, ``score`` and ``save`` of one object run one at a time:
two fits of one object from two threads would otherwise mix their results (the classes of one
with the weights of the other), and concurrent ``partial_fit`` calls would lose optimizer
steps. The lock is per object: different objects train in parallel (the compiled loop runs
without the GIL). It is re-entrant, since a method may call another (``score`` calls
``predict``; user code inside a fit may predict).

The lock is created on first use, not in ``__init__`` (scikit-learn's ``clone`` and
``get_params`` see constructor parameters only), and is left out of pickles, so that
``pickle``, ``copy.deepcopy`` and ``joblib`` work and each copy gets a lock of its own.
"""
import functools
import threading

# Guards only the creation of per-object locks, so that two threads' first calls agree on
# one lock; never held while a method runs.
_CREATION_LOCK = threading.Lock()
_ATTRIBUTE = "_object_lock"


def object_lock(obj):
    """The re-entrant lock of ``obj``, created on first use.

    Parameters
    ----------
    obj : object
        A model.

    Returns
    -------
    threading.RLock
    """
    lock = obj.__dict__.get(_ATTRIBUTE)
    if lock is None:
        with _CREATION_LOCK:
            lock = obj.__dict__.get(_ATTRIBUTE)
            if lock is None:
                lock = obj.__dict__[_ATTRIBUTE] = threading.RLock()
    return lock


def serialized(method):
    """Decorator: run ``method`` holding its object's lock."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with object_lock(self):
            return method(self, *args, **kwargs)
    return locked


def serialize_methods(*names):
    """Class decorator: the named methods (as the class resolves them, inherited ones
    included) hold the object's lock, and pickles leave the lock out.

    Parameters
    ----------
    *names : str
        Method names. Methods behind a descriptor such as ``available_if`` are decorated
        with :func:`serialized` where they are defined instead.

    Returns
    -------
    callable
        The class decorator.
    """
    def decorate(cls):
        for name in names:
            setattr(cls, name, serialized(getattr(cls, name)))
        parent_getstate = cls.__getstate__

        def __getstate__(self):
            # A copy: object.__getstate__ may return the live __dict__ itself.
            state = dict(parent_getstate(self))
            state.pop(_ATTRIBUTE, None)
            return state

        cls.__getstate__ = __getstate__
        return cls
    return decorate
