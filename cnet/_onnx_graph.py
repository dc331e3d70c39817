"""A fitted cnet network as an ONNX graph, built with ``onnx.helper``.

The graph has the inputs, outputs and options that skl2onnx gives scikit-learn's own MLP, so
that serving code written for those models runs cnet's unchanged: one input ``X`` of shape
``(N, n_features)``; a classifier's ``label`` and ``probabilities`` (``output_label`` and
``output_probability``, a list of ``{class: probability}`` dicts, behind the default ZipMap);
a regressor's ``variable`` of shape ``(N, n_outputs)``. Each layer is one ``Gemm`` and its
activation; the activations skl2onnx lacks (leaky_relu, elu, gelu, silu, the Poisson regressor's
``exp``) are written with standard operators.

The layers are written through a small "sink" (:class:`_ModelSink` here, the skl2onnx container
in :mod:`cnet._onnx_skl2onnx`), so that the one-model export and the pipeline converter emit
the same nodes. onnx is imported inside the functions: cnet imports this module with its
models, and onnx is an optional dependency.

This module imports no front end (``cnet.mlp`` and ``cnet.neural_net`` import it, through
:mod:`cnet._onnx_mixin`); it reads the models' fitted attributes.
"""
import numpy as np

from cnet import registry
from cnet._layout import parameter_views

INSTALL_HINT = 'pip install "cnet-mlp[onnx]"'
# Default opset of the standard domain: every operator used here exists in it, and
# onnxruntime has run it since 1.13. 13 is the lowest accepted (Softmax over one axis).
DEFAULT_OPSET = 17
MIN_OPSET = 13
# ZipMap's domain; version 1 is the only one ZipMap has.
ML_OPSET = 1
# reference.leaky_relu's slope (the compiled kernel's too); the parity tests compare them.
LEAKY_RELU_SLOPE = 0.01
# 1 / sqrt(2), as reference._normal_cdf writes it.
_SQRT_HALF = 0.7071067811865476

DTYPES = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE"}


def require_onnx():
    """Import onnx, or raise ImportError saying how to install the extra."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from exc
    return onnx


def check_dtype(dtype):
    """The export's input dtype as a numpy dtype: float32 or float64, else ValueError."""
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return checked


def check_zipmap(zipmap):
    """``zipmap`` as given, if it is True or False; ValueError otherwise."""
    if not isinstance(zipmap, (bool, np.bool_)):
        raise ValueError(f"zipmap must be True or False, got {zipmap!r} (skl2onnx's "
                         f"'columns' is available through skl2onnx.to_onnx)")
    return bool(zipmap)


def opsets(target_opset):
    """``{domain: version}`` for ``target_opset``: None, an int (the standard domain's
    version) or skl2onnx's dict form ``{"": 17, "ai.onnx.ml": 1}``."""
    onnx = require_onnx()
    latest = onnx.defs.onnx_opset_version()
    if target_opset is None:
        return {"": min(DEFAULT_OPSET, latest), "ai.onnx.ml": ML_OPSET}
    given = dict(target_opset) if isinstance(target_opset, dict) else {"": target_opset}
    version = given.get("", min(DEFAULT_OPSET, latest))
    ml_version = given.get("ai.onnx.ml", ML_OPSET)
    if (set(given) - {"", "ai.onnx.ml"} or not _whole(version) or not _whole(ml_version)
            or not MIN_OPSET <= version <= latest or ml_version < 1):
        raise ValueError(f"target_opset must be an int from {MIN_OPSET} to {latest} (this "
                         f"onnx's latest) or a dict {{'': opset, 'ai.onnx.ml': opset}}, got "
                         f"{target_opset!r}")
    return {"": int(version), "ai.onnx.ml": int(ml_version)}


