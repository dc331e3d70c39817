"""The stack level that makes a warning name the user's line, not a line inside cnet.

A fixed ``stacklevel`` is right for one call path only: ``NeuralNet.fit`` reaches its warning
through two cnet frames, ``MLPClassifier.fit`` through five or more (the per-object lock, the
fit, the epoch loop, the warning helper), and any refactoring changes the count. Python 3.12
has ``warnings.warn(skip_file_prefixes=...)``; cnet supports 3.9-3.11 too, so the frames inside
the package are counted here instead.

This module imports nothing of cnet's, so that every module may import it.
"""
import os
import sys

# Every cnet module, the compiled variants' packages included, lives under this directory.
_PACKAGE_DIR = os.path.normcase(os.path.dirname(os.path.realpath(__file__))) + os.sep
# Frames are classified by their file name; the same few names recur on every warning.
_INSIDE = {}


def _inside_cnet(filename):
    inside = _INSIDE.get(filename)
    if inside is None:
        # Real paths: cnet may be imported through a symlink or a relative sys.path entry.
        path = os.path.normcase(os.path.realpath(filename))
        inside = _INSIDE[filename] = path.startswith(_PACKAGE_DIR)
    return inside


def stacklevel():
    """The ``stacklevel`` for a ``warnings.warn`` in the function that calls this one, such
    that the warning names the first frame outside the cnet package.

    Call it in the ``warnings.warn`` call itself: the count starts at the calling function.
    Where cnet calls cnet all the way up (``python -m cnet``), the outermost frame is named.
    Through a scikit-learn meta-estimator the first frame outside cnet is scikit-learn's,
    which is the line that called cnet.

    Returns
    -------
    int
        1 for the calling function itself, 2 for its caller, and so on.
    """
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and _inside_cnet(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level
