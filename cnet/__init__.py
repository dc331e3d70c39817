"""cnet: neural networks from scratch, as transparent as the numpy tutorials, at compiled speed.

``cnet.NeuralNet`` is the tutorials' network with the true gradient and a training loop in
Cython; ``cnet.kernels`` are its compiled building blocks and ``cnet.reference`` their numpy
twin, function for function.

The front ends and those two modules are imported on first use (PEP 562): they bring in
scikit-learn and scipy, which cost more to import than the rest of cnet, and a script that
only loads a model, or the command line asking for its help, need not wait for them.
``cnet.plot`` is imported on first use too, so matplotlib stays optional.
"""
import functools
import importlib.machinery
import importlib.util
import os


def _uncompiled_checkout():
    """The folder holding this package if it is cnet's uncompiled source folder, else None.

    From the root of a checkout, Python imports the folder ``cnet/`` there (the current
    directory comes first on ``sys.path``) rather than the installed package; without an
    in-place build that folder holds no compiled modules, and the installed cnet is hidden.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(package)
    compiled = any(os.path.exists(os.path.join(package, "_kernels" + suffix))
                   for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    checkout = (os.path.isdir(os.path.join(root, "src_c"))
                or os.path.exists(os.path.join(root, "setup.py")))
    # Imported from the current directory: an installed package is never found there, unless
    # one works inside site-packages.
    return root if not compiled and (checkout or _is_cwd(root)) else None


def _is_cwd(path):
    try:
        return os.path.samefile(os.getcwd(), path)
    except OSError:
        return False


try:
    from cnet import _kernels  # noqa: F401
    # The training loop is checked for, not imported: it imports scipy.sparse.
    if importlib.util.find_spec("cnet._train") is None:
        raise ImportError("cnet._train is missing")
except ImportError as exc:  # pragma: no cover - depends on how cnet was installed
    _root = _uncompiled_checkout()
    if _root is not None:
        # Not a broken install: the installed package is hidden. One line says so; the
        # failed import of _kernels beneath it would only point the wrong way.
        _where = ("you are in cnet's source folder; run from another directory"
                  if _is_cwd(_root) else
                  f"Python found cnet's source folder {_root} (on sys.path) before any "
                  f"installed cnet; run from another directory or take it off sys.path")
        raise ImportError(
            f"{_where}. Its cnet/ holds the uncompiled sources (to use them, build in place: "
            f"python setup.py build_ext --inplace).") from None
    raise ImportError(
        "cnet's compiled kernels are missing. If this is cnet's source checkout, install it "
        "(pip install .) and run from another directory, or build in place with "
        "`python setup.py build_ext --inplace`.") from exc

from cnet import _cpu  # noqa: F401  (picks the compiled variant; checks CNET_CPU)
from cnet import persistence as _persistence

__version__ = "0.1.0"
__all__ = ["NeuralNet", "MLPClassifier", "MLPRegressor", "load", "export_onnx", "kernels",
           "reference", "__version__"]

def __getattr__(name):
    # Each import is written out (not looked up by name) so that the module graph, read from
    # the source (tests/test_module_graph.py), sees these arrows. ``from cnet import x`` would
    # ask this function for x again before importing it: hence ``import cnet.x``.
    if name in ("MLPClassifier", "MLPRegressor"):
        import cnet.mlp
        value = getattr(cnet.mlp, name)
    elif name == "NeuralNet":
        from cnet.neural_net import NeuralNet as value
    elif name == "export_onnx":
        from cnet.onnx_export import export_onnx as value
    elif name == "kernels":
        import cnet.kernels as value
    elif name == "reference":
        import cnet.reference as value
    elif name == "plot":
        # Not in __all__: without matplotlib it raises ImportError, which a star import
        # should not.
        import cnet.plot as value
    else:
        raise AttributeError(f"module 'cnet' has no attribute {name!r}")
    # Kept in the package, so that later look-ups are plain attribute reads.
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"plot"})


@functools.wraps(_persistence.load)
def load(path):
    # The model classes register with persistence when their modules are imported.
    import cnet.mlp
    import cnet.neural_net  # noqa: F401
    return _persistence.load(path)