def _whole(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class FittedNetwork:
    """What a fitted cnet model computes, read from its fitted attributes.

    Attributes
    ----------
    weights, biases : list of ndarray
        Per layer, ``(n_in, n_out)`` and ``(n_out,)``.
    activation : str
        The registry's name of the hidden activation.
    output : str
        The output activation: ``"logistic"``, ``"softmax"``, ``"identity"`` or ``"exp"``.
    label_type : str or None
        ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``; None for a regressor.
    classes : ndarray or None
    """

    def __init__(self, model):
        from sklearn.base import is_classifier
        from sklearn.utils.validation import check_is_fitted

        if hasattr(model, "layers") and hasattr(model, "iterations"):   # NeuralNet
            check_is_fitted(model, "_params_flat")
            views = parameter_views(model._prediction_params(), model._layers)
            count = len(model._layers) - 1
            self.weights = [views[f"W{k}"] for k in range(1, count + 1)]
            self.biases = [views[f"b{k}"] for k in range(1, count + 1)]
            self.output, self.label_type = "logistic", "binary"
        elif hasattr(model, "hidden_layer_sizes"):
            check_is_fitted(model, "coefs_")
            self.weights, self.biases = list(model.coefs_), list(model.intercepts_)
            self.output = model.out_activation_
            self.label_type = model._label_binarizer.y_type_ if is_classifier(model) else None
        else:
            raise TypeError(f"expected a cnet MLPClassifier, MLPRegressor or NeuralNet, got "
                            f"{type(model).__name__}")
        self.activation = registry.activation(model.activation).name
        self.classes = np.asarray(model.classes_) if self.label_type else None
        if self.output not in _OUTPUTS:
            raise ValueError(f"no ONNX operator for the output activation {self.output!r}")

    @property
    def n_features(self):
        return int(self.weights[0].shape[0])

    @property
    def n_outputs(self):
        return int(self.weights[-1].shape[1])

    @property
    def n_probabilities(self):
        """Columns of predict_proba: two for one logistic unit, else one per unit."""
        return 2 if self.n_outputs == 1 else self.n_outputs


def class_labels(classes):
    """The classes as ONNX stores labels: ``(int64 array, "INT64")`` for integer, boolean or
    whole-number float classes (skl2onnx's rule), ``(str array, "STRING")`` for strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu" or classes.dtype.kind == "f" and np.all(
            np.isfinite(classes) & (classes == np.round(classes))):
        as_int = classes.astype(np.int64)
        if not np.array_equal(as_int, classes):
            raise ValueError(f"class labels {classes[:5].tolist()} do not fit int64")
        return as_int, "INT64"
    if classes.dtype.kind == "U" or classes.dtype.kind == "O" and all(
            isinstance(c, str) for c in classes):
        return classes.astype(str), "STRING"
    raise ValueError(f"ONNX labels are integers or strings; the classes "
                     f"{classes[:5].tolist()} are neither (ZipMap takes no other keys)")


# --- the layers, through a sink ---------------------------------------------------------------

def _activation(sink, z, name, dtype):
    """The nodes of hidden activation ``name`` on ``z``; returns the output's name."""
    double = dtype == np.float64
    if name == "identity":
        return z
    if name in ("relu", "sigmoid", "tanh"):
        return sink.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[name], [z])
    if name == "leaky_relu":
        if not double:
            return sink.node("LeakyRelu", [z], alpha=LEAKY_RELU_SLOPE)
        # The attribute alpha is a float32 (0.0099999998), and max(z, 0.01 z) is
        # where(z > 0, z, 0.01 z) for any z: the slope stays the double 0.01 cnet uses.
        return sink.node("Max", [z, sink.node("Mul", [z, sink.const("slope", LEAKY_RELU_SLOPE,
                                                                      dtype)])])
    if name == "elu":
        if not double:
            return sink.node("Elu", [z], alpha=1.0)
        # onnxruntime has no double Elu kernel.
        zero, one = sink.const("zero", 0.0, dtype), sink.const("one", 1.0, dtype)
        negative = sink.node("Sub", [sink.node("Exp", [sink.node("Min", [z, zero])]), one])
        return sink.node("Where", [sink.node("Greater", [z, zero]), z, negative])
    if name == "gelu":
        # The exact (erf) form, as cnet computes it: z * 0.5 * (1 + erf(z / sqrt 2)).
        scaled = sink.node("Mul", [z, sink.const("sqrt_half", _SQRT_HALF, dtype)])
        if double:
            # onnxruntime has no double Erf kernel: erf is taken in float32 (7 digits).
            erf = sink.node("Cast", [sink.node("Erf", [sink.node("Cast", [scaled],
                                                                  to=_onnx_type("FLOAT"))])],
                            to=_onnx_type("DOUBLE"))
        else:
            erf = sink.node("Erf", [scaled])
        cdf = sink.node("Mul", [sink.const("half", 0.5, dtype),
                                sink.node("Add", [sink.const("one", 1.0, dtype), erf])])
        return sink.node("Mul", [z, cdf])
    if name == "silu":
        return sink.node("Mul", [z, sink.node("Sigmoid", [z])])
    raise ValueError(f"no ONNX form for the activation {name!r}")


_OUTPUTS = {"identity": "Identity", "logistic": "Sigmoid", "softmax": "Softmax", "exp": "Exp"}


def network_outputs(sink, x, network, dtype):
    """The layers' nodes from input ``x`` to the output activation; returns its name."""
    a = x
    last = len(network.weights) - 1
    for k, (W, b) in enumerate(zip(network.weights, network.biases)):
        z = sink.node("Gemm", [a, sink.const(f"W{k + 1}", W, dtype),
                               sink.const(f"b{k + 1}", b, dtype)])
        a = _activation(sink, z, network.activation, dtype) if k < last else z
    attrs = {"axis": 1} if network.output == "softmax" else {}
    return sink.node(_OUTPUTS[network.output], [a], **attrs)


