"""cnet's models in skl2onnx: a shape calculator, a converter and their registration.

The converter writes the layers with :mod:`cnet._onnx_graph`'s builder through skl2onnx's
container, so a model in a pipeline gets the nodes a model alone gets; skl2onnx's parser adds
ZipMap (and its ``columns`` form) after the classifier's ``label`` and ``probabilities``, as
for scikit-learn's MLP.

Each model class is registered when skl2onnx is imported: at once if it is imported already,
else by a finder on ``sys.meta_path`` that runs the registration right after skl2onnx's own
import, and then leaves. Importing skl2onnx takes about a second, so cnet never imports it
for this; without the registration, ``skl2onnx.to_onnx`` of a pipeline holding a cnet model
would fail unless the user knew to import :mod:`cnet.onnx_export` first.
"""
import importlib.abc
import importlib.util
import sys
import warnings

import numpy as np

from cnet import _onnx_graph

def _shape_calculator(operator):
    """Types of the outputs: label and probabilities, or variable (the skl2onnx contract)."""
    from skl2onnx.common.data_types import (DoubleTensorType, FloatTensorType,
                                            Int64TensorType, StringTensorType)
    from skl2onnx.common.utils_classifier import get_label_classes

    network = _onnx_graph.FittedNetwork(operator.raw_operator)
    n = operator.inputs[0].get_first_dimension()
    tensor = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) \
        else FloatTensorType
    if network.label_type is None:
        operator.outputs[0].type = tensor([n, network.n_outputs])
        return
    if network.label_type == "multilabel-indicator":
        operator.outputs[0].type = Int64TensorType([n, network.n_outputs])
    else:
        classes = get_label_classes(operator.scope_inst, operator.raw_operator)
        kind = _onnx_graph.class_labels(classes)[1]
        operator.outputs[0].type = (Int64TensorType if kind == "INT64" else StringTensorType)([n])
    operator.outputs[1].type = tensor([n, network.n_probabilities])


class _ContainerSink:
    """The sink of :mod:`cnet._onnx_graph` writing into skl2onnx's scope and container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint, value, dtype=None):
        from onnx import helper
        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind == "U":
            array = np.array([s.encode("utf-8") for s in array.ravel()]).reshape(array.shape)
            kind = 8    # TensorProto.STRING
        else:
            kind = helper.np_dtype_to_tensor_dtype(array.dtype)
        name = self.name(hint)
        self.container.add_initializer(name, kind, list(array.shape), array.ravel().tolist())
        return name

    def node(self, op, inputs, outputs=None, domain="", **attrs):
        outputs = outputs or [self.name(op.lower())]
        self.container.add_node(op, inputs, outputs, op_domain=domain,
                                name=self.scope.get_unique_operator_name(op), **attrs)
        return outputs[0]


def _converter(scope, operator, container):
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.common.utils_classifier import get_label_classes

    network = _onnx_graph.FittedNetwork(operator.raw_operator)
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    dtype = np.dtype(np.float64 if double else np.float32)
    sink = _ContainerSink(scope, container)
    # The previous step may give another type (int64 from an encoder).
    x = sink.node("Cast", [operator.inputs[0].full_name],
                  to=TensorProto.DOUBLE if double else TensorProto.FLOAT)
    out = _onnx_graph.network_outputs(sink, x, network, dtype)
    if network.label_type is None:
        sink.node("Identity", [out], outputs=[operator.outputs[0].full_name])
        return
    multilabel = network.label_type == "multilabel-indicator"
    keys = None if multilabel else _onnx_graph.class_labels(
        get_label_classes(scope, operator.raw_operator))
    _onnx_graph.classifier_outputs(sink, out, network, dtype, keys,
                                   operator.outputs[0].full_name,
                                   operator.outputs[1].full_name)



_CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False],
                       "output_class_labels": [False, True]}


def register(classes):
    """Register each of ``classes`` (cnet's model classes) with skl2onnx."""
    from sklearn.base import ClassifierMixin
    from skl2onnx import update_registered_converter

    for cls in classes:
        options = _CLASSIFIER_OPTIONS if issubclass(cls, ClassifierMixin) else None
        update_registered_converter(cls, f"Cnet{cls.__name__}", _shape_calculator, _converter,
                                    options=options)


_waiting = []


def _register_waiting():
    try:
        register(_waiting)
    except ImportError:     # skl2onnx without onnx: export_onnx will say what to install
        return
    except Exception as exc:
        # This runs inside the user's own `import skl2onnx`, which must not fail because cnet
        # was imported first: a skl2onnx that refuses the registration gets a warning, and
        # export_onnx registers again and reports the error there.
        warnings.warn(f"cnet could not register its models with skl2onnx: {exc!r}",
                      RuntimeWarning, stacklevel=2)
        return
    _waiting.clear()


class _AfterSkl2onnxImport(importlib.abc.MetaPathFinder):
    """Finds skl2onnx as the other finders do, and has its loader register the waiting
    classes once skl2onnx's module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "skl2onnx":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            _register_waiting()

        loader.exec_module = exec_module
        return spec


def register_once_skl2onnx_is_imported(cls):
    """Register ``cls`` with skl2onnx now if skl2onnx is imported, else right after it is."""
    _waiting.append(cls)
    if "skl2onnx" in sys.modules:
        _register_waiting()
    elif not any(isinstance(finder, _AfterSkl2onnxImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterSkl2onnxImport())
