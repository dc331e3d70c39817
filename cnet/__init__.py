"""cnet: neural networks from scratch, as transparent as the numpy tutorials, at compiled speed.

``cnet.NeuralNet`` is the tutorials' network with the true gradient and a training loop in
Cython; ``cnet.kernels`` are its compiled building blocks and ``cnet.reference`` their numpy
twin, function for function.
"""
try:
    from cnet import _kernels, _train  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on how cnet was installed
    raise ImportError(
        "cnet's compiled kernels are missing. If this is cnet's source checkout, install it "
        "(pip install .) and run from another directory, or build in place with "
        "`python setup.py build_ext --inplace`.") from exc

from cnet import _cpu  # noqa: F401  (picks the compiled variant; checks CNET_CPU)
from cnet import kernels, reference
# Importing the front ends registers their classes with persistence, where load finds them.
from cnet.mlp import MLPClassifier, MLPRegressor
from cnet.neural_net import NeuralNet
from cnet.persistence import load

__version__ = "0.1.0"
__all__ = ["NeuralNet", "MLPClassifier", "MLPRegressor", "load", "kernels", "reference",
           "__version__"]