def classifier_outputs(sink, out, network, dtype, classes, label, probabilities):
    """Label and probability nodes after the output activation ``out``, into the names
    ``label`` and ``probabilities``; ``classes`` is :func:`class_labels`' pair or None for a
    multi-label network (its labels are the 0/1 indicators)."""
    if network.n_outputs == 1:
        # [1 - p, p], and cnet's decision p > 0.5 (the label binarizer's).
        sink.node("Concat", [sink.node("Sub", [sink.const("one", 1.0, dtype), out]), out],
                  outputs=[probabilities], axis=1)
        index = sink.node("Cast", [sink.node("Greater", [sink.node(
            "Reshape", [out, sink.const("flat", np.array([-1], np.int64))]),
            sink.const("threshold", 0.5, dtype)])], to=_onnx_type("INT64"))
    elif network.output == "logistic":
        sink.node("Identity", [out], outputs=[probabilities])
        sink.node("Cast", [sink.node("Greater", [out, sink.const("threshold", 0.5, dtype)])],
                  outputs=[label], to=_onnx_type("INT64"))
        return
    else:
        sink.node("Identity", [out], outputs=[probabilities])
        # The first of equal maxima, as numpy's argmax.
        index = sink.node("ArgMax", [out], axis=1, keepdims=0)
    values, _ = classes
    sink.node("Gather", [sink.const("classes", values), index], outputs=[label], axis=0)


def _onnx_type(name):
    return getattr(require_onnx().TensorProto, name)


class _ModelSink:
    """Collects nodes and initializers for :func:`onnx.helper.make_graph`."""

    def __init__(self):
        self.nodes, self.initializers, self._used = [], [], {}

    def name(self, hint):
        count = self._used.get(hint, 0)
        self._used[hint] = count + 1
        return hint if count == 0 else f"{hint}_{count}"

    def const(self, hint, value, dtype=None):
        from onnx import numpy_helper
        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind == "U":
            array = array.astype(object)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array)
                                                         if array.dtype != object else array,
                                                         name))
        return name

    def node(self, op, inputs, outputs=None, domain="", **attrs):
        from onnx import helper
        outputs = outputs or [self.name(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.name(f"n_{op}"),
                                           domain=domain, **attrs))
        return outputs[0]


def build_model(model, dtype=np.float32, zipmap=True, target_opset=None):
    """The ONNX model of a fitted cnet model (see :func:`cnet.onnx_export.export_onnx`)."""
    onnx = require_onnx()
    from onnx import helper

    dtype, zipmap = check_dtype(dtype), check_zipmap(zipmap)
    versions = opsets(target_opset)
    network = FittedNetwork(model)
    tensor = getattr(onnx.TensorProto, DTYPES[dtype])
    sink = _ModelSink()
    x = "X"
    sink.name(x)
    inputs = [helper.make_tensor_value_info(x, tensor, [None, network.n_features])]
    out = network_outputs(sink, x, network, dtype)
    domains = {""}
    if network.label_type is None:
        sink.node("Identity", [out], outputs=["variable"])
        outputs = [helper.make_tensor_value_info("variable", tensor,
                                                 [None, network.n_outputs])]
    else:
        multilabel = network.label_type == "multilabel-indicator"
        if multilabel:
            keys = (np.arange(network.n_outputs, dtype=np.int64), "INT64")
        else:
            keys = class_labels(network.classes)
        label_shape = [None, network.n_outputs] if multilabel else [None]
        label_type = getattr(onnx.TensorProto, keys[1])
        names = ("output_label", "output_probability") if zipmap else ("label", "probabilities")
        probabilities = sink.name("probability_tensor") if zipmap else names[1]
        label = names[0]
        classifier_outputs(sink, out, network, dtype, None if multilabel else keys,
                           label, probabilities)
        outputs = [helper.make_tensor_value_info(label, label_type, label_shape)]
        if zipmap:
            # ZipMap takes float probabilities only.
            if dtype != np.float32:
                probabilities = sink.node("Cast", [probabilities],
                                          to=onnx.TensorProto.FLOAT)
            key = "classlabels_int64s" if keys[1] == "INT64" else "classlabels_strings"
            sink.node("ZipMap", [probabilities], outputs=[names[1]], domain="ai.onnx.ml",
                      **{key: keys[0].tolist()})
            domains.add("ai.onnx.ml")
            outputs.append(helper.make_value_info(names[1], helper.make_sequence_type_proto(
                helper.make_map_type_proto(label_type, helper.make_tensor_type_proto(
                    onnx.TensorProto.FLOAT, [])))))
        else:
            outputs.append(helper.make_tensor_value_info(names[1], tensor,
                                                         [None, network.n_probabilities]))
    graph = helper.make_graph(sink.nodes, f"cnet_{type(model).__name__}", inputs, outputs,
                              sink.initializers)
    imports = [helper.make_opsetid(d, versions[d]) for d in sorted(domains)]
    proto = helper.make_model(graph, opset_imports=imports, producer_name="cnet",
                              doc_string=f"cnet {type(model).__name__}: {network.activation} "
                                         f"hidden layers, {network.output} output")
    # The oldest IR version that carries these opsets, so older runtimes load the file.
    proto.ir_version = helper.find_min_ir_version_for(imports, ignore_unknown=True)
    return proto


def write(proto, path):
    """Write ``proto`` to ``path`` whole or not at all."""
    from cnet._atomic import atomic_write
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
